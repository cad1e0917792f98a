/* Binary elementwise ops with numpy/TensorFlow broadcasting: Add, Sub, Mul,
 * Div, Maximum, Minimum and Prelu (x, alpha).
 *
 * Every broadcast is handled by one engine: the output dimensions are walked
 * with per-operand strides (0 where an operand is broadcast), dimensions of
 * size 1 are dropped and neighbours that stay contiguous for both operands are
 * merged. What remains is a set of rows whose innermost run is, for each
 * operand, either contiguous or a single repeated value. The common cases
 * reduce to very few rows: same shapes (one run), a scalar operand (one run,
 * one side repeated) and a per-channel vector [C] or [1,1,1,C] against
 * [N,H,W,C] (N*H*W rows of C contiguous values on both sides). The three run
 * kernels are plain `omp simd` loops so that they vectorize even when the
 * executor writes the output over an input.
 *
 * Results follow TF.js (cpu backend): float32 arithmetic, IEEE division,
 * Maximum/Minimum propagate NaN like Math.max/min, Prelu = x < 0 ? a*x : x,
 * int32 arithmetic wraps like a store into an Int32Array; int32 Div (ONNX
 * shape arithmetic) truncates toward zero. */
#include "op.h"
#include "../grad/backward.h"

#include <omp.h>
#include <string.h>

/* Below this many output elements a parallel region costs more than it saves. */
#define PAR_MIN ((size_t)1 << 15)
#define CHUNK ((size_t)8192) /* elements per parallel task on long runs */

/* Run kernel: n outputs; sa/sb are 1 for a contiguous operand, 0 for one
 * repeated value. */
typedef void (*run_fn)(size_t n, const void *a, int sa, const void *b, int sb, void *out);

/* Three loop shapes per op so that each one is a clean vectorizable loop. */
#define RUN_KERNEL(name, T, EXPR)                                                                  \
  static void name(size_t n, const void *a_, int sa, const void *b_, int sb, void *o_) {           \
    const T *a = a_;                                                                               \
    const T *b = b_;                                                                               \
    T *o = o_;                                                                                     \
    if (sa && sb) {                                                                                \
      _Pragma("omp simd") for (size_t i = 0; i < n; i++) {                                         \
        T x = a[i], y = b[i];                                                                      \
        o[i] = (EXPR);                                                                             \
      }                                                                                            \
    } else if (sa) {                                                                               \
      const T y = b[0];                                                                            \
      _Pragma("omp simd") for (size_t i = 0; i < n; i++) {                                         \
        T x = a[i];                                                                                \
        o[i] = (EXPR);                                                                             \
      }                                                                                            \
    } else if (sb) {                                                                               \
      const T x = a[0];                                                                            \
      _Pragma("omp simd") for (size_t i = 0; i < n; i++) {                                         \
        T y = b[i];                                                                                \
        o[i] = (EXPR);                                                                             \
      }                                                                                            \
    } else {                                                                                       \
      const T x = a[0], y = b[0];                                                                  \
      const T v = (EXPR);                                                                          \
      for (size_t i = 0; i < n; i++)                                                               \
        o[i] = v;                                                                                  \
    }                                                                                              \
  }

RUN_KERNEL(add_f32, float, x + y)
RUN_KERNEL(sub_f32, float, x - y)
RUN_KERNEL(mul_f32, float, (x) * (y))
RUN_KERNEL(div_f32, float, x / y)
/* Math.max/min: NaN in either operand gives NaN (x != x tests for NaN). */
RUN_KERNEL(max_f32, float, x != x ? x : (x > y ? x : y))
RUN_KERNEL(min_f32, float, x != x ? x : (x < y ? x : y))
RUN_KERNEL(prelu_f32, float, x < 0.0f ? y * x : x)
/* Unsigned arithmetic: wraps like TF.js's Int32Array instead of being UB. */
RUN_KERNEL(add_i32, int32_t, (int32_t)((uint32_t)x + (uint32_t)y))
RUN_KERNEL(sub_i32, int32_t, (int32_t)((uint32_t)x - (uint32_t)y))
RUN_KERNEL(mul_i32, int32_t, (int32_t)(((uint32_t)x) * ((uint32_t)y)))
RUN_KERNEL(max_i32, int32_t, x > y ? x : y)
RUN_KERNEL(min_i32, int32_t, x < y ? x : y)
/* ONNX integer Div truncates toward zero, as C does; INT32_MIN / -1 wraps.
 * Zero divisors are refused before the kernel runs (binary_forward). */
RUN_KERNEL(div_i32, int32_t, x == INT32_MIN && y == -1 ? x : x / y)

static run_fn pick_kernel(csm_op_kind op, csm_dtype dt) {
  if (dt == CSM_F32) {
    switch (op) {
    case CSM_OP_ADD: return add_f32;
    case CSM_OP_SUB: return sub_f32;
    case CSM_OP_MUL: return mul_f32;
    case CSM_OP_DIV: return div_f32;
    case CSM_OP_MAXIMUM: return max_f32;
    case CSM_OP_MINIMUM: return min_f32;
    case CSM_OP_PRELU: return prelu_f32;
    default: return NULL;
    }
  }
  if (dt == CSM_I32) {
    switch (op) {
    case CSM_OP_ADD: return add_i32;
    case CSM_OP_SUB: return sub_i32;
    case CSM_OP_MUL: return mul_i32;
    case CSM_OP_DIV: return div_i32;
    case CSM_OP_MAXIMUM: return max_i32;
    case CSM_OP_MINIMUM: return min_i32;
    default: return NULL;
    }
  }
  return NULL;
}

static const char *dtype_name(csm_dtype dt) {
  return dt == CSM_F32 ? "float32" : dt == CSM_I32 ? "int32" : "unknown";
}

/* The broadcast shape of a and b (right-aligned, size-1 dimensions stretch). */
static csm_status broadcast_shape(const csm_node *n, const csm_shape *a, const csm_shape *b,
                                  csm_shape *out) {
  int rank = a->rank > b->rank ? a->rank : b->rank;
  memset(out, 0, sizeof *out);
  out->rank = rank;
  for (int i = 0; i < rank; i++) {
    int ia = i - (rank - a->rank), ib = i - (rank - b->rank);
    int64_t da = ia >= 0 ? a->d[ia] : 1, db = ib >= 0 ? b->d[ib] : 1;
    if (da == db || db == 1) {
      out->d[i] = da;
    } else if (da == 1) {
      out->d[i] = db;
    } else {
      char sa[128], sb[128];
      return csm_fail(CSM_EINPUT,
                      "%s: shapes %s and %s cannot be broadcast (dimension %d: %lld vs %lld)",
                      csm_op_name(n->op), csm_shape_str(a, sa, sizeof sa),
                      csm_shape_str(b, sb, sizeof sb), i, (long long)da, (long long)db);
    }
  }
  return CSM_OK;
}

static csm_status binary_infer(const csm_node *n, const csm_tensor *in, csm_tensor *out) {
  size_t count;
  csm_status st;
  if (n->n_in != 2)
    return csm_fail(CSM_EINPUT, "%s takes 2 inputs, got %d", csm_op_name(n->op), n->n_in);
  if (in[0].dtype != in[1].dtype)
    return csm_fail(CSM_EINPUT, "%s: operands have different dtypes (%s and %s)",
                    csm_op_name(n->op), dtype_name(in[0].dtype), dtype_name(in[1].dtype));
  if (!pick_kernel(n->op, in[0].dtype))
    return csm_fail(CSM_EUNSUPPORTED, "%s is not supported on %s", csm_op_name(n->op),
                    dtype_name(in[0].dtype));
  if ((st = csm_shape_numel(&in[0].shape, &count)) || (st = csm_shape_numel(&in[1].shape, &count)))
    return st;
  if ((st = broadcast_shape(n, &in[0].shape, &in[1].shape, &out->shape))) return st;
  out->dtype = in[0].dtype;
  return csm_shape_numel(&out->shape, &count);
}

/* The output walked as rank dims with element strides per operand, after
 * dropping size-1 dimensions and merging contiguous neighbours. */
typedef struct walk {
  int rank;
  size_t d[CSM_MAX_RANK], sa[CSM_MAX_RANK], sb[CSM_MAX_RANK];
} walk;

static void operand_strides(const csm_shape *s, const csm_shape *o, size_t *st) {
  size_t stride = 1;
  int off = o->rank - s->rank;
  for (int i = o->rank - 1; i >= 0; i--) {
    int j = i - off;
    size_t dim = j >= 0 ? (size_t)s->d[j] : 1;
    st[i] = dim == 1 ? 0 : stride;
    stride *= dim;
  }
}

static void make_walk(const csm_shape *a, const csm_shape *b, const csm_shape *o, walk *w) {
  size_t sa[CSM_MAX_RANK], sb[CSM_MAX_RANK];
  operand_strides(a, o, sa);
  operand_strides(b, o, sb);
  w->rank = 0;
  for (int i = 0; i < o->rank; i++) {
    size_t d = (size_t)o->d[i];
    int k = w->rank - 1;
    if (d == 1) continue;
    /* Merge into the previous dimension when both operands step through the
     * two as one (contiguous for both, or broadcast for both). */
    if (k >= 0 && w->sa[k] == sa[i] * d && w->sb[k] == sb[i] * d) {
      w->d[k] *= d;
      w->sa[k] = sa[i];
      w->sb[k] = sb[i];
      continue;
    }
    w->d[w->rank] = d;
    w->sa[w->rank] = sa[i];
    w->sb[w->rank] = sb[i];
    w->rank++;
  }
  if (w->rank == 0) { /* every dimension is 1: one element */
    w->rank = 1;
    w->d[0] = 1;
    w->sa[0] = w->sb[0] = 0;
  }
}

/* Element offsets of row r in a and b. */
static void row_offsets(const walk *w, size_t r, size_t *oa, size_t *ob, size_t *idx) {
  *oa = *ob = 0;
  for (int k = w->rank - 2; k >= 0; k--) {
    idx[k] = r % w->d[k];
    r /= w->d[k];
    *oa += idx[k] * w->sa[k];
    *ob += idx[k] * w->sb[k];
  }
}

/* Rows [r0, r1) of the walk: each row is one run of the innermost dimension. */
static void run_rows(const walk *w, run_fn f, const char *a, const char *b, char *o, size_t r0,
                     size_t r1) {
  int m = w->rank - 1;
  size_t len = w->d[m], idx[CSM_MAX_RANK] = {0}, oa, ob;
  int sa = w->sa[m] != 0, sb = w->sb[m] != 0;
  row_offsets(w, r0, &oa, &ob, idx); /* once; later rows step the odometer */
  for (size_t r = r0; r < r1; r++) {
    f(len, a + oa * 4, sa, b + ob * 4, sb, o + r * len * 4);
    for (int k = m - 1; k >= 0; k--) {
      oa += w->sa[k];
      ob += w->sb[k];
      if (++idx[k] < w->d[k]) break;
      oa -= w->sa[k] * w->d[k];
      ob -= w->sb[k] * w->d[k];
      idx[k] = 0;
    }
  }
}

static csm_status binary_forward(const csm_node *n, const csm_tensor *in, csm_tensor *out,
                                 void *scratch) {
  run_fn f = pick_kernel(n->op, in[0].dtype);
  const char *a = in[0].data, *b = in[1].data;
  char *o = out->data;
  size_t total = csm_tensor_numel(out), len, rows;
  walk w;
  (void)scratch;
  if (!f) return csm_fail(CSM_EINTERNAL, "%s: no kernel for this dtype", csm_op_name(n->op));
  if (total == 0) return CSM_OK;
  if (n->op == CSM_OP_DIV && in[1].dtype == CSM_I32) {
    /* Integer division only appears in shape arithmetic: small, so check. */
    const int32_t *d = in[1].data;
    for (size_t k = 0, nb = csm_tensor_numel(&in[1]); k < nb; k++)
      if (d[k] == 0) return csm_fail(CSM_EINPUT, "Div: integer division by zero");
  }
  make_walk(&in[0].shape, &in[1].shape, &out->shape, &w);
  len = w.d[w.rank - 1];
  rows = total / len;
  if (total < PAR_MIN) {
    run_rows(&w, f, a, b, o, 0, rows);
  } else if (len >= 2 * CHUNK) {
    /* Few long runs (same shapes, a scalar, a batch-broadcast map): every
     * thread takes chunks of runs. */
    int sa = w.sa[w.rank - 1] != 0, sb = w.sb[w.rank - 1] != 0;
    size_t per = (len + CHUNK - 1) / CHUNK, tasks = rows * per;
#pragma omp parallel for schedule(static)
    for (size_t t = 0; t < tasks; t++) {
      size_t r = t / per, i0 = (t % per) * CHUNK, cnt = len - i0 < CHUNK ? len - i0 : CHUNK;
      size_t idx[CSM_MAX_RANK], oa, ob;
      row_offsets(&w, r, &oa, &ob, idx);
      f(cnt, a + (oa + (sa ? i0 : 0)) * 4, sa, b + (ob + (sb ? i0 : 0)) * 4, sb,
        o + (r * len + i0) * 4);
    }
  } else {
    /* Many short runs (per-channel vectors): contiguous ranges of rows. */
#pragma omp parallel
    {
      int nt = omp_get_num_threads(), t = omp_get_thread_num();
      size_t r0 = rows * (size_t)t / (size_t)nt, r1 = rows * (size_t)(t + 1) / (size_t)nt;
      if (r0 < r1) run_rows(&w, f, a, b, o, r0, r1);
    }
  }
  return CSM_OK;
}

const csm_op_def csm_op_binary = {.infer = binary_infer,
                                  .forward = binary_forward,
                                  .backward = csm_backward_binary,
                                  .grad_operands = CSM_GRAD_FIRST_TWO,
                                  .flags = CSM_OP_ELEMENTWISE};
