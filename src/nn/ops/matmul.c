/* MatMul: a[M,K] (stored [K,M] with transpose_a) x b[K,N] (stored [N,K] with
 * transpose_b), then bias [N] and the activation, on the row-independent
 * GEMM (gemm.h), so a batch gives bit for bit the rows of single runs.
 *
 * Leading dimensions of a (a batch) are folded into M when a is not
 * transposed: [..., M, K] x [K, N] -> [..., M, N]. */
#include <string.h>

#include "conv_reference.h"
#include "gemm.h"
#include "../grad/backward.h"

typedef struct mm_geom {
  int64_t rows; /* leading dims x M; negative when the batch is not known */
  int64_t m, k, n;
} mm_geom;

static csm_status mm_geom_get(const csm_node *nd, const csm_tensor *in, mm_geom *g) {
  char b1[96], b2[96];
  memset(g, 0, sizeof *g);
  if (nd->n_in < 2) return csm_fail(CSM_EINPUT, "MatMul needs a and b, got %d inputs", nd->n_in);
  const csm_tensor *a = &in[0], *b = &in[1];
  const int ta = nd->a.transpose_a, tb = nd->a.transpose_b;
  if (a->dtype != CSM_F32 || b->dtype != CSM_F32)
    return csm_fail(CSM_EINPUT, "MatMul operands must be float32");
  if (a->shape.rank < 2 || (ta && a->shape.rank != 2))
    return csm_fail(CSM_EINPUT, "MatMul a must have rank 2%s, got shape %s",
                    ta ? " (with transpose_a)" : " or more",
                    csm_shape_str(&a->shape, b1, sizeof b1));
  if (b->shape.rank != 2)
    return csm_fail(CSM_EUNSUPPORTED, "MatMul b must have rank 2, got shape %s",
                    csm_shape_str(&b->shape, b1, sizeof b1));
  const int r = a->shape.rank;
  int64_t lead = 1;
  /* The batch (-1 while planning) may be the first dimension of a, or M of
   * a transposed a. */
  const int batch_dim = ta ? 1 : 0;
  for (int d = 0; d < r; d++) {
    if (a->shape.d[d] < (d == batch_dim ? -1 : 0))
      return csm_fail(CSM_EINPUT, "MatMul a has shape %s with a negative dimension",
                      csm_shape_str(&a->shape, b1, sizeof b1));
    if (d < r - 2) lead = a->shape.d[d] < 0 || lead < 0 ? -1 : lead * a->shape.d[d];
  }
  if (b->shape.d[0] < 0 || b->shape.d[1] < 0)
    return csm_fail(CSM_EINPUT, "MatMul b has shape %s with a negative dimension",
                    csm_shape_str(&b->shape, b1, sizeof b1));
  g->m = ta ? a->shape.d[1] : a->shape.d[r - 2];
  g->k = ta ? a->shape.d[0] : a->shape.d[r - 1];
  const int64_t kb = tb ? b->shape.d[1] : b->shape.d[0];
  g->n = tb ? b->shape.d[0] : b->shape.d[1];
  if (g->k != kb)
    return csm_fail(
        CSM_EINPUT, "MatMul inner dimensions differ: a %s%s has K=%lld but b %s%s has K=%lld",
        csm_shape_str(&a->shape, b1, sizeof b1), ta ? " (transposed)" : "", (long long)g->k,
        csm_shape_str(&b->shape, b2, sizeof b2), tb ? " (transposed)" : "", (long long)kb);
  g->rows = lead < 0 || g->m < 0 ? -1 : lead * g->m;
  return CSM_OK;
}

static csm_status mm_infer(const csm_node *nd, const csm_tensor *in, csm_tensor *out) {
  mm_geom g;
  csm_status st = mm_geom_get(nd, in, &g);
  if (st) return st;
  st = csm_epilogue_check(nd, in, g.n);
  if (st) return st;
  out->dtype = CSM_F32;
  out->shape = in[0].shape;
  out->shape.d[out->shape.rank - 2] = g.m;
  out->shape.d[out->shape.rank - 1] = g.n;
  return CSM_OK;
}

static size_t round16(size_t floats) { return (floats + 15) / 16 * 16; }

static size_t mm_scratch(const csm_node *nd, const csm_tensor *in, const csm_tensor *out) {
  mm_geom g;
  (void)out;
  if (mm_geom_get(nd, in, &g)) return 0;
  size_t floats = round16(csm_gemm_packed_floats(g.k, g.n));
  if (nd->a.transpose_a && g.m > 0) floats += (size_t)g.m * (size_t)g.k;
  return floats * sizeof(float);
}

/* The GEMM with b already packed. */
static csm_status mm_run(const csm_node *nd, const csm_tensor *in, csm_tensor *out,
                         const float *packed, float *at) {
  mm_geom g;
  csm_epilogue e;
  csm_status st = mm_geom_get(nd, in, &g);
  if (st) return st;
  csm_epilogue_from_node(nd, in, &e);
  if (g.rows <= 0 || g.n == 0) return CSM_OK;
  const float *a = in[0].data;
  if (nd->a.transpose_a && g.k > 0) { /* the GEMM reads rows of a: transpose [K,M] first */
    const float *src = a;
#pragma omp parallel for schedule(static) if (g.m * g.k > 65536)
    for (int64_t i = 0; i < g.m; i++)
      for (int64_t kk = 0; kk < g.k; kk++)
        at[i * g.k + kk] = src[kk * g.m + i];
    a = at;
  }
  csm_gemm(g.rows, g.n, g.k, a, g.k, packed, out->data, g.n, &e);
  return CSM_OK;
}

static void mm_pack(const csm_node *nd, const csm_tensor *in, float *packed) {
  mm_geom g;
  if (mm_geom_get(nd, in, &g) || g.n == 0) return;
  csm_gemm_pack_b(in[1].data, nd->a.transpose_b ? g.k : g.n, nd->a.transpose_b, g.k, g.n, packed);
}

static csm_status mm_forward(const csm_node *nd, const csm_tensor *in, csm_tensor *out,
                             void *scratch) {
  mm_geom g;
  csm_status st = mm_geom_get(nd, in, &g);
  if (st) return st;
  float *packed = scratch;
  mm_pack(nd, in, packed);
  return mm_run(nd, in, out, packed, packed + round16(csm_gemm_packed_floats(g.k, g.n)));
}

/* A constant b (the weights of a dense layer) is packed once per plan. */
static size_t mm_prepared_size(const csm_node *nd, const csm_tensor *in) {
  mm_geom g;
  if (!in[1].data || mm_geom_get(nd, in, &g) || g.n <= 0 || g.k <= 0) return 0;
  return csm_gemm_packed_floats(g.k, g.n) * sizeof(float);
}

static void mm_prepare(const csm_node *nd, const csm_tensor *in, void *prepared) {
  mm_pack(nd, in, prepared);
}

static csm_status mm_forward_prepared(const csm_node *nd, const csm_tensor *in, csm_tensor *out,
                                      void *scratch, const void *prepared) {
  mm_geom g;
  csm_status st = mm_geom_get(nd, in, &g);
  if (st) return st;
  return mm_run(nd, in, out, prepared,
                (float *)scratch + round16(csm_gemm_packed_floats(g.k, g.n)));
}

static double mm_flops(const csm_node *nd, const csm_tensor *in, const csm_tensor *out) {
  mm_geom g;
  (void)out;
  if (mm_geom_get(nd, in, &g)) return 0.0;
  double rows = (double)g.rows;
  if (g.rows < 0) /* unknown batch: count one */
    rows = g.m < 0 ? 1.0 : (double)g.m;
  return 2.0 * rows * (double)g.n * (double)g.k;
}

const csm_op_def csm_op_matmul = {.infer = mm_infer,
                                  .scratch = mm_scratch,
                                  .forward = mm_forward,
                                  .flops = mm_flops,
                                  .prepared_size = mm_prepared_size,
                                  .prepare = mm_prepare,
                                  .forward_prepared = mm_forward_prepared,
                                  .backward = csm_backward_matmul,
                                  .grad_operands = CSM_GRAD_FIRST_TWO,
                                  .flags = CSM_OP_WEIGHTED};

csm_status csm_matmul_reference(const csm_node *nd, const csm_tensor *in, csm_tensor *out) {
  mm_geom g;
  csm_epilogue e;
  csm_status st = mm_geom_get(nd, in, &g);
  if (st) return st;
  csm_epilogue_from_node(nd, in, &e);
  const float *a = in[0].data, *b = in[1].data;
  float *y = out->data;
  const int ta = nd->a.transpose_a, tb = nd->a.transpose_b;
  for (int64_t r = 0; r < g.rows; r++)
    for (int64_t j = 0; j < g.n; j++) {
      double s = 0.0;
      for (int64_t kk = 0; kk < g.k; kk++) {
        const float av = ta ? a[kk * g.m + r] : a[r * g.k + kk];
        const float bv = tb ? b[j * g.k + kk] : b[kk * g.n + j];
        s += (double)av * (double)bv;
      }
      float v = (float)s;
      if (e.bias) v += e.bias[j];
      y[r * g.n + j] = csm_act_apply(v, &e, j);
    }
  return CSM_OK;
}
