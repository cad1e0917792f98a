/* Backward pass of BroadcastTo (ONNX Expand): every output element is a
 * copy of one x element, so din gets dout summed over the broadcast dims.
 * The output is walked in order (one thread: the sums then do not depend
 * on the thread count), with x's stride per output dim 0 where x is
 * broadcast. */
#include "backward.h"

csm_status csm_backward_broadcast_to(const csm_backward_args *a) {
  const csm_shape *x = &a->in[0].shape, *o = &a->dout->shape;
  size_t sx[CSM_MAX_RANK], stride = 1, idx[CSM_MAX_RANK] = {0};
  if (a->k != 0 || a->in[0].dtype != CSM_F32 || a->din->dtype != CSM_F32 ||
      a->dout->dtype != CSM_F32)
    return csm_fail(CSM_EUNSUPPORTED, "BroadcastTo: operand %d has no float32 gradient", a->k);
  const int off = o->rank - x->rank;
  if (off < 0)
    return csm_fail(CSM_EINTERNAL, "BroadcastTo backward: output rank %d below input rank %d",
                    o->rank, x->rank);
  for (int i = o->rank - 1; i >= 0; i--) {
    const int64_t dim = i - off >= 0 ? x->d[i - off] : 1;
    if (dim != 1 && dim != o->d[i])
      return csm_fail(CSM_EINTERNAL, "BroadcastTo backward: dout does not match the output");
    sx[i] = dim == 1 ? 0 : stride;
    stride *= (size_t)dim;
  }
  const size_t total = csm_tensor_numel(a->dout);
  if (total == 0) return CSM_OK;
  const int m = o->rank - 1;
  const float *g = a->dout->data;
  float *din = a->din->data;
  if (m < 0) { /* scalar to scalar */
    din[0] += g[0];
    return CSM_OK;
  }
  const size_t len = (size_t)o->d[m], rows = total / len;
  size_t ox = 0;
  for (size_t r = 0; r < rows; r++) {
    const float *src = g + r * len;
    if (sx[m]) {
      float *dst = din + ox;
      for (size_t j = 0; j < len; j++)
        dst[j] += src[j];
    } else {
      float sum = 0;
      for (size_t j = 0; j < len; j++)
        sum += src[j];
      din[ox] += sum;
    }
    for (int k = m - 1; k >= 0; k--) {
      ox += sx[k];
      if (++idx[k] < (size_t)o->d[k]) break;
      ox -= sx[k] * (size_t)o->d[k];
      idx[k] = 0;
    }
  }
  return CSM_OK;
}
