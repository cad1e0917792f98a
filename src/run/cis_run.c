/* csm cis as a library call: every face of every input, then the files.
 * Nothing is written unless every input has a face. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "run_internal.h"

csm_status csm_cis_run(const csm_explain_options *o, const csm_input *in, int n,
                       const csm_run_options *r, csm_run_summary *summary) {
  double t0 = csm_now();
  memset(summary, 0, sizeof *summary);
  if (!r->out_dir) return csm_fail(CSM_EUSAGE, "csm_cis_run: no output folder");
  csm_face_result **faces = calloc((size_t)(n > 0 ? n : 1), sizeof *faces);
  int *n_faces = calloc((size_t)(n > 0 ? n : 1), sizeof *n_faces);
  char **stems = NULL;
  csm_explainer *x = NULL;
  csm_status st = faces && n_faces ? CSM_OK : csm_fail(CSM_ENOMEM, "out of memory");
  if (!st) st = csm_input_stems(in, n, &stems);
  /* The folder is checked before the work (nothing made yet), and locked
   * while the files are written. */
  if (!st) st = csm_run_folder_check(r->out_dir);
  if (!st) st = csm_explainer_open(o, &x);
  if (!st) {
    csm_explainer_set_progress(x, r->progress, r->progress_ctx);
    csm_run_progress_start(x, n);
  }
  for (int i = 0; !st && i < n; i++) {
    csm_run_progress_input(x, i);
    st = csm_explainer_explain(x, &in[i], &faces[i], &n_faces[i]);
    if (!st && n_faces[i] == 0) st = csm_fail(CSM_EINPUT, "%s: no face found", in[i].path);
    if (!st && csm_run_report_progress(x)) st = csm_fail(CSM_EUSAGE, "cancelled");
  }
  /* Everything computed: now the files. */
  int lock = -1;
  if (!st) st = csm_run_folder_lock(r->out_dir, &lock);
  if (!st) st = csm_explainer_write_canonical(x, r->out_dir);
  if (!st)
    st = csm_run_folder_write_cis(x, in, n, stems, faces, n_faces, r->out_dir, csm_now() - t0);
  csm_run_folder_unlock(lock);
  if (!st) {
    summary->inputs = n;
    for (int i = 0; i < n; i++)
      summary->faces += n_faces[i];
    summary->seconds = csm_now() - t0;
    csm_run_summary_calibration(x, summary);
  }
  for (int i = 0; faces && i < n; i++)
    csm_face_results_free(faces[i], n_faces[i]);
  free(faces);
  free(n_faces);
  csm_input_stems_free(stems, n);
  csm_explainer_free(x);
  return st;
}
