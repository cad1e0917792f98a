/* Placeholder: the ONNX op work fills this in. */
#include "op.h"

const csm_op_def csm_op_cast = {0};
