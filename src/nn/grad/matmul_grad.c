/* MatMul backward: out[rows, N] = act(A[rows, K] x B[K, N] + bias), where A
 * is a (leading dimensions folded into the rows) or a^T (transpose_a) and B
 * is b or b^T (transpose_b).
 *   dA = dpre x B^T   [rows, K]   (k = 0)
 *   dB = A^T x dpre   [K, N]      (k = 1)
 * both on the row-independent GEMM, then added (transposed back where the
 * operand is stored transposed). The fused bias/activation is undone by
 * csm_grad_fused_dpre (conv2d_grad.c). */
#include <stdlib.h>
#include <string.h>

#include "../ops/gemm.h"
#include "backward.h"

static float *alloc_floats(size_t n) { return csm_malloc_array(n ? n : 1, sizeof(float)); }

static float *alloc_packed(int64_t k, int64_t n) {
  size_t bytes = csm_gemm_packed_floats(k, n) * sizeof(float);
  return aligned_alloc(64, (bytes + 63) / 64 * 64 + 64);
}

csm_status csm_backward_matmul(const csm_backward_args *a) {
  const csm_node *nd = a->node;
  const csm_tensor *A = &a->in[0], *B = &a->in[1];
  const int ta = nd->a.transpose_a, tb = nd->a.transpose_b;
  if (A->shape.rank < 2 || B->shape.rank != 2 || (ta && A->shape.rank != 2))
    return csm_fail(CSM_EINPUT, "MatMul backward: unsupported operand ranks %d and %d",
                    A->shape.rank, B->shape.rank);
  if (a->k != 0 && a->k != 1)
    return csm_fail(CSM_EUNSUPPORTED, "MatMul backward differentiates a and b, not operand %d",
                    a->k);
  const int r = A->shape.rank;
  const int64_t M = ta ? A->shape.d[1] : A->shape.d[r - 2];
  const int64_t K = ta ? A->shape.d[0] : A->shape.d[r - 1];
  const int64_t N = tb ? B->shape.d[0] : B->shape.d[1];
  int64_t rows = M;
  for (int d = 0; d < r - 2; d++)
    rows *= A->shape.d[d];
  if (rows <= 0 || K <= 0 || N <= 0) return CSM_OK;
  float *dpre;
  csm_status st = csm_grad_fused_dpre(a, N, &dpre);
  if (st) return st;
  float *tmp = NULL, *packed = NULL, *at = NULL;
  float *din = a->din->data;
  if (a->k == 0) {
    /* dA[rows, K] = dpre[rows, N] x B^T; B^T is [N, K]: b stored [K, N] is
     * it transposed, b stored [N, K] (transpose_b) is it as is. */
    tmp = alloc_floats((size_t)(rows * K));
    packed = alloc_packed(N, K);
    if (!tmp || !packed) goto nomem;
    if (tb)
      csm_gemm_pack_b(B->data, K, 0, N, K, packed);
    else
      csm_gemm_pack_b(B->data, N, 1, N, K, packed);
    csm_gemm(rows, K, N, dpre, N, packed, tmp, K, NULL);
    if (ta) { /* a is stored [K, M] */
      for (int64_t kk = 0; kk < K; kk++)
        for (int64_t i = 0; i < M; i++)
          din[kk * M + i] += tmp[i * K + kk];
    } else {
      const int64_t total = rows * K;
      for (int64_t i = 0; i < total; i++)
        din[i] += tmp[i];
    }
  } else {
    /* dB[K, N] = A^T[K, rows] x dpre[rows, N]. */
    const float *arows = A->data; /* A^T, row-major [K, rows] */
    if (!ta) {
      at = alloc_floats((size_t)(rows * K));
      if (!at) goto nomem;
      const float *src = A->data;
      for (int64_t i = 0; i < rows; i++)
        for (int64_t kk = 0; kk < K; kk++)
          at[kk * rows + i] = src[i * K + kk];
      arows = at;
    }
    tmp = alloc_floats((size_t)(K * N));
    packed = alloc_packed(rows, N);
    if (!tmp || !packed) goto nomem;
    csm_gemm_pack_b(dpre, N, 0, rows, N, packed);
    csm_gemm(K, N, rows, arows, rows, packed, tmp, N, NULL);
    if (tb) { /* b is stored [N, K] */
      for (int64_t j = 0; j < N; j++)
        for (int64_t kk = 0; kk < K; kk++)
          din[j * K + kk] += tmp[kk * N + j];
    } else {
      const int64_t total = K * N;
      for (int64_t i = 0; i < total; i++)
        din[i] += tmp[i];
    }
  }
  free(tmp);
  free(packed);
  free(at);
  if (dpre != a->dout->data) free(dpre);
  return CSM_OK;
nomem:
  free(tmp);
  free(packed);
  free(at);
  if (dpre != a->dout->data) free(dpre);
  return csm_fail(CSM_ENOMEM, "out of memory for the MatMul backward pass");
}
