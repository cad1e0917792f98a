/* Backward pass of the broadcasting binary ops: Add, Sub, Mul, Div, Maximum,
 * Minimum and Prelu (x, alpha).
 *
 * The output is walked in row-major order with per-operand element strides
 * (0 along the dimensions where an operand is broadcast, exactly as the
 * forward walks it), and dout[i] * d(out[i])/d(operand) is summed into the
 * operand element that produced out[i]. A broadcast operand therefore gets
 * dout reduced (summed) over its broadcast dimensions. The sums are
 * accumulated in double and added to din once.
 *
 * Local derivatives (x = a, y = b):
 *   Add      1, 1            Sub  1, -1
 *   Mul      y, x            Div  1/y, -x/y^2
 *   Maximum  to a where a >= b (or a is NaN), else to b
 *   Minimum  to a where a <= b (or a is NaN), else to b
 *     Tie rule: on a == b the whole gradient goes to a (not split). Away
 *     from ties and NaN this is the operand the forward selects.
 *   Prelu    x: x > 0 ? 1 : alpha; alpha: x > 0 ? 0 : x (TF.js's PreluGrad;
 *     at x == 0 the forward's value is 0 on both sides, the slope taken
 *     there is alpha). */
#include "backward.h"

#include <stdlib.h>
#include <string.h>

/* Element strides of operand s along the dims of the output shape o
 * (right-aligned; 0 where s has size 1 or no dim). */
static void operand_strides(const csm_shape *s, const csm_shape *o, size_t *st) {
  size_t stride = 1;
  int off = o->rank - s->rank;
  for (int i = o->rank - 1; i >= 0; i--) {
    int j = i - off;
    size_t dim = j >= 0 ? (size_t)s->d[j] : 1;
    st[i] = dim == 1 ? 0 : stride;
    stride *= dim;
  }
}

/* d(out)/d(operand k) at one element, with x = a, y = b. */
static double local_grad(csm_op_kind op, int k, double x, double y) {
  switch (op) {
  case CSM_OP_ADD: return 1.0;
  case CSM_OP_SUB: return k == 0 ? 1.0 : -1.0;
  case CSM_OP_MUL: return k == 0 ? y : x;
  case CSM_OP_DIV: return k == 0 ? 1.0 / y : -x / (y * y);
  case CSM_OP_MAXIMUM: {
    int to_a = x >= y || x != x;
    return (k == 0) == to_a ? 1.0 : 0.0;
  }
  case CSM_OP_MINIMUM: {
    int to_a = x <= y || x != x;
    return (k == 0) == to_a ? 1.0 : 0.0;
  }
  case CSM_OP_PRELU:
    if (k == 0) return x > 0.0 ? 1.0 : y;
    return x > 0.0 ? 0.0 : x;
  default: return 0.0;
  }
}

csm_status csm_backward_binary(const csm_backward_args *a) {
  const csm_node *n = a->node;
  const csm_tensor *in = a->in, *out = a->out;
  const csm_shape *os = &out->shape;
  size_t sa[CSM_MAX_RANK], sb[CSM_MAX_RANK], sk[CSM_MAX_RANK], idx[CSM_MAX_RANK] = {0};
  size_t total = csm_tensor_numel(out), nk, oa = 0, ob = 0, ok = 0;
  int k = a->k, rank = os->rank;
  switch (n->op) {
  case CSM_OP_ADD:
  case CSM_OP_SUB:
  case CSM_OP_MUL:
  case CSM_OP_DIV:
  case CSM_OP_MAXIMUM:
  case CSM_OP_MINIMUM:
  case CSM_OP_PRELU: break;
  default: return csm_fail(CSM_EINTERNAL, "%s is not a binary op", csm_op_name(n->op));
  }
  if (n->n_in != 2 || k < 0 || k > 1)
    return csm_fail(CSM_EINTERNAL, "%s: no operand %d to differentiate", csm_op_name(n->op), k);
  if (in[0].dtype != CSM_F32 || in[1].dtype != CSM_F32 || a->din->dtype != CSM_F32)
    return csm_fail(CSM_EUNSUPPORTED, "%s: gradients need float32 operands", csm_op_name(n->op));
  nk = csm_tensor_numel(&in[k]);
  if (total == 0 || nk == 0) return CSM_OK;
  double *acc = calloc(nk, sizeof *acc);
  if (!acc) return csm_fail(CSM_ENOMEM, "%s backward: out of memory", csm_op_name(n->op));
  operand_strides(&in[0].shape, os, sa);
  operand_strides(&in[1].shape, os, sb);
  memcpy(sk, k == 0 ? sa : sb, sizeof sk);
  const float *x = in[0].data, *y = in[1].data, *g = a->dout->data;
  /* Rows of the innermost output dim; the odometer steps the outer dims. */
  size_t len = rank > 0 ? (size_t)os->d[rank - 1] : 1, rows = total / len;
  size_t ia = rank > 0 ? sa[rank - 1] : 0, ib = rank > 0 ? sb[rank - 1] : 0;
  size_t ik = rank > 0 ? sk[rank - 1] : 0;
  for (size_t r = 0; r < rows; r++) {
    const float *gr = g + r * len;
    for (size_t i = 0; i < len; i++)
      acc[ok + i * ik] +=
          (double)gr[i] * local_grad(n->op, k, (double)x[oa + i * ia], (double)y[ob + i * ib]);
    for (int d = rank - 2; d >= 0; d--) {
      oa += sa[d];
      ob += sb[d];
      ok += sk[d];
      if (++idx[d] < (size_t)os->d[d]) break;
      oa -= sa[d] * (size_t)os->d[d];
      ob -= sb[d] * (size_t)os->d[d];
      ok -= sk[d] * (size_t)os->d[d];
      idx[d] = 0;
    }
  }
  float *din = a->din->data;
  for (size_t i = 0; i < nk; i++)
    din[i] += (float)acc[i];
  free(acc);
  return CSM_OK;
}
