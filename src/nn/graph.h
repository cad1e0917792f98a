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
 *   MAXPOOL/AVGPOOL   x (attrs.ksize, stride, padding; AVG excludes padding
 *                     unless attrs.count_include_pad; attrs.ceil_mode rounds
 *                     the output size up as ONNX/PyTorch do)
 *
 * Ops added for ONNX models (nn/onnx/ maps ONNX onto these; all NHWC where
 * spatial):
 *   TRANSPOSE         x (attrs.perm[0..rank-1]: out dim d = in dim perm[d])
 *   GATHER            x, indices (int32; negative counts from the end; attrs.axis)
 *                     out = x.shape[:axis] + indices.shape + x.shape[axis+1:]
 *   BROADCAST_TO      x, shape (int32): ONNX Expand, bidirectional broadcast
 *   CONV2D_TRANSPOSE  x[N,H,W,Ci], filter[Ci,KH,KW,Co], bias[Co]? (attrs.has_bias);
 *                     stride, dilation, explicit pads (cropped from the full
 *                     output), attrs.output_padding; out = (in-1)*s - pads
 *                     + d*(k-1) + output_padding + 1
 *   HARD_SIGMOID      x: max(0, min(1, alpha*x + beta)) (attrs.alpha, attrs.beta)
 *   HARD_SWISH        x: x * max(0, min(1, x/6 + 1/2))
 *   RECIPROCAL        x: 1/x
 *   LOG_SOFTMAX       x (over the last axis)
 *   RESIZE_NEAREST    x[N,H,W,C], size (int32 [2]); align_corners,
 *                     half_pixel_centers (ONNX half_pixel), attrs.nearest_mode
 *   RESIZE_BILINEAR / RESIZE_NEAREST with one operand: the output size is
 *                     floor(in * attrs.scale[k]) (ONNX Resize with scales)
 *   FLATTEN           x (attrs.axis): [prod(dims < axis), prod(dims >= axis)]
 *   RESHAPE           with attrs.zero_copies: a 0 in shape copies the input's
 *                     dimension (ONNX Reshape, allowzero = 0)
 *   CAST              x (to attrs.to_dtype: CSM_F32 or CSM_I32; float to int
 *                     truncates toward zero)
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
  CSM_OP_TRANSPOSE,
  CSM_OP_GATHER,
  CSM_OP_BROADCAST_TO,
  CSM_OP_CONV2D_TRANSPOSE,
  CSM_OP_HARD_SIGMOID,
  CSM_OP_HARD_SWISH,
  CSM_OP_RECIPROCAL,
  CSM_OP_LOG_SOFTMAX,
  CSM_OP_RESIZE_NEAREST,
  CSM_OP_FLATTEN,
  CSM_OP_CAST,
  CSM_OP_COUNT
} csm_op_kind;

/* SAME puts an odd padding's extra row at the end (TensorFlow, ONNX
 * SAME_UPPER); SAME_LOWER at the beginning (ONNX). */
typedef enum csm_padding {
  CSM_PAD_VALID,
  CSM_PAD_SAME,
  CSM_PAD_EXPLICIT,
  CSM_PAD_SAME_LOWER
} csm_padding;

/* ONNX Resize nearest_mode: how a fractional source index rounds. */
typedef enum csm_nearest_mode {
  CSM_NEAREST_ROUND_PREFER_FLOOR, /* ONNX's default */
  CSM_NEAREST_ROUND_PREFER_CEIL,
  CSM_NEAREST_FLOOR,
  CSM_NEAREST_CEIL
} csm_nearest_mode;

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
  /* ONNX additions (see the operand conventions above). */
  int perm[CSM_MAX_RANK]; /* TRANSPOSE: n_perm = input rank */
  int n_perm;
  float beta;                    /* HARD_SIGMOID */
  int count_include_pad;         /* AVGPOOL */
  int ceil_mode;                 /* MAXPOOL, AVGPOOL */
  int output_padding[2];         /* CONV2D_TRANSPOSE: h, w */
  csm_nearest_mode nearest_mode; /* RESIZE_NEAREST */
  float scale[2];                /* RESIZE_* with one operand: h, w */
  int zero_copies;               /* RESHAPE */
  csm_dtype to_dtype;            /* CAST */
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
  /* Per input (NULL: none): 1 if the input is a channels-first image
   * [N,C,H,W] (ONNX models) that the graph transposes to NHWC itself;
   * csm_model_use_channels_last can then move that transpose out. */
  unsigned char *input_channels_first;
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

/* The index of the first NaN or infinity of a float tensor (tensor.c);
 * false when there is none or the tensor holds ints. */
bool csm_tensor_find_nonfinite(const csm_tensor *t, size_t *index);
/* Loaders refuse weights with a NaN or an infinity, which would only turn
 * outputs into NaN later (with exit 0): CSM_EINPUT "weight '<name>' has a
 * non-finite value at index k (NaN)", for the loader to prefix with the
 * file. A one-element tensor may be +-Inf (a Clip bound, a mask fill),
 * never NaN. */
csm_status csm_weight_check_finite(const char *name, const csm_tensor *t);

/* Loaders. */

/* The real path of the folder holding the model file (malloc'ed). */
csm_status csm_model_folder(const char *model_path, char **dir);
/* A file that a model names (a weight shard, external data), which must lie
 * in its folder `dir` (a csm_model_folder result): CSM_EINPUT when `name` is
 * absolute, has a ".." component or resolves (through symbolic links)
 * outside the folder, CSM_EIO when it cannot be resolved; the message says
 * "'<name>' ..." for the caller to prefix with the file and what named it.
 * *real gets the resolved path (malloc'ed). model_folder.c. */
csm_status csm_model_folder_file(const char *dir, const char *name, char **real);

csm_status csm_tfjs_load(const char *model_json_path, csm_graph *g);
/* An ONNX model (nn/onnx/): NCHW layouts converted at load time, so that
 * the graph runs NHWC inside; inputs and outputs keep their declared layout
 * (the input's transpose is marked in g->input_channels_first). */
csm_status csm_onnx_load(const char *path, csm_graph *g);

/* Graph rewrites (graph_rewrite.c), run by loaders after building a graph:
 * folds a following bias Add and activation (Relu, Relu6, LeakyRelu, PRelu
 * with constant slopes) into Conv2D, DepthwiseConv2D and MatMul nodes whose
 * output has no other consumer, and removes transpose pairs that cancel.
 * Exact: the fused node computes the same arithmetic. Renumbers nodes. */
csm_status csm_graph_simplify(csm_graph *g);
/* Makes every channels-first input take NHWC data (see
 * input_channels_first); the declared input shape changes accordingly. */
csm_status csm_graph_inputs_channels_last(csm_graph *g);

#endif
