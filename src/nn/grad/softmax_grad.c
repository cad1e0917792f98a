/* Backward pass of Softmax over the last axis: for each row,
 * din += y * (dout - sum_j dout_j y_j), with the row sum in double. */
#include "backward.h"

#define PAR_MIN ((size_t)1 << 14)

csm_status csm_backward_softmax(const csm_backward_args *a) {
  const csm_tensor *x = &a->in[0];
  if (a->k != 0) return csm_fail(CSM_EINTERNAL, "Softmax: no operand %d to differentiate", a->k);
  if (x->dtype != CSM_F32 || a->din->dtype != CSM_F32)
    return csm_fail(CSM_EUNSUPPORTED, "Softmax: gradients need a float32 input");
  if (x->shape.rank < 1) return csm_fail(CSM_EINPUT, "Softmax needs an input of rank >= 1");
  const size_t total = csm_tensor_numel(x), c = (size_t)x->shape.d[x->shape.rank - 1];
  if (total == 0 || c == 0) return CSM_OK;
  const size_t rows = total / c;
  const float *y = a->out->data, *g = a->dout->data;
  float *din = a->din->data;
#pragma omp parallel for schedule(static) if (total >= PAR_MIN)
  for (size_t r = 0; r < rows; r++) {
    const float *yr = y + r * c, *gr = g + r * c;
    float *dr = din + r * c;
    double dot = 0.0;
    for (size_t i = 0; i < c; i++)
      dot += (double)gr[i] * (double)yr[i];
    for (size_t i = 0; i < c; i++)
      dr[i] += (float)((double)yr[i] * ((double)gr[i] - dot));
  }
  return CSM_OK;
}
