/* Internal interface of the TF.js graph-model loader (nn/tfjs/).
 *
 * The loader follows @tensorflow/tfjs-converter 4.22 (operation_mapper.js)
 * and tfjs-core's io_utils.js: the same signature precedence, the same
 * output selection and order, the same dequantization arithmetic. Every
 * message starts with the model.json path. */
#ifndef CSM_NN_TFJS_TFJS_H
#define CSM_NN_TFJS_TFJS_H

#include <cjson/cJSON.h>

#include "nn/graph.h"

/* ---- Names (names.c) --------------------------------------------------- */

/* Node name -> node index, so that resolving inputs and weights is linear in
 * the model size rather than quadratic. Names are those in g->nodes. */
typedef struct csm_tfjs_names {
  const csm_graph *g;
  int *slot; /* node index + 1; 0 = empty */
  size_t mask;
} csm_tfjs_names;

csm_status csm_tfjs_names_init(csm_tfjs_names *t, const csm_graph *g, size_t expected);
void csm_tfjs_names_free(csm_tfjs_names *t);
/* Adds node `index`; returns the index of an earlier node with the same name
 * (nothing added), or -1. */
int csm_tfjs_names_add(csm_tfjs_names *t, int index);
/* Index of the node named by the first `len` bytes of `name`, or -1. */
int csm_tfjs_names_find(const csm_tfjs_names *t, const char *name, size_t len);

/* The order in which JavaScript's Object.keys lists properties created with
 * these keys in this order: integer-like keys ("array indices") first in
 * numeric order, then the others in order of first creation. With `dedupe`,
 * a repeated key keeps its first position and its last value (as JSON.parse
 * and obj[key] = v do). Writes indices into keys[] (the winning occurrence)
 * to order[] and returns how many (-1: out of memory). O(n log n). */
int csm_tfjs_js_order(const char *const *keys, int n, int dedupe, int *order);

/* Splits a TensorFlow tensor name "node:k" (or "node") into the node name's
 * length and the output index; -1 when malformed. */
int csm_tfjs_split_name(const char *s, size_t *len, long *index);

/* ---- Attributes (attrs.c) ---------------------------------------------- */

/* Where an attribute error is reported: the file and the node. */
typedef struct csm_tfjs_where {
  const char *path;
  const char *node;
} csm_tfjs_where;

/* Member `key` of a JSON object (NULL when absent or obj is no object). A
 * repeated key yields its last value, as JavaScript's JSON.parse does
 * (cJSON's own lookup returns the first). */
const cJSON *csm_tfjs_get(const cJSON *obj, const char *key);

/* A node's attr object member `name` (NULL when absent). */
const cJSON *csm_tfjs_attr(const cJSON *node, const char *name);

/* Integer from a JSON number or a decimal string (protobuf int64 as JSON). */
int csm_tfjs_json_int(const cJSON *v, int64_t *out);
/* Number from a JSON number or a string ("NaN", "Infinity", "0.2"). */
int csm_tfjs_json_number(const cJSON *v, double *out);

csm_status csm_tfjs_attr_int(const csm_tfjs_where *w, const cJSON *node, const char *name,
                             int64_t def, int64_t lo, int64_t hi, int *out);
csm_status csm_tfjs_attr_bool(const csm_tfjs_where *w, const cJSON *node, const char *name, int def,
                              int *out);
csm_status csm_tfjs_attr_float(const csm_tfjs_where *w, const cJSON *node, const char *name,
                               float def, float *out);
/* A string attribute (base64 in the file) into buf; `def` when absent
 * (NULL: required). */
csm_status csm_tfjs_attr_string(const csm_tfjs_where *w, const cJSON *node, const char *name,
                                const char *def, char *buf, size_t len);
/* An int list attribute; *count = -1 when absent. */
csm_status csm_tfjs_attr_ints(const csm_tfjs_where *w, const cJSON *node, const char *name,
                              int64_t *v, int max, int *count);
/* A string list attribute (fused_ops): at most `max` strings of < 32 bytes. */
csm_status csm_tfjs_attr_strings(const csm_tfjs_where *w, const cJSON *node, const char *name,
                                 char (*v)[32], int max, int *count);

/* String attributes compare case-insensitively, as TF.js lower-cases them. */
int csm_tfjs_streq(const char *a, const char *b);

/* "DT_FLOAT" -> CSM_F32, "DT_INT32" -> CSM_I32; -1 otherwise. */
int csm_tfjs_dtype(const char *tf_dtype);
/* A TensorShapeProto ({"dim": [{"size": "-1"}, ...]}); -1 sizes are kept
 * when allow_unknown, an error otherwise. `what` names it in messages. */
csm_status csm_tfjs_shape(const csm_tfjs_where *w, const cJSON *shape_proto, int allow_unknown,
                          const char *what, csm_shape *out);

/* ---- Ops (ops.c) ------------------------------------------------------- */

/* Maps TF node `op` to an IR op and its attributes; n_in is the number of
 * data (non-control) inputs, which is checked against the op. */
csm_status csm_tfjs_map_op(const csm_tfjs_where *w, const cJSON *node, const char *op, int n_in,
                           csm_op_kind *kind, csm_attrs *a);

/* ---- Weights (weights.c) ----------------------------------------------- */

/* Reads the shards of every group of `manifest` (paths relative to `dir`,
 * the model's real folder, which they must not leave: csm_model_folder_file)
 * and stores each weight as the value of the Const node of the same name. */
csm_status csm_tfjs_load_weights(const char *path, const char *dir, const cJSON *manifest,
                                 csm_graph *g, const csm_tfjs_names *names);

/* IEEE 754 binary16 -> binary32, exact (subnormals, inf and NaN payloads). */
float csm_tfjs_half_to_float(uint16_t h);

#endif
