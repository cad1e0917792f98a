/* The op table: each op kind's name and definition (forward, backward,
 * flags; op.h), in one array indexed by kind, and helpers shared by ops. */
#include "op.h"

#include <stdio.h>

#include "../grad/backward.h"

typedef struct op_kind_entry {
  const char *name;
  const csm_op_def *def; /* NULL: INPUT, CONST (no computation) */
} op_kind_entry;

/* One row per kind: a kind without a name or definition here is caught by
 * tests/nn/test_op_table.c. */
static const op_kind_entry kinds[CSM_OP_COUNT] = {
    [CSM_OP_INPUT] = {"Input", NULL},
    [CSM_OP_CONST] = {"Const", NULL},
    [CSM_OP_CONV2D] = {"Conv2D", &csm_op_conv2d},
    [CSM_OP_DEPTHWISE_CONV2D] = {"DepthwiseConv2D", &csm_op_depthwise_conv2d},
    [CSM_OP_MATMUL] = {"MatMul", &csm_op_matmul},
    [CSM_OP_MAXPOOL] = {"MaxPool", &csm_op_maxpool},
    [CSM_OP_AVGPOOL] = {"AvgPool", &csm_op_avgpool},
    [CSM_OP_ADD] = {"Add", &csm_op_binary},
    [CSM_OP_SUB] = {"Sub", &csm_op_binary},
    [CSM_OP_MUL] = {"Mul", &csm_op_binary},
    [CSM_OP_DIV] = {"Div", &csm_op_binary},
    [CSM_OP_MAXIMUM] = {"Maximum", &csm_op_binary},
    [CSM_OP_MINIMUM] = {"Minimum", &csm_op_binary},
    [CSM_OP_PRELU] = {"Prelu", &csm_op_binary},
    [CSM_OP_RELU] = {"Relu", &csm_op_unary},
    [CSM_OP_RELU6] = {"Relu6", &csm_op_unary},
    [CSM_OP_LEAKY_RELU] = {"LeakyRelu", &csm_op_unary},
    [CSM_OP_SIGMOID] = {"Sigmoid", &csm_op_unary},
    [CSM_OP_TANH] = {"Tanh", &csm_op_unary},
    [CSM_OP_ABS] = {"Abs", &csm_op_unary},
    [CSM_OP_SQUARE] = {"Square", &csm_op_unary},
    [CSM_OP_SQRT] = {"Sqrt", &csm_op_unary},
    [CSM_OP_RSQRT] = {"Rsqrt", &csm_op_unary},
    [CSM_OP_EXP] = {"Exp", &csm_op_unary},
    [CSM_OP_NEG] = {"Neg", &csm_op_unary},
    [CSM_OP_SOFTMAX] = {"Softmax", &csm_op_softmax},
    [CSM_OP_REDUCE_MEAN] = {"Mean", &csm_op_reduce},
    [CSM_OP_REDUCE_SUM] = {"Sum", &csm_op_reduce},
    [CSM_OP_REDUCE_MAX] = {"Max", &csm_op_reduce},
    [CSM_OP_RESHAPE] = {"Reshape", &csm_op_reshape},
    [CSM_OP_SQUEEZE] = {"Squeeze", &csm_op_squeeze},
    [CSM_OP_EXPAND_DIMS] = {"ExpandDims", &csm_op_expand_dims},
    [CSM_OP_IDENTITY] = {"Identity", &csm_op_identity},
    [CSM_OP_SHAPE] = {"Shape", &csm_op_shape},
    [CSM_OP_STRIDED_SLICE] = {"StridedSlice", &csm_op_strided_slice},
    [CSM_OP_PACK] = {"Pack", &csm_op_pack},
    [CSM_OP_CONCAT] = {"Concat", &csm_op_concat},
    [CSM_OP_PAD] = {"Pad", &csm_op_pad},
    [CSM_OP_RESIZE_BILINEAR] = {"ResizeBilinear", &csm_op_resize_bilinear},
    [CSM_OP_DEPTH_TO_SPACE] = {"DepthToSpace", &csm_op_depth_to_space},
    [CSM_OP_TRANSPOSE] = {"Transpose", &csm_op_transpose},
    [CSM_OP_GATHER] = {"Gather", &csm_op_gather},
    [CSM_OP_BROADCAST_TO] = {"BroadcastTo", &csm_op_broadcast_to},
    [CSM_OP_CONV2D_TRANSPOSE] = {"Conv2DTranspose", &csm_op_conv2d_transpose},
    [CSM_OP_HARD_SIGMOID] = {"HardSigmoid", &csm_op_unary},
    [CSM_OP_HARD_SWISH] = {"HardSwish", &csm_op_unary},
    [CSM_OP_RECIPROCAL] = {"Reciprocal", &csm_op_unary},
    [CSM_OP_LOG_SOFTMAX] = {"LogSoftmax", &csm_op_softmax},
    [CSM_OP_RESIZE_NEAREST] = {"ResizeNearestNeighbor", &csm_op_resize_nearest},
    [CSM_OP_FLATTEN] = {"Flatten", &csm_op_flatten},
    [CSM_OP_CAST] = {"Cast", &csm_op_cast},
};

static const op_kind_entry *kind_entry(csm_op_kind op) {
  return (int)op >= 0 && op < CSM_OP_COUNT ? &kinds[op] : NULL;
}

const csm_op_def *csm_op_def_get(csm_op_kind op) {
  const op_kind_entry *e = kind_entry(op);
  return e ? e->def : NULL;
}

const char *csm_op_name(csm_op_kind op) {
  const op_kind_entry *e = kind_entry(op);
  return e && e->name ? e->name : "?";
}

unsigned csm_op_flags(csm_op_kind op) {
  const csm_op_def *d = csm_op_def_get(op);
  return d ? d->flags : 0;
}

csm_backward_fn csm_backward_get(csm_op_kind op) {
  const csm_op_def *d = csm_op_def_get(op);
  return d ? d->backward : NULL;
}

int csm_backward_operand(csm_op_kind op, int k, int n_in) {
  const csm_op_def *d = csm_op_def_get(op);
  if (!d || k < 0 || k >= n_in) return 0;
  switch (d->grad_operands) {
  case CSM_GRAD_X: return k == 0;
  case CSM_GRAD_FIRST_TWO: return k < 2;
  case CSM_GRAD_ALL: return 1;
  case CSM_GRAD_ALL_BUT_LAST: return k < n_in - 1;
  case CSM_GRAD_NONE: return 0;
  }
  return 0;
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
