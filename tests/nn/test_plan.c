/* Planner and executor on hand-built graphs: folding of shape sub-graphs,
 * dead-node elimination, arena reuse by liveness, and input checks. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "csm_test.h"
#include "nn/graph.h"
#include "nn/plan.h"

static int add(csm_graph *g, const char *name, csm_op_kind op, int n, const int *in) {
  int idx;
  CSM_ASSERT_OK(csm_graph_add(g, name, op, n, in, &idx));
  return idx;
}

static int add_const_i32(csm_graph *g, const char *name, int rank, const int64_t *dims,
                         const int32_t *v) {
  int idx = add(g, name, CSM_OP_CONST, 0, NULL);
  csm_shape s = csm_shape_make(rank, dims);
  CSM_ASSERT_OK(csm_tensor_alloc(&g->nodes[idx].value, CSM_I32, &s));
  memcpy(g->nodes[idx].value.data, v, csm_tensor_numel(&g->nodes[idx].value) * 4);
  return idx;
}

static int add_input(csm_graph *g, int rank, const int64_t *dims) {
  int idx = add(g, "x", CSM_OP_INPUT, 0, NULL);
  g->nodes[idx].value.dtype = CSM_F32;
  g->nodes[idx].value.shape = csm_shape_make(rank, dims);
  g->inputs = malloc(sizeof(int));
  g->inputs[0] = idx;
  g->n_inputs = 1;
  return idx;
}

static void set_output(csm_graph *g, int node) {
  g->outputs = malloc(sizeof(int));
  g->output_names = malloc(sizeof(char *));
  g->outputs[0] = node;
  g->output_names[0] = strdup("y");
  g->n_outputs = 1;
  g->path = strdup("test-graph");
}

/* y = reshape(relu(x), [shape(x)[0], 6]) + bias: the reshape target depends
 * on the run-time batch, as in the facemesh detectors. */
static void build_reshape_graph(csm_graph *g, float *bias_out) {
  memset(g, 0, sizeof *g);
  int64_t in_dims[3] = {-1, 2, 3};
  int x = add_input(g, 3, in_dims);
  int relu = add(g, "relu", CSM_OP_RELU, 1, &x);
  int shp = add(g, "shape", CSM_OP_SHAPE, 1, &x);
  int64_t one = 1;
  int32_t b0 = 0, e1 = 1, s1 = 1, six = 6;
  int begin = add_const_i32(g, "b", 1, &one, &b0);
  int end = add_const_i32(g, "e", 1, &one, &e1);
  int stride = add_const_i32(g, "s", 1, &one, &s1);
  int ss_in[4] = {shp, begin, end, stride};
  int n = add(g, "batch", CSM_OP_STRIDED_SLICE, 4, ss_in);
  g->nodes[n].a.shrink_axis_mask = 1;
  int c6 = add_const_i32(g, "six", 0, NULL, &six);
  int pk_in[2] = {n, c6};
  int pk = add(g, "pack", CSM_OP_PACK, 2, pk_in);
  int rs_in[2] = {relu, pk};
  int rs = add(g, "reshape", CSM_OP_RESHAPE, 2, rs_in);
  int bias = add(g, "bias", CSM_OP_CONST, 0, NULL);
  int64_t six_d = 6;
  csm_shape bs = csm_shape_make(1, &six_d);
  CSM_ASSERT_OK(csm_tensor_alloc(&g->nodes[bias].value, CSM_F32, &bs));
  for (int i = 0; i < 6; i++)
    ((float *)g->nodes[bias].value.data)[i] = bias_out[i] = 0.5f * i;
  int add_in[2] = {rs, bias};
  int y = add(g, "y", CSM_OP_ADD, 2, add_in);
  /* A dead branch with an op that has no implementation must not matter. */
  add(g, "dead", CSM_OP_COUNT, 1, &x);
  set_output(g, y);
}

static void test_shape_folding_any_batch(void **state) {
  (void)state;
  csm_graph g;
  float bias[6];
  build_reshape_graph(&g, bias);
  CSM_ASSERT_OK(csm_graph_toposort(&g));
  for (int batch = 1; batch <= 3; batch += 2) {
    int64_t dims[3] = {batch, 2, 3};
    csm_shape s = csm_shape_make(3, dims);
    csm_plan *p;
    CSM_ASSERT_OK(csm_plan_create(&g, &s, NULL, &p));
    csm_tensor x;
    CSM_ASSERT_OK(csm_tensor_alloc(&x, CSM_F32, &s));
    float *xv = x.data;
    for (int i = 0; i < batch * 6; i++)
      xv[i] = (float)(i % 5) - 2.0f;
    CSM_ASSERT_OK(csm_plan_run(p, &x));
    const csm_tensor *y = csm_plan_value(p, g.outputs[0]);
    assert_int_equal(y->shape.rank, 2);
    assert_int_equal(y->shape.d[0], batch);
    assert_int_equal(y->shape.d[1], 6);
    for (int i = 0; i < batch * 6; i++) {
      float want = (xv[i] > 0 ? xv[i] : 0) + bias[i % 6];
      assert_float_equal(((float *)y->data)[i], want, 0);
    }
    csm_tensor_free(&x);
    csm_plan_free(p);
  }
  csm_graph_free(&g);
}

/* A chain of 10 element-wise ops needs the input plus two alternating
 * buffers, not 11 buffers. */
static void test_arena_reuse(void **state) {
  (void)state;
  csm_graph g;
  memset(&g, 0, sizeof g);
  int64_t dims[2] = {1, 1000};
  int prev = add_input(&g, 2, dims);
  for (int i = 0; i < 10; i++)
    prev = add(&g, i % 2 ? "neg" : "relu", i % 2 ? CSM_OP_NEG : CSM_OP_RELU, 1, &prev);
  set_output(&g, prev);
  csm_shape s = csm_shape_make(2, dims);
  csm_plan *p;
  CSM_ASSERT_OK(csm_plan_create(&g, &s, NULL, &p));
  size_t one = (4000 + 63) / 64 * 64;
  assert_true(csm_plan_arena_bytes(p) <= 3 * one);
  csm_tensor x;
  CSM_ASSERT_OK(csm_tensor_alloc(&x, CSM_F32, &s));
  for (int i = 0; i < 1000; i++)
    ((float *)x.data)[i] = (float)i - 500.0f;
  CSM_ASSERT_OK(csm_plan_run(p, &x));
  /* relu, neg, relu, neg ... ten times: relu(x) then -(relu(-relu(x))) = 0 ... */
  const float *y = csm_plan_value(p, g.outputs[0])->data;
  for (int i = 0; i < 1000; i++) {
    float v = ((float *)x.data)[i];
    for (int k = 0; k < 10; k++)
      v = k % 2 ? -v : (v > 0 ? v : 0);
    assert_float_equal(y[i], v, 0);
  }
  csm_tensor_free(&x);
  csm_plan_free(p);
  /* keep_all keeps every value: the arena must then hold all 11. */
  csm_plan_options keep = {.keep_all = 1};
  CSM_ASSERT_OK(csm_plan_create(&g, &s, &keep, &p));
  assert_true(csm_plan_arena_bytes(p) >= 11 * 4000);
  csm_plan_free(p);
  csm_graph_free(&g);
}

static void test_cycle_is_an_error(void **state) {
  (void)state;
  csm_graph g;
  memset(&g, 0, sizeof g);
  int64_t dims[1] = {4};
  int x = add_input(&g, 1, dims);
  int in_a[2] = {x, 2}; /* a reads b (index 2), b reads a */
  int a = add(&g, "a", CSM_OP_ADD, 2, in_a);
  int b = add(&g, "b", CSM_OP_RELU, 1, &a);
  (void)b;
  set_output(&g, a);
  assert_int_equal(csm_graph_toposort(&g), CSM_EINPUT);
  assert_non_null(strstr(csm_last_error(), "cycle"));
  csm_graph_free(&g);
}

static void test_bad_inputs(void **state) {
  (void)state;
  csm_graph g;
  float bias[6];
  build_reshape_graph(&g, bias);
  CSM_ASSERT_OK(csm_graph_toposort(&g));
  int64_t wrong[3] = {1, 3, 2};
  csm_shape ws = csm_shape_make(3, wrong);
  csm_plan *p = NULL;
  assert_int_equal(csm_plan_create(&g, &ws, NULL, &p), CSM_EINPUT);
  assert_non_null(strstr(csm_last_error(), "expects shape [-1,2,3]"));
  int64_t ok[3] = {1, 2, 3};
  csm_shape s = csm_shape_make(3, ok);
  CSM_ASSERT_OK(csm_plan_create(&g, &s, NULL, &p));
  csm_tensor x;
  CSM_ASSERT_OK(csm_tensor_alloc(&x, CSM_F32, &s));
  ((float *)x.data)[4] = NAN;
  assert_int_equal(csm_plan_run(p, &x), CSM_EINPUT);
  assert_non_null(strstr(csm_last_error(), "NaN"));
  ((float *)x.data)[4] = INFINITY;
  assert_int_equal(csm_plan_run(p, &x), CSM_EINPUT);
  assert_non_null(strstr(csm_last_error(), "Inf"));
  csm_tensor_free(&x);
  csm_plan_free(p);
  csm_graph_free(&g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_shape_folding_any_batch),
      cmocka_unit_test(test_arena_reuse),
      cmocka_unit_test(test_cycle_is_an_error),
      cmocka_unit_test(test_bad_inputs),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
