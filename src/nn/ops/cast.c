/* Cast between float32 and int32 (attrs.to_dtype). Float to int truncates
 * toward zero, as ONNX and C do; a value with no int32 truncation (NaN,
 * infinities, out of range) is an error rather than C's undefined
 * behaviour. Models cast only in shape arithmetic, so the planner usually
 * folds it; a cast to the same dtype is a copy. */
#include "op.h"
#include "../grad/backward.h"

#include <math.h>
#include <string.h>

static csm_status cast_infer(const csm_node *n, const csm_tensor *in, csm_tensor *out) {
  csm_status st;
  if (n->n_in != 1) return csm_fail(CSM_EINPUT, "Cast takes 1 input, got %d", n->n_in);
  if (in[0].dtype != CSM_F32 && in[0].dtype != CSM_I32)
    return csm_fail(CSM_EINPUT, "input has an unknown dtype %d", (int)in[0].dtype);
  if (n->a.to_dtype != CSM_F32 && n->a.to_dtype != CSM_I32)
    return csm_fail(CSM_EUNSUPPORTED, "cannot cast to dtype %d (float32 or int32 only)",
                    (int)n->a.to_dtype);
  if ((st = csm_shape_numel(&in[0].shape, &(size_t){0}))) return st;
  out->dtype = n->a.to_dtype;
  out->shape = in[0].shape;
  return CSM_OK;
}

static csm_status cast_forward(const csm_node *n, const csm_tensor *in, csm_tensor *out,
                               void *scratch) {
  const size_t count = csm_tensor_numel(out);
  (void)scratch;
  if (count == 0) return CSM_OK;
  if (in[0].dtype == n->a.to_dtype) {
    memcpy(out->data, in[0].data, count * 4);
    return CSM_OK;
  }
  if (in[0].dtype == CSM_I32) { /* to float32: rounds to nearest above 2^24 */
    const int32_t *x = in[0].data;
    float *y = out->data;
    for (size_t i = 0; i < count; i++)
      y[i] = (float)x[i];
    return CSM_OK;
  }
  const float *x = in[0].data;
  int32_t *y = out->data;
  for (size_t i = 0; i < count; i++) {
    /* Every float in (-2^31 - 1, 2^31) truncates into int32 range; the
     * comparisons are false for NaN. */
    if (!(x[i] > -2147483649.0 && x[i] < 2147483648.0))
      return csm_fail(CSM_EINPUT, "element %zu is %g: out of int32 range", i, (double)x[i]);
    y[i] = (int32_t)x[i];
  }
  return CSM_OK;
}

const csm_op_def csm_op_cast = {
    .infer = cast_infer, .forward = cast_forward, .flags = CSM_OP_ELEMENTWISE};
