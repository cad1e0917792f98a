/* Internal interface of the ONNX loader (nn/onnx/).
 *
 * The loader reads a ModelProto with protobuf-c (onnx.proto from Debian's
 * libonnx-dev, compiled at build time) and writes the graph IR. ONNX values
 * are NCHW; the IR runs NHWC. Every ONNX value therefore has up to two IR
 * materializations:
 *   logical  the value in ONNX's own layout (what Reshape, Flatten, Shape,
 *            graph outputs... see), and
 *   nhwc     a rank-4 value as [N,H,W,C] (what Conv, pooling, Resize,
 *            BatchNormalization... work on).
 * A mapper asks for the one it needs (csm_onnx_logical / csm_onnx_nhwc);
 * the other is made on demand by one TRANSPOSE node and remembered, so each
 * value is transposed at most once. Layout-preserving ops (element-wise,
 * activations) follow whichever their operand already has, so a network of
 * convolutions runs NHWC from its first transpose to its Flatten.
 *
 * Every message names the model file, and inside a node's mapper the node
 * (its name, or its first output when unnamed) and its operator:
 *   "<path>: node '<name>' (<OpType>): <fault>". */
#ifndef CSM_NN_ONNX_INTERNAL_H
#define CSM_NN_ONNX_INTERNAL_H

#include <stdarg.h>

#include "nn/graph.h"
#include "onnx.pb-c.h"

/* Opsets of the default ("" / "ai.onnx") domain that the mappers follow. */
enum { CSM_ONNX_OPSET_MIN = 11, CSM_ONNX_OPSET_MAX = 17 };

typedef struct csm_onnx_value {
  char *name;  /* the ONNX value name (owned) */
  int logical; /* IR node with the value in ONNX's layout, or -1 */
  int nhwc;    /* IR node with the rank-4 value as NHWC, or -1 */
  int rank;    /* -1 when unknown */
  int uses;    /* node inputs and graph outputs that read this value */
} csm_onnx_value;

typedef struct csm_onnx_ctx {
  const char *path; /* the model file, for messages */
  char *dir;        /* its folder: external data must lie inside it */
  Onnx__ModelProto *model;
  int opset; /* of the default domain */
  csm_graph *g;
  csm_onnx_value *values; /* the value table (loader.c) */
  int n_values, cap_values;
  int *slot; /* open-addressing hash: value index + 1 */
  size_t mask;
  const Onnx__NodeProto *node; /* the node being mapped (NULL outside) */
  size_t weight_bytes;         /* tensors read so far, against the memory limit */
  /* IR node names (values.c): open-addressing hash of node index + 1 over
   * g->nodes[0..n_named-1], so that csm_onnx_add finds a free name without
   * a linear search; nodes added by other means are indexed lazily. */
  int *name_slot;
  size_t name_mask;
  int n_named;
} csm_onnx_ctx;

/* ---- Messages (loader.c) ------------------------------------------------ */

/* Sets "<path>: node '<name>' (<OpType>): <fmt...>" (or "<path>: <fmt...>"
 * outside a node) and returns st. */
csm_status csm_onnx_fail(const csm_onnx_ctx *c, csm_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- Nesting (nesting.c) ----------------------------------------------- */

/* Walks the encoded ModelProto (iteratively, every length checked) along
 * onnx.proto's recursive fields: CSM_EINPUT "<path>: subgraphs nested deeper
 * than 64" (CSM_MAX_ONNX_GRAPH_DEPTH; or types, CSM_MAX_ONNX_TYPE_DEPTH), or
 * the parse failure for bytes that are not a protobuf message. Run before
 * protobuf-c sees the bytes. */
csm_status csm_onnx_check_nesting(const char *path, const uint8_t *data, size_t len);

/* ---- Values and layouts (values.c) -------------------------------------- */

/* The value named `name`, or NULL. */
csm_onnx_value *csm_onnx_value_get(csm_onnx_ctx *c, const char *name);
/* The entry for `name`, created undefined (logical = nhwc = -1) when
 * absent: the loader counts uses before any value is defined. It enters
 * every node input and output before mapping, so csm_onnx_value pointers
 * stay valid while mappers run (the table only grows for other names). */
csm_status csm_onnx_value_entry(csm_onnx_ctx *c, const char *name, csm_onnx_value **out);
/* Input k of the current node: the value, or an error naming it when it is
 * missing or unknown. Optional inputs that are absent ("" or k >= n_input)
 * give *out = NULL and CSM_OK when `optional`. */
csm_status csm_onnx_input(csm_onnx_ctx *c, int k, int optional, csm_onnx_value **out);
/* Defines (or, for a repeated name, fails on) the value `name` produced by
 * IR node `logical` and/or `nhwc` (-1 for the absent one) with `rank`. */
csm_status csm_onnx_define(csm_onnx_ctx *c, const char *name, int logical, int nhwc, int rank);
/* The IR node holding v in ONNX's layout / as NHWC (rank 4 only), adding the
 * TRANSPOSE when v only exists in the other layout. */
csm_status csm_onnx_logical(csm_onnx_ctx *c, csm_onnx_value *v, int *node);
csm_status csm_onnx_nhwc(csm_onnx_ctx *c, csm_onnx_value *v, int *node);
/* 1 if v is available as NHWC without a new transpose. */
int csm_onnx_has_nhwc(const csm_onnx_value *v);

/* ---- Nodes and constants (values.c) ------------------------------------- */

/* Appends an IR node named `name` (made unique with a suffix if taken) with
 * attributes a (NULL: defaults). */
csm_status csm_onnx_add(csm_onnx_ctx *c, const char *name, csm_op_kind op, int n_in, const int *in,
                        const csm_attrs *a, int *index);
/* New CONST nodes (data copied). */
csm_status csm_onnx_const_f32(csm_onnx_ctx *c, const char *name, const csm_shape *shape,
                              const float *data, int *index);
csm_status csm_onnx_const_i32(csm_onnx_ctx *c, const char *name, const csm_shape *shape,
                              const int32_t *data, int *index);
/* The constant behind v (an initializer or a Constant node, in ONNX's
 * layout), or NULL when v is computed. */
const csm_tensor *csm_onnx_const_of(csm_onnx_ctx *c, const csm_onnx_value *v);
/* An int constant operand (axes, pads, starts...) into v[0..*count-1];
 * an error naming `what` when it is not a constant int vector. */
csm_status csm_onnx_const_ints(csm_onnx_ctx *c, const csm_onnx_value *val, const char *what,
                               int64_t *v, int max, int *count);

/* ---- Attributes of the current node (attrs.c) --------------------------- */

const Onnx__AttributeProto *csm_onnx_attr(const csm_onnx_ctx *c, const char *name);
/* Absent: def. Out of [lo, hi] or of the wrong type: an error naming it. */
csm_status csm_onnx_attr_int(csm_onnx_ctx *c, const char *name, int64_t def, int64_t lo, int64_t hi,
                             int64_t *out);
csm_status csm_onnx_attr_float(csm_onnx_ctx *c, const char *name, float def, float *out);
/* Absent: *count = -1. More than max: an error. */
csm_status csm_onnx_attr_ints(csm_onnx_ctx *c, const char *name, int64_t *v, int max, int *count);
/* Absent: def (NULL: required). */
csm_status csm_onnx_attr_string(csm_onnx_ctx *c, const char *name, const char *def, char *buf,
                                size_t len);

/* ---- Tensors (tensors.c) ------------------------------------------------ */

/* A TensorProto's data as an IR tensor (owned): FLOAT, FLOAT16 and DOUBLE
 * to CSM_F32; INT64, INT32, INT8, UINT8, BOOL to CSM_I32 (int64 outside the
 * int32 range: an error, except that INT64 max/min, which ONNX uses for
 * "to the end" in Slice, clamp to INT32 max/min; so does any magnitude
 * >= 2^62, e.g. PyTorch's -INT64_MAX). Data from raw_data, the
 * typed fields or an external file inside c->dir (location, offset,
 * length), every size checked against what is there. `what` names it. */
csm_status csm_onnx_tensor_read(csm_onnx_ctx *c, const Onnx__TensorProto *t, const char *what,
                                csm_tensor *out);

/* ---- Operator mappers (ops_*.c) ------------------------------------------ */

/* Maps the current node (c->node): adds IR nodes and defines every output
 * value. */
typedef csm_status (*csm_onnx_mapper)(csm_onnx_ctx *c);
/* The mapper for an operator of the default domain, or NULL (ops.c). */
csm_onnx_mapper csm_onnx_find_mapper(const char *op_type);

/* ops_conv.c: Conv, ConvTranspose, MaxPool, AveragePool, GlobalAveragePool,
 * GlobalMaxPool, BatchNormalization, Resize. */
csm_status csm_onnx_map_conv(csm_onnx_ctx *c);
csm_status csm_onnx_map_conv_transpose(csm_onnx_ctx *c);
csm_status csm_onnx_map_pool(csm_onnx_ctx *c);
csm_status csm_onnx_map_global_pool(csm_onnx_ctx *c);
csm_status csm_onnx_map_batch_norm(csm_onnx_ctx *c);
csm_status csm_onnx_map_resize(csm_onnx_ctx *c);
/* ops_math.c: Add, Sub, Mul, Div, Max, Min, Sum, Pow (constant exponent), Relu,
 * PRelu, LeakyRelu, Sigmoid, Tanh, Clip, HardSigmoid, HardSwish, Exp, Sqrt,
 * Abs, Neg, Reciprocal, Softmax, LogSoftmax, Gemm, MatMul, ReduceMean,
 * ReduceSum, ReduceMax, ReduceL2. */
csm_status csm_onnx_map_binary(csm_onnx_ctx *c);
csm_status csm_onnx_map_unary(csm_onnx_ctx *c);
csm_status csm_onnx_map_clip(csm_onnx_ctx *c);
csm_status csm_onnx_map_softmax(csm_onnx_ctx *c);
csm_status csm_onnx_map_gemm(csm_onnx_ctx *c);
csm_status csm_onnx_map_matmul(csm_onnx_ctx *c);
csm_status csm_onnx_map_reduce(csm_onnx_ctx *c);
/* ops_shape.c: Flatten, Reshape, Transpose, Concat, Split, Slice, Squeeze,
 * Unsqueeze, Pad; ops_misc.c: Identity, Dropout, Constant, Shape, Gather,
 * Expand, Cast, ConstantOfShape. */
csm_status csm_onnx_map_flatten(csm_onnx_ctx *c);
csm_status csm_onnx_map_reshape(csm_onnx_ctx *c);
csm_status csm_onnx_map_transpose(csm_onnx_ctx *c);
csm_status csm_onnx_map_concat(csm_onnx_ctx *c);
csm_status csm_onnx_map_split(csm_onnx_ctx *c);
csm_status csm_onnx_map_slice(csm_onnx_ctx *c);
csm_status csm_onnx_map_squeeze(csm_onnx_ctx *c);
csm_status csm_onnx_map_unsqueeze(csm_onnx_ctx *c);
csm_status csm_onnx_map_pad(csm_onnx_ctx *c);
csm_status csm_onnx_map_identity(csm_onnx_ctx *c);
csm_status csm_onnx_map_constant(csm_onnx_ctx *c);
csm_status csm_onnx_map_shape(csm_onnx_ctx *c);
csm_status csm_onnx_map_gather(csm_onnx_ctx *c);
csm_status csm_onnx_map_expand(csm_onnx_ctx *c);
csm_status csm_onnx_map_cast(csm_onnx_ctx *c);
csm_status csm_onnx_map_constant_of_shape(csm_onnx_ctx *c); /* ops_misc.c */

/* ---- Helpers shared by the mappers (ops.c) ------------------------------ */

/* Output k of the current node, or NULL when absent or "". */
const char *csm_onnx_output(const csm_onnx_ctx *c, int k);
/* A helper IR node / int32 constant (rank 0 or 1, n entries) / float
 * constant named "<output 0>/<suffix>" (made unique if taken). */
csm_status csm_onnx_add_aux(csm_onnx_ctx *c, const char *suffix, csm_op_kind op, int n_in,
                            const int *in, const csm_attrs *a, int *index);
csm_status csm_onnx_aux_i32(csm_onnx_ctx *c, const char *suffix, int rank, const int32_t *v, int n,
                            int *index);
csm_status csm_onnx_aux_f32(csm_onnx_ctx *c, const char *suffix, const csm_shape *shape,
                            const float *v, int *index);
/* A possibly negative axis of a rank-`rank` value into 0..rank-1; an error
 * naming `what` when out of range or the rank is unknown (-1). */
csm_status csm_onnx_axis(csm_onnx_ctx *c, int64_t axis, int rank, const char *what, int *out);
/* The rank the graph declares for `name` (value_info, outputs), or -1. */
int csm_onnx_declared_rank(const csm_onnx_ctx *c, const char *name);
/* 1 if some node or graph output reads the value `name`. */
int csm_onnx_is_read(const csm_onnx_ctx *c, const char *name);
/* Defines output k of the current node (rank -1: the declared rank). */
csm_status csm_onnx_def(csm_onnx_ctx *c, int k, int logical, int nhwc, int rank);
/* 1 if v is absent or an empty constant (ONNX's "no scales", "no roi"). */
int csm_onnx_is_empty(csm_onnx_ctx *c, const csm_onnx_value *v);
/* A constant of rank <= 4 (ONNX layout) as an operand broadcast against a
 * rank-4 NHWC value: right-aligned to rank 4, transposed to NHWC, leading
 * 1s dropped; a new constant named "<output 0>/<suffix>". */
csm_status csm_onnx_const_to_nhwc(csm_onnx_ctx *c, const csm_tensor *t, const char *suffix,
                                  int *index);
/* Output 0 = op(input 0) in the layout input 0 already has. */
csm_status csm_onnx_map_elementwise1(csm_onnx_ctx *c, csm_op_kind op, const csm_attrs *a);
/* An error when an output from index `from` on is read by anything. */
csm_status csm_onnx_unused_outputs(csm_onnx_ctx *c, int from);
/* ops_shape.c: the number of entries of the int vector `name` when it can
 * be told from the graph (constants, Shape, Concat, Cast...), or -1. */
int csm_onnx_vec_len(csm_onnx_ctx *c, const char *name);

/* Layout helpers for mappers (values.c): the NHWC position of ONNX axis
 * `axis` (0..3) of a rank-4 value: N->0, C->3, H->1, W->2. */
int csm_onnx_nhwc_axis(int axis);

#endif
