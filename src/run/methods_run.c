/* The shared run of compare, eval and sanity: every input's samples with
 * the run's per-sample work hooked in, and the report's common parts. */
#include <stdlib.h>
#include <string.h>

#include "methods_internal.h"

static int has_cam(const csm_method_list *ml) {
  return csm_method_list_has(ml, CSM_METHOD_GRADCAM) ||
         csm_method_list_has(ml, CSM_METHOD_GRADCAM_PP) ||
         csm_method_list_has(ml, CSM_METHOD_SCORECAM);
}

/* The run's per-sample work, then a progress report. */
static csm_status progress_hook(void *ctx, const csm_scorer *sc, const csm_view *views, int n_views,
                                csm_face_result *f) {
  csm_methods_report *r = ctx;
  csm_status st = r->hook(r->hook_ctx, sc, views, n_views, f);
  if (st) return st;
  r->samples_done++;
  r->x->pr.occluded = r->x->pr.occlusions = 0;
  r->x->pr.faces_done++; /* counted again by the explainer when the sample ends */
  int cancel = csm_run_report_progress(r->x);
  r->x->pr.faces_done--;
  if (cancel) return csm_fail(CSM_EUSAGE, "cancelled");
  return CSM_OK;
}

csm_status csm_methods_run_all(csm_methods_report *r, csm_methods_kind kind,
                               const csm_explain_options *o, const csm_input *in, int n,
                               const csm_methods_options *m, const csm_run_options *ro,
                               csm_status (*hook)(void *ctx, const csm_scorer *sc,
                                                  const csm_view *views, int n_views,
                                                  csm_face_result *f),
                               void *hook_ctx) {
  static const char *const names[] = {"compare", "eval", "sanity"};
  r->kind = kind;
  r->cmd = names[kind];
  r->o = *o;
  r->m = *m;
  r->r = ro;
  r->out_dir = ro ? ro->out_dir : NULL;
  r->in = in, r->n_in = n;
  r->t0 = csm_now();
  if (n <= 0) return csm_fail(CSM_EUSAGE, "no images given");
  csm_status st = csm_method_list_parse(m->methods, m->cms != NULL, &r->ml);
  if (st) return st;
  /* The folder is checked before the work, written after it. */
  if (r->out_dir && (st = csm_run_folder_check(r->out_dir))) return st;
  r->faces = calloc((size_t)n, sizeof *r->faces);
  r->n_faces = calloc((size_t)n, sizeof *r->n_faces);
  st = r->faces && r->n_faces ? CSM_OK : csm_fail(CSM_ENOMEM, "out of memory");
  if (!st) st = csm_input_stems(in, n, &r->stems);
  if (!st) st = csm_explainer_open(o, &r->x);
  if (!st && has_cam(&r->ml))
    st = csm_run_resolve_layer(m->layer, &r->m.opt, csm_task_model(r->x->task), &r->layer_name);
  if (!st && m->cms) st = csm_run_load_cms(m->cms, r->x->size, &r->cms);
  if (st) return st;
  r->x->skip_cis = !csm_method_list_has(&r->ml, CSM_RUN_METHOD_CIS);
  r->hook = hook, r->hook_ctx = hook_ctx;
  r->x->sample_hook = progress_hook;
  r->x->hook_ctx = r;
  csm_explainer_set_progress(r->x, ro ? ro->progress : NULL, ro ? ro->progress_ctx : NULL);
  csm_run_progress_start(r->x, n);
  for (int i = 0; !st && i < n; i++) {
    csm_run_progress_input(r->x, i);
    st = csm_explainer_explain(r->x, &in[i], &r->faces[i], &r->n_faces[i]);
    if (!st && r->n_faces[i] == 0) st = csm_fail(CSM_EINPUT, "%s: no face found", in[i].path);
  }
  return st;
}

void csm_methods_report_free(csm_methods_report *r) {
  if (!r) return;
  for (int i = 0; r->faces && i < r->n_in; i++)
    csm_face_results_free(r->faces[i], r->n_faces[i]);
  free(r->faces);
  free(r->n_faces);
  csm_input_stems_free(r->stems, r->n_in);
  csm_explainer_free(r->x);
  free(r->cms);
  free(r);
}

const char *csm_methods_report_layer(const csm_methods_report *r) { return r->layer_name; }
double csm_methods_report_seconds(const csm_methods_report *r) { return r->seconds; }
const csm_method_list *csm_methods_report_methods(const csm_methods_report *r) { return &r->ml; }

int csm_methods_report_faces(const csm_methods_report *r) {
  int total = 0;
  for (int i = 0; r->n_faces && i < r->n_in; i++)
    total += r->n_faces[i];
  return total;
}

static void json_string_or_null(FILE *fp, const char *s) {
  if (s)
    csm_json_string(fp, s);
  else
    fprintf(fp, "null");
}

void csm_methods_json_head(FILE *fp, const csm_methods_report *r) {
  fprintf(fp, "\"task\": ");
  csm_json_string(fp, r->o.task);
  fprintf(fp, ", \"model\": ");
  csm_json_string(fp, csm_model_path(csm_task_model(r->x->task)));
  fprintf(fp, ", \"layer\": ");
  json_string_or_null(fp, r->layer_name);
  fprintf(fp, ", \"cms\": ");
  json_string_or_null(fp, r->m.cms);
}

void csm_methods_json_sample(FILE *fp, const csm_methods_report *r, int input,
                             const csm_face_result *f) {
  fprintf(fp, "\"image\": ");
  csm_json_string(fp, r->in[input].path);
  if (r->in[input].path2) {
    fprintf(fp, ", \"image2\": ");
    csm_json_string(fp, r->in[input].path2);
  }
  fprintf(fp, ", \"face\": %d, \"explains\": ", f->face_index);
  csm_json_string(fp, f->label_name);
}

static csm_status report_text(const csm_methods_report *r, int json, int with_faces, char **text) {
  *text = NULL;
  size_t len = 0;
  FILE *fp = open_memstream(text, &len);
  if (!fp) return csm_fail(CSM_ENOMEM, "out of memory");
  if (r->kind == CSM_RUN_EVAL && json) csm_run_eval_json(fp, r, with_faces);
  if (r->kind == CSM_RUN_EVAL && !json) csm_run_eval_text(fp, r);
  if (r->kind == CSM_RUN_SANITY && json) csm_run_sanity_json(fp, r);
  if (r->kind == CSM_RUN_SANITY && !json) csm_run_sanity_text(fp, r);
  fclose(fp);
  return *text ? CSM_OK : csm_fail(CSM_ENOMEM, "out of memory");
}

csm_status csm_methods_report_json(const csm_methods_report *r, int with_faces, char **text) {
  return report_text(r, 1, with_faces, text);
}

csm_status csm_methods_report_table(const csm_methods_report *r, char **text) {
  return report_text(r, 0, 0, text);
}

csm_status csm_methods_report_finish(csm_methods_report *r, csm_status st,
                                     csm_methods_report **out) {
  r->seconds = csm_now() - r->t0;
  if (r->locked) csm_run_folder_unlock(r->lock_fd);
  r->locked = 0;
  if (st) {
    csm_methods_report_free(r);
    return st;
  }
  *out = r;
  return CSM_OK;
}
