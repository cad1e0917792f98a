/* The generic saliency methods (Grad-CAM, Grad-CAM++, Score-CAM, sliding-
 * window occlusion, vanilla gradient, SmoothGrad) on tiny models built in
 * code, where every map is known in closed form, plus a smoke test on the
 * installed SSR-Net gender model.
 *
 * The CAM model: x [N, 8, 8, 1] -> A = Conv2D 1x1 (3 channels, weights a_k,
 * bias b_k: A_k = a_k x + b_k) -> mean over H, W -> MatMul M [3, 2] -> out.
 * With conf = out[cls], d conf / d A_ijk = M[k][cls] / 64 everywhere. */
#include "csm_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/model_internal.h"

#define N 8
#define NPX (N * N)

static const float conv_a[3] = {1.5f, -0.5f, 0.0f};
static const float conv_b[3] = {0.1f, 0.2f, 0.7f};
static const float mat_m[3][2] = {{0.8f, -0.3f}, {-0.6f, 0.5f}, {0.4f, 0.9f}};

/* ---- graphs ------------------------------------------------------------ */

static int add(csm_graph *g, const char *name, csm_op_kind op, int n, const int *in) {
  return csm_test_graph_add(g, name, op, n, in);
}

static int add_f32(csm_graph *g, const char *name, int rank, const int64_t *dims, const float *v) {
  return csm_test_graph_const(g, name, CSM_F32, rank, dims, v);
}

static int add_i32(csm_graph *g, const char *name, int rank, const int64_t *dims,
                   const int32_t *v) {
  return csm_test_graph_const(g, name, CSM_I32, rank, dims, v);
}

static int add_input(csm_graph *g, int64_t batch, int channels) {
  memset(g, 0, sizeof *g);
  int idx = add(g, "x", CSM_OP_INPUT, 0, NULL);
  int64_t dims[4] = {batch, N, N, channels};
  g->nodes[idx].value.dtype = CSM_F32;
  g->nodes[idx].value.shape = csm_shape_make(4, dims);
  g->inputs = malloc(sizeof(int));
  g->inputs[0] = idx;
  g->n_inputs = 1;
  return idx;
}

static csm_model *finish(csm_graph *g, int out) {
  g->outputs = malloc(sizeof(int));
  g->output_names = malloc(sizeof(char *));
  g->outputs[0] = out;
  g->output_names[0] = strdup("out");
  g->n_outputs = 1;
  g->path = strdup("test-graph");
  csm_model *m;
  CSM_ASSERT_OK(csm_model_from_graph(g, &m));
  return m;
}

/* The CAM model; stride 2 makes A 4 x 4; relu adds a ReLU after A. */
static csm_model *cam_model_relu(int stride, int relu) {
  csm_graph g;
  int x = add_input(&g, -1, 1);
  int64_t fd[4] = {1, 1, 1, 3}, bd = 3, md[2] = {3, 2}, ad = 2;
  int f = add_f32(&g, "filter", 4, fd, conv_a);
  int b = add_f32(&g, "bias", 1, &bd, conv_b);
  int cin[3] = {x, f, b};
  int A = add(&g, "A", CSM_OP_CONV2D, 3, cin);
  g.nodes[A].a.has_bias = 1;
  g.nodes[A].a.stride[0] = g.nodes[A].a.stride[1] = stride;
  int32_t axes[2] = {1, 2};
  int ax = add_i32(&g, "axes", 1, &ad, axes);
  if (relu) A = add(&g, "relu", CSM_OP_RELU, 1, &A);
  int rin[2] = {A, ax};
  int mean = add(&g, "mean", CSM_OP_REDUCE_MEAN, 2, rin);
  int M = add_f32(&g, "M", 2, md, &mat_m[0][0]);
  int min[2] = {mean, M};
  int out = add(&g, "out", CSM_OP_MATMUL, 2, min);
  return finish(&g, out);
}

static csm_model *cam_model(int stride) { return cam_model_relu(stride, 0); }

/* The linear model: x [N, 8, 8, 2] -> reshape [-1, 128] (or [1, 128] for
 * a batch fixed at 1) -> MatMul W [128, 1]. */
static float lin_w[NPX * 2];
static csm_model *linear_model(int fixed_one) {
  csm_graph g;
  int x = add_input(&g, fixed_one ? 1 : -1, 2);
  for (int i = 0; i < NPX * 2; i++)
    lin_w[i] = (float)sin(0.37 * i + 0.2) * (i % 5 == 0 ? 2.0f : 1.0f);
  int64_t two = 2, wd[2] = {NPX * 2, 1};
  int32_t shp[2] = {fixed_one ? 1 : -1, NPX * 2};
  int s = add_i32(&g, "shape", 1, &two, shp);
  int rin[2] = {x, s};
  int r = add(&g, "flat", CSM_OP_RESHAPE, 2, rin);
  int W = add_f32(&g, "W", 2, wd, lin_w);
  int min[2] = {r, W};
  int out = add(&g, "out", CSM_OP_MATMUL, 2, min);
  return finish(&g, out);
}

/* ---- scorers ----------------------------------------------------------- */

/* conf = sum_v coef[v] * out[v][cls] over the sample's views. */
typedef struct wb_ctx {
  csm_model *m;
  int cls, n_out, views;
  float coef[2];
  int calls;
} wb_ctx;

static csm_status wb_conf_grad(void *ctx, const float *raw, int n, float *conf, float *draw) {
  wb_ctx *c = ctx;
  for (int i = 0; i < n; i++) {
    double sum = 0;
    for (int v = 0; v < c->views; v++) {
      size_t row = (size_t)(i * c->views + v) * c->n_out;
      sum += c->coef[v] * raw[row + c->cls];
      for (int k = 0; k < c->n_out; k++)
        draw[row + k] = k == c->cls ? c->coef[v] : 0.0f;
    }
    conf[i] = (float)sum;
  }
  return CSM_OK;
}

static csm_status wb_score(void *ctx, const float *inputs, int n, float *conf) {
  wb_ctx *c = ctx;
  c->calls++;
  csm_shape in = csm_model_input_shape(c->m, 0);
  in.d[0] = (int64_t)n * c->views;
  csm_tensor x = {CSM_F32, in, (void *)inputs, 0}, out;
  csm_status st = csm_model_run(c->m, &x, &out);
  if (st) return st;
  float *draw = malloc(csm_tensor_numel(&out) * sizeof(float));
  st = wb_conf_grad(ctx, out.data, n, conf, draw);
  free(draw);
  csm_tensor_free(&out);
  return st;
}

static csm_scorer white_box(wb_ctx *c, csm_model *m, int cls, int n_out, int views, int channels) {
  memset(c, 0, sizeof *c);
  c->m = m, c->cls = cls, c->n_out = n_out, c->views = views;
  c->coef[0] = c->coef[1] = 1.0f;
  csm_scorer s;
  memset(&s, 0, sizeof s);
  s.views = views, s.size = N, s.channels = channels;
  s.score = wb_score, s.ctx = c;
  snprintf(s.what, sizeof s.what, "out[%d]", cls);
  s.model = m;
  s.node = csm_model_output_node(m, 0);
  s.raw_numel = (size_t)n_out;
  s.conf_grad = wb_conf_grad;
  return s;
}

static int tape_ready = -1;
/* The tape and backward passes are in place (else the gradient tests skip). */
static int have_tape(void) {
  if (tape_ready >= 0) return tape_ready;
  csm_model *m = linear_model(0);
  float x[NPX * 2] = {0};
  int64_t d[4] = {1, N, N, 2};
  csm_tensor in = {CSM_F32, csm_shape_make(4, d), x, 0};
  csm_tape *t = NULL;
  tape_ready = csm_tape_forward(m, &in, &t) == CSM_OK;
  csm_tape_free(t);
  csm_model_free(m);
  if (!tape_ready) print_message("no tape yet (%s): gradient checks skipped\n", csm_last_error());
  return tape_ready;
}

static void input_image(float *x, int n, uint32_t seed) { csm_test_fill_uniform(x, n, seed, 0, 1); }

/* Half-pixel bilinear upsampling, written out for the checks. */
static float bilinear_ref(const double *src, int h, int i, int j) {
  double y = (i + 0.5) * h / N - 0.5, x = (j + 0.5) * h / N - 0.5;
  y = y < 0 ? 0 : y > h - 1 ? h - 1 : y;
  x = x < 0 ? 0 : x > h - 1 ? h - 1 : x;
  int y0 = (int)y, x0 = (int)x, y1 = y0 + 1 < h ? y0 + 1 : y0, x1 = x0 + 1 < h ? x0 + 1 : x0;
  double fy = y - y0, fx = x - x0;
  return (float)((src[y0 * h + x0] * (1 - fx) + src[y0 * h + x1] * fx) * (1 - fy) +
                 (src[y1 * h + x0] * (1 - fx) + src[y1 * h + x1] * fx) * fy);
}

/* The layer A of the CAM model for input x (h = 8 or 4). */
static void cam_layer(const float *x, int stride, double *A) {
  int h = N / stride;
  for (int i = 0; i < h; i++)
    for (int j = 0; j < h; j++)
      for (int k = 0; k < 3; k++)
        A[(i * h + j) * 3 + k] = (double)conv_a[k] * x[(i * stride) * N + j * stride] + conv_b[k];
}

/* ReLU(sum_k w_k A_k), upsampled. */
static void cam_expected(const double *A, int h, const double *w, float *want) {
  double cam[NPX];
  for (int p = 0; p < h * h; p++) {
    double s = 0;
    for (int k = 0; k < 3; k++)
      s += w[k] * A[p * 3 + k];
    cam[p] = s > 0 ? s : 0;
  }
  for (int i = 0; i < N; i++)
    for (int j = 0; j < N; j++)
      want[i * N + j] = bilinear_ref(cam, h, i, j);
}

/* ---- names, options, checks -------------------------------------------- */

static void test_names(void **state) {
  (void)state;
  const char *names[] = {"gradcam", "gradcam++", "scorecam", "occlusion", "gradient", "smoothgrad"};
  for (int m = 0; m < CSM_METHOD_COUNT; m++) {
    assert_string_equal(csm_method_name((csm_method)m), names[m]);
    assert_int_equal(csm_method_parse(names[m]), m);
  }
  assert_int_equal(csm_method_parse("gradcam+"), -1);
  assert_int_equal(csm_method_parse(NULL), -1);
  assert_true(csm_method_needs_gradients(CSM_METHOD_GRADCAM));
  assert_true(csm_method_needs_gradients(CSM_METHOD_GRADCAM_PP));
  assert_true(csm_method_needs_gradients(CSM_METHOD_GRADIENT));
  assert_true(csm_method_needs_gradients(CSM_METHOD_SMOOTHGRAD));
  assert_false(csm_method_needs_gradients(CSM_METHOD_SCORECAM));
  assert_false(csm_method_needs_gradients(CSM_METHOD_OCCLUSION));
  csm_method_options o = csm_method_options_default();
  assert_true(o.layer < 0);
  assert_int_equal(o.smooth_samples, 25);
  assert_float_equal(o.smooth_sigma, 0.15f, 0);
  assert_int_equal(o.seed, 1);
  assert_int_equal(o.max_batch, 8);
  assert_null(o.progress);
}

/* Black boxes: the gradient methods and Score-CAM say so. */
static void test_black_box(void **state) {
  (void)state;
  csm_model *m = cam_model(1);
  wb_ctx c;
  csm_scorer s = white_box(&c, m, 0, 2, 1, 1);
  s.model = NULL, s.conf_grad = NULL;
  float x[NPX], out[NPX];
  input_image(x, NPX, 1);
  csm_method bad[] = {CSM_METHOD_GRADCAM, CSM_METHOD_GRADCAM_PP, CSM_METHOD_GRADIENT,
                      CSM_METHOD_SMOOTHGRAD, CSM_METHOD_SCORECAM};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_int_equal(csm_method_run(&s, bad[i], x, NULL, out), CSM_EUSAGE);
    assert_non_null(strstr(csm_last_error(), "black box"));
    assert_null(strchr(csm_last_error(), '\n'));
  }
  /* A model but no conf_grad is still a black box for gradients. */
  s.model = m;
  assert_int_equal(csm_method_run(&s, CSM_METHOD_GRADIENT, x, NULL, out), CSM_EUSAGE);
  assert_non_null(strstr(csm_last_error(), "black box"));
  /* Occlusion needs forward passes only. */
  s.model = NULL;
  csm_method_options o = csm_method_options_default();
  o.window = 4;
  CSM_ASSERT_OK(csm_method_run(&s, CSM_METHOD_OCCLUSION, x, &o, out));
  assert_int_equal(csm_method_run(NULL, CSM_METHOD_OCCLUSION, x, &o, out), CSM_EUSAGE);
  assert_int_equal(csm_method_run(&s, CSM_METHOD_COUNT, x, &o, out), CSM_EUSAGE);
  o.max_batch = 0;
  assert_int_equal(csm_method_run(&s, CSM_METHOD_OCCLUSION, x, &o, out), CSM_EUSAGE);
  csm_model_free(m);
}

/* ---- the default layer ------------------------------------------------- */

static void test_default_layer(void **state) {
  (void)state;
  /* conv 3x3 SAME -> relu -> maxpool 8x8 -> conv 1x1 (spatial 1x1). */
  csm_graph g;
  int x = add_input(&g, -1, 1);
  float f1[9 * 2], f2[2 * 2];
  for (int i = 0; i < 18; i++)
    f1[i] = 0.1f * (i - 9);
  for (int i = 0; i < 4; i++)
    f2[i] = 0.5f + i;
  int64_t d1[4] = {3, 3, 1, 2}, d2[4] = {1, 1, 2, 2};
  int F1 = add_f32(&g, "f1", 4, d1, f1);
  int c1in[2] = {x, F1};
  int c1 = add(&g, "conv1", CSM_OP_CONV2D, 2, c1in);
  g.nodes[c1].a.padding = CSM_PAD_SAME;
  int r = add(&g, "relu1", CSM_OP_RELU, 1, &c1);
  int p = add(&g, "pool", CSM_OP_MAXPOOL, 1, &r);
  g.nodes[p].a.ksize[0] = g.nodes[p].a.ksize[1] = 8;
  g.nodes[p].a.stride[0] = g.nodes[p].a.stride[1] = 8;
  int F2 = add_f32(&g, "f2", 4, d2, f2);
  int c2in[2] = {p, F2};
  int c2 = add(&g, "conv2", CSM_OP_CONV2D, 2, c2in);
  csm_model *m = finish(&g, c2);
  int layer;
  CSM_ASSERT_OK(csm_cam_default_layer(m, &layer));
  assert_string_equal(csm_model_node_name(m, layer), "relu1");
  csm_model_free(m);

  /* The CAM model's layer is its conv. */
  m = cam_model(1);
  CSM_ASSERT_OK(csm_cam_default_layer(m, &layer));
  assert_string_equal(csm_model_node_name(m, layer), "A");
  csm_model_free(m);

  /* No convolution at all. */
  m = linear_model(0);
  assert_int_equal(csm_cam_default_layer(m, &layer), CSM_EUNSUPPORTED);
  assert_non_null(strstr(csm_last_error(), "convolutional"));
  assert_int_equal(layer, -1);
  csm_model_free(m);
}

/* ---- Grad-CAM and Grad-CAM++ -------------------------------------------- */

static void check_gradcam(int stride, int plus_plus, int cls) {
  if (!have_tape()) return;
  csm_model *m = cam_model(stride);
  wb_ctx c;
  csm_scorer s = white_box(&c, m, cls, 2, 1, 1);
  float x[NPX], out[NPX], want[NPX];
  input_image(x, NPX, 11 + stride);
  int h = N / stride;
  double A[NPX * 3], w[3];
  cam_layer(x, stride, A);
  for (int k = 0; k < 3; k++) {
    double g = (double)mat_m[k][cls] / (h * h);
    if (!plus_plus) {
      w[k] = g;
    } else {
      /* g constant over the map: a = 1 / (2 + S_k g); w = sum_ij a ReLU(g). */
      double S = 0;
      for (int p = 0; p < h * h; p++)
        S += A[p * 3 + k];
      w[k] = g > 0 ? h * h * g / (2 + S * g) : 0;
    }
  }
  cam_expected(A, h, w, want);
  csm_method_options o = csm_method_options_default();
  CSM_ASSERT_OK(
      csm_method_run(&s, plus_plus ? CSM_METHOD_GRADCAM_PP : CSM_METHOD_GRADCAM, x, &o, out));
  csm_test_assert_close(out, want, NPX, 1e-6f, 1e-4f);
  /* The layer named explicitly gives the same. */
  o.layer = csm_model_find_node(m, "A");
  float out2[NPX];
  CSM_ASSERT_OK(
      csm_method_run(&s, plus_plus ? CSM_METHOD_GRADCAM_PP : CSM_METHOD_GRADCAM, x, &o, out2));
  csm_test_assert_close(out2, out, NPX, 0, 0);
  csm_model_free(m);
}

static void test_gradcam(void **state) {
  (void)state;
  csm_test_context = "gradcam 8x8";
  check_gradcam(1, 0, 0);
  check_gradcam(1, 0, 1);
  csm_test_context = "gradcam 4x4 upsampled";
  check_gradcam(2, 0, 1);
  csm_test_context = "";
}

static void test_gradcam_pp(void **state) {
  (void)state;
  csm_test_context = "gradcam++ 8x8";
  check_gradcam(1, 1, 0);
  check_gradcam(1, 1, 1);
  csm_test_context = "gradcam++ 4x4 upsampled";
  check_gradcam(2, 1, 0);
  csm_test_context = "";
}

/* A layer that is not a feature map is refused. */
static void test_gradcam_bad_layer(void **state) {
  (void)state;
  if (!have_tape()) return;
  csm_model *m = cam_model(1);
  wb_ctx c;
  csm_scorer s = white_box(&c, m, 0, 2, 1, 1);
  float x[NPX], out[NPX];
  input_image(x, NPX, 3);
  csm_method_options o = csm_method_options_default();
  o.layer = csm_model_find_node(m, "mean");
  assert_int_equal(csm_method_run(&s, CSM_METHOD_GRADCAM, x, &o, out), CSM_EUSAGE);
  assert_non_null(strstr(csm_last_error(), "mean"));
  csm_model_free(m);
}

/* ---- Score-CAM --------------------------------------------------------- */

/* conf = mean of the input over rows 2..5, columns 1..3 of view `view`. */
typedef struct region_ctx {
  int views, view, calls;
} region_ctx;

static double region_mean(const float *x) {
  double s = 0;
  for (int i = 2; i <= 5; i++)
    for (int j = 1; j <= 3; j++)
      s += x[i * N + j];
  return s / 12;
}

static csm_status region_score(void *ctx, const float *inputs, int n, float *conf) {
  region_ctx *c = ctx;
  c->calls++;
  for (int i = 0; i < n; i++)
    conf[i] = (float)region_mean(inputs + (size_t)(i * c->views + c->view) * NPX);
  return CSM_OK;
}

static void check_scorecam(int stride, int views) {
  csm_model *m = cam_model(stride);
  region_ctx rc = {views, views - 1, 0};
  csm_scorer s;
  memset(&s, 0, sizeof s);
  s.views = views, s.size = N, s.channels = 1;
  s.score = region_score, s.ctx = &rc;
  s.model = m; /* activations only: no node, no conf_grad */
  float x[2 * NPX], out[2 * NPX], want[NPX];
  input_image(x, 2 * NPX, 21);
  int h = N / stride;
  for (int v = 0; v < views; v++) {
    double A[NPX * 3], w[3];
    cam_layer(x + v * NPX, stride, A);
    for (int k = 0; k < 3; k++) {
      double U[NPX], ch[NPX], lo = INFINITY, hi = -INFINITY;
      for (int p = 0; p < h * h; p++)
        ch[p] = A[p * 3 + k];
      for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
          U[i * N + j] = bilinear_ref(ch, h, i, j);
          lo = fmin(lo, U[i * N + j]), hi = fmax(hi, U[i * N + j]);
        }
      if (!(hi > lo) || v != rc.view) {
        w[k] = 0; /* constant channel, or a view the confidence ignores */
        continue;
      }
      float masked[NPX];
      for (int p = 0; p < NPX; p++)
        masked[p] = (float)(x[v * NPX + p] * ((U[p] - lo) / (hi - lo)));
      w[k] = region_mean(masked); /* minus conf(black) = 0: black is 0 */
    }
    cam_expected(A, h, w, want);
    csm_method_options o = csm_method_options_default();
    o.max_batch = 3; /* several batches, the last padded */
    if (v == 0) CSM_ASSERT_OK(csm_method_run(&s, CSM_METHOD_SCORECAM, x, &o, out));
    csm_test_assert_close(out + v * NPX, want, NPX, 1e-6f, 1e-4f);
  }
  /* Per view: its baseline and 2 non-constant channels, 3 per batch. */
  assert_int_equal(rc.calls, views);
  csm_model_free(m);
}

static void test_scorecam(void **state) {
  (void)state;
  csm_test_context = "scorecam 8x8";
  check_scorecam(1, 1);
  csm_test_context = "scorecam 4x4";
  check_scorecam(2, 1);
  csm_test_context = "scorecam two views";
  check_scorecam(1, 2);
  csm_test_context = "";
}

/* ---- sliding-window occlusion ------------------------------------------ */

/* conf = sum of view `view`'s pixels over rows 1..4, columns 3..6. */
static double region_sum(const float *x) {
  double s = 0;
  for (int i = 1; i <= 4; i++)
    for (int j = 3; j <= 6; j++)
      s += x[i * N + j];
  return s;
}

static csm_status sum_score(void *ctx, const float *inputs, int n, float *conf) {
  region_ctx *c = ctx;
  c->calls++;
  for (int i = 0; i < n; i++)
    conf[i] = (float)region_sum(inputs + (size_t)(i * c->views + c->view) * NPX);
  return CSM_OK;
}

static int progress_last, progress_total, progress_calls;
static void progress(void *ctx, int done, int total) {
  (void)ctx;
  assert_true(done > progress_last);
  progress_last = done, progress_total = total, progress_calls++;
}

static void check_occlusion(int views) {
  region_ctx rc = {views, views - 1, 0};
  csm_scorer s;
  memset(&s, 0, sizeof s);
  s.views = views, s.size = N, s.channels = 1;
  s.black[0] = 0.25f;
  s.score = sum_score, s.ctx = &rc;
  float x[2 * NPX], out[2 * NPX];
  input_image(x, 2 * NPX, 5);
  csm_method_options o = csm_method_options_default();
  o.window = 3, o.stride = 2, o.max_batch = 7;
  o.progress = progress;
  progress_last = progress_calls = 0;
  CSM_ASSERT_OK(csm_method_run(&s, CSM_METHOD_OCCLUSION, x, &o, out));
  /* Starts 0, 2, 4, then 5: the last window touches the border. */
  const int starts[4] = {0, 2, 4, 5};
  int total = 1 + views * 16;
  assert_int_equal(progress_total, total);
  assert_int_equal(progress_last, total);
  assert_int_equal(progress_calls, rc.calls);
  assert_int_equal(rc.calls, (total + 6) / 7);
  for (int v = 0; v < views; v++) {
    double sum[NPX] = {0};
    int cnt[NPX] = {0};
    for (int a = 0; a < 4; a++)
      for (int b = 0; b < 4; b++) {
        /* drop = sum over the region inside the window of (x - black). */
        double drop = 0;
        for (int i = starts[a]; i < starts[a] + 3; i++)
          for (int j = starts[b]; j < starts[b] + 3; j++)
            if (i >= 1 && i <= 4 && j >= 3 && j <= 6 && v == rc.view)
              drop += x[v * NPX + i * N + j] - 0.25;
        for (int i = starts[a]; i < starts[a] + 3; i++)
          for (int j = starts[b]; j < starts[b] + 3; j++)
            sum[i * N + j] += drop, cnt[i * N + j]++;
      }
    float want[NPX];
    for (int p = 0; p < NPX; p++)
      want[p] = cnt[p] ? (float)(sum[p] / cnt[p]) : 0.0f;
    csm_test_assert_close(out + v * NPX, want, NPX, 1e-5f, 1e-5f);
    if (v != rc.view)
      for (int p = 0; p < NPX; p++)
        assert_float_equal(out[v * NPX + p], 0, 0);
  }
}

static void test_occlusion(void **state) {
  (void)state;
  csm_test_context = "occlusion one view";
  check_occlusion(1);
  csm_test_context = "occlusion two views";
  check_occlusion(2);
  csm_test_context = "";
  /* Pixels no window covers get 0: window 3, stride 4 on 8 pixels gives
   * starts 0, 4, 5 (all covered); window 2 stride 5: 0, 5, 6 leaves 2..4. */
  region_ctx rc = {1, 0, 0};
  csm_scorer s;
  memset(&s, 0, sizeof s);
  s.views = 1, s.size = N, s.channels = 1;
  s.score = sum_score, s.ctx = &rc;
  float x[NPX], out[NPX];
  for (int p = 0; p < NPX; p++)
    x[p] = 1.0f;
  csm_method_options o = csm_method_options_default();
  o.window = 2, o.stride = 5;
  CSM_ASSERT_OK(csm_method_run(&s, CSM_METHOD_OCCLUSION, x, &o, out));
  for (int i = 0; i < N; i++)
    for (int j = 0; j < N; j++) {
      int uncovered = (i >= 2 && i <= 4) || (j >= 2 && j <= 4);
      if (uncovered) assert_float_equal(out[i * N + j], 0, 0);
    }
  /* Pixel (1, 5) is covered by one window only, rows 0..1 x columns 5..6,
   * which hides 2 of the region's pixels (value 1, black 0): drop 2. */
  assert_float_equal(out[1 * N + 5], 2.0f, 1e-6);
}

/* ---- vanilla gradient and SmoothGrad ----------------------------------- */

static void linear_expected(float *want) {
  for (int p = 0; p < NPX; p++)
    want[p] = fmaxf(fabsf(lin_w[2 * p]), fabsf(lin_w[2 * p + 1]));
}

static void test_gradient(void **state) {
  (void)state;
  if (!have_tape()) return;
  for (int fixed = 0; fixed < 2; fixed++) {
    csm_test_context = fixed ? "gradient, batch fixed at 1" : "gradient";
    csm_model *m = linear_model(fixed);
    wb_ctx c;
    csm_scorer s = white_box(&c, m, 0, 1, 1, 2);
    float x[NPX * 2], out[NPX], want[NPX];
    input_image(x, NPX * 2, 2);
    linear_expected(want);
    CSM_ASSERT_OK(csm_method_run(&s, CSM_METHOD_GRADIENT, x, NULL, out));
    csm_test_assert_close(out, want, NPX, 1e-7f, 1e-6f);
    /* SmoothGrad of a linear model is the gradient, exactly. */
    csm_method_options o = csm_method_options_default();
    o.smooth_samples = 7, o.max_batch = 3;
    float sg[NPX];
    CSM_ASSERT_OK(csm_method_run(&s, CSM_METHOD_SMOOTHGRAD, x, &o, sg));
    csm_test_assert_close(sg, out, NPX, 0, 0);
    csm_model_free(m);
  }
  csm_test_context = "";
}

/* SmoothGrad is seeded: the same seed gives the same map whatever the
 * batch, another seed another map. On the CAM model with a ReLU after A,
 * d conf / d x_p = sum_k [a_k x_p + b_k > 0] a_k M[k][0] / 64: each noisy
 * copy picks one of the sums of a subset of the channels' terms. */
static void test_smoothgrad_seed(void **state) {
  (void)state;
  if (!have_tape()) return;
  csm_model *m = cam_model_relu(1, 1);
  wb_ctx c;
  csm_scorer s = white_box(&c, m, 0, 2, 1, 1);
  float x[NPX], a[NPX], b[NPX], d[NPX];
  input_image(x, NPX, 9);
  csm_method_options o = csm_method_options_default();
  o.smooth_samples = 6, o.smooth_sigma = 0.3f, o.seed = 42;
  o.max_batch = 4;
  CSM_ASSERT_OK(csm_method_run(&s, CSM_METHOD_SMOOTHGRAD, x, &o, a));
  o.max_batch = 1;
  CSM_ASSERT_OK(csm_method_run(&s, CSM_METHOD_SMOOTHGRAD, x, &o, b));
  csm_test_assert_close(a, b, NPX, 0, 0);
  /* Every copy's |gradient| is one of the subset sums; the mean lies in
   * their range. */
  double t[3], lo = INFINITY, hi = 0;
  for (int k = 0; k < 3; k++)
    t[k] = (double)conv_a[k] * mat_m[k][0] / NPX;
  for (int mask = 0; mask < 8; mask++) {
    double v = fabs((mask & 1 ? t[0] : 0) + (mask & 2 ? t[1] : 0) + (mask & 4 ? t[2] : 0));
    lo = fmin(lo, v), hi = fmax(hi, v);
  }
  for (int p = 0; p < NPX; p++)
    assert_true(a[p] >= lo - 1e-6 && a[p] <= hi + 1e-6);
  o.seed = 43;
  CSM_ASSERT_OK(csm_method_run(&s, CSM_METHOD_SMOOTHGRAD, x, &o, d));
  int differ = 0;
  for (int p = 0; p < NPX; p++)
    differ += d[p] != a[p];
  assert_true(differ > 0);
  csm_model_free(m);
}

/* Two views: the confidence reads view 1 only, so view 0's maps are 0. */
static void test_two_views(void **state) {
  (void)state;
  if (!have_tape()) return;
  for (int fixed = 0; fixed < 2; fixed++) {
    csm_test_context = fixed ? "two views, batch fixed at 1" : "two views";
    csm_model *m = linear_model(fixed);
    wb_ctx c;
    csm_scorer s = white_box(&c, m, 0, 1, 2, 2);
    c.coef[0] = 0.0f;
    float x[2 * NPX * 2], out[2 * NPX], want[NPX], zero[NPX] = {0};
    input_image(x, 2 * NPX * 2, 4);
    linear_expected(want);
    CSM_ASSERT_OK(csm_method_run(&s, CSM_METHOD_GRADIENT, x, NULL, out));
    csm_test_assert_close(out, zero, NPX, 0, 0);
    csm_test_assert_close(out + NPX, want, NPX, 1e-7f, 1e-6f);
    csm_method_options o = csm_method_options_default();
    o.smooth_samples = 3;
    CSM_ASSERT_OK(csm_method_run(&s, CSM_METHOD_SMOOTHGRAD, x, &o, out));
    csm_test_assert_close(out, zero, NPX, 0, 0);
    csm_test_assert_close(out + NPX, want, NPX, 1e-7f, 1e-6f);
    csm_model_free(m);
  }
  /* Grad-CAM per view: view 1's map is its own, view 0's is 0. */
  csm_test_context = "gradcam two views";
  csm_model *m = cam_model(1);
  wb_ctx c;
  csm_scorer s = white_box(&c, m, 1, 2, 2, 1);
  c.coef[0] = 0.0f;
  float x[2 * NPX], out[2 * NPX], want[NPX], zero[NPX] = {0};
  input_image(x, 2 * NPX, 8);
  double A[NPX * 3], w[3];
  cam_layer(x + NPX, 1, A);
  for (int k = 0; k < 3; k++)
    w[k] = (double)mat_m[k][1] / NPX;
  cam_expected(A, N, w, want);
  CSM_ASSERT_OK(csm_method_run(&s, CSM_METHOD_GRADCAM, x, NULL, out));
  csm_test_assert_close(out, zero, NPX, 0, 0);
  csm_test_assert_close(out + NPX, want, NPX, 1e-6f, 1e-4f);
  csm_model_free(m);
  csm_test_context = "";
}

/* ---- the installed gender model ---------------------------------------- */

static void test_gender_model(void **state) {
  (void)state;
  char path[1024];
  if (!csm_test_model_path("gender", path, sizeof path)) {
    print_message("models/gender.json not installed: skipped\n");
    return;
  }
  csm_model *m;
  CSM_ASSERT_OK(csm_model_load(path, &m));
  int64_t batch1 = 1;
  csm_shape os;
  CSM_ASSERT_OK(csm_model_output_shape(m, 0, batch1, &os));
  size_t n_out;
  CSM_ASSERT_OK(csm_shape_numel(&os, &n_out));
  wb_ctx c;
  memset(&c, 0, sizeof c);
  c.m = m, c.cls = 0, c.n_out = (int)n_out, c.views = 1, c.coef[0] = 1.0f;
  csm_scorer s;
  memset(&s, 0, sizeof s);
  s.views = 1, s.size = 64, s.channels = 1;
  s.black[0] = -1.0f; /* gray in [-1, 1] */
  s.score = wb_score, s.ctx = &c;
  s.model = m, s.node = csm_model_output_node(m, 0), s.raw_numel = n_out;
  s.conf_grad = wb_conf_grad;
  snprintf(s.what, sizeof s.what, "P(female)");
  int layer;
  CSM_ASSERT_OK(csm_cam_default_layer(m, &layer));
  print_message("gender: default CAM layer %s (%s)\n", csm_model_node_name(m, layer),
                csm_model_node_op(m, layer));
  float *x = malloc(64 * 64 * sizeof(float)), *out = malloc(64 * 64 * sizeof(float));
  csm_test_fill_uniform(x, 64 * 64, 17, -1, 1);
  int tape = have_tape();
  for (int meth = 0; meth < CSM_METHOD_COUNT; meth++) {
    if (csm_method_needs_gradients((csm_method)meth) && !tape) continue;
    csm_method_options o = csm_method_options_default();
    double t0 = csm_now();
    CSM_ASSERT_OK(csm_method_run(&s, (csm_method)meth, x, &o, out));
    double dt = csm_now() - t0;
    int nonzero = 0;
    double lo = INFINITY, hi = -INFINITY;
    for (int p = 0; p < 64 * 64; p++) {
      assert_true(isfinite(out[p]));
      nonzero += out[p] != 0;
      lo = fmin(lo, out[p]), hi = fmax(hi, out[p]);
    }
    print_message("gender: %-10s %8.3f s, map in [%g, %g], %d nonzero\n",
                  csm_method_name((csm_method)meth), dt, lo, hi, nonzero);
    assert_true(nonzero > 0);
    if (meth != CSM_METHOD_GRADIENT) continue;
    /* The gradient against central differences of the confidence at the
     * 4 pixels of largest gradient, within 10%: the network is piecewise
     * linear, and at h = 1e-3 its kinks move one-sided differences by ~5%. */
    for (int rep = 0; rep < 4; rep++) {
      int best = 0;
      for (int p = 1; p < 64 * 64; p++)
        if (out[p] > out[best]) best = p;
      float keep = x[best], conf[2], h = 1e-3f;
      float *xx = malloc(2 * 64 * 64 * sizeof(float));
      memcpy(xx, x, 64 * 64 * sizeof(float));
      memcpy(xx + 64 * 64, x, 64 * 64 * sizeof(float));
      xx[best] = keep + h, xx[64 * 64 + best] = keep - h;
      CSM_ASSERT_OK(wb_score(&c, xx, 2, conf));
      free(xx);
      double fd = fabs(((double)conf[0] - conf[1]) / (2 * h));
      print_message("gender: pixel %d: |gradient| %g, central difference %g\n", best, out[best],
                    fd);
      assert_true(fabs(fd - out[best]) <= 0.1 * out[best] + 1e-5);
      out[best] = -1;
    }
  }
  free(x);
  free(out);
  csm_model_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_names),         cmocka_unit_test(test_black_box),
      cmocka_unit_test(test_default_layer), cmocka_unit_test(test_gradcam),
      cmocka_unit_test(test_gradcam_pp),    cmocka_unit_test(test_gradcam_bad_layer),
      cmocka_unit_test(test_scorecam),      cmocka_unit_test(test_occlusion),
      cmocka_unit_test(test_gradient),      cmocka_unit_test(test_smoothgrad_seed),
      cmocka_unit_test(test_two_views),     cmocka_unit_test(test_gender_model),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
