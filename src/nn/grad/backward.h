/* The backward (vector-Jacobian) pass of each op, for reverse-mode
 * differentiation (autodiff.c). One family per file, like ops/; each op
 * family's csm_op_def (ops/op.h) names its backward pass and the operands
 * it differentiates, and csm_backward_get/csm_backward_operand read them
 * from there. The arguments (csm_backward_args) are in ops/op.h.
 *
 * Only data operands are differentiated: x of convolutions and pooling,
 * both sides of matrix products and binary ops, the tensors of
 * concat/pack; never filters that are constants, shapes, axes, paddings or
 * slice bounds (csm_backward_operand says which). */
#ifndef CSM_NN_GRAD_BACKWARD_H
#define CSM_NN_GRAD_BACKWARD_H

#include "../ops/op.h"

/* The backward function for op (csm_op_def.backward), or NULL if the op has
 * none. */
csm_backward_fn csm_backward_get(csm_op_kind op);

/* 1 if operand k of a node of kind op with n_in operands carries a
 * gradient (a data operand; csm_op_def.grad_operands), 0 for parameters
 * (filters, biases, alphas, shapes, axes, bounds, paddings, sizes) and for
 * inputs and constants. A data operand that is a constant needs no
 * gradient either; the tape skips those. */
int csm_backward_operand(csm_op_kind op, int k, int n_in);

/* For the ops with a fused bias/activation (Conv2D, DepthwiseConv2D,
 * MatMul, Conv2DTranspose): dL/d(pre-activation) from dout, in a new
 * buffer *dpre that the caller frees, or *dpre = dout's own data (not to be
 * freed) when there is no activation to undo (conv2d_grad.c). */
csm_status csm_grad_fused_dpre(const csm_backward_args *a, int64_t channels, float **dpre);

/* Per family (the files of this folder). */
csm_status csm_backward_conv2d(const csm_backward_args *a);           /* conv2d_grad.c */
csm_status csm_backward_depthwise_conv2d(const csm_backward_args *a); /* depthwise_grad.c */
csm_status csm_backward_matmul(const csm_backward_args *a);           /* matmul_grad.c */
csm_status csm_backward_pool(const csm_backward_args *a);             /* pool_grad.c: MAX/AVG */
csm_status csm_backward_pad(const csm_backward_args *a);              /* pad_grad.c */
csm_status csm_backward_resize_bilinear(const csm_backward_args *a);  /* resize_grad.c */
csm_status csm_backward_binary(const csm_backward_args *a); /* binary_grad.c: ADD..MINIMUM, PRELU */
csm_status csm_backward_unary(const csm_backward_args *a);  /* unary_grad.c: RELU..NEG */
csm_status csm_backward_softmax(const csm_backward_args *a); /* softmax_grad.c */
csm_status csm_backward_reduce(const csm_backward_args *a);  /* reduce_grad.c: MEAN/SUM/MAX */
/* movement_grad.c: RESHAPE, SQUEEZE, EXPAND_DIMS, IDENTITY (same element
 * order: din += dout), STRIDED_SLICE, PACK, CONCAT, DEPTH_TO_SPACE */
csm_status csm_backward_movement(const csm_backward_args *a);
/* ONNX additions (FLATTEN goes through csm_backward_movement; CAST has no
 * backward pass: it appears in shape arithmetic, and a float path through
 * it is an error naming the node rather than a silent zero). */
csm_status csm_backward_transpose(const csm_backward_args *a);        /* transpose_grad.c */
csm_status csm_backward_gather(const csm_backward_args *a);           /* gather_grad.c */
csm_status csm_backward_broadcast_to(const csm_backward_args *a);     /* broadcast_grad.c */
csm_status csm_backward_conv2d_transpose(const csm_backward_args *a); /* conv2d_transpose_grad.c */
csm_status csm_backward_resize_nearest(const csm_backward_args *a);   /* resize_grad.c */

#endif
