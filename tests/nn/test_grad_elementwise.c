/* Backward passes of the binary (broadcasting), unary, softmax and
 * reduction ops, checked against central finite differences
 * (support/grad_check.h) for every differentiated operand. Inputs are kept
 * away from kinks and ties by more than the step, so the function is smooth
 * over [x - eps, x + eps] at every checked point. */
#include "csm_test.h"
#include "grad_check.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "nn/ops/op.h"

enum { MAXN = 256 };

/* Moves values closer than 0.05 to `kink` 0.1 away from it (the step is 0.01). */
static void away_from(float *x, size_t n, float kink) {
  for (size_t i = 0; i < n; i++)
    if (fabsf(x[i] - kink) < 0.05f) x[i] = kink + (x[i] >= kink ? 0.1f : -0.1f);
}

/* Values on the grid 0.1 * k + off: two operands on grids offset by 0.05 are
 * never within 0.05 of each other (Maximum/Minimum have no ties nearby). */
static void fill_grid(float *x, size_t n, uint32_t seed, float off) {
  csm_test_fill_uniform(x, n, seed, -2.0f, 2.0f);
  for (size_t i = 0; i < n; i++)
    x[i] = roundf(x[i] * 10.0f) / 10.0f + off;
}

/* n distinct values 0.05 apart in a random order (no ties within a group). */
static void fill_distinct(float *x, size_t n, uint32_t seed) {
  uint32_t s = seed;
  for (size_t i = 0; i < n; i++)
    x[i] = -3.0f + 0.05f * (float)i;
  for (size_t i = n; i > 1; i--) {
    s = s * 1664525u + 1013904223u;
    size_t j = (size_t)(s >> 8) % i;
    float t = x[i - 1];
    x[i - 1] = x[j];
    x[j] = t;
  }
}

static size_t numel(int rank, const int64_t *d) {
  size_t n = 1;
  for (int i = 0; i < rank; i++)
    n *= (size_t)d[i];
  return n;
}

/* ---- binary ops ---- */

typedef struct shape_case {
  int ra;
  int64_t da[4];
  int rb;
  int64_t db[4];
} shape_case;

static const shape_case k_bin_cases[] = {
    {3, {2, 3, 4}, 3, {2, 3, 4}},       /* same shapes */
    {4, {2, 3, 4, 5}, 1, {5}},          /* b broadcast over the leading dims */
    {1, {5}, 4, {2, 3, 4, 5}},          /* a broadcast */
    {4, {2, 1, 4, 1}, 4, {1, 3, 1, 5}}, /* both broadcast, interleaved */
    {3, {2, 1, 3}, 2, {4, 1}},          /* ranks differ, both broadcast */
    {2, {2, 3}, 0, {0}},                /* b scalar */
    {0, {0}, 2, {2, 3}},                /* a scalar */
    {4, {2, 3, 4, 5}, 4, {1, 3, 1, 1}}, /* b per-"row" */
};

static void fill_operands(csm_op_kind op, float *a, size_t na, float *b, size_t nb, uint32_t seed) {
  if (op == CSM_OP_MAXIMUM || op == CSM_OP_MINIMUM) {
    fill_grid(a, na, seed, 0.05f);
    fill_grid(b, nb, seed + 1, 0.0f);
    return;
  }
  csm_test_fill_uniform(a, na, seed, -2.0f, 2.0f);
  csm_test_fill_uniform(b, nb, seed + 1, -2.0f, 2.0f);
  if (op == CSM_OP_DIV) /* |b| in [0.5, 2] */
    for (size_t i = 0; i < nb; i++)
      b[i] = b[i] < 0 ? -0.5f + 0.75f * b[i] : 0.5f + 0.75f * b[i];
}

static void test_binary(void **state) {
  (void)state;
  const csm_op_kind ops[] = {CSM_OP_ADD, CSM_OP_SUB,     CSM_OP_MUL,
                             CSM_OP_DIV, CSM_OP_MAXIMUM, CSM_OP_MINIMUM};
  char ctx[160];
  float a[MAXN], b[MAXN];
  for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++) {
    for (size_t c = 0; c < sizeof k_bin_cases / sizeof k_bin_cases[0]; c++) {
      const shape_case *sc = &k_bin_cases[c];
      size_t na = numel(sc->ra, sc->da), nb = numel(sc->rb, sc->db);
      fill_operands(ops[o], a, na, b, nb, (uint32_t)(10 * o + c + 1));
      csm_node n = csm_test_node(ops[o], 2);
      csm_tensor in[2] = {csm_test_tensor_f32(sc->ra, sc->da, a),
                          csm_test_tensor_f32(sc->rb, sc->db, b)};
      for (int k = 0; k < 2; k++) {
        snprintf(ctx, sizeof ctx, "shape case %zu", c);
        csm_test_context = ctx;
        csm_grad_check_operand(&n, in, k, NULL);
      }
    }
  }
  csm_test_context = "";
}

/* PReLU with a per-channel alpha ([C] and [1,1,C]) and a single shared one;
 * x away from the kink at 0, negative and positive alphas. */
static void test_prelu(void **state) {
  (void)state;
  enum { N = 2, H = 3, W = 4, C = 5 };
  float x[N * H * W * C], al[C];
  const int64_t xd[4] = {N, H, W, C};
  const int64_t ad[3][3] = {{C}, {1, 1, C}, {1}};
  const int ar[3] = {1, 3, 1};
  char ctx[64];
  for (int c = 0; c < 3; c++) {
    csm_test_fill_uniform(x, N * H * W * C, 31 + (uint32_t)c, -2.0f, 2.0f);
    away_from(x, N * H * W * C, 0.0f);
    csm_test_fill_uniform(al, C, 41 + (uint32_t)c, -0.5f, 1.5f);
    csm_node n = csm_test_node(CSM_OP_PRELU, 2);
    csm_tensor in[2] = {csm_test_tensor_f32(4, xd, x), csm_test_tensor_f32(ar[c], ad[c], al)};
    for (int k = 0; k < 2; k++) {
      snprintf(ctx, sizeof ctx, "prelu alpha case %d", c);
      csm_test_context = ctx;
      csm_grad_check_operand(&n, in, k, NULL);
    }
  }
  csm_test_context = "";
}

/* ---- unary ops ---- */

static void test_unary(void **state) {
  (void)state;
  const struct {
    csm_op_kind op;
    float lo, hi, kink1, kink2; /* NAN: no kink */
  } cases[] = {
      {CSM_OP_RELU, -2, 2, 0, NAN},       {CSM_OP_RELU6, -2, 8, 0, 6},
      {CSM_OP_LEAKY_RELU, -2, 2, 0, NAN}, {CSM_OP_SIGMOID, -4, 4, NAN, NAN},
      {CSM_OP_TANH, -3, 3, NAN, NAN},     {CSM_OP_ABS, -2, 2, 0, NAN},
      {CSM_OP_SQUARE, -2, 2, NAN, NAN},   {CSM_OP_SQRT, 0.3f, 4, NAN, NAN},
      {CSM_OP_RSQRT, 0.5f, 4, NAN, NAN},  {CSM_OP_EXP, -2, 2, NAN, NAN},
      {CSM_OP_NEG, -2, 2, NAN, NAN},
  };
  const int64_t d[4] = {2, 3, 4, 5};
  float x[120];
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    csm_test_fill_uniform(x, 120, 50 + (uint32_t)c, cases[c].lo, cases[c].hi);
    if (!isnan(cases[c].kink1)) away_from(x, 120, cases[c].kink1);
    if (!isnan(cases[c].kink2)) away_from(x, 120, cases[c].kink2);
    csm_node n = csm_test_node(cases[c].op, 1);
    n.a.alpha = 0.2f;
    csm_tensor in = csm_test_tensor_f32(4, d, x);
    csm_grad_check_operand(&n, &in, 0, NULL);
  }
}

/* The slopes at and around the kinks, exactly: they are a documented choice
 * that finite differences cannot check. */
static void test_unary_kinks(void **state) {
  (void)state;
  const float x[5] = {-1, 0, 3, 6, 7};
  const int64_t d[1] = {5};
  const struct {
    csm_op_kind op;
    float want[5];
  } cases[] = {
      {CSM_OP_RELU, {0, 0, 1, 1, 1}},
      {CSM_OP_RELU6, {0, 0, 1, 0, 0}},
      {CSM_OP_LEAKY_RELU, {0.2f, 0.2f, 1, 1, 1}},
      {CSM_OP_ABS, {-1, 0, 1, 1, 1}},
  };
  const float ones[5] = {1, 1, 1, 1, 1};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    csm_node n = csm_test_node(cases[c].op, 1);
    n.a.alpha = 0.2f;
    csm_tensor in = csm_test_tensor_f32(1, d, x), out, din;
    CSM_ASSERT_OK(csm_test_run_op(&n, &in, &out));
    csm_tensor dout = csm_test_tensor_f32(1, d, ones);
    CSM_ASSERT_OK(csm_tensor_alloc(&din, CSM_F32, &in.shape));
    memset(din.data, 0, sizeof(float) * 5);
    csm_backward_args a = {&n, &in, &out, &dout, 0, &din};
    CSM_ASSERT_OK(csm_backward_get(n.op)(&a));
    csm_test_context = csm_op_name(n.op);
    csm_test_assert_close(din.data, cases[c].want, 5, 0, 0);
    csm_tensor_free(&din);
    csm_tensor_free(&out);
  }
  csm_test_context = "";
}

/* Maximum/Minimum ties and PReLU at 0: the whole gradient goes to a. */
static void test_binary_ties(void **state) {
  (void)state;
  const float a[3] = {1, 2, 0}, b[3] = {1, 3, -1}, ones[3] = {1, 1, 1};
  const int64_t d[1] = {3};
  const struct {
    csm_op_kind op;
    float wa[3], wb[3];
  } cases[] = {
      {CSM_OP_MAXIMUM, {1, 0, 1}, {0, 1, 0}},
      {CSM_OP_MINIMUM, {1, 1, 0}, {0, 0, 1}},
      {CSM_OP_PRELU, {1, 1, -1}, {0, 0, 0}}, /* x = 0: slope alpha, alpha gets x = 0 */
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    csm_node n = csm_test_node(cases[c].op, 2);
    csm_tensor in[2] = {csm_test_tensor_f32(1, d, a), csm_test_tensor_f32(1, d, b)}, out, din;
    CSM_ASSERT_OK(csm_test_run_op(&n, in, &out));
    csm_tensor dout = csm_test_tensor_f32(1, d, ones);
    csm_test_context = csm_op_name(n.op);
    for (int k = 0; k < 2; k++) {
      CSM_ASSERT_OK(csm_tensor_alloc(&din, CSM_F32, &in[k].shape));
      memset(din.data, 0, sizeof(float) * 3);
      csm_backward_args ar = {&n, in, &out, &dout, k, &din};
      CSM_ASSERT_OK(csm_backward_get(n.op)(&ar));
      csm_test_assert_close(din.data, k ? cases[c].wb : cases[c].wa, 3, 0, 0);
      csm_tensor_free(&din);
    }
    csm_tensor_free(&out);
  }
  csm_test_context = "";
}

/* ---- softmax ---- */

static void test_softmax(void **state) {
  (void)state;
  const struct {
    int rank;
    int64_t d[3];
  } cases[] = {{2, {3, 7}}, {3, {2, 2, 5}}, {1, {6}}, {2, {4, 1}}};
  float x[64];
  char ctx[64];
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    size_t nx = numel(cases[c].rank, cases[c].d);
    csm_test_fill_uniform(x, nx, 70 + (uint32_t)c, -2.0f, 2.0f);
    csm_node n = csm_test_node(CSM_OP_SOFTMAX, 1);
    csm_tensor in = csm_test_tensor_f32(cases[c].rank, cases[c].d, x);
    snprintf(ctx, sizeof ctx, "softmax case %zu", c);
    csm_test_context = ctx;
    csm_grad_check_operand(&n, &in, 0, NULL);
  }
  csm_test_context = "";
}

/* ---- reductions ---- */

static void test_reduce(void **state) {
  (void)state;
  const csm_op_kind ops[] = {CSM_OP_REDUCE_MEAN, CSM_OP_REDUCE_SUM, CSM_OP_REDUCE_MAX};
  const struct {
    int rank; /* of the axes operand: 0 scalar, 1 vector */
    int n;
    int32_t axes[4];
  } axes[] = {
      {1, 0, {0}},              /* empty: nothing reduced */
      {1, 1, {0}},              /* batch */
      {1, 1, {-1}},             /* channels, negative */
      {1, 2, {1, 2}},           /* spatial (global pooling) */
      {1, 2, {0, 3}},           /* outer and inner */
      {1, 2, {3, 1}},           /* unordered */
      {1, 2, {2, -2}},          /* a repeat through a negative axis */
      {1, 4, {-4, -3, -2, -1}}, /* everything */
      {0, 1, {1}},              /* a scalar axis */
  };
  const int64_t xd[4] = {2, 3, 4, 5};
  float x[120];
  char ctx[128];
  for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++) {
    for (size_t c = 0; c < sizeof axes / sizeof axes[0]; c++) {
      for (int keep = 0; keep < 2; keep++) {
        if (ops[o] == CSM_OP_REDUCE_MAX)
          fill_distinct(x, 120, 90 + (uint32_t)c);
        else
          csm_test_fill_uniform(x, 120, 90 + (uint32_t)c, -2.0f, 2.0f);
        int64_t an = axes[c].n;
        csm_node n = csm_test_node(ops[o], 2);
        n.a.keep_dims = keep;
        csm_tensor in[2] = {csm_test_tensor_f32(4, xd, x),
                            csm_test_tensor_i32(axes[c].rank, &an, axes[c].axes)};
        snprintf(ctx, sizeof ctx, "axes case %zu keep_dims %d", c, keep);
        csm_test_context = ctx;
        csm_grad_check_operand(&n, in, 0, NULL);
      }
    }
  }
  csm_test_context = "";
}

/* ReduceMax ties: the first maximal element (row-major) gets the gradient. */
static void test_reduce_max_ties(void **state) {
  (void)state;
  const float x[6] = {1, 3, 3, 5, 2, 5};
  const float g[2] = {10, 20};
  const float want[6] = {0, 10, 0, 20, 0, 0};
  const int64_t xd[2] = {2, 3}, one = 1;
  const int32_t ax = 1;
  csm_node n = csm_test_node(CSM_OP_REDUCE_MAX, 2);
  csm_tensor in[2] = {csm_test_tensor_f32(2, xd, x), csm_test_tensor_i32(1, &one, &ax)}, out, din;
  CSM_ASSERT_OK(csm_test_run_op(&n, in, &out));
  csm_tensor dout = csm_test_tensor_f32(1, (int64_t[]){2}, g);
  CSM_ASSERT_OK(csm_tensor_alloc(&din, CSM_F32, &in[0].shape));
  memset(din.data, 0, sizeof(float) * 6);
  csm_backward_args a = {&n, in, &out, &dout, 0, &din};
  CSM_ASSERT_OK(csm_backward_get(n.op)(&a));
  csm_test_assert_close(din.data, want, 6, 0, 0);
  csm_tensor_free(&din);
  csm_tensor_free(&out);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_binary),      cmocka_unit_test(test_prelu),
      cmocka_unit_test(test_binary_ties), cmocka_unit_test(test_unary),
      cmocka_unit_test(test_unary_kinks), cmocka_unit_test(test_softmax),
      cmocka_unit_test(test_reduce),      cmocka_unit_test(test_reduce_max_ties),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
