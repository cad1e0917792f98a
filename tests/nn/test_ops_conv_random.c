/* Conv2D, DepthwiseConv2D and MatMul: randomized comparisons of the fast
 * paths against naive loops written here (independent of the library's
 * geometry helpers and references), and bit equality across batch
 * composition, thread counts and GEMM kernels. The hand-computed cases are
 * in test_ops_conv.c. */
#include "csm_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/ops/conv_reference.h"
#include "nn/ops/conv_winograd.h"
#include "nn/ops/gemm.h"
#include "nn/ops/op.h"

/* ---- helpers ------------------------------------------------------------- */

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
  *nd = csm_test_node(depthwise ? CSM_OP_DEPTHWISE_CONV2D : CSM_OP_CONV2D, 2);
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
  in[0] = csm_test_tensor_f32(4, xd, *x);
  in[1] = csm_test_tensor_f32(4, fd, *f);
  *bias = *alpha = NULL;
  if (k->has_bias) {
    *bias = rnd((size_t)cout, seed + 2);
    in[nd->n_in++] = csm_test_tensor_f32(1, (int64_t[]){cout}, *bias);
    nd->a.has_bias = 1;
  }
  if (k->act == CSM_ACT_PRELU) {
    *alpha = rnd((size_t)cout, seed + 3);
    for (int64_t i = 0; i < cout; i++)
      (*alpha)[i] = fabsf((*alpha)[i]);
    in[nd->n_in++] = csm_test_tensor_f32(3, (int64_t[]){1, 1, cout}, *alpha);
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
  csm_test_assert_shape(&out, 4, (int64_t[]){k->n, oh, ow, cout});
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
      /* Winograd F(2x2,3x3): odd and even sizes, every padding, channel tails */
      {3, 9, 11, 57, 3, 3, 67, 1, 1, 1, 1, SAME, {0}, 1, CSM_ACT_PRELU},
      {2, 8, 8, 64, 3, 3, 64, 1, 1, 1, 1, VALID, {0}, 0, CSM_ACT_NONE},
      {1, 7, 7, 96, 3, 3, 70, 1, 1, 1, 1, SAME, {0}, 1, CSM_ACT_RELU6},
      {2, 5, 6, 60, 3, 3, 72, 1, 1, 1, 1, EXPLICIT, {2, 0, 1, 3}, 1, CSM_ACT_LEAKY_RELU},
      {1, 1, 2, 64, 3, 3, 64, 1, 1, 1, 1, SAME, {0}, 1, CSM_ACT_NONE},    /* one partial tile */
      {1, 12, 12, 300, 3, 3, 40, 1, 1, 1, 1, SAME, {0}, 1, CSM_ACT_RELU}, /* K in blocks */
      /* implicit GEMM: strided, wide, short filter rows, band cut into rows */
      {2, 13, 12, 8, 3, 3, 20, 2, 2, 1, 1, SAME, {0}, 1, CSM_ACT_RELU},
      {2, 23, 21, 3, 7, 7, 16, 2, 2, 1, 1, EXPLICIT, {3, 3, 3, 3}, 1, CSM_ACT_RELU},
      {1, 130, 130, 64, 3, 3, 16, 2, 2, 1, 1, SAME, {0}, 1, CSM_ACT_NONE},
      {3, 6, 9, 40, 5, 5, 12, 1, 1, 1, 1, EXPLICIT, {1, 3, 2, 0}, 1, CSM_ACT_NONE},
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
      csm_node nd = csm_test_node(CSM_OP_MATMUL, 3);
      csm_tensor in[4], out, ref;
      nd.a.transpose_a = ta;
      nd.a.transpose_b = tb;
      nd.a.has_bias = 1;
      nd.a.act = act;
      nd.a.alpha = 0.2f;
      in[0] = ta ? csm_test_tensor_f32(2, (int64_t[]){k, m}, a)
                 : csm_test_tensor_f32(2, (int64_t[]){m, k}, a);
      in[1] = tb ? csm_test_tensor_f32(2, (int64_t[]){n, k}, b)
                 : csm_test_tensor_f32(2, (int64_t[]){k, n}, b);
      in[2] = csm_test_tensor_f32(1, (int64_t[]){n}, bias);
      if (act == CSM_ACT_PRELU) {
        in[3] = csm_test_tensor_f32(1, (int64_t[]){n}, alpha);
        nd.n_in = 4;
      }
      CSM_ASSERT_OK(csm_test_run_op(&nd, in, &out));
      csm_test_assert_shape(&out, 2, (int64_t[]){m, n});
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
    in[0] = csm_test_tensor_f32(2, (int64_t[]){k->n, kk}, x);
    in[1] = csm_test_tensor_f32(2, (int64_t[]){kk, k->co}, f);
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
      {3, 40, 40, 64, 3, 3, 64, 1, 1, 1, 1, SAME, {0}, 1, CSM_ACT_RELU},   /* Winograd blocks */
      {3, 100, 100, 64, 3, 3, 16, 2, 2, 1, 1, SAME, {0}, 1, CSM_ACT_NONE}, /* a band per image */
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

/* ---- convolution paths --------------------------------------------------- */

/* Runs the op with its filter prepared once (as a model's plan does) into
 * *out. */
static void run_prepared(const csm_node *nd, const csm_tensor *in, csm_tensor *out) {
  const csm_op_def *def = csm_op_def_get(nd->op);
  csm_tensor shape_only;
  memset(&shape_only, 0, sizeof shape_only);
  CSM_ASSERT_OK(def->infer(nd, in, &shape_only));
  CSM_ASSERT_OK(csm_tensor_alloc(out, CSM_F32, &shape_only.shape));
  const size_t prep = def->prepared_size(nd, in), bytes = def->scratch(nd, in, out);
  assert_true(prep > 0);
  void *prepared = malloc(prep), *scratch = malloc(bytes ? bytes : 1);
  assert_non_null(prepared);
  assert_non_null(scratch);
  def->prepare(nd, in, prepared);
  CSM_ASSERT_OK(def->forward_prepared(nd, in, out, scratch, prepared));
  free(prepared);
  free(scratch);
}

/* Conv2D without Winograd reads its patches in place (implicit GEMM, padded
 * bands) or gathers them (im2col). Either way it must give the bits of the
 * GEMM on the patch matrix built here, and the prepared filter the bits of
 * the unprepared one. */
static void check_patch_gemm_bits(const conv_case *k, uint32_t seed) {
  csm_node nd;
  csm_tensor in[4], out, prepared;
  float *x, *f, *bias, *alpha;
  make_conv(k, 0, &nd, in, &x, &f, &bias, &alpha, seed);
  csm_conv_geom g;
  CSM_ASSERT_OK(csm_conv_geom_get(&nd, in, &g));
  if (csm_winograd_applies(&g)) fail_msg("this case runs as Winograd, not on patches");
  CSM_ASSERT_OK(csm_test_run_op(&nd, in, &out));
  run_prepared(&nd, in, &prepared);
  int64_t pt, pl;
  const int64_t oh = naive_out(k->h, k->kh, k->sh, k->dh, k->pad, k->pads[0], k->pads[1], &pt);
  const int64_t ow = naive_out(k->w, k->kw, k->sw, k->dw, k->pad, k->pads[2], k->pads[3], &pl);
  const int64_t kk = k->kh * k->kw * k->c, rows = k->n * oh * ow;
  float *col = calloc((size_t)(rows * kk), sizeof(float));
  float *packed = malloc(csm_gemm_packed_floats(kk, k->co) * sizeof(float));
  float *want = malloc((size_t)(rows * k->co) * sizeof(float));
  assert_true(col && packed && want);
  for (int64_t r = 0; r < rows; r++) {
    const int64_t b = r / (oh * ow), y0 = r / ow % oh, x0 = r % ow;
    for (int64_t i = 0; i < k->kh; i++)
      for (int64_t j = 0; j < k->kw; j++) {
        const int64_t ih = y0 * k->sh - pt + i * k->dh, iw = x0 * k->sw - pl + j * k->dw;
        if (ih < 0 || ih >= k->h || iw < 0 || iw >= k->w) continue;
        memcpy(col + r * kk + (i * k->kw + j) * k->c, x + ((b * k->h + ih) * k->w + iw) * k->c,
               (size_t)k->c * sizeof(float));
      }
  }
  csm_epilogue e;
  csm_epilogue_from_node(&nd, in, &e);
  csm_gemm_pack_b(f, k->co, 0, kk, k->co, packed);
  csm_gemm(rows, k->co, kk, col, kk, packed, want, k->co, &e);
  const size_t bytes = (size_t)(rows * k->co) * sizeof(float);
  if (memcmp(out.data, want, bytes))
    fail_msg("conv h%lld w%lld c%lld k%lldx%lld s%d: not the bits of GEMM on patches",
             (long long)k->h, (long long)k->w, (long long)k->c, (long long)k->kh, (long long)k->kw,
             k->sh);
  if (memcmp(prepared.data, want, bytes)) fail_msg("prepared filter: different bits");
  csm_tensor_free(&out);
  csm_tensor_free(&prepared);
  free(col);
  free(packed);
  free(want);
  free(x);
  free(f);
  free(bias);
  free(alpha);
}

static void test_conv_patch_paths(void **state) {
  (void)state;
  static const conv_case cases[] = {
      {2, 13, 12, 8, 3, 3, 20, 2, 2, 1, 1, SAME, {0}, 1, CSM_ACT_RELU}, /* implicit */
      {2, 23, 21, 3, 7, 7, 16, 2, 2, 1, 1, EXPLICIT, {3, 3, 3, 3}, 1, CSM_ACT_RELU},
      {3, 9, 7, 12, 3, 3, 33, 1, 1, 1, 1, VALID, {0}, 1, CSM_ACT_PRELU}, /* C < 16 */
      {2, 11, 11, 24, 1, 1, 40, 2, 2, 1, 1, SAME, {0}, 1, CSM_ACT_NONE}, /* 1x1 stride 2 */
      {3, 6, 9, 40, 5, 5, 12, 1, 1, 1, 1, EXPLICIT, {1, 3, 2, 0}, 1, CSM_ACT_NONE},
      {1, 130, 130, 64, 3, 3, 16, 2, 2, 1, 1, SAME, {0}, 0, CSM_ACT_NONE}, /* row bands */
      {3, 100, 100, 64, 3, 3, 16, 2, 2, 1, 1, SAME, {0}, 1, CSM_ACT_NONE}, /* image bands */
      {2, 10, 9, 4, 3, 3, 8, 1, 1, 2, 2, SAME, {0}, 1, CSM_ACT_RELU},      /* im2col: dilated */
      {2, 8, 8, 2, 3, 3, 8, 1, 1, 1, 1, SAME, {0}, 1, CSM_ACT_NONE},       /* im2col: short rows */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    check_patch_gemm_bits(&cases[i], (uint32_t)(900 + 10 * i));
}

/* Winograd: the prepared (plan-time) filter transform gives the bits of the
 * per-call one. */
static void test_winograd_prepared_bits(void **state) {
  (void)state;
  static const conv_case cases[] = {
      {3, 9, 11, 57, 3, 3, 67, 1, 1, 1, 1, SAME, {0}, 1, CSM_ACT_PRELU},
      {2, 14, 14, 64, 3, 3, 80, 1, 1, 1, 1, VALID, {0}, 0, CSM_ACT_RELU},
      {1, 12, 12, 300, 3, 3, 40, 1, 1, 1, 1, SAME, {0}, 1, CSM_ACT_RELU},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    csm_node nd;
    csm_tensor in[4], out, prepared;
    float *x, *f, *bias, *alpha;
    make_conv(&cases[i], 0, &nd, in, &x, &f, &bias, &alpha, (uint32_t)(70 + i));
    csm_conv_geom g;
    CSM_ASSERT_OK(csm_conv_geom_get(&nd, in, &g));
    if (!csm_winograd_applies(&g)) fail_msg("case %zu does not run as Winograd", i);
    CSM_ASSERT_OK(csm_test_run_op(&nd, in, &out));
    run_prepared(&nd, in, &prepared);
    if (memcmp(out.data, prepared.data, csm_tensor_numel(&out) * sizeof(float)))
      fail_msg("case %zu: prepared and unprepared Winograd filters give different bits", i);
    csm_tensor_free(&out);
    csm_tensor_free(&prepared);
    free(x);
    free(f);
    free(bias);
    free(alpha);
  }
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
      {2, 11, 10, 24, 3, 3, 20, 2, 2, 1, 1, SAME, {0}, 1, CSM_ACT_RELU}, /* padded band */
      {2, 9, 9, 64, 3, 3, 64, 1, 1, 1, 1, SAME, {0}, 1, CSM_ACT_NONE},   /* Winograd */
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

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_checker_detects_errors), cmocka_unit_test(test_conv_random),
      cmocka_unit_test(test_depthwise_random),       cmocka_unit_test(test_matmul_random),
      cmocka_unit_test(test_batch_bit_equality),     cmocka_unit_test(test_conv_patch_paths),
      cmocka_unit_test(test_winograd_prepared_bits), cmocka_unit_test(test_gemm_isas_agree),
  };
  csm_set_threads(2);
  return cmocka_run_group_tests(tests, NULL, NULL);
}
