/* The data-movement ops added for ONNX models: Transpose, Gather,
 * BroadcastTo (ONNX Expand), Flatten, Reshape with zero_copies, Cast.
 * Expected values come from naive index loops written here (one output
 * element at a time, straight from the ONNX definitions) or are written
 * out by hand. Most cases run through the planner (a graph with the data
 * operand as its input and the parameters as constants), the way models
 * run them; errors are checked on the op itself and through the planner. */
#include "csm_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/graph.h"
#include "nn/ops/op.h"
#include "nn/plan.h"

#define DIMS(...) ((const int64_t[]){__VA_ARGS__})
#define F32(...) ((const float[]){__VA_ARGS__})
#define I32(...) ((const int32_t[]){__VA_ARGS__})

/* ---- Running one op through the planner --------------------------------- */

static void set_io(csm_graph *g, int x, int y) {
  g->inputs = malloc(sizeof(int));
  g->inputs[0] = x;
  g->n_inputs = 1;
  g->outputs = malloc(sizeof(int));
  g->output_names = malloc(sizeof(char *));
  g->outputs[0] = y;
  g->output_names[0] = strdup("y");
  g->n_outputs = 1;
  g->path = strdup("onnx-movement-test");
}

static int add_input(csm_graph *g, csm_dtype dtype, const csm_shape *s) {
  int x = csm_test_graph_add(g, "x", CSM_OP_INPUT, 0, NULL);
  g->nodes[x].value.dtype = dtype;
  g->nodes[x].value.shape = *s;
  return x;
}

/* Set by run_planned: 1 if its error came from planning (shape inference
 * or folding), 0 if from the run. */
static int g_failed_at_plan;

/* A graph `x (input) -> op(x, params...) -> y`, planned for x's shape and
 * run on x; *out gets a copy of y (owned). The op node is named "op". */
static csm_status run_planned(csm_op_kind op, const csm_attrs *a, const csm_tensor *x, int n_params,
                              const csm_tensor *params, csm_tensor *out) {
  csm_graph g;
  csm_plan *p = NULL;
  int in[8];
  memset(&g, 0, sizeof g);
  memset(out, 0, sizeof *out);
  in[0] = add_input(&g, x->dtype, &x->shape);
  for (int k = 0; k < n_params; k++) {
    char name[16];
    snprintf(name, sizeof name, "param%d", k);
    in[1 + k] = csm_test_graph_const(&g, name, params[k].dtype, params[k].shape.rank,
                                     params[k].shape.d, params[k].data);
  }
  int y = csm_test_graph_add(&g, "op", op, 1 + n_params, in);
  g.nodes[y].a = *a;
  set_io(&g, in[0], y);
  csm_status st = csm_plan_create(&g, &x->shape, NULL, &p);
  g_failed_at_plan = st != CSM_OK;
  if (!st) {
    assert_true(csm_plan_is_runtime(p, y));
    st = csm_plan_run(p, x);
  }
  if (!st) {
    const csm_tensor *v = csm_plan_value(p, y);
    CSM_ASSERT_OK(csm_tensor_alloc(out, v->dtype, &v->shape));
    memcpy(out->data, v->data, csm_tensor_numel(v) * 4);
  }
  csm_plan_free(p);
  csm_graph_free(&g);
  return st;
}

static size_t numel_of(int rank, const int64_t *d) {
  size_t n = 1;
  for (int i = 0; i < rank; i++)
    n *= (size_t)d[i];
  return n;
}

/* Fails unless a and b hold the same n 32-bit words. */
static void assert_same_words(const void *got, const void *want, size_t n) {
  if (memcmp(got, want, n * 4) != 0) {
    const uint32_t *g = got, *w = want;
    for (size_t i = 0; i < n; i++)
      if (g[i] != w[i])
        fail_msg("%s%selement %zu: got 0x%08x, want 0x%08x", csm_test_context,
                 *csm_test_context ? " " : "", i, g[i], w[i]);
  }
}

/* ---- Transpose ----------------------------------------------------------- */

/* y[j] for output index (i_0..i_r-1) is x at input index i_perm^-1, i.e.
 * the input offset sum_d i_d * stride_in[perm[d]]. */
static void naive_transpose(const uint32_t *x, const int64_t *dims, int rank, const int *perm,
                            uint32_t *y) {
  size_t is[CSM_MAX_RANK], idx[CSM_MAX_RANK] = {0}, total = numel_of(rank, dims);
  for (int d = rank - 1; d >= 0; d--)
    is[d] = d == rank - 1 ? 1 : is[d + 1] * (size_t)dims[d + 1];
  for (size_t j = 0; j < total; j++) {
    size_t off = 0;
    for (int d = 0; d < rank; d++)
      off += idx[d] * is[perm[d]];
    y[j] = x[off];
    for (int d = rank - 1; d >= 0; d--) {
      if (++idx[d] < (size_t)dims[perm[d]]) break;
      idx[d] = 0;
    }
  }
}

/* Checks one transpose (float32 through the planner) against the naive loop. */
static void check_transpose(int rank, const int64_t *dims, const int *perm, uint32_t seed) {
  size_t total = numel_of(rank, dims);
  float *x = malloc((total ? total : 1) * 4), *want = malloc((total ? total : 1) * 4);
  int64_t od[CSM_MAX_RANK];
  char ctx[160];
  int len = snprintf(ctx, sizeof ctx, "transpose [");
  for (int d = 0; d < rank; d++)
    len +=
        snprintf(ctx + len, sizeof ctx - (size_t)len, "%s%lld", d ? "," : "", (long long)dims[d]);
  len += snprintf(ctx + len, sizeof ctx - (size_t)len, "] perm (");
  for (int d = 0; d < rank; d++)
    len += snprintf(ctx + len, sizeof ctx - (size_t)len, "%s%d", d ? "," : "", perm[d]);
  snprintf(ctx + len, sizeof ctx - (size_t)len, ")");
  csm_test_context = ctx;
  csm_test_fill_uniform(x, total, seed, -10.0f, 10.0f);
  naive_transpose((const uint32_t *)x, dims, rank, perm, (uint32_t *)want);
  for (int d = 0; d < rank; d++)
    od[d] = dims[perm[d]];
  csm_attrs a = csm_attrs_default();
  a.n_perm = rank;
  for (int d = 0; d < rank; d++)
    a.perm[d] = perm[d];
  csm_tensor xt = csm_test_tensor_f32(rank, dims, x), out;
  CSM_ASSERT_OK(run_planned(CSM_OP_TRANSPOSE, &a, &xt, 0, NULL, &out));
  csm_test_assert_shape(&out, rank, od);
  assert_int_equal(out.dtype, CSM_F32);
  assert_same_words(out.data, want, total);
  csm_tensor_free(&out);
  csm_test_context = "";
  free(x);
  free(want);
}

static void check_all_perms(int rank, const int64_t *dims, uint32_t seed) {
  int perm[CSM_MAX_RANK];
  for (int d = 0; d < rank; d++)
    perm[d] = d;
  int count = 0;
  do {
    check_transpose(rank, dims, perm, seed + (uint32_t)count);
    count++;
  } while (csm_test_next_perm(perm, rank));
  int want = 1;
  for (int d = 2; d <= rank; d++)
    want *= d;
  assert_int_equal(count, want);
}

static void test_transpose_4d_all_perms(void **state) {
  (void)state;
  check_all_perms(4, DIMS(2, 3, 4, 5), 1);
  /* Large enough for the threaded path, sides not multiples of the tiles. */
  check_all_perms(4, DIMS(3, 5, 67, 130), 100);
  /* Size-1 dims moving around (the plain-copy fast path and its neighbours). */
  check_all_perms(4, DIMS(1, 3, 1, 5), 200);
  check_all_perms(4, DIMS(2, 1, 3, 1), 300);
  check_all_perms(4, DIMS(1, 1, 1, 7), 400);
}

/* The layout changes of ONNX models at activation sizes. */
static void test_transpose_nchw_nhwc(void **state) {
  (void)state;
  check_transpose(4, DIMS(4, 3, 224, 224), (const int[]){0, 2, 3, 1}, 11);
  check_transpose(4, DIMS(4, 224, 224, 3), (const int[]){0, 3, 1, 2}, 12);
  check_transpose(4, DIMS(2, 64, 28, 28), (const int[]){0, 2, 3, 1}, 13);
  check_transpose(4, DIMS(2, 28, 28, 64), (const int[]){0, 3, 1, 2}, 14);
  check_transpose(4, DIMS(2, 1, 50, 60), (const int[]){0, 2, 3, 1}, 15); /* a plain copy */
  /* Few channels (2 and 4) and a lot of them, both ways. */
  for (int64_t c = 2; c <= 5; c++) {
    check_transpose(4, DIMS(3, c, 37, 41), (const int[]){0, 2, 3, 1}, 16 + (uint32_t)c);
    check_transpose(4, DIMS(3, 37, 41, c), (const int[]){0, 3, 1, 2}, 26 + (uint32_t)c);
  }
}

static void test_transpose_other_ranks(void **state) {
  (void)state;
  check_transpose(0, NULL, NULL, 1);
  check_transpose(1, DIMS(7), (const int[]){0}, 2);
  check_transpose(2, DIMS(70, 90), (const int[]){1, 0}, 3);
  check_transpose(2, DIMS(1000, 3), (const int[]){1, 0}, 4);
  check_transpose(2, DIMS(3, 1000), (const int[]){1, 0}, 5);
  check_transpose(2, DIMS(1, 9), (const int[]){1, 0}, 6);
  check_all_perms(3, DIMS(4, 5, 6), 20);
  check_all_perms(3, DIMS(130, 3, 200), 40);
  check_all_perms(5, DIMS(2, 3, 4, 5, 6), 60);
  check_transpose(6, DIMS(2, 1, 3, 2, 4, 3), (const int[]){5, 3, 1, 0, 4, 2}, 7);
  check_transpose(8, DIMS(2, 2, 2, 3, 1, 2, 2, 2), (const int[]){7, 6, 5, 4, 3, 2, 1, 0}, 8);
  /* Empty tensors. */
  check_transpose(3, DIMS(2, 0, 3), (const int[]){2, 0, 1}, 9);
}

static void test_transpose_i32_and_direct(void **state) {
  (void)state;
  /* int32, by hand: [[1,2,3],[4,5,6]]^T, on the op itself. */
  csm_node n = csm_test_node(CSM_OP_TRANSPOSE, 1);
  n.a.n_perm = 2;
  n.a.perm[0] = 1;
  n.a.perm[1] = 0;
  csm_tensor out, in[1] = {csm_test_tensor_i32(2, DIMS(2, 3), I32(1, 2, 3, 4, 5, 6))};
  CSM_ASSERT_OK(csm_test_run_op(&n, in, &out));
  csm_test_assert_shape(&out, 2, DIMS(3, 2));
  csm_test_assert_tensor_i32(&out, I32(1, 4, 2, 5, 3, 6), 6);
  csm_tensor_free(&out);
  /* [2,2,3] with perm (2,0,1): out[c][a][b] = x[a][b][c] */
  n.a.n_perm = 3;
  n.a.perm[0] = 2;
  n.a.perm[1] = 0;
  n.a.perm[2] = 1;
  in[0] =
      csm_test_tensor_f32(3, DIMS(2, 2, 3), F32(0, 1, 2, 10, 11, 12, 100, 101, 102, 110, 111, 112));
  CSM_ASSERT_OK(csm_test_run_op(&n, in, &out));
  csm_test_assert_shape(&out, 3, DIMS(3, 2, 2));
  csm_test_assert_tensor_close(&out, F32(0, 10, 100, 110, 1, 11, 101, 111, 2, 12, 102, 112), 12, 0,
                               0);
  csm_tensor_free(&out);
}

static void test_transpose_errors(void **state) {
  (void)state;
  csm_node n = csm_test_node(CSM_OP_TRANSPOSE, 1);
  csm_tensor out, in[1] = {csm_test_tensor_f32(3, DIMS(2, 3, 4), NULL)};
  n.a.n_perm = 2;
  n.a.perm[0] = 1;
  n.a.perm[1] = 0;
  csm_test_expect_error(&n, in, CSM_EINPUT, "perm has 2 entries for a rank 3 input");
  n.a.n_perm = 3;
  n.a.perm[2] = 3;
  csm_test_expect_error(&n, in, CSM_EINPUT, "perm[2] = 3 is out of range for rank 3");
  n.a.perm[2] = -1;
  csm_test_expect_error(&n, in, CSM_EINPUT, "perm[2] = -1 is out of range");
  n.a.perm[2] = 1;
  csm_test_expect_error(&n, in, CSM_EINPUT, "not a permutation");
  n.n_in = 2;
  csm_test_expect_error(&n, in, CSM_EINPUT, "takes 1 input");
  /* Through the planner: the message names the node. */
  csm_attrs a = csm_attrs_default();
  a.n_perm = 3;
  a.perm[0] = 0;
  a.perm[1] = 0;
  a.perm[2] = 2;
  float x[24] = {0};
  in[0].data = x;
  assert_int_equal(run_planned(CSM_OP_TRANSPOSE, &a, &in[0], 0, NULL, &out), CSM_EINPUT);
  assert_non_null(strstr(csm_last_error(), "node 'op' (Transpose)"));
  assert_non_null(strstr(csm_last_error(), "not a permutation"));
}

/* ---- Gather -------------------------------------------------------------- */

/* out[o, k, i] = x[o, idx[k] (wrapped), i] (x: outer x dim x inner). */
static void naive_gather(const float *x, size_t outer, int64_t dim, size_t inner,
                         const int32_t *idx, size_t count, float *y) {
  for (size_t o = 0; o < outer; o++)
    for (size_t k = 0; k < count; k++) {
      int64_t j = idx[k] < 0 ? idx[k] + dim : idx[k];
      for (size_t i = 0; i < inner; i++)
        y[(o * count + k) * inner + i] = x[(o * (size_t)dim + (size_t)j) * inner + i];
    }
}

static void test_gather_float(void **state) {
  (void)state;
  float x[2 * 4 * 3], want[2 * 6 * 3];
  csm_test_fill_uniform(x, 24, 5, -1.0f, 1.0f);
  /* axis 1 with 2-D indices (negative ones too): [2,4,3] x [3,2] -> [2,3,2,3] */
  const int32_t idx[6] = {0, 3, -1, 1, 2, -4};
  csm_attrs a = csm_attrs_default();
  a.axis = 1;
  csm_tensor xt = csm_test_tensor_f32(3, DIMS(2, 4, 3), x), out;
  csm_tensor it = csm_test_tensor_i32(2, DIMS(3, 2), idx);
  CSM_ASSERT_OK(run_planned(CSM_OP_GATHER, &a, &xt, 1, &it, &out));
  csm_test_assert_shape(&out, 4, DIMS(2, 3, 2, 3));
  naive_gather(x, 2, 4, 3, idx, 6, want);
  csm_test_assert_tensor_close(&out, want, 36, 0, 0);
  /* by hand for a few: out[1][1][0][2] = x[1][-1 -> 3][2], out[0][2][1] = x[0][-4 -> 0] */
  assert_true(((float *)out.data)[((1 * 3 + 1) * 2 + 0) * 3 + 2] == x[(1 * 4 + 3) * 3 + 2]);
  assert_true(((float *)out.data)[((0 * 3 + 2) * 2 + 1) * 3 + 1] == x[(0 * 4 + 0) * 3 + 1]);
  csm_tensor_free(&out);
  /* axis -1 (= 2) with a vector of indices: [2,4,3] -> [2,4,2] */
  a.axis = -1;
  it = csm_test_tensor_i32(1, DIMS(2), I32(2, -3));
  CSM_ASSERT_OK(run_planned(CSM_OP_GATHER, &a, &xt, 1, &it, &out));
  csm_test_assert_shape(&out, 3, DIMS(2, 4, 2));
  naive_gather(x, 8, 3, 1, I32(2, -3), 2, want);
  csm_test_assert_tensor_close(&out, want, 16, 0, 0);
  csm_tensor_free(&out);
  /* axis 0 with a scalar index drops the axis: [2,4,3] -> [4,3] */
  a.axis = 0;
  it = csm_test_tensor_i32(0, NULL, I32(-1));
  CSM_ASSERT_OK(run_planned(CSM_OP_GATHER, &a, &xt, 1, &it, &out));
  csm_test_assert_shape(&out, 2, DIMS(4, 3));
  csm_test_assert_tensor_close(&out, x + 12, 12, 0, 0);
  csm_tensor_free(&out);
  /* empty indices: [2,0,3] */
  a.axis = 1;
  it = csm_test_tensor_i32(1, DIMS(0), I32(0));
  CSM_ASSERT_OK(run_planned(CSM_OP_GATHER, &a, &xt, 1, &it, &out));
  csm_test_assert_shape(&out, 3, DIMS(2, 0, 3));
  csm_tensor_free(&out);
}

static void test_gather_large(void **state) {
  (void)state;
  /* [4,50,40,16] gathered along axis 2 by 60 indices (threaded path). */
  const size_t total = 4 * 50 * 40 * 16, out_n = 4 * 50 * 60 * 16;
  float *x = malloc(total * 4), *want = malloc(out_n * 4);
  int32_t idx[60];
  for (int k = 0; k < 60; k++)
    idx[k] = (k * 7) % 80 - 40; /* [-40, 40) */
  csm_test_fill_uniform(x, total, 9, -1.0f, 1.0f);
  naive_gather(x, 200, 40, 16, idx, 60, want);
  csm_attrs a = csm_attrs_default();
  a.axis = 2;
  csm_tensor xt = csm_test_tensor_f32(4, DIMS(4, 50, 40, 16), x), out;
  csm_tensor it = csm_test_tensor_i32(1, DIMS(60), idx);
  CSM_ASSERT_OK(run_planned(CSM_OP_GATHER, &a, &xt, 1, &it, &out));
  csm_test_assert_shape(&out, 4, DIMS(4, 50, 60, 16));
  csm_test_assert_tensor_close(&out, want, out_n, 0, 0);
  csm_tensor_free(&out);
  free(x);
  free(want);
}

static void test_gather_i32(void **state) {
  (void)state;
  csm_node n = csm_test_node(CSM_OP_GATHER, 2);
  csm_tensor out, in[2] = {csm_test_tensor_i32(1, DIMS(4), I32(16, 3, 224, 224)),
                           csm_test_tensor_i32(0, NULL, I32(0))};
  CSM_ASSERT_OK(csm_test_run_op(&n, in, &out));
  csm_test_assert_shape(&out, 0, NULL);
  csm_test_assert_tensor_i32(&out, I32(16), 1);
  csm_tensor_free(&out);
  in[1] = csm_test_tensor_i32(1, DIMS(3), I32(-1, 1, -4));
  CSM_ASSERT_OK(csm_test_run_op(&n, in, &out));
  csm_test_assert_shape(&out, 1, DIMS(3));
  csm_test_assert_tensor_i32(&out, I32(224, 3, 16), 3);
  csm_tensor_free(&out);
}

/* y = Reshape(x, Concat(ExpandDims(Gather(Cast(Cast(Shape(x), f32), i32), 0), 0), [-1]))
 * for x [N,2,3]: the batch read out of the shape at plan time, as ONNX
 * exports of Flatten-by-hand do. Everything but the reshape folds. */
static void test_gather_folds_at_plan_time(void **state) {
  (void)state;
  csm_graph g;
  memset(&g, 0, sizeof g);
  int x = add_input(&g, CSM_F32, &(csm_shape){3, {-1, 2, 3}});
  int shp = csm_test_graph_add(&g, "shape", CSM_OP_SHAPE, 1, &x);
  int c1 = csm_test_graph_add(&g, "to_f32", CSM_OP_CAST, 1, &shp);
  g.nodes[c1].a.to_dtype = CSM_F32;
  int c2 = csm_test_graph_add(&g, "to_i32", CSM_OP_CAST, 1, &c1);
  g.nodes[c2].a.to_dtype = CSM_I32;
  int zero = csm_test_graph_const(&g, "zero", CSM_I32, 0, NULL, I32(0));
  int gin[2] = {c2, zero};
  int gat = csm_test_graph_add(&g, "batch", CSM_OP_GATHER, 2, gin);
  int ein[2] = {gat, zero};
  int ed = csm_test_graph_add(&g, "batch_vec", CSM_OP_EXPAND_DIMS, 2, ein);
  int rest = csm_test_graph_const(&g, "minus_one", CSM_I32, 1, DIMS(1), I32(-1));
  int cin[3] = {ed, rest, zero};
  int cat = csm_test_graph_add(&g, "target", CSM_OP_CONCAT, 3, cin);
  int rin[2] = {x, cat};
  int y = csm_test_graph_add(&g, "y", CSM_OP_RESHAPE, 2, rin);
  set_io(&g, x, y);
  for (int batch = 1; batch <= 5; batch += 4) {
    csm_shape s = {3, {batch, 2, 3}};
    csm_plan *p;
    CSM_ASSERT_OK(csm_plan_create(&g, &s, NULL, &p));
    assert_false(csm_plan_is_runtime(p, gat));
    assert_false(csm_plan_is_runtime(p, c2));
    const csm_tensor *b = csm_plan_value(p, gat);
    csm_test_assert_shape(b, 0, NULL);
    csm_test_assert_tensor_i32(b, (const int32_t[]){batch}, 1);
    csm_test_assert_tensor_i32(csm_plan_value(p, cat), (const int32_t[]){batch, -1}, 2);
    csm_tensor xt;
    CSM_ASSERT_OK(csm_tensor_alloc(&xt, CSM_F32, &s));
    csm_test_fill_uniform(xt.data, (size_t)batch * 6, 3, -1.0f, 1.0f);
    CSM_ASSERT_OK(csm_plan_run(p, &xt));
    const csm_tensor *out = csm_plan_value(p, y);
    csm_test_assert_shape(out, 2, DIMS(batch, 6));
    csm_test_assert_tensor_close(out, xt.data, (size_t)batch * 6, 0, 0);
    csm_tensor_free(&xt);
    csm_plan_free(p);
  }
  csm_graph_free(&g);
}

static void test_gather_errors(void **state) {
  (void)state;
  csm_node n = csm_test_node(CSM_OP_GATHER, 2);
  csm_tensor out, in[2] = {csm_test_tensor_f32(2, DIMS(4, 3), F32(0)),
                           csm_test_tensor_i32(1, DIMS(3), I32(0, 4, 1))};
  csm_test_expect_error(&n, in, CSM_EINPUT,
                        "index 4 (element 1 of indices) is out of range [-4, 4)");
  in[1] = csm_test_tensor_i32(1, DIMS(2), I32(-5, 0));
  csm_test_expect_error(&n, in, CSM_EINPUT, "index -5 (element 0 of indices) is out of range");
  n.a.axis = 1;
  in[1] = csm_test_tensor_i32(0, NULL, I32(3));
  csm_test_expect_error(&n, in, CSM_EINPUT,
                        "index 3 (element 0 of indices) is out of range [-3, 3)");
  n.a.axis = 2;
  csm_test_expect_error(&n, in, CSM_EINPUT, "axis 2 out of range for rank 2");
  n.a.axis = -3;
  csm_test_expect_error(&n, in, CSM_EINPUT, "axis -3 out of range for rank 2");
  n.a.axis = 0;
  in[1] = csm_test_tensor_f32(0, NULL, F32(1));
  csm_test_expect_error(&n, in, CSM_EINPUT, "indices must be int32");
  in[0] = csm_test_tensor_f32(0, NULL, F32(1));
  in[1] = csm_test_tensor_i32(0, NULL, I32(0));
  csm_test_expect_error(&n, in, CSM_EINPUT, "scalar");
  /* Indices known only at run time: checked by forward. */
  const csm_op_def *def = csm_op_def_get(CSM_OP_GATHER);
  float xv[12] = {0};
  in[0] = csm_test_tensor_f32(2, DIMS(4, 3), xv);
  in[1] = csm_test_tensor_i32(1, DIMS(2), NULL);
  memset(&out, 0, sizeof out);
  CSM_ASSERT_OK(def->infer(&n, in, &out));
  csm_test_assert_shape(&out, 2, DIMS(2, 3));
  CSM_ASSERT_OK(csm_tensor_alloc(&out, out.dtype, &out.shape));
  in[1].data = (void *)I32(1, 7);
  assert_int_equal(def->forward(&n, in, &out, NULL), CSM_EINPUT);
  assert_non_null(strstr(csm_last_error(), "index 7 (element 1 of indices) is out of range"));
  csm_tensor_free(&out);
  /* Through the planner: the node is named. */
  csm_attrs a = csm_attrs_default();
  csm_tensor it = csm_test_tensor_i32(1, DIMS(1), I32(9));
  assert_int_equal(run_planned(CSM_OP_GATHER, &a, &in[0], 1, &it, &out), CSM_EINPUT);
  assert_true(g_failed_at_plan); /* constant indices are checked when planning */
  assert_non_null(strstr(csm_last_error(), "node 'op' (Gather)"));
  assert_non_null(strstr(csm_last_error(), "index 9"));
}

/* ---- BroadcastTo (ONNX Expand) ------------------------------------------- */

/* y at output index i is x at i with broadcast dims (x dim 1) read at 0,
 * x aligned at the last dim. */
static void naive_broadcast(const uint32_t *x, int xr, const int64_t *xd, int r, const int64_t *od,
                            uint32_t *y) {
  size_t idx[CSM_MAX_RANK] = {0}, total = numel_of(r, od);
  for (size_t j = 0; j < total; j++) {
    size_t off = 0;
    for (int d = 0; d < xr; d++) {
      int o = d + r - xr;
      off = off * (size_t)xd[d] + (xd[d] == 1 ? 0 : idx[o]);
    }
    y[j] = x[off];
    for (int d = r - 1; d >= 0; d--) {
      if (++idx[d] < (size_t)od[d]) break;
      idx[d] = 0;
    }
  }
}

static void check_broadcast(int xr, const int64_t *xd, int sr, const int32_t *shape, int r,
                            const int64_t *od, const char *what) {
  size_t xn = numel_of(xr, xd), on = numel_of(r, od);
  float *x = malloc((xn ? xn : 1) * 4), *want = malloc((on ? on : 1) * 4);
  csm_test_context = what;
  csm_test_fill_uniform(x, xn, (uint32_t)(xn + on), -5.0f, 5.0f);
  naive_broadcast((const uint32_t *)x, xr, xd, r, od, (uint32_t *)want);
  csm_attrs a = csm_attrs_default();
  csm_tensor xt = csm_test_tensor_f32(xr, xd, x), out;
  csm_tensor st = csm_test_tensor_i32(1, (const int64_t[]){sr}, shape);
  CSM_ASSERT_OK(run_planned(CSM_OP_BROADCAST_TO, &a, &xt, 1, &st, &out));
  csm_test_assert_shape(&out, r, od);
  assert_same_words(out.data, want, on);
  csm_tensor_free(&out);
  csm_test_context = "";
  free(x);
  free(want);
}

static void test_broadcast_to(void **state) {
  (void)state;
  /* Bidirectional: the shape's 1 keeps x's 3, x's 1 takes the shape's 4. */
  check_broadcast(2, DIMS(3, 1), 3, I32(2, 1, 4), 3, DIMS(2, 3, 4), "[3,1] to [2,1,4]");
  check_broadcast(2, DIMS(2, 3), 1, I32(1), 2, DIMS(2, 3), "[2,3] to [1]");
  check_broadcast(2, DIMS(2, 3), 2, I32(2, 3), 2, DIMS(2, 3), "same shape");
  check_broadcast(4, DIMS(1, 3, 1, 2), 4, I32(4, 1, 5, 1), 4, DIMS(4, 3, 5, 2), "alternating");
  check_broadcast(0, NULL, 2, I32(2, 5), 2, DIMS(2, 5), "scalar");
  check_broadcast(1, DIMS(5), 3, I32(3, 1, 1), 3, DIMS(3, 1, 5), "vector to a batch");
  check_broadcast(2, DIMS(1, 3), 2, I32(0, 3), 2, DIMS(0, 3), "to an empty dim");
  /* Threaded paths: per-channel rows (memcpy) and repeated elements. */
  check_broadcast(4, DIMS(1, 1, 1, 64), 4, I32(8, 32, 32, 1), 4, DIMS(8, 32, 32, 64), "channels");
  check_broadcast(4, DIMS(8, 32, 1, 1), 4, I32(1, 1, 32, 64), 4, DIMS(8, 32, 32, 64), "spatial");
  check_broadcast(3, DIMS(7, 1, 33), 3, I32(7, 301, 33), 3, DIMS(7, 301, 33), "middle");
  /* int32, by hand. */
  csm_node n = csm_test_node(CSM_OP_BROADCAST_TO, 2);
  csm_tensor out, in[2] = {csm_test_tensor_i32(2, DIMS(2, 1), I32(1, 2)),
                           csm_test_tensor_i32(1, DIMS(2), I32(1, 3))};
  CSM_ASSERT_OK(csm_test_run_op(&n, in, &out));
  csm_test_assert_shape(&out, 2, DIMS(2, 3));
  csm_test_assert_tensor_i32(&out, I32(1, 1, 1, 2, 2, 2), 6);
  csm_tensor_free(&out);
}

static void test_broadcast_to_errors(void **state) {
  (void)state;
  csm_node n = csm_test_node(CSM_OP_BROADCAST_TO, 2);
  csm_tensor in[2] = {csm_test_tensor_f32(2, DIMS(2, 3), F32(0)),
                      csm_test_tensor_i32(1, DIMS(2), I32(2, 4))};
  csm_test_expect_error(&n, in, CSM_EINPUT, "cannot broadcast input [2,3] to shape [2,4]");
  in[1] = csm_test_tensor_i32(1, DIMS(3), I32(3, 2, 3));
  CSM_ASSERT_OK(csm_op_def_get(CSM_OP_BROADCAST_TO)->infer(&n, in, &(csm_tensor){0}));
  in[1] = csm_test_tensor_i32(1, DIMS(2), I32(3, 3));
  csm_test_expect_error(&n, in, CSM_EINPUT, "cannot broadcast");
  in[1] = csm_test_tensor_i32(1, DIMS(2), I32(-1, 3));
  csm_test_expect_error(&n, in, CSM_EINPUT, "shape entry 0 is -1");
  in[1] = csm_test_tensor_i32(2, DIMS(1, 2), I32(2, 3));
  csm_test_expect_error(&n, in, CSM_EINPUT, "shape must be a vector");
  in[1] = csm_test_tensor_f32(1, DIMS(2), F32(2, 3));
  csm_test_expect_error(&n, in, CSM_EINPUT, "shape must be int32");
  n.n_in = 1;
  csm_test_expect_error(&n, in, CSM_EINPUT, "takes 2 inputs");
}

/* ---- Flatten and Reshape with zero_copies -------------------------------- */

static void test_flatten(void **state) {
  (void)state;
  float x[24];
  csm_test_fill_uniform(x, 24, 17, -1.0f, 1.0f);
  csm_tensor xt = csm_test_tensor_f32(3, DIMS(2, 3, 4), x), out;
  const struct {
    int axis;
    int64_t d0, d1;
  } cases[] = {{0, 1, 24}, {1, 2, 12}, {2, 6, 4}, {3, 24, 1}, {-1, 6, 4}, {-3, 1, 24}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    csm_attrs a = csm_attrs_default();
    a.axis = cases[c].axis;
    CSM_ASSERT_OK(run_planned(CSM_OP_FLATTEN, &a, &xt, 0, NULL, &out));
    csm_test_assert_shape(&out, 2, DIMS(cases[c].d0, cases[c].d1));
    csm_test_assert_tensor_close(&out, x, 24, 0, 0);
    csm_tensor_free(&out);
  }
  /* A scalar: [1,1]; int32 keeps its dtype. */
  csm_node n = csm_test_node(CSM_OP_FLATTEN, 1);
  csm_tensor in[1] = {csm_test_tensor_i32(0, NULL, I32(7))};
  CSM_ASSERT_OK(csm_test_run_op(&n, in, &out));
  csm_test_assert_shape(&out, 2, DIMS(1, 1));
  csm_test_assert_tensor_i32(&out, I32(7), 1);
  csm_tensor_free(&out);
  in[0] = csm_test_tensor_f32(3, DIMS(2, 3, 4), x);
  n.a.axis = 4;
  csm_test_expect_error(&n, in, CSM_EINPUT, "axis 4 out of range [-3, 3]");
  n.a.axis = -4;
  csm_test_expect_error(&n, in, CSM_EINPUT, "axis -4 out of range");
  n.n_in = 2;
  n.a.axis = 1;
  csm_test_expect_error(&n, in, CSM_EINPUT, "Flatten takes 1 input");
}

static void test_reshape_zero_copies(void **state) {
  (void)state;
  float x[24];
  csm_test_fill_uniform(x, 24, 19, -1.0f, 1.0f);
  csm_tensor xt = csm_test_tensor_f32(3, DIMS(2, 3, 4), x), out;
  csm_attrs a = csm_attrs_default();
  a.zero_copies = 1;
  csm_tensor st = csm_test_tensor_i32(1, DIMS(2), I32(0, -1));
  CSM_ASSERT_OK(run_planned(CSM_OP_RESHAPE, &a, &xt, 1, &st, &out));
  csm_test_assert_shape(&out, 2, DIMS(2, 12));
  csm_test_assert_tensor_close(&out, x, 24, 0, 0);
  csm_tensor_free(&out);
  st = csm_test_tensor_i32(1, DIMS(4), I32(0, 0, 2, 2));
  CSM_ASSERT_OK(run_planned(CSM_OP_RESHAPE, &a, &xt, 1, &st, &out));
  csm_test_assert_shape(&out, 4, DIMS(2, 3, 2, 2));
  csm_test_assert_tensor_close(&out, x, 24, 0, 0);
  csm_tensor_free(&out);
  st = csm_test_tensor_i32(1, DIMS(3), I32(-1, 0, 4));
  CSM_ASSERT_OK(run_planned(CSM_OP_RESHAPE, &a, &xt, 1, &st, &out));
  csm_test_assert_shape(&out, 3, DIMS(2, 3, 4));
  csm_tensor_free(&out);

  csm_node n = csm_test_node(CSM_OP_RESHAPE, 2);
  n.a.zero_copies = 1;
  csm_tensor in[2] = {xt, csm_test_tensor_i32(1, DIMS(4), I32(2, 3, 4, 0))};
  csm_test_expect_error(&n, in, CSM_EINPUT, "shape entry 3 is 0");
  in[1] = csm_test_tensor_i32(1, DIMS(3), I32(0, 4, 0));
  csm_test_expect_error(&n, in, CSM_EINPUT,
                        "cannot reshape input [2,3,4] (24 elements) to [2,4,4]");
  /* Without zero_copies a 0 is a 0 (TensorFlow): a -1 next to it has nothing to divide. */
  n.a.zero_copies = 0;
  in[1] = csm_test_tensor_i32(1, DIMS(2), I32(0, -1));
  csm_test_expect_error(&n, in, CSM_EINPUT, "cannot reshape 24 elements");
}

/* ---- Cast ---------------------------------------------------------------- */

static void test_cast(void **state) {
  (void)state;
  csm_node n = csm_test_node(CSM_OP_CAST, 1);
  csm_tensor out, in[1];
  /* float32 -> int32 truncates toward zero; the int32 extremes that float
   * can hold (-2^31, and 2^31 - 128, the float just below 2^31). */
  n.a.to_dtype = CSM_I32;
  in[0] = csm_test_tensor_f32(
      2, DIMS(2, 5),
      F32(1.9f, -1.9f, 0.5f, -0.5f, 3, -0.0f, 1e9f, -2147483648.0f, 2147483520.0f, -7.999f));
  CSM_ASSERT_OK(csm_test_run_op(&n, in, &out));
  csm_test_assert_shape(&out, 2, DIMS(2, 5));
  csm_test_assert_tensor_i32(
      &out, I32(1, -1, 0, 0, 3, 0, 1000000000, (int32_t)-2147483647 - 1, 2147483520, -7), 10);
  csm_tensor_free(&out);
  /* int32 -> float32 (2^24 + 1 rounds to even). */
  n.a.to_dtype = CSM_F32;
  in[0] = csm_test_tensor_i32(1, DIMS(5), I32(-3, 0, 7, 16777217, -2147483647 - 1));
  CSM_ASSERT_OK(csm_test_run_op(&n, in, &out));
  csm_test_assert_tensor_close(&out, F32(-3, 0, 7, 16777216.0f, -2147483648.0f), 5, 0, 0);
  csm_tensor_free(&out);
  /* Same dtype: copies. */
  in[0] = csm_test_tensor_f32(1, DIMS(3), F32(1.5f, -2.25f, 1e-30f));
  CSM_ASSERT_OK(csm_test_run_op(&n, in, &out));
  csm_test_assert_tensor_close(&out, F32(1.5f, -2.25f, 1e-30f), 3, 0, 0);
  csm_tensor_free(&out);
  n.a.to_dtype = CSM_I32;
  in[0] = csm_test_tensor_i32(0, NULL, I32(-5));
  CSM_ASSERT_OK(csm_test_run_op(&n, in, &out));
  csm_test_assert_shape(&out, 0, NULL);
  csm_test_assert_tensor_i32(&out, I32(-5), 1);
  csm_tensor_free(&out);
  /* Through the planner, at run time. */
  float xv[4] = {2.5f, -3.5f, 100.99f, 0};
  csm_attrs a = csm_attrs_default();
  a.to_dtype = CSM_I32;
  csm_tensor xt = csm_test_tensor_f32(1, DIMS(4), xv);
  CSM_ASSERT_OK(run_planned(CSM_OP_CAST, &a, &xt, 0, NULL, &out));
  csm_test_assert_tensor_i32(&out, I32(2, -3, 100, 0), 4);
  csm_tensor_free(&out);
}

static void test_cast_errors(void **state) {
  (void)state;
  csm_node n = csm_test_node(CSM_OP_CAST, 1);
  csm_tensor out, in[1];
  n.a.to_dtype = CSM_I32;
  const float bad[] = {NAN, INFINITY, -INFINITY, 2147483648.0f, -2147483904.0f, 3e38f};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    float v[3] = {1, 2, bad[i]};
    in[0] = csm_test_tensor_f32(1, DIMS(3), v);
    csm_test_expect_error(&n, in, CSM_EINPUT, "element 2 is");
    assert_non_null(strstr(csm_last_error(), "out of int32 range"));
  }
  n.a.to_dtype = (csm_dtype)7;
  in[0] = csm_test_tensor_f32(1, DIMS(1), F32(1));
  csm_test_expect_error(&n, in, CSM_EUNSUPPORTED, "cannot cast to dtype 7");
  n.a.to_dtype = CSM_I32;
  n.n_in = 2;
  csm_test_expect_error(&n, in, CSM_EINPUT, "Cast takes 1 input");
  /* Run time: the node is named. */
  float xv[2] = {1, 3e9f};
  csm_attrs a = csm_attrs_default();
  a.to_dtype = CSM_I32;
  csm_tensor xt = csm_test_tensor_f32(1, DIMS(2), xv);
  assert_int_equal(run_planned(CSM_OP_CAST, &a, &xt, 0, NULL, &out), CSM_EINPUT);
  assert_false(g_failed_at_plan);
  assert_non_null(strstr(csm_last_error(), "node 'op' (Cast)"));
  assert_non_null(strstr(csm_last_error(), "element 1 is"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_transpose_4d_all_perms),
      cmocka_unit_test(test_transpose_nchw_nhwc),
      cmocka_unit_test(test_transpose_other_ranks),
      cmocka_unit_test(test_transpose_i32_and_direct),
      cmocka_unit_test(test_transpose_errors),
      cmocka_unit_test(test_gather_float),
      cmocka_unit_test(test_gather_large),
      cmocka_unit_test(test_gather_i32),
      cmocka_unit_test(test_gather_folds_at_plan_time),
      cmocka_unit_test(test_gather_errors),
      cmocka_unit_test(test_broadcast_to),
      cmocka_unit_test(test_broadcast_to_errors),
      cmocka_unit_test(test_flatten),
      cmocka_unit_test(test_reshape_zero_copies),
      cmocka_unit_test(test_cast),
      cmocka_unit_test(test_cast_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
