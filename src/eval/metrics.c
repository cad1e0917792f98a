/* The faithfulness metrics of the paper (Eq. 11-13), as the paper defines
 * them: every image counts once, confidences for the class predicted on
 * the original image. */
#include <math.h>

#include "csm/eval.h"

static csm_status check(const float *y, const float *o, int n) {
  if (!y || !o || n <= 0) return csm_fail(CSM_EUSAGE, "metrics: no images");
  for (int i = 0; i < n; i++) {
    if (!isfinite(y[i]) || !isfinite(o[i]))
      return csm_fail(CSM_EINPUT, "metrics: image %d: confidence not finite", i);
    if (!(y[i] > 0))
      return csm_fail(CSM_EINPUT, "metrics: image %d: original confidence %g is not positive", i,
                      y[i]);
  }
  return CSM_OK;
}

csm_status csm_eval_average_drop(const float *y, const float *o, int n, double *percent) {
  csm_status st = check(y, o, n);
  if (st) return st;
  double s = 0;
  for (int i = 0; i < n; i++)
    s += fmax(0.0, (double)y[i] - o[i]) / y[i];
  *percent = 100.0 * s / n;
  return CSM_OK;
}

csm_status csm_eval_increase(const float *y, const float *o, int n, double *percent) {
  csm_status st = check(y, o, n);
  if (st) return st;
  int k = 0;
  for (int i = 0; i < n; i++)
    k += o[i] > y[i];
  *percent = 100.0 * k / n;
  return CSM_OK;
}

csm_status csm_eval_win(const float *o, int n, int m, double *win) {
  if (!o || !win || n <= 0 || m <= 0) return csm_fail(CSM_EUSAGE, "win: no images or methods");
  for (int j = 0; j < m; j++)
    win[j] = 0;
  for (int i = 0; i < n; i++) {
    const float *row = o + (size_t)i * m;
    float best = INFINITY;
    for (int j = 0; j < m; j++) {
      if (!isfinite(row[j]))
        return csm_fail(CSM_EINPUT, "win: image %d, method %d: confidence not finite", i, j);
      if (row[j] < best) best = row[j];
    }
    for (int j = 0; j < m; j++)
      win[j] += row[j] == best;
  }
  for (int j = 0; j < m; j++)
    win[j] = 100.0 * win[j] / n;
  return CSM_OK;
}
