/* The op table: per op family, shape inference, scratch size, the forward
 * pass, the backward pass, which operands carry gradients, and what kind of
 * computation the op is (flags). Every question about an op kind, from the
 * planner, the autodiff tape, the weight randomization or (through the
 * public csm_model_node_flags) explain/, is answered from this one table
 * (csm_op_def_get, ops/registry.c), so they cannot disagree; a new op is
 * described once, in its family file.
 *
 * `in` holds one tensor per node input. During planning, shapes and dtypes
 * are always set; `data` is set only for constant inputs (weights and folded
 * values), which is all that parameter operands (shapes, axes...) need.
 * During execution every `data` is set. Ops never allocate in forward: any
 * temporary memory comes from `scratch`, sized by the scratch callback. */
#ifndef CSM_NN_OP_H
#define CSM_NN_OP_H

#include "../graph.h"

/* The arguments of a backward (vector-Jacobian) pass, for reverse-mode
 * differentiation (autodiff.c; the passes are in grad/, one family per
 * file). A backward function gets the node, its operands' values (all data
 * set), its forward output and dL/d(output), and ADDS dL/d(operand k) into
 * din (same shape as in[k], already allocated and initialized by the
 * caller). Backward functions may allocate temporaries (they are not on
 * the plain forward path). */
typedef struct csm_backward_args {
  const csm_node *node;
  const csm_tensor *in;   /* node->n_in operands */
  const csm_tensor *out;  /* the forward output */
  const csm_tensor *dout; /* dL/d(out), out's shape */
  int k;                  /* the operand to differentiate */
  csm_tensor *din;        /* += dL/d(in[k]), in[k]'s shape */
} csm_backward_args;

typedef csm_status (*csm_backward_fn)(const csm_backward_args *a);

/* Which operands of a node are data (carry a gradient), as opposed to
 * parameters: filters, biases, alphas, shapes, axes, bounds, paddings,
 * sizes. A data operand that is a constant needs no gradient either; the
 * tape skips those. */
typedef enum csm_grad_operands {
  CSM_GRAD_X = 0,        /* in[0] only (the default): convolutions, pooling, unary ops */
  CSM_GRAD_FIRST_TWO,    /* in[0] and in[1]: binary ops (PReLU: x and alpha), MatMul a and b */
  CSM_GRAD_ALL,          /* every operand: Pack */
  CSM_GRAD_ALL_BUT_LAST, /* every operand but the last (the axis): Concat */
  CSM_GRAD_NONE,         /* none: Shape (its value depends on shapes only) */
} csm_grad_operands;

typedef struct csm_op_def {
  /* Sets out->dtype and out->shape (not data). Errors say what is wrong
   * with which operand; the planner adds the node name. */
  csm_status (*infer)(const csm_node *n, const csm_tensor *in, csm_tensor *out);
  /* Bytes of scratch memory forward needs (NULL: none). */
  size_t (*scratch)(const csm_node *n, const csm_tensor *in, const csm_tensor *out);
  /* Computes out->data (already allocated for out->shape). */
  csm_status (*forward)(const csm_node *n, const csm_tensor *in, csm_tensor *out, void *scratch);
  /* Floating-point operations (multiply-add = 2) for these shapes (NULL:
   * one per output element). */
  double (*flops)(const csm_node *n, const csm_tensor *in, const csm_tensor *out);
  /* 1 if the output is the first input's data reinterpreted (reshape-like):
   * the planner then shares storage and forward is not called. */
  int alias;
  /* Optional: work on constant operands done once per plan instead of on
   * every call (packing a constant filter for the GEMM). prepared_size gives
   * the bytes (0: nothing to prepare for this node, e.g. a non-constant
   * filter); prepare fills them; forward_prepared then replaces forward. */
  size_t (*prepared_size)(const csm_node *n, const csm_tensor *in);
  void (*prepare)(const csm_node *n, const csm_tensor *in, void *prepared);
  csm_status (*forward_prepared)(const csm_node *n, const csm_tensor *in, csm_tensor *out,
                                 void *scratch, const void *prepared);
  /* The backward pass (grad/backward.h), NULL if the op has none: a tape
   * that has to differentiate through it fails and names the node. */
  csm_backward_fn backward;
  /* The operands the backward pass differentiates. */
  csm_grad_operands grad_operands;
  /* csm_op_flag bits (include/csm/nn.h): element-wise, convolution,
   * weighted layer. */
  unsigned flags;
} csm_op_def;

/* The definition for op (NULL for INPUT/CONST and out-of-range kinds). */
const csm_op_def *csm_op_def_get(csm_op_kind op);
/* The op's flags (csm_op_def.flags; 0 for INPUT/CONST). */
unsigned csm_op_flags(csm_op_kind op);

/* Shared shape helpers for ops. */
/* Output size of a windowed op along one axis; -1 if invalid. Also returns the
 * padding before the first window (SAME pads like TensorFlow: extra at the end). */
int64_t csm_window_out(int64_t in, int k, int stride, int dilation, csm_padding pad,
                       int pad_before_explicit, int pad_after_explicit, int *pad_before);

/* The axes a ReduceMean/Sum/Max node reduces for its input in[0] (axes
 * operand in[1]: a scalar or vector, negative from the end, repeats
 * ignored): flag[d] = 1 for each (CSM_MAX_RANK entries). */
csm_status csm_reduce_axes(const csm_node *n, const csm_tensor *in, int *flag);

/* ResizeBilinear's source coordinate along one axis (ops/resize_bilinear.c,
 * shared with its backward pass): the floor and ceil indices, clamped to the
 * input as TF.js clamps them, and the (unclamped) fraction; ratio from
 * csm_resize_ratio (align: align_corners; half: half_pixel_centers). */
typedef struct csm_resize_tap {
  int64_t lo, hi;
  double frac;
} csm_resize_tap;
double csm_resize_ratio(int64_t in, int64_t out, int align);
csm_resize_tap csm_resize_tap_at(double ratio, int64_t i, int64_t in, int half);

/* Shared by the ONNX-era resize and pool ops and their backward passes. */
/* The output size of a ResizeBilinear or ResizeNearestNeighbor node, from
 * its size operand (int32 [2]) or, with one operand, floor(in * scale)
 * (resize_bilinear.c). */
csm_status csm_resize_out_size(const csm_node *n, const csm_tensor *in, int64_t size[2]);
/* The source/destination ratio along axis 0 (rows) or 1 (columns):
 * csm_resize_ratio with a size operand; with scales, 1/scale as ONNX Runtime
 * uses (align_corners still uses (in-1)/(out-1)) (resize_bilinear.c). */
double csm_resize_scaled_ratio(const csm_node *n, int axis, int64_t in, int64_t out);
/* map[o] = the source index of output index o along axis 0 (rows) or 1
 * (columns), o < out (resize_nearest.c). */
void csm_resize_nearest_map(const csm_node *n, int axis, int64_t in, int64_t out, int64_t *map);
/* The output size along axis 0 (rows) or 1 (columns) of a pool over `in`
 * pixels, -1 if the window does not fit; *pad_before and *padded_end (the
 * end of the padded input in input coordinates, exclusive) with it (pool.c:
 * ceil_mode and count_include_pad). */
int64_t csm_pool_out(int64_t in, int k, int stride, const csm_attrs *a, int axis, int *pad_before,
                     int64_t *padded_end);

/* Reads an int32 constant operand into v (at most max entries). */
csm_status csm_op_ints(const csm_tensor *t, const char *what, int64_t *v, int max, int *count);

/* One definition per op family file. */
extern const csm_op_def csm_op_conv2d;
extern const csm_op_def csm_op_depthwise_conv2d;
extern const csm_op_def csm_op_matmul;
extern const csm_op_def csm_op_maxpool;
extern const csm_op_def csm_op_avgpool;
extern const csm_op_def csm_op_binary; /* ADD SUB MUL DIV MAXIMUM MINIMUM PRELU */
extern const csm_op_def csm_op_unary;  /* RELU ... NEG */
extern const csm_op_def csm_op_softmax;
extern const csm_op_def csm_op_reduce; /* REDUCE_MEAN, SUM, MAX */
extern const csm_op_def csm_op_reshape;
extern const csm_op_def csm_op_squeeze;
extern const csm_op_def csm_op_expand_dims;
extern const csm_op_def csm_op_identity;
extern const csm_op_def csm_op_shape;
extern const csm_op_def csm_op_strided_slice;
extern const csm_op_def csm_op_pack;
extern const csm_op_def csm_op_concat;
extern const csm_op_def csm_op_pad;
extern const csm_op_def csm_op_resize_bilinear;
extern const csm_op_def csm_op_depth_to_space;
/* ONNX additions. */
extern const csm_op_def csm_op_transpose;        /* transpose.c */
extern const csm_op_def csm_op_gather;           /* gather.c */
extern const csm_op_def csm_op_broadcast_to;     /* broadcast_to.c */
extern const csm_op_def csm_op_flatten;          /* reshape.c */
extern const csm_op_def csm_op_cast;             /* cast.c */
extern const csm_op_def csm_op_conv2d_transpose; /* conv2d_transpose.c */
extern const csm_op_def csm_op_resize_nearest;   /* resize_nearest.c */
/* unary.c also does HARD_SIGMOID, HARD_SWISH, RECIPROCAL; softmax.c LOG_SOFTMAX. */

#endif
