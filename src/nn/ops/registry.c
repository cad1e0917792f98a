/* Maps op kinds to their definitions, and holds helpers shared by ops. */
#include "op.h"

#include <stdio.h>

const csm_op_def *csm_op_def_get(csm_op_kind op) {
  switch (op) {
  case CSM_OP_CONV2D: return &csm_op_conv2d;
  case CSM_OP_DEPTHWISE_CONV2D: return &csm_op_depthwise_conv2d;
  case CSM_OP_MATMUL: return &csm_op_matmul;
  case CSM_OP_MAXPOOL: return &csm_op_maxpool;
  case CSM_OP_AVGPOOL: return &csm_op_avgpool;
  case CSM_OP_ADD:
  case CSM_OP_SUB:
  case CSM_OP_MUL:
  case CSM_OP_DIV:
  case CSM_OP_MAXIMUM:
  case CSM_OP_MINIMUM:
  case CSM_OP_PRELU: return &csm_op_binary;
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
  case CSM_OP_NEG: return &csm_op_unary;
  case CSM_OP_SOFTMAX: return &csm_op_softmax;
  case CSM_OP_REDUCE_MEAN:
  case CSM_OP_REDUCE_SUM:
  case CSM_OP_REDUCE_MAX: return &csm_op_reduce;
  case CSM_OP_RESHAPE: return &csm_op_reshape;
  case CSM_OP_SQUEEZE: return &csm_op_squeeze;
  case CSM_OP_EXPAND_DIMS: return &csm_op_expand_dims;
  case CSM_OP_IDENTITY: return &csm_op_identity;
  case CSM_OP_SHAPE: return &csm_op_shape;
  case CSM_OP_STRIDED_SLICE: return &csm_op_strided_slice;
  case CSM_OP_PACK: return &csm_op_pack;
  case CSM_OP_CONCAT: return &csm_op_concat;
  case CSM_OP_PAD: return &csm_op_pad;
  case CSM_OP_RESIZE_BILINEAR: return &csm_op_resize_bilinear;
  case CSM_OP_DEPTH_TO_SPACE: return &csm_op_depth_to_space;
  case CSM_OP_TRANSPOSE: return &csm_op_transpose;
  case CSM_OP_GATHER: return &csm_op_gather;
  case CSM_OP_BROADCAST_TO: return &csm_op_broadcast_to;
  case CSM_OP_CONV2D_TRANSPOSE: return &csm_op_conv2d_transpose;
  case CSM_OP_HARD_SIGMOID:
  case CSM_OP_HARD_SWISH:
  case CSM_OP_RECIPROCAL: return &csm_op_unary;
  case CSM_OP_LOG_SOFTMAX: return &csm_op_softmax;
  case CSM_OP_RESIZE_NEAREST: return &csm_op_resize_nearest;
  case CSM_OP_FLATTEN: return &csm_op_flatten;
  case CSM_OP_CAST: return &csm_op_cast;
  case CSM_OP_INPUT:
  case CSM_OP_CONST:
  case CSM_OP_COUNT: break;
  }
  return NULL;
}

const char *csm_op_name(csm_op_kind op) {
  static const char *const names[CSM_OP_COUNT] = {
      [CSM_OP_INPUT] = "Input",
      [CSM_OP_CONST] = "Const",
      [CSM_OP_CONV2D] = "Conv2D",
      [CSM_OP_DEPTHWISE_CONV2D] = "DepthwiseConv2D",
      [CSM_OP_MATMUL] = "MatMul",
      [CSM_OP_MAXPOOL] = "MaxPool",
      [CSM_OP_AVGPOOL] = "AvgPool",
      [CSM_OP_ADD] = "Add",
      [CSM_OP_SUB] = "Sub",
      [CSM_OP_MUL] = "Mul",
      [CSM_OP_DIV] = "Div",
      [CSM_OP_MAXIMUM] = "Maximum",
      [CSM_OP_MINIMUM] = "Minimum",
      [CSM_OP_PRELU] = "Prelu",
      [CSM_OP_RELU] = "Relu",
      [CSM_OP_RELU6] = "Relu6",
      [CSM_OP_LEAKY_RELU] = "LeakyRelu",
      [CSM_OP_SIGMOID] = "Sigmoid",
      [CSM_OP_TANH] = "Tanh",
      [CSM_OP_ABS] = "Abs",
      [CSM_OP_SQUARE] = "Square",
      [CSM_OP_SQRT] = "Sqrt",
      [CSM_OP_RSQRT] = "Rsqrt",
      [CSM_OP_EXP] = "Exp",
      [CSM_OP_NEG] = "Neg",
      [CSM_OP_SOFTMAX] = "Softmax",
      [CSM_OP_REDUCE_MEAN] = "Mean",
      [CSM_OP_REDUCE_SUM] = "Sum",
      [CSM_OP_REDUCE_MAX] = "Max",
      [CSM_OP_RESHAPE] = "Reshape",
      [CSM_OP_TRANSPOSE] = "Transpose",
      [CSM_OP_GATHER] = "Gather",
      [CSM_OP_BROADCAST_TO] = "BroadcastTo",
      [CSM_OP_CONV2D_TRANSPOSE] = "Conv2DTranspose",
      [CSM_OP_HARD_SIGMOID] = "HardSigmoid",
      [CSM_OP_HARD_SWISH] = "HardSwish",
      [CSM_OP_RECIPROCAL] = "Reciprocal",
      [CSM_OP_LOG_SOFTMAX] = "LogSoftmax",
      [CSM_OP_RESIZE_NEAREST] = "ResizeNearestNeighbor",
      [CSM_OP_FLATTEN] = "Flatten",
      [CSM_OP_CAST] = "Cast",
      [CSM_OP_SQUEEZE] = "Squeeze",
      [CSM_OP_EXPAND_DIMS] = "ExpandDims",
      [CSM_OP_IDENTITY] = "Identity",
      [CSM_OP_SHAPE] = "Shape",
      [CSM_OP_STRIDED_SLICE] = "StridedSlice",
      [CSM_OP_PACK] = "Pack",
      [CSM_OP_CONCAT] = "Concat",
      [CSM_OP_PAD] = "Pad",
      [CSM_OP_RESIZE_BILINEAR] = "ResizeBilinear",
      [CSM_OP_DEPTH_TO_SPACE] = "DepthToSpace",
  };
  if ((int)op < 0 || op >= CSM_OP_COUNT || !names[op]) return "?";
  return names[op];
}

int64_t csm_window_out(int64_t in, int k, int stride, int dilation, csm_padding pad,
                       int pad_before_explicit, int pad_after_explicit, int *pad_before) {
  int64_t eff = (int64_t)(k - 1) * dilation + 1;
  int64_t out;
  *pad_before = 0;
  if (k <= 0 || stride <= 0 || dilation <= 0 || in < 0) return -1;
  switch (pad) {
  case CSM_PAD_VALID:
    if (in < eff) return -1;
    return (in - eff) / stride + 1;
  case CSM_PAD_SAME:
  case CSM_PAD_SAME_LOWER: {
    out = (in + stride - 1) / stride;
    int64_t total = (out - 1) * stride + eff - in;
    if (total < 0) total = 0;
    /* TensorFlow (and ONNX SAME_UPPER) put the odd pixel after. */
    *pad_before = (int)(pad == CSM_PAD_SAME ? total / 2 : (total + 1) / 2);
    return out;
  }
  case CSM_PAD_EXPLICIT: {
    int64_t padded = in + pad_before_explicit + pad_after_explicit;
    *pad_before = pad_before_explicit;
    if (padded < eff) return -1;
    return (padded - eff) / stride + 1;
  }
  }
  return -1;
}

csm_status csm_op_ints(const csm_tensor *t, const char *what, int64_t *v, int max, int *count) {
  size_t n;
  if (!t->data) return csm_fail(CSM_EUNSUPPORTED, "%s must be a constant", what);
  if (t->dtype != CSM_I32) return csm_fail(CSM_EINPUT, "%s must be int32", what);
  if (csm_shape_numel(&t->shape, &n)) return CSM_EINPUT;
  if (n > (size_t)max) return csm_fail(CSM_EINPUT, "%s has %zu entries (at most %d)", what, n, max);
  for (size_t i = 0; i < n; i++)
    v[i] = ((const int32_t *)t->data)[i];
  *count = (int)n;
  return CSM_OK;
}
