/* The run that csm compare, eval and sanity share: their command line
 * (explain options, methods and their options, --cms, --json, --steps),
 * every input's samples with the command's per-sample work hooked in
 * (explain_ctx.sample_hook), and the clean-up. Each command then writes
 * its own results. */
#ifndef CSM_CLI_METHODS_RUN_H
#define CSM_CLI_METHODS_RUN_H

#include "methods_common.h"

typedef struct methods_run {
  const char *cmd; /* "compare", ... */
  explain_args a;
  method_args ma;
  method_list ml;
  const char *methods, *cms_path;
  int json;               /* --json */
  int steps;              /* sanity: --steps (0: default) */
  int has_out;            /* -o given */
  const char *layer_name; /* the CAM layer, when a CAM method runs */
  int explained_node;     /* the model node the confidence reads (set by the hooks) */
  float *cms;             /* the --cms map (canonical raster) */
  explain_ctx x;
  explain_input *in;
  int n_in;
  char *list_buf;
  char **stems;
  face_cis **faces;
  int *n_faces;
  const char **images;
  double t0;
  /* The command's hook, wrapped to report progress per sample. */
  csm_status (*hook)(void *ctx, const csm_scorer *sc, const csm_view *views, int n_views,
                     face_cis *f);
  void *hook_ctx;
  int samples_done, inputs_done;
} methods_run;

typedef struct methods_run_spec {
  const char *cmd;
  const char *help_head, *help_tail;
  int cms;          /* 0: no --cms; 1: optional; 2: required */
  int out_required; /* -o DIR required */
  int steps;        /* accepts --steps N */
} methods_run_spec;

/* Parses the command line. Returns -1 to go on, or an exit code (help
 * printed, usage error). */
int methods_run_parse(methods_run *r, const methods_run_spec *spec, int argc, char **argv);
/* Opens the task and runs every input with hook called per sample. */
csm_status methods_run_all(methods_run *r,
                           csm_status (*hook)(void *ctx, const csm_scorer *sc,
                                              const csm_view *views, int n_views, face_cis *f),
                           void *hook_ctx);
void methods_run_free(methods_run *r);

/* JSON members every command's output starts with (no braces): "task",
 * "model", "layer" (the CAM layer or null), "cms" (the path or null). */
void methods_run_json_head(FILE *fp, const methods_run *r);
/* The members that name a sample (no braces): "image", "image2" (a pair),
 * "face", "explains" (the class, identity or verdict). */
void methods_run_json_sample(FILE *fp, const methods_run *r, int input, const face_cis *f);

#endif
