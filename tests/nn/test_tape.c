/* The tape (csm_tape_forward / csm_tape_backward) against central finite
 * differences of csm_model_run.
 *
 * (a) A small graph built in code: Pad -> MaxPool -> Conv2D (+bias, ReLU)
 *     -> DepthwiseConv2D -> ResizeBilinear -> MatMul (+bias), with a second
 *     output (a MaxPool of the input) that the first does not depend on.
 *     Its data keep every kink out of a finite-difference step's reach (see
 *     build_chain), so the differences are exact up to float rounding.
 *     Checked: the input gradient, the gradient at an intermediate node (by
 *     differencing a second model whose input is that node), zeros for
 *     nodes `from` does not depend on, and that in a batch of 3 each item's
 *     gradient is its own batch-1 gradient.
 * (b) Zoo models (skipped when not installed): gender and emotion (64x64x1)
 *     and faceres (224x224x3, the gender head): d(one output)/d(input) at a
 *     few pixels against central differences with eps = 1e-2. These models
 *     have ReLUs and max pools, so a step can cross a kink: the tolerances
 *     are set from measured errors (printed). Also times a faceres backward
 *     pass against its forward pass. */
#include "csm_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/model_internal.h"

/* ---- (a) a graph built in code --------------------------------------------- */

enum { H = 8, W = 8, C = 2, CO = 4, MO = 3 };

static csm_tensor tensor(csm_dtype dt, int rank, const int64_t *dims) {
  csm_tensor t;
  csm_shape s = csm_shape_make(rank, dims);
  CSM_ASSERT_OK(csm_tensor_alloc(&t, dt, &s));
  return t;
}

static int add_const(csm_graph *g, const char *name, csm_tensor value) {
  int id;
  CSM_ASSERT_OK(csm_graph_add(g, name, CSM_OP_CONST, 0, NULL, &id));
  g->nodes[id].value = value;
  return id;
}

static int add_input(csm_graph *g, const char *name, int rank, const int64_t *dims) {
  int id;
  CSM_ASSERT_OK(csm_graph_add(g, name, CSM_OP_INPUT, 0, NULL, &id));
  g->nodes[id].value.dtype = CSM_F32;
  g->nodes[id].value.shape = csm_shape_make(rank, dims);
  g->n_inputs = 1;
  g->inputs = malloc(sizeof(int));
  g->inputs[0] = id;
  return id;
}

static void set_outputs(csm_graph *g, int n, const int *nodes) {
  g->n_outputs = n;
  g->outputs = malloc(sizeof(int) * (size_t)n);
  g->output_names = malloc(sizeof(char *) * (size_t)n);
  for (int i = 0; i < n; i++) {
    g->outputs[i] = nodes[i];
    g->output_names[i] = strdup(g->nodes[nodes[i]].name);
  }
}

/* Integers in [-2, 2]. */
static csm_tensor int_weights(int rank, const int64_t *dims, uint32_t seed) {
  csm_tensor t = tensor(CSM_F32, rank, dims);
  float *x = t.data;
  csm_test_fill_uniform(x, csm_tensor_numel(&t), seed, -2.49f, 2.49f);
  for (size_t i = 0; i < csm_tensor_numel(&t); i++)
    x[i] = (float)lrintf(x[i]);
  return t;
}

/* The chain. Kinks are kept out of reach: inputs are distinct odd multiples
 * of 1/16 (fill_input), the pad value 0.25 is an even one, so every pool
 * window's maximum beats the runner-up by >= 1/16 while a step moves one
 * input by 1e-2; conv weights are integers in [-2, 2] and its bias is 1/32
 * plus a multiple of 1/16, so each pre-activation is exact and >= 1/32 from
 * the ReLU's kink, and a step moves it by <= 0.02. The rest is linear.
 *
 * stage 0: the model's input is x [N,8,8,2] (the whole chain, plus a second
 * output: MaxPool(x)). stage 1: the input is the ReLU'd conv output
 * [N,5,5,4] (the tail after it, same weights). *ids gets the interesting
 * node indices of the stage-0 graph: [0] input, [1] conv, [2] output,
 * [3] the second output. */
static csm_model *build_chain(int stage, int *ids) {
  csm_graph g;
  memset(&g, 0, sizeof g);
  g.path = strdup(stage ? "tail" : "chain");
  int in[4], x, conv;
  if (stage == 0) {
    x = add_input(&g, "x", 4, (int64_t[]){-1, H, W, C});
    int32_t pads[8] = {0, 0, 1, 1, 1, 1, 0, 0};
    csm_tensor pt = tensor(CSM_I32, 2, (int64_t[]){4, 2});
    memcpy(pt.data, pads, sizeof pads);
    csm_tensor pv = tensor(CSM_F32, 0, NULL);
    ((float *)pv.data)[0] = 0.25f;
    in[0] = x;
    in[1] = add_const(&g, "paddings", pt);
    in[2] = add_const(&g, "pad_value", pv);
    int pad;
    CSM_ASSERT_OK(csm_graph_add(&g, "pad", CSM_OP_PAD, 3, in, &pad));
    int pool;
    CSM_ASSERT_OK(csm_graph_add(&g, "pool", CSM_OP_MAXPOOL, 1, &pad, &pool));
    g.nodes[pool].a.ksize[0] = g.nodes[pool].a.ksize[1] = 2;
    g.nodes[pool].a.stride[0] = g.nodes[pool].a.stride[1] = 2;
    /* [N,10,10,2] -> [N,5,5,2] */
    csm_tensor bias = tensor(CSM_F32, 1, (int64_t[]){CO});
    float *b = bias.data;
    csm_test_fill_uniform(b, CO, 31, -4.49f, 4.49f);
    for (int i = 0; i < CO; i++)
      b[i] = (float)lrintf(b[i]) / 16.0f + 1.0f / 32.0f;
    in[0] = pool;
    in[1] = add_const(&g, "conv_w", int_weights(4, (int64_t[]){3, 3, C, CO}, 41));
    in[2] = add_const(&g, "conv_b", bias);
    CSM_ASSERT_OK(csm_graph_add(&g, "conv", CSM_OP_CONV2D, 3, in, &conv));
    g.nodes[conv].a.padding = CSM_PAD_SAME;
    g.nodes[conv].a.has_bias = 1;
    g.nodes[conv].a.act = CSM_ACT_RELU;
  } else {
    x = add_input(&g, "y", 4, (int64_t[]){-1, 5, 5, CO});
    conv = x;
  }
  int dw, rs, mm;
  csm_tensor dwf = tensor(CSM_F32, 4, (int64_t[]){2, 2, CO, 1});
  csm_test_fill_uniform(dwf.data, csm_tensor_numel(&dwf), 43, -1.0f, 1.0f);
  in[0] = conv;
  in[1] = add_const(&g, "dw_w", dwf);
  CSM_ASSERT_OK(csm_graph_add(&g, "dw", CSM_OP_DEPTHWISE_CONV2D, 2, in, &dw));
  /* [N,4,4,4] -> [N,6,6,4] */
  csm_tensor size = tensor(CSM_I32, 1, (int64_t[]){2});
  ((int32_t *)size.data)[0] = 6;
  ((int32_t *)size.data)[1] = 6;
  in[0] = dw;
  in[1] = add_const(&g, "size", size);
  CSM_ASSERT_OK(csm_graph_add(&g, "resize", CSM_OP_RESIZE_BILINEAR, 2, in, &rs));
  g.nodes[rs].a.half_pixel_centers = 1;
  csm_tensor mw = tensor(CSM_F32, 2, (int64_t[]){CO, MO});
  csm_test_fill_uniform(mw.data, CO * MO, 47, -1.0f, 1.0f);
  csm_tensor mb = tensor(CSM_F32, 1, (int64_t[]){MO});
  csm_test_fill_uniform(mb.data, MO, 53, -1.0f, 1.0f);
  in[0] = rs;
  in[1] = add_const(&g, "mm_w", mw);
  in[2] = add_const(&g, "mm_b", mb);
  CSM_ASSERT_OK(csm_graph_add(&g, "out", CSM_OP_MATMUL, 3, in, &mm));
  g.nodes[mm].a.has_bias = 1;
  int outs[2] = {mm, -1};
  if (stage == 0) {
    int side;
    CSM_ASSERT_OK(csm_graph_add(&g, "side", CSM_OP_MAXPOOL, 1, &x, &side));
    g.nodes[side].a.ksize[0] = g.nodes[side].a.ksize[1] = 2;
    g.nodes[side].a.stride[0] = g.nodes[side].a.stride[1] = 2;
    outs[1] = side;
  }
  set_outputs(&g, stage == 0 ? 2 : 1, outs);
  csm_model *m;
  CSM_ASSERT_OK(csm_model_from_graph(&g, &m));
  if (ids) {
    ids[0] = csm_model_find_node(m, "x");
    ids[1] = csm_model_find_node(m, "conv");
    ids[2] = csm_model_find_node(m, "out");
    ids[3] = csm_model_find_node(m, "side");
  }
  return m;
}

/* Distinct odd multiples of 1/16, scrambled, centred on 0. */
static void fill_input(float *x, size_t n) {
  for (size_t i = 0; i < n; i++)
    x[i] = ((float)((i * 7919) % n) - (float)(n / 2)) / 8.0f + 1.0f / 16.0f;
}

/* L = sum seed * output 0, in double. */
static double loss(csm_model *m, const csm_tensor *x, const float *seed) {
  csm_tensor out[2];
  CSM_ASSERT_OK(csm_model_run(m, x, out));
  double l = 0;
  const float *o = out[0].data;
  for (size_t i = 0; i < csm_tensor_numel(&out[0]); i++)
    l += (double)seed[i] * o[i];
  for (int k = 0; k < csm_model_num_outputs(m); k++)
    csm_tensor_free(&out[k]);
  return l;
}

/* Checks every element of grad against central differences of L(x) over m;
 * returns the worst |g - fd| / max(|fd|, 1). */
static double check_fd(csm_model *m, csm_tensor *x, const float *seed, const csm_tensor *grad,
                       double eps, double abs_tol, double rel_tol, const char *what) {
  float *xd = x->data;
  const float *gd = grad->data;
  double worst = 0;
  for (size_t j = 0; j < csm_tensor_numel(x); j++) {
    const float keep = xd[j];
    xd[j] = (float)(keep + eps);
    const double step_p = (double)xd[j] - keep;
    const double lp = loss(m, x, seed);
    xd[j] = (float)(keep - eps);
    const double step_m = keep - (double)xd[j];
    const double lm = loss(m, x, seed);
    xd[j] = keep;
    const double fd = (lp - lm) / (step_p + step_m);
    const double err = fabs(gd[j] - fd);
    const double rel = err / (fabs(fd) > 1 ? fabs(fd) : 1);
    if (rel > worst) worst = rel;
    if (err > abs_tol + rel_tol * fabs(fd))
      fail_msg("%s element %zu: backward %.7g, finite difference %.7g", what, j, gd[j], fd);
  }
  return worst;
}

static void test_chain_gradients(void **state) {
  (void)state;
  int ids[4];
  csm_model *m = build_chain(0, ids), *tail = build_chain(1, NULL);
  assert_true(ids[0] >= 0 && ids[1] >= 0 && ids[2] >= 0 && ids[3] >= 0);
  csm_tensor x = tensor(CSM_F32, 4, (int64_t[]){1, H, W, C});
  fill_input(x.data, csm_tensor_numel(&x));
  csm_tape *t;
  CSM_ASSERT_OK(csm_tape_forward(m, &x, &t));
  /* Values: the input as given, the output as csm_model_run gives it. */
  const csm_tensor *xv = csm_tape_value(t, ids[0]);
  assert_non_null(xv);
  assert_memory_equal(xv->data, x.data, csm_tensor_numel(&x) * sizeof(float));
  csm_tensor outs[2];
  CSM_ASSERT_OK(csm_model_run(m, &x, outs));
  const csm_tensor *ov = csm_tape_value(t, ids[2]);
  assert_non_null(ov);
  assert_true(csm_shape_equal(&ov->shape, &outs[0].shape));
  assert_memory_equal(ov->data, outs[0].data, csm_tensor_numel(ov) * sizeof(float));
  assert_null(csm_tape_value(t, -1));

  csm_tensor seed = tensor(CSM_F32, ov->shape.rank, ov->shape.d);
  csm_test_fill_uniform(seed.data, csm_tensor_numel(&seed), 3, -1.0f, 1.0f);
  int wrt[3] = {ids[0], ids[1], ids[3]};
  csm_tensor grads[3];
  CSM_ASSERT_OK(csm_tape_backward(t, ids[2], &seed, 3, wrt, grads));
  assert_true(csm_shape_equal(&grads[0].shape, &x.shape));
  /* Exact up to float rounding of outputs of magnitude ~10: measured worst
   * relative error ~1e-5 (printed). */
  double w0 = check_fd(m, &x, seed.data, &grads[0], 1e-2, 2e-3, 2e-3, "d out / d x");
  /* The intermediate: difference the tail model at the conv's value. */
  const csm_tensor *yv = csm_tape_value(t, ids[1]);
  assert_non_null(yv);
  csm_tensor y = tensor(CSM_F32, yv->shape.rank, yv->shape.d);
  memcpy(y.data, yv->data, csm_tensor_numel(yv) * sizeof(float));
  assert_true(csm_shape_equal(&grads[1].shape, &y.shape));
  double w1 = check_fd(tail, &y, seed.data, &grads[1], 1e-2, 2e-3, 2e-3, "d out / d conv");
  print_message("chain: worst relative error %.2g (input), %.2g (conv output)\n", w0, w1);
  /* The side output does not feed `out`: zeros. */
  const float *z = grads[2].data;
  for (size_t i = 0; i < csm_tensor_numel(&grads[2]); i++)
    assert_true(z[i] == 0.0f);
  for (int k = 0; k < 3; k++)
    csm_tensor_free(&grads[k]);

  /* Backward from the side output: the conv gets zeros, x gets the pool's
   * routing (each seed value lands on one pixel of its window). */
  const csm_tensor *sv = csm_tape_value(t, ids[3]);
  csm_tensor sseed = tensor(CSM_F32, sv->shape.rank, sv->shape.d);
  csm_test_fill_uniform(sseed.data, csm_tensor_numel(&sseed), 4, 1.0f, 2.0f);
  int wrt2[2] = {ids[1], ids[0]};
  CSM_ASSERT_OK(csm_tape_backward(t, ids[3], &sseed, 2, wrt2, grads));
  double total = 0, want = 0;
  for (size_t i = 0; i < csm_tensor_numel(&grads[0]); i++)
    assert_true(((float *)grads[0].data)[i] == 0.0f);
  for (size_t i = 0; i < csm_tensor_numel(&grads[1]); i++)
    total += ((float *)grads[1].data)[i];
  for (size_t i = 0; i < csm_tensor_numel(&sseed); i++)
    want += ((float *)sseed.data)[i];
  assert_true(fabs(total - want) < 1e-4 * want);
  csm_tensor_free(&grads[0]);
  csm_tensor_free(&grads[1]);

  /* Errors: a seed of the wrong shape, a constant `from`. */
  assert_int_equal(csm_tape_backward(t, ids[2], &sseed, 1, wrt, grads), CSM_EUSAGE);
  assert_int_equal(csm_tape_backward(t, csm_model_find_node(m, "conv_w"), &seed, 1, wrt, grads),
                   CSM_EUSAGE);

  csm_tensor_free(&sseed);
  csm_tensor_free(&seed);
  csm_tensor_free(&y);
  csm_tensor_free(&outs[0]);
  csm_tensor_free(&outs[1]);
  csm_tape_free(t);
  csm_tensor_free(&x);
  csm_model_free(m);
  csm_model_free(tail);
}

/* A batch of 3: each item's gradient is its own batch-1 gradient. */
static void test_chain_batch(void **state) {
  (void)state;
  int ids[4];
  csm_model *m = build_chain(0, ids);
  enum { B = 3 };
  csm_tensor x = tensor(CSM_F32, 4, (int64_t[]){B, H, W, C});
  const size_t per = (size_t)H * W * C;
  for (int b = 0; b < B; b++) {
    fill_input((float *)x.data + b * per, per);
    float *xb = (float *)x.data + b * per;
    for (size_t i = 0; i < per; i++) /* different items, same kink margins */
      xb[i] = b % 2 ? -xb[i] : xb[i] + (float)b;
  }
  csm_tape *t;
  CSM_ASSERT_OK(csm_tape_forward(m, &x, &t));
  const csm_tensor *ov = csm_tape_value(t, ids[2]);
  csm_tensor seed = tensor(CSM_F32, ov->shape.rank, ov->shape.d);
  const size_t per_out = csm_tensor_numel(&seed) / B;
  csm_test_fill_uniform(seed.data, csm_tensor_numel(&seed), 5, -1.0f, 1.0f);
  int wrt[2] = {ids[0], ids[1]};
  csm_tensor grads[2];
  CSM_ASSERT_OK(csm_tape_backward(t, ids[2], &seed, 2, wrt, grads));
  for (int b = 0; b < B; b++) {
    csm_tensor xi = tensor(CSM_F32, 4, (int64_t[]){1, H, W, C});
    memcpy(xi.data, (float *)x.data + b * per, per * sizeof(float));
    csm_tape *ti;
    CSM_ASSERT_OK(csm_tape_forward(m, &xi, &ti));
    csm_tensor si = tensor(CSM_F32, ov->shape.rank, ov->shape.d);
    si.shape.d[0] = 1;
    memcpy(si.data, (float *)seed.data + b * per_out, per_out * sizeof(float));
    csm_tensor gi[2];
    CSM_ASSERT_OK(csm_tape_backward(ti, ids[2], &si, 2, wrt, gi));
    for (int k = 0; k < 2; k++) {
      const size_t n = csm_tensor_numel(&gi[k]);
      /* Row-independent kernels: the same bits. */
      assert_memory_equal((float *)grads[k].data + b * n, gi[k].data, n * sizeof(float));
      csm_tensor_free(&gi[k]);
    }
    csm_tensor_free(&si);
    csm_tape_free(ti);
    csm_tensor_free(&xi);
  }
  csm_tensor_free(&grads[0]);
  csm_tensor_free(&grads[1]);
  csm_tensor_free(&seed);
  csm_tape_free(t);
  csm_tensor_free(&x);
  csm_model_free(m);
}

/* A model whose input declares a batch of 1 takes one item per tape. */
static void test_fixed_batch_one(void **state) {
  (void)state;
  csm_graph g;
  memset(&g, 0, sizeof g);
  g.path = strdup("fixed");
  int x = add_input(&g, "x", 4, (int64_t[]){1, 4, 4, 1}), pool;
  CSM_ASSERT_OK(csm_graph_add(&g, "pool", CSM_OP_AVGPOOL, 1, &x, &pool));
  g.nodes[pool].a.ksize[0] = g.nodes[pool].a.ksize[1] = 2;
  g.nodes[pool].a.stride[0] = g.nodes[pool].a.stride[1] = 2;
  set_outputs(&g, 1, &pool);
  csm_model *m;
  CSM_ASSERT_OK(csm_model_from_graph(&g, &m));
  assert_true(csm_model_fixed_batch_one(m));
  csm_tensor x2 = tensor(CSM_F32, 4, (int64_t[]){2, 4, 4, 1});
  csm_tape *t = NULL;
  assert_int_equal(csm_tape_forward(m, &x2, &t), CSM_EUSAGE);
  assert_null(t);
  assert_non_null(strstr(csm_last_error(), "batch of 1"));
  assert_non_null(strstr(csm_last_error(), "fixed"));
  /* Batch 1 works: the average pool spreads each seed value over 4 pixels. */
  csm_tensor x1 = tensor(CSM_F32, 4, (int64_t[]){1, 4, 4, 1});
  CSM_ASSERT_OK(csm_tape_forward(m, &x1, &t));
  csm_tensor seed = tensor(CSM_F32, 4, (int64_t[]){1, 2, 2, 1}), gr;
  for (int i = 0; i < 4; i++)
    ((float *)seed.data)[i] = (float)(i + 1);
  int wrt = csm_model_find_node(m, "x");
  CSM_ASSERT_OK(csm_tape_backward(t, csm_model_find_node(m, "pool"), &seed, 1, &wrt, &gr));
  const float want[16] = {0.25f, 0.25f, 0.5f, 0.5f, 0.25f, 0.25f, 0.5f, 0.5f,
                          0.75f, 0.75f, 1.0f, 1.0f, 0.75f, 0.75f, 1.0f, 1.0f};
  csm_test_assert_tensor_close(&gr, want, 16, 0, 0);
  csm_tensor_free(&gr);
  csm_tensor_free(&seed);
  csm_tape_free(t);
  csm_tensor_free(&x1);
  csm_tensor_free(&x2);
  csm_model_free(m);
}

/* ---- (b) zoo models ------------------------------------------------------- */

static int have_model(const char *name) {
  char buf[1024];
  return csm_test_model_path(name, buf, sizeof buf) != NULL;
}

/* One zoo model check: inputs in [lo, hi), two finite-difference steps. */
typedef struct zoo_case {
  const char *name, *output; /* output: a substring of its name, or NULL for output 0 */
  int64_t elem;              /* the output element differentiated */
  float lo, hi;              /* the input range the model expects */
  double eps[2];             /* finite-difference steps, in input units */
  double rel_tol, abs_frac;  /* |g - fd| <= rel_tol |fd| + abs_frac max|g| */
} zoo_case;

/* Output element `elem` of output o at x (in double). */
static double out_at(csm_model *m, const csm_tensor *x, int o, int64_t elem) {
  csm_tensor outs[4];
  CSM_ASSERT_OK(csm_model_run(m, x, outs));
  const double v = ((float *)outs[o].data)[elem];
  for (int k = 0; k < csm_model_num_outputs(m); k++)
    csm_tensor_free(&outs[k]);
  return v;
}

/* Central, forward and backward differences at element j with step eps. */
static void fd_at(csm_model *m, csm_tensor *x, int o, int64_t elem, size_t j, double eps, double f0,
                  double *d) {
  float *xd = x->data;
  const float keep = xd[j];
  xd[j] = (float)(keep + eps);
  const double sp = (double)xd[j] - keep, fp = out_at(m, x, o, elem);
  xd[j] = (float)(keep - eps);
  const double sm = keep - (double)xd[j], fm = out_at(m, x, o, elem);
  xd[j] = keep;
  d[0] = (fp - fm) / (sp + sm);
  d[1] = (fp - f0) / sp;
  d[2] = (f0 - fm) / sm;
}

/* d(output element)/d(input) at six input elements against finite
 * differences. These models are piecewise linear at fine scales (ReLUs, max
 * pools): a step can cross a kink, and then the central difference mixes
 * the slopes of both sides. A point passes when the central difference at
 * either step, or a one-sided difference (the side without the kink: the
 * backward pass gives the slope at x itself), agrees within the tolerance.
 * Which one matched is printed. */
static void check_zoo(const zoo_case *zc) {
  char path[1024];
  assert_non_null(csm_test_model_path(zc->name, path, sizeof path));
  csm_model *m;
  CSM_ASSERT_OK(csm_model_load(path, &m));
  int o = 0;
  if (zc->output) {
    o = -1;
    for (int i = 0; i < csm_model_num_outputs(m); i++)
      if (strstr(csm_model_output_name(m, i), zc->output)) o = i;
    if (o < 0) fail_msg("%s: no output named like '%s'", zc->name, zc->output);
  }
  csm_shape s = csm_model_input_shape(m, 0);
  s.d[0] = 1;
  csm_tensor x;
  CSM_ASSERT_OK(csm_tensor_alloc(&x, CSM_F32, &s));
  const size_t n = csm_tensor_numel(&x), row = (size_t)(s.d[2] * s.d[3]);
  float *xd = x.data;
  /* A smooth image (a ramp) plus noise, not pure noise. */
  csm_test_fill_uniform(xd, n, 21, 0.0f, 1.0f);
  for (size_t i = 0; i < n; i++)
    xd[i] = zc->lo + (zc->hi - zc->lo) * (0.3f * xd[i] + 0.6f * (float)(i % row) / (float)row);
  csm_tape *t;
  double t0 = csm_now();
  CSM_ASSERT_OK(csm_tape_forward(m, &x, &t));
  double t1 = csm_now();
  const int from = csm_model_output_node(m, o);
  const csm_tensor *ov = csm_tape_value(t, from);
  assert_non_null(ov);
  assert_true(zc->elem < (int64_t)csm_tensor_numel(ov));
  csm_tensor seed;
  CSM_ASSERT_OK(csm_tensor_alloc(&seed, CSM_F32, &ov->shape));
  ((float *)seed.data)[zc->elem] = 1.0f;
  int wrt = csm_model_input_node(m, 0);
  csm_tensor g;
  CSM_ASSERT_OK(csm_tape_backward(t, from, &seed, 1, &wrt, &g));
  double t2 = csm_now();
  const float *gd = g.data;
  double gmax = 0;
  for (size_t i = 0; i < n; i++)
    if (fabs(gd[i]) > gmax) gmax = fabs(gd[i]);
  assert_true(gmax > 0);
  const int64_t hh = s.d[1], ww = s.d[2], cc = s.d[3];
  /* Three fixed points, and the largest |gradient| in each third of the
   * rows (where the finite difference resolves best). */
  int64_t pts[6][3] = {
      {hh / 2, ww / 2, 0}, {hh / 3, ww / 4, 1 % cc}, {2 * hh / 3, 3 * ww / 4, 2 % cc}};
  for (int band = 0; band < 3; band++) {
    size_t best = (size_t)(band * hh / 3) * (size_t)(ww * cc);
    for (size_t i = best; i < (size_t)((band + 1) * hh / 3) * (size_t)(ww * cc); i++)
      if (fabs(gd[i]) > fabs(gd[best])) best = i;
    pts[3 + band][0] = (int64_t)(best / (size_t)(ww * cc));
    pts[3 + band][1] = (int64_t)(best / (size_t)cc % (size_t)ww);
    pts[3 + band][2] = (int64_t)(best % (size_t)cc);
  }
  double worst_rel = 0, worst_abs = 0;
  const double f0 = out_at(m, &x, o, zc->elem);
  for (int p = 0; p < 6; p++) {
    const size_t j = (size_t)(((pts[p][0] * ww) + pts[p][1]) * cc + pts[p][2]);
    static const char *const kinds[3] = {"central", "forward", "backward"};
    double best_err = INFINITY, best_fd = 0, fds[2][3];
    int best_e = 0, best_k = 0;
    for (int e = 0; e < 2; e++) {
      fd_at(m, &x, o, zc->elem, j, zc->eps[e], f0, fds[e]);
      for (int k = 0; k < 3; k++) {
        const double err = fabs(gd[j] - fds[e][k]);
        if (err < best_err) {
          best_err = err;
          best_fd = fds[e][k];
          best_e = e;
          best_k = k;
        }
      }
    }
    const double rel = best_err / fabs(best_fd);
    print_message("%s %s[%lld] at (%lld,%lld,%lld): backward %.6g; central differences %.6g "
                  "(eps %g), %.6g (eps %g); closest: %s, eps %g, error %.3g of it, %.3g of "
                  "max|g|\n",
                  zc->name, csm_model_output_name(m, o), (long long)zc->elem, (long long)pts[p][0],
                  (long long)pts[p][1], (long long)pts[p][2], gd[j], fds[0][0], zc->eps[0],
                  fds[1][0], zc->eps[1], kinds[best_k], zc->eps[best_e], rel, best_err / gmax);
    if (rel > worst_rel) worst_rel = rel;
    if (best_err / gmax > worst_abs) worst_abs = best_err / gmax;
    if (best_err > zc->abs_frac * gmax + zc->rel_tol * fabs(best_fd))
      fail_msg("%s: d%s[%lld]/dx at element %zu: backward %.6g, finite differences %.6g, %.6g "
               "(max |grad| %.3g)",
               zc->name, csm_model_output_name(m, o), (long long)zc->elem, j, gd[j], fds[0][0],
               fds[1][0], gmax);
  }
  print_message("%s: worst error %.3g of |fd|, %.3g of max|grad| (%.3g); tape forward %.3f s, "
                "backward %.3f s\n",
                zc->name, worst_rel, worst_abs, gmax, t1 - t0, t2 - t1);
  csm_tensor_free(&g);
  csm_tensor_free(&seed);
  csm_tape_free(t);
  csm_tensor_free(&x);
  csm_model_free(m);
}

/* gender (SSR-Net style) and emotion take gray in [-1, 1]: eps 1e-2 and
 * 2.5e-3. faceres takes 0..255 RGB and its sigmoid output moves by ~1e-6
 * per unit: eps 1e-2 would be below the output's float resolution, so the
 * steps are 1 and 2 units (0.4% and 0.8% of the range, like 1e-2 on [0,1]). */
static void test_zoo_gender(void **state) {
  (void)state;
  const zoo_case zc = {"gender", NULL, 0, -1.0f, 1.0f, {1e-2, 2.5e-3}, 0.1, 0.02};
  check_zoo(&zc);
}

static void test_zoo_emotion(void **state) {
  (void)state;
  const zoo_case zc = {"emotion", NULL, 3, -1.0f, 1.0f, {1e-2, 2.5e-3}, 0.1, 0.02};
  check_zoo(&zc);
}

static void test_zoo_faceres(void **state) {
  (void)state;
  const zoo_case zc = {"faceres", "gender", 0, 0.0f, 255.0f, {2.0, 1.0}, 0.1, 0.02};
  check_zoo(&zc);
}

/* Timing (printed, not checked): a faceres input gradient of one output at
 * batch 1 and 8 against the forward pass. */
static void test_faceres_timing(void **state) {
  (void)state;
  char path[1024];
  assert_non_null(csm_test_model_path("faceres", path, sizeof path));
  csm_model *m;
  CSM_ASSERT_OK(csm_model_load(path, &m));
  int o = 0;
  for (int i = 0; i < csm_model_num_outputs(m); i++)
    if (strstr(csm_model_output_name(m, i), "gender")) o = i;
  const int from = csm_model_output_node(m, o), wrt = csm_model_input_node(m, 0);
  for (int64_t batch = 1; batch <= 8; batch += 7) {
    csm_shape s = csm_model_input_shape(m, 0);
    s.d[0] = batch;
    csm_tensor x, outs[4], g;
    CSM_ASSERT_OK(csm_tensor_alloc(&x, CSM_F32, &s));
    csm_test_fill_uniform(x.data, csm_tensor_numel(&x), 2, 0.0f, 255.0f);
    CSM_ASSERT_OK(csm_model_run(m, &x, outs)); /* warm up */
    for (int k = 0; k < csm_model_num_outputs(m); k++)
      csm_tensor_free(&outs[k]);
    double t0 = csm_now();
    CSM_ASSERT_OK(csm_model_run(m, &x, outs));
    double t1 = csm_now();
    for (int k = 0; k < csm_model_num_outputs(m); k++)
      csm_tensor_free(&outs[k]);
    csm_tape *t;
    CSM_ASSERT_OK(csm_tape_forward(m, &x, &t));
    double t2 = csm_now();
    const csm_tensor *ov = csm_tape_value(t, from);
    csm_tensor seed;
    CSM_ASSERT_OK(csm_tensor_alloc(&seed, CSM_F32, &ov->shape));
    for (int64_t b = 0; b < batch; b++)
      ((float *)seed.data)[b * (int64_t)(csm_tensor_numel(ov) / (size_t)batch)] = 1.0f;
    CSM_ASSERT_OK(csm_tape_backward(t, from, &seed, 1, &wrt, &g));
    double t3 = csm_now();
    print_message("faceres batch %lld (%d threads): forward %.3f s, tape forward %.3f s, backward "
                  "%.3f s\n",
                  (long long)batch, csm_threads(), t1 - t0, t2 - t1, t3 - t2);
    csm_tensor_free(&g);
    csm_tensor_free(&seed);
    csm_tape_free(t);
    csm_tensor_free(&x);
  }
  csm_model_free(m);
}

int main(void) {
  const struct CMUnitTest synthetic[] = {
      cmocka_unit_test(test_chain_gradients),
      cmocka_unit_test(test_chain_batch),
      cmocka_unit_test(test_fixed_batch_one),
  };
  int failed = cmocka_run_group_tests(synthetic, NULL, NULL);
  if (!have_model("gender") || !have_model("emotion") || !have_model("faceres")) {
    fprintf(stderr, "zoo models not installed (run make setup): whole-model gradients skipped\n");
    return failed ? failed : CSM_TEST_SKIP;
  }
  csm_set_threads(atoi(csm_test_env("CSM_THREADS", "2")));
  const struct CMUnitTest zoo[] = {
      cmocka_unit_test(test_zoo_gender),
      cmocka_unit_test(test_zoo_emotion),
      cmocka_unit_test(test_zoo_faceres),
      cmocka_unit_test(test_faceres_timing),
  };
  return failed + cmocka_run_group_tests(zoo, NULL, NULL);
}
