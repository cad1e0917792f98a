/* Backward pass of the unary elementwise ops: Relu, Relu6, LeakyRelu,
 * Sigmoid, Tanh, Abs, Square, Sqrt, Rsqrt, Exp, Neg, HardSigmoid, HardSwish,
 * Reciprocal.
 *
 * din += dout * f'(x). f' is computed in double, from the output where it
 * is an exact function of it (sigmoid: y(1-y), tanh: 1-y^2, exp: y) and from
 * the input otherwise. At the kinks the one-sided slopes chosen are:
 *   Relu       x > 0 ? 1 : 0
 *   Relu6      1 on the open interval (0, 6), 0 elsewhere (both kinks give 0)
 *   LeakyRelu  x > 0 ? 1 : alpha (attrs.alpha)
 *   Abs        sign(x), 0 at x == 0
 *   HardSigmoid  alpha on the open interval 0 < alpha*x + beta < 1, 0 elsewhere
 *                (both kinks give 0, like Relu6 and PyTorch's hardsigmoid)
 *   HardSwish  0 for x < -3, 1 for x > 3, (2x + 3)/6 on the closed interval
 *              [-3, 3] (PyTorch's hardswish_backward: -1/2 at -3, 3/2 at 3)
 *   Reciprocal -1/x^2 (inf at 0)
 * NaN inputs give NaN gradients for the smooth ops and 0 for Relu/Relu6
 * (the comparisons are false). */
#include "backward.h"

#include <math.h>

#define PAR_MIN ((size_t)1 << 15)

#define UNARY_LOOP(EXPR)                                                                           \
  do {                                                                                             \
    _Pragma("omp parallel for schedule(static) if (total >= PAR_MIN)") for (size_t i = 0;          \
                                                                            i < total; i++)        \
        din[i] += (EXPR);                                                                          \
  } while (0)

static inline double unary_slope(csm_op_kind op, double x, double y, double alpha, double beta) {
  switch (op) {
  case CSM_OP_RELU: return x > 0.0 ? 1.0 : 0.0;
  case CSM_OP_RELU6: return (x > 0.0 && x < 6.0) ? 1.0 : 0.0;
  case CSM_OP_LEAKY_RELU: return x > 0.0 ? 1.0 : alpha;
  case CSM_OP_SIGMOID: return y * (1.0 - y);
  case CSM_OP_TANH: return 1.0 - y * y;
  case CSM_OP_ABS: return x > 0.0 ? 1.0 : x < 0.0 ? -1.0 : x == 0.0 ? 0.0 : x;
  case CSM_OP_SQUARE: return 2.0 * x;
  case CSM_OP_SQRT: return 0.5 / sqrt(x);
  case CSM_OP_RSQRT: return -0.5 / (x * sqrt(x));
  case CSM_OP_EXP: return y;
  case CSM_OP_NEG: return -1.0;
  case CSM_OP_HARD_SIGMOID: {
    const double t = alpha * x + beta; /* as the forward computes it */
    return (t > 0.0 && t < 1.0) ? alpha : 0.0;
  }
  case CSM_OP_HARD_SWISH: return x < -3.0 ? 0.0 : x > 3.0 ? 1.0 : (2.0 * x + 3.0) / 6.0;
  case CSM_OP_RECIPROCAL: return -1.0 / (x * x);
  default: return 0.0;
  }
}

csm_status csm_backward_unary(const csm_backward_args *a) {
  const csm_node *n = a->node;
  csm_op_kind op = n->op;
  switch (op) {
  case CSM_OP_RELU:
  case CSM_OP_RELU6:
  case CSM_OP_LEAKY_RELU:
  case CSM_OP_SIGMOID:
  case CSM_OP_TANH:
  case CSM_OP_ABS:
  case CSM_OP_SQUARE:
  case CSM_OP_SQRT:
  case CSM_OP_RSQRT:
  case CSM_OP_EXP:
  case CSM_OP_NEG:
  case CSM_OP_HARD_SIGMOID:
  case CSM_OP_HARD_SWISH:
  case CSM_OP_RECIPROCAL: break;
  default: return csm_fail(CSM_EINTERNAL, "%s is not a unary op", csm_op_name(op));
  }
  if (a->k != 0)
    return csm_fail(CSM_EINTERNAL, "%s: no operand %d to differentiate", csm_op_name(op), a->k);
  if (a->in[0].dtype != CSM_F32 || a->din->dtype != CSM_F32)
    return csm_fail(CSM_EUNSUPPORTED, "%s: gradients need a float32 input", csm_op_name(op));
  const float *x = a->in[0].data, *y = a->out->data, *g = a->dout->data;
  float *din = a->din->data;
  const double alpha = (double)n->a.alpha, beta = (double)n->a.beta;
  const size_t total = csm_tensor_numel(&a->in[0]);
  /* One loop per op (the switch is hoisted out of the element loop). The
   * piecewise-linear ops multiply by a float 1, 0 or alpha: a product of
   * two floats is exact in double, so that is the same rounding as the
   * double formula. */
  const float falpha = n->a.alpha;
  switch (op) {
  case CSM_OP_RELU: UNARY_LOOP(g[i] * (x[i] > 0.0f ? 1.0f : 0.0f)); break;
  case CSM_OP_RELU6: UNARY_LOOP(g[i] * ((x[i] > 0.0f && x[i] < 6.0f) ? 1.0f : 0.0f)); break;
  case CSM_OP_LEAKY_RELU: UNARY_LOOP(g[i] * (x[i] > 0.0f ? 1.0f : falpha)); break;
  case CSM_OP_NEG: UNARY_LOOP(-g[i]); break;
  default:
    UNARY_LOOP((float)((double)g[i] * unary_slope(op, (double)x[i], (double)y[i], alpha, beta)));
    break;
  }
  return CSM_OK;
}
