/* csm nn: tensors and models (load, inspect, run). */
#ifndef CSM_NN_H
#define CSM_NN_H

#include "csm/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CSM_MAX_RANK 8

typedef enum csm_dtype { CSM_F32 = 0, CSM_I32 = 1 } csm_dtype;

/* Dimensions; -1 marks a dimension chosen at run time (the batch). */
typedef struct csm_shape {
  int rank;
  int64_t d[CSM_MAX_RANK];
} csm_shape;

/* A dense, C-order tensor. Images are NHWC float32. `data` is owned by the
 * tensor when `owned` is set (csm_tensor_free releases it). */
typedef struct csm_tensor {
  csm_dtype dtype;
  csm_shape shape;
  void *data;
  int owned;
} csm_tensor;

csm_shape csm_shape_make(int rank, const int64_t *dims);
/* Number of elements; CSM_EINPUT on negative dimensions or overflow. */
csm_status csm_shape_numel(const csm_shape *s, size_t *numel);
bool csm_shape_equal(const csm_shape *a, const csm_shape *b);
/* "[1,64,64,3]" into buf. */
const char *csm_shape_str(const csm_shape *s, char *buf, size_t len);

/* Allocates zeroed storage for `shape` (all dimensions must be >= 0). */
csm_status csm_tensor_alloc(csm_tensor *t, csm_dtype dtype, const csm_shape *shape);
void csm_tensor_free(csm_tensor *t);
size_t csm_tensor_numel(const csm_tensor *t);
/* A non-owning view of the same data with another shape (same numel). */
csm_tensor csm_tensor_view(const csm_tensor *t, const csm_shape *shape);

/* ---- Models ------------------------------------------------------------ */

typedef struct csm_model csm_model;

/* Loads a TF.js graph model (model.json + weight shards). Errors name the
 * file and the fault. */
csm_status csm_model_load(const char *path, csm_model **out);
void csm_model_free(csm_model *m);

const char *csm_model_path(const csm_model *m);
int csm_model_num_inputs(const csm_model *m);
const char *csm_model_input_name(const csm_model *m, int i);
/* Declared input shape; the batch may be -1. */
csm_shape csm_model_input_shape(const csm_model *m, int i);
int csm_model_num_outputs(const csm_model *m);
const char *csm_model_output_name(const csm_model *m, int i);
/* Output shape for a given batch size. */
csm_status csm_model_output_shape(csm_model *m, int i, int64_t batch, csm_shape *out);
/* Number of parameters (elements of float constants). */
size_t csm_model_params(const csm_model *m);
/* Multiply-add operations x2 for one image (batch 1). */
csm_status csm_model_flops(csm_model *m, double *flops);

/* Runs the model on `inputs` (one per model input, batch = dim 0). Fills
 * `outputs` (csm_model_num_outputs of them) with newly allocated tensors that
 * the caller frees with csm_tensor_free. NaN/Inf in an input is an error. */
csm_status csm_model_run(csm_model *m, const csm_tensor *inputs, csm_tensor *outputs);

#ifdef __cplusplus
}
#endif
#endif
