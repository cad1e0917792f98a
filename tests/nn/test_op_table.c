/* The op table (csm_op_def, src/nn/ops/registry.c) is complete and
 * consistent: every op kind has a name and a forward pass; every op whose
 * operands carry gradients has a backward pass and the other way round;
 * the flags agree with what the ops compute (an element-wise op's output
 * element j is the op on the operands' elements j alone; a weighted op's
 * output is linear in its filter); and the public queries above nn/
 * (csm_model_node_flags, csm_model_node_inputs, csm_model_infer_values)
 * answer from the same table, so that the default CAM layer follows a
 * feature map through HardSwish as it does through Relu. */
#include "csm_test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "csm/explain.h"
#include "nn/grad/backward.h"
#include "nn/model_internal.h"

static void test_every_kind_has_a_name_and_forward(void **state) {
  (void)state;
  for (int op = 0; op < CSM_OP_COUNT; op++) {
    const char *name = csm_op_name((csm_op_kind)op);
    const csm_op_def *d = csm_op_def_get((csm_op_kind)op);
    csm_test_context = name;
    assert_string_not_equal(name, "?");
    for (int other = 0; other < op; other++)
      assert_string_not_equal(name, csm_op_name((csm_op_kind)other));
    if (op == CSM_OP_INPUT || op == CSM_OP_CONST) {
      assert_null(d); /* nothing to compute */
      assert_int_equal(csm_op_flags((csm_op_kind)op), 0);
      continue;
    }
    assert_non_null(d);
    assert_non_null(d->infer);
    assert_non_null(d->forward);
    assert_true(!d->prepare == !d->prepared_size && !d->prepare == !d->forward_prepared);
    assert_true(csm_op_flags((csm_op_kind)op) == d->flags);
  }
  assert_null(csm_op_def_get(CSM_OP_COUNT));
  assert_null(csm_op_def_get((csm_op_kind)-1));
  assert_string_equal(csm_op_name(CSM_OP_COUNT), "?");
  csm_test_context = "";
}

/* 1 if some operand of a node of kind op (with 1 to 4 operands) carries a
 * gradient: the tape then asks the op for its backward pass. */
static int has_data_operand(csm_op_kind op) {
  for (int n_in = 1; n_in <= 4; n_in++)
    for (int k = 0; k < n_in; k++)
      if (csm_backward_operand(op, k, n_in)) return 1;
  return 0;
}

static void test_differentiable_ops_have_a_backward(void **state) {
  (void)state;
  for (int op = 0; op < CSM_OP_COUNT; op++) {
    csm_test_context = csm_op_name((csm_op_kind)op);
    const int data = has_data_operand((csm_op_kind)op);
    const csm_backward_fn fn = csm_backward_get((csm_op_kind)op);
    if (op == CSM_OP_CAST) {
      /* The one op with a data operand and no backward pass (backward.h):
       * a float path through it fails naming the node instead of giving a
       * silent zero. */
      assert_true(data);
      assert_null(fn);
      continue;
    }
    assert_int_equal(data, fn != NULL);
  }
  /* The operand rules the autodiff relies on. */
  assert_true(csm_backward_operand(CSM_OP_CONV2D, 0, 3));
  assert_false(csm_backward_operand(CSM_OP_CONV2D, 1, 3));
  assert_false(csm_backward_operand(CSM_OP_CONV2D, 2, 3));
  assert_true(csm_backward_operand(CSM_OP_MATMUL, 1, 3));
  assert_false(csm_backward_operand(CSM_OP_MATMUL, 2, 3));
  assert_true(csm_backward_operand(CSM_OP_PRELU, 1, 2));
  assert_true(csm_backward_operand(CSM_OP_PACK, 3, 4));
  assert_true(csm_backward_operand(CSM_OP_CONCAT, 2, 4));
  assert_false(csm_backward_operand(CSM_OP_CONCAT, 3, 4));
  assert_false(csm_backward_operand(CSM_OP_SHAPE, 0, 1));
  assert_false(csm_backward_operand(CSM_OP_INPUT, 0, 1));
  assert_false(csm_backward_operand(CSM_OP_CONST, 0, 1));
  csm_test_context = "";
}

enum { N_EL = 2 * 3 * 4 * 5 };
static const int64_t el_dims[4] = {2, 3, 4, 5};

static csm_node el_node(csm_op_kind op, int n_in) {
  csm_node n = csm_test_node(op, n_in);
  if (op == CSM_OP_HARD_SIGMOID) n.a.alpha = 0.2f, n.a.beta = 0.5f; /* ONNX defaults */
  if (op == CSM_OP_LEAKY_RELU) n.a.alpha = 0.1f;
  return n;
}

/* Runs op on n_in random [2,3,4,5] operands (1: x, 2: x and a second
 * tensor of the same shape) and checks that it is element-wise: the output
 * has the operands' shape and each output element equals the op run on
 * [1]-shaped operands holding that element alone. -1 if the op does not
 * run with these operands, else 1 (element-wise) or 0. */
static int elementwise_on(csm_op_kind op, int n_in) {
  float x[2][N_EL];
  csm_test_fill_uniform(x[0], N_EL, 7, 0.25f, 2.5f);
  csm_test_fill_uniform(x[1], N_EL, 8, 0.25f, 2.5f);
  for (int i = 0; i < N_EL; i += 3)
    x[0][i] = -x[0][i]; /* both signs for the activations */
  csm_tensor in[2] = {csm_test_tensor_f32(4, el_dims, x[0]), csm_test_tensor_f32(4, el_dims, x[1])};
  csm_node n = el_node(op, n_in);
  csm_tensor out, probe;
  memset(&out, 0, sizeof out);
  if (!csm_op_def_get(op) || csm_op_def_get(op)->infer(&n, in, &probe) ||
      csm_test_run_op(&n, in, &out)) {
    csm_tensor_free(&out);
    return -1;
  }
  int same = out.dtype == CSM_F32 && csm_shape_equal(&out.shape, &in[0].shape);
  for (int j = 0; same && j < N_EL; j++) {
    const int64_t one = 1;
    csm_tensor e[2] = {csm_test_tensor_f32(1, &one, &x[0][j]),
                       csm_test_tensor_f32(1, &one, &x[1][j])},
               o;
    memset(&o, 0, sizeof o);
    if (csm_test_run_op(&n, e, &o) || o.dtype != CSM_F32 || csm_tensor_numel(&o) != 1) {
      same = 0; /* it needs more than the element (a rank, a window) */
    } else {
      const float got = ((const float *)out.data)[j], want = ((const float *)o.data)[0];
      if (!(got == want || (isnan(got) && isnan(want)) ||
            fabsf(got - want) <= 1e-6f * (1.0f + fabsf(want))))
        same = 0;
    }
    csm_tensor_free(&o);
  }
  csm_tensor_free(&out);
  return same;
}

static void test_elementwise_flag_agrees_with_the_op(void **state) {
  (void)state;
  int flagged = 0;
  for (int op = 0; op < CSM_OP_COUNT; op++) {
    if (op == CSM_OP_CAST) continue; /* below: it changes the dtype */
    csm_test_context = csm_op_name((csm_op_kind)op);
    if (!(csm_op_flags((csm_op_kind)op) & CSM_OP_ELEMENTWISE)) continue;
    /* A flagged op runs on one operand (unary) or two (binary) of one
     * shape and is element-wise on them. (The converse is not a test: a
     * 1x1 pool or a Squeeze without axes is element-wise on such inputs
     * too, without being element-wise ops.) */
    int r = elementwise_on((csm_op_kind)op, 1);
    if (r < 0) r = elementwise_on((csm_op_kind)op, 2);
    assert_int_equal(r, 1);
    flagged++;
  }
  csm_test_context = "";
  /* The ops cam.c once left out, and two ops that keep the shape but are
   * not element-wise, which the check above must tell apart. */
  assert_true(csm_op_flags(CSM_OP_HARD_SIGMOID) & CSM_OP_ELEMENTWISE);
  assert_true(csm_op_flags(CSM_OP_HARD_SWISH) & CSM_OP_ELEMENTWISE);
  assert_true(csm_op_flags(CSM_OP_RECIPROCAL) & CSM_OP_ELEMENTWISE);
  assert_int_equal(elementwise_on(CSM_OP_SOFTMAX, 1), 0);
  assert_int_equal(elementwise_on(CSM_OP_LOG_SOFTMAX, 1), 0);
  assert_true(flagged >= 7 + 14 + 1); /* binary, unary, Identity */
  /* Cast: float32 to int32 element by element, same shape. */
  assert_true(csm_op_flags(CSM_OP_CAST) & CSM_OP_ELEMENTWISE);
  float x[N_EL];
  csm_test_fill_uniform(x, N_EL, 9, -50.0f, 50.0f);
  csm_tensor in = csm_test_tensor_f32(4, el_dims, x), out;
  csm_node n = csm_test_node(CSM_OP_CAST, 1);
  n.a.to_dtype = CSM_I32;
  CSM_ASSERT_OK(csm_test_run_op(&n, &in, &out));
  assert_true(out.dtype == CSM_I32 && csm_shape_equal(&out.shape, &in.shape));
  for (int j = 0; j < N_EL; j++)
    assert_int_equal(((const int32_t *)out.data)[j], (int32_t)x[j]);
  csm_tensor_free(&out);
}

/* Runs a weighted op with filter f scaled by s; out allocated. */
static void run_weighted(const csm_node *n, const csm_tensor *x, const csm_tensor *f, float s,
                         csm_tensor *out) {
  size_t nf = csm_tensor_numel(f);
  float *fs = malloc(nf * sizeof(float));
  assert_non_null(fs);
  for (size_t i = 0; i < nf; i++)
    fs[i] = ((const float *)f->data)[i] * s;
  csm_tensor in[2] = {*x, *f};
  in[1].data = fs;
  CSM_ASSERT_OK(csm_test_run_op(n, in, out));
  free(fs);
}

/* A weighted op is the input times a learned filter: scaling the filter
 * scales the output, and a zero filter gives zeros. */
static void check_weighted(csm_op_kind op, int x_rank, const int64_t *xd, int f_rank,
                           const int64_t *fd) {
  csm_test_context = csm_op_name(op);
  assert_true(csm_op_flags(op) & CSM_OP_WEIGHTED);
  float xv[256], fv[256];
  csm_tensor x = csm_test_tensor_f32(x_rank, xd, xv), f = csm_test_tensor_f32(f_rank, fd, fv);
  assert_true(csm_tensor_numel(&x) <= 256 && csm_tensor_numel(&f) <= 256);
  csm_test_fill_uniform(xv, csm_tensor_numel(&x), 11, -1.0f, 1.0f);
  csm_test_fill_uniform(fv, csm_tensor_numel(&f), 12, -1.0f, 1.0f);
  csm_node n = csm_test_node(op, 2);
  csm_tensor a, b, z;
  run_weighted(&n, &x, &f, 1.0f, &a);
  run_weighted(&n, &x, &f, 2.0f, &b);
  run_weighted(&n, &x, &f, 0.0f, &z);
  size_t count = csm_tensor_numel(&a);
  double norm = 0;
  for (size_t i = 0; i < count; i++) {
    const float va = ((float *)a.data)[i], vb = ((float *)b.data)[i];
    norm += fabs(va);
    assert_true(fabsf(vb - 2 * va) <= 1e-5f * (1 + fabsf(va)));
    assert_true(((float *)z.data)[i] == 0.0f);
  }
  assert_true(norm > 0);
  if (csm_op_flags(op) & CSM_OP_CONV) assert_int_equal(a.shape.rank, 4); /* a feature map */
  csm_tensor_free(&a);
  csm_tensor_free(&b);
  csm_tensor_free(&z);
}

static void test_weighted_and_conv_flags_agree_with_the_ops(void **state) {
  (void)state;
  check_weighted(CSM_OP_CONV2D, 4, (int64_t[]){1, 5, 5, 2}, 4, (int64_t[]){3, 3, 2, 4});
  check_weighted(CSM_OP_DEPTHWISE_CONV2D, 4, (int64_t[]){1, 5, 5, 2}, 4, (int64_t[]){3, 3, 2, 1});
  check_weighted(CSM_OP_CONV2D_TRANSPOSE, 4, (int64_t[]){1, 3, 3, 2}, 4, (int64_t[]){2, 2, 2, 3});
  check_weighted(CSM_OP_MATMUL, 2, (int64_t[]){2, 3}, 2, (int64_t[]){3, 4});
  int weighted = 0;
  for (int op = 0; op < CSM_OP_COUNT; op++) {
    unsigned fl = csm_op_flags((csm_op_kind)op);
    csm_test_context = csm_op_name((csm_op_kind)op);
    if (fl & CSM_OP_CONV) assert_true(fl & CSM_OP_WEIGHTED);
    assert_false((fl & CSM_OP_WEIGHTED) && (fl & CSM_OP_ELEMENTWISE));
    weighted += (fl & CSM_OP_WEIGHTED) != 0;
  }
  assert_int_equal(weighted, 4); /* exactly the four checked above */
  csm_test_context = "";
}

/* x [N,6,6,1] -> Conv2D 3x3 SAME (1->4) -> HardSwish -> mean over H, W.
 * The public queries answer from the table, and the default CAM layer is
 * the HardSwish node: the feature map goes through it. */
static void test_public_queries_and_cam_layer(void **state) {
  (void)state;
  csm_graph g;
  memset(&g, 0, sizeof g);
  int x = csm_test_graph_add(&g, "x", CSM_OP_INPUT, 0, NULL);
  g.nodes[x].value.dtype = CSM_F32;
  g.nodes[x].value.shape = csm_shape_make(4, (int64_t[]){-1, 6, 6, 1});
  float fv[36];
  csm_test_fill_uniform(fv, 36, 3, -1.0f, 1.0f);
  int f = csm_test_graph_const(&g, "filter", CSM_F32, 4, (int64_t[]){3, 3, 1, 4}, fv);
  int conv = csm_test_graph_add(&g, "conv", CSM_OP_CONV2D, 2, (int[]){x, f});
  g.nodes[conv].a.padding = CSM_PAD_SAME;
  int hs = csm_test_graph_add(&g, "hswish", CSM_OP_HARD_SWISH, 1, (int[]){conv});
  int32_t axes_v[2] = {1, 2};
  int axes = csm_test_graph_const(&g, "axes", CSM_I32, 1, (int64_t[]){2}, axes_v);
  int mean = csm_test_graph_add(&g, "mean", CSM_OP_REDUCE_MEAN, 2, (int[]){hs, axes});
  g.outputs = malloc(sizeof(int));
  g.inputs = malloc(sizeof(int));
  assert_non_null(g.outputs);
  assert_non_null(g.inputs);
  g.outputs[0] = mean, g.n_outputs = 1;
  g.inputs[0] = x, g.n_inputs = 1;
  csm_model *m;
  CSM_ASSERT_OK(csm_model_from_graph(&g, &m));
  const int n = csm_model_node_count(m);
  int i_conv = csm_model_find_node(m, "conv"), i_hs = csm_model_find_node(m, "hswish");
  int i_x = csm_model_find_node(m, "x"), i_f = csm_model_find_node(m, "filter");
  assert_true(csm_model_node_flags(m, i_conv) == (CSM_OP_CONV | CSM_OP_WEIGHTED));
  assert_true(csm_model_node_flags(m, i_hs) == CSM_OP_ELEMENTWISE);
  assert_int_equal(csm_model_node_flags(m, i_x), 0);
  assert_int_equal(csm_model_node_flags(m, n), 0);
  int in[4] = {-1, -1, -1, -1};
  assert_int_equal(csm_model_node_inputs(m, i_conv, in, 4), 2);
  assert_int_equal(in[0], i_x);
  assert_int_equal(in[1], i_f);
  assert_int_equal(csm_model_node_inputs(m, i_conv, in, 1), 2); /* count, one written */
  assert_int_equal(csm_model_node_inputs(m, i_x, NULL, 0), 0);
  assert_int_equal(csm_model_node_inputs(m, -1, NULL, 0), -1);
  csm_node_value *v = calloc((size_t)n, sizeof *v);
  assert_non_null(v);
  CSM_ASSERT_OK(csm_model_infer_values(m, 3, v));
  assert_true(v[i_hs].runtime && v[i_conv].runtime && !v[i_f].runtime);
  assert_true(v[i_hs].dtype == CSM_F32);
  csm_test_assert_shape(&(csm_tensor){.shape = v[i_hs].shape}, 4, (int64_t[]){3, 6, 6, 4});
  free(v);
  int layer = -1;
  CSM_ASSERT_OK(csm_cam_default_layer(m, &layer));
  assert_int_equal(layer, i_hs);
  csm_model_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_kind_has_a_name_and_forward),
      cmocka_unit_test(test_differentiable_ops_have_a_backward),
      cmocka_unit_test(test_elementwise_flag_agrees_with_the_op),
      cmocka_unit_test(test_weighted_and_conv_flags_agree_with_the_ops),
      cmocka_unit_test(test_public_queries_and_cam_layer),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
