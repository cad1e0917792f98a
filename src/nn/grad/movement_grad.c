/* Backward pass of the data-movement ops. Each output element is a copy of
 * exactly one input element, so din gets dout scattered back (added) to
 * where each element came from:
 *   Reshape, Squeeze, ExpandDims, Identity, Flatten: the same element order,
 *     din += dout.
 *   StridedSlice: dout added at the sliced positions (the rest of din is
 *     unchanged), with the forward's resolved spec (ops/strided_slice.h).
 *   Pack: operand k's slice along the new axis.
 *   Concat: operand k's range along the axis (the last operand).
 *   DepthToSpace: the inverse permutation (DCR order, NHWC). */
#include "backward.h"
#include "../ops/strided_slice.h"

#include <string.h>

static csm_status slice_backward(const csm_backward_args *a) {
  const csm_shape *s = &a->in[0].shape;
  int64_t is[CSM_MAX_RANK], idx[CSM_MAX_RANK] = {0};
  csm_slice_plan p = {0};
  csm_status st = csm_slice_plan_make(a->node, a->in, &p);
  if (st) return st;
  const float *g = a->dout->data;
  float *din = a->din->data;
  if (s->rank == 0) { /* a scalar with only new axes: one element */
    din[0] += g[0];
    return CSM_OK;
  }
  for (int d = 0; d < p.rank; d++)
    if (p.size[d] == 0) return CSM_OK;
  for (int d = s->rank - 1; d >= 0; d--)
    is[d] = d == s->rank - 1 ? 1 : is[d + 1] * s->d[d + 1];
  const int last = p.rank - 1;
  /* Output elements in order: the odometer over the processing shape. */
  for (size_t j = 0;;) {
    int64_t pos = 0;
    for (int d = 0; d < last; d++)
      pos += (p.begin[d] + idx[d] * p.stride[d]) * is[d];
    pos += p.begin[last] * is[last];
    for (int64_t t = 0; t < p.size[last]; t++, pos += p.stride[last] * is[last])
      din[pos] += g[j++];
    int d;
    for (d = last - 1; d >= 0 && ++idx[d] == p.size[d]; d--)
      idx[d] = 0;
    if (d < 0) break;
  }
  return CSM_OK;
}

/* ---- Pack, Concat, DepthToSpace ---- */

static size_t prod(const csm_shape *s, int from, int to) {
  size_t p = 1;
  for (int i = from; i < to; i++)
    p *= (size_t)s->d[i];
  return p;
}

static csm_status pack_backward(const csm_backward_args *a) {
  const csm_node *n = a->node;
  const csm_shape *s = &a->in[0].shape;
  int axis = n->a.axis < 0 ? n->a.axis + s->rank + 1 : n->a.axis;
  if (axis < 0 || axis > s->rank)
    return csm_fail(CSM_EINPUT, "axis %d out of range for rank %d inputs", n->a.axis, s->rank);
  const size_t outer = prod(s, 0, axis), block = prod(s, axis, s->rank);
  const size_t nt = (size_t)n->n_in, k = (size_t)a->k;
  const float *g = a->dout->data;
  float *din = a->din->data;
  for (size_t o = 0; o < outer; o++) {
    const float *src = g + (o * nt + k) * block;
    float *dst = din + o * block;
    for (size_t j = 0; j < block; j++)
      dst[j] += src[j];
  }
  return CSM_OK;
}

static csm_status concat_backward(const csm_backward_args *a) {
  const csm_node *n = a->node;
  const csm_tensor *in = a->in, *ax = &in[n->n_in - 1];
  const int rank = in[0].shape.rank, nv = n->n_in - 1;
  int64_t v[1];
  int count;
  csm_status st;
  if (a->k >= nv)
    return csm_fail(CSM_EINTERNAL, "Concat: operand %d is the axis, not a value", a->k);
  if ((st = csm_op_ints(ax, "axis", v, 1, &count))) return st;
  if (count != 1) return csm_fail(CSM_EINPUT, "axis must have exactly one entry, got %d", count);
  if (rank == 0 || v[0] < -rank || v[0] >= rank)
    return csm_fail(CSM_EINPUT, "axis %lld out of range for rank %d inputs", (long long)v[0], rank);
  const int axis = (int)(v[0] < 0 ? v[0] + rank : v[0]);
  const size_t outer = prod(&in[0].shape, 0, axis);
  const size_t inner = prod(&in[0].shape, axis + 1, rank);
  size_t row = 0, off = 0; /* output elements per outer index; operand k's offset in it */
  for (int t = 0; t < nv; t++) {
    size_t len = (size_t)in[t].shape.d[axis] * inner;
    if (t < a->k) off += len;
    row += len;
  }
  const size_t len = (size_t)in[a->k].shape.d[axis] * inner;
  const float *g = a->dout->data;
  float *din = a->din->data;
  if (len == 0) return CSM_OK;
  for (size_t o = 0; o < outer; o++) {
    const float *src = g + o * row + off;
    float *dst = din + o * len;
    for (size_t j = 0; j < len; j++)
      dst[j] += src[j];
  }
  return CSM_OK;
}

/* out[n, h*b+i, w*b+j, c] = in[n, h, w, (i*b + j)*C' + c]. */
static csm_status d2s_backward(const csm_backward_args *a) {
  const csm_shape *s = &a->in[0].shape;
  const int64_t b = a->node->a.block_size;
  if (s->rank != 4 || b < 2 || s->d[3] % (b * b) != 0)
    return csm_fail(CSM_EINPUT, "DepthToSpace: bad input shape or block_size %lld", (long long)b);
  const int64_t nb = s->d[0], ih = s->d[1], iw = s->d[2], ic = s->d[3];
  const int64_t oc = ic / (b * b), ow = iw * b, oh = ih * b;
  const float *g = a->dout->data;
  float *din = a->din->data;
  for (int64_t nn = 0; nn < nb; nn++)
    for (int64_t h = 0; h < ih; h++)
      for (int64_t w = 0; w < iw; w++) {
        float *dx = din + ((nn * ih + h) * iw + w) * ic;
        for (int64_t i = 0; i < b; i++)
          for (int64_t j = 0; j < b; j++) {
            const float *gy = g + ((nn * oh + h * b + i) * ow + w * b + j) * oc;
            float *dxc = dx + (i * b + j) * oc;
            for (int64_t c = 0; c < oc; c++)
              dxc[c] += gy[c];
          }
      }
  return CSM_OK;
}

csm_status csm_backward_movement(const csm_backward_args *a) {
  const csm_node *n = a->node;
  if (a->k < 0 || a->k >= n->n_in || a->in[a->k].dtype != CSM_F32 || a->din->dtype != CSM_F32)
    return csm_fail(CSM_EUNSUPPORTED, "%s: operand %d has no float32 gradient", csm_op_name(n->op),
                    a->k);
  if (n->op != CSM_OP_PACK && n->op != CSM_OP_CONCAT && a->k != 0)
    return csm_fail(CSM_EINTERNAL, "%s: no operand %d to differentiate", csm_op_name(n->op), a->k);
  switch (n->op) {
  case CSM_OP_RESHAPE:
  case CSM_OP_SQUEEZE:
  case CSM_OP_EXPAND_DIMS:
  case CSM_OP_IDENTITY:
  case CSM_OP_FLATTEN: {
    const size_t total = csm_tensor_numel(&a->in[0]);
    const float *g = a->dout->data;
    float *din = a->din->data;
    for (size_t i = 0; i < total; i++)
      din[i] += g[i];
    return CSM_OK;
  }
  case CSM_OP_STRIDED_SLICE: return slice_backward(a);
  case CSM_OP_PACK: return pack_backward(a);
  case CSM_OP_CONCAT: return concat_backward(a);
  case CSM_OP_DEPTH_TO_SPACE: return d2s_backward(a);
  default: return csm_fail(CSM_EINTERNAL, "%s is not a data-movement op", csm_op_name(n->op));
  }
}
