/* Backward passes of the data-movement ops added for ONNX models
 * (Transpose, Gather, BroadcastTo, Flatten, Reshape with zero_copies),
 * checked against central finite differences (support/grad_check.h). The
 * ops are linear, so the tolerances are tight. Which operands carry a
 * gradient (only the data operand; Cast none at all) is checked too, and
 * a few gradients are also written out by hand. */
#include "csm_test.h"
#include "grad_check.h"

#include <stdio.h>
#include <string.h>

#include "nn/ops/op.h"

#define DIMS(...) ((const int64_t[]){__VA_ARGS__})
#define I32(...) ((const int32_t[]){__VA_ARGS__})

static const csm_grad_check k_tight = {1e-2, 1e-4, 1e-3, 0, 7};

static void check_shape(const csm_node *n, const csm_tensor *in, int rank, const int64_t *dims) {
  csm_tensor out;
  CSM_ASSERT_OK(csm_test_run_op(n, in, &out));
  csm_test_assert_shape(&out, rank, dims);
  csm_tensor_free(&out);
}

/* Runs the backward pass of operand 0 with dout = w, din starting at 0. */
static void backward(const csm_node *n, csm_tensor *in, const float *w, float *din_out) {
  csm_tensor out, din;
  CSM_ASSERT_OK(csm_test_run_op(n, in, &out));
  csm_tensor dout = out;
  dout.owned = 0;
  dout.data = (void *)w;
  CSM_ASSERT_OK(csm_tensor_alloc(&din, CSM_F32, &in[0].shape));
  csm_backward_args a = {n, in, &out, &dout, 0, &din};
  CSM_ASSERT_OK(csm_backward_get(n->op)(&a));
  memcpy(din_out, din.data, csm_tensor_numel(&din) * 4);
  csm_tensor_free(&din);
  csm_tensor_free(&out);
}

/* ---- Transpose ---- */

static void check_transpose(int rank, const int64_t *dims, const int *perm, float *x) {
  char ctx[128];
  int len = snprintf(ctx, sizeof ctx, "transpose rank %d perm (", rank);
  csm_node n = csm_test_node(CSM_OP_TRANSPOSE, 1);
  int64_t od[CSM_MAX_RANK];
  n.a.n_perm = rank;
  for (int d = 0; d < rank; d++) {
    n.a.perm[d] = perm[d];
    od[d] = dims[perm[d]];
    len += snprintf(ctx + len, sizeof ctx - (size_t)len, "%s%d", d ? "," : "", perm[d]);
  }
  snprintf(ctx + len, sizeof ctx - (size_t)len, ")");
  csm_test_context = ctx;
  csm_tensor in[1] = {csm_test_tensor_f32(rank, dims, x)};
  check_shape(&n, in, rank, od);
  csm_grad_check_operand(&n, in, 0, &k_tight);
  csm_test_context = "";
}

static void test_transpose(void **state) {
  (void)state;
  float x[720];
  int perm[5] = {0, 1, 2, 3, 4};
  csm_test_fill_uniform(x, 720, 1, -1.0f, 1.0f);
  do
    check_transpose(4, DIMS(2, 3, 4, 5), perm, x);
  while (csm_test_next_perm(perm, 4));
  check_transpose(4, DIMS(2, 1, 5, 3), (const int[]){0, 2, 3, 1}, x);
  check_transpose(4, DIMS(2, 5, 1, 3), (const int[]){0, 3, 1, 2}, x);
  check_transpose(2, DIMS(6, 7), (const int[]){1, 0}, x);
  check_transpose(3, DIMS(4, 5, 6), (const int[]){2, 0, 1}, x);
  check_transpose(5, DIMS(2, 3, 4, 5, 6), (const int[]){4, 1, 3, 0, 2}, x);
  check_transpose(1, DIMS(9), (const int[]){0}, x);
  /* By hand: dout [[1,2],[3,4],[5,6]] back through (1,0) is its transpose. */
  csm_node n = csm_test_node(CSM_OP_TRANSPOSE, 1);
  n.a.n_perm = 2;
  n.a.perm[0] = 1;
  n.a.perm[1] = 0;
  csm_tensor in[1] = {csm_test_tensor_f32(2, DIMS(2, 3), x)};
  float din[6];
  backward(&n, in, (const float[]){1, 2, 3, 4, 5, 6}, din);
  csm_test_assert_close(din, (const float[]){1, 3, 5, 2, 4, 6}, 6, 0, 0);
}

/* ---- Gather ---- */

static void check_gather(int rank, const int64_t *dims, int axis, int irank, const int64_t *idims,
                         const int32_t *idx, int out_rank, const int64_t *od, float *x,
                         const char *what) {
  csm_node n = csm_test_node(CSM_OP_GATHER, 2);
  n.a.axis = axis;
  csm_tensor in[2] = {csm_test_tensor_f32(rank, dims, x), csm_test_tensor_i32(irank, idims, idx)};
  csm_test_context = what;
  check_shape(&n, in, out_rank, od);
  csm_grad_check_operand(&n, in, 0, &k_tight);
  csm_test_context = "";
}

static void test_gather(void **state) {
  (void)state;
  float x[120];
  csm_test_fill_uniform(x, 120, 2, -1.0f, 1.0f);
  /* Repeated and negative indices (the same row twice: its gradient adds). */
  check_gather(3, DIMS(2, 4, 3), 1, 2, DIMS(3, 2), I32(0, 3, -1, 1, 3, 0), 4, DIMS(2, 3, 2, 3), x,
               "axis 1, 2-D indices");
  check_gather(3, DIMS(2, 4, 3), 0, 0, NULL, I32(-1), 2, DIMS(4, 3), x, "axis 0, scalar");
  check_gather(3, DIMS(2, 4, 3), -1, 1, DIMS(4), I32(2, 2, -3, 2), 3, DIMS(2, 4, 4), x,
               "axis -1, repeats");
  check_gather(2, DIMS(5, 6), 0, 1, DIMS(2), I32(4, 1), 2, DIMS(2, 6), x, "rows");
  /* By hand: x [3] gathered at (2, 0, 2, -1): din = (w1, 0, w0 + w2 + w3). */
  csm_node n = csm_test_node(CSM_OP_GATHER, 2);
  csm_tensor in[2] = {csm_test_tensor_f32(1, DIMS(3), x),
                      csm_test_tensor_i32(1, DIMS(4), I32(2, 0, 2, -1))};
  float din[3];
  backward(&n, in, (const float[]){1, 10, 100, 1000}, din);
  csm_test_assert_close(din, (const float[]){10, 0, 1101}, 3, 0, 0);
}

/* ---- BroadcastTo ---- */

static void check_broadcast(int rank, const int64_t *dims, int sr, const int32_t *shape,
                            int out_rank, const int64_t *od, float *x, const char *what) {
  csm_node n = csm_test_node(CSM_OP_BROADCAST_TO, 2);
  csm_tensor in[2] = {csm_test_tensor_f32(rank, dims, x),
                      csm_test_tensor_i32(1, (const int64_t[]){sr}, shape)};
  csm_test_context = what;
  check_shape(&n, in, out_rank, od);
  csm_grad_check_operand(&n, in, 0, &k_tight);
  csm_test_context = "";
}

static void test_broadcast_to(void **state) {
  (void)state;
  float x[64];
  csm_test_fill_uniform(x, 64, 3, -1.0f, 1.0f);
  check_broadcast(2, DIMS(3, 1), 3, I32(2, 1, 4), 3, DIMS(2, 3, 4), x, "bidirectional");
  check_broadcast(4, DIMS(1, 3, 1, 2), 4, I32(4, 1, 5, 1), 4, DIMS(4, 3, 5, 2), x, "alternating");
  check_broadcast(0, NULL, 2, I32(3, 4), 2, DIMS(3, 4), x, "scalar");
  check_broadcast(1, DIMS(4), 3, I32(2, 3, 1), 3, DIMS(2, 3, 4), x, "new leading dims");
  check_broadcast(2, DIMS(2, 3), 1, I32(1), 2, DIMS(2, 3), x, "identity");
  check_broadcast(3, DIMS(2, 1, 3), 3, I32(1, 5, 1), 3, DIMS(2, 5, 3), x, "middle");
  /* By hand: [2,1] to [2,3]: din[i] = sum_j dout[i][j]. */
  csm_node n = csm_test_node(CSM_OP_BROADCAST_TO, 2);
  csm_tensor in[2] = {csm_test_tensor_f32(2, DIMS(2, 1), x),
                      csm_test_tensor_i32(1, DIMS(2), I32(1, 3))};
  float din[2];
  backward(&n, in, (const float[]){1, 2, 3, 10, 20, 30}, din);
  csm_test_assert_close(din, (const float[]){6, 60}, 2, 0, 0);
  /* [3] to [2,3]: din[j] = sum_i dout[i][j]. */
  in[0] = csm_test_tensor_f32(1, DIMS(3), x);
  in[1] = csm_test_tensor_i32(1, DIMS(2), I32(2, 3));
  float din3[3];
  backward(&n, in, (const float[]){1, 2, 3, 10, 20, 30}, din3);
  csm_test_assert_close(din3, (const float[]){11, 22, 33}, 3, 0, 0);
}

/* ---- Flatten, Reshape with zero_copies ---- */

static void test_flatten_and_reshape(void **state) {
  (void)state;
  float x[24];
  csm_test_fill_uniform(x, 24, 4, -1.0f, 1.0f);
  const int64_t want[4][2] = {{1, 24}, {2, 12}, {6, 4}, {24, 1}};
  for (int axis = 0; axis <= 3; axis++) {
    char ctx[32];
    snprintf(ctx, sizeof ctx, "flatten axis %d", axis);
    csm_test_context = ctx;
    csm_node n = csm_test_node(CSM_OP_FLATTEN, 1);
    n.a.axis = axis;
    csm_tensor in[1] = {csm_test_tensor_f32(3, DIMS(2, 3, 4), x)};
    check_shape(&n, in, 2, want[axis]);
    csm_grad_check_operand(&n, in, 0, &k_tight);
  }
  csm_test_context = "reshape zero_copies";
  csm_node n = csm_test_node(CSM_OP_RESHAPE, 2);
  n.a.zero_copies = 1;
  csm_tensor in[2] = {csm_test_tensor_f32(3, DIMS(2, 3, 4), x),
                      csm_test_tensor_i32(1, DIMS(3), I32(0, -1, 2))};
  check_shape(&n, in, 3, DIMS(2, 6, 2));
  csm_grad_check_operand(&n, in, 0, &k_tight);
  csm_test_context = "";
}

/* ---- Which operands carry gradients ---- */

static void test_operands(void **state) {
  (void)state;
  assert_true(csm_backward_operand(CSM_OP_TRANSPOSE, 0, 1));
  assert_true(csm_backward_operand(CSM_OP_GATHER, 0, 2));
  assert_false(csm_backward_operand(CSM_OP_GATHER, 1, 2));
  assert_true(csm_backward_operand(CSM_OP_BROADCAST_TO, 0, 2));
  assert_false(csm_backward_operand(CSM_OP_BROADCAST_TO, 1, 2));
  assert_true(csm_backward_operand(CSM_OP_FLATTEN, 0, 1));
  assert_null(csm_backward_get(CSM_OP_CAST));
  /* Asking for the indices' or shape's gradient is refused. */
  float x[6] = {0}, w[6] = {0}, dv[2] = {0};
  csm_node n = csm_test_node(CSM_OP_GATHER, 2);
  csm_tensor in[2] = {csm_test_tensor_f32(2, DIMS(3, 2), x),
                      csm_test_tensor_i32(1, DIMS(2), I32(0, 1))};
  csm_tensor out, din = csm_test_tensor_f32(1, DIMS(2), dv);
  CSM_ASSERT_OK(csm_test_run_op(&n, in, &out));
  csm_tensor dout = out;
  dout.data = w;
  dout.owned = 0;
  csm_backward_args a = {&n, in, &out, &dout, 1, &din};
  assert_int_equal(csm_backward_gather(&a), CSM_EUNSUPPORTED);
  csm_tensor_free(&out);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_transpose),    cmocka_unit_test(test_gather),
      cmocka_unit_test(test_broadcast_to), cmocka_unit_test(test_flatten_and_reshape),
      cmocka_unit_test(test_operands),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
