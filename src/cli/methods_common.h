/* What csm compare, eval and sanity share: the list of methods a run
 * compares (CIS, the CMS reprojected, and the generic baselines), one
 * sample's maps of all of them in the model's input space, and the picture
 * of those maps side by side. */
#ifndef CSM_CLI_METHODS_COMMON_H
#define CSM_CLI_METHODS_COMMON_H

#include "explain_common.h"

/* Codes: csm_method values (>= 0) and these two. */
enum { METHOD_CIS = -1, METHOD_CMS = -2, METHODS_MAX = 16 };

typedef struct method_list {
  int n;
  int code[METHODS_MAX];
} method_list;

/* "cis", "cms", or csm_method_name. */
const char *method_label(int code);

/* Parses a comma-separated list ("all": cis, then every generic method;
 * with_cms puts "cms" first). Duplicates and unknown names are usage errors
 * printed for cmd (returns 1); allow_cms 0 rejects "cms". */
int method_list_parse(const char *cmd, const char *s, int allow_cms, int with_cms,
                      method_list *out);
/* 1 if the list holds code. */
int method_list_has(const method_list *ml, int code);

/* The options of the generic methods from the command line: --layer NAME,
 * --window N, --stride N, --samples N, --sigma S, --seed N. Like
 * explain_option: 1 taken, 0 not ours, -1 usage error printed. The layer
 * name is resolved later (method_resolve_layer). */
typedef struct method_args {
  const char *layer;
  csm_method_options opt;
} method_args;

void method_args_init(method_args *m);
int method_option(const char *cmd, int argc, char **argv, int *i, method_args *m);
extern const char *method_options_help;
/* Sets m->opt.layer from m->layer (or the default CAM layer) for model;
 * *name gets the layer's name. Only needed by the CAM methods. */
csm_status method_resolve_layer(method_args *m, csm_model *model, const char **name);

/* A CMS map (.npy, size x size float32, as csm cms writes it). */
csm_status method_load_cms(const char *path, int size, float **map);

/* One sample's maps: maps[k] gets n_views x size x size floats (malloc'ed)
 * for method ml->code[k], in input space, finite everywhere (CIS and CMS
 * are 0 off the visible face). CIS reads f->cis (canonical raster of
 * canon_size), CMS reads cms. seconds[k]: the time each took (may be
 * NULL). */
csm_status method_maps(const method_list *ml, const method_args *ma, const csm_scorer *sc,
                       const csm_view *views, int n_views, const face_cis *f, const float *cms,
                       int canon_size, float **maps, double *seconds);

/* A picture of one sample's maps: per view a row of the crop and then each
 * map (min-max normalized, inferno) over it, titled; written as PNG. */
csm_status method_grid_png(const char *path, const csm_image *const *crops, int n_views,
                           const method_list *ml, float *const *maps, int size);

#endif
