/* Backward pass of Gather: out[o, k, i] = x[o, indices[k], i], so dout is
 * scattered back and added at the gathered positions; an index that
 * appears more than once gets the sum of its slices (in index order, so
 * the result does not depend on threads). Only x carries a gradient. */
#include "backward.h"

static size_t prod(const csm_shape *s, int from, int to) {
  size_t p = 1;
  for (int i = from; i < to; i++)
    p *= (size_t)s->d[i];
  return p;
}

csm_status csm_backward_gather(const csm_backward_args *a) {
  const csm_node *n = a->node;
  const csm_shape *s = &a->in[0].shape;
  if (a->k != 0 || n->n_in != 2 || a->in[0].dtype != CSM_F32 || a->din->dtype != CSM_F32 ||
      a->dout->dtype != CSM_F32)
    return csm_fail(CSM_EUNSUPPORTED, "Gather: operand %d has no float32 gradient", a->k);
  if (a->in[1].dtype != CSM_I32) return csm_fail(CSM_EINPUT, "Gather: indices must be int32");
  if (s->rank == 0 || n->a.axis < -s->rank || n->a.axis >= s->rank)
    return csm_fail(CSM_EINPUT, "Gather: axis %d out of range for rank %d input", n->a.axis,
                    s->rank);
  const int axis = n->a.axis < 0 ? n->a.axis + s->rank : n->a.axis;
  const size_t outer = prod(s, 0, axis), inner = prod(s, axis + 1, s->rank);
  const size_t count = csm_tensor_numel(&a->in[1]);
  const int64_t dim = s->d[axis];
  const int32_t *idx = a->in[1].data;
  if (csm_tensor_numel(a->dout) != outer * count * inner)
    return csm_fail(CSM_EINTERNAL, "Gather backward: dout does not match the output shape");
  for (size_t k = 0; k < count; k++)
    if (idx[k] < -dim || idx[k] >= dim)
      return csm_fail(CSM_EINPUT, "Gather: index %d (element %zu of indices) is out of range",
                      (int)idx[k], k);
  const float *g = a->dout->data;
  float *din = a->din->data;
  for (size_t o = 0; o < outer; o++)
    for (size_t k = 0; k < count; k++) {
      const size_t j = (size_t)(idx[k] < 0 ? idx[k] + dim : idx[k]);
      const float *src = g + (o * count + k) * inner;
      float *dst = din + (o * (size_t)dim + j) * inner;
      for (size_t i = 0; i < inner; i++)
        dst[i] += src[i];
    }
  return CSM_OK;
}
