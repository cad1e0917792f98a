/* Backward passes of the compute ops added for ONNX models against central
 * finite differences (grad_check.h): Conv2DTranspose (strides, dilations,
 * asymmetric pads, output_padding, bias and ReLU), HardSigmoid, HardSwish,
 * Reciprocal, LogSoftmax, ResizeNearestNeighbor (every coordinate rule,
 * size and scales), ResizeBilinear with scales, MaxPool/AvgPool with
 * ceil_mode and count_include_pad, and SAME_LOWER padding in Conv2D,
 * DepthwiseConv2D and the pools.
 *
 * Data stay away from kinks: Conv2DTranspose with ReLU uses x in multiples of
 * 1/8, integer weights and a bias of 1/16 plus a multiple of 1/8 (every
 * pre-activation is at least 1/16 from 0, a step moves it by at most 0.02);
 * the piecewise ops get inputs at least 0.1 from their kinks; MaxPool data
 * are distinct multiples of 0.05. */
#include "csm_test.h"
#include "grad_check.h"

#include <stdio.h>
#include <stdlib.h>

static csm_tensor make(int rank, const int64_t *dims) {
  csm_tensor t;
  csm_shape s = csm_shape_make(rank, dims);
  CSM_ASSERT_OK(csm_tensor_alloc(&t, CSM_F32, &s));
  return t;
}

static csm_tensor make_uniform(int rank, const int64_t *dims, uint32_t seed, float lo, float hi) {
  csm_tensor t = make(rank, dims);
  csm_test_fill_uniform(t.data, csm_tensor_numel(&t), seed, lo, hi);
  return t;
}

/* Multiples of 1/8 in [-1, 1] (scale 8) or integers in [-2, 2] (scale 1, range 2). */
static void quantize(csm_tensor *t, float range, float scale, float offset) {
  float *x = t->data;
  for (size_t i = 0; i < csm_tensor_numel(t); i++)
    x[i] = (float)lrintf(x[i] * range * scale) / scale + offset;
}

/* Distinct values 0.05 apart, in a scrambled order. */
static void fill_distinct(csm_tensor *t) {
  float *x = t->data;
  size_t n = csm_tensor_numel(t);
  const size_t step = 7919;
  for (size_t i = 0; i < n; i++)
    x[i] = (float)((i * step) % n) * 0.05f - 1.0f;
}

static void check(csm_node *nd, csm_tensor *in, const char *ctx) {
  csm_test_context = ctx;
  csm_grad_check_operand(nd, in, 0, NULL);
  csm_test_context = "";
}

/* ---- Conv2DTranspose ------------------------------------------------------- */

static void check_tconv(int64_t n, int64_t h, int64_t w, int64_t ci, int64_t kh, int64_t kw,
                        int64_t co, int s0, int s1, int d0, int d1, const int pads[4], int op0,
                        int op1, int has_bias, csm_activation act, const char *ctx) {
  csm_node nd = csm_test_node(CSM_OP_CONV2D_TRANSPOSE, has_bias ? 3 : 2);
  nd.a.padding = CSM_PAD_EXPLICIT;
  nd.a.stride[0] = s0;
  nd.a.stride[1] = s1;
  nd.a.dilation[0] = d0;
  nd.a.dilation[1] = d1;
  memcpy(nd.a.pads, pads, 4 * sizeof(int));
  nd.a.output_padding[0] = op0;
  nd.a.output_padding[1] = op1;
  nd.a.has_bias = has_bias;
  nd.a.act = act;
  csm_tensor in[3];
  in[0] = make_uniform(4, (int64_t[]){n, h, w, ci}, 11, -1.0f, 1.0f);
  in[1] = make_uniform(4, (int64_t[]){ci, kh, kw, co}, 12, -1.0f, 1.0f);
  in[2] = make_uniform(1, (int64_t[]){co}, 13, -1.0f, 1.0f);
  if (act != CSM_ACT_NONE) {
    quantize(&in[0], 1.0f, 8.0f, 0.0f);
    quantize(&in[1], 2.49f, 1.0f, 0.0f);
    quantize(&in[2], 1.0f, 8.0f, 1.0f / 16.0f);
  }
  check(&nd, in, ctx);
  for (int i = 0; i < 3; i++)
    csm_tensor_free(&in[i]);
}

static void test_tconv(void **state) {
  (void)state;
  check_tconv(1, 3, 4, 2, 3, 3, 3, 1, 1, 1, 1, (int[]){0, 0, 0, 0}, 0, 0, 0, CSM_ACT_NONE,
              "stride 1");
  check_tconv(2, 3, 3, 3, 3, 3, 2, 2, 2, 1, 1, (int[]){1, 1, 1, 1}, 1, 1, 1, CSM_ACT_NONE,
              "stride 2 pads 1 output_padding 1");
  check_tconv(1, 4, 3, 2, 4, 3, 2, 2, 3, 1, 2, (int[]){2, 1, 0, 2}, 1, 2, 1, CSM_ACT_NONE,
              "asymmetric, dilation");
  check_tconv(2, 3, 4, 3, 3, 2, 4, 2, 1, 2, 1, (int[]){1, 0, 1, 1}, 0, 0, 1, CSM_ACT_RELU, "relu");
  check_tconv(1, 2, 2, 4, 1, 1, 3, 3, 2, 1, 1, (int[]){0, 0, 0, 0}, 2, 1, 0, CSM_ACT_NONE,
              "1x1 kernel, gaps");
}

/* ---- unary ------------------------------------------------------------------ */

/* Values in [-6, 6] moved at least 0.1 away from each kink. */
static csm_tensor unary_input(const float *kinks, int nk, uint32_t seed) {
  csm_tensor x = make_uniform(2, (int64_t[]){7, 9}, seed, -6.0f, 6.0f);
  float *v = x.data;
  for (size_t i = 0; i < csm_tensor_numel(&x); i++)
    for (int k = 0; k < nk; k++)
      if (fabsf(v[i] - kinks[k]) < 0.1f) v[i] = kinks[k] + (v[i] < kinks[k] ? -0.1f : 0.1f);
  return x;
}

static void test_unary(void **state) {
  (void)state;
  csm_node nd = csm_test_node(CSM_OP_HARD_SIGMOID, 1);
  nd.a.alpha = 0.2f;
  nd.a.beta = 0.5f;
  csm_tensor x = unary_input((float[]){-2.5f, 2.5f}, 2, 3);
  check(&nd, &x, "hard sigmoid 0.2/0.5");
  csm_tensor_free(&x);
  nd.a.alpha = 1.0f / 6.0f;
  nd.a.beta = 0.5f;
  x = unary_input((float[]){-3.0f, 3.0f}, 2, 4);
  check(&nd, &x, "hard sigmoid 1/6");
  csm_tensor_free(&x);

  nd = csm_test_node(CSM_OP_HARD_SWISH, 1);
  x = unary_input((float[]){-3.0f, 3.0f}, 2, 5);
  check(&nd, &x, "hard swish");
  csm_tensor_free(&x);

  nd = csm_test_node(CSM_OP_RECIPROCAL, 1);
  x = unary_input(NULL, 0, 6);
  float *v = x.data;
  for (size_t i = 0; i < csm_tensor_numel(&x); i++)
    v[i] = v[i] < 0 ? v[i] - 0.5f : v[i] + 0.5f; /* |x| >= 0.5 */
  csm_test_context = "reciprocal";
  csm_grad_check_operand(&nd, &x, 0, &(csm_grad_check){.eps = 1e-3, .rel_tol = 2e-2});
  csm_test_context = "";
  csm_tensor_free(&x);

  /* The kinks take the documented sides: HardSwish -1/2 at -3 and 3/2 at 3
   * (PyTorch's), HardSigmoid 0 at both ends. */
  const float at[4] = {-3.0f, 3.0f, -2.5f, 2.5f};
  const float want_swish[4] = {-0.5f, 1.5f, -2.5f / 3.0f + 0.5f, 2.5f / 3.0f + 0.5f};
  csm_tensor xt = csm_test_tensor_f32(1, (int64_t[]){4}, at), out, din, dout;
  const float ones[4] = {1, 1, 1, 1};
  nd = csm_test_node(CSM_OP_HARD_SWISH, 1);
  CSM_ASSERT_OK(csm_test_run_op(&nd, &xt, &out));
  dout = csm_test_tensor_f32(1, (int64_t[]){4}, ones);
  CSM_ASSERT_OK(csm_tensor_alloc(&din, CSM_F32, &xt.shape));
  memset(din.data, 0, 4 * sizeof(float));
  csm_backward_args a = {&nd, &xt, &out, &dout, 0, &din};
  CSM_ASSERT_OK(csm_backward_get(nd.op)(&a));
  csm_test_assert_close(din.data, want_swish, 4, 1e-6f, 0);
  csm_tensor_free(&out);
  nd = csm_test_node(CSM_OP_HARD_SIGMOID, 1);
  nd.a.alpha = 0.2f;
  nd.a.beta = 0.5f;
  xt = csm_test_tensor_f32(1, (int64_t[]){4}, (float[]){-2.0f, 2.0f, -2.5f, 2.5f});
  a.in = &xt;
  CSM_ASSERT_OK(csm_test_run_op(&nd, &xt, &out));
  memset(din.data, 0, 4 * sizeof(float));
  a.node = &nd;
  CSM_ASSERT_OK(csm_backward_get(nd.op)(&a));
  csm_test_assert_close(din.data, (float[]){0.2f, 0.2f, 0.0f, 0.0f}, 4, 1e-7f, 0);
  csm_tensor_free(&out);
  csm_tensor_free(&din);
}

static void test_log_softmax(void **state) {
  (void)state;
  csm_node nd = csm_test_node(CSM_OP_LOG_SOFTMAX, 1);
  csm_tensor x = make_uniform(3, (int64_t[]){2, 3, 6}, 8, -3.0f, 3.0f);
  check(&nd, &x, "log softmax");
  float *v = x.data;
  for (size_t i = 0; i < csm_tensor_numel(&x); i++)
    v[i] += 500.0f; /* large values: stable */
  csm_test_context = "log softmax, large";
  csm_grad_check_operand(&nd, &x, 0, &(csm_grad_check){.eps = 0.05, .abs_tol = 1e-2});
  csm_test_context = "";
  csm_tensor_free(&x);
}

/* ---- resize ----------------------------------------------------------------- */

static void check_resize(int op, int n_in, const int32_t size[2], const float scale[2], int align,
                         int half, csm_nearest_mode mode, const char *ctx) {
  csm_node nd = csm_test_node(op, n_in);
  nd.a.align_corners = align;
  nd.a.half_pixel_centers = half;
  nd.a.nearest_mode = mode;
  if (scale) {
    nd.a.scale[0] = scale[0];
    nd.a.scale[1] = scale[1];
  }
  csm_tensor in[2];
  in[0] = make_uniform(4, (int64_t[]){2, 3, 4, 2}, 9, -1.0f, 1.0f);
  if (n_in == 2) {
    in[1] = make(1, (int64_t[]){2});
    in[1].dtype = CSM_I32; /* the same 8 bytes hold two int32 */
    memcpy(in[1].data, size, 2 * sizeof(int32_t));
  }
  check(&nd, in, ctx);
  for (int i = 0; i < n_in; i++)
    csm_tensor_free(&in[i]);
}

static void test_resize(void **state) {
  (void)state;
  const int N = CSM_OP_RESIZE_NEAREST, B = CSM_OP_RESIZE_BILINEAR;
  check_resize(N, 2, (int32_t[]){7, 9}, NULL, 0, 0, CSM_NEAREST_FLOOR, "nearest asym up");
  check_resize(N, 2, (int32_t[]){2, 3}, NULL, 0, 1, CSM_NEAREST_ROUND_PREFER_FLOOR,
               "nearest half down");
  check_resize(N, 2, (int32_t[]){5, 6}, NULL, 1, 0, CSM_NEAREST_ROUND_PREFER_CEIL, "nearest align");
  check_resize(N, 2, (int32_t[]){6, 8}, NULL, 0, 1, CSM_NEAREST_CEIL, "nearest half ceil");
  check_resize(N, 1, NULL, (float[]){2.0f, 2.6f}, 0, 0, CSM_NEAREST_FLOOR, "nearest scales");
  check_resize(N, 1, NULL, (float[]){0.7f, 1.5f}, 0, 1, CSM_NEAREST_ROUND_PREFER_FLOOR,
               "nearest scales half");
  check_resize(B, 1, NULL, (float[]){2.0f, 1.7f}, 0, 1, 0, "bilinear scales half");
  check_resize(B, 1, NULL, (float[]){1.5f, 2.6f}, 0, 0, 0, "bilinear scales asym");
  check_resize(B, 1, NULL, (float[]){2.0f, 2.0f}, 1, 0, 0, "bilinear scales align");
}

/* ---- pools ------------------------------------------------------------------ */

static void check_pool(int op, int64_t h, int64_t w, int k0, int k1, int s0, int s1,
                       csm_padding pad, const int pads[4], int ceil_mode, int include_pad,
                       const char *ctx) {
  csm_node nd = csm_test_node(op, 1);
  nd.a.ksize[0] = k0;
  nd.a.ksize[1] = k1;
  nd.a.stride[0] = s0;
  nd.a.stride[1] = s1;
  nd.a.padding = pad;
  if (pads) memcpy(nd.a.pads, pads, 4 * sizeof(int));
  nd.a.ceil_mode = ceil_mode;
  nd.a.count_include_pad = include_pad;
  csm_tensor x = make(4, (int64_t[]){2, h, w, 3});
  if (op == CSM_OP_MAXPOOL)
    fill_distinct(&x);
  else
    csm_test_fill_uniform(x.data, csm_tensor_numel(&x), 17, -1.0f, 1.0f);
  check(&nd, &x, ctx);
  csm_tensor_free(&x);
}

static void test_pools(void **state) {
  (void)state;
  const int A = CSM_OP_AVGPOOL, M = CSM_OP_MAXPOOL;
  const int p1[4] = {1, 1, 1, 1}, pa[4] = {2, 0, 1, 1};
  check_pool(A, 5, 6, 3, 3, 2, 2, CSM_PAD_EXPLICIT, p1, 0, 1, "avg include pad");
  check_pool(A, 5, 6, 3, 3, 2, 2, CSM_PAD_EXPLICIT, p1, 1, 1, "avg ceil include pad");
  check_pool(A, 5, 6, 3, 3, 2, 2, CSM_PAD_EXPLICIT, p1, 1, 0, "avg ceil");
  check_pool(A, 6, 7, 3, 2, 2, 3, CSM_PAD_EXPLICIT, pa, 1, 1, "avg ceil asym include pad");
  check_pool(A, 5, 5, 2, 2, 2, 2, CSM_PAD_VALID, NULL, 1, 1, "avg valid ceil include pad");
  check_pool(M, 5, 5, 2, 2, 2, 2, CSM_PAD_VALID, NULL, 1, 0, "max valid ceil");
  check_pool(M, 6, 7, 3, 2, 2, 3, CSM_PAD_EXPLICIT, pa, 1, 0, "max ceil asym");
  check_pool(A, 5, 6, 2, 3, 1, 2, CSM_PAD_SAME_LOWER, NULL, 0, 0, "avg same lower");
  check_pool(A, 5, 6, 2, 3, 1, 2, CSM_PAD_SAME_LOWER, NULL, 0, 1, "avg same lower include pad");
  check_pool(M, 5, 6, 2, 3, 1, 2, CSM_PAD_SAME_LOWER, NULL, 0, 0, "max same lower");
}

/* ---- SAME_LOWER convolutions ---------------------------------------------- */

static void test_conv_same_lower(void **state) {
  (void)state;
  for (int op = 0; op < 2; op++) {
    csm_node nd = csm_test_node(op ? CSM_OP_DEPTHWISE_CONV2D : CSM_OP_CONV2D, 2);
    nd.a.padding = CSM_PAD_SAME_LOWER;
    nd.a.stride[0] = 1;
    nd.a.stride[1] = 2;
    csm_tensor in[2];
    in[0] = make_uniform(4, (int64_t[]){2, 5, 6, 3}, 21, -1.0f, 1.0f);
    in[1] = make_uniform(4, (int64_t[]){2, 3, 3, 2}, 22, -1.0f, 1.0f);
    check(&nd, in, op ? "depthwise same lower" : "conv same lower");
    csm_tensor_free(&in[0]);
    csm_tensor_free(&in[1]);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tconv),       cmocka_unit_test(test_unary),
      cmocka_unit_test(test_log_softmax), cmocka_unit_test(test_resize),
      cmocka_unit_test(test_pools),       cmocka_unit_test(test_conv_same_lower),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
