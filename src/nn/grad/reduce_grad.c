/* Backward pass of ReduceMean, ReduceSum and ReduceMax.
 *
 * The reduced axes are the forward's (csm_reduce_axes, ops/reduce.c):
 * a scalar or vector int32 operand, negative axes count from the end,
 * repeats are ignored, an empty list reduces nothing (the op is then an
 * element-wise copy and so is its gradient). keep_dims only inserts size-1
 * dims, which does not change the row-major order of the output, so each
 * input element maps to the output element at its kept coordinates either
 * way.
 *   Sum:  din += dout broadcast back over the reduced axes.
 *   Mean: din += dout / count, with count = (float)(numel(x) / numel(out)),
 *         the divisor the forward uses.
 *   Max:  each output's dout goes to one element of its group: the first
 *         maximal one in row-major order (the forward keeps the running
 *         maximum on strict >, so on ties the first one wins). For a group
 *         with a NaN the forward's result is NaN and the gradient goes to the
 *         first NaN. */
#include "backward.h"
#include "../ops/op.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

csm_status csm_backward_reduce(const csm_backward_args *a) {
  const csm_node *n = a->node;
  const csm_tensor *x = &a->in[0];
  const csm_shape *s = &x->shape;
  int flag[CSM_MAX_RANK];
  size_t ostride[CSM_MAX_RANK], idx[CSM_MAX_RANK] = {0};
  csm_status st;
  if (n->op != CSM_OP_REDUCE_MEAN && n->op != CSM_OP_REDUCE_SUM && n->op != CSM_OP_REDUCE_MAX)
    return csm_fail(CSM_EINTERNAL, "%s is not a reduction", csm_op_name(n->op));
  if (a->k != 0)
    return csm_fail(CSM_EINTERNAL, "%s: no operand %d to differentiate", csm_op_name(n->op), a->k);
  if (x->dtype != CSM_F32 || a->din->dtype != CSM_F32)
    return csm_fail(CSM_EUNSUPPORTED, "%s: gradients need a float32 input", csm_op_name(n->op));
  if (n->n_in != 2)
    return csm_fail(CSM_EINPUT, "%s takes 2 inputs (x, axes), got %d", csm_op_name(n->op), n->n_in);
  if ((st = csm_reduce_axes(n, a->in, flag))) return st;
  const size_t total_in = csm_tensor_numel(x), total_out = csm_tensor_numel(a->out);
  if (total_in == 0 || total_out == 0) return CSM_OK;
  /* Output element strides along the input dims (0 on reduced dims). */
  size_t stride = 1;
  for (int d = s->rank - 1; d >= 0; d--) {
    ostride[d] = flag[d] ? 0 : stride;
    if (!flag[d]) stride *= (size_t)s->d[d];
  }
  const float *xv = x->data, *y = a->out->data, *g = a->dout->data;
  float *din = a->din->data;
  size_t *first = NULL;
  if (n->op == CSM_OP_REDUCE_MAX) {
    first = malloc(total_out * sizeof *first);
    if (!first) return csm_fail(CSM_ENOMEM, "%s backward: out of memory", csm_op_name(n->op));
    for (size_t o = 0; o < total_out; o++)
      first[o] = SIZE_MAX;
  }
  const float nf = (float)(total_in / total_out);
  size_t o = 0;
  for (size_t i = 0; i < total_in; i++) {
    switch (n->op) {
    case CSM_OP_REDUCE_SUM: din[i] += g[o]; break;
    case CSM_OP_REDUCE_MEAN: din[i] += (float)((double)g[o] / (double)nf); break;
    default:
      if (first[o] == SIZE_MAX && (xv[i] == y[o] || (xv[i] != xv[i] && y[o] != y[o]))) first[o] = i;
      break;
    }
    for (int d = s->rank - 1; d >= 0; d--) {
      o += ostride[d];
      if (++idx[d] < (size_t)s->d[d]) break;
      o -= ostride[d] * (size_t)s->d[d];
      idx[d] = 0;
    }
  }
  if (first) {
    for (size_t q = 0; q < total_out; q++)
      if (first[q] != SIZE_MAX) din[first[q]] += g[q];
    free(first);
  }
  return CSM_OK;
}
