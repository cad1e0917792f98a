/* Pad backward: the input's gradient is the interior of the output's (the
 * fill value is a constant and gets none). Walked one row of the last
 * dimension at a time, like the forward. */
#include "../ops/op.h"
#include "backward.h"

csm_status csm_backward_pad(const csm_backward_args *a) {
  const csm_shape *is = &a->in[0].shape, *os = &a->dout->shape;
  int64_t before[CSM_MAX_RANK], v[2 * CSM_MAX_RANK];
  int count, r = is->rank;
  if (a->k != 0) return csm_fail(CSM_EUNSUPPORTED, "Pad backward differentiates x only");
  if (a->in[0].dtype != CSM_F32) return csm_fail(CSM_EINPUT, "Pad backward needs float32");
  csm_status st = csm_op_ints(&a->in[1], "paddings", v, 2 * CSM_MAX_RANK, &count);
  if (st) return st;
  if (count != 2 * r || os->rank != r)
    return csm_fail(CSM_EINPUT, "Pad backward: paddings do not match the input rank %d", r);
  for (int d = 0; d < r; d++)
    before[d] = v[2 * d];
  const float *dy = a->dout->data;
  float *dx = a->din->data;
  if (r == 0) {
    dx[0] += dy[0];
    return CSM_OK;
  }
  const int64_t numel = (int64_t)csm_tensor_numel(&a->in[0]);
  if (numel == 0) return CSM_OK;
  const int64_t w_in = is->d[r - 1], rows = numel / w_in;
#pragma omp parallel for schedule(static) if (numel >= 65536)
  for (int64_t row = 0; row < rows; row++) {
    /* Output row of input row `row`: shift every coordinate by before[d]. */
    int64_t rem = row, out_row = 0, scale = 1;
    for (int d = r - 2; d >= 0; d--) {
      const int64_t c = rem % is->d[d] + before[d];
      rem /= is->d[d];
      out_row += c * scale;
      scale *= os->d[d];
    }
    const float *s = dy + out_row * os->d[r - 1] + before[r - 1];
    float *o = dx + row * w_in;
    for (int64_t i = 0; i < w_in; i++)
      o[i] += s[i];
  }
  return CSM_OK;
}
