/* Packed, register-blocked SGEMM; see gemm.h for why it exists.
 *
 * Layout: B is packed into panels of NR columns (16 when n <= 16, else 32),
 * each panel k x NR floats, zero-padded past n. A is never packed: a tile
 * reads its rows where they are, through one pointer per row (or one pointer
 * and a stride when the rows are evenly spaced), so a 1x1 convolution reads
 * its input and a 3x3 convolution its padded input in place (csm_gemm_rows).
 * Work is split into tasks of rows x panels; inside a task, K is walked in
 * blocks of at most KC floats (whole segments of A when they are short) so
 * that the rows of A stay in L1 and the B block in L2. A tile of C is carried
 * across K blocks in C itself: loading it back as the accumulator continues
 * the same fused multiply-add chain, so blocking never changes the bits.
 *
 * Kernels are compiled for AVX-512 and AVX2 with target attributes and
 * picked at run time, so a portable build (CSM_NATIVE=OFF) is still fast. */
#include "gemm.h"

#include <math.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define CSM_GEMM_X86 1
#include <immintrin.h>
#endif

enum { KC = 256, PANEL_FLOATS = 512 };

size_t csm_gemm_packed_floats(int64_t k, int64_t n) {
  int64_t nr = csm_gemm_panel_width(n);
  if (k <= 0 || n <= 0) return 0;
  return (size_t)k * (size_t)((n + nr - 1) / nr * nr);
}

void csm_gemm_pack_b(const float *b, int64_t ldb, int trans, int64_t k, int64_t n, float *packed) {
  int64_t nr = csm_gemm_panel_width(n), np = (n + nr - 1) / nr;
  if (k <= 0 || n <= 0) return;
#pragma omp parallel for schedule(static) if (k * n > 65536)
  for (int64_t p = 0; p < np; p++) {
    float *d = packed + p * k * nr;
    int64_t j0 = p * nr, w = n - j0 < nr ? n - j0 : nr;
    if (trans) {
      for (int64_t j = 0; j < nr; j++)
        for (int64_t kk = 0; kk < k; kk++)
          d[kk * nr + j] = j < w ? b[(j0 + j) * ldb + kk] : 0.0f;
    } else {
      for (int64_t kk = 0; kk < k; kk++) {
        memcpy(d + kk * nr, b + kk * ldb + j0, (size_t)w * sizeof(float));
        for (int64_t j = w; j < nr; j++)
          d[kk * nr + j] = 0.0f;
      }
    }
  }
}

/* One tile: rows x (up to) nr columns of C over one K block. The block is
 * nseg segments of kc floats; row i's segment s starts at ap[i] + s *
 * seg_stride (or at a + i * lda + s * seg_stride when the rows are evenly
 * spaced and ap is NULL); B is contiguous over the whole block. */
typedef struct tile {
  int64_t kc, nseg, seg_stride;
  const float *const *ap;
  const float *a;
  int64_t lda;
  const float *b; /* packed panel at the K block; row stride nr */
  int64_t nr;
  float *c;
  int64_t ldc;
  int load;              /* continue the chain from C (not the first K block) */
  int w;                 /* valid columns */
  const csm_epilogue *e; /* last K block only */
  int64_t col;           /* column of the tile, for bias and PReLU slopes */
} tile;

static inline const float *tile_row(const tile *t, int i) {
  return t->ap ? t->ap[i] : t->a + i * t->lda;
}

/* Scalar kernel: the definition of the arithmetic, and the fallback. */
static void tile_scalar(int rows, const tile *t) {
  for (int i = 0; i < rows; i++) {
    const float *ai = tile_row(t, i);
    for (int j = 0; j < t->w; j++) {
      float s = t->load ? t->c[i * t->ldc + j] : 0.0f;
      const float *bj = t->b + j;
      for (int64_t g = 0; g < t->nseg; g++)
        for (int64_t k = 0; k < t->kc; k++, bj += t->nr)
          s = fmaf(ai[g * t->seg_stride + k], *bj, s);
      if (t->e) {
        if (t->e->bias) s += t->e->bias[t->col + j];
        s = csm_act_apply(s, t->e, t->col + j);
      }
      t->c[i * t->ldc + j] = s;
    }
  }
}

#ifdef CSM_GEMM_X86

#define AVX512 __attribute__((target("avx512f")))
#define AVX2 __attribute__((target("avx2,fma")))
#define INLINE static inline __attribute__((always_inline))

/* R rows x NV*16 columns; R, NV and PTR (rows by pointer, not by stride)
 * are constants after inlining, so acc[][] lives in registers (R=12, NV=2:
 * 24 of the 32 zmm). */
INLINE AVX512 void k512(const int R, const int NV, const int PTR, const tile *t) {
  __m512 acc[12][2];
  __mmask16 m[2];
  const float *a[12], *b = t->b;
  const int64_t lda = t->lda, nr = t->nr, kc = t->kc;
  m[0] = t->w >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << t->w) - 1u);
  m[1] = t->w >= 32   ? (__mmask16)0xffff
         : t->w <= 16 ? (__mmask16)0
                      : (__mmask16)((1u << (t->w - 16)) - 1u);
  for (int i = 0; i < R; i++)
    for (int v = 0; v < NV; v++)
      acc[i][v] =
          t->load ? _mm512_maskz_loadu_ps(m[v], t->c + i * t->ldc + 16 * v) : _mm512_setzero_ps();
  if (PTR)
    for (int i = 0; i < R; i++)
      a[i] = t->ap[i];
  else
    a[0] = t->a;
  for (int64_t g = 0; g < t->nseg; g++, b += kc * nr) {
    for (int64_t k = 0; k < kc; k++) {
      __m512 bv[2];
      for (int v = 0; v < NV; v++)
        bv[v] = _mm512_loadu_ps(b + k * nr + 16 * v);
      for (int i = 0; i < R; i++) {
        __m512 x = _mm512_set1_ps(PTR ? a[i][k] : a[0][i * lda + k]);
        for (int v = 0; v < NV; v++)
          acc[i][v] = _mm512_fmadd_ps(x, bv[v], acc[i][v]);
      }
    }
    if (PTR)
      for (int i = 0; i < R; i++)
        a[i] += t->seg_stride;
    else
      a[0] += t->seg_stride;
  }
  if (t->e) {
    const csm_epilogue *e = t->e;
    const __m512 zero = _mm512_setzero_ps(), six = _mm512_set1_ps(6.0f);
    for (int v = 0; v < NV; v++) {
      __m512 bias = zero, slope = _mm512_set1_ps(e->alpha);
      if (e->bias) bias = _mm512_maskz_loadu_ps(m[v], e->bias + t->col + 16 * v);
      if (e->act == CSM_ACT_PRELU) slope = _mm512_maskz_loadu_ps(m[v], e->prelu + t->col + 16 * v);
      for (int i = 0; i < R; i++) {
        __m512 s = acc[i][v];
        if (e->bias) s = _mm512_add_ps(s, bias);
        switch (e->act) {
        case CSM_ACT_NONE: break;
        /* max(0, s) and min(6, s) return s when it is NaN, like the scalar form */
        case CSM_ACT_RELU: s = _mm512_max_ps(zero, s); break;
        case CSM_ACT_RELU6: s = _mm512_min_ps(six, _mm512_max_ps(zero, s)); break;
        case CSM_ACT_LEAKY_RELU:
        case CSM_ACT_PRELU: {
          __mmask16 pos = _mm512_cmp_ps_mask(s, zero, _CMP_GT_OQ);
          s = _mm512_mask_blend_ps(pos, _mm512_mul_ps(s, slope), s);
          break;
        }
        }
        acc[i][v] = s;
      }
    }
  }
  for (int i = 0; i < R; i++)
    for (int v = 0; v < NV; v++)
      _mm512_mask_storeu_ps(t->c + i * t->ldc + 16 * v, m[v], acc[i][v]);
}

#define K512_ROWS(NV, PTR)                                                                         \
  switch (rows) {                                                                                  \
  case 12: k512(12, NV, PTR, t); return;                                                           \
  case 8: k512(8, NV, PTR, t); return;                                                             \
  case 4: k512(4, NV, PTR, t); return;                                                             \
  case 2: k512(2, NV, PTR, t); return;                                                             \
  default: k512(1, NV, PTR, t); return;                                                            \
  }

static AVX512 void tile_avx512(int rows, const tile *t) {
  if (t->nr == 32) {
    if (t->ap) K512_ROWS(2, 1)
    K512_ROWS(2, 0)
  }
  if (t->ap) K512_ROWS(1, 1)
  K512_ROWS(1, 0)
}

/* Lane masks for AVX2 masked loads and stores: ymm_mask(n) enables n lanes. */
static const int32_t csm_lane_ones[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
INLINE AVX2 __m256i ymm_mask(int n) {
  n = n < 0 ? 0 : n > 8 ? 8 : n;
  return _mm256_loadu_si256((const __m256i *)(csm_lane_ones + 8 - n));
}

/* R rows x 16 columns (two ymm per row) starting at column half*16 of the
 * panel: 12 accumulators, two B vectors and a broadcast fit in 16 ymm. */
INLINE AVX2 void k256(const int R, const tile *t, int half) {
  __m256 acc[6][2];
  __m256i m[2];
  const float *a[6];
  const int w = t->w - 16 * half;
  const float *b = t->b + 16 * half;
  const int64_t nr = t->nr, col = t->col + 16 * half, kc = t->kc;
  float *c = t->c + 16 * half;
  m[0] = ymm_mask(w);
  m[1] = ymm_mask(w - 8);
  for (int i = 0; i < R; i++) {
    a[i] = tile_row(t, i);
    for (int v = 0; v < 2; v++)
      acc[i][v] = t->load ? _mm256_maskload_ps(c + i * t->ldc + 8 * v, m[v]) : _mm256_setzero_ps();
  }
  for (int64_t g = 0; g < t->nseg; g++, b += kc * nr) {
    for (int64_t k = 0; k < kc; k++) {
      __m256 b0 = _mm256_loadu_ps(b + k * nr), b1 = _mm256_loadu_ps(b + k * nr + 8);
      for (int i = 0; i < R; i++) {
        __m256 x = _mm256_broadcast_ss(a[i] + k);
        acc[i][0] = _mm256_fmadd_ps(x, b0, acc[i][0]);
        acc[i][1] = _mm256_fmadd_ps(x, b1, acc[i][1]);
      }
    }
    for (int i = 0; i < R; i++)
      a[i] += t->seg_stride;
  }
  if (t->e) {
    const csm_epilogue *e = t->e;
    const __m256 zero = _mm256_setzero_ps(), six = _mm256_set1_ps(6.0f);
    for (int v = 0; v < 2; v++) {
      __m256 bias = zero, slope = _mm256_set1_ps(e->alpha);
      if (e->bias) bias = _mm256_maskload_ps(e->bias + col + 8 * v, m[v]);
      if (e->act == CSM_ACT_PRELU) slope = _mm256_maskload_ps(e->prelu + col + 8 * v, m[v]);
      for (int i = 0; i < R; i++) {
        __m256 s = acc[i][v];
        if (e->bias) s = _mm256_add_ps(s, bias);
        switch (e->act) {
        case CSM_ACT_NONE: break;
        case CSM_ACT_RELU: s = _mm256_max_ps(zero, s); break;
        case CSM_ACT_RELU6: s = _mm256_min_ps(six, _mm256_max_ps(zero, s)); break;
        case CSM_ACT_LEAKY_RELU:
        case CSM_ACT_PRELU:
          s = _mm256_blendv_ps(_mm256_mul_ps(s, slope), s, _mm256_cmp_ps(s, zero, _CMP_GT_OQ));
          break;
        }
        acc[i][v] = s;
      }
    }
  }
  for (int i = 0; i < R; i++)
    for (int v = 0; v < 2; v++)
      _mm256_maskstore_ps(c + i * t->ldc + 8 * v, m[v], acc[i][v]);
}

static AVX2 void tile_avx2(int rows, const tile *t) {
  for (int half = 0; half * 16 < t->w; half++) {
    switch (rows) {
    case 6: k256(6, t, half); break;
    case 4: k256(4, t, half); break;
    case 2: k256(2, t, half); break;
    default: k256(1, t, half); break;
    }
  }
}

#endif /* CSM_GEMM_X86 */

typedef enum isa { ISA_SCALAR, ISA_AVX2, ISA_AVX512 } isa;

static int forced_isa = -1;

static isa best_isa(void) {
#ifdef CSM_GEMM_X86
  if (__builtin_cpu_supports("avx512f")) return ISA_AVX512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return ISA_AVX2;
#endif
  return ISA_SCALAR;
}

static isa pick_isa(void) { return forced_isa >= 0 ? (isa)forced_isa : best_isa(); }

csm_status csm_gemm_set_isa(const char *name) {
  isa want;
  if (!name) {
    forced_isa = -1;
    return CSM_OK;
  }
  if (!strcmp(name, "avx512"))
    want = ISA_AVX512;
  else if (!strcmp(name, "avx2"))
    want = ISA_AVX2;
  else if (!strcmp(name, "scalar"))
    want = ISA_SCALAR;
  else
    return csm_fail(CSM_EUSAGE, "unknown GEMM instruction set \"%s\"", name);
  if (want > best_isa())
    return csm_fail(CSM_EUNSUPPORTED, "this machine cannot run the %s GEMM kernels", name);
  forced_isa = (int)want;
  return CSM_OK;
}

const char *csm_gemm_isa(void) {
  switch (pick_isa()) {
  case ISA_AVX512: return "avx512";
  case ISA_AVX2: return "avx2";
  case ISA_SCALAR: break;
  }
  return "scalar";
}

/* Rows per kernel call, and the largest (the register block). */
static int kernel_rows(isa s, int64_t left) {
  int full = s == ISA_AVX512 ? 12 : s == ISA_AVX2 ? 6 : 4;
  if (left >= full) return full;
  if (s == ISA_AVX512 && left >= 8) return 8;
  if (left >= 4 && s != ISA_SCALAR) return 4;
  if (left >= 2) return 2;
  return 1;
}

static void run_tile(isa s, int rows, const tile *t) {
  switch (s) {
#ifdef CSM_GEMM_X86
  case ISA_AVX512: tile_avx512(rows, t); return;
  case ISA_AVX2: tile_avx2(rows, t); return;
#endif
  default: tile_scalar(rows, t); return;
  }
}

/* The K blocks of A: runs of whole segments of at most KC floats, or, when a
 * segment is longer than KC, equal chunks of one segment. */
typedef struct kblocks {
  int64_t per_block; /* whole segments per block; 0: chunks */
  int64_t chunk;     /* floats per chunk */
} kblocks;

static kblocks kblocks_of(const csm_gemm_rows *a) {
  kblocks kb = {0, 0};
  if (a->seg_len <= KC) {
    kb.per_block = KC / a->seg_len;
    return kb;
  }
  const int64_t pieces = (a->seg_len + KC - 1) / KC;
  kb.chunk = (a->seg_len + pieces - 1) / pieces;
  return kb;
}

/* Block `index`: its first segment, offset in it, segments and floats per
 * segment; returns 0 past the last block. */
static int kblock_get(const csm_gemm_rows *a, kblocks kb, int64_t index, int64_t *seg, int64_t *off,
                      int64_t *nseg, int64_t *kc) {
  if (kb.per_block) {
    *seg = index * kb.per_block;
    if (*seg >= a->nseg) return 0;
    *off = 0;
    *nseg = a->nseg - *seg < kb.per_block ? a->nseg - *seg : kb.per_block;
    *kc = a->seg_len;
    return 1;
  }
  const int64_t per_seg = (a->seg_len + kb.chunk - 1) / kb.chunk;
  *seg = index / per_seg;
  if (*seg >= a->nseg) return 0;
  *off = index % per_seg * kb.chunk;
  *nseg = 1;
  *kc = a->seg_len - *off < kb.chunk ? a->seg_len - *off : kb.chunk;
  return 1;
}

/* The rows' pointers of one tile at one K block; returns the stride when the
 * rows are evenly spaced (the stride kernels are a little faster), else 0
 * with the pointers in ap. */
static int tile_rows(const csm_gemm_rows *a, int64_t r, int rows, int64_t shift, const float **ap,
                     int64_t *lda) {
  for (int i = 0; i < rows; i++)
    ap[i] = a->row(a->ctx, r + i) + shift;
  const ptrdiff_t step = rows > 1 ? ap[1] - ap[0] : 0;
  for (int i = 2; i < rows; i++)
    if (ap[i] - ap[i - 1] != step) return 0;
  *lda = (int64_t)step;
  return 1;
}

void csm_gemm_rows_run(int64_t m, int64_t n, const csm_gemm_rows *a, const float *packed, float *c,
                       int64_t ldc, const csm_epilogue *e) {
  const int64_t k = a->nseg * a->seg_len;
  if (m <= 0 || n <= 0) return;
  if (e && !e->bias && e->act == CSM_ACT_NONE) e = NULL;
  if (k <= 0) { /* an empty sum: the epilogue of 0 */
    for (int64_t i = 0; i < m; i++) {
      memset(c + i * ldc, 0, (size_t)n * sizeof(float));
      if (e) csm_epilogue_rows(c + i * ldc, 1, n, e);
    }
    return;
  }
  const isa s = pick_isa();
  const kblocks kb = kblocks_of(a);
  const int64_t nr = csm_gemm_panel_width(n), np = (n + nr - 1) / nr;
  const int64_t mc = 8 * kernel_rows(s, INT64_MAX);
  const int64_t mt = (m + mc - 1) / mc;
  int64_t ppc = PANEL_FLOATS / nr;
  int threads = 1;
#ifdef _OPENMP
  threads = omp_get_max_threads();
#endif
  /* Few row tasks (small m): split the columns finer so all threads work.
   * The split never changes results, only who computes them. */
  if (mt * ((np + ppc - 1) / ppc) < 2 * threads) {
    int64_t want = (2 * threads + mt - 1) / mt;
    ppc = (np + want - 1) / want;
    if (ppc < 1) ppc = 1;
  }
  const int64_t nt = (np + ppc - 1) / ppc, tasks = mt * nt;
  const double work = (double)m * (double)n * (double)k;

#pragma omp parallel for schedule(dynamic, 1) if (tasks > 1 && work > 262144.0)
  for (int64_t task = 0; task < tasks; task++) {
    const int64_t r0 = task / nt * mc, r1 = r0 + mc < m ? r0 + mc : m;
    const int64_t p0 = task % nt * ppc, p1 = p0 + ppc < np ? p0 + ppc : np;
    int64_t seg, off, nseg, kc;
    for (int64_t blk = 0; kblock_get(a, kb, blk, &seg, &off, &nseg, &kc); blk++) {
      const int64_t k0 = seg * a->seg_len + off;
      const float *ap[12];
      tile t;
      t.kc = kc;
      t.nseg = nseg;
      t.seg_stride = a->seg_stride;
      t.nr = nr;
      t.ldc = ldc;
      t.load = k0 > 0;
      t.e = k0 + nseg * kc == k ? e : NULL;
      for (int64_t i = r0; i < r1;) {
        const int rows = kernel_rows(s, r1 - i);
        if (tile_rows(a, i, rows, seg * a->seg_stride + off, ap, &t.lda)) {
          t.ap = NULL;
          t.a = ap[0];
        } else {
          t.ap = ap;
          t.a = NULL;
        }
        for (int64_t p = p0; p < p1; p++) {
          t.col = p * nr;
          t.w = (int)(n - t.col < nr ? n - t.col : nr);
          t.b = packed + p * k * nr + k0 * nr;
          t.c = c + i * ldc + t.col;
          run_tile(s, rows, &t);
        }
        i += rows;
      }
    }
  }
}

typedef struct matrix_rows {
  const float *a;
  int64_t lda;
} matrix_rows;

static const float *matrix_row(const void *ctx, int64_t r) {
  const matrix_rows *mr = ctx;
  return mr->a + r * mr->lda;
}

void csm_gemm(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *packed,
              float *c, int64_t ldc, const csm_epilogue *e) {
  const matrix_rows mr = {a, lda};
  const csm_gemm_rows rows = {matrix_row, &mr, 1, k > 0 ? k : 0, 0};
  csm_gemm_rows_run(m, n, &rows, packed, c, ldc, e);
}
