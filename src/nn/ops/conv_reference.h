/* Convolution geometry and plain reference implementations of Conv2D,
 * DepthwiseConv2D and MatMul.
 *
 * The references are naive loops (double accumulation, then bias, then the
 * activation) with the same semantics as the fast forward passes: a second,
 * simple statement of what the ops compute, for tests and for checking
 * backward passes. They take the node and tensors like forward does; `out`
 * must be allocated with the shape infer gives. */
#ifndef CSM_NN_OPS_CONV_REFERENCE_H
#define CSM_NN_OPS_CONV_REFERENCE_H

#include "op.h"

/* Geometry of a Conv2D or DepthwiseConv2D node for given input shapes.
 * Input pixel of output (oh, ow) and tap (i, j):
 *   ih = oh * stride_h - pad_top + i * dilation_h (likewise for w);
 * taps outside the input read 0. */
typedef struct csm_conv_geom {
  int64_t n, h, w, c; /* input [N,H,W,C]; n may be -1 during planning */
  int64_t kh, kw;     /* filter window */
  int64_t mult;       /* depthwise channel multiplier (1 for Conv2D) */
  int64_t co;         /* output channels: filter's Co, or C * mult */
  int64_t oh, ow;     /* output height and width */
  int sh, sw, dh, dw; /* strides and dilations */
  int pad_top, pad_left;
} csm_conv_geom;

/* Validates the input, filter and attributes of a CONV2D or DEPTHWISE_CONV2D
 * node and fills g; errors say what disagrees (one line). The fused operands
 * (bias, alpha) are checked by infer, not here. */
csm_status csm_conv_geom_get(const csm_node *n, const csm_tensor *in, csm_conv_geom *g);

/* The checks every convolution (Conv2D, DepthwiseConv2D, Conv2DTranspose)
 * starts with: an input and a filter, both float32 and rank 4 (the filter
 * described as `filter_layout`, e.g. "[KH,KW,Cin,Cout]", in the message). */
csm_status csm_conv_check_operands(const csm_node *n, const csm_tensor *in,
                                   const char *filter_layout);
/* Strides and dilations must be positive. */
csm_status csm_conv_check_steps(const csm_node *n);

csm_status csm_conv2d_reference(const csm_node *n, const csm_tensor *in, csm_tensor *out);
csm_status csm_depthwise_conv2d_reference(const csm_node *n, const csm_tensor *in, csm_tensor *out);
csm_status csm_matmul_reference(const csm_node *n, const csm_tensor *in, csm_tensor *out);

#endif
