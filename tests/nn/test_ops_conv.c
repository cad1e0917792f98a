/* Conv2D, DepthwiseConv2D and MatMul: hand-computed cases (padding, strides,
 * dilations, fused bias and activations) and shape errors. The randomized
 * comparisons against naive loops and the batch/thread bit-equality checks
 * are in test_ops_conv_random.c. */
#include "csm_test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/ops/op.h"

/* ---- hand-computed Conv2D ----------------------------------------------- */

static const float x33[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
static const float f1234[4] = {1, 2, 3, 4}; /* [2,2,1,1]: f[0][0]=1 f[0][1]=2 f[1][0]=3 f[1][1]=4 */

static csm_tensor conv1(const float *x, int64_t h, int64_t w, const float *f, int64_t kh,
                        int64_t kw, csm_attrs a) {
  csm_node nd = csm_test_node(CSM_OP_CONV2D, 2);
  csm_tensor in[2], out;
  nd.a = a;
  in[0] = csm_test_tensor_f32(4, (int64_t[]){1, h, w, 1}, x);
  in[1] = csm_test_tensor_f32(4, (int64_t[]){kh, kw, 1, 1}, f);
  CSM_ASSERT_OK(csm_test_run_op(&nd, in, &out));
  return out;
}

static void test_conv_valid(void **state) {
  (void)state;
  csm_tensor out = conv1(x33, 3, 3, f1234, 2, 2, csm_attrs_default());
  csm_test_assert_shape(&out, 4, (int64_t[]){1, 2, 2, 1});
  csm_test_assert_tensor_close(&out, (float[]){37, 47, 67, 77}, 4, 1e-5f, 1e-5f);
  csm_tensor_free(&out);
}

static void test_conv_same_odd_total(void **state) {
  (void)state;
  /* total padding 1: TensorFlow puts it after (bottom/right), none before */
  csm_attrs a = csm_attrs_default();
  a.padding = CSM_PAD_SAME;
  csm_tensor out = conv1(x33, 3, 3, f1234, 2, 2, a);
  csm_test_assert_shape(&out, 4, (int64_t[]){1, 3, 3, 1});
  csm_test_assert_tensor_close(&out, (float[]){37, 47, 21, 67, 77, 33, 23, 26, 9}, 9, 1e-5f, 1e-5f);
  csm_tensor_free(&out);

  /* 4x4, 3x3 ones, stride 2: total 1, again all of it after */
  float x44[16], ones[9];
  for (int i = 0; i < 16; i++)
    x44[i] = (float)(i + 1);
  for (int i = 0; i < 9; i++)
    ones[i] = 1;
  a.stride[0] = a.stride[1] = 2;
  out = conv1(x44, 4, 4, ones, 3, 3, a);
  csm_test_assert_shape(&out, 4, (int64_t[]){1, 2, 2, 1});
  csm_test_assert_tensor_close(&out, (float[]){54, 45, 72, 54}, 4, 1e-5f, 1e-5f);
  csm_tensor_free(&out);
}

static void test_conv_same_even_total(void **state) {
  (void)state;
  float ones[9];
  for (int i = 0; i < 9; i++)
    ones[i] = 1;
  csm_attrs a = csm_attrs_default();
  a.padding = CSM_PAD_SAME; /* total 2: one on each side */
  csm_tensor out = conv1(x33, 3, 3, ones, 3, 3, a);
  csm_test_assert_shape(&out, 4, (int64_t[]){1, 3, 3, 1});
  csm_test_assert_tensor_close(&out, (float[]){12, 21, 16, 27, 45, 33, 24, 39, 28}, 9, 1e-5f,
                               1e-5f);
  csm_tensor_free(&out);
}

static void test_conv_stride_dilation(void **state) {
  (void)state;
  float x44[16], x55[25];
  for (int i = 0; i < 16; i++)
    x44[i] = (float)(i + 1);
  for (int i = 0; i < 25; i++)
    x55[i] = (float)(i + 1);
  csm_attrs a = csm_attrs_default();
  a.stride[0] = a.stride[1] = 2;
  csm_tensor out = conv1(x44, 4, 4, f1234, 2, 2, a);
  csm_test_assert_shape(&out, 4, (int64_t[]){1, 2, 2, 1});
  csm_test_assert_tensor_close(&out, (float[]){44, 64, 124, 144}, 4, 1e-5f, 1e-5f);
  csm_tensor_free(&out);

  a = csm_attrs_default();
  a.dilation[0] = a.dilation[1] = 2; /* taps x[i][j], x[i][j+2], x[i+2][j], x[i+2][j+2] */
  out = conv1(x55, 5, 5, f1234, 2, 2, a);
  csm_test_assert_shape(&out, 4, (int64_t[]){1, 3, 3, 1});
  csm_test_assert_tensor_close(&out, (float[]){92, 102, 112, 142, 152, 162, 192, 202, 212}, 9,
                               1e-5f, 1e-5f);
  csm_tensor_free(&out);
}

static void test_conv_explicit_pads(void **state) {
  (void)state;
  csm_attrs a = csm_attrs_default();
  a.padding = CSM_PAD_EXPLICIT;
  a.pads[0] = 1; /* top */
  a.pads[1] = 0; /* bottom */
  a.pads[2] = 0; /* left */
  a.pads[3] = 2; /* right */
  csm_tensor out = conv1(x33, 3, 3, f1234, 2, 2, a);
  csm_test_assert_shape(&out, 4, (int64_t[]){1, 3, 4, 1});
  csm_test_assert_tensor_close(&out, (float[]){11, 18, 9, 0, 37, 47, 21, 0, 67, 77, 33, 0}, 12,
                               1e-5f, 1e-5f);
  csm_tensor_free(&out);
}

/* Two pixels {1, -1}, filter {1, 2, -8}, bias {0.5, -4, 1}: pre-activation
 * values {1.5, -2, -7, -0.5, -6, 9}. */
static void check_activations(csm_op_kind op) {
  static const float x[2] = {1, -1}, f3[3] = {1, 2, -8}, bias[3] = {0.5f, -4, 1};
  static const float slopes[3] = {0.5f, 0.25f, 2}, one_slope[1] = {0.5f};
  static const struct {
    csm_activation act;
    const float *alpha;
    int scalar;
    float want[6];
  } cases[] = {
      {CSM_ACT_NONE, NULL, 0, {1.5f, -2, -7, -0.5f, -6, 9}},
      {CSM_ACT_RELU, NULL, 0, {1.5f, 0, 0, 0, 0, 9}},
      {CSM_ACT_RELU6, NULL, 0, {1.5f, 0, 0, 0, 0, 6}},
      {CSM_ACT_LEAKY_RELU, NULL, 0, {1.5f, -0.2f, -0.7f, -0.05f, -0.6f, 9}},
      {CSM_ACT_PRELU, slopes, 0, {1.5f, -0.5f, -14, -0.25f, -1.5f, 9}},
      {CSM_ACT_PRELU, one_slope, 1, {1.5f, -1, -3.5f, -0.25f, -3, 9}},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    csm_node nd = csm_test_node(op, 3);
    csm_tensor in[4], out;
    nd.a.has_bias = 1;
    nd.a.act = cases[i].act;
    nd.a.alpha = 0.1f;
    if (op == CSM_OP_MATMUL) {
      in[0] = csm_test_tensor_f32(2, (int64_t[]){2, 1}, x);
      in[1] = csm_test_tensor_f32(2, (int64_t[]){1, 3}, f3);
    } else if (op == CSM_OP_CONV2D) {
      in[0] = csm_test_tensor_f32(4, (int64_t[]){1, 1, 2, 1}, x);
      in[1] = csm_test_tensor_f32(4, (int64_t[]){1, 1, 1, 3}, f3);
    } else { /* depthwise, multiplier 3 */
      in[0] = csm_test_tensor_f32(4, (int64_t[]){1, 1, 2, 1}, x);
      in[1] = csm_test_tensor_f32(4, (int64_t[]){1, 1, 1, 3}, f3);
    }
    in[2] = csm_test_tensor_f32(1, (int64_t[]){3}, bias);
    if (cases[i].alpha) {
      in[3] = cases[i].scalar ? csm_test_tensor_f32(1, (int64_t[]){1}, cases[i].alpha)
                              : csm_test_tensor_f32(3, (int64_t[]){1, 1, 3}, cases[i].alpha);
      nd.n_in = 4;
    }
    CSM_ASSERT_OK(csm_test_run_op(&nd, in, &out));
    csm_test_assert_tensor_close(&out, cases[i].want, 6, 1e-5f, 1e-5f);
    csm_tensor_free(&out);
  }
}

static void test_fused_activations(void **state) {
  (void)state;
  check_activations(CSM_OP_CONV2D);
  check_activations(CSM_OP_DEPTHWISE_CONV2D);
  check_activations(CSM_OP_MATMUL);
}

/* ---- hand-computed DepthwiseConv2D --------------------------------------- */

static void test_depthwise_hand(void **state) {
  (void)state;
  /* multiplier 2: x[i,j,c], pixels {1,10} {2,20} {3,30} {4,40} */
  static const float x[8] = {1, 10, 2, 20, 3, 30, 4, 40};
  /* f[i,j,c,m]: c0: m0 = 1, m1 = tap index + 1; c1: m0 = 1 at tap 0 only, m1 = -1 */
  static const float f[16] = {1, 1, 1, -1, 1, 2, 0, -1, 1, 3, 0, -1, 1, 4, 0, -1};
  csm_node nd = csm_test_node(CSM_OP_DEPTHWISE_CONV2D, 2);
  csm_tensor in[2], out;
  in[0] = csm_test_tensor_f32(4, (int64_t[]){1, 2, 2, 2}, x);
  in[1] = csm_test_tensor_f32(4, (int64_t[]){2, 2, 2, 2}, f);
  CSM_ASSERT_OK(csm_test_run_op(&nd, in, &out));
  csm_test_assert_shape(&out, 4, (int64_t[]){1, 1, 1, 4});
  csm_test_assert_tensor_close(&out, (float[]){10, 30, 10, -100}, 4, 1e-5f, 1e-5f);
  csm_tensor_free(&out);

  /* multiplier 1, SAME 3x3: channel 0 all ones, channel 1 all twos */
  float x2[18], f2[18];
  for (int i = 0; i < 9; i++) {
    x2[2 * i] = (float)(i + 1);
    x2[2 * i + 1] = (float)(10 * (i + 1));
    f2[2 * i] = 1;
    f2[2 * i + 1] = 2;
  }
  nd.a.padding = CSM_PAD_SAME;
  in[0] = csm_test_tensor_f32(4, (int64_t[]){1, 3, 3, 2}, x2);
  in[1] = csm_test_tensor_f32(4, (int64_t[]){3, 3, 2, 1}, f2);
  CSM_ASSERT_OK(csm_test_run_op(&nd, in, &out));
  csm_test_assert_shape(&out, 4, (int64_t[]){1, 3, 3, 2});
  static const float sums[9] = {12, 21, 16, 27, 45, 33, 24, 39, 28};
  float want[18];
  for (int i = 0; i < 9; i++) {
    want[2 * i] = sums[i];
    want[2 * i + 1] = 20 * sums[i];
  }
  csm_test_assert_tensor_close(&out, want, 18, 1e-5f, 1e-5f);
  csm_tensor_free(&out);
}

/* ---- hand-computed MatMul ----------------------------------------------- */

static void test_matmul_hand(void **state) {
  (void)state;
  static const float a[6] = {1, 2, 3, 4, 5, 6}, at[6] = {1, 4, 2, 5, 3, 6};
  static const float b[6] = {7, 8, 9, 10, 11, 12}, bt[6] = {7, 9, 11, 8, 10, 12};
  static const float want[4] = {58, 64, 139, 154};
  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++) {
      csm_node nd = csm_test_node(CSM_OP_MATMUL, 2);
      csm_tensor in[2], out;
      nd.a.transpose_a = ta;
      nd.a.transpose_b = tb;
      in[0] = ta ? csm_test_tensor_f32(2, (int64_t[]){3, 2}, at)
                 : csm_test_tensor_f32(2, (int64_t[]){2, 3}, a);
      in[1] = tb ? csm_test_tensor_f32(2, (int64_t[]){2, 3}, bt)
                 : csm_test_tensor_f32(2, (int64_t[]){3, 2}, b);
      CSM_ASSERT_OK(csm_test_run_op(&nd, in, &out));
      csm_test_assert_shape(&out, 2, (int64_t[]){2, 2});
      csm_test_assert_tensor_close(&out, want, 4, 1e-5f, 1e-5f);
      csm_tensor_free(&out);
    }
  /* bias and ReLU */
  csm_node nd = csm_test_node(CSM_OP_MATMUL, 3);
  csm_tensor in[3], out;
  static const float bias[2] = {1, -200};
  nd.a.has_bias = 1;
  nd.a.act = CSM_ACT_RELU;
  in[0] = csm_test_tensor_f32(2, (int64_t[]){2, 3}, a);
  in[1] = csm_test_tensor_f32(2, (int64_t[]){3, 2}, b);
  in[2] = csm_test_tensor_f32(1, (int64_t[]){2}, bias);
  CSM_ASSERT_OK(csm_test_run_op(&nd, in, &out));
  csm_test_assert_tensor_close(&out, (float[]){59, 0, 140, 0}, 4, 1e-5f, 1e-5f);
  csm_tensor_free(&out);
  /* batch-leading dimensions on a: [2,1,3] x [3,2] -> [2,1,2] */
  nd = csm_test_node(CSM_OP_MATMUL, 2);
  in[0] = csm_test_tensor_f32(3, (int64_t[]){2, 1, 3}, a);
  CSM_ASSERT_OK(csm_test_run_op(&nd, in, &out));
  csm_test_assert_shape(&out, 3, (int64_t[]){2, 1, 2});
  csm_test_assert_tensor_close(&out, want, 4, 1e-5f, 1e-5f);
  csm_tensor_free(&out);
}

/* ---- errors ------------------------------------------------------------- */

static void test_shape_errors(void **state) {
  (void)state;
  static float buf[4096];
  csm_node nd = csm_test_node(CSM_OP_CONV2D, 2);
  csm_tensor in[4];
  in[0] = csm_test_tensor_f32(4, (int64_t[]){1, 8, 8, 3}, buf);
  in[1] = csm_test_tensor_f32(4, (int64_t[]){3, 3, 16, 8}, buf);
  csm_test_expect_error(&nd, in, CSM_EINPUT, "filter has 16 input channels but input has 3");
  in[1] = csm_test_tensor_f32(3, (int64_t[]){3, 3, 3}, buf);
  csm_test_expect_error(&nd, in, CSM_EINPUT,
                        "filter must be [KH,KW,Cin,Cout] (rank 4), got shape [3,3,3]");
  in[0] = csm_test_tensor_f32(3, (int64_t[]){8, 8, 3}, buf);
  in[1] = csm_test_tensor_f32(4, (int64_t[]){3, 3, 3, 8}, buf);
  csm_test_expect_error(&nd, in, CSM_EINPUT, "input must be NHWC (rank 4), got shape [8,8,3]");
  in[0] = csm_test_tensor_f32(4, (int64_t[]){1, 2, 8, 3}, buf);
  csm_test_expect_error(&nd, in, CSM_EINPUT,
                        "input height 2 (padded 2) is smaller than the dilated filter height 3");
  in[0] = csm_test_tensor_f32(4, (int64_t[]){1, 8, 8, 3}, buf);
  nd.a.stride[0] = 0;
  csm_test_expect_error(&nd, in, CSM_EINPUT, "strides must be positive");
  nd = csm_test_node(CSM_OP_CONV2D, 2);
  nd.a.has_bias = 1;
  csm_test_expect_error(&nd, in, CSM_EINPUT, "Conv2D expects 3 inputs (x, weights, bias), got 2");
  nd.n_in = 3;
  in[2] = csm_test_tensor_f32(1, (int64_t[]){5}, buf);
  csm_test_expect_error(&nd, in, CSM_EINPUT, "bias has shape [5] but the output has 8 channels");
  in[2] = csm_test_tensor_f32(1, (int64_t[]){8}, buf);
  nd.a.act = CSM_ACT_PRELU;
  nd.n_in = 4;
  in[3] = csm_test_tensor_f32(3, (int64_t[]){8, 8, 8}, buf);
  csm_test_expect_error(&nd, in, CSM_EINPUT,
                        "PReLU alpha has shape [8,8,8] but the output has 8 channels");

  nd = csm_test_node(CSM_OP_DEPTHWISE_CONV2D, 2);
  in[0] = csm_test_tensor_f32(4, (int64_t[]){1, 8, 8, 3}, buf);
  in[1] = csm_test_tensor_f32(4, (int64_t[]){3, 3, 4, 1}, buf);
  csm_test_expect_error(&nd, in, CSM_EINPUT, "filter has 4 input channels but input has 3");

  nd = csm_test_node(CSM_OP_MATMUL, 2);
  in[0] = csm_test_tensor_f32(2, (int64_t[]){2, 3}, buf);
  in[1] = csm_test_tensor_f32(2, (int64_t[]){4, 5}, buf);
  csm_test_expect_error(&nd, in, CSM_EINPUT,
                        "MatMul inner dimensions differ: a [2,3] has K=3 but b [4,5] has K=4");
  nd.a.transpose_b = 1;
  in[1] = csm_test_tensor_f32(2, (int64_t[]){5, 4}, buf);
  csm_test_expect_error(&nd, in, CSM_EINPUT, "b [5,4] (transposed) has K=4");
  in[0] = csm_test_tensor_f32(1, (int64_t[]){3}, buf);
  csm_test_expect_error(&nd, in, CSM_EINPUT, "MatMul a must have rank 2 or more, got shape [3]");
}

/* Shapes with the unknown batch (-1) during planning propagate it. */
static void test_infer_unknown_batch(void **state) {
  (void)state;
  static float buf[64];
  csm_node nd = csm_test_node(CSM_OP_CONV2D, 2);
  csm_tensor in[2], out;
  memset(&out, 0, sizeof out);
  nd.a.padding = CSM_PAD_SAME;
  nd.a.stride[0] = nd.a.stride[1] = 2;
  in[0] = csm_test_tensor_f32(4, (int64_t[]){-1, 29, 29, 3}, NULL);
  in[1] = csm_test_tensor_f32(4, (int64_t[]){3, 3, 3, 8}, buf);
  CSM_ASSERT_OK(csm_op_def_get(CSM_OP_CONV2D)->infer(&nd, in, &out));
  csm_test_assert_shape(&out, 4, (int64_t[]){-1, 15, 15, 8});
  assert_true(fabs(csm_op_def_get(CSM_OP_CONV2D)->flops(&nd, in, &out) - 2.0 * 15 * 15 * 8 * 27) <
              1e-6);
  nd = csm_test_node(CSM_OP_MATMUL, 2);
  in[0] = csm_test_tensor_f32(2, (int64_t[]){-1, 16}, NULL);
  in[1] = csm_test_tensor_f32(2, (int64_t[]){16, 4}, buf);
  CSM_ASSERT_OK(csm_op_def_get(CSM_OP_MATMUL)->infer(&nd, in, &out));
  csm_test_assert_shape(&out, 2, (int64_t[]){-1, 4});
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_conv_valid),           cmocka_unit_test(test_conv_same_odd_total),
      cmocka_unit_test(test_conv_same_even_total), cmocka_unit_test(test_conv_stride_dilation),
      cmocka_unit_test(test_conv_explicit_pads),   cmocka_unit_test(test_fused_activations),
      cmocka_unit_test(test_depthwise_hand),       cmocka_unit_test(test_matmul_hand),
      cmocka_unit_test(test_shape_errors),         cmocka_unit_test(test_infer_unknown_batch),
  };
  csm_set_threads(2);
  return cmocka_run_group_tests(tests, NULL, NULL);
}
