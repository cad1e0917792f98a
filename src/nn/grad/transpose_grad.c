/* Backward pass of Transpose: each output element is one input element, so
 * din += dout transposed back with the inverse permutation (the forward
 * kernel on dout, into a temporary, then added). */
#include "backward.h"
#include "../ops/op.h"

csm_status csm_backward_transpose(const csm_backward_args *a) {
  const csm_node *n = a->node;
  const csm_shape *s = &a->in[0].shape;
  const csm_op_def *def = csm_op_def_get(CSM_OP_TRANSPOSE);
  csm_node inv = *n;
  csm_tensor shape_only = {0}, tmp;
  int seen[CSM_MAX_RANK] = {0};
  csm_status st;
  if (a->k != 0 || a->in[0].dtype != CSM_F32 || a->din->dtype != CSM_F32 ||
      a->dout->dtype != CSM_F32)
    return csm_fail(CSM_EUNSUPPORTED, "Transpose: operand %d has no float32 gradient", a->k);
  if (n->a.n_perm != s->rank)
    return csm_fail(CSM_EINPUT, "Transpose: perm has %d entries for a rank %d input", n->a.n_perm,
                    s->rank);
  for (int d = 0; d < s->rank; d++) {
    int p = n->a.perm[d];
    if (p < 0 || p >= s->rank || seen[p])
      return csm_fail(CSM_EINPUT, "Transpose: perm[%d] = %d: not a permutation of rank %d", d, p,
                      s->rank);
    seen[p] = 1;
    inv.a.perm[p] = d;
  }
  /* Also checks that dout has the output's shape. */
  if ((st = def->infer(&inv, a->dout, &shape_only)))
    return csm_fail_context(st, "Transpose backward: ");
  if (!csm_shape_equal(&shape_only.shape, s))
    return csm_fail(CSM_EINTERNAL, "Transpose backward: dout does not match the output shape");
  if (csm_tensor_numel(a->din) == 0) return CSM_OK;
  if ((st = csm_tensor_alloc(&tmp, CSM_F32, s))) return st;
  if ((st = def->forward(&inv, a->dout, &tmp, NULL))) {
    csm_tensor_free(&tmp);
    return st;
  }
  const size_t total = csm_tensor_numel(&tmp);
  const float *g = tmp.data;
  float *din = a->din->data;
  for (size_t i = 0; i < total; i++)
    din[i] += g[i];
  csm_tensor_free(&tmp);
  return CSM_OK;
}
