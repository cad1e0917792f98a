/* Backward pass of the broadcasting binary ops: Add, Sub, Mul, Div, Maximum,
 * Minimum and Prelu (x, alpha).
 *
 * The output is walked in row-major order with per-operand element strides
 * (0 along the dimensions where an operand is broadcast, exactly as the
 * forward walks it), and dout[i] * d(out[i])/d(operand) is summed into the
 * operand element that produced out[i]. A broadcast operand therefore gets
 * dout reduced (summed) over its broadcast dimensions.
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
 *     there is alpha).
 *
 * Paths, by the shape of the operand differentiated:
 *   - not broadcast (the output's shape; the common case): every element
 *     gets exactly one term, added straight into din in float, in parallel
 *     over segments of the output. The other operand is read in full, as a
 *     scalar, as a vector along the last axis, or through generic strides.
 *     Each term is the float rounding of the double product (Div computes it
 *     in double; for the other ops the float expression is that rounding).
 *   - a scalar or a vector along the last axis: the terms are summed in
 *     double over the output's rows, in row-major order, then added to din.
 *   - anything else: the generic broadcasting walk, summing in double. */
#include "backward.h"

#include <stdlib.h>
#include <string.h>

enum { SEG = 4096 };              /* flat segment length for parallel loops */
#define PAR_MIN ((size_t)1 << 15) /* elements before a loop goes parallel */

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
static inline double local_grad(csm_op_kind op, int k, double x, double y) {
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

/* d[i] += g[i] * f(own[i], other[i * s]) for i < len, s in {0, 1}: one
 * loop per op and operand. `own` is operand k, `other` the other one; the
 * expressions give the float rounding of the double term of local_grad
 * (products of two floats and multiplications by 1 or 0 are exact in
 * double, so rounding once to float is the float operation). */
#define SEG_LOOP(EXPR)                                                                             \
  do {                                                                                             \
    if (s) {                                                                                       \
      for (size_t i = 0; i < len; i++) {                                                           \
        const float gi = g[i], oi = own[i], ti = other[i];                                         \
        (void)oi;                                                                                  \
        (void)ti;                                                                                  \
        d[i] += (EXPR);                                                                            \
      }                                                                                            \
    } else {                                                                                       \
      const float ti = other[0];                                                                   \
      (void)ti;                                                                                    \
      for (size_t i = 0; i < len; i++) {                                                           \
        const float gi = g[i], oi = own[i];                                                        \
        (void)oi;                                                                                  \
        d[i] += (EXPR);                                                                            \
      }                                                                                            \
    }                                                                                              \
  } while (0)

static void segment(csm_op_kind op, int k, const float *g, const float *own, const float *other,
                    size_t s, size_t len, float *d) {
  /* With k == 0, oi = x and ti = y; with k == 1, oi = y and ti = x. */
  switch (op) {
  case CSM_OP_ADD: SEG_LOOP(gi); break;
  case CSM_OP_SUB:
    if (k == 0)
      SEG_LOOP(gi);
    else
      SEG_LOOP(-gi);
    break;
  case CSM_OP_MUL: SEG_LOOP(gi * ti); break;
  case CSM_OP_DIV:
    if (k == 0)
      SEG_LOOP((float)((double)gi * (1.0 / (double)ti)));
    else
      SEG_LOOP((float)((double)gi * (-(double)ti / ((double)oi * (double)oi))));
    break;
  case CSM_OP_MAXIMUM:
    if (k == 0)
      SEG_LOOP(gi * ((oi >= ti || oi != oi) ? 1.0f : 0.0f));
    else
      SEG_LOOP(gi * ((ti >= oi || ti != ti) ? 0.0f : 1.0f));
    break;
  case CSM_OP_MINIMUM:
    if (k == 0)
      SEG_LOOP(gi * ((oi <= ti || oi != oi) ? 1.0f : 0.0f));
    else
      SEG_LOOP(gi * ((ti <= oi || ti != ti) ? 0.0f : 1.0f));
    break;
  case CSM_OP_PRELU:
    if (k == 0)
      SEG_LOOP(oi > 0.0f ? gi : gi * ti);
    else
      SEG_LOOP(gi * (ti > 0.0f ? 0.0f : ti));
    break;
  default: break;
  }
}
#undef SEG_LOOP

/* Operand k has the output's shape: one term per element, straight into
 * din. The other operand o is read with strides so (so[rank-1] is 0 or 1). */
static void full_operand(const csm_backward_args *a, const size_t *so) {
  const csm_op_kind op = a->node->op;
  const int k = a->k, rank = a->out->shape.rank;
  const csm_tensor *ot = &a->in[1 - k];
  const float *own = a->in[k].data, *other = ot->data, *g = a->dout->data;
  float *din = a->din->data;
  const size_t total = csm_tensor_numel(a->out), no = csm_tensor_numel(ot);
  const size_t last = rank > 0 ? (size_t)a->out->shape.d[rank - 1] : 1;
  if (no == total || no == 1) {
    /* Flat: other in full or a scalar; fixed segments. */
    const size_t s = no == total ? 1 : 0;
    const size_t nseg = (total + SEG - 1) / SEG;
#pragma omp parallel for schedule(static) if (total > PAR_MIN)
    for (size_t r = 0; r < nseg; r++) {
      const size_t i0 = r * SEG, len = total - i0 < SEG ? total - i0 : SEG;
      segment(op, k, g + i0, own + i0, other + i0 * s, s, len, din + i0);
    }
    return;
  }
  /* Rows of the last axis; other's row offset from the row index. */
  const size_t rows = total / last, s = rank > 0 ? so[rank - 1] : 0;
  const int vec = no == last && s == 1; /* a vector along the last axis */
  const csm_shape *os = &a->out->shape;
#pragma omp parallel for schedule(static) if (total > PAR_MIN && rows > 1)
  for (size_t r = 0; r < rows; r++) {
    size_t off = 0;
    if (!vec)
      for (size_t q = r, d = (size_t)rank - 1; d-- > 0;) {
        off += (q % (size_t)os->d[d]) * so[d];
        q /= (size_t)os->d[d];
      }
    segment(op, k, g + r * last, own + r * last, other + off, s, last, din + r * last);
  }
}

/* Operand k is a scalar or a vector along the last axis (nk values): the
 * terms of each of its elements are summed in double over the output rows,
 * in order. The other operand has strides so. */
static csm_status reduce_operand(const csm_backward_args *a, const size_t *so, size_t nk) {
  const csm_op_kind op = a->node->op;
  const int k = a->k, rank = a->out->shape.rank;
  const csm_shape *os = &a->out->shape;
  const float *x = a->in[0].data, *y = a->in[1].data, *g = a->dout->data;
  const size_t total = csm_tensor_numel(a->out);
  const size_t last = rank > 0 ? (size_t)os->d[rank - 1] : 1, rows = total / last;
  const size_t s = rank > 0 ? so[rank - 1] : 0, ik = nk == 1 ? 0 : 1;
  double one = 0.0, *acc = &one;
  if (nk > 1 && !(acc = calloc(nk, sizeof *acc)))
    return csm_fail(CSM_ENOMEM, "%s backward: out of memory", csm_op_name(op));
  for (size_t r = 0; r < rows; r++) {
    size_t off = 0;
    for (size_t q = r, d = (size_t)rank - 1; rank > 0 && d-- > 0;) {
      off += (q % (size_t)os->d[d]) * so[d];
      q /= (size_t)os->d[d];
    }
    const float *gr = g + r * last;
    /* xr/yr: the operands' element 0 for this row; operand k has stride ik
     * along the row, the other s. */
    const float *xr = k == 0 ? x : x + off, *yr = k == 0 ? y + off : y;
    const size_t sx = k == 0 ? ik : s, sy = k == 0 ? s : ik;
    switch (op) {
    case CSM_OP_ADD:
      for (size_t i = 0; i < last; i++)
        acc[i * ik] += (double)gr[i];
      break;
    case CSM_OP_SUB:
      for (size_t i = 0; i < last; i++)
        acc[i * ik] += (double)gr[i] * (k == 0 ? 1.0 : -1.0);
      break;
    default:
      for (size_t i = 0; i < last; i++)
        acc[i * ik] += (double)gr[i] * local_grad(op, k, (double)xr[i * sx], (double)yr[i * sy]);
      break;
    }
  }
  float *din = a->din->data;
  for (size_t i = 0; i < nk; i++)
    din[i] += (float)acc[i];
  if (acc != &one) free(acc);
  return CSM_OK;
}

/* Any broadcast: the generic walk over the output with an odometer. */
static csm_status generic(const csm_backward_args *a, const size_t *sa, const size_t *sb,
                          size_t nk) {
  const csm_node *n = a->node;
  const csm_shape *os = &a->out->shape;
  const int k = a->k, rank = os->rank;
  size_t sk[CSM_MAX_RANK], idx[CSM_MAX_RANK] = {0}, oa = 0, ob = 0, ok = 0;
  const size_t total = csm_tensor_numel(a->out);
  double *acc = calloc(nk, sizeof *acc);
  if (!acc) return csm_fail(CSM_ENOMEM, "%s backward: out of memory", csm_op_name(n->op));
  memcpy(sk, k == 0 ? sa : sb, sizeof sk);
  const float *x = a->in[0].data, *y = a->in[1].data, *g = a->dout->data;
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

csm_status csm_backward_binary(const csm_backward_args *a) {
  const csm_node *n = a->node;
  const csm_tensor *in = a->in, *out = a->out;
  const csm_shape *os = &out->shape;
  size_t sa[CSM_MAX_RANK], sb[CSM_MAX_RANK];
  size_t total = csm_tensor_numel(out), nk;
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
  operand_strides(&in[0].shape, os, sa);
  operand_strides(&in[1].shape, os, sb);
  const size_t *so = k == 0 ? sb : sa;
  const size_t last = rank > 0 ? (size_t)os->d[rank - 1] : 1;
  if (nk == total) {
    full_operand(a, so);
    return CSM_OK;
  }
  if (nk == 1 || (nk == last && (k == 0 ? sa : sb)[rank - 1] == 1))
    return reduce_operand(a, so, nk);
  return generic(a, sa, sb, nk);
}
