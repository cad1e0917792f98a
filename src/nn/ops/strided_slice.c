/* StridedSlice with TensorFlow's semantics (begin/end/strides plus the five
 * masks). The spec is resolved exactly as TensorFlow's ValidateStridedSliceOp
 * (and TF.js's slice_util.sliceInfo, a port of it) does, in three steps:
 * sparse spec -> dense spec (one entry per input dim) -> per-dim begin,
 * stride and size (the "processing shape"); the output shape is the
 * processing shape with shrunk dims dropped and new axes inserted, which
 * does not change the element order. */
#include "strided_slice.h"
#include "../grad/backward.h"

#include <string.h>

/* A sparse spec may name every input dim, a new axis per output dim, and an
 * ellipsis; one more bit is used for the implicit trailing ellipsis. */
#define SPARSE_MAX (2 * CSM_MAX_RANK + 8)
#define GATHER_NEW_AXIS (-1)
#define GATHER_SHRINK (-2)

static csm_status read_spec(const csm_tensor *t, const char *what, int64_t *v, int *count) {
  if (t->shape.rank != 1)
    return csm_fail(CSM_EINPUT, "%s must be a vector, got rank %d", what, t->shape.rank);
  return csm_op_ints(t, what, v, SPARSE_MAX, count);
}

static int64_t clamp64(int64_t x, int64_t lo, int64_t hi) { return x < lo ? lo : x > hi ? hi : x; }

csm_status csm_slice_plan_make(const csm_node *n, const csm_tensor *in, csm_slice_plan *p) {
  const csm_shape *s = &in[0].shape;
  int64_t sb[SPARSE_MAX], se[SPARSE_MAX], ss[SPARSE_MAX];
  int64_t db[CSM_MAX_RANK], de[CSM_MAX_RANK];
  int gather[SPARSE_MAX + CSM_MAX_RANK + 1];
  int nb, ne, ns, sdims, n_gather = 0, full = 0, add_after = 0, seen = 0;
  unsigned bm = (unsigned)n->a.begin_mask, em = (unsigned)n->a.end_mask;
  unsigned ell = (unsigned)n->a.ellipsis_mask, na = (unsigned)n->a.new_axis_mask;
  unsigned shr = (unsigned)n->a.shrink_axis_mask;
  unsigned dbm = 0, dem = 0, dsm = 0;
  csm_status st;

  if (n->n_in != 4) return csm_fail(CSM_EINPUT, "StridedSlice takes 4 inputs, got %d", n->n_in);
  if (in[0].dtype != CSM_F32 && in[0].dtype != CSM_I32)
    return csm_fail(CSM_EINPUT, "input has an unknown dtype %d", (int)in[0].dtype);
  if ((st = csm_shape_numel(s, &(size_t){0}))) return st;
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

  /* Step 2: the dense spec. The ellipsis always expands so that every input
   * dim is reached (or the spec is rejected below); the defaults are only
   * there to keep every value initialised. */
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
        gather[n_gather++] = full;
      }
    } else if (na & bit) {
      gather[n_gather++] = GATHER_NEW_AXIS;
    } else {
      if (full == s->rank) {
        if (s->rank == 0) return csm_fail(CSM_EINPUT, "cannot slice a scalar input");
        return csm_fail(CSM_EINPUT, "slice spec indexes more than the %d input dims", s->rank);
      }
      db[full] = sb[i];
      de[full] = se[i];
      p->stride[full] = ss[i];
      if (bm & bit) dbm |= 1u << full;
      if (em & bit) dem |= 1u << full;
      if (shr & bit) {
        gather[n_gather++] = GATHER_SHRINK;
        dsm |= 1u << full;
      } else {
        gather[n_gather++] = full;
      }
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
      /* Negative strides walk from dim-1 down to -1 (one before the start). */
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

  /* Step 4: the final shape. */
  p->out.rank = 0;
  for (int g = 0; g < n_gather; g++) {
    if (gather[g] == GATHER_SHRINK) continue;
    if (p->out.rank == CSM_MAX_RANK)
      return csm_fail(CSM_EUNSUPPORTED, "slice output rank exceeds %d", CSM_MAX_RANK);
    p->out.d[p->out.rank++] = gather[g] == GATHER_NEW_AXIS ? 1 : p->size[gather[g]];
  }
  return CSM_OK;
}

static csm_status slice_infer(const csm_node *n, const csm_tensor *in, csm_tensor *out) {
  csm_slice_plan p;
  csm_status st = csm_slice_plan_make(n, in, &p);
  if (st) return st;
  out->dtype = in[0].dtype;
  out->shape = p.out;
  return CSM_OK;
}

static csm_status slice_forward(const csm_node *n, const csm_tensor *in, csm_tensor *out,
                                void *scratch) {
  const csm_shape *s = &in[0].shape;
  const char *src = in[0].data;
  char *dst = out->data;
  int64_t is[CSM_MAX_RANK], idx[CSM_MAX_RANK] = {0}, base = 0, step;
  size_t run = 1, bytes;
  int k, last;
  csm_slice_plan p;
  csm_status st = csm_slice_plan_make(n, in, &p);
  (void)scratch;
  if (st) return st;
  for (int d = 0; d < p.rank; d++)
    if (p.size[d] == 0) return CSM_OK;
  for (int d = s->rank - 1; d >= 0; d--)
    is[d] = d == s->rank - 1 ? 1 : is[d + 1] * s->d[d + 1];

  /* Trailing dims taken whole, plus one more unit-stride dim, are one
   * contiguous run in both input and output. */
  k = p.rank;
  while (k > 0 && p.begin[k - 1] == 0 && p.stride[k - 1] == 1 && p.size[k - 1] == s->d[k - 1]) {
    run *= (size_t)s->d[k - 1];
    k--;
  }
  if (k > 0 && p.stride[k - 1] == 1) {
    run *= (size_t)p.size[k - 1];
    base += p.begin[k - 1] * is[k - 1];
    k--;
  }
  bytes = run * 4;
  if (k == 0) {
    memcpy(dst, src + base * 4, bytes);
    return CSM_OK;
  }
  last = k - 1;
  step = p.stride[last] * is[last];
  for (;;) {
    int64_t pos = base + p.begin[last] * is[last];
    int d;
    for (d = 0; d < last; d++)
      pos += (p.begin[d] + idx[d] * p.stride[d]) * is[d];
    for (int64_t t = 0; t < p.size[last]; t++, pos += step, dst += bytes)
      memcpy(dst, src + pos * 4, bytes);
    for (d = last - 1; d >= 0 && ++idx[d] == p.size[d]; d--)
      idx[d] = 0;
    if (d < 0) break;
  }
  return CSM_OK;
}

static double slice_flops(const csm_node *n, const csm_tensor *in, const csm_tensor *out) {
  (void)n;
  (void)in;
  (void)out;
  return 0.0;
}

const csm_op_def csm_op_strided_slice = {.infer = slice_infer,
                                         .forward = slice_forward,
                                         .flops = slice_flops,
                                         .backward = csm_backward_movement};
