/* Forward passes of the compute ops added for ONNX models, against naive
 * loops written here from the definitions (not from the code under test):
 * Conv2DTranspose (x * w scattered into the full output, pads cropped),
 * HardSigmoid, HardSwish, Reciprocal, LogSoftmax, ResizeNearestNeighbor
 * (ONNX coordinate transforms and nearest modes, size and scales),
 * ResizeBilinear with scales, MaxPool/AvgPool with ceil_mode and
 * count_include_pad, and SAME_LOWER padding in Conv2D, DepthwiseConv2D and
 * the pools. PyTorch cross-checks are in test_ops_onnx_torch.c. */
#include "csm_test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/ops/op.h"
#include "nn/plan.h"

static csm_tensor make(int rank, const int64_t *dims) {
  csm_tensor t;
  csm_shape s = csm_shape_make(rank, dims);
  CSM_ASSERT_OK(csm_tensor_alloc(&t, CSM_F32, &s));
  return t;
}

static csm_tensor make_uniform(int rank, const int64_t *dims, uint32_t seed) {
  csm_tensor t = make(rank, dims);
  csm_test_fill_uniform(t.data, csm_tensor_numel(&t), seed, -1.0f, 1.0f);
  return t;
}

/* ---- Conv2DTranspose ------------------------------------------------------- */

typedef struct tcase {
  int64_t n, h, w, ci, kh, kw, co;
  int s[2], d[2], pads[4], op[2];
  int has_bias;
  csm_activation act;
} tcase;

static int64_t tout(int64_t in, int s, int d, int64_t k, int p0, int p1, int op) {
  return (in - 1) * s - p0 - p1 + d * (k - 1) + op + 1;
}

/* The definition: every x[b,ih,iw,c] * f[c,i,j,o] lands on the full output
 * at (ih*s + i*d, iw*s + j*d); the output is that shifted by the top/left
 * pads; bias, then the activation. */
static void tconv_ref(const tcase *t, const float *x, const float *f, const float *bias, float *y) {
  const int64_t oh = tout(t->h, t->s[0], t->d[0], t->kh, t->pads[0], t->pads[1], t->op[0]);
  const int64_t ow = tout(t->w, t->s[1], t->d[1], t->kw, t->pads[2], t->pads[3], t->op[1]);
  const size_t total = (size_t)(t->n * oh * ow * t->co);
  double *acc = calloc(total, sizeof(double));
  for (int64_t b = 0; b < t->n; b++)
    for (int64_t ih = 0; ih < t->h; ih++)
      for (int64_t iw = 0; iw < t->w; iw++)
        for (int64_t c = 0; c < t->ci; c++) {
          const double xv = x[((b * t->h + ih) * t->w + iw) * t->ci + c];
          for (int64_t i = 0; i < t->kh; i++)
            for (int64_t j = 0; j < t->kw; j++) {
              const int64_t oy = ih * t->s[0] + i * t->d[0] - t->pads[0];
              const int64_t ox = iw * t->s[1] + j * t->d[1] - t->pads[2];
              if (oy < 0 || oy >= oh || ox < 0 || ox >= ow) continue;
              for (int64_t o = 0; o < t->co; o++)
                acc[((b * oh + oy) * ow + ox) * t->co + o] +=
                    xv * f[((c * t->kh + i) * t->kw + j) * t->co + o];
            }
        }
  for (size_t k = 0; k < total; k++) {
    double v = acc[k] + (bias ? bias[k % (size_t)t->co] : 0.0);
    if (t->act == CSM_ACT_RELU && v < 0) v = 0;
    y[k] = (float)v;
  }
  free(acc);
}

static csm_node tnode(const tcase *t) {
  csm_node nd = csm_test_node(CSM_OP_CONV2D_TRANSPOSE, t->has_bias ? 3 : 2);
  nd.a.padding = CSM_PAD_EXPLICIT;
  for (int k = 0; k < 2; k++) {
    nd.a.stride[k] = t->s[k];
    nd.a.dilation[k] = t->d[k];
    nd.a.output_padding[k] = t->op[k];
  }
  memcpy(nd.a.pads, t->pads, sizeof t->pads);
  nd.a.has_bias = t->has_bias;
  nd.a.act = t->act;
  return nd;
}

static void check_tconv(const tcase *t, uint32_t seed, float tol) {
  csm_node nd = tnode(t);
  csm_tensor in[3], out;
  in[0] = make_uniform(4, (int64_t[]){t->n, t->h, t->w, t->ci}, seed);
  in[1] = make_uniform(4, (int64_t[]){t->ci, t->kh, t->kw, t->co}, seed + 1);
  in[2] = make_uniform(1, (int64_t[]){t->co}, seed + 2);
  CSM_ASSERT_OK(csm_test_run_op(&nd, in, &out));
  const int64_t oh = tout(t->h, t->s[0], t->d[0], t->kh, t->pads[0], t->pads[1], t->op[0]);
  const int64_t ow = tout(t->w, t->s[1], t->d[1], t->kw, t->pads[2], t->pads[3], t->op[1]);
  csm_test_assert_shape(&out, 4, (int64_t[]){t->n, oh, ow, t->co});
  float *want = malloc(csm_tensor_numel(&out) * sizeof(float));
  tconv_ref(t, in[0].data, in[1].data, t->has_bias ? in[2].data : NULL, want);
  csm_test_assert_tensor_close(&out, want, csm_tensor_numel(&out), tol, tol);

  /* Each batch item alone gives the same bits. */
  if (t->n > 1) {
    const size_t item_x = (size_t)(t->h * t->w * t->ci), item_y = (size_t)(oh * ow * t->co);
    for (int64_t b = 0; b < t->n; b++) {
      csm_tensor one[3] = {in[0], in[1], in[2]}, o1;
      one[0].shape.d[0] = 1;
      one[0].data = (float *)in[0].data + (size_t)b * item_x;
      one[0].owned = 0;
      CSM_ASSERT_OK(csm_test_run_op(&nd, one, &o1));
      assert_memory_equal(o1.data, (float *)out.data + (size_t)b * item_y, item_y * sizeof(float));
      csm_tensor_free(&o1);
    }
  }
  free(want);
  csm_tensor_free(&out);
  for (int i = 0; i < 3; i++)
    csm_tensor_free(&in[i]);
}

static void test_tconv_hand(void **state) {
  (void)state;
  /* x = [1, 2] (one row), f = [1, 2, 3], stride 2: the full output is
   * [1, 2, 3+2, 4, 6]; pads left 1, right 0 and output_padding 1 crop the
   * first column and add one: [2, 5, 4, 6, 0], then + 0.5. */
  csm_node nd = csm_test_node(CSM_OP_CONV2D_TRANSPOSE, 3);
  nd.a.padding = CSM_PAD_EXPLICIT;
  nd.a.stride[1] = 2;
  nd.a.pads[2] = 1;
  nd.a.output_padding[1] = 1;
  nd.a.has_bias = 1;
  csm_tensor in[3], out;
  in[0] = csm_test_tensor_f32(4, (int64_t[]){1, 1, 2, 1}, (float[]){1, 2});
  in[1] = csm_test_tensor_f32(4, (int64_t[]){1, 1, 3, 1}, (float[]){1, 2, 3});
  in[2] = csm_test_tensor_f32(1, (int64_t[]){1}, (float[]){0.5f});
  CSM_ASSERT_OK(csm_test_run_op(&nd, in, &out));
  csm_test_assert_shape(&out, 4, (int64_t[]){1, 1, 5, 1});
  csm_test_assert_tensor_close(&out, (float[]){2.5f, 5.5f, 4.5f, 6.5f, 0.5f}, 5, 0, 0);
  csm_tensor_free(&out);

  /* Errors: a filter whose Ci disagrees, pads that crop everything. */
  nd.n_in = 2;
  nd.a.has_bias = 0;
  in[1] = csm_test_tensor_f32(4, (int64_t[]){2, 1, 3, 1}, (float[]){1, 2, 3, 4, 5, 6});
  csm_test_expect_error(&nd, in, CSM_EINPUT, "input channels");
  in[1] = csm_test_tensor_f32(4, (int64_t[]){1, 1, 3, 1}, (float[]){1, 2, 3});
  nd.a.pads[2] = 3;
  nd.a.pads[3] = 3;
  csm_test_expect_error(&nd, in, CSM_EINPUT, "crop");
}

static void test_tconv_random(void **state) {
  (void)state;
  const tcase cases[] = {
      {1, 3, 4, 2, 3, 3, 5, {1, 1}, {1, 1}, {0, 0, 0, 0}, {0, 0}, 0, CSM_ACT_NONE},
      {2, 4, 3, 3, 3, 3, 4, {2, 2}, {1, 1}, {1, 1, 1, 1}, {1, 1}, 1, CSM_ACT_NONE},
      {2, 5, 4, 2, 4, 4, 3, {2, 2}, {1, 1}, {1, 2, 0, 1}, {0, 1}, 1, CSM_ACT_RELU},
      {1, 3, 5, 3, 3, 2, 2, {3, 2}, {2, 3}, {2, 1, 1, 0}, {1, 2}, 1, CSM_ACT_NONE},
      {3, 2, 2, 5, 1, 1, 7, {2, 3}, {1, 1}, {0, 0, 0, 0}, {1, 2}, 0, CSM_ACT_NONE},
      {1, 6, 6, 4, 5, 3, 6, {1, 2}, {2, 1}, {3, 0, 0, 2}, {0, 0}, 1, CSM_ACT_RELU},
      {2, 7, 5, 17, 2, 2, 19, {2, 2}, {1, 1}, {0, 0, 0, 0}, {0, 0}, 1, CSM_ACT_NONE},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    check_tconv(&cases[i], 100 + (uint32_t)i * 7, 1e-5f);
}

/* An item too large for one col block is done in blocks of input rows. */
static void test_tconv_row_blocks(void **state) {
  (void)state;
  const tcase t = {2, 40, 36, 8, 4, 4, 64, {2, 2}, {1, 1}, {1, 1, 1, 1}, {0, 0}, 1, CSM_ACT_NONE};
  check_tconv(&t, 5, 1e-5f);
}

/* Through a plan (the constant filter is packed once): the same bits as the
 * plain forward. */
static void test_tconv_planned(void **state) {
  (void)state;
  const tcase t = {2, 5, 6, 3, 3, 3, 4, {2, 2}, {1, 1}, {1, 0, 0, 1}, {1, 0}, 1, CSM_ACT_RELU};
  csm_graph g;
  memset(&g, 0, sizeof g);
  csm_tensor x = make_uniform(4, (int64_t[]){t.n, t.h, t.w, t.ci}, 3);
  csm_tensor f = make_uniform(4, (int64_t[]){t.ci, t.kh, t.kw, t.co}, 4);
  csm_tensor b = make_uniform(1, (int64_t[]){t.co}, 5);
  int xi = csm_test_graph_add(&g, "x", CSM_OP_INPUT, 0, NULL);
  g.nodes[xi].value.dtype = CSM_F32;
  g.nodes[xi].value.shape = x.shape;
  int fi = csm_test_graph_const(&g, "f", CSM_F32, 4, f.shape.d, f.data);
  int bi = csm_test_graph_const(&g, "b", CSM_F32, 1, b.shape.d, b.data);
  int yi = csm_test_graph_add(&g, "y", CSM_OP_CONV2D_TRANSPOSE, 3, (int[]){xi, fi, bi});
  g.nodes[yi].a = tnode(&t).a;
  g.inputs = malloc(sizeof(int));
  g.inputs[0] = xi;
  g.n_inputs = 1;
  g.outputs = malloc(sizeof(int));
  g.outputs[0] = yi;
  g.output_names = malloc(sizeof(char *));
  g.output_names[0] = strdup("y");
  g.n_outputs = 1;
  g.path = strdup("tconv-graph");
  csm_plan *p;
  CSM_ASSERT_OK(csm_plan_create(&g, &x.shape, NULL, &p));
  CSM_ASSERT_OK(csm_plan_run(p, &x));
  const csm_tensor *y = csm_plan_value(p, yi);
  csm_node nd = tnode(&t);
  csm_tensor in[3] = {x, f, b}, out;
  CSM_ASSERT_OK(csm_test_run_op(&nd, in, &out));
  assert_int_equal(csm_tensor_numel(y), csm_tensor_numel(&out));
  assert_memory_equal(y->data, out.data, csm_tensor_numel(&out) * sizeof(float));
  csm_tensor_free(&out);
  csm_plan_free(p);
  csm_graph_free(&g);
  csm_tensor_free(&x);
  csm_tensor_free(&f);
  csm_tensor_free(&b);
}

/* ---- unary ------------------------------------------------------------------ */

static float unary_one(int op, float v, float alpha, float beta) {
  csm_node nd = csm_test_node(op, 1);
  nd.a.alpha = alpha;
  nd.a.beta = beta;
  csm_tensor in = csm_test_tensor_f32(1, (int64_t[]){1}, &v), out;
  CSM_ASSERT_OK(csm_test_run_op(&nd, &in, &out));
  float r = ((float *)out.data)[0];
  csm_tensor_free(&out);
  return r;
}

static double clampd(double v, double lo, double hi) { return v < lo ? lo : v > hi ? hi : v; }

static void test_unary_onnx(void **state) {
  (void)state;
  const float vals[] = {-INFINITY, -7.0f, -3.0f, -2.5f, -1.0f, -0.3f,  0.0f,    0.25f,
                        1.0f,      2.5f,  3.0f,  4.0f,  1e-3f, 100.0f, INFINITY};
  const size_t nv = sizeof vals / sizeof vals[0];
  for (size_t i = 0; i < nv; i++) {
    const double x = vals[i];
    float got = unary_one(CSM_OP_HARD_SIGMOID, vals[i], 0.2f, 0.5f);
    assert_float_equal(got, (float)clampd(0.2 * x + 0.5, 0, 1), 1e-7);
    got = unary_one(CSM_OP_HARD_SIGMOID, vals[i], 1.0f / 6.0f, 0.5f);
    assert_float_equal(got, (float)clampd(x / 6.0 + 0.5, 0, 1), 1e-7);
    got = unary_one(CSM_OP_RECIPROCAL, vals[i], 0, 0);
    if (x == 0)
      assert_true(isinf(got) && got > 0);
    else
      assert_true(got == (float)(1.0 / x));
    got = unary_one(CSM_OP_HARD_SWISH, vals[i], 0, 0);
    if (isinf(x) && x < 0)
      assert_true(isnan(got)); /* -inf * 0, as PyTorch */
    else if (isinf(x))
      assert_true(isinf(got) && got > 0);
    else
      assert_float_equal(got, (float)(x * clampd(x / 6.0 + 0.5, 0, 1)), 1e-6 * (1 + fabs(x)));
  }
  assert_true(isnan(unary_one(CSM_OP_HARD_SIGMOID, NAN, 0.2f, 0.5f)));
  assert_true(isnan(unary_one(CSM_OP_HARD_SWISH, NAN, 0, 0)));
  assert_true(isnan(unary_one(CSM_OP_RECIPROCAL, NAN, 0, 0)));
  assert_true(unary_one(CSM_OP_RECIPROCAL, -0.0f, 0, 0) == -INFINITY);

  /* Long inputs go through the threaded path. */
  const size_t n = 100000;
  csm_tensor x = make_uniform(1, (int64_t[]){(int64_t)n}, 9), out;
  float *xv = x.data;
  for (size_t i = 0; i < n; i++)
    xv[i] *= 5.0f;
  csm_node nd = csm_test_node(CSM_OP_HARD_SWISH, 1);
  CSM_ASSERT_OK(csm_test_run_op(&nd, &x, &out));
  for (size_t i = 0; i < n; i += 97)
    assert_float_equal(((float *)out.data)[i], (float)(xv[i] * clampd(xv[i] / 6.0 + 0.5, 0, 1)),
                       1e-6 * (1 + fabsf(xv[i])));
  csm_tensor_free(&out);
  csm_tensor_free(&x);
}

/* ---- LogSoftmax ----------------------------------------------------------- */

static void test_log_softmax(void **state) {
  (void)state;
  const int64_t rows = 5, c = 7;
  csm_tensor x = make_uniform(2, (int64_t[]){rows, c}, 21), out;
  float *xv = x.data;
  for (int64_t j = 0; j < c; j++) {
    xv[1 * c + j] = 1000.0f + (float)j; /* would overflow a naive exp */
    xv[2 * c + j] = -1000.0f - 3.0f * (float)j;
  }
  xv[3 * c + 2] = -INFINITY;
  xv[4 * c + 5] = NAN;
  csm_node nd = csm_test_node(CSM_OP_LOG_SOFTMAX, 1);
  CSM_ASSERT_OK(csm_test_run_op(&nd, &x, &out));
  const float *y = out.data;
  for (int64_t r = 0; r < 4; r++) {
    long double m = -INFINITY, s = 0;
    for (int64_t j = 0; j < c; j++)
      m = xv[r * c + j] > m ? xv[r * c + j] : m;
    for (int64_t j = 0; j < c; j++)
      s += expl((long double)xv[r * c + j] - m);
    for (int64_t j = 0; j < c; j++) {
      const float want = (float)((long double)xv[r * c + j] - m - logl(s));
      if (isinf(want))
        assert_true(y[r * c + j] == want);
      else
        assert_float_equal(y[r * c + j], want, 2e-6 * (1 + fabsf(want)));
    }
  }
  for (int64_t j = 0; j < c; j++)
    assert_true(isnan(y[4 * c + j]));
  csm_tensor_free(&out);
  csm_tensor_free(&x);
}

/* ---- ResizeNearestNeighbor ---------------------------------------------- */

/* out = x[map] along the width of a [1, 1, in, 1] row. */
static void check_nearest_row(csm_node nd, const int32_t *size, int64_t in, int64_t out_w,
                              const int *map) {
  float xv[16];
  for (int64_t i = 0; i < in; i++)
    xv[i] = (float)(10 + i);
  csm_tensor t[2], out;
  t[0] = csm_test_tensor_f32(4, (int64_t[]){1, 1, in, 1}, xv);
  if (size) t[1] = csm_test_tensor_i32(1, (int64_t[]){2}, size);
  CSM_ASSERT_OK(csm_test_run_op(&nd, t, &out));
  csm_test_assert_shape(&out, 4, (int64_t[]){1, 1, out_w, 1});
  float want[32];
  for (int64_t o = 0; o < out_w; o++)
    want[o] = (float)(10 + map[o]);
  csm_test_assert_tensor_close(&out, want, (size_t)out_w, 0, 0);
  csm_tensor_free(&out);
}

static csm_node nearest_node(int n_in, int align, int half, csm_nearest_mode mode) {
  csm_node nd = csm_test_node(CSM_OP_RESIZE_NEAREST, n_in);
  nd.a.align_corners = align;
  nd.a.half_pixel_centers = half;
  nd.a.nearest_mode = mode;
  return nd;
}

static void test_resize_nearest_modes(void **state) {
  (void)state;
  /* asymmetric 2 -> 4: o/2 */
  check_nearest_row(nearest_node(2, 0, 0, CSM_NEAREST_FLOOR), (int32_t[]){1, 4}, 2, 4,
                    (int[]){0, 0, 1, 1});
  check_nearest_row(nearest_node(2, 0, 0, CSM_NEAREST_ROUND_PREFER_FLOOR), (int32_t[]){1, 4}, 2, 4,
                    (int[]){0, 0, 1, 1});
  check_nearest_row(nearest_node(2, 0, 0, CSM_NEAREST_ROUND_PREFER_CEIL), (int32_t[]){1, 4}, 2, 4,
                    (int[]){0, 1, 1, 1}); /* 0.5 -> 1, 1.5 -> 2 clamped to 1 */
  check_nearest_row(nearest_node(2, 0, 0, CSM_NEAREST_CEIL), (int32_t[]){1, 4}, 2, 4,
                    (int[]){0, 1, 1, 1});
  /* asymmetric 3 -> 2: 0, 1.5 */
  check_nearest_row(nearest_node(2, 0, 0, CSM_NEAREST_ROUND_PREFER_FLOOR), (int32_t[]){1, 2}, 3, 2,
                    (int[]){0, 1});
  check_nearest_row(nearest_node(2, 0, 0, CSM_NEAREST_ROUND_PREFER_CEIL), (int32_t[]){1, 2}, 3, 2,
                    (int[]){0, 2});
  /* half pixel 2 -> 4: -0.25, 0.25, 0.75, 1.25 */
  check_nearest_row(nearest_node(2, 0, 1, CSM_NEAREST_ROUND_PREFER_FLOOR), (int32_t[]){1, 4}, 2, 4,
                    (int[]){0, 0, 1, 1});
  check_nearest_row(nearest_node(2, 0, 1, CSM_NEAREST_FLOOR), (int32_t[]){1, 4}, 2, 4,
                    (int[]){0, 0, 0, 1});
  check_nearest_row(nearest_node(2, 0, 1, CSM_NEAREST_CEIL), (int32_t[]){1, 4}, 2, 4,
                    (int[]){0, 1, 1, 1});
  /* half pixel 5 -> 3: (o + 0.5) * 5/3 - 0.5 = 1/3, 2, 11/3 */
  check_nearest_row(nearest_node(2, 0, 1, CSM_NEAREST_ROUND_PREFER_FLOOR), (int32_t[]){1, 3}, 5, 3,
                    (int[]){0, 2, 4});
  /* align corners 3 -> 5: 0, 0.5, 1, 1.5, 2 */
  check_nearest_row(nearest_node(2, 1, 0, CSM_NEAREST_ROUND_PREFER_FLOOR), (int32_t[]){1, 5}, 3, 5,
                    (int[]){0, 0, 1, 1, 2});
  check_nearest_row(nearest_node(2, 1, 0, CSM_NEAREST_ROUND_PREFER_CEIL), (int32_t[]){1, 5}, 3, 5,
                    (int[]){0, 1, 1, 2, 2});
  /* align corners to one pixel: the first */
  check_nearest_row(nearest_node(2, 1, 0, CSM_NEAREST_ROUND_PREFER_CEIL), (int32_t[]){1, 1}, 3, 1,
                    (int[]){0});
  /* scales: 3 * 2.6 -> 7 pixels, ratio 1/2.6 (not 3/7): o * 0.3846 */
  csm_node nd = nearest_node(1, 0, 0, CSM_NEAREST_FLOOR);
  nd.a.scale[0] = 1.0f;
  nd.a.scale[1] = 2.6f;
  check_nearest_row(nd, NULL, 3, 7, (int[]){0, 0, 0, 1, 1, 1, 2});
  check_nearest_row(nearest_node(2, 0, 0, CSM_NEAREST_FLOOR), (int32_t[]){1, 7}, 3, 7,
                    (int[]){0, 0, 0, 1, 1, 2, 2});
  /* downscale by 0.5 with half pixel: (o + 0.5) * 2 - 0.5 = 0.5, 2.5 */
  nd = nearest_node(1, 0, 1, CSM_NEAREST_ROUND_PREFER_FLOOR);
  nd.a.scale[0] = 1.0f;
  nd.a.scale[1] = 0.5f;
  check_nearest_row(nd, NULL, 5, 2, (int[]){0, 2});
}

static void test_resize_nearest_2d(void **state) {
  (void)state;
  /* Rows and columns independently, batch 2, 3 channels. */
  csm_tensor x = make_uniform(4, (int64_t[]){2, 3, 4, 3}, 31), out;
  csm_node nd = nearest_node(1, 0, 0, CSM_NEAREST_FLOOR);
  nd.a.scale[0] = 2.0f;
  nd.a.scale[1] = 1.5f;
  CSM_ASSERT_OK(csm_test_run_op(&nd, &x, &out));
  csm_test_assert_shape(&out, 4, (int64_t[]){2, 6, 6, 3});
  const float *xv = x.data, *y = out.data;
  for (int b = 0; b < 2; b++)
    for (int r = 0; r < 6; r++)
      for (int c = 0; c < 6; c++)
        for (int k = 0; k < 3; k++) {
          const int sr = r / 2, sc = (int)floor(c / 1.5);
          assert_true(y[((b * 6 + r) * 6 + c) * 3 + k] == xv[((b * 3 + sr) * 4 + sc) * 3 + k]);
        }
  csm_tensor_free(&out);

  /* Errors. */
  nd.a.scale[1] = 0.0f;
  csm_test_expect_error(&nd, &x, CSM_EINPUT, "scales");
  nd.a.scale[1] = 0.1f; /* floor(4 * 0.1) = 0 */
  csm_test_expect_error(&nd, &x, CSM_EINPUT, "positive");
  nd.a.scale[1] = 1.0f;
  nd.a.align_corners = nd.a.half_pixel_centers = 1;
  csm_test_expect_error(&nd, &x, CSM_EINPUT, "cannot both");
  csm_tensor_free(&x);
}

/* ---- ResizeBilinear with scales ------------------------------------------ */

static void bilinear_ref(const float *x, int64_t n, int64_t ih, int64_t iw, int64_t c, int64_t oh,
                         int64_t ow, double rh, double rw, int half, float *y) {
  for (int64_t b = 0; b < n; b++)
    for (int64_t r = 0; r < oh; r++)
      for (int64_t q = 0; q < ow; q++) {
        double sy = half ? (r + 0.5) * rh - 0.5 : r * rh;
        double sx = half ? (q + 0.5) * rw - 0.5 : q * rw;
        sy = sy < 0 ? 0 : sy;
        sx = sx < 0 ? 0 : sx;
        int64_t y0 = (int64_t)floor(sy), x0 = (int64_t)floor(sx);
        if (y0 > ih - 1) y0 = ih - 1;
        if (x0 > iw - 1) x0 = iw - 1;
        const int64_t y1 = y0 + 1 < ih ? y0 + 1 : ih - 1, x1 = x0 + 1 < iw ? x0 + 1 : iw - 1;
        const double fy = sy - y0, fx = sx - x0;
        for (int64_t k = 0; k < c; k++) {
#define PX(yy, xx) (double)x[((b * ih + (yy)) * iw + (xx)) * c + k]
          const double v = (1 - fy) * ((1 - fx) * PX(y0, x0) + fx * PX(y0, x1)) +
                           fy * ((1 - fx) * PX(y1, x0) + fx * PX(y1, x1));
#undef PX
          y[((b * oh + r) * ow + q) * c + k] = (float)v;
        }
      }
}

static void test_resize_bilinear_scales(void **state) {
  (void)state;
  csm_tensor x = make_uniform(4, (int64_t[]){2, 3, 5, 2}, 41), out, out2;
  for (int half = 0; half <= 1; half++) {
    csm_node nd = csm_test_node(CSM_OP_RESIZE_BILINEAR, 1);
    nd.a.half_pixel_centers = half;
    nd.a.scale[0] = 2.0f;
    nd.a.scale[1] = 1.7f; /* 5 * 1.7 = 8.5 -> 8 columns, ratio 1/1.7 */
    CSM_ASSERT_OK(csm_test_run_op(&nd, &x, &out));
    csm_test_assert_shape(&out, 4, (int64_t[]){2, 6, 8, 2});
    float want[2 * 6 * 8 * 2];
    bilinear_ref(x.data, 2, 3, 5, 2, 6, 8, 0.5, 1.0 / (double)1.7f, half, want);
    csm_test_assert_tensor_close(&out, want, sizeof want / sizeof want[0], 1e-6f, 1e-6f);
    /* An exact scale: the same bits as the size form. */
    nd.a.scale[1] = 2.0f;
    CSM_ASSERT_OK(csm_test_run_op(&nd, &x, &out2));
    csm_node n2 = csm_test_node(CSM_OP_RESIZE_BILINEAR, 2);
    n2.a.half_pixel_centers = half;
    csm_tensor in2[2] = {x, csm_test_tensor_i32(1, (int64_t[]){2}, (int32_t[]){6, 10})};
    csm_tensor out3;
    CSM_ASSERT_OK(csm_test_run_op(&n2, in2, &out3));
    assert_memory_equal(out2.data, out3.data, csm_tensor_numel(&out3) * sizeof(float));
    csm_tensor_free(&out);
    csm_tensor_free(&out2);
    csm_tensor_free(&out3);
  }
  csm_tensor_free(&x);
}

/* ---- pools: ceil_mode, count_include_pad ------------------------------- */

typedef struct pcase {
  int op;
  int64_t h, w;
  int k[2], s[2], pads[4];
  int ceil_mode, include_pad;
  int64_t oh, ow; /* expected output size */
} pcase;

/* The definition: window rows [oy*s - pt, + k), clipped to the input for
 * the values; the divisor is the in-bounds count or, with
 * count_include_pad, the window clipped to [-pt, h + pb). */
static void pool_ref(const pcase *p, const float *x, int64_t n, int64_t c, float *y) {
  for (int64_t b = 0; b < n; b++)
    for (int64_t oy = 0; oy < p->oh; oy++)
      for (int64_t ox = 0; ox < p->ow; ox++)
        for (int64_t k = 0; k < c; k++) {
          const int64_t y0 = oy * p->s[0] - p->pads[0], x0 = ox * p->s[1] - p->pads[2];
          double acc = p->op == CSM_OP_MAXPOOL ? -INFINITY : 0.0;
          int64_t cnt = 0, padded = 0;
          for (int64_t i = 0; i < p->k[0]; i++)
            for (int64_t j = 0; j < p->k[1]; j++) {
              const int64_t yy = y0 + i, xx = x0 + j;
              if (yy < p->h + p->pads[1] && xx < p->w + p->pads[3]) padded++;
              if (yy < 0 || yy >= p->h || xx < 0 || xx >= p->w) continue;
              const double v = x[((b * p->h + yy) * p->w + xx) * c + k];
              cnt++;
              if (p->op == CSM_OP_MAXPOOL)
                acc = v > acc ? v : acc;
              else
                acc += v;
            }
          if (p->op == CSM_OP_AVGPOOL) acc /= (double)(p->include_pad ? padded : cnt);
          y[((b * p->oh + oy) * p->ow + ox) * c + k] = (float)acc;
        }
}

static void test_pool_ceil_include_pad(void **state) {
  (void)state;
  const int A = CSM_OP_AVGPOOL, M = CSM_OP_MAXPOOL;
  const pcase cases[] = {
      /* 5, k2 s2, ceil: 3 windows, the last clipped to one pixel */
      {A, 5, 5, {2, 2}, {2, 2}, {0, 0, 0, 0}, 1, 0, 3, 3},
      {A, 5, 5, {2, 2}, {2, 2}, {0, 0, 0, 0}, 1, 1, 3, 3},
      {M, 5, 5, {2, 2}, {2, 2}, {0, 0, 0, 0}, 1, 0, 3, 3},
      /* 5, k3 s2 p1: floor and ceil both 3; padding counts or not */
      {A, 5, 6, {3, 3}, {2, 2}, {1, 1, 1, 1}, 0, 1, 3, 3},
      {A, 5, 6, {3, 3}, {2, 2}, {1, 1, 1, 1}, 1, 1, 3, 4},
      {A, 5, 6, {3, 3}, {2, 2}, {1, 1, 1, 1}, 1, 0, 3, 4},
      /* 3, k2 s2 p1 ceil: 3 would start past input + left pad: 2 */
      {A, 3, 4, {2, 2}, {2, 2}, {1, 1, 1, 1}, 1, 1, 2, 3},
      {M, 3, 4, {2, 2}, {2, 2}, {1, 1, 1, 1}, 1, 0, 2, 3},
      /* asymmetric pads */
      {A, 6, 7, {3, 2}, {2, 3}, {2, 0, 1, 1}, 1, 1, 4, 3},
      {A, 6, 7, {3, 2}, {2, 3}, {2, 0, 1, 1}, 0, 1, 3, 3},
      {M, 6, 7, {3, 2}, {2, 3}, {2, 0, 1, 1}, 1, 0, 4, 3},
      /* VALID with ceil */
      {A, 7, 7, {3, 3}, {2, 2}, {0, 0, 0, 0}, 1, 0, 3, 3},
      {A, 8, 7, {3, 3}, {2, 2}, {0, 0, 0, 0}, 1, 1, 4, 3},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const pcase *p = &cases[i];
    csm_node nd = csm_test_node(p->op, 1);
    nd.a.padding =
        (p->pads[0] | p->pads[1] | p->pads[2] | p->pads[3]) ? CSM_PAD_EXPLICIT : CSM_PAD_VALID;
    memcpy(nd.a.pads, p->pads, sizeof p->pads);
    nd.a.ksize[0] = p->k[0];
    nd.a.ksize[1] = p->k[1];
    nd.a.stride[0] = p->s[0];
    nd.a.stride[1] = p->s[1];
    nd.a.ceil_mode = p->ceil_mode;
    nd.a.count_include_pad = p->include_pad;
    csm_tensor x = make_uniform(4, (int64_t[]){2, p->h, p->w, 3}, 50 + (uint32_t)i), out;
    CSM_ASSERT_OK(csm_test_run_op(&nd, &x, &out));
    csm_test_assert_shape(&out, 4, (int64_t[]){2, p->oh, p->ow, 3});
    float want[2 * 8 * 8 * 3];
    pool_ref(p, x.data, 2, 3, want);
    csm_test_assert_tensor_close(&out, want, csm_tensor_numel(&out), 1e-6f, 1e-6f);
    csm_tensor_free(&out);
    csm_tensor_free(&x);
  }
}

/* ---- SAME_LOWER ------------------------------------------------------------ */

/* SAME_LOWER is SAME with the odd padding row/column before: the same as
 * EXPLICIT pads (total+1)/2 before, total/2 after. */
static void check_same_lower(int op, int64_t h, int64_t w, int64_t c, int k, int s, int n_in,
                             const int64_t *fdims, int pads[4]) {
  csm_node nd = csm_test_node(op, n_in);
  csm_tensor in[2], a, b, same;
  in[0] = make_uniform(4, (int64_t[]){2, h, w, c}, 61);
  if (n_in > 1) in[1] = make_uniform(4, fdims, 62);
  nd.a.ksize[0] = nd.a.ksize[1] = k;
  nd.a.stride[0] = nd.a.stride[1] = s;
  nd.a.padding = CSM_PAD_SAME_LOWER;
  CSM_ASSERT_OK(csm_test_run_op(&nd, in, &a));
  nd.a.padding = CSM_PAD_SAME;
  CSM_ASSERT_OK(csm_test_run_op(&nd, in, &same));
  nd.a.padding = CSM_PAD_EXPLICIT;
  memcpy(nd.a.pads, pads, 4 * sizeof(int));
  CSM_ASSERT_OK(csm_test_run_op(&nd, in, &b));
  assert_int_equal(csm_tensor_numel(&a), csm_tensor_numel(&b));
  assert_int_equal(a.shape.d[1], same.shape.d[1]);
  assert_int_equal(a.shape.d[2], same.shape.d[2]);
  assert_memory_equal(a.data, b.data, csm_tensor_numel(&a) * sizeof(float));
  assert_memory_not_equal(a.data, same.data, csm_tensor_numel(&a) * sizeof(float));
  csm_tensor_free(&a);
  csm_tensor_free(&b);
  csm_tensor_free(&same);
  for (int i = 0; i < n_in; i++)
    csm_tensor_free(&in[i]);
}

static void test_same_lower(void **state) {
  (void)state;
  /* 5 wide, k 2, s 1: total 1, all of it before. 6 wide, k 3, s 2: total 1. */
  check_same_lower(CSM_OP_CONV2D, 5, 6, 3, 0, 1, 2, (int64_t[]){2, 3, 3, 4}, (int[]){1, 0, 1, 1});
  check_same_lower(CSM_OP_DEPTHWISE_CONV2D, 5, 6, 3, 0, 1, 2, (int64_t[]){2, 3, 3, 2},
                   (int[]){1, 0, 1, 1});
  check_same_lower(CSM_OP_MAXPOOL, 5, 6, 3, 2, 1, 1, NULL, (int[]){1, 0, 1, 0});
  check_same_lower(CSM_OP_AVGPOOL, 6, 6, 3, 3, 2, 1, NULL, (int[]){1, 0, 1, 0});
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tconv_hand),
      cmocka_unit_test(test_tconv_random),
      cmocka_unit_test(test_tconv_row_blocks),
      cmocka_unit_test(test_tconv_planned),
      cmocka_unit_test(test_unary_onnx),
      cmocka_unit_test(test_log_softmax),
      cmocka_unit_test(test_resize_nearest_modes),
      cmocka_unit_test(test_resize_nearest_2d),
      cmocka_unit_test(test_resize_bilinear_scales),
      cmocka_unit_test(test_pool_ceil_include_pad),
      cmocka_unit_test(test_same_lower),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
