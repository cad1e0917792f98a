/* The graph IR: format-independent, single-output nodes in topological order.
 *
 * Every node produces exactly one value (node i produces value i); loaders
 * split multi-output ops into several nodes. Parameter operands (shapes,
 * axes, paddings, slice bounds) are inputs, as in TensorFlow: they are
 * constant after plan-time folding, and ops read them during shape inference.
 *
 * Operand conventions (in[] order):
 *   CONV2D            x[N,H,W,Ci], filter[KH,KW,Ci,Co], bias[Co]?, alpha[Co]?
 *   DEPTHWISE_CONV2D  x[N,H,W,C], filter[KH,KW,C,M],   bias[C*M]?, alpha[C*M]?
 *   MATMUL            a[M,K] (or [K,M] if transpose_a), b[K,N] (or [N,K]), bias[N]?, alpha[N]?
 *     bias is present when attrs.has_bias, alpha when attrs.act == CSM_ACT_PRELU
 *     (the activation is applied after the bias).
 *   PRELU             x, alpha (broadcast like a binary op)
 *   binary ops        a, b with numpy broadcasting
 *   RESHAPE           x, shape (int32; one entry may be -1)
 *   EXPAND_DIMS       x, axis (int32 scalar)
 *   SQUEEZE           x (attrs.squeeze_dims; none = all size-1 dims)
 *   REDUCE_*          x, axes (int32; attrs.keep_dims)
 *   SOFTMAX           x (over the last axis)
 *   STRIDED_SLICE     x, begin, end, strides (int32; attrs masks, TF semantics)
 *   PACK              t0..tk-1 (attrs.axis)
 *   CONCAT            t0..tk-1, axis (int32 scalar, TF ConcatV2 order)
 *   PAD               x, paddings (int32 [rank,2]), value? (scalar constant; 0 if absent)
 *   SHAPE             x -> int32 vector
 *   RESIZE_BILINEAR   x[N,H,W,C], size (int32 [2]); align_corners, half_pixel_centers
 *   DEPTH_TO_SPACE    x (attrs.block_size, NHWC, DCR order as TensorFlow)
 *   MAXPOOL/AVGPOOL   x (attrs.ksize, stride, padding; AVG excludes padding)
 */
#ifndef CSM_NN_GRAPH_H
#define CSM_NN_GRAPH_H

#include "csm/nn.h"

typedef enum csm_op_kind {
  CSM_OP_INPUT,
  CSM_OP_CONST,
  CSM_OP_CONV2D,
  CSM_OP_DEPTHWISE_CONV2D,
  CSM_OP_MATMUL,
  CSM_OP_MAXPOOL,
  CSM_OP_AVGPOOL,
  CSM_OP_ADD,
  CSM_OP_SUB,
  CSM_OP_MUL,
  CSM_OP_DIV,
  CSM_OP_MAXIMUM,
  CSM_OP_MINIMUM,
  CSM_OP_PRELU,
  CSM_OP_RELU,
  CSM_OP_RELU6,
  CSM_OP_LEAKY_RELU,
  CSM_OP_SIGMOID,
  CSM_OP_TANH,
  CSM_OP_ABS,
  CSM_OP_SQUARE,
  CSM_OP_SQRT,
  CSM_OP_RSQRT,
  CSM_OP_EXP,
  CSM_OP_NEG,
  CSM_OP_SOFTMAX,
  CSM_OP_REDUCE_MEAN,
  CSM_OP_REDUCE_SUM,
  CSM_OP_REDUCE_MAX,
  CSM_OP_RESHAPE,
  CSM_OP_SQUEEZE,
  CSM_OP_EXPAND_DIMS,
  CSM_OP_IDENTITY,
  CSM_OP_SHAPE,
  CSM_OP_STRIDED_SLICE,
  CSM_OP_PACK,
  CSM_OP_CONCAT,
  CSM_OP_PAD,
  CSM_OP_RESIZE_BILINEAR,
  CSM_OP_DEPTH_TO_SPACE,
  CSM_OP_COUNT
} csm_op_kind;

typedef enum csm_padding { CSM_PAD_VALID, CSM_PAD_SAME, CSM_PAD_EXPLICIT } csm_padding;

typedef enum csm_activation {
  CSM_ACT_NONE,
  CSM_ACT_RELU,
  CSM_ACT_RELU6,
  CSM_ACT_PRELU,
  CSM_ACT_LEAKY_RELU
} csm_activation;

typedef struct csm_attrs {
  int stride[2];   /* h, w */
  int dilation[2]; /* h, w */
  int ksize[2];    /* pooling window h, w */
  csm_padding padding;
  int pads[4]; /* CSM_PAD_EXPLICIT: top, bottom, left, right */
  csm_activation act;
  float alpha; /* leaky relu slope */
  int has_bias;
  int transpose_a, transpose_b;
  int keep_dims;
  int axis;
  int begin_mask, end_mask, ellipsis_mask, new_axis_mask, shrink_axis_mask;
  int align_corners, half_pixel_centers;
  int block_size;
  int n_squeeze;
  int squeeze_dims[CSM_MAX_RANK];
} csm_attrs;

typedef struct csm_node {
  char *name;
  csm_op_kind op;
  int n_in;
  int *in; /* indices of producing nodes */
  csm_attrs a;
  /* CONST: dtype, shape and data (owned). INPUT: dtype and declared shape
   * (-1 for run-time dimensions), no data. Others: unused. */
  csm_tensor value;
} csm_node;

typedef struct csm_graph {
  char *path; /* the file it came from, for messages */
  csm_node *nodes;
  int n_nodes, cap;
  int n_inputs;
  int *inputs; /* node indices of INPUT nodes, in signature order */
  int n_outputs;
  int *outputs; /* node indices, in signature order */
  char **output_names;
} csm_graph;

/* Default attributes: stride/dilation 1, VALID, no activation. */
csm_attrs csm_attrs_default(void);

/* Appends a node (name copied, in[] copied); *index gets its index. */
csm_status csm_graph_add(csm_graph *g, const char *name, csm_op_kind op, int n_in, const int *in,
                         int *index);
/* Reorders nodes topologically (stable), remapping all indices; a cycle is
 * an error naming a node on it. */
csm_status csm_graph_toposort(csm_graph *g);
/* Index of the node named `name`, or -1. */
int csm_graph_find(const csm_graph *g, const char *name);
void csm_graph_free(csm_graph *g);

const char *csm_op_name(csm_op_kind op);

/* Loaders. */
csm_status csm_tfjs_load(const char *model_json_path, csm_graph *g);

#endif
