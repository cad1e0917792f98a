/* Binary (broadcasting), unary and softmax ops: hand-computed cases, edge
 * values, shape errors, and bit equality across batch sizes and threads. */
#include "csm_test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/ops/op.h"

static csm_tensor run_bin(csm_op_kind op, csm_tensor a, csm_tensor b) {
  csm_node n = csm_test_node(op, 2);
  csm_tensor in[2] = {a, b}, out;
  CSM_ASSERT_OK(csm_test_run_op(&n, in, &out));
  return out;
}

static csm_tensor run_un(csm_op_kind op, csm_tensor x, float alpha) {
  csm_node n = csm_test_node(op, 1);
  csm_tensor out;
  n.a.alpha = alpha;
  CSM_ASSERT_OK(csm_test_run_op(&n, &x, &out));
  return out;
}

static void test_broadcast_rank3(void **state) {
  (void)state;
  const float a[6] = {1, 2, 3, 4, 5, 6};
  const float b[4] = {10, 20, 30, 40};
  const float want[24] = {11, 12, 13, 21, 22, 23, 31, 32, 33, 41, 42, 43,
                          14, 15, 16, 24, 25, 26, 34, 35, 36, 44, 45, 46};
  csm_tensor out = run_bin(CSM_OP_ADD, csm_test_tensor_f32(3, (int64_t[]){2, 1, 3}, a),
                           csm_test_tensor_f32(2, (int64_t[]){4, 1}, b));
  csm_test_assert_shape(&out, 3, (int64_t[]){2, 4, 3});
  csm_test_assert_close(out.data, want, 24, 0, 0);
  csm_tensor_free(&out);
  /* Operands swapped: Sub is not symmetric. */
  out = run_bin(CSM_OP_SUB, csm_test_tensor_f32(2, (int64_t[]){4, 1}, b),
                csm_test_tensor_f32(3, (int64_t[]){2, 1, 3}, a));
  csm_test_assert_shape(&out, 3, (int64_t[]){2, 4, 3});
  for (int i = 0; i < 24; i++)
    assert_true(((float *)out.data)[i] == 2 * b[(i / 3) % 4] - want[i]);
  csm_tensor_free(&out);
}

static void test_scalar(void **state) {
  (void)state;
  const float x[4] = {1, -2, 3, 8};
  const float s[1] = {10};
  const float want_a[4] = {-9, -12, -7, -2}, want_b[4] = {9, 12, 7, 2};
  csm_tensor out = run_bin(CSM_OP_SUB, csm_test_tensor_f32(2, (int64_t[]){2, 2}, x),
                           csm_test_tensor_f32(0, NULL, s));
  csm_test_assert_shape(&out, 2, (int64_t[]){2, 2});
  csm_test_assert_close(out.data, want_a, 4, 0, 0);
  csm_tensor_free(&out);
  out = run_bin(CSM_OP_SUB, csm_test_tensor_f32(1, (int64_t[]){1}, s),
                csm_test_tensor_f32(2, (int64_t[]){2, 2}, x));
  csm_test_assert_close(out.data, want_b, 4, 0, 0);
  csm_tensor_free(&out);
  const float want_d[4] = {0.125f, -0.25f, 0.375f, 1};
  const float eight[1] = {8};
  out = run_bin(CSM_OP_DIV, csm_test_tensor_f32(1, (int64_t[]){4}, x),
                csm_test_tensor_f32(0, NULL, eight));
  csm_test_assert_close(out.data, want_d, 4, 0, 0);
  csm_tensor_free(&out);
}

/* [N,H,W,C] op [C] and [1,1,1,C] (fast path) against [N,1,1,C] and
 * [1,H,1,C] (general path), all checked against hand-indexed loops. */
static void test_per_channel(void **state) {
  (void)state;
  const float hx[8] = {1, 2, 3, 4, 5, 6, 7, 8}, hb[2] = {10, 100};
  const float hwant[8] = {11, 102, 13, 104, 15, 106, 17, 108};
  csm_tensor h = run_bin(CSM_OP_ADD, csm_test_tensor_f32(4, (int64_t[]){1, 2, 2, 2}, hx),
                         csm_test_tensor_f32(1, (int64_t[]){2}, hb));
  csm_test_assert_shape(&h, 4, (int64_t[]){1, 2, 2, 2});
  csm_test_assert_close(h.data, hwant, 8, 0, 0);
  csm_tensor_free(&h);
  enum { N = 2, H = 3, W = 4, C = 5 };
  float x[N * H * W * C], v[C], vn[N * C], vh[H * C];
  csm_test_fill_uniform(x, N * H * W * C, 1, -2, 2);
  csm_test_fill_uniform(v, C, 2, -1, 1);
  csm_test_fill_uniform(vn, N * C, 3, -1, 1);
  csm_test_fill_uniform(vh, H * C, 4, -1, 1);
  csm_tensor tx = csm_test_tensor_f32(4, (int64_t[]){N, H, W, C}, x);
  csm_tensor o1 = run_bin(CSM_OP_MUL, tx, csm_test_tensor_f32(1, (int64_t[]){C}, v));
  csm_tensor o2 = run_bin(CSM_OP_MUL, csm_test_tensor_f32(4, (int64_t[]){1, 1, 1, C}, v), tx);
  csm_tensor o3 = run_bin(CSM_OP_MUL, tx, csm_test_tensor_f32(4, (int64_t[]){N, 1, 1, C}, vn));
  csm_tensor o4 = run_bin(CSM_OP_ADD, tx, csm_test_tensor_f32(4, (int64_t[]){1, H, 1, C}, vh));
  csm_tensor o5 = run_bin(CSM_OP_PRELU, tx, csm_test_tensor_f32(3, (int64_t[]){1, 1, C}, v));
  csm_test_assert_shape(&o2, 4, (int64_t[]){N, H, W, C});
  for (int n = 0, i = 0; n < N; n++)
    for (int h = 0; h < H; h++)
      for (int w = 0; w < W; w++)
        for (int c = 0; c < C; c++, i++) {
          assert_true(((float *)o1.data)[i] == x[i] * v[c]);
          assert_true(((float *)o2.data)[i] == v[c] * x[i]);
          assert_true(((float *)o3.data)[i] == x[i] * vn[n * C + c]);
          assert_true(((float *)o4.data)[i] == x[i] + vh[h * C + c]);
          assert_true(((float *)o5.data)[i] == (x[i] < 0 ? v[c] * x[i] : x[i]));
        }
  csm_tensor_free(&o1);
  csm_tensor_free(&o2);
  csm_tensor_free(&o3);
  csm_tensor_free(&o4);
  csm_tensor_free(&o5);
}

/* Large enough for the parallel paths: same shape, per-channel, scalar and a
 * general broadcast, against a plain loop. */
static void test_large_paths(void **state) {
  (void)state;
  enum { N = 2, H = 40, W = 48, C = 24 };
  size_t total = (size_t)N * H * W * C;
  float *x = malloc(total * 4), *y = malloc(total * 4), v[C], s = 0.75f, col[W];
  csm_test_fill_uniform(x, total, 5, -3, 3);
  csm_test_fill_uniform(y, total, 6, -3, 3);
  csm_test_fill_uniform(v, C, 7, -3, 3);
  csm_test_fill_uniform(col, W, 8, -3, 3);
  csm_tensor tx = csm_test_tensor_f32(4, (int64_t[]){N, H, W, C}, x);
  csm_tensor o1 = run_bin(CSM_OP_MAXIMUM, tx, csm_test_tensor_f32(4, (int64_t[]){N, H, W, C}, y));
  csm_tensor o2 = run_bin(CSM_OP_MINIMUM, tx, csm_test_tensor_f32(1, (int64_t[]){C}, v));
  csm_tensor o3 = run_bin(CSM_OP_DIV, tx, csm_test_tensor_f32(0, NULL, &s));
  csm_tensor o4 = run_bin(CSM_OP_SUB, csm_test_tensor_f32(3, (int64_t[]){1, W, 1}, col), tx);
  /* One image broadcast over the batch: a few long runs split into chunks. */
  csm_tensor o5 = run_bin(CSM_OP_ADD, tx, csm_test_tensor_f32(4, (int64_t[]){1, H, W, C}, y));
  for (size_t i = 0; i < total; i++) {
    size_t c = i % C, w = (i / C) % W;
    assert_true(((float *)o1.data)[i] == (x[i] > y[i] ? x[i] : y[i]));
    assert_true(((float *)o2.data)[i] == (x[i] < v[c] ? x[i] : v[c]));
    assert_true(((float *)o3.data)[i] == x[i] / s);
    assert_true(((float *)o4.data)[i] == col[w] - x[i]);
    assert_true(((float *)o5.data)[i] == x[i] + y[i % (total / N)]);
  }
  csm_tensor_free(&o5);
  csm_tensor_free(&o1);
  csm_tensor_free(&o2);
  csm_tensor_free(&o3);
  csm_tensor_free(&o4);
  free(x);
  free(y);
}

static void test_int32(void **state) {
  (void)state;
  const int32_t a[4] = {1, -5, INT32_MAX, 7};
  const int32_t b[2] = {3, 1};
  const int32_t want_add[4] = {4, -4, INT32_MIN + 2, 8};
  csm_tensor out = run_bin(CSM_OP_ADD, csm_test_tensor_i32(2, (int64_t[]){2, 2}, a),
                           csm_test_tensor_i32(1, (int64_t[]){2}, b));
  assert_int_equal(out.dtype, CSM_I32);
  const int32_t *o = out.data;
  assert_int_equal(o[0], want_add[0]);
  assert_int_equal(o[1], want_add[1]);
  assert_int_equal(o[2], want_add[2]); /* wraps like an Int32Array */
  assert_int_equal(o[3], want_add[3]);
  csm_tensor_free(&out);
  out = run_bin(CSM_OP_MUL, csm_test_tensor_i32(2, (int64_t[]){2, 2}, a),
                csm_test_tensor_i32(1, (int64_t[]){2}, b));
  o = out.data;
  assert_int_equal(o[0], 3);
  assert_int_equal(o[1], -5);
  assert_int_equal(o[3], 7);
  csm_tensor_free(&out);
  out = run_bin(CSM_OP_SUB, csm_test_tensor_i32(2, (int64_t[]){2, 2}, a),
                csm_test_tensor_i32(1, (int64_t[]){2}, b));
  assert_int_equal(((int32_t *)out.data)[1], -6);
  csm_tensor_free(&out);
  out = run_bin(CSM_OP_MAXIMUM, csm_test_tensor_i32(2, (int64_t[]){2, 2}, a),
                csm_test_tensor_i32(1, (int64_t[]){2}, b));
  assert_int_equal(((int32_t *)out.data)[0], 3);
  assert_int_equal(((int32_t *)out.data)[1], 1);
  csm_tensor_free(&out);
  out = run_bin(CSM_OP_MINIMUM, csm_test_tensor_i32(2, (int64_t[]){2, 2}, a),
                csm_test_tensor_i32(1, (int64_t[]){2}, b));
  assert_int_equal(((int32_t *)out.data)[2], 3);
  assert_int_equal(((int32_t *)out.data)[1], -5);
  csm_tensor_free(&out);
}

/* ONNX shape arithmetic (torch.chunk: size / parts) divides int64 values,
 * truncating toward zero like C. */
static void test_int32_div(void **state) {
  (void)state;
  const int32_t a[6] = {7, -7, 6, INT32_MIN, 0, -1};
  const int32_t b[6] = {2, 2, -4, -1, 5, 3};
  const int32_t want[6] = {3, -3, -1, INT32_MIN, 0, 0};
  csm_tensor out = run_bin(CSM_OP_DIV, csm_test_tensor_i32(1, (int64_t[]){6}, a),
                           csm_test_tensor_i32(1, (int64_t[]){6}, b));
  assert_int_equal(out.dtype, CSM_I32);
  for (int k = 0; k < 6; k++)
    assert_int_equal(((int32_t *)out.data)[k], want[k]);
  csm_tensor_free(&out);
  const int32_t zero[2] = {1, 0};
  csm_node n = csm_test_node(CSM_OP_DIV, 2);
  csm_tensor in[2] = {csm_test_tensor_i32(1, (int64_t[]){2}, a),
                      csm_test_tensor_i32(1, (int64_t[]){2}, zero)};
  assert_int_equal(csm_test_run_op(&n, in, &out), CSM_EINPUT);
  assert_non_null(strstr(csm_last_error(), "division by zero"));
}

static void test_ieee_and_nan(void **state) {
  (void)state;
  const float a[5] = {1, -1, 0, NAN, 2};
  const float b[5] = {0, 0, 0, 1, NAN};
  const float want_div[5] = {INFINITY, -INFINITY, NAN, NAN, NAN};
  const float want_max[5] = {1, 0, 0, NAN, NAN};
  const float want_min[5] = {0, -1, 0, NAN, NAN};
  csm_tensor ta = csm_test_tensor_f32(1, (int64_t[]){5}, a),
             tb = csm_test_tensor_f32(1, (int64_t[]){5}, b);
  csm_tensor out = run_bin(CSM_OP_DIV, ta, tb);
  csm_test_assert_close(out.data, want_div, 5, 0, 0);
  csm_tensor_free(&out);
  out = run_bin(CSM_OP_MAXIMUM, ta, tb);
  csm_test_assert_close(out.data, want_max, 5, 0, 0);
  csm_tensor_free(&out);
  out = run_bin(CSM_OP_MINIMUM, ta, tb);
  csm_test_assert_close(out.data, want_min, 5, 0, 0);
  csm_tensor_free(&out);
  const float x[4] = {-2, -0.5f, 0, 3}, al[2] = {0.25f, 2};
  const float want_prelu[4] = {-0.5f, -1, 0, 3};
  out = run_bin(CSM_OP_PRELU, csm_test_tensor_f32(2, (int64_t[]){2, 2}, x),
                csm_test_tensor_f32(1, (int64_t[]){2}, al));
  csm_test_assert_close(out.data, want_prelu, 4, 0, 0);
  csm_tensor_free(&out);
}

static void expect_bin_error(csm_op_kind op, csm_tensor a, csm_tensor b, csm_status want,
                             const char *substr) {
  csm_node n = csm_test_node(op, 2);
  csm_tensor in[2] = {a, b}, out;
  memset(&out, 0, sizeof out);
  csm_status st = csm_op_def_get(op)->infer(&n, in, &out);
  assert_int_equal(st, want);
  if (!strstr(csm_last_error(), substr))
    fail_msg("error '%s' does not mention '%s'", csm_last_error(), substr);
}

static void test_errors(void **state) {
  (void)state;
  float f[12] = {0};
  int32_t i[12] = {0};
  expect_bin_error(CSM_OP_ADD, csm_test_tensor_f32(2, (int64_t[]){2, 3}, f),
                   csm_test_tensor_f32(1, (int64_t[]){4}, f), CSM_EINPUT, "[2,3]");
  expect_bin_error(CSM_OP_ADD, csm_test_tensor_f32(2, (int64_t[]){2, 3}, f),
                   csm_test_tensor_f32(1, (int64_t[]){4}, f), CSM_EINPUT, "[4]");
  expect_bin_error(CSM_OP_MUL, csm_test_tensor_f32(3, (int64_t[]){2, 3, 2}, f),
                   csm_test_tensor_f32(2, (int64_t[]){2, 2}, f), CSM_EINPUT, "[2,3,2]");
  expect_bin_error(CSM_OP_ADD, csm_test_tensor_f32(1, (int64_t[]){3}, f),
                   csm_test_tensor_i32(1, (int64_t[]){3}, i), CSM_EINPUT, "dtype");
  expect_bin_error(CSM_OP_PRELU, csm_test_tensor_i32(1, (int64_t[]){3}, i),
                   csm_test_tensor_i32(1, (int64_t[]){3}, i), CSM_EUNSUPPORTED, "int32");
  /* Unary ops run on float32 only. */
  csm_node n = csm_test_node(CSM_OP_RELU, 1);
  csm_tensor x = csm_test_tensor_i32(1, (int64_t[]){3}, i), out;
  memset(&out, 0, sizeof out);
  assert_int_equal(csm_op_def_get(CSM_OP_RELU)->infer(&n, &x, &out), CSM_EUNSUPPORTED);
  n = csm_test_node(CSM_OP_ADD, 1);
  x = csm_test_tensor_f32(1, (int64_t[]){3}, f);
  assert_int_equal(csm_op_def_get(CSM_OP_ADD)->infer(&n, &x, &out), CSM_EINPUT);
}

typedef struct unary_case {
  csm_op_kind op;
  float alpha;
  int n;
  float x[8], want[8];
  float tol;
} unary_case;

static void test_unary_values(void **state) {
  (void)state;
  static const unary_case cases[] = {
      {CSM_OP_RELU, 0, 6, {-2, -0.0f, 0, 3.5f, NAN, -INFINITY}, {0, 0, 0, 3.5f, NAN, 0}, 0},
      {CSM_OP_RELU6, 0, 6, {-1, 3, 6, 7, 1e30f, NAN}, {0, 3, 6, 6, 6, NAN}, 0},
      {CSM_OP_LEAKY_RELU, 0.2f, 4, {-10, 0, 5, -0.5f}, {-2, 0, 5, -0.1f}, 1e-7f},
      {CSM_OP_SIGMOID,
       0,
       7,
       {0, 1, -1, 100, -100, 1000, -1000},
       {0.5f, 0.731058578f, 0.268941421f, 1, 3.72007598e-44f, 1, 0},
       1e-7f},
      {CSM_OP_TANH,
       0,
       6,
       {0, 1, -1, 0.5f, 20, -1000},
       {0, 0.761594156f, -0.761594156f, 0.462117157f, 1, -1},
       1e-7f},
      {CSM_OP_ABS, 0, 4, {-3, 0, 2.5f, -INFINITY}, {3, 0, 2.5f, INFINITY}, 0},
      {CSM_OP_SQUARE, 0, 4, {-3, 0.5f, 0, 1e20f}, {9, 0.25f, 0, INFINITY}, 0},
      {CSM_OP_SQRT, 0, 5, {4, 0, 2, -1, 1e-30f}, {2, 0, 1.41421354f, NAN, 1e-15f}, 1e-7f},
      {CSM_OP_RSQRT, 0, 5, {4, 0, 0.25f, -1, 2}, {0.5f, INFINITY, 2, NAN, 0.707106769f}, 0},
      {CSM_OP_EXP,
       0,
       7,
       {0, 1, -1, 88, 89, 100, -200},
       {1, 2.71828175f, 0.36787945f, 1.65163625e38f, INFINITY, INFINITY, 0},
       1e-7f},
      {CSM_OP_NEG, 0, 4, {1, -2, 0, INFINITY}, {-1, 2, 0, -INFINITY}, 0},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    const unary_case *c = &cases[k];
    csm_tensor out = run_un(c->op, csm_test_tensor_f32(1, (int64_t[]){c->n}, c->x), c->alpha);
    csm_test_assert_shape(&out, 1, (int64_t[]){c->n});
    csm_test_context = csm_op_name(c->op);
    csm_test_assert_close(out.data, c->want, (size_t)c->n, 0, c->tol);
    csm_tensor_free(&out);
  }
}

/* Large tensors take the chunked parallel path; every element must equal the
 * TF.js formula evaluated here. */
static void test_unary_large(void **state) {
  (void)state;
  size_t total = 3 * 100 * 200;
  float *x = malloc(total * 4);
  csm_test_fill_uniform(x, total, 9, -8, 8);
  csm_tensor tx = csm_test_tensor_f32(3, (int64_t[]){3, 100, 200}, x);
  csm_tensor sg = run_un(CSM_OP_SIGMOID, tx, 0), th = run_un(CSM_OP_TANH, tx, 0);
  csm_tensor lr = run_un(CSM_OP_LEAKY_RELU, tx, 0.1f), rs = run_un(CSM_OP_RSQRT, tx, 0);
  for (size_t i = 0; i < total; i++) {
    double v = x[i];
    assert_true(((float *)sg.data)[i] == (float)(1.0 / (1.0 + exp(-v))));
    assert_true(((float *)th.data)[i] == (float)tanh(v));
    assert_true(((float *)lr.data)[i] == (x[i] < 0 ? 0.1f * x[i] : x[i]));
    if (x[i] > 0) assert_true(((float *)rs.data)[i] == (float)(1.0 / sqrt(v)));
  }
  csm_tensor_free(&sg);
  csm_tensor_free(&th);
  csm_tensor_free(&lr);
  csm_tensor_free(&rs);
  free(x);
}

/* exp, sigmoid and tanh use their own vectorized double kernels; their
 * float results must equal the libm formulas bit for bit. This samples float
 * bit patterns across the whole range (every 4099th), all of them finite,
 * infinite or NaN. */
static void test_transcendental_vs_libm(void **state) {
  (void)state;
  const size_t n = ((size_t)1 << 32) / 4099 + 1;
  float *x = malloc(n * 4);
  for (size_t i = 0; i < n; i++) {
    uint32_t u = (uint32_t)(i * 4099u);
    memcpy(&x[i], &u, 4);
  }
  csm_tensor tx = csm_test_tensor_f32(1, (int64_t[]){(int64_t)n}, x);
  csm_tensor e = run_un(CSM_OP_EXP, tx, 0), sg = run_un(CSM_OP_SIGMOID, tx, 0);
  csm_tensor th = run_un(CSM_OP_TANH, tx, 0);
  for (size_t i = 0; i < n; i++) {
    double v = x[i];
    float want[3] = {(float)exp(v), (float)(1.0 / (1.0 + exp(-v))), (float)tanh(v)};
    float got[3] = {((float *)e.data)[i], ((float *)sg.data)[i], ((float *)th.data)[i]};
    for (int k = 0; k < 3; k++)
      if (memcmp(&got[k], &want[k], 4) != 0 && !(isnan(got[k]) && isnan(want[k])))
        fail_msg("%s(%a): got %a, want %a",
                 k == 0   ? "exp"
                 : k == 1 ? "sigmoid"
                          : "tanh",
                 (double)x[i], (double)got[k], (double)want[k]);
  }
  csm_tensor_free(&e);
  csm_tensor_free(&sg);
  csm_tensor_free(&th);
  free(x);
}

static void test_softmax(void **state) {
  (void)state;
  const float x[9] = {1, 2, 3, 0, 0, 0, 1000, 1001, 1002};
  const float want[9] = {0.0900305732f, 0.244728476f,  0.665240943f, 1.0f / 3,    1.0f / 3,
                         1.0f / 3,      0.0900305732f, 0.244728476f, 0.665240943f};
  csm_tensor out = run_un(CSM_OP_SOFTMAX, csm_test_tensor_f32(2, (int64_t[]){3, 3}, x), 0);
  csm_test_assert_shape(&out, 2, (int64_t[]){3, 3});
  csm_test_assert_close(out.data, want, 9, 0, 1e-6f);
  for (int r = 0; r < 3; r++) {
    const float *o = (float *)out.data + 3 * r;
    assert_true(fabsf(o[0] + o[1] + o[2] - 1.0f) < 1e-6f);
  }
  csm_tensor_free(&out);
  /* Logits far apart: no overflow, the largest takes everything. */
  const float y[4] = {-1e30f, 0, 88.0f, 100.0f};
  const float want_y[4] = {0, 3.7835e-44f, 6.14417460e-06f, 0.999993801f};
  out = run_un(CSM_OP_SOFTMAX, csm_test_tensor_f32(3, (int64_t[]){1, 1, 4}, y), 0);
  csm_test_assert_close(out.data, want_y, 4, 0, 1e-6f);
  csm_tensor_free(&out);
  /* A NaN or +inf logit makes its whole row NaN (TF.js); other rows are fine. */
  const float z[6] = {1, NAN, 2, 0, INFINITY, 1};
  out = run_un(CSM_OP_SOFTMAX, csm_test_tensor_f32(2, (int64_t[]){2, 3}, z), 0);
  for (int i = 0; i < 6; i++)
    assert_true(isnan(((float *)out.data)[i]));
  csm_tensor_free(&out);
  const float one[1] = {-5};
  out = run_un(CSM_OP_SOFTMAX, csm_test_tensor_f32(1, (int64_t[]){1}, one), 0);
  assert_true(((float *)out.data)[0] == 1.0f);
  csm_tensor_free(&out);
}

/* A batch of N gives bit-identical per-image results to N single runs, and
 * the thread count does not change a bit. */
static void test_batch_and_threads(void **state) {
  (void)state;
  enum { N = 3, H = 33, W = 35, C = 20 };
  size_t img = (size_t)H * W * C, total = N * img;
  static const csm_op_kind ops[] = {CSM_OP_ADD, CSM_OP_PRELU, CSM_OP_SIGMOID, CSM_OP_SOFTMAX};
  float *x = malloc(total * 4), v[C];
  csm_test_fill_uniform(x, total, 11, -4, 4);
  csm_test_fill_uniform(v, C, 12, -1, 1);
  for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
    int binary = ops[k] == CSM_OP_ADD || ops[k] == CSM_OP_PRELU;
    csm_tensor vt = csm_test_tensor_f32(1, (int64_t[]){C}, v);
    csm_tensor all = csm_test_tensor_f32(4, (int64_t[]){N, H, W, C}, x), ref, o1;
    csm_set_threads(2);
    ref = binary ? run_bin(ops[k], all, vt) : run_un(ops[k], all, 0);
    for (int t = 1; t <= 5; t += 2) { /* other partitions of the work */
      csm_set_threads(t);
      o1 = binary ? run_bin(ops[k], all, vt) : run_un(ops[k], all, 0);
      assert_memory_equal(ref.data, o1.data, total * 4);
      csm_tensor_free(&o1);
    }
    csm_set_threads(2);
    for (int n = 0; n < N; n++) {
      csm_tensor one = csm_test_tensor_f32(4, (int64_t[]){1, H, W, C}, x + n * img);
      o1 = binary ? run_bin(ops[k], one, vt) : run_un(ops[k], one, 0);
      assert_memory_equal((float *)ref.data + n * img, o1.data, img * 4);
      csm_tensor_free(&o1);
    }
    csm_tensor_free(&ref);
  }
  free(x);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_broadcast_rank3),
      cmocka_unit_test(test_scalar),
      cmocka_unit_test(test_per_channel),
      cmocka_unit_test(test_large_paths),
      cmocka_unit_test(test_int32),
      cmocka_unit_test(test_int32_div),
      cmocka_unit_test(test_ieee_and_nan),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_unary_values),
      cmocka_unit_test(test_unary_large),
      cmocka_unit_test(test_transcendental_vs_libm),
      cmocka_unit_test(test_softmax),
      cmocka_unit_test(test_batch_and_threads),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
