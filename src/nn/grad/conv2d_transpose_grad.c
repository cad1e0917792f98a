/* Placeholder: the ONNX op work fills this in. */
#include "backward.h"

csm_status csm_backward_conv2d_transpose(const csm_backward_args *a) {
  (void)a;
  return csm_fail(CSM_EUNSUPPORTED, "no backward pass yet");
}
