/* Transpose (ONNX): out dim d is input dim perm[d].
 *
 * Forward first simplifies the permutation: size-1 dims are dropped (they
 * never change the element order) and input dims that stay neighbours, in
 * the same order, in the output are merged. What is left is either a plain
 * copy (rank <= 1: only size-1 dims moved), rows that stay contiguous (the
 * last dim does not move: one memcpy per row), or a 2-D transpose between
 * the input's last dim and the output's last dim for every index of the
 * other dims, done in tiles so that both the reads and the writes stay in
 * cache. The layout changes of ONNX models, NCHW <-> NHWC ((0,2,3,1) and
 * (0,3,1,2)), become [N, C, HW] <-> [N, HW, C]: the tiled case, with
 * dedicated (vectorizable) loops for 2 to 4 channels, the images. */
#include "op.h"
#include "../grad/backward.h"

#include <omp.h>
#include <string.h>

/* Below this many elements threads cost more than they save. */
#define TRANSPOSE_PARALLEL_MIN ((size_t)1 << 16)
/* Elements per tile of the 2-D case: 16 KB read and 16 KB written, which
 * together stay in L1 (64x64 measured faster than 32x32 here). */
#define TILE_ELEMS 4096
#define TILE_SIDE 64

static csm_status transpose_infer(const csm_node *n, const csm_tensor *in, csm_tensor *out) {
  const csm_shape *s = &in[0].shape;
  int seen[CSM_MAX_RANK] = {0};
  csm_status st;
  if (n->n_in != 1) return csm_fail(CSM_EINPUT, "Transpose takes 1 input, got %d", n->n_in);
  if (in[0].dtype != CSM_F32 && in[0].dtype != CSM_I32)
    return csm_fail(CSM_EINPUT, "input has an unknown dtype %d", (int)in[0].dtype);
  if ((st = csm_shape_numel(s, &(size_t){0}))) return st;
  if (n->a.n_perm != s->rank)
    return csm_fail(CSM_EINPUT, "perm has %d entries for a rank %d input", n->a.n_perm, s->rank);
  for (int d = 0; d < s->rank; d++) {
    int p = n->a.perm[d];
    if (p < 0 || p >= s->rank)
      return csm_fail(CSM_EINPUT, "perm[%d] = %d is out of range for rank %d", d, p, s->rank);
    if (seen[p]) return csm_fail(CSM_EINPUT, "perm names dim %d twice: not a permutation", p);
    seen[p] = 1;
  }
  out->dtype = in[0].dtype;
  out->shape.rank = s->rank;
  for (int d = 0; d < s->rank; d++)
    out->shape.d[d] = s->d[n->a.perm[d]];
  return CSM_OK;
}

/* The simplified problem: input dims dim[0..rank-1] (C order), output dim
 * k = input dim perm[k]. */
typedef struct tplan {
  int rank;
  int perm[CSM_MAX_RANK];
  size_t dim[CSM_MAX_RANK];
} tplan;

static void simplify(const csm_shape *s, const int *perm, tplan *t) {
  int keep[CSM_MAX_RANK], p[CSM_MAX_RANK], r = 0;
  int first[CSM_MAX_RANK], ng = 0;
  size_t gsize[CSM_MAX_RANK] = {0};
  /* Drop size-1 dims: renumber the kept input dims in order. */
  for (int d = 0, k = 0; d < s->rank; d++)
    keep[d] = s->d[d] == 1 ? -1 : k++;
  for (int d = 0; d < s->rank; d++)
    if (keep[perm[d]] >= 0) p[r++] = keep[perm[d]];
  size_t dims[CSM_MAX_RANK] = {0};
  for (int d = 0, k = 0; d < s->rank; d++)
    if (keep[d] >= 0) dims[k++] = (size_t)s->d[d];
  /* Merge runs of consecutive output dims that are consecutive input dims. */
  for (int k = 0; k < r; k++) {
    if (k > 0 && p[k] == p[k - 1] + 1) {
      gsize[ng - 1] *= dims[p[k]];
      continue;
    }
    first[ng] = p[k];
    gsize[ng] = dims[p[k]];
    ng++;
  }
  /* Groups in input order: group g's input position is the number of
   * groups that start before it in the input. */
  t->rank = ng;
  for (int g = 0; g < ng; g++) {
    int pos = 0;
    for (int h = 0; h < ng; h++)
      pos += first[h] < first[g];
    t->perm[g] = pos;
    t->dim[pos] = gsize[g];
  }
}

/* The outer (not tiled) output dims of the 2-D case, as an odometer over
 * up to CSM_MAX_RANK dims with their input and output strides. */
typedef struct outer_walk {
  int n;
  size_t d[CSM_MAX_RANK], si[CSM_MAX_RANK], so[CSM_MAX_RANK];
} outer_walk;

static void outer_offsets(const outer_walk *w, size_t idx, size_t *oi, size_t *oo) {
  *oi = *oo = 0;
  for (int k = w->n - 1; k >= 0; k--) {
    size_t i = idx % w->d[k];
    idx /= w->d[k];
    *oi += i * w->si[k];
    *oo += i * w->so[k];
  }
}

/* Few channels (NCHW <-> NHWC with C = 2, 3, 4): interleave C contiguous
 * rows into one (y[i*C + j] = row j [i]) or split one into C. With C fixed
 * at compile time the compiler vectorizes both with shuffles. */
#define DEFINE_LANES(C)                                                                            \
  static void interleave##C(const uint32_t *restrict x, size_t is, uint32_t *restrict y,           \
                            size_t m) {                                                            \
    for (size_t i = 0; i < m; i++)                                                                 \
      for (size_t j = 0; j < C; j++)                                                               \
        y[i * C + j] = x[j * is + i];                                                              \
  }                                                                                                \
  static void deinterleave##C(const uint32_t *restrict x, uint32_t *restrict y, size_t os,         \
                              size_t n) {                                                          \
    for (size_t j = 0; j < n; j++)                                                                 \
      for (size_t i = 0; i < C; i++)                                                               \
        y[i * os + j] = x[j * C + i];                                                              \
  }
DEFINE_LANES(2)
DEFINE_LANES(3)
DEFINE_LANES(4)

/* out[i*os + j] = in[i + j*is] for i < m, j < n: i walks the input's
 * contiguous dim, j the output's. The inner loop takes the longer side. */
static void tile_copy(const uint32_t *restrict x, size_t is, uint32_t *restrict y, size_t os,
                      size_t m, size_t n) {
  if (os == n && n <= 4) { /* whole output rows of n: interleave */
    switch (n) {
    case 2: interleave2(x, is, y, m); return;
    case 3: interleave3(x, is, y, m); return;
    case 4: interleave4(x, is, y, m); return;
    default: break;
    }
  }
  if (is == m && m <= 4) { /* whole input rows of m: split */
    switch (m) {
    case 2: deinterleave2(x, y, os, n); return;
    case 3: deinterleave3(x, y, os, n); return;
    case 4: deinterleave4(x, y, os, n); return;
    default: break;
    }
  }
  if (n >= m) {
    for (size_t i = 0; i < m; i++) {
      const uint32_t *src = x + i;
      uint32_t *dst = y + i * os;
      for (size_t j = 0; j < n; j++)
        dst[j] = src[j * is];
    }
  } else {
    for (size_t j = 0; j < n; j++) {
      const uint32_t *src = x + j * is;
      uint32_t *dst = y + j;
      for (size_t i = 0; i < m; i++)
        dst[i * os] = src[i];
    }
  }
}

/* Rows [r0, r1) of the rows case: the first row's offsets by division,
 * then an odometer. */
static void copy_rows(const outer_walk *w, const uint32_t *x, uint32_t *y, size_t len, size_t r0,
                      size_t r1) {
  size_t idx[CSM_MAX_RANK] = {0}, oi = 0, oo = 0, r = r0;
  for (int k = w->n - 1; k >= 0; k--) {
    idx[k] = r % w->d[k];
    r /= w->d[k];
    oi += idx[k] * w->si[k];
    oo += idx[k] * w->so[k];
  }
  for (size_t row = r0; row < r1; row++) {
    if (len <= 8) { /* a few channels: cheaper than a call */
      for (size_t e = 0; e < len; e++)
        y[oo + e] = x[oi + e];
    } else {
      memcpy(y + oo, x + oi, len * 4);
    }
    for (int k = w->n - 1; k >= 0; k--) {
      oi += w->si[k];
      oo += w->so[k];
      if (++idx[k] < w->d[k]) break;
      oi -= w->si[k] * w->d[k];
      oo -= w->so[k] * w->d[k];
      idx[k] = 0;
    }
  }
}

static csm_status transpose_forward(const csm_node *n, const csm_tensor *in, csm_tensor *out,
                                    void *scratch) {
  const uint32_t *x = in[0].data;
  uint32_t *y = out->data;
  const size_t total = csm_tensor_numel(out);
  size_t is[CSM_MAX_RANK], os[CSM_MAX_RANK];
  tplan t;
  (void)scratch;
  if (total == 0) return CSM_OK;
  simplify(&in[0].shape, n->a.perm, &t);
  if (t.rank <= 1) {
    memcpy(y, x, total * 4);
    return CSM_OK;
  }
  const int r = t.rank, last = r - 1;
  for (int d = last; d >= 0; d--)
    is[d] = d == last ? 1 : is[d + 1] * t.dim[d + 1];
  for (int k = last; k >= 0; k--)
    os[k] = k == last ? 1 : os[k + 1] * t.dim[t.perm[k + 1]];
  const int par = total >= TRANSPOSE_PARALLEL_MIN;

  if (t.perm[last] == last) {
    /* The last dim stays last: contiguous rows of it. */
    outer_walk w = {.n = last};
    const size_t len = t.dim[last], rows = total / len;
    for (int k = 0; k < last; k++) {
      w.d[k] = t.dim[t.perm[k]];
      w.si[k] = is[t.perm[k]];
      w.so[k] = os[k];
    }
    if (!par) {
      copy_rows(&w, x, y, len, 0, rows);
      return CSM_OK;
    }
#pragma omp parallel
    {
      const size_t nt = (size_t)omp_get_num_threads(), tid = (size_t)omp_get_thread_num();
      const size_t r0 = rows * tid / nt, r1 = rows * (tid + 1) / nt;
      if (r0 < r1) copy_rows(&w, x, y, len, r0, r1);
    }
    return CSM_OK;
  }

  /* The 2-D case: q is the output position of the input's last dim. */
  int q = 0;
  while (t.perm[q] != last)
    q++;
  const size_t m = t.dim[last];          /* rows: input-contiguous */
  const size_t nn = t.dim[t.perm[last]]; /* cols: output-contiguous */
  const size_t sin = is[t.perm[last]], sout = os[q];
  outer_walk w = {.n = 0};
  for (int k = 0; k < last; k++) {
    if (k == q) continue;
    w.d[w.n] = t.dim[t.perm[k]];
    w.si[w.n] = is[t.perm[k]];
    w.so[w.n] = os[k];
    w.n++;
  }
  const size_t outer = total / (m * nn);
  /* Square tiles, or long thin ones when a side is short (C = 3 channels). */
  size_t tm, tn;
  if (m <= nn) {
    tm = m < TILE_SIDE ? m : TILE_SIDE;
    tn = nn < TILE_ELEMS / tm ? nn : TILE_ELEMS / tm;
  } else {
    tn = nn < TILE_SIDE ? nn : TILE_SIDE;
    tm = m < TILE_ELEMS / tn ? m : TILE_ELEMS / tn;
  }
  const size_t bm = (m + tm - 1) / tm, bn = (nn + tn - 1) / tn, tasks = outer * bm * bn;
#pragma omp parallel for schedule(static) if (par)
  for (size_t task = 0; task < tasks; task++) {
    size_t o = task / (bm * bn), b = task % (bm * bn);
    size_t i0 = (b / bn) * tm, j0 = (b % bn) * tn, oi, oo;
    size_t ci = m - i0 < tm ? m - i0 : tm, cj = nn - j0 < tn ? nn - j0 : tn;
    outer_offsets(&w, o, &oi, &oo);
    tile_copy(x + oi + i0 + j0 * sin, sin, y + oo + i0 * sout + j0, sout, ci, cj);
  }
  return CSM_OK;
}

static double transpose_flops(const csm_node *n, const csm_tensor *in, const csm_tensor *out) {
  (void)n;
  (void)in;
  (void)out;
  return 0.0;
}

const csm_op_def csm_op_transpose = {.infer = transpose_infer,
                                     .forward = transpose_forward,
                                     .flops = transpose_flops,
                                     .backward = csm_backward_transpose};
