/* Backward passes of Conv2D, DepthwiseConv2D and MatMul against central
 * finite differences (grad_check.h): paddings (VALID, SAME with odd and even
 * totals, EXPLICIT), strides, dilations, channel multipliers, transposes,
 * and every fused activation after the bias, PReLU with negative slopes.
 *
 * With an activation, the data keep every pre-activation away from the
 * kinks: x is a multiple of 1/8 in [-1, 1], weights are integers in
 * [-2, 2] and the bias is 1/16 plus a multiple of 1/8, so a pre-activation
 * is exact and at least 1/16 from 0 and 6, while a finite-difference step
 * (1e-2 in one element) moves it by at most 0.02. */
#include "csm_test.h"
#include "grad_check.h"

#include <stdio.h>
#include <stdlib.h>

enum { MAXT = 5 };

typedef struct op_case {
  csm_node node;
  csm_tensor in[MAXT];
  int n_in;
} op_case;

static csm_tensor make(int rank, const int64_t *dims) {
  csm_tensor t;
  csm_shape s = csm_shape_make(rank, dims);
  CSM_ASSERT_OK(csm_tensor_alloc(&t, CSM_F32, &s));
  return t;
}

/* Multiples of 1/8 in [-1, 1]. */
static void fill_eighths(csm_tensor *t, uint32_t seed) {
  float *x = t->data;
  size_t n = csm_tensor_numel(t);
  csm_test_fill_uniform(x, n, seed, -8.49f, 8.49f);
  for (size_t i = 0; i < n; i++)
    x[i] = (float)lrintf(x[i]) / 8.0f;
}

/* Integers in [-2, 2]. */
static void fill_ints(csm_tensor *t, uint32_t seed) {
  float *x = t->data;
  size_t n = csm_tensor_numel(t);
  csm_test_fill_uniform(x, n, seed, -2.49f, 2.49f);
  for (size_t i = 0; i < n; i++)
    x[i] = (float)lrintf(x[i]);
}

/* 1/16 + a multiple of 1/8. */
static void fill_bias(csm_tensor *t, uint32_t seed) {
  fill_eighths(t, seed);
  float *x = t->data;
  for (size_t i = 0; i < csm_tensor_numel(t); i++)
    x[i] += 1.0f / 16.0f;
}

static void free_case(op_case *c) {
  for (int i = 0; i < c->n_in; i++)
    csm_tensor_free(&c->in[i]);
}

/* Adds the fused operands (bias?, alpha?) for `channels` outputs. PReLU
 * slopes are in [-1.5, 1.5] (negative ones included). */
static void add_fused(op_case *c, int has_bias, csm_activation act, int64_t channels) {
  c->node.a.has_bias = has_bias;
  c->node.a.act = act;
  c->node.a.alpha = 0.2f;
  if (has_bias) {
    c->in[c->n_in] = make(1, (int64_t[]){channels});
    fill_bias(&c->in[c->n_in], 99);
    c->n_in++;
  }
  if (act == CSM_ACT_PRELU) {
    c->in[c->n_in] = make(1, (int64_t[]){channels});
    float *al = c->in[c->n_in].data;
    for (int64_t i = 0; i < channels; i++)
      al[i] = -1.5f + 3.0f * (float)i / (float)(channels > 1 ? channels - 1 : 1);
    c->n_in++;
  }
  c->node.n_in = c->n_in;
}

/* A conv (or depthwise) case: x [n,h,w,ci], filter [kh,kw,ci,co_or_mult]. */
static op_case conv_case(int op, int64_t n, int64_t h, int64_t w, int64_t ci, int64_t kh,
                         int64_t kw, int64_t co, csm_attrs a, int has_bias, csm_activation act) {
  op_case c;
  memset(&c, 0, sizeof c);
  c.node = csm_test_node(op, 2);
  c.node.a = a;
  c.in[0] = make(4, (int64_t[]){n, h, w, ci});
  c.in[1] = make(4, (int64_t[]){kh, kw, ci, co});
  c.n_in = 2;
  fill_eighths(&c.in[0], 11);
  fill_ints(&c.in[1], 23);
  add_fused(&c, has_bias, act, op == CSM_OP_DEPTHWISE_CONV2D ? ci * co : co);
  return c;
}

static void check_x(op_case *c, const char *ctx) {
  csm_test_context = ctx;
  csm_grad_check_operand(&c->node, c->in, 0, NULL);
  csm_test_context = "";
}

static csm_attrs attrs(csm_padding pad, int s, int d) {
  csm_attrs a = csm_attrs_default();
  a.padding = pad;
  a.stride[0] = a.stride[1] = s;
  a.dilation[0] = a.dilation[1] = d;
  return a;
}

/* ---- Conv2D ---------------------------------------------------------------- */

static void test_conv_paddings(void **state) {
  (void)state;
  struct {
    const char *name;
    csm_attrs a;
    int64_t h, w, kh, kw;
  } cases[] = {
      {"valid", attrs(CSM_PAD_VALID, 1, 1), 5, 6, 3, 2},
      {"same odd total", attrs(CSM_PAD_SAME, 1, 1), 5, 5, 2, 2},
      {"same even total", attrs(CSM_PAD_SAME, 1, 1), 5, 4, 3, 3},
      {"same stride 2", attrs(CSM_PAD_SAME, 2, 1), 6, 7, 3, 3},
      {"valid stride 2", attrs(CSM_PAD_VALID, 2, 1), 7, 6, 3, 2},
      {"dilation 2", attrs(CSM_PAD_VALID, 1, 2), 7, 7, 3, 2},
      {"same dilation 2", attrs(CSM_PAD_SAME, 1, 2), 6, 5, 3, 3},
      {"explicit", attrs(CSM_PAD_EXPLICIT, 1, 1), 4, 5, 3, 3},
      {"explicit stride 2", attrs(CSM_PAD_EXPLICIT, 2, 1), 6, 6, 3, 3},
      {"1x1", attrs(CSM_PAD_VALID, 1, 1), 4, 4, 1, 1},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    csm_attrs a = cases[i].a;
    if (a.padding == CSM_PAD_EXPLICIT) {
      a.pads[0] = 1;
      a.pads[1] = 2;
      a.pads[2] = 0;
      a.pads[3] = 1;
    }
    op_case c = conv_case(CSM_OP_CONV2D, 2, cases[i].h, cases[i].w, 3, cases[i].kh, cases[i].kw, 4,
                          a, 0, CSM_ACT_NONE);
    check_x(&c, cases[i].name);
    free_case(&c);
  }
}

static void test_conv_fused(void **state) {
  (void)state;
  const csm_activation acts[] = {CSM_ACT_NONE, CSM_ACT_RELU, CSM_ACT_RELU6, CSM_ACT_LEAKY_RELU,
                                 CSM_ACT_PRELU};
  const char *names[] = {"bias", "bias+relu", "bias+relu6", "bias+leaky", "bias+prelu"};
  for (int i = 0; i < 5; i++) {
    op_case c =
        conv_case(CSM_OP_CONV2D, 2, 5, 5, 3, 3, 3, 5, attrs(CSM_PAD_SAME, 1, 1), 1, acts[i]);
    check_x(&c, names[i]);
    free_case(&c);
    /* Without a bias (pre-activations may then sit on a kink): linear only. */
    if (acts[i] == CSM_ACT_NONE) {
      c = conv_case(CSM_OP_CONV2D, 1, 6, 6, 2, 3, 3, 4, attrs(CSM_PAD_SAME, 2, 1), 0, acts[i]);
      check_x(&c, "no bias, stride 2");
      free_case(&c);
    }
  }
}

/* A one-slope PReLU operand is a leaky ReLU with that (negative) slope. */
static void test_conv_prelu_shared_negative(void **state) {
  (void)state;
  op_case c =
      conv_case(CSM_OP_CONV2D, 1, 4, 4, 2, 2, 2, 3, attrs(CSM_PAD_VALID, 1, 1), 1, CSM_ACT_NONE);
  c.node.a.act = CSM_ACT_PRELU;
  c.in[c.n_in] = make(1, (int64_t[]){1});
  ((float *)c.in[c.n_in].data)[0] = -0.7f;
  c.n_in++;
  c.node.n_in = c.n_in;
  check_x(&c, "shared negative prelu");
  free_case(&c);
}

/* ---- DepthwiseConv2D ------------------------------------------------------- */

static void test_depthwise(void **state) {
  (void)state;
  struct {
    const char *name;
    csm_attrs a;
    int64_t mult;
    int bias;
    csm_activation act;
  } cases[] = {
      {"dw valid", attrs(CSM_PAD_VALID, 1, 1), 1, 0, CSM_ACT_NONE},
      {"dw same stride 2", attrs(CSM_PAD_SAME, 2, 1), 1, 1, CSM_ACT_RELU},
      {"dw dilation 2", attrs(CSM_PAD_SAME, 1, 2), 1, 1, CSM_ACT_RELU6},
      {"dw multiplier 2", attrs(CSM_PAD_SAME, 1, 1), 2, 1, CSM_ACT_PRELU},
      {"dw multiplier 2 stride 2", attrs(CSM_PAD_VALID, 2, 1), 2, 1, CSM_ACT_LEAKY_RELU},
      {"dw explicit", attrs(CSM_PAD_EXPLICIT, 1, 1), 2, 0, CSM_ACT_NONE},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    csm_attrs a = cases[i].a;
    if (a.padding == CSM_PAD_EXPLICIT) {
      a.pads[0] = 2;
      a.pads[1] = 0;
      a.pads[2] = 1;
      a.pads[3] = 1;
    }
    /* 5 channels: both the vector and the scalar paths of the forward. */
    op_case c = conv_case(CSM_OP_DEPTHWISE_CONV2D, 2, 6, 7, 5, 3, 3, cases[i].mult, a,
                          cases[i].bias, cases[i].act);
    check_x(&c, cases[i].name);
    free_case(&c);
  }
}

/* ---- MatMul ---------------------------------------------------------------- */

static op_case mm_case(int64_t m, int64_t k, int64_t n, int ta, int tb, int bias,
                       csm_activation act) {
  op_case c;
  memset(&c, 0, sizeof c);
  c.node = csm_test_node(CSM_OP_MATMUL, 2);
  c.node.a.transpose_a = ta;
  c.node.a.transpose_b = tb;
  c.in[0] = ta ? make(2, (int64_t[]){k, m}) : make(2, (int64_t[]){m, k});
  c.in[1] = tb ? make(2, (int64_t[]){n, k}) : make(2, (int64_t[]){k, n});
  c.n_in = 2;
  fill_eighths(&c.in[0], 5);
  fill_ints(&c.in[1], 6);
  add_fused(&c, bias, act, n);
  return c;
}

static void test_matmul(void **state) {
  (void)state;
  const csm_activation acts[] = {CSM_ACT_NONE, CSM_ACT_RELU, CSM_ACT_RELU6, CSM_ACT_LEAKY_RELU,
                                 CSM_ACT_PRELU};
  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++)
      for (int ai = 0; ai < 5; ai++) {
        char ctx[96];
        int bias = ai > 0 || (ta ^ tb);
        if (acts[ai] != CSM_ACT_NONE && !bias) continue;
        op_case c = mm_case(3, 7, 5, ta, tb, bias, acts[ai]);
        snprintf(ctx, sizeof ctx, "matmul ta=%d tb=%d act=%d bias=%d (a)", ta, tb, ai, bias);
        csm_test_context = ctx;
        csm_grad_check_operand(&c.node, c.in, 0, NULL);
        snprintf(ctx, sizeof ctx, "matmul ta=%d tb=%d act=%d bias=%d (b)", ta, tb, ai, bias);
        csm_grad_check_operand(&c.node, c.in, 1, NULL);
        csm_test_context = "";
        free_case(&c);
      }
}

/* Leading dimensions of a fold into the rows: [2,3,K] x [K,N]. */
static void test_matmul_batched(void **state) {
  (void)state;
  op_case c;
  memset(&c, 0, sizeof c);
  c.node = csm_test_node(CSM_OP_MATMUL, 2);
  c.in[0] = make(3, (int64_t[]){2, 3, 6});
  c.in[1] = make(2, (int64_t[]){6, 4});
  c.n_in = 2;
  fill_eighths(&c.in[0], 8);
  fill_ints(&c.in[1], 9);
  add_fused(&c, 1, CSM_ACT_RELU, 4);
  csm_test_context = "matmul rank 3";
  csm_grad_check_operand(&c.node, c.in, 0, NULL);
  csm_grad_check_operand(&c.node, c.in, 1, NULL);
  csm_test_context = "";
  free_case(&c);
}

/* Unquantized random data without an activation: a plain linear check with
 * larger shapes (the GEMM's blocked paths). */
static void test_conv_random_large(void **state) {
  (void)state;
  op_case c =
      conv_case(CSM_OP_CONV2D, 2, 13, 11, 7, 3, 3, 19, attrs(CSM_PAD_SAME, 2, 1), 1, CSM_ACT_NONE);
  csm_test_fill_uniform(c.in[0].data, csm_tensor_numel(&c.in[0]), 3, -1.0f, 1.0f);
  csm_test_fill_uniform(c.in[1].data, csm_tensor_numel(&c.in[1]), 4, -1.0f, 1.0f);
  csm_grad_check opt = {.max_points = 300};
  csm_test_context = "conv 13x11x7 -> 19";
  csm_grad_check_operand(&c.node, c.in, 0, &opt);
  csm_test_context = "";
  free_case(&c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_conv_paddings),
      cmocka_unit_test(test_conv_fused),
      cmocka_unit_test(test_conv_prelu_shared_negative),
      cmocka_unit_test(test_depthwise),
      cmocka_unit_test(test_matmul),
      cmocka_unit_test(test_matmul_batched),
      cmocka_unit_test(test_conv_random_large),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
