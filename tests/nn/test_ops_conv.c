/* Conv2D, DepthwiseConv2D and MatMul: hand-computed cases (padding, strides,
 * dilations, fused bias and activations), randomized comparisons of the fast
 * paths against naive loops written here (independent of the library's
 * geometry helpers and references), bit equality across batch composition
 * and thread counts, and shape errors. */
#include "csm_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/ops/conv_reference.h"
#include "nn/ops/gemm.h"
#include "nn/ops/op.h"

/* ---- helpers ------------------------------------------------------------- */

static csm_tensor tens(int rank, const int64_t *dims, const float *data) {
  csm_tensor t;
  memset(&t, 0, sizeof t);
  t.dtype = CSM_F32;
  t.shape = csm_shape_make(rank, dims);
  t.data = (void *)data;
  return t;
}

static int in_idx[4] = {0, 1, 2, 3};

static csm_node node(csm_op_kind op, int n_in) {
  csm_node n;
  memset(&n, 0, sizeof n);
  n.op = op;
  n.a = csm_attrs_default();
  n.in = in_idx;
  n.n_in = n_in;
  return n;
}

static void check_shape(const csm_tensor *t, int rank, const int64_t *dims) {
  char got[128], want[128];
  csm_shape s = csm_shape_make(rank, dims);
  if (!csm_shape_equal(&t->shape, &s))
    fail_msg("shape %s, want %s", csm_shape_str(&t->shape, got, sizeof got),
             csm_shape_str(&s, want, sizeof want));
}

/* Hand-computed values are small integers or simple fractions. */
static void check_close(const csm_tensor *t, const float *want, size_t n) {
  const float *got = t->data;
  assert_int_equal(csm_tensor_numel(t), n);
  for (size_t i = 0; i < n; i++)
    if (fabsf(got[i] - want[i]) > 1e-5f * (1.0f + fabsf(want[i])))
      fail_msg("element %zu: got %.9g, want %.9g", i, (double)got[i], (double)want[i]);
}

static float *rnd(size_t n, uint32_t seed) {
  float *x = malloc(n ? n * sizeof(float) : 1);
  assert_non_null(x);
  csm_test_fill_uniform(x, n, seed, -1.0f, 1.0f);
  return x;
}

static int64_t prod(int rank, const int64_t *d) {
  int64_t p = 1;
  for (int i = 0; i < rank; i++)
    p *= d[i];
  return p;
}

/* ---- independent naive implementations ---------------------------------- */

enum { VALID, SAME, EXPLICIT };

/* TensorFlow's output size and leading pad, written out again here. */
static int64_t naive_out(int64_t in, int64_t k, int s, int d, int pad, int pb, int pa,
                         int64_t *before) {
  const int64_t eff = (k - 1) * d + 1;
  if (pad == SAME) {
    const int64_t out = (in + s - 1) / s;
    int64_t total = (out - 1) * s + eff - in;
    if (total < 0) total = 0;
    *before = total / 2;
    return out;
  }
  *before = pad == EXPLICIT ? pb : 0;
  const int64_t padded = in + (pad == EXPLICIT ? pb + pa : 0);
  return padded < eff ? -1 : (padded - eff) / s + 1;
}

typedef struct conv_case {
  int64_t n, h, w, c, kh, kw, co; /* co: Conv2D output channels, or the depthwise multiplier */
  int sh, sw, dh, dw, pad;
  int pads[4];
  int has_bias;
  csm_activation act;
} conv_case;

static float naive_act(float v, csm_activation act, float slope) {
  switch (act) {
  case CSM_ACT_NONE: return v;
  case CSM_ACT_RELU: return v > 0 ? v : 0;
  case CSM_ACT_RELU6: return v > 6 ? 6 : v > 0 ? v : 0;
  case CSM_ACT_LEAKY_RELU:
  case CSM_ACT_PRELU: return v > 0 ? v : v * slope;
  }
  return v;
}

/* Output and a per-element error bound (the sum of |terms|). depthwise: co
 * is the multiplier. */
static void naive_conv(const conv_case *k, int depthwise, const float *x, const float *f,
                       const float *bias, const float *alpha, float leaky, float *y, float *bound,
                       int64_t *oh_out, int64_t *ow_out) {
  int64_t pt, pl;
  const int64_t oh = naive_out(k->h, k->kh, k->sh, k->dh, k->pad, k->pads[0], k->pads[1], &pt);
  const int64_t ow = naive_out(k->w, k->kw, k->sw, k->dw, k->pad, k->pads[2], k->pads[3], &pl);
  const int64_t cout = depthwise ? k->c * k->co : k->co;
  *oh_out = oh;
  *ow_out = ow;
  for (int64_t b = 0; b < k->n; b++)
    for (int64_t y0 = 0; y0 < oh; y0++)
      for (int64_t x0 = 0; x0 < ow; x0++)
        for (int64_t o = 0; o < cout; o++) {
          double s = 0, mag = 0;
          for (int64_t i = 0; i < k->kh; i++)
            for (int64_t j = 0; j < k->kw; j++) {
              const int64_t ih = y0 * k->sh - pt + i * k->dh, iw = x0 * k->sw - pl + j * k->dw;
              if (ih < 0 || iw < 0 || ih >= k->h || iw >= k->w) continue;
              const float *px = x + ((b * k->h + ih) * k->w + iw) * k->c;
              if (depthwise) {
                const int64_t c = o / k->co, m = o % k->co;
                const double t = (double)px[c] * f[((i * k->kw + j) * k->c + c) * k->co + m];
                s += t;
                mag += fabs(t);
              } else {
                for (int64_t c = 0; c < k->c; c++) {
                  const double t = (double)px[c] * f[((i * k->kw + j) * k->c + c) * k->co + o];
                  s += t;
                  mag += fabs(t);
                }
              }
            }
          if (bias) {
            s += bias[o];
            mag += fabs(bias[o]);
          }
          const int64_t at = ((b * oh + y0) * ow + x0) * cout + o;
          y[at] = naive_act((float)s, k->act, alpha ? alpha[o] : leaky);
          bound[at] = (float)mag;
        }
}

/* |got - want| within a float summation bound for terms terms. */
static int mismatch(const float *got, const float *want, const float *bound, size_t n,
                    int64_t terms, size_t *where) {
  const double eps = 1.2e-7 * (double)(terms + 4);
  for (size_t i = 0; i < n; i++) {
    /* activations scale by at most |slope| <= 1 here, so the bound holds */
    if (!(fabs((double)got[i] - (double)want[i]) <= eps * (double)bound[i] + 1e-6)) {
      *where = i;
      return 1;
    }
  }
  return 0;
}

/* Builds the node and operands of a case; returns the operand count. */
static int make_conv(const conv_case *k, int depthwise, csm_node *nd, csm_tensor *in, float **x,
                     float **f, float **bias, float **alpha, uint32_t seed) {
  const int64_t cout = depthwise ? k->c * k->co : k->co;
  *nd = node(depthwise ? CSM_OP_DEPTHWISE_CONV2D : CSM_OP_CONV2D, 2);
  nd->a.stride[0] = k->sh;
  nd->a.stride[1] = k->sw;
  nd->a.dilation[0] = k->dh;
  nd->a.dilation[1] = k->dw;
  nd->a.padding = k->pad == SAME       ? CSM_PAD_SAME
                  : k->pad == EXPLICIT ? CSM_PAD_EXPLICIT
                                       : CSM_PAD_VALID;
  memcpy(nd->a.pads, k->pads, sizeof k->pads);
  nd->a.act = k->act;
  nd->a.alpha = 0.2f;
  int64_t xd[4] = {k->n, k->h, k->w, k->c}, fd[4] = {k->kh, k->kw, k->c, k->co};
  *x = rnd((size_t)prod(4, xd), seed);
  *f = rnd((size_t)prod(4, fd), seed + 1);
  in[0] = tens(4, xd, *x);
  in[1] = tens(4, fd, *f);
  *bias = *alpha = NULL;
  if (k->has_bias) {
    *bias = rnd((size_t)cout, seed + 2);
    in[nd->n_in++] = tens(1, (int64_t[]){cout}, *bias);
    nd->a.has_bias = 1;
  }
  if (k->act == CSM_ACT_PRELU) {
    *alpha = rnd((size_t)cout, seed + 3);
    for (int64_t i = 0; i < cout; i++)
      (*alpha)[i] = fabsf((*alpha)[i]);
    in[nd->n_in++] = tens(3, (int64_t[]){1, 1, cout}, *alpha);
  }
  return nd->n_in;
}

/* Runs a case through the op (and the library reference) and compares both
 * with the naive loops. */
static void check_conv_case(const conv_case *k, int depthwise, uint32_t seed) {
  csm_node nd;
  csm_tensor in[4], out, ref;
  float *x, *f, *bias, *alpha;
  make_conv(k, depthwise, &nd, in, &x, &f, &bias, &alpha, seed);
  CSM_ASSERT_OK(csm_test_run_op(&nd, in, &out));
  int64_t oh, ow;
  const int64_t cout = depthwise ? k->c * k->co : k->co;
  int64_t pt;
  oh = naive_out(k->h, k->kh, k->sh, k->dh, k->pad, k->pads[0], k->pads[1], &pt);
  ow = naive_out(k->w, k->kw, k->sw, k->dw, k->pad, k->pads[2], k->pads[3], &pt);
  const size_t n = (size_t)(k->n * oh * ow * cout);
  float *want = malloc(n * sizeof(float) + 4), *bound = malloc(n * sizeof(float) + 4);
  naive_conv(k, depthwise, x, f, bias, alpha, 0.2f, want, bound, &oh, &ow);
  check_shape(&out, 4, (int64_t[]){k->n, oh, ow, cout});
  const int64_t terms = depthwise ? k->kh * k->kw : k->kh * k->kw * k->c;
  size_t at;
  if (mismatch(out.data, want, bound, n, terms, &at))
    fail_msg("%s n%lld h%lld w%lld c%lld k%lldx%lld co%lld s%d,%d d%d,%d pad%d act%d: element %zu "
             "got %.9g want %.9g",
             depthwise ? "depthwise" : "conv", (long long)k->n, (long long)k->h, (long long)k->w,
             (long long)k->c, (long long)k->kh, (long long)k->kw, (long long)k->co, k->sh, k->sw,
             k->dh, k->dw, k->pad, (int)k->act, at, (double)((float *)out.data)[at],
             (double)want[at]);
  CSM_ASSERT_OK(csm_tensor_alloc(&ref, CSM_F32, &out.shape));
  CSM_ASSERT_OK(depthwise ? csm_depthwise_conv2d_reference(&nd, in, &ref)
                          : csm_conv2d_reference(&nd, in, &ref));
  if (mismatch(ref.data, want, bound, n, terms, &at))
    fail_msg("reference: element %zu got %.9g want %.9g", at, (double)((float *)ref.data)[at],
             (double)want[at]);
  csm_tensor_free(&ref);
  csm_tensor_free(&out);
  free(want);
  free(bound);
  free(x);
  free(f);
  free(bias);
  free(alpha);
}

/* ---- hand-computed Conv2D ----------------------------------------------- */

static const float x33[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
static const float f1234[4] = {1, 2, 3, 4}; /* [2,2,1,1]: f[0][0]=1 f[0][1]=2 f[1][0]=3 f[1][1]=4 */

static csm_tensor conv1(const float *x, int64_t h, int64_t w, const float *f, int64_t kh,
                        int64_t kw, csm_attrs a) {
  csm_node nd = node(CSM_OP_CONV2D, 2);
  csm_tensor in[2], out;
  nd.a = a;
  in[0] = tens(4, (int64_t[]){1, h, w, 1}, x);
  in[1] = tens(4, (int64_t[]){kh, kw, 1, 1}, f);
  CSM_ASSERT_OK(csm_test_run_op(&nd, in, &out));
  return out;
}

static void test_conv_valid(void **state) {
  (void)state;
  csm_tensor out = conv1(x33, 3, 3, f1234, 2, 2, csm_attrs_default());
  check_shape(&out, 4, (int64_t[]){1, 2, 2, 1});
  check_close(&out, (float[]){37, 47, 67, 77}, 4);
  csm_tensor_free(&out);
}

static void test_conv_same_odd_total(void **state) {
  (void)state;
  /* total padding 1: TensorFlow puts it after (bottom/right), none before */
  csm_attrs a = csm_attrs_default();
  a.padding = CSM_PAD_SAME;
  csm_tensor out = conv1(x33, 3, 3, f1234, 2, 2, a);
  check_shape(&out, 4, (int64_t[]){1, 3, 3, 1});
  check_close(&out, (float[]){37, 47, 21, 67, 77, 33, 23, 26, 9}, 9);
  csm_tensor_free(&out);

  /* 4x4, 3x3 ones, stride 2: total 1, again all of it after */
  float x44[16], ones[9];
  for (int i = 0; i < 16; i++)
    x44[i] = (float)(i + 1);
  for (int i = 0; i < 9; i++)
    ones[i] = 1;
  a.stride[0] = a.stride[1] = 2;
  out = conv1(x44, 4, 4, ones, 3, 3, a);
  check_shape(&out, 4, (int64_t[]){1, 2, 2, 1});
  check_close(&out, (float[]){54, 45, 72, 54}, 4);
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
  check_shape(&out, 4, (int64_t[]){1, 3, 3, 1});
  check_close(&out, (float[]){12, 21, 16, 27, 45, 33, 24, 39, 28}, 9);
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
  check_shape(&out, 4, (int64_t[]){1, 2, 2, 1});
  check_close(&out, (float[]){44, 64, 124, 144}, 4);
  csm_tensor_free(&out);

  a = csm_attrs_default();
  a.dilation[0] = a.dilation[1] = 2; /* taps x[i][j], x[i][j+2], x[i+2][j], x[i+2][j+2] */
  out = conv1(x55, 5, 5, f1234, 2, 2, a);
  check_shape(&out, 4, (int64_t[]){1, 3, 3, 1});
  check_close(&out, (float[]){92, 102, 112, 142, 152, 162, 192, 202, 212}, 9);
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
  check_shape(&out, 4, (int64_t[]){1, 3, 4, 1});
  check_close(&out, (float[]){11, 18, 9, 0, 37, 47, 21, 0, 67, 77, 33, 0}, 12);
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
    csm_node nd = node(op, 3);
    csm_tensor in[4], out;
    nd.a.has_bias = 1;
    nd.a.act = cases[i].act;
    nd.a.alpha = 0.1f;
    if (op == CSM_OP_MATMUL) {
      in[0] = tens(2, (int64_t[]){2, 1}, x);
      in[1] = tens(2, (int64_t[]){1, 3}, f3);
    } else if (op == CSM_OP_CONV2D) {
      in[0] = tens(4, (int64_t[]){1, 1, 2, 1}, x);
      in[1] = tens(4, (int64_t[]){1, 1, 1, 3}, f3);
    } else { /* depthwise, multiplier 3 */
      in[0] = tens(4, (int64_t[]){1, 1, 2, 1}, x);
      in[1] = tens(4, (int64_t[]){1, 1, 1, 3}, f3);
    }
    in[2] = tens(1, (int64_t[]){3}, bias);
    if (cases[i].alpha) {
      in[3] = cases[i].scalar ? tens(1, (int64_t[]){1}, cases[i].alpha)
                              : tens(3, (int64_t[]){1, 1, 3}, cases[i].alpha);
      nd.n_in = 4;
    }
    CSM_ASSERT_OK(csm_test_run_op(&nd, in, &out));
    check_close(&out, cases[i].want, 6);
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
  csm_node nd = node(CSM_OP_DEPTHWISE_CONV2D, 2);
  csm_tensor in[2], out;
  in[0] = tens(4, (int64_t[]){1, 2, 2, 2}, x);
  in[1] = tens(4, (int64_t[]){2, 2, 2, 2}, f);
  CSM_ASSERT_OK(csm_test_run_op(&nd, in, &out));
  check_shape(&out, 4, (int64_t[]){1, 1, 1, 4});
  check_close(&out, (float[]){10, 30, 10, -100}, 4);
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
  in[0] = tens(4, (int64_t[]){1, 3, 3, 2}, x2);
  in[1] = tens(4, (int64_t[]){3, 3, 2, 1}, f2);
  CSM_ASSERT_OK(csm_test_run_op(&nd, in, &out));
  check_shape(&out, 4, (int64_t[]){1, 3, 3, 2});
  static const float sums[9] = {12, 21, 16, 27, 45, 33, 24, 39, 28};
  float want[18];
  for (int i = 0; i < 9; i++) {
    want[2 * i] = sums[i];
    want[2 * i + 1] = 20 * sums[i];
  }
  check_close(&out, want, 18);
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
      csm_node nd = node(CSM_OP_MATMUL, 2);
      csm_tensor in[2], out;
      nd.a.transpose_a = ta;
      nd.a.transpose_b = tb;
      in[0] = ta ? tens(2, (int64_t[]){3, 2}, at) : tens(2, (int64_t[]){2, 3}, a);
      in[1] = tb ? tens(2, (int64_t[]){2, 3}, bt) : tens(2, (int64_t[]){3, 2}, b);
      CSM_ASSERT_OK(csm_test_run_op(&nd, in, &out));
      check_shape(&out, 2, (int64_t[]){2, 2});
      check_close(&out, want, 4);
      csm_tensor_free(&out);
    }
  /* bias and ReLU */
  csm_node nd = node(CSM_OP_MATMUL, 3);
  csm_tensor in[3], out;
  static const float bias[2] = {1, -200};
  nd.a.has_bias = 1;
  nd.a.act = CSM_ACT_RELU;
  in[0] = tens(2, (int64_t[]){2, 3}, a);
  in[1] = tens(2, (int64_t[]){3, 2}, b);
  in[2] = tens(1, (int64_t[]){2}, bias);
  CSM_ASSERT_OK(csm_test_run_op(&nd, in, &out));
  check_close(&out, (float[]){59, 0, 140, 0}, 4);
  csm_tensor_free(&out);
  /* batch-leading dimensions on a: [2,1,3] x [3,2] -> [2,1,2] */
  nd = node(CSM_OP_MATMUL, 2);
  in[0] = tens(3, (int64_t[]){2, 1, 3}, a);
  CSM_ASSERT_OK(csm_test_run_op(&nd, in, &out));
  check_shape(&out, 3, (int64_t[]){2, 1, 2});
  check_close(&out, want, 4);
  csm_tensor_free(&out);
}

/* ---- randomized comparisons --------------------------------------------- */

static void test_conv_random(void **state) {
  (void)state;
  static const conv_case cases[] = {
      /* 1x1 direct path, various channel counts around the 16/32 panel widths */
      {1, 5, 7, 3, 1, 1, 1, 1, 1, 1, 1, VALID, {0}, 1, CSM_ACT_NONE},
      {3, 9, 11, 17, 1, 1, 33, 1, 1, 1, 1, SAME, {0}, 1, CSM_ACT_RELU},
      {2, 13, 13, 64, 1, 1, 64, 1, 1, 1, 1, VALID, {0}, 1, CSM_ACT_RELU6},
      {1, 7, 7, 300, 1, 1, 70, 1, 1, 1, 1, VALID, {0}, 1, CSM_ACT_PRELU}, /* K > one block */
      {4, 6, 6, 16, 1, 1, 16, 1, 1, 1, 1, VALID, {0}, 0, CSM_ACT_LEAKY_RELU},
      /* 1x1 with stride or padding: im2col */
      {2, 9, 9, 8, 1, 1, 12, 2, 2, 1, 1, SAME, {0}, 1, CSM_ACT_NONE},
      {1, 4, 5, 3, 1, 1, 5, 1, 1, 1, 1, EXPLICIT, {1, 2, 0, 1}, 1, CSM_ACT_RELU},
      /* 3x3 and others, odd sizes, strides, dilations, paddings */
      {1, 3, 3, 1, 2, 2, 1, 1, 1, 1, 1, VALID, {0}, 0, CSM_ACT_NONE},
      {2, 11, 13, 3, 3, 3, 32, 2, 2, 1, 1, VALID, {0}, 1, CSM_ACT_RELU},
      {3, 12, 10, 5, 3, 3, 7, 1, 1, 1, 1, SAME, {0}, 1, CSM_ACT_PRELU},
      {1, 15, 15, 8, 5, 5, 24, 2, 2, 1, 1, SAME, {0}, 1, CSM_ACT_RELU6},
      {2, 14, 16, 6, 3, 3, 40, 1, 2, 2, 1, SAME, {0}, 0, CSM_ACT_LEAKY_RELU},
      {1, 17, 9, 4, 3, 2, 9, 3, 1, 1, 3, EXPLICIT, {2, 0, 1, 3}, 1, CSM_ACT_NONE},
      {1, 8, 8, 2, 4, 4, 3, 1, 1, 1, 1, SAME, {0}, 1, CSM_ACT_NONE}, /* even kernel SAME */
      {2, 29, 29, 64, 3, 3, 64, 1, 1, 1, 1, VALID, {0}, 1, CSM_ACT_RELU},
      {5, 8, 8, 48, 3, 3, 7, 1, 1, 1, 1, SAME, {0}, 1, CSM_ACT_NONE},
      {1, 1, 1, 3, 3, 3, 5, 1, 1, 1, 1, SAME, {0}, 1, CSM_ACT_NONE}, /* all padding but one tap */
      /* patches in more than one im2col block (K = 5400: about 194 rows each) */
      {1, 14, 14, 600, 3, 3, 8, 1, 1, 1, 1, SAME, {0}, 1, CSM_ACT_RELU},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    check_conv_case(&cases[i], 0, (uint32_t)(100 + 10 * i));
}

static void test_depthwise_random(void **state) {
  (void)state;
  static const conv_case cases[] = {
      /* co = channel multiplier */
      {1, 12, 12, 16, 3, 3, 1, 1, 1, 1, 1, SAME, {0}, 1, CSM_ACT_RELU6},
      {2, 13, 17, 35, 3, 3, 1, 1, 1, 1, 1, SAME, {0}, 1, CSM_ACT_NONE}, /* channel tail */
      {1, 15, 15, 32, 3, 3, 1, 2, 2, 1, 1, SAME, {0}, 1, CSM_ACT_RELU},
      {3, 10, 19, 20, 5, 5, 1, 1, 1, 1, 1, SAME, {0}, 0, CSM_ACT_PRELU},
      {1, 16, 16, 48, 5, 5, 1, 2, 2, 1, 1, VALID, {0}, 1, CSM_ACT_LEAKY_RELU},
      {1, 11, 14, 7, 3, 3, 1, 1, 1, 2, 2, SAME, {0}, 1, CSM_ACT_NONE},
      {2, 9, 12, 24, 3, 2, 1, 1, 3, 1, 1, EXPLICIT, {1, 2, 3, 0}, 1, CSM_ACT_NONE},
      {1, 6, 6, 3, 3, 3, 2, 1, 1, 1, 1, SAME, {0}, 1, CSM_ACT_NONE}, /* multiplier 2 */
      {2, 7, 5, 5, 2, 2, 3, 2, 1, 1, 2, VALID, {0}, 1, CSM_ACT_PRELU},
      {1, 3, 2, 64, 3, 3, 1, 1, 1, 1, 1, SAME, {0}, 1, CSM_ACT_NONE}, /* border pixels only */
      {1, 20, 40, 1, 3, 3, 1, 1, 1, 1, 1, VALID, {0}, 1, CSM_ACT_NONE},
      {2, 8, 8, 17, 1, 1, 1, 1, 1, 1, 1, VALID, {0}, 1, CSM_ACT_NONE},
      {1, 9, 13, 12, 3, 3, 1, 1, 1, 1, 1, SAME, {0}, 1, CSM_ACT_RELU},  /* 8 + 4 lanes */
      {2, 7, 30, 31, 3, 3, 1, 1, 1, 1, 1, SAME, {0}, 1, CSM_ACT_RELU6}, /* 16 + 8 + 4 + 3 */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    check_conv_case(&cases[i], 1, (uint32_t)(500 + 10 * i));
}

static void test_matmul_random(void **state) {
  (void)state;
  static const int64_t shapes[][3] = {{1, 1, 1},    {1, 1024, 256}, {3, 7, 5},     {13, 300, 17},
                                      {32, 64, 33}, {50, 129, 16},  {100, 20, 70}, {7, 600, 2}};
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
    for (int variant = 0; variant < 4; variant++) {
      const int64_t m = shapes[s][0], k = shapes[s][1], n = shapes[s][2];
      const int ta = variant & 1, tb = variant >> 1;
      const csm_activation act = (csm_activation)((s + (size_t)variant) % 5);
      float *a = rnd((size_t)(m * k), (uint32_t)(700 + s)), *b = rnd((size_t)(k * n), 800);
      float *bias = rnd((size_t)n, 900), *alpha = rnd((size_t)n, 901);
      for (int64_t j = 0; j < n; j++)
        alpha[j] = fabsf(alpha[j]);
      csm_node nd = node(CSM_OP_MATMUL, 3);
      csm_tensor in[4], out, ref;
      nd.a.transpose_a = ta;
      nd.a.transpose_b = tb;
      nd.a.has_bias = 1;
      nd.a.act = act;
      nd.a.alpha = 0.2f;
      in[0] = ta ? tens(2, (int64_t[]){k, m}, a) : tens(2, (int64_t[]){m, k}, a);
      in[1] = tb ? tens(2, (int64_t[]){n, k}, b) : tens(2, (int64_t[]){k, n}, b);
      in[2] = tens(1, (int64_t[]){n}, bias);
      if (act == CSM_ACT_PRELU) {
        in[3] = tens(1, (int64_t[]){n}, alpha);
        nd.n_in = 4;
      }
      CSM_ASSERT_OK(csm_test_run_op(&nd, in, &out));
      check_shape(&out, 2, (int64_t[]){m, n});
      float *want = malloc((size_t)(m * n) * sizeof(float)), *bound = malloc((size_t)(m * n) * 4);
      for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
          double sum = bias[j], mag = fabs(bias[j]);
          for (int64_t q = 0; q < k; q++) {
            const double t = (double)(ta ? a[q * m + i] : a[i * k + q]) *
                             (double)(tb ? b[j * k + q] : b[q * n + j]);
            sum += t;
            mag += fabs(t);
          }
          want[i * n + j] = naive_act((float)sum, act, act == CSM_ACT_PRELU ? alpha[j] : 0.2f);
          bound[i * n + j] = (float)mag;
        }
      size_t at;
      if (mismatch(out.data, want, bound, (size_t)(m * n), k, &at))
        fail_msg("matmul %lldx%lldx%lld ta%d tb%d act%d: element %zu got %.9g want %.9g",
                 (long long)m, (long long)k, (long long)n, ta, tb, (int)act, at,
                 (double)((float *)out.data)[at], (double)want[at]);
      CSM_ASSERT_OK(csm_tensor_alloc(&ref, CSM_F32, &out.shape));
      CSM_ASSERT_OK(csm_matmul_reference(&nd, in, &ref));
      if (mismatch(ref.data, want, bound, (size_t)(m * n), k, &at))
        fail_msg("matmul reference: element %zu", at);
      csm_tensor_free(&ref);
      csm_tensor_free(&out);
      free(want);
      free(bound);
      free(a);
      free(b);
      free(bias);
      free(alpha);
    }
}

/* The comparison itself must catch a wrong result. */
static void test_checker_detects_errors(void **state) {
  (void)state;
  float want[3] = {1, 2, 3}, bound[3] = {10, 10, 10}, got[3] = {1, 2, 3};
  size_t at;
  assert_false(mismatch(got, want, bound, 3, 100, &at));
  got[1] += 1e-3f;
  assert_true(mismatch(got, want, bound, 3, 100, &at));
  assert_int_equal(at, 1);
}

/* ---- batch composition and threads -------------------------------------- */

/* Runs the op on the whole batch, then on each image alone (and with one and
 * two threads): every image must match bit for bit. */
static void check_batch_bits(const conv_case *k, int op_kind) {
  const int depthwise = op_kind == 1, matmul = op_kind == 2;
  csm_node nd;
  csm_tensor in[4], whole, single, one_thread;
  float *x, *f, *bias, *alpha;
  make_conv(k, depthwise, &nd, in, &x, &f, &bias, &alpha, 4242);
  if (matmul) { /* rows of a = images: [n, h*w*c] x [h*w*c, co] */
    nd.op = CSM_OP_MATMUL;
    const int64_t kk = k->h * k->w * k->c;
    free(f);
    f = rnd((size_t)(kk * k->co), 77);
    in[0] = tens(2, (int64_t[]){k->n, kk}, x);
    in[1] = tens(2, (int64_t[]){kk, k->co}, f);
  }
  csm_set_threads(2);
  CSM_ASSERT_OK(csm_test_run_op(&nd, in, &whole));
  csm_set_threads(1);
  CSM_ASSERT_OK(csm_test_run_op(&nd, in, &one_thread));
  csm_set_threads(2);
  const size_t total = csm_tensor_numel(&whole), per = total / (size_t)k->n;
  if (memcmp(whole.data, one_thread.data, total * sizeof(float)))
    fail_msg("op %d: 1 and 2 threads differ", op_kind);
  const size_t per_in = (size_t)(k->h * k->w * k->c);
  for (int64_t b = 0; b < k->n; b++) {
    csm_tensor item[4];
    memcpy(item, in, sizeof item);
    item[0].shape.d[0] = 1;
    item[0].data = x + (size_t)b * per_in;
    CSM_ASSERT_OK(csm_test_run_op(&nd, item, &single));
    assert_int_equal(csm_tensor_numel(&single), per);
    if (memcmp((float *)whole.data + (size_t)b * per, single.data, per * sizeof(float)))
      fail_msg("op %d: image %lld of the batch differs from its single run", op_kind, (long long)b);
    csm_tensor_free(&single);
  }
  csm_tensor_free(&whole);
  csm_tensor_free(&one_thread);
  free(x);
  free(f);
  free(bias);
  free(alpha);
}

static void test_batch_bit_equality(void **state) {
  (void)state;
  static const conv_case conv[] = {
      {7, 7, 7, 96, 1, 1, 80, 1, 1, 1, 1, VALID, {0}, 1, CSM_ACT_RELU},   /* direct, M=49 */
      {5, 15, 15, 32, 3, 3, 64, 1, 1, 1, 1, SAME, {0}, 1, CSM_ACT_PRELU}, /* K=288 */
      {3, 14, 14, 600, 3, 3, 20, 1, 1, 1, 1, SAME, {0}, 1, CSM_ACT_NONE}, /* blocks */
      {9, 4, 4, 40, 3, 3, 17, 2, 2, 1, 1, SAME, {0}, 0, CSM_ACT_RELU6},   /* tiny images */
      {4, 31, 31, 3, 3, 3, 32, 2, 2, 1, 1, VALID, {0}, 1, CSM_ACT_LEAKY_RELU},
  };
  for (size_t i = 0; i < sizeof conv / sizeof conv[0]; i++)
    check_batch_bits(&conv[i], 0);
  static const conv_case dw[] = {
      {4, 29, 29, 64, 3, 3, 1, 1, 1, 1, 1, SAME, {0}, 1, CSM_ACT_RELU},
      {3, 16, 16, 35, 5, 5, 1, 2, 2, 1, 1, SAME, {0}, 1, CSM_ACT_NONE},
      {3, 6, 6, 4, 3, 3, 2, 1, 1, 1, 1, SAME, {0}, 1, CSM_ACT_PRELU},
  };
  for (size_t i = 0; i < sizeof dw / sizeof dw[0]; i++)
    check_batch_bits(&dw[i], 1);
  static const conv_case mm[] = {
      {32, 4, 4, 64, 1, 1, 256, 1, 1, 1, 1, VALID, {0}, 1, CSM_ACT_RELU}, /* K=1024 */
      {13, 1, 1, 50, 1, 1, 7, 1, 1, 1, 1, VALID, {0}, 1, CSM_ACT_NONE},
  };
  for (size_t i = 0; i < sizeof mm / sizeof mm[0]; i++)
    check_batch_bits(&mm[i], 2);
}

/* Every instruction set's GEMM kernels compute the same fused multiply-add
 * chains: identical bits, and each set must pass the naive comparison. */
static void test_gemm_isas_agree(void **state) {
  (void)state;
  static const char *const isas[] = {"avx512", "avx2", "scalar"};
  static const conv_case cases[] = {
      {2, 9, 11, 17, 1, 1, 33, 1, 1, 1, 1, SAME, {0}, 1, CSM_ACT_RELU},
      {3, 12, 10, 5, 3, 3, 7, 1, 1, 1, 1, SAME, {0}, 1, CSM_ACT_PRELU},
      {1, 9, 9, 40, 3, 3, 70, 2, 1, 1, 1, VALID, {0}, 1, CSM_ACT_LEAKY_RELU}, /* K=360 */
      {2, 6, 7, 24, 3, 3, 16, 1, 1, 2, 2, SAME, {0}, 1, CSM_ACT_RELU6},
      {1, 5, 5, 8, 1, 1, 130, 1, 1, 1, 1, VALID, {0}, 0, CSM_ACT_NONE},
  };
  int ran = 0;
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    csm_node nd;
    csm_tensor in[4], first, out;
    float *x, *f, *bias, *alpha;
    int have_first = 0;
    make_conv(&cases[c], 0, &nd, in, &x, &f, &bias, &alpha, (uint32_t)(3000 + c));
    for (size_t i = 0; i < sizeof isas / sizeof isas[0]; i++) {
      if (csm_gemm_set_isa(isas[i]) != CSM_OK) continue;
      ran++;
      check_conv_case(&cases[c], 0, (uint32_t)(3100 + c));
      CSM_ASSERT_OK(csm_test_run_op(&nd, in, &out));
      if (!have_first) {
        first = out;
        have_first = 1;
        continue;
      }
      if (memcmp(first.data, out.data, csm_tensor_numel(&out) * sizeof(float)))
        fail_msg("case %zu: the %s kernels differ from the best ones", c, isas[i]);
      csm_tensor_free(&out);
    }
    CSM_ASSERT_OK(csm_gemm_set_isa(NULL));
    if (have_first) csm_tensor_free(&first);
    free(x);
    free(f);
    free(bias);
    free(alpha);
  }
  assert_true(ran >= 5); /* at least the scalar kernels ran */
  assert_int_equal(csm_gemm_set_isa("sse9"), CSM_EUSAGE);
}

/* ---- errors ------------------------------------------------------------- */

static void expect_error(const csm_node *nd, const csm_tensor *in, csm_status want,
                         const char *text) {
  csm_tensor out;
  csm_status st = csm_test_run_op(nd, in, &out);
  if (st != want) fail_msg("status %d, want %d (%s)", st, want, csm_last_error());
  if (!strstr(csm_last_error(), text))
    fail_msg("message \"%s\" lacks \"%s\"", csm_last_error(), text);
  if (strchr(csm_last_error(), '\n')) fail_msg("message has a newline");
}

static void test_shape_errors(void **state) {
  (void)state;
  static float buf[4096];
  csm_node nd = node(CSM_OP_CONV2D, 2);
  csm_tensor in[4];
  in[0] = tens(4, (int64_t[]){1, 8, 8, 3}, buf);
  in[1] = tens(4, (int64_t[]){3, 3, 16, 8}, buf);
  expect_error(&nd, in, CSM_EINPUT, "filter has 16 input channels but input has 3");
  in[1] = tens(3, (int64_t[]){3, 3, 3}, buf);
  expect_error(&nd, in, CSM_EINPUT, "filter must be [KH,KW,Cin,Cout] (rank 4), got shape [3,3,3]");
  in[0] = tens(3, (int64_t[]){8, 8, 3}, buf);
  in[1] = tens(4, (int64_t[]){3, 3, 3, 8}, buf);
  expect_error(&nd, in, CSM_EINPUT, "input must be NHWC (rank 4), got shape [8,8,3]");
  in[0] = tens(4, (int64_t[]){1, 2, 8, 3}, buf);
  expect_error(&nd, in, CSM_EINPUT,
               "input height 2 (padded 2) is smaller than the dilated filter height 3");
  in[0] = tens(4, (int64_t[]){1, 8, 8, 3}, buf);
  nd.a.stride[0] = 0;
  expect_error(&nd, in, CSM_EINPUT, "strides must be positive");
  nd = node(CSM_OP_CONV2D, 2);
  nd.a.has_bias = 1;
  expect_error(&nd, in, CSM_EINPUT, "Conv2D expects 3 inputs (x, weights, bias), got 2");
  nd.n_in = 3;
  in[2] = tens(1, (int64_t[]){5}, buf);
  expect_error(&nd, in, CSM_EINPUT, "bias has shape [5] but the output has 8 channels");
  in[2] = tens(1, (int64_t[]){8}, buf);
  nd.a.act = CSM_ACT_PRELU;
  nd.n_in = 4;
  in[3] = tens(3, (int64_t[]){8, 8, 8}, buf);
  expect_error(&nd, in, CSM_EINPUT, "PReLU alpha has shape [8,8,8] but the output has 8 channels");

  nd = node(CSM_OP_DEPTHWISE_CONV2D, 2);
  in[0] = tens(4, (int64_t[]){1, 8, 8, 3}, buf);
  in[1] = tens(4, (int64_t[]){3, 3, 4, 1}, buf);
  expect_error(&nd, in, CSM_EINPUT, "filter has 4 input channels but input has 3");

  nd = node(CSM_OP_MATMUL, 2);
  in[0] = tens(2, (int64_t[]){2, 3}, buf);
  in[1] = tens(2, (int64_t[]){4, 5}, buf);
  expect_error(&nd, in, CSM_EINPUT,
               "MatMul inner dimensions differ: a [2,3] has K=3 but b [4,5] has K=4");
  nd.a.transpose_b = 1;
  in[1] = tens(2, (int64_t[]){5, 4}, buf);
  expect_error(&nd, in, CSM_EINPUT, "b [5,4] (transposed) has K=4");
  in[0] = tens(1, (int64_t[]){3}, buf);
  expect_error(&nd, in, CSM_EINPUT, "MatMul a must have rank 2 or more, got shape [3]");
}

/* Shapes with the unknown batch (-1) during planning propagate it. */
static void test_infer_unknown_batch(void **state) {
  (void)state;
  static float buf[64];
  csm_node nd = node(CSM_OP_CONV2D, 2);
  csm_tensor in[2], out;
  memset(&out, 0, sizeof out);
  nd.a.padding = CSM_PAD_SAME;
  nd.a.stride[0] = nd.a.stride[1] = 2;
  in[0] = tens(4, (int64_t[]){-1, 29, 29, 3}, NULL);
  in[1] = tens(4, (int64_t[]){3, 3, 3, 8}, buf);
  CSM_ASSERT_OK(csm_op_def_get(CSM_OP_CONV2D)->infer(&nd, in, &out));
  check_shape(&out, 4, (int64_t[]){-1, 15, 15, 8});
  assert_true(fabs(csm_op_def_get(CSM_OP_CONV2D)->flops(&nd, in, &out) - 2.0 * 15 * 15 * 8 * 27) <
              1e-6);
  nd = node(CSM_OP_MATMUL, 2);
  in[0] = tens(2, (int64_t[]){-1, 16}, NULL);
  in[1] = tens(2, (int64_t[]){16, 4}, buf);
  CSM_ASSERT_OK(csm_op_def_get(CSM_OP_MATMUL)->infer(&nd, in, &out));
  check_shape(&out, 2, (int64_t[]){-1, 4});
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_conv_valid),
      cmocka_unit_test(test_conv_same_odd_total),
      cmocka_unit_test(test_conv_same_even_total),
      cmocka_unit_test(test_conv_stride_dilation),
      cmocka_unit_test(test_conv_explicit_pads),
      cmocka_unit_test(test_fused_activations),
      cmocka_unit_test(test_depthwise_hand),
      cmocka_unit_test(test_matmul_hand),
      cmocka_unit_test(test_checker_detects_errors),
      cmocka_unit_test(test_conv_random),
      cmocka_unit_test(test_depthwise_random),
      cmocka_unit_test(test_matmul_random),
      cmocka_unit_test(test_batch_bit_equality),
      cmocka_unit_test(test_gemm_isas_agree),
      cmocka_unit_test(test_shape_errors),
      cmocka_unit_test(test_infer_unknown_batch),
  };
  csm_set_threads(2);
  return cmocka_run_group_tests(tests, NULL, NULL);
}
