/* What the methods runs (compare, eval, sanity) share: the report of a run
 * (its inputs, every sample's results, the tables), one sample's maps of
 * every method in the model's input space, and their picture. */
#ifndef CSM_RUN_METHODS_INTERNAL_H
#define CSM_RUN_METHODS_INTERNAL_H

#include "run_internal.h"

typedef enum { CSM_RUN_COMPARE, CSM_RUN_EVAL, CSM_RUN_SANITY } csm_methods_kind;

enum { CSM_EVAL_CURVE_STEPS = 20 };

typedef struct csm_eval_table {
  int n, left_out;
  double avg_drop[CSM_RUN_METHODS_MAX], increase[CSM_RUN_METHODS_MAX], win[CSM_RUN_METHODS_MAX];
  double del_auc[CSM_RUN_METHODS_MAX], ins_auc[CSM_RUN_METHODS_MAX];
} csm_eval_table;

typedef struct csm_sanity_table {
  int n, n_steps, n_layers;
  int counts[CSM_SANITY_MAX_STEPS];
  double spearman[CSM_SANITY_MAX_STEPS][CSM_RUN_METHODS_MAX];
  double ssim[CSM_SANITY_MAX_STEPS][CSM_RUN_METHODS_MAX];
  int pass[CSM_RUN_METHODS_MAX];
} csm_sanity_table;

struct csm_methods_report {
  csm_methods_kind kind;
  const char *cmd;       /* "compare", "eval", "sanity" */
  csm_explain_options o; /* strings: the caller's */
  csm_methods_options m;
  csm_method_list ml;
  const char *out_dir;    /* NULL: no files */
  int locked, lock_fd;    /* out_dir's lock while the files are written */
  const char *layer_name; /* the CAM layer, when a CAM method runs */
  int explained_node;     /* the model node the confidence reads */
  float *cms;             /* the m.cms map (canonical raster) */
  csm_explainer *x;
  const csm_input *in;
  int n_in;
  char **stems;
  csm_face_result **faces;
  int *n_faces;
  double t0, seconds;
  csm_status (*hook)(void *ctx, const csm_scorer *sc, const csm_view *views, int n_views,
                     csm_face_result *f);
  void *hook_ctx;
  int samples_done;
  const csm_run_options *r;
  csm_eval_table eval;
  csm_sanity_table sanity;
};

/* Opens the explainer and the method list, then runs every input with
 * hook called per sample (after its CIS, which is skipped when the list
 * has no "cis"). A methods run needs every input to have a face. */
csm_status csm_methods_run_all(csm_methods_report *rep, csm_methods_kind kind,
                               const csm_explain_options *o, const csm_input *in, int n,
                               const csm_methods_options *m, const csm_run_options *r,
                               csm_status (*hook)(void *ctx, const csm_scorer *sc,
                                                  const csm_view *views, int n_views,
                                                  csm_face_result *f),
                               void *hook_ctx);

/* The end of a run: its time taken, then the report handed out (*out) or,
 * on failure (st), freed. Returns st. */
csm_status csm_methods_report_finish(csm_methods_report *r, csm_status st,
                                     csm_methods_report **out);

/* JSON members every command's output starts with (no braces): "task",
 * "model", "layer" (the CAM layer or null), "cms" (the path or null). */
void csm_methods_json_head(FILE *fp, const csm_methods_report *r);
/* The members that name a sample (no braces): "image", "image2" (a pair),
 * "face", "explains" (the class, identity or verdict). */
void csm_methods_json_sample(FILE *fp, const csm_methods_report *r, int input,
                             const csm_face_result *f);

/* The reports' JSON and tables (eval_run.c, sanity_run.c). */
void csm_run_eval_json(FILE *fp, const csm_methods_report *r, int with_faces);
void csm_run_eval_text(FILE *fp, const csm_methods_report *r);
void csm_run_sanity_json(FILE *fp, const csm_methods_report *r);
void csm_run_sanity_text(FILE *fp, const csm_methods_report *r);

/* Sets opt->layer from layer (a node name; NULL: the default CAM layer). */
csm_status csm_run_resolve_layer(const char *layer, csm_method_options *opt, csm_model *model,
                                 const char **name);
/* A CMS map (.npy, size x size float32, as csm cms writes it). */
csm_status csm_run_load_cms(const char *path, int size, float **map);
/* One sample's maps: maps[k] gets n_views x size x size floats (malloc'ed)
 * for method ml->code[k], in input space, finite everywhere (CIS and CMS
 * are 0 off the visible face). seconds[k]: the time each took (may be
 * NULL). */
csm_status csm_run_method_maps(const csm_method_list *ml, const csm_method_options *mo,
                               const csm_scorer *sc, const csm_view *views, int n_views,
                               const csm_face_result *f, const float *cms, int canon_size,
                               float **maps, double *seconds);
/* A picture of one sample's maps: per view a row of the crop and then each
 * map (min-max normalized, inferno) over it, titled; written as PNG. */
csm_status csm_run_method_grid_png(const char *path, const csm_image *const *crops, int n_views,
                                   const csm_method_list *ml, float *const *maps, int size);

#endif
