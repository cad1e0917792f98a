/* Backward pass of the data-movement ops. Each output element is a copy of
 * exactly one input element, so din gets dout scattered back (added) to
 * where each element came from:
 *   Reshape, Squeeze, ExpandDims, Identity: the same element order, din += dout.
 *   StridedSlice: dout added at the sliced positions (the rest of din is
 *     unchanged). The slice spec is resolved as in ops/strided_slice.c (its
 *     helpers are static there, so the resolution is repeated here).
 *   Pack: operand k's slice along the new axis.
 *   Concat: operand k's range along the axis (the last operand).
 *   DepthToSpace: the inverse permutation (DCR order, NHWC). */
#include "backward.h"
#include "../ops/op.h"

#include <string.h>

/* ---- StridedSlice: the spec resolved like ops/strided_slice.c ---- */

#define SPARSE_MAX (2 * CSM_MAX_RANK + 8)

typedef struct slice_plan {
  int rank; /* input rank */
  int64_t begin[CSM_MAX_RANK], stride[CSM_MAX_RANK], size[CSM_MAX_RANK];
} slice_plan;

static csm_status read_spec(const csm_tensor *t, const char *what, int64_t *v, int *count) {
  if (t->shape.rank != 1)
    return csm_fail(CSM_EINPUT, "%s must be a vector, got rank %d", what, t->shape.rank);
  return csm_op_ints(t, what, v, SPARSE_MAX, count);
}

static int64_t clamp64(int64_t x, int64_t lo, int64_t hi) { return x < lo ? lo : x > hi ? hi : x; }

/* Per input dim: first index, stride and count (TF's processing shape).
 * New axes and shrunk dims change only the output's shape, not the order of
 * its elements, so they are not needed here beyond the spec walk. */
static csm_status slice_plan_make(const csm_node *n, const csm_tensor *in, slice_plan *p) {
  const csm_shape *s = &in[0].shape;
  int64_t sb[SPARSE_MAX], se[SPARSE_MAX], ss[SPARSE_MAX];
  int64_t db[CSM_MAX_RANK], de[CSM_MAX_RANK];
  int nb, ne, ns, sdims, full = 0, add_after = 0, seen = 0;
  unsigned bm = (unsigned)n->a.begin_mask, em = (unsigned)n->a.end_mask;
  unsigned ell = (unsigned)n->a.ellipsis_mask, na = (unsigned)n->a.new_axis_mask;
  unsigned shr = (unsigned)n->a.shrink_axis_mask;
  unsigned dbm = 0, dem = 0, dsm = 0;
  csm_status st;

  if (n->n_in != 4) return csm_fail(CSM_EINPUT, "StridedSlice takes 4 inputs, got %d", n->n_in);
  if ((st = read_spec(&in[1], "begin", sb, &nb)) || (st = read_spec(&in[2], "end", se, &ne)) ||
      (st = read_spec(&in[3], "strides", ss, &ns)))
    return st;
  if (nb != ne || nb != ns)
    return csm_fail(CSM_EINPUT, "begin, end and strides have %d, %d and %d entries", nb, ne, ns);
  if (ell & (ell - 1)) return csm_fail(CSM_EINPUT, "more than one ellipsis in ellipsis_mask");

  /* Step 1: count new axes after the ellipsis; add an implicit one at the end. */
  sdims = nb;
  for (int i = 0; i < sdims; i++) {
    if (seen && (na & (1u << i))) add_after++;
    if (ell & (1u << i)) seen = 1;
  }
  if (!seen) ell |= 1u << sdims++;

  /* Step 2: the dense spec. */
  p->rank = s->rank;
  for (int d = 0; d < s->rank; d++) {
    db[d] = de[d] = 0;
    p->stride[d] = 1;
  }
  for (int i = 0; i < sdims; i++) {
    unsigned bit = 1u << i;
    if (ell & bit) {
      int next = s->rank - (sdims - i) + 1 + add_after;
      if (next > s->rank) next = s->rank;
      for (; full < next; full++) {
        db[full] = de[full] = 0;
        p->stride[full] = 1;
        dbm |= 1u << full;
        dem |= 1u << full;
      }
    } else if (!(na & bit)) {
      if (full == s->rank)
        return csm_fail(CSM_EINPUT, "slice spec indexes more than the %d input dims", s->rank);
      db[full] = sb[i];
      de[full] = se[i];
      p->stride[full] = ss[i];
      if (bm & bit) dbm |= 1u << full;
      if (em & bit) dem |= 1u << full;
      if (shr & bit) dsm |= 1u << full;
      full++;
    }
  }

  /* Step 3: canonical begin/end per dim (clamped; masks take the full range). */
  for (int d = 0; d < s->rank; d++) {
    int64_t dim = s->d[d], stride = p->stride[d], len;
    int shrink = (dsm >> d) & 1;
    if (stride == 0) return csm_fail(CSM_EINPUT, "strides[%d] is zero", d);
    if (shrink && stride < 0)
      return csm_fail(CSM_EINPUT, "a shrunk dim (%d) needs a positive stride", d);
    if (shrink) {
      int64_t x = db[d] < 0 ? dim + db[d] : db[d];
      if (x < 0 || x >= dim)
        return csm_fail(CSM_EINPUT, "slice index %lld out of range for dim %d of size %lld",
                        (long long)db[d], d, (long long)dim);
      db[d] = x;
      de[d] = x + 1;
    } else {
      int64_t lo = stride > 0 ? 0 : -1, hi = stride > 0 ? dim : dim - 1;
      if ((dbm >> d) & 1)
        db[d] = stride > 0 ? lo : hi;
      else
        db[d] = clamp64(db[d] < 0 ? dim + db[d] : db[d], lo, hi);
      if ((dem >> d) & 1)
        de[d] = stride > 0 ? hi : lo;
      else
        de[d] = clamp64(de[d] < 0 ? dim + de[d] : de[d], lo, hi);
    }
    len = de[d] - db[d];
    if (len == 0 || (len < 0) != (stride < 0))
      p->size[d] = 0;
    else
      p->size[d] = len / stride + (len % stride != 0);
    p->begin[d] = db[d];
  }
  return CSM_OK;
}

static csm_status slice_backward(const csm_backward_args *a) {
  const csm_shape *s = &a->in[0].shape;
  int64_t is[CSM_MAX_RANK], idx[CSM_MAX_RANK] = {0};
  slice_plan p = {0};
  csm_status st = slice_plan_make(a->node, a->in, &p);
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
  case CSM_OP_IDENTITY: {
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
