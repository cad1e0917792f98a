/* The shared run of csm compare, eval and sanity. */
#include "methods_run.h"

#include <stdlib.h>
#include <string.h>

int methods_run_parse(methods_run *r, const methods_run_spec *spec, int argc, char **argv) {
  memset(r, 0, sizeof *r);
  r->cmd = spec->cmd;
  explain_args_init(&r->a);
  method_args_init(&r->ma);
  r->images = calloc((size_t)argc, sizeof *r->images);
  if (!r->images) return csm_cli_fail(csm_fail(CSM_ENOMEM, "out of memory"));
  int n_images = 0;
  const char *list = NULL;
  for (int i = 1; i < argc; i++) {
    const char *o = argv[i];
    if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
      fputs(spec->help_head, stdout);
      fputs(method_options_help, stdout);
      explain_options_print_help(stdout);
      if (spec->help_tail) fputs(spec->help_tail, stdout);
      return CSM_EXIT_OK;
    }
    int k = method_option(spec->cmd, argc, argv, &i, &r->ma);
    if (k < 0) return CSM_EXIT_USAGE;
    if (k) continue;
    if ((k = explain_option(spec->cmd, argc, argv, &i, &r->a)) < 0) return CSM_EXIT_USAGE;
    if (k) continue;
    int has = i + 1 < argc;
    if (!strcmp(o, "--json")) {
      r->json = 1;
    } else if (!strcmp(o, "--methods") && has) {
      r->methods = argv[++i];
    } else if (!strcmp(o, "--cms") && has && spec->cms) {
      r->cms_path = argv[++i];
    } else if (!strcmp(o, "--list") && has) {
      list = argv[++i];
    } else if (!strcmp(o, "--steps") && has && spec->steps) {
      if (csm_cli_parse_int(argv[++i], &r->steps) || r->steps < 1)
        return csm_cli_usage_error(spec->cmd, "--steps wants a positive integer");
    } else if (o[0] == '-' && o[1]) {
      return csm_cli_usage_error(spec->cmd, "unknown option '%s' (or missing value)", o);
    } else {
      r->images[n_images++] = o;
    }
  }
  if (!n_images && !list) return csm_cli_usage_error(spec->cmd, "no images given");
  if (spec->cms == 2 && !r->cms_path)
    return csm_cli_usage_error(spec->cmd, "--cms FILE.npy (a CMS map from csm cms) is required");
  r->has_out = r->a.out_dir != NULL;
  if (!r->has_out && !spec->out_required) r->a.out_dir = "."; /* for the check only */
  if (explain_args_check(spec->cmd, &r->a)) return CSM_EXIT_USAGE;
  if (!r->has_out) r->a.out_dir = NULL;
  if (method_list_parse(spec->cmd, r->methods, r->cms_path != NULL, r->cms_path != NULL, &r->ml))
    return CSM_EXIT_USAGE;
  csm_status st = explain_inputs(&r->a, r->images, n_images, list, &r->in, &r->n_in, &r->list_buf);
  if (st) return csm_cli_fail(st);
  return -1;
}

static int has_cam(const method_list *ml) {
  return method_list_has(ml, CSM_METHOD_GRADCAM) || method_list_has(ml, CSM_METHOD_GRADCAM_PP) ||
         method_list_has(ml, CSM_METHOD_SCORECAM);
}

/* The command's per-sample work, then a progress line: samples done, the
 * rate and the time left, estimated from the inputs still to come (one
 * sample each until they are seen). */
static csm_status progress_hook(void *ctx, const csm_scorer *sc, const csm_view *views, int n_views,
                                face_cis *f) {
  methods_run *r = ctx;
  csm_status st = r->hook(r->hook_ctx, sc, views, n_views, f);
  if (st) return st;
  r->samples_done++;
  if (explain_progress_wanted(&r->a)) {
    double el = csm_now() - r->t0, rate = r->samples_done / (el > 0 ? el : 1e-9);
    int left = r->n_in - r->inputs_done - 1;
    fprintf(stderr, "\rcsm %s: %d face%s done (input %d/%d), %.2f faces/s, ETA %.0f s      ",
            r->cmd, r->samples_done, r->samples_done == 1 ? "" : "s", r->inputs_done + 1, r->n_in,
            rate, (left > 0 ? left : 0) / (rate > 0 ? rate : 1e-9));
  }
  return CSM_OK;
}

csm_status methods_run_all(methods_run *r,
                           csm_status (*hook)(void *ctx, const csm_scorer *sc,
                                              const csm_view *views, int n_views, face_cis *f),
                           void *hook_ctx) {
  r->t0 = csm_now();
  int n = r->n_in;
  r->faces = calloc((size_t)n, sizeof *r->faces);
  r->n_faces = calloc((size_t)n, sizeof *r->n_faces);
  r->stems = explain_stems(r->in, n);
  csm_status st =
      r->faces && r->n_faces && r->stems ? CSM_OK : csm_fail(CSM_ENOMEM, "out of memory");
  if (!st) st = explain_open(&r->a, &r->x);
  if (!st && has_cam(&r->ml))
    st = method_resolve_layer(&r->ma, csm_task_model(r->x.task), &r->layer_name);
  if (!st && r->cms_path) st = method_load_cms(r->cms_path, r->x.size, &r->cms);
  r->x.skip_cis = !method_list_has(&r->ml, METHOD_CIS);
  r->hook = hook, r->hook_ctx = hook_ctx;
  r->x.sample_hook = progress_hook;
  r->x.hook_ctx = r;
  char what[64];
  snprintf(what, sizeof what, "csm %s", r->cmd);
  explain_progress pr = {what, 0, n, 0, 0, r->t0, 0, 0, explain_progress_wanted(&r->a)};
  for (int i = 0; !st && i < n; i++) {
    pr.image = i + 1;
    pr.faces_total_estimate = pr.faces_done + (n - i);
    r->inputs_done = i;
    st = explain_input_run(&r->x, &r->a, &r->in[i], &pr, &r->faces[i], &r->n_faces[i]);
    if (!st && r->n_faces[i] == 0) st = csm_fail(CSM_EINPUT, "%s: no face found", r->in[i].path);
  }
  if (pr.enabled) fprintf(stderr, "\n");
  return st;
}

void methods_run_free(methods_run *r) {
  for (int i = 0; r->faces && i < r->n_in; i++) {
    for (int k = 0; k < r->n_faces[i]; k++)
      face_cis_free(&r->faces[i][k]);
    free(r->faces[i]);
  }
  free(r->faces);
  free(r->n_faces);
  explain_stems_free(r->stems, r->n_in);
  explain_close(&r->x);
  free(r->in);
  free(r->list_buf);
  custom_args_free(&r->a.custom);
  free(r->images);
  free(r->cms);
}

static void json_string_or_null(FILE *fp, const char *s) {
  if (s)
    csm_json_string(fp, s);
  else
    fprintf(fp, "null");
}

void methods_run_json_head(FILE *fp, const methods_run *r) {
  fprintf(fp, "\"task\": ");
  csm_json_string(fp, r->a.task);
  fprintf(fp, ", \"model\": ");
  csm_json_string(fp, csm_model_path(csm_task_model(r->x.task)));
  fprintf(fp, ", \"layer\": ");
  json_string_or_null(fp, r->layer_name);
  fprintf(fp, ", \"cms\": ");
  json_string_or_null(fp, r->cms_path);
}

void methods_run_json_sample(FILE *fp, const methods_run *r, int input, const face_cis *f) {
  fprintf(fp, "\"image\": ");
  csm_json_string(fp, r->in[input].path);
  if (r->in[input].path2) {
    fprintf(fp, ", \"image2\": ");
    csm_json_string(fp, r->in[input].path2);
  }
  fprintf(fp, ", \"face\": %d, \"explains\": ", f->face_index);
  csm_json_string(fp, f->label_name);
}
