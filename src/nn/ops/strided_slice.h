/* StridedSlice's resolved spec, shared by the forward op and its backward
 * pass (grad/movement_grad.c). */
#ifndef CSM_NN_OPS_STRIDED_SLICE_H
#define CSM_NN_OPS_STRIDED_SLICE_H

#include "op.h"

typedef struct csm_slice_plan {
  int rank; /* input rank */
  /* Per input dim: first index, stride and count (TF's processing shape). */
  int64_t begin[CSM_MAX_RANK], stride[CSM_MAX_RANK], size[CSM_MAX_RANK];
  csm_shape out; /* the output shape (shrunk dims dropped, new axes added) */
} csm_slice_plan;

/* Resolves the node's begin/end/strides operands and masks against the
 * input's shape exactly as TensorFlow's ValidateStridedSliceOp does. */
csm_status csm_slice_plan_make(const csm_node *n, const csm_tensor *in, csm_slice_plan *p);

#endif
