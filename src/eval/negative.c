/* Negative explanation images (Eq. 9-10): a saliency map normalized like
 * the CMS map it is compared with, and the input darkened by it. */
#include <math.h>

#include "csm/eval.h"

/* Min and max are taken over the finite values; a map without two
 * distinct finite values counts as constant. Non-finite values normalize
 * to 1 (+inf), 0 (-inf) and 0 (NaN). Sums are kept in double. When the
 * normalized map sums to 0 (a constant map) there is nothing to scale and
 * it stays all 0, whatever target_sum asks. The clip happens after the
 * scaling, so with a large target_sum the result can sum to less than
 * target_sum (every value at most 1). */
void csm_eval_normalize(const float *map, size_t n, double target_sum, float *out) {
  double lo = INFINITY, hi = -INFINITY;
  for (size_t i = 0; i < n; i++) {
    double v = map[i];
    if (!isfinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (!(hi > lo)) {
    for (size_t i = 0; i < n; i++)
      out[i] = 0.0f;
    return;
  }
  const double range = hi - lo;
  double sum = 0;
  for (size_t i = 0; i < n; i++) {
    double v = ((double)map[i] - lo) / range;
    v = v < 0 ? 0 : v > 1 ? 1 : v; /* +-inf map values land on 0 and 1 */
    if (isnan(v)) v = 0;
    out[i] = (float)v;
    sum += v;
  }
  if (target_sum < 0 || !(sum > 0)) return;
  const double k = target_sum / sum;
  for (size_t i = 0; i < n; i++) {
    double v = out[i] * k;
    out[i] = (float)(v > 1 ? 1 : v);
  }
}

void csm_eval_negative_image(const float *input, int size, int channels, const float *black,
                             const float *h, float *out) {
  const size_t pixels = (size_t)size * (size_t)size;
  for (size_t p = 0; p < pixels; p++) {
    const float keep = 1.0f - h[p];
    for (int c = 0; c < channels; c++) {
      const size_t i = p * (size_t)channels + (size_t)c;
      out[i] = black[c] + (input[i] - black[c]) * keep;
    }
  }
}
