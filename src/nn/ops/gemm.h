/* A row-independent single-precision GEMM with a fused bias/activation
 * epilogue, for Conv2D (im2col) and MatMul.
 *
 * Why not cblas_sgemm: OpenBLAS's result for one row of C depends on how
 * many rows the call has and where the row sits among its register blocks
 * (measured with OpenBLAS 0.3.21, Haswell kernels, even single-threaded),
 * so a batch of N images would not give bit for bit the results of N single
 * runs. One call per image fixes that but is slow where images are small (a
 * batch of one-row MatMuls: 16x; emotion's first layer: 1.7x). Here every
 * element of C is one fused multiply-add chain over k = 0..K-1, in order,
 * starting from 0, whatever M, the tiling, the thread count or the
 * instruction set (AVX-512, AVX2 or scalar fmaf): a result depends only on
 * its row of A, on B and on the epilogue. The kernels are also faster than
 * OpenBLAS's (bench/bench_conv.c). */
#ifndef CSM_NN_OPS_GEMM_H
#define CSM_NN_OPS_GEMM_H

#include <stddef.h>
#include <stdint.h>

#include "activation.h"

/* Floats that csm_gemm_pack_b writes for a [k, n] right-hand side. */
size_t csm_gemm_packed_floats(int64_t k, int64_t n);

/* Columns per packed panel of a right-hand side with n columns. */
static inline int64_t csm_gemm_panel_width(int64_t n) { return n <= 16 ? 16 : 32; }

/* Where csm_gemm_pack_b puts element (kk, j) of a [k, n] right-hand side, so
 * that a caller can write a packed B directly (zero the packed floats first:
 * the padding past n must be 0). */
static inline size_t csm_gemm_packed_at(int64_t k, int64_t n, int64_t kk, int64_t j) {
  const int64_t nr = csm_gemm_panel_width(n);
  return (size_t)(j / nr * k * nr + kk * nr + j % nr);
}

/* Packs the right-hand side B into column panels: b is [k, n] with row stride
 * ldb, or [n, k] with row stride ldb when trans is set. */
void csm_gemm_pack_b(const float *b, int64_t ldb, int trans, int64_t k, int64_t n, float *packed);

/* c[m, n] (row stride ldc) = epilogue(a[m, k] (row stride lda) x B), with B
 * from csm_gemm_pack_b. e may be NULL: the plain product. Uses OpenMP; call
 * it outside parallel regions. */
void csm_gemm(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *packed,
              float *c, int64_t ldc, const csm_epilogue *e);

/* A left-hand side read in place, without being copied into a matrix: row
 * r of A is nseg segments of seg_len floats, segment s starting at
 * row(ctx, r) + s * seg_stride; K = nseg * seg_len. A convolution's patch
 * matrix is such an A: one segment per filter row, each a contiguous run of
 * the (padded) input, so im2col is not needed (conv2d.c). A plain matrix is
 * one segment per row. */
typedef struct csm_gemm_rows {
  const float *(*row)(const void *ctx, int64_t r);
  const void *ctx;
  int64_t nseg, seg_len, seg_stride;
} csm_gemm_rows;

/* csm_gemm with A given by rows: the same arithmetic, so the same bits as
 * csm_gemm on the matrix those rows describe. */
void csm_gemm_rows_run(int64_t m, int64_t n, const csm_gemm_rows *a, const float *packed, float *c,
                       int64_t ldc, const csm_epilogue *e);

/* The instruction set the kernels use: "avx512", "avx2" or "scalar". */
const char *csm_gemm_isa(void);
/* For tests and benchmarks: use the kernels of `isa` (NULL: the best this
 * machine has). Fails when the machine lacks it. Not thread-safe. */
csm_status csm_gemm_set_isa(const char *isa);

#endif
