/* csm nn: tensors and models (load, inspect, run). */
#ifndef CSM_NN_H
#define CSM_NN_H

#include "csm/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CSM_MAX_RANK 8

/* ---- Limits on model files --------------------------------------------------
 * Model files are hostile input (docs/engine.md, "Hostile model files"): each
 * limit below stops a small file from costing unbounded time, stack or
 * memory, and going over it is CSM_EINPUT naming the file. Memory that a
 * file's contents ask for (weights, folded constants, a plan's activations)
 * is also checked against csm_memory_limit (core.h). */
/* Nodes of a loaded graph. The zoo's largest model has 463; the limit
 * leaves room for large ONNX exports (a few IR nodes per operator) while
 * keeping load and planning time bounded. */
#define CSM_MAX_GRAPH_NODES 100000
/* ONNX subgraphs (If/Loop bodies; the main graph is level 1) and types
 * (sequence of map of ...) nested deeper than this are refused before the
 * file is unpacked: protobuf-c unpacks by recursion and would overflow the
 * stack. Real models nest a few levels. */
#define CSM_MAX_ONNX_GRAPH_DEPTH 64
#define CSM_MAX_ONNX_TYPE_DEPTH 64
/* The largest constant computed when a plan is made (constant folding).
 * Larger results (a 200-byte ConstantOfShape can ask for gigabytes) are
 * computed at run time instead, inside the plan's checked memory. */
#define CSM_MAX_FOLD_BYTES ((size_t)64 << 20)

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

/* Loads a model: a TF.js graph model (model.json + weight shards) or an
 * ONNX file (.onnx; opsets 11-17, external data next to it). Errors name
 * the file and the fault (for ONNX, the node and its operator too). */
csm_status csm_model_load(const char *path, csm_model **out);
void csm_model_free(csm_model *m);

const char *csm_model_path(const csm_model *m);
int csm_model_num_inputs(const csm_model *m);
const char *csm_model_input_name(const csm_model *m, int i);
/* Declared input shape; the batch may be -1. */
csm_shape csm_model_input_shape(const csm_model *m, int i);
int csm_model_num_outputs(const csm_model *m);
const char *csm_model_output_name(const csm_model *m, int i);
/* 1 if input i is a channels-first image ([N,C,H,W], as ONNX models from
 * PyTorch declare it), else 0. */
int csm_model_input_channels_first(const csm_model *m, int i);
/* Makes every channels-first input take channels-last (NHWC) data, the
 * layout of the image code: csm_model_input_shape then says [N,H,W,C].
 * Exact (the model's own first transpose moves into the caller's layout);
 * outputs keep their declared layout. No-op for channels-last models. */
csm_status csm_model_use_channels_last(csm_model *m);
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

/* ---- Nodes, gradients and weight randomization (src/nn/autodiff.c,
 * src/nn/randomize.c) --------------------------------------------------- */

/* The graph's nodes in topological order (inputs, constants, ops). */
int csm_model_node_count(const csm_model *m);
const char *csm_model_node_name(const csm_model *m, int node);
/* The op's name ("Conv2D", "Relu", ...; "Input", "Const"). */
const char *csm_model_node_op(const csm_model *m, int node);
/* Node index by name (a trailing ":0" is ignored), or -1. */
int csm_model_find_node(const csm_model *m, const char *name);
/* The node that produces output i, and the node of input i. */
int csm_model_output_node(const csm_model *m, int i);
int csm_model_input_node(const csm_model *m, int i);
/* The value's shape for a given batch (CSM_EINPUT for constants folded away
 * or values no output needs). */
csm_status csm_model_node_shape(csm_model *m, int node, int64_t batch, csm_shape *out);
/* 1 if the model only runs one input at a time (its reshapes hard-code a
 * batch of 1; csm_model_run then loops), else 0. A tape needs batch 1 then. */
int csm_model_fixed_batch_one(const csm_model *m);

/* What a node's op computes, as flags, for code above nn/ that walks the
 * graph (explain/'s choice of a CAM layer): the answers come from nn's one
 * op table (src/nn/ops/registry.c, csm_op_def.flags), so every caller
 * classifies an op the same way and a new op is classified where it is
 * defined. Inputs and constants have no flags. */
typedef enum csm_op_flag {
  /* Each output element is a function of the operands' elements at the same
   * place (operands broadcast): activations, batch-norm arithmetic, residual
   * sums, Identity, Cast. The output has the shape of the (broadcast)
   * operands, so a feature map stays a feature map through it. */
  CSM_OP_ELEMENTWISE = 1 << 0,
  /* A convolution over the spatial axes of an NHWC feature map: Conv2D,
   * DepthwiseConv2D, Conv2DTranspose. */
  CSM_OP_CONV = 1 << 1,
  /* The input times a learned filter (operand 1), plus a fused bias
   * (operand 2) when it has one: Conv2D, DepthwiseConv2D, MatMul,
   * Conv2DTranspose. With a constant filter, the layers that the cascading
   * randomization re-initializes (csm_model_layers). */
  CSM_OP_WEIGHTED = 1 << 2,
} csm_op_flag;
/* The csm_op_flag bits of node's op (0 for inputs, constants and an index
 * out of range). */
unsigned csm_model_node_flags(const csm_model *m, int node);
/* The nodes whose values node takes as operands, in operand order (they
 * come before it in the topological order): writes up to max of them into
 * inputs (may be NULL) and returns how many there are (-1 for an index out
 * of range). With csm_model_node_flags, this is what a walk over the graph
 * needs without seeing nn's graph structure. */
int csm_model_node_inputs(const csm_model *m, int node, int *inputs, int max);

/* Every node's value at batch `batch` as planning infers it (other
 * run-time dimensions 1), in one planning pass: csm_model_node_shape for
 * each node would plan once per node. */
typedef struct csm_node_value {
  csm_dtype dtype;
  csm_shape shape;
  bool runtime; /* computed at run time: not a constant, not folded, needed
                   by some output (or an input) */
} csm_node_value;
/* values: csm_model_node_count entries. Errors: the model cannot be planned
 * for these shapes (the message names the node). */
csm_status csm_model_infer_values(csm_model *m, int64_t batch, csm_node_value *values);

/* A forward run that keeps every intermediate value, for reverse-mode
 * differentiation. */
typedef struct csm_tape csm_tape;
/* Runs m on inputs (as csm_model_run; batch 1 for fixed-batch-one models)
 * and keeps all values. */
csm_status csm_tape_forward(csm_model *m, const csm_tensor *inputs, csm_tape **out);
/* Frees the tape (before its model: the tape's plan is kept on the model
 * for the next tape of the same shapes). */
void csm_tape_free(csm_tape *t);
/* The value of a node after the run (inputs, constants and every op), or
 * NULL for nodes no output needs. */
const csm_tensor *csm_tape_value(const csm_tape *t, int node);
/* 1 if the run computed node's value from the inputs (an op the outputs
 * need, not a constant or a value folded when planning), else 0: what a
 * layer whose activations are read must be. */
bool csm_tape_computed(const csm_tape *t, int node);
/* Reverse mode: with seed = dL/d(value of node `from`) (same shape as that
 * value), writes dL/d(value of node wrt[k]) into grads[k] (allocated here,
 * freed by the caller with csm_tensor_free), k < n_wrt. wrt may name model
 * inputs and any op node that `from` depends on at run time; a node that
 * `from` does not depend on gets zeros. Items of a batch do not mix: the
 * gradient of item b depends only on item b's seed. An op without a
 * backward pass on the path is an error naming the node. */
csm_status csm_tape_backward(csm_tape *t, int from, const csm_tensor *seed, int n_wrt,
                             const int *wrt, csm_tensor *grads);

/* Cascading randomization (Adebayo et al. 2018): the model's weighted
 * layers are its CSM_OP_WEIGHTED nodes (Conv2D, DepthwiseConv2D, MatMul,
 * Conv2DTranspose) with a constant filter, in topological order. csm_model_layers writes up to max
 * node indices into nodes (may be NULL) and returns how many there are. */
int csm_model_layers(const csm_model *m, int *nodes, int max);
/* Re-initializes the weights (filter, bias and PReLU alpha constants) of
 * the last `count` weighted layers with seeded Gaussian values of the same
 * standard deviation as the filter had (biases to 0, alphas kept), in place.
 * Cached plans are dropped. */
csm_status csm_model_randomize_layers(csm_model *m, int count, uint64_t seed);
/* The same restricted to the weighted layers that node `of` depends on (the
 * explained output's own path: a head the output does not use is not part
 * of its cascade); of < 0: all layers. A layer's random values are the same
 * whichever `of` selects it. */
int csm_model_layers_of(const csm_model *m, int of, int *nodes, int max);
csm_status csm_model_randomize_layers_of(csm_model *m, int of, int count, uint64_t seed);

/* A copy of every float constant of a model (src/nn/weights_copy.c), to put
 * the weights back after randomizing them. */
typedef struct csm_weights csm_weights;
csm_status csm_model_weights_save(const csm_model *m, csm_weights **out);
/* Restores the saved values (the same model) and drops cached plans. */
csm_status csm_model_weights_restore(csm_model *m, const csm_weights *w);
void csm_weights_free(csm_weights *w);

#ifdef __cplusplus
}
#endif
#endif
