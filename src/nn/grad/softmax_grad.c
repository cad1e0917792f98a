/* Backward pass of Softmax and LogSoftmax over the last axis, for each row:
 *   Softmax     din += y * (dout - sum_j dout_j y_j)
 *   LogSoftmax  din += dout - exp(y) * sum_j dout_j   (exp(y) is the softmax)
 * with the row sums and the products in double. */
#include "backward.h"

#include <math.h>

#define PAR_MIN ((size_t)1 << 14)

csm_status csm_backward_softmax(const csm_backward_args *a) {
  const csm_tensor *x = &a->in[0];
  const char *op = csm_op_name(a->node->op);
  if (a->k != 0) return csm_fail(CSM_EINTERNAL, "%s: no operand %d to differentiate", op, a->k);
  if (x->dtype != CSM_F32 || a->din->dtype != CSM_F32)
    return csm_fail(CSM_EUNSUPPORTED, "%s: gradients need a float32 input", op);
  if (x->shape.rank < 1) return csm_fail(CSM_EINPUT, "%s needs an input of rank >= 1", op);
  const size_t total = csm_tensor_numel(x), c = (size_t)x->shape.d[x->shape.rank - 1];
  if (total == 0 || c == 0) return CSM_OK;
  const size_t rows = total / c;
  const float *y = a->out->data, *g = a->dout->data;
  float *din = a->din->data;
  const int log_softmax = a->node->op == CSM_OP_LOG_SOFTMAX;
#pragma omp parallel for schedule(static) if (total >= PAR_MIN)
  for (size_t r = 0; r < rows; r++) {
    const float *yr = y + r * c, *gr = g + r * c;
    float *dr = din + r * c;
    double dot = 0.0;
    if (log_softmax) {
      for (size_t i = 0; i < c; i++)
        dot += (double)gr[i];
      for (size_t i = 0; i < c; i++)
        dr[i] += (float)((double)gr[i] - exp((double)yr[i]) * dot);
      continue;
    }
    for (size_t i = 0; i < c; i++)
      dot += (double)gr[i] * (double)yr[i];
    for (size_t i = 0; i < c; i++)
      dr[i] += (float)((double)yr[i] * ((double)gr[i] - dot));
  }
  return CSM_OK;
}
