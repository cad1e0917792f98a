/* Shape: the input's dimensions as an int32 vector. Shapes are known when
 * the graph is planned, so the planner folds this op into a constant; forward
 * exists for executors that do not fold. */
#include "op.h"
#include "../grad/backward.h"

static csm_status shape_infer(const csm_node *n, const csm_tensor *in, csm_tensor *out) {
  const csm_shape *s = &in[0].shape;
  if (n->n_in != 1) return csm_fail(CSM_EINPUT, "Shape takes 1 input, got %d", n->n_in);
  if (in[0].dtype != CSM_F32 && in[0].dtype != CSM_I32)
    return csm_fail(CSM_EINPUT, "input has an unknown dtype %d", (int)in[0].dtype);
  if (csm_shape_numel(s, &(size_t){0})) return CSM_EINPUT;
  for (int i = 0; i < s->rank; i++)
    if (s->d[i] > INT32_MAX)
      return csm_fail(CSM_EUNSUPPORTED, "dimension %d (%lld) does not fit in int32", i,
                      (long long)s->d[i]);
  out->dtype = CSM_I32;
  out->shape.rank = 1;
  out->shape.d[0] = s->rank;
  return CSM_OK;
}

static csm_status shape_forward(const csm_node *n, const csm_tensor *in, csm_tensor *out,
                                void *scratch) {
  int32_t *o = out->data;
  (void)n;
  (void)scratch;
  for (int i = 0; i < in[0].shape.rank; i++)
    o[i] = (int32_t)in[0].shape.d[i];
  return CSM_OK;
}

static double shape_flops(const csm_node *n, const csm_tensor *in, const csm_tensor *out) {
  (void)n;
  (void)in;
  (void)out;
  return 0.0;
}

const csm_op_def csm_op_shape = {.infer = shape_infer,
                                 .forward = shape_forward,
                                 .flops = shape_flops,
                                 .grad_operands = CSM_GRAD_NONE};
