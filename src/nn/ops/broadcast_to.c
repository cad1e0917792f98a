/* BroadcastTo as ONNX Expand: the output shape is the numpy broadcast of
 * x's shape and the shape operand, aligned at the last dim. The broadcast
 * is bidirectional: a 1 in `shape` keeps x's dim (unlike TensorFlow's
 * BroadcastTo, which would reject a larger x dim), and a 1 in x takes the
 * shape's.
 *
 * Forward walks the output in rows of its last (merged) dim: each row is
 * either a contiguous run of x (one memcpy) or one x element repeated. */
#include "op.h"
#include "../grad/backward.h"

#include <omp.h>
#include <string.h>

/* Below this many elements threads cost more than they save. */
#define BROADCAST_PARALLEL_MIN ((size_t)1 << 16)

static csm_status broadcast_to_infer(const csm_node *n, const csm_tensor *in, csm_tensor *out) {
  const csm_shape *s = &in[0].shape;
  int64_t v[CSM_MAX_RANK];
  int count;
  char b0[128], b1[128];
  csm_status st;
  if (n->n_in != 2) return csm_fail(CSM_EINPUT, "BroadcastTo takes 2 inputs, got %d", n->n_in);
  if (in[0].dtype != CSM_F32 && in[0].dtype != CSM_I32)
    return csm_fail(CSM_EINPUT, "input has an unknown dtype %d", (int)in[0].dtype);
  if ((st = csm_shape_numel(s, &(size_t){0}))) return st;
  if (in[1].shape.rank != 1)
    return csm_fail(CSM_EINPUT, "shape must be a vector, got rank %d", in[1].shape.rank);
  if ((st = csm_op_ints(&in[1], "shape", v, CSM_MAX_RANK, &count))) return st;
  for (int i = 0; i < count; i++)
    if (v[i] < 0) return csm_fail(CSM_EINPUT, "shape entry %d is %lld", i, (long long)v[i]);
  const int rank = count > s->rank ? count : s->rank;
  out->dtype = in[0].dtype;
  out->shape.rank = rank;
  for (int i = 0; i < rank; i++) {
    int xi = i - (rank - s->rank), si = i - (rank - count);
    int64_t a = xi >= 0 ? s->d[xi] : 1, b = si >= 0 ? v[si] : 1;
    if (a != b && a != 1 && b != 1) {
      csm_shape want = csm_shape_make(count, v);
      return csm_fail(CSM_EINPUT, "cannot broadcast input %s to shape %s (dim %d: %lld vs %lld)",
                      csm_shape_str(s, b0, sizeof b0), csm_shape_str(&want, b1, sizeof b1), i,
                      (long long)a, (long long)b);
    }
    out->shape.d[i] = a == 1 ? b : a;
  }
  return csm_shape_numel(&out->shape, &(size_t){0});
}

/* The output as rows of its merged last dim; x's stride per merged dim
 * (0 where x is broadcast). */
typedef struct bwalk {
  int rank;
  size_t d[CSM_MAX_RANK], sx[CSM_MAX_RANK];
} bwalk;

static void make_walk(const csm_shape *x, const csm_shape *o, bwalk *w) {
  size_t sx[CSM_MAX_RANK], stride = 1;
  const int off = o->rank - x->rank;
  for (int i = o->rank - 1; i >= 0; i--) {
    size_t dim = i - off >= 0 ? (size_t)x->d[i - off] : 1;
    sx[i] = dim == 1 ? 0 : stride;
    stride *= dim;
  }
  w->rank = 0;
  for (int i = 0; i < o->rank; i++) {
    size_t d = (size_t)o->d[i];
    int k = w->rank - 1;
    if (d == 1) continue;
    /* Contiguous in x with the previous dim, or broadcast along both. */
    if (k >= 0 && w->sx[k] == sx[i] * d) {
      w->d[k] *= d;
      w->sx[k] = sx[i];
      continue;
    }
    w->d[w->rank] = d;
    w->sx[w->rank] = sx[i];
    w->rank++;
  }
  if (w->rank == 0) { /* one element */
    w->rank = 1;
    w->d[0] = 1;
    w->sx[0] = 0;
  }
}

/* Rows [r0, r1): x offsets by an odometer over the dims before the last. */
static void run_rows(const bwalk *w, const uint32_t *x, uint32_t *y, size_t r0, size_t r1) {
  const int m = w->rank - 1;
  const size_t len = w->d[m];
  size_t idx[CSM_MAX_RANK] = {0}, ox = 0, r = r0;
  for (int k = m - 1; k >= 0; k--) {
    idx[k] = r % w->d[k];
    r /= w->d[k];
    ox += idx[k] * w->sx[k];
  }
  for (size_t row = r0; row < r1; row++) {
    uint32_t *dst = y + row * len;
    if (w->sx[m]) {
      memcpy(dst, x + ox, len * 4);
    } else {
      const uint32_t v = x[ox];
      for (size_t j = 0; j < len; j++)
        dst[j] = v;
    }
    for (int k = m - 1; k >= 0; k--) {
      ox += w->sx[k];
      if (++idx[k] < w->d[k]) break;
      ox -= w->sx[k] * w->d[k];
      idx[k] = 0;
    }
  }
}

static csm_status broadcast_to_forward(const csm_node *n, const csm_tensor *in, csm_tensor *out,
                                       void *scratch) {
  const size_t total = csm_tensor_numel(out);
  bwalk w;
  (void)n;
  (void)scratch;
  if (total == 0) return CSM_OK;
  make_walk(&in[0].shape, &out->shape, &w);
  const size_t rows = total / w.d[w.rank - 1];
  if (total < BROADCAST_PARALLEL_MIN || rows == 1) {
    run_rows(&w, in[0].data, out->data, 0, rows);
    return CSM_OK;
  }
#pragma omp parallel
  {
    const size_t nt = (size_t)omp_get_num_threads(), t = (size_t)omp_get_thread_num();
    const size_t r0 = rows * t / nt, r1 = rows * (t + 1) / nt;
    if (r0 < r1) run_rows(&w, in[0].data, out->data, r0, r1);
  }
  return CSM_OK;
}

static double broadcast_to_flops(const csm_node *n, const csm_tensor *in, const csm_tensor *out) {
  (void)n;
  (void)in;
  (void)out;
  return 0.0;
}

const csm_op_def csm_op_broadcast_to = {.infer = broadcast_to_infer,
                                        .forward = broadcast_to_forward,
                                        .flops = broadcast_to_flops,
                                        .backward = csm_backward_broadcast_to};
