/* A run's progress as the caller's callback sees it: inputs and faces done,
 * the rate in faces per second, and the time left, estimated from the
 * inputs still to come (as many faces each as the inputs seen so far had,
 * at least one). */
#include <string.h>

#include "run_internal.h"

void csm_run_progress_start(csm_explainer *x, int n_inputs) {
  memset(&x->pr, 0, sizeof x->pr);
  x->pr.n_inputs = n_inputs;
  x->t_start = csm_now();
  x->cancelled = 0;
}

void csm_run_progress_input(csm_explainer *x, int i) {
  x->pr.input = i + 1;
  x->pr.face = x->pr.n_faces = 0;
  x->pr.occluded = x->pr.occlusions = 0;
  double per_input = i > 0 && x->pr.faces_done > i ? (double)x->pr.faces_done / i : 1;
  x->faces_total_estimate = x->pr.faces_done + (int)((x->pr.n_inputs - i) * per_input + 0.5);
}

int csm_run_report_progress(csm_explainer *x) {
  if (!x->progress) return 0;
  csm_progress *p = &x->pr;
  p->seconds = csm_now() - x->t_start;
  double faces = p->faces_done + (p->occlusions ? (double)p->occluded / p->occlusions : 0);
  p->rate = p->seconds > 0 ? faces / p->seconds : 0;
  p->eta = p->rate > 0 && x->faces_total_estimate > faces
               ? (x->faces_total_estimate - faces) / p->rate
               : 0;
  return x->progress(x->progress_ctx, p);
}
