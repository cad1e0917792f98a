/* csm_graph_simplify and csm_graph_inputs_channels_last on graphs built in
 * the IR: fused graphs compute what the unfused ones do, fuse only what is
 * safe to fuse (a sole consumer that is not an output, per-channel
 * constants), keep the last fused node's name, and cancel transpose pairs. */
#include <stdlib.h>
#include <string.h>

#include "csm_test.h"
#include "nn/graph.h"
#include "nn/model_internal.h"

enum { C_IN = 3, C_OUT = 4, H = 5, W = 6 };

static int add1(csm_graph *g, const char *name, csm_op_kind op, int in) {
  return csm_test_graph_add(g, name, op, 1, &in);
}
static int add2(csm_graph *g, const char *name, csm_op_kind op, int a, int b) {
  int in[2] = {a, b};
  return csm_test_graph_add(g, name, op, 2, in);
}

static int input(csm_graph *g, const char *name, int rank, const int64_t *dims) {
  int idx = csm_test_graph_add(g, name, CSM_OP_INPUT, 0, NULL);
  g->nodes[idx].value.dtype = CSM_F32;
  g->nodes[idx].value.shape = csm_shape_make(rank, dims);
  g->inputs = realloc(g->inputs, (size_t)(g->n_inputs + 1) * sizeof *g->inputs);
  g->inputs[g->n_inputs++] = idx;
  return idx;
}

static void output(csm_graph *g, int node) {
  g->outputs = realloc(g->outputs, (size_t)(g->n_outputs + 1) * sizeof *g->outputs);
  g->output_names = realloc(g->output_names, (size_t)(g->n_outputs + 1) * sizeof *g->output_names);
  g->outputs[g->n_outputs] = node;
  g->output_names[g->n_outputs++] = strdup(g->nodes[node].name);
  if (!g->path) g->path = strdup("rewrite-test");
}

static int fconst(csm_graph *g, const char *name, int rank, const int64_t *dims, uint32_t seed) {
  float v[256];
  size_t n = 1;
  for (int i = 0; i < rank; i++)
    n *= (size_t)dims[i];
  assert_true(n <= 256);
  csm_test_fill_uniform(v, n, seed, -1.0f, 1.0f);
  return csm_test_graph_const(g, name, CSM_F32, rank, dims, v);
}

static int count_op(const csm_graph *g, csm_op_kind op) {
  int n = 0;
  for (int i = 0; i < g->n_nodes; i++)
    n += g->nodes[i].op == op;
  return n;
}

/* Runs g (taken over) on x; the first output into out (allocated). */
static void run(csm_graph *g, const csm_tensor *x, csm_tensor *out) {
  csm_model *m;
  csm_tensor outs[4];
  CSM_ASSERT_OK(csm_model_from_graph(g, &m));
  CSM_ASSERT_OK(csm_model_run(m, x, outs));
  *out = outs[0];
  for (int i = 1; i < csm_model_num_outputs(m); i++)
    csm_tensor_free(&outs[i]);
  csm_model_free(m);
}

/* Builds the same graph twice, simplifies one, and checks that both give
 * the same output on random data; returns the simplified graph's node count
 * (the simplified graph stays in *kept for inspection). */
typedef void (*builder)(csm_graph *g);

static void check_equal(builder build, const int64_t *xdims, int xrank, csm_graph *kept) {
  csm_graph a = {0}, b = {0};
  build(&a);
  build(&b);
  CSM_ASSERT_OK(csm_graph_simplify(&b));
  CSM_ASSERT_OK(csm_graph_toposort(&b));
  /* A copy of the simplified structure for the caller (names, ops). */
  memset(kept, 0, sizeof *kept);
  build(kept);
  CSM_ASSERT_OK(csm_graph_simplify(kept));

  float data[2 * H * W * 8];
  csm_shape s = csm_shape_make(xrank, xdims);
  size_t n;
  CSM_ASSERT_OK(csm_shape_numel(&s, &n));
  assert_true(n <= sizeof data / sizeof *data);
  csm_test_fill_uniform(data, n, 7, -2.0f, 2.0f);
  csm_tensor x = csm_test_tensor_f32(xrank, xdims, data);
  csm_tensor ya, yb;
  run(&a, &x, &ya);
  run(&b, &x, &yb);
  assert_true(csm_shape_equal(&ya.shape, &yb.shape));
  csm_test_assert_tensor_close(&yb, ya.data, csm_tensor_numel(&ya), 1e-6f, 0.0f);
  csm_tensor_free(&ya);
  csm_tensor_free(&yb);
}

/* x -> conv -> add(bias [C_OUT]) -> relu -> output */
static void conv_bias_relu(csm_graph *g) {
  int64_t xd[4] = {-1, H, W, C_IN}, fd[4] = {3, 3, C_IN, C_OUT}, bd[1] = {C_OUT};
  int x = input(g, "x", 4, xd);
  int f = fconst(g, "filter", 4, fd, 1);
  int conv = add2(g, "conv", CSM_OP_CONV2D, x, f);
  g->nodes[conv].a.padding = CSM_PAD_SAME;
  int b = fconst(g, "bias", 1, bd, 2);
  int add = add2(g, "add", CSM_OP_ADD, b, conv); /* constant first: either order */
  int relu = add1(g, "relu_3", CSM_OP_RELU, add);
  output(g, relu);
}

static void test_conv_bias_relu(void **state) {
  (void)state;
  int64_t xd[4] = {2, H, W, C_IN};
  csm_graph g;
  check_equal(conv_bias_relu, xd, 4, &g);
  /* x, filter, bias, one fused conv. */
  assert_int_equal(g.n_nodes, 4);
  assert_int_equal(count_op(&g, CSM_OP_CONV2D), 1);
  int fused = g.outputs[0];
  assert_string_equal(g.nodes[fused].name, "relu_3");
  assert_int_equal(g.nodes[fused].op, CSM_OP_CONV2D);
  assert_int_equal(g.nodes[fused].a.has_bias, 1);
  assert_int_equal(g.nodes[fused].a.act, CSM_ACT_RELU);
  assert_int_equal(g.nodes[fused].n_in, 3);
  assert_string_equal(g.nodes[g.nodes[fused].in[2]].name, "bias");
  assert_int_equal(g.nodes[fused].a.padding, CSM_PAD_SAME);
  csm_graph_free(&g);
}

/* depthwise -> add([1,1,1,C]) -> prelu(alpha [C]) */
static void dw_bias_prelu(csm_graph *g) {
  int64_t xd[4] = {-1, H, W, C_IN}, fd[4] = {3, 3, C_IN, 2}, bd[4] = {1, 1, 1, C_IN * 2},
          ad[1] = {C_IN * 2};
  int x = input(g, "x", 4, xd);
  int f = fconst(g, "filter", 4, fd, 3);
  int dw = add2(g, "dw", CSM_OP_DEPTHWISE_CONV2D, x, f);
  int b = fconst(g, "bias", 4, bd, 4);
  int add = add2(g, "add", CSM_OP_ADD, dw, b);
  int alpha = fconst(g, "alpha", 1, ad, 5);
  int pr = add2(g, "prelu", CSM_OP_PRELU, add, alpha);
  output(g, pr);
}

static void test_depthwise_bias_prelu(void **state) {
  (void)state;
  int64_t xd[4] = {1, H, W, C_IN};
  csm_graph g;
  check_equal(dw_bias_prelu, xd, 4, &g);
  int fused = g.outputs[0];
  assert_int_equal(g.n_nodes, 5);
  assert_string_equal(g.nodes[fused].name, "prelu");
  assert_int_equal(g.nodes[fused].op, CSM_OP_DEPTHWISE_CONV2D);
  assert_int_equal(g.nodes[fused].a.act, CSM_ACT_PRELU);
  assert_int_equal(g.nodes[fused].n_in, 4);
  assert_string_equal(g.nodes[g.nodes[fused].in[2]].name, "bias");
  assert_string_equal(g.nodes[g.nodes[fused].in[3]].name, "alpha");
  csm_graph_free(&g);
}

/* matmul(transpose_b) -> add([1,N]) -> leaky relu; and -> relu6 alone. */
static void matmul_bias_leaky(csm_graph *g) {
  int64_t xd[2] = {-1, 8}, wd[2] = {C_OUT, 8}, bd[2] = {1, C_OUT};
  int x = input(g, "x", 2, xd);
  int w = fconst(g, "w", 2, wd, 6);
  int mm = add2(g, "mm", CSM_OP_MATMUL, x, w);
  g->nodes[mm].a.transpose_b = 1;
  int b = fconst(g, "b", 2, bd, 7);
  int add = add2(g, "add", CSM_OP_ADD, mm, b);
  int lr = add1(g, "leaky", CSM_OP_LEAKY_RELU, add);
  g->nodes[lr].a.alpha = 0.125f;
  output(g, lr);
}

static void test_matmul_bias_leaky(void **state) {
  (void)state;
  int64_t xd[2] = {3, 8};
  csm_graph g;
  check_equal(matmul_bias_leaky, xd, 2, &g);
  int fused = g.outputs[0];
  assert_int_equal(g.n_nodes, 4);
  assert_string_equal(g.nodes[fused].name, "leaky");
  assert_int_equal(g.nodes[fused].op, CSM_OP_MATMUL);
  assert_int_equal(g.nodes[fused].a.act, CSM_ACT_LEAKY_RELU);
  assert_true(g.nodes[fused].a.alpha == 0.125f);
  assert_int_equal(g.nodes[fused].a.transpose_b, 1);
  csm_graph_free(&g);
}

static void conv_relu6(csm_graph *g) {
  int64_t xd[4] = {-1, H, W, C_IN}, fd[4] = {1, 1, C_IN, C_OUT};
  int x = input(g, "x", 4, xd);
  int f = fconst(g, "filter", 4, fd, 8);
  int conv = add2(g, "conv", CSM_OP_CONV2D, x, f);
  output(g, add1(g, "relu6", CSM_OP_RELU6, conv));
}

static void test_conv_relu6(void **state) {
  (void)state;
  int64_t xd[4] = {1, H, W, C_IN};
  csm_graph g;
  check_equal(conv_relu6, xd, 4, &g);
  assert_int_equal(g.n_nodes, 3);
  assert_int_equal(g.nodes[g.outputs[0]].a.act, CSM_ACT_RELU6);
  assert_int_equal(g.nodes[g.outputs[0]].a.has_bias, 0);
  csm_graph_free(&g);
}

/* The conv's value is read twice (by the add and by a second output):
 * fusing would lose it, so nothing changes. */
static void two_consumers(csm_graph *g) {
  int64_t xd[4] = {-1, H, W, C_IN}, fd[4] = {1, 1, C_IN, C_OUT}, bd[1] = {C_OUT};
  int x = input(g, "x", 4, xd);
  int f = fconst(g, "filter", 4, fd, 9);
  int conv = add2(g, "conv", CSM_OP_CONV2D, x, f);
  int b = fconst(g, "bias", 1, bd, 10);
  int add = add2(g, "add", CSM_OP_ADD, conv, b);
  int sig = add1(g, "sig", CSM_OP_SIGMOID, conv);
  output(g, add2(g, "sum", CSM_OP_ADD, add, sig));
}

/* The conv is itself a graph output. */
static void conv_is_output(csm_graph *g) {
  int64_t xd[4] = {-1, H, W, C_IN}, fd[4] = {1, 1, C_IN, C_OUT};
  int x = input(g, "x", 4, xd);
  int f = fconst(g, "filter", 4, fd, 11);
  int conv = add2(g, "conv", CSM_OP_CONV2D, x, f);
  int relu = add1(g, "relu", CSM_OP_RELU, conv);
  output(g, relu);
  output(g, conv);
}

/* An Add whose constant varies over space is no bias. */
static void spatial_add(csm_graph *g) {
  int64_t xd[4] = {-1, H, W, C_IN}, fd[4] = {1, 1, C_IN, C_OUT}, bd[3] = {H, W, C_OUT};
  int x = input(g, "x", 4, xd);
  int f = fconst(g, "filter", 4, fd, 12);
  int conv = add2(g, "conv", CSM_OP_CONV2D, x, f);
  int b = fconst(g, "bias", 3, bd, 13);
  output(g, add2(g, "add", CSM_OP_ADD, conv, b));
}

static void test_no_fusion(void **state) {
  (void)state;
  int64_t xd[4] = {1, H, W, C_IN};
  builder cases[] = {two_consumers, conv_is_output, spatial_add};
  int nodes[] = {7, 4, 5};
  for (int k = 0; k < 3; k++) {
    csm_graph g;
    check_equal(cases[k], xd, 4, &g);
    assert_int_equal(g.n_nodes, nodes[k]);
    for (int i = 0; i < g.n_nodes; i++)
      if (g.nodes[i].op == CSM_OP_CONV2D) {
        assert_string_equal(g.nodes[i].name, "conv");
        assert_int_equal(g.nodes[i].a.has_bias, 0);
        assert_int_equal(g.nodes[i].a.act, CSM_ACT_NONE);
      }
    csm_graph_free(&g);
  }
}

static int transpose(csm_graph *g, const char *name, int in, int p0, int p1, int p2, int p3) {
  int t = add1(g, name, CSM_OP_TRANSPOSE, in);
  int perm[4] = {p0, p1, p2, p3};
  memcpy(g->nodes[t].a.perm, perm, sizeof perm);
  g->nodes[t].a.n_perm = 4;
  return t;
}

/* x -> T(0,3,1,2) -> T(0,2,3,1) -> sigmoid: the pair cancels; a second
 * branch with two T(0,3,1,2) does not. */
static void transposes(csm_graph *g) {
  int64_t xd[4] = {-1, H, W, C_IN};
  int x = input(g, "x", 4, xd);
  int a = transpose(g, "a", x, 0, 3, 1, 2);
  int b = transpose(g, "b", a, 0, 2, 3, 1);
  int s = add1(g, "sig", CSM_OP_SIGMOID, b);
  int c = transpose(g, "c", x, 0, 3, 1, 2);
  int d = transpose(g, "d", c, 0, 3, 1, 2);
  output(g, s);
  output(g, d);
}

static void test_transpose_cancel(void **state) {
  (void)state;
  int64_t xd[4] = {1, H, W, C_IN};
  csm_graph g;
  check_equal(transposes, xd, 4, &g);
  /* a is dropped (nothing reads it), b is an identity of x. */
  assert_int_equal(csm_graph_find(&g, "a"), -1);
  int b = csm_graph_find(&g, "b");
  assert_true(b >= 0);
  assert_int_equal(g.nodes[b].op, CSM_OP_IDENTITY);
  assert_int_equal(g.nodes[b].in[0], csm_graph_find(&g, "x"));
  assert_int_equal(count_op(&g, CSM_OP_TRANSPOSE), 2);
  csm_graph_free(&g);
}

/* An NCHW input [N,C_IN,H,W] that the graph transposes to NHWC for a conv,
 * then back to NCHW for its output, as the ONNX loader builds it. */
static void nchw_model(csm_graph *g) {
  int64_t xd[4] = {-1, C_IN, H, W}, fd[4] = {3, 3, C_IN, C_OUT};
  int x = input(g, "x", 4, xd);
  g->input_channels_first = calloc(1, 1);
  g->input_channels_first[0] = 1;
  int t = transpose(g, "x/nhwc", x, 0, 2, 3, 1);
  int f = fconst(g, "filter", 4, fd, 14);
  int conv = add2(g, "conv", CSM_OP_CONV2D, t, f);
  g->nodes[conv].a.padding = CSM_PAD_SAME;
  output(g, transpose(g, "y", conv, 0, 3, 1, 2));
}

static void test_inputs_channels_last(void **state) {
  (void)state;
  float nchw[2 * C_IN * H * W], nhwc[2 * C_IN * H * W];
  int64_t d_nchw[4] = {2, C_IN, H, W}, d_nhwc[4] = {2, H, W, C_IN};
  csm_test_fill_uniform(nchw, 2 * C_IN * H * W, 3, -1.0f, 1.0f);
  for (int n = 0; n < 2; n++)
    for (int c = 0; c < C_IN; c++)
      for (int h = 0; h < H; h++)
        for (int w = 0; w < W; w++)
          nhwc[((n * H + h) * W + w) * C_IN + c] = nchw[((n * C_IN + c) * H + h) * W + w];
  csm_graph a = {0}, b = {0};
  nchw_model(&a);
  nchw_model(&b);
  CSM_ASSERT_OK(csm_graph_inputs_channels_last(&b));
  assert_int_equal(b.input_channels_first[0], 0);
  const csm_shape *s = &b.nodes[b.inputs[0]].value.shape;
  int64_t want[4] = {-1, H, W, C_IN};
  assert_int_equal(s->rank, 4);
  for (int k = 0; k < 4; k++)
    assert_int_equal(s->d[k], want[k]);
  /* Only the output's transpose is left; the conv reads the input directly
   * (through an identity). */
  assert_int_equal(count_op(&b, CSM_OP_TRANSPOSE), 1);
  int id = csm_graph_find(&b, "x/nhwc");
  assert_true(id >= 0);
  assert_int_equal(b.nodes[id].op, CSM_OP_IDENTITY);
  assert_int_equal(b.nodes[id].in[0], b.inputs[0]);

  csm_tensor xa = csm_test_tensor_f32(4, d_nchw, nchw), xb = csm_test_tensor_f32(4, d_nhwc, nhwc);
  csm_tensor ya, yb;
  run(&a, &xa, &ya);
  run(&b, &xb, &yb);
  int64_t yd[4] = {2, C_OUT, H, W};
  csm_test_assert_shape(&yb, 4, yd);
  csm_test_assert_tensor_close(&yb, ya.data, csm_tensor_numel(&ya), 0.0f, 0.0f);
  csm_tensor_free(&ya);
  csm_tensor_free(&yb);
}

/* An input that something reads in its NCHW layout (a Shape-like use) keeps
 * getting NCHW values through the new transpose. */
static void test_inputs_channels_last_logical_use(void **state) {
  (void)state;
  csm_graph g = {0};
  int64_t xd[4] = {1, C_IN, H, W};
  int x = input(&g, "x", 4, xd);
  g.input_channels_first = calloc(1, 1);
  g.input_channels_first[0] = 1;
  output(&g, add1(&g, "sig", CSM_OP_SIGMOID, x));
  CSM_ASSERT_OK(csm_graph_inputs_channels_last(&g));
  int sig = csm_graph_find(&g, "sig");
  int t = g.nodes[sig].in[0];
  assert_int_equal(g.nodes[t].op, CSM_OP_TRANSPOSE);
  assert_string_equal(g.nodes[t].name, "x/nchw");
  assert_int_equal(g.nodes[t].in[0], g.inputs[0]);
  int perm[4] = {0, 3, 1, 2};
  for (int k = 0; k < 4; k++)
    assert_int_equal(g.nodes[t].a.perm[k], perm[k]);
  csm_graph_free(&g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_conv_bias_relu),
      cmocka_unit_test(test_depthwise_bias_prelu),
      cmocka_unit_test(test_matmul_bias_leaky),
      cmocka_unit_test(test_conv_relu6),
      cmocka_unit_test(test_no_fusion),
      cmocka_unit_test(test_transpose_cancel),
      cmocka_unit_test(test_inputs_channels_last),
      cmocka_unit_test(test_inputs_channels_last_logical_use),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
