/* Unary elementwise ops on float32: Relu, Relu6, LeakyRelu, Sigmoid, Tanh,
 * Abs, Square, Sqrt, Rsqrt, Exp, Neg, and for ONNX HardSigmoid, HardSwish and
 * Reciprocal.
 *
 * The formulas are TF.js's cpu kernels: transcendental functions are
 * evaluated in double precision (JavaScript numbers) and rounded to float32
 * once, so sigmoid is 1 / (1 + exp(-x)) and rsqrt is 1 / sqrt(x) in double.
 * Relu and Relu6 propagate NaN as Math.max/min do. All kernels are `omp simd`
 * loops, safe when the executor writes the output over the input.
 *
 * libm's exp and tanh do not vectorize (without -ffast-math), so exp, sigmoid
 * and tanh use double-precision kernels: csm_vexp (vmath.h, shared with
 * softmax.c) and vtanh below. Their error is far below float resolution:
 * checked over all 2^32 float inputs, the float32 results equal (float)exp(x),
 * (float)(1/(1+exp(-x))) and (float)tanh(x) from glibc bit for bit.
 *
 * HardSigmoid clamp(alpha*x + beta, 0, 1) and HardSwish x*clamp(x/6 + 1/2, 0,
 * 1) are evaluated in double (HardSwish as x * clamp(x + 3, 0, 6) / 6, as
 * PyTorch writes it) and rounded once; both propagate NaN. Reciprocal is a
 * float32 division (correctly rounded). */
#include "op.h"
#include "vmath.h"
#include "../grad/backward.h"

#include <math.h>

#define PAR_MIN ((size_t)1 << 15)
#define CHUNK ((size_t)8192)

typedef void (*unary_fn)(size_t n, const float *x, float *o, float alpha, float beta);

#define SIMD_KERNEL(name, EXPR)                                                                    \
  static void name(size_t n, const float *x, float *o, float alpha, float beta) {                  \
    (void)alpha;                                                                                   \
    (void)beta;                                                                                    \
    _Pragma("omp simd") for (size_t i = 0; i < n; i++) {                                           \
      float v = x[i];                                                                              \
      o[i] = (EXPR);                                                                               \
    }                                                                                              \
  }

/* For sqrt: math errno keeps it out of vector code (GCC), and clang rejects an
 * `omp simd` it cannot honour. */
#define PLAIN_KERNEL(name, EXPR)                                                                   \
  static void name(size_t n, const float *x, float *o, float alpha, float beta) {                  \
    (void)alpha;                                                                                   \
    (void)beta;                                                                                    \
    for (size_t i = 0; i < n; i++) {                                                               \
      float v = x[i];                                                                              \
      o[i] = (EXPR);                                                                               \
    }                                                                                              \
  }

/* tanh(x) = e/(e+2) with e = expm1(2|x|): near 0 expm1 comes from its own
 * series (no 1 + ... cancellation), elsewhere 1 - 2/(exp(2|x|)+1) loses at
 * most a few bits. The sign is copied back so tanh(-0) = -0. */
static inline double vtanh(double x) {
  double y = 2.0 * fabs(x);
  double p = 1.0 / 87178291200.0; /* expm1(y)/y = sum y^k/(k+1)! */
  p = p * y + 1.0 / 6227020800.0;
  p = p * y + 1.0 / 479001600.0;
  p = p * y + 1.0 / 39916800.0;
  p = p * y + 1.0 / 3628800.0;
  p = p * y + 1.0 / 362880.0;
  p = p * y + 1.0 / 40320.0;
  p = p * y + 1.0 / 5040.0;
  p = p * y + 1.0 / 720.0;
  p = p * y + 1.0 / 120.0;
  p = p * y + 1.0 / 24.0;
  p = p * y + 1.0 / 6.0;
  p = p * y + 0.5;
  p = p * y + 1.0;
  double em = y * p;
  double small = em / (em + 2.0);
  double big = 1.0 - 2.0 / (csm_vexp(y) + 1.0);
  return copysign(csm_dsel(y < 0.34657359027997264, small, big), x);
}

/* v != v is true for NaN only; Math.max(0, NaN) is NaN. */
SIMD_KERNEL(relu_k, (v > 0.0f || v != v) ? v : 0.0f)
SIMD_KERNEL(relu6_k, (v > 6.0f) ? 6.0f : ((v > 0.0f || v != v) ? v : 0.0f))
SIMD_KERNEL(leaky_k, v < 0.0f ? alpha * v : v)
SIMD_KERNEL(abs_k, fabsf(v))
SIMD_KERNEL(square_k, (v) * (v))
/* Correctly rounded in both precisions, so float sqrt equals Math.sqrt. */
PLAIN_KERNEL(sqrt_k, sqrtf(v))
/* 1/sqrt in double, as TF.js. */
PLAIN_KERNEL(rsqrt_k, (float)(1.0 / sqrt((double)v)))
SIMD_KERNEL(neg_k, -v)
SIMD_KERNEL(sigmoid_k, (float)(1.0 / (1.0 + csm_vexp(-(double)v))))
SIMD_KERNEL(tanh_k, (float)vtanh((double)v))
SIMD_KERNEL(exp_k, (float)csm_vexp((double)v))

/* Clamps to [lo, hi]; NaN compares false both ways and passes through. */
static inline double clamp_nan(double t, double lo, double hi) {
  t = t < lo ? lo : t;
  return t > hi ? hi : t;
}
SIMD_KERNEL(hard_sigmoid_k, (float)clamp_nan((double)alpha *(double)v + (double)beta, 0.0, 1.0))
SIMD_KERNEL(hard_swish_k, (float)((double)v *clamp_nan((double)v + 3.0, 0.0, 6.0) / 6.0))
SIMD_KERNEL(reciprocal_k, 1.0f / v)

static unary_fn pick(csm_op_kind op) {
  switch (op) {
  case CSM_OP_RELU: return relu_k;
  case CSM_OP_RELU6: return relu6_k;
  case CSM_OP_LEAKY_RELU: return leaky_k;
  case CSM_OP_SIGMOID: return sigmoid_k;
  case CSM_OP_TANH: return tanh_k;
  case CSM_OP_ABS: return abs_k;
  case CSM_OP_SQUARE: return square_k;
  case CSM_OP_SQRT: return sqrt_k;
  case CSM_OP_RSQRT: return rsqrt_k;
  case CSM_OP_EXP: return exp_k;
  case CSM_OP_NEG: return neg_k;
  case CSM_OP_HARD_SIGMOID: return hard_sigmoid_k;
  case CSM_OP_HARD_SWISH: return hard_swish_k;
  case CSM_OP_RECIPROCAL: return reciprocal_k;
  default: return NULL;
  }
}

static csm_status unary_infer(const csm_node *n, const csm_tensor *in, csm_tensor *out) {
  size_t count;
  if (n->n_in != 1)
    return csm_fail(CSM_EINPUT, "%s takes 1 input, got %d", csm_op_name(n->op), n->n_in);
  if (!pick(n->op)) return csm_fail(CSM_EINTERNAL, "%s is not a unary op", csm_op_name(n->op));
  if (in[0].dtype != CSM_F32)
    return csm_fail(CSM_EUNSUPPORTED, "%s needs a float32 input, got %s", csm_op_name(n->op),
                    in[0].dtype == CSM_I32 ? "int32" : "an unknown dtype");
  out->dtype = CSM_F32;
  out->shape = in[0].shape;
  return csm_shape_numel(&out->shape, &count);
}

static csm_status unary_forward(const csm_node *n, const csm_tensor *in, csm_tensor *out,
                                void *scratch) {
  unary_fn f = pick(n->op);
  const float *x = in[0].data;
  float *o = out->data;
  size_t total = csm_tensor_numel(out);
  float alpha = n->a.alpha, beta = n->a.beta;
  (void)scratch;
  if (!f) return csm_fail(CSM_EINTERNAL, "%s is not a unary op", csm_op_name(n->op));
  if (total < PAR_MIN) {
    f(total, x, o, alpha, beta);
    return CSM_OK;
  }
  size_t nchunks = (total + CHUNK - 1) / CHUNK;
#pragma omp parallel for schedule(static)
  for (size_t c = 0; c < nchunks; c++) {
    size_t i0 = c * CHUNK, cnt = total - i0 < CHUNK ? total - i0 : CHUNK;
    f(cnt, x + i0, o + i0, alpha, beta);
  }
  return CSM_OK;
}

const csm_op_def csm_op_unary = {.infer = unary_infer,
                                 .forward = unary_forward,
                                 .backward = csm_backward_unary,
                                 .flags = CSM_OP_ELEMENTWISE};
