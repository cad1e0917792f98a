/* Which op has which backward pass, and which operands carry gradients. */
#include "backward.h"

csm_backward_fn csm_backward_get(csm_op_kind op) {
  switch (op) {
  case CSM_OP_CONV2D: return csm_backward_conv2d;
  case CSM_OP_DEPTHWISE_CONV2D: return csm_backward_depthwise_conv2d;
  case CSM_OP_MATMUL: return csm_backward_matmul;
  case CSM_OP_MAXPOOL:
  case CSM_OP_AVGPOOL: return csm_backward_pool;
  case CSM_OP_PAD: return csm_backward_pad;
  case CSM_OP_RESIZE_BILINEAR: return csm_backward_resize_bilinear;
  case CSM_OP_ADD:
  case CSM_OP_SUB:
  case CSM_OP_MUL:
  case CSM_OP_DIV:
  case CSM_OP_MAXIMUM:
  case CSM_OP_MINIMUM:
  case CSM_OP_PRELU: return csm_backward_binary;
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
  case CSM_OP_NEG: return csm_backward_unary;
  case CSM_OP_SOFTMAX: return csm_backward_softmax;
  case CSM_OP_REDUCE_MEAN:
  case CSM_OP_REDUCE_SUM:
  case CSM_OP_REDUCE_MAX: return csm_backward_reduce;
  case CSM_OP_RESHAPE:
  case CSM_OP_SQUEEZE:
  case CSM_OP_EXPAND_DIMS:
  case CSM_OP_IDENTITY:
  case CSM_OP_STRIDED_SLICE:
  case CSM_OP_PACK:
  case CSM_OP_CONCAT:
  case CSM_OP_DEPTH_TO_SPACE:
  case CSM_OP_FLATTEN: return csm_backward_movement;
  case CSM_OP_TRANSPOSE: return csm_backward_transpose;
  case CSM_OP_GATHER: return csm_backward_gather;
  case CSM_OP_BROADCAST_TO: return csm_backward_broadcast_to;
  case CSM_OP_CONV2D_TRANSPOSE: return csm_backward_conv2d_transpose;
  case CSM_OP_RESIZE_NEAREST: return csm_backward_resize_nearest;
  case CSM_OP_HARD_SIGMOID:
  case CSM_OP_HARD_SWISH:
  case CSM_OP_RECIPROCAL: return csm_backward_unary;
  case CSM_OP_LOG_SOFTMAX: return csm_backward_softmax;
  default: return NULL; /* INPUT, CONST, SHAPE: nothing flows through them */
  }
}

int csm_backward_operand(csm_op_kind op, int k, int n_in) {
  switch (op) {
  case CSM_OP_MATMUL: return k < 2; /* a, b; not bias/alpha */
  case CSM_OP_ADD:
  case CSM_OP_SUB:
  case CSM_OP_MUL:
  case CSM_OP_DIV:
  case CSM_OP_MAXIMUM:
  case CSM_OP_MINIMUM:
  case CSM_OP_PRELU: return k < 2; /* PRELU: x and alpha */
  case CSM_OP_PACK: return 1;
  case CSM_OP_CONCAT: return k < n_in - 1; /* the last operand is the axis */
  case CSM_OP_SHAPE:
  case CSM_OP_INPUT:
  case CSM_OP_CONST: return 0;
  default: return k == 0; /* x; the rest are filters or parameters */
  }
}
