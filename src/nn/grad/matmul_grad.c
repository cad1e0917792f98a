/* Backward pass: stub until implemented. */
#include "backward.h"

csm_status csm_backward_matmul(const csm_backward_args *a) {
  return csm_fail(CSM_EUNSUPPORTED, "no backward pass for %s yet", csm_op_name(a->node->op));
}
