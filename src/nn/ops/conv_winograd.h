/* Winograd F(2x2, 3x3) for Conv2D: 3x3 filters, stride 1, no dilation.
 *
 * Each 2x2 block of output pixels (a tile) comes from its 4x4 input patch d:
 *   Y = A^T [ (G g G^T) .* (B^T d B) ] A
 * so a tile costs 16 multiplies per (input, output) channel pair instead of
 * 36: 2.25x fewer. The 16 element-wise products, summed over input
 * channels, are 16 GEMMs [tiles x Cin] x [Cin x Cout] (gemm.h), and the
 * transforms around them only add, subtract and halve.
 *
 * A tile depends on its own patch and on nothing else (the GEMM computes
 * each row on its own), so the batch size, the blocking and the thread count
 * never change a result, as for the other convolution paths. Results differ
 * from direct summation by rounding only: the transforms are exact up to a
 * few float roundings of sums of the inputs (F(2x2, 3x3) is the variant with
 * the smallest error; tests/nn/test_conv_winograd.c measures it against a
 * float64 reference). */
#ifndef CSM_NN_OPS_CONV_WINOGRAD_H
#define CSM_NN_OPS_CONV_WINOGRAD_H

#include <stddef.h>

#include "activation.h"
#include "conv_reference.h"

/* Whether Conv2D of this geometry runs as Winograd: 3x3, stride 1, dilation
 * 1, and enough channels for the transforms to pay. Depends on the filter
 * and attributes only (not on the input's size), so a filter transformed at
 * plan time stays valid. */
int csm_winograd_applies(const csm_conv_geom *g);

/* Floats of the transformed, GEMM-packed filter of a [3,3,c,co] filter. */
size_t csm_winograd_filter_floats(int64_t c, int64_t co);
/* Transforms and packs a [3,3,c,co] (HWIO) filter into `out`. */
void csm_winograd_filter(const float *filter, int64_t c, int64_t co, float *out);

/* Floats of working memory csm_winograd_run needs. */
size_t csm_winograd_scratch_floats(const csm_conv_geom *g);
/* y [N,OH,OW,Co] = epilogue(conv(x [N,H,W,C], filter)), with the filter
 * from csm_winograd_filter. */
void csm_winograd_run(const csm_conv_geom *g, const float *x, const float *filter, float *scratch,
                      float *y, const csm_epilogue *e);

#endif
