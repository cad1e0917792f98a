/* Builds small ONNX models in C with the protobuf-c structs generated from
 * onnx.proto, for the loader tests. Everything a builder allocates is freed
 * by ob_free; ob_write packs the model into a file. Also the tests' shared
 * checks (load with the one-line message check, expect_error). */
#ifndef CSM_TEST_ONNX_BUILDER_H
#define CSM_TEST_ONNX_BUILDER_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>

#include "csm_test.h"
#include "nn/graph.h"
#include "onnx.pb-c.h"

enum { OB_MAX = 64, OB_POOL = 1024 };

typedef struct ob {
  Onnx__ModelProto model;
  Onnx__GraphProto graph;
  Onnx__OperatorSetIdProto opset;
  Onnx__OperatorSetIdProto *opsets[1];
  Onnx__NodeProto *nodes[OB_MAX];
  Onnx__TensorProto *inits[OB_MAX];
  Onnx__ValueInfoProto *inputs[OB_MAX], *outputs[OB_MAX];
  void *pool[OB_POOL];
  int n_pool;
} ob;

static inline void *ob_alloc(ob *b, size_t n) {
  void *p = calloc(1, n ? n : 1);
  if (!p || b->n_pool == OB_POOL) abort();
  b->pool[b->n_pool++] = p;
  return p;
}

static inline char *ob_str(ob *b, const char *s) {
  char *p = ob_alloc(b, strlen(s) + 1);
  memcpy(p, s, strlen(s) + 1);
  return p;
}

static inline void ob_init(ob *b, int opset) {
  memset(b, 0, sizeof *b);
  onnx__model_proto__init(&b->model);
  onnx__graph_proto__init(&b->graph);
  onnx__operator_set_id_proto__init(&b->opset);
  b->opset.domain = ob_str(b, "");
  b->opset.has_version = 1;
  b->opset.version = opset;
  b->opsets[0] = &b->opset;
  b->model.n_opset_import = 1;
  b->model.opset_import = b->opsets;
  b->model.has_ir_version = 1;
  b->model.ir_version = 8;
  b->model.graph = &b->graph;
  b->graph.name = ob_str(b, "test");
  b->graph.node = b->nodes;
  b->graph.initializer = b->inits;
  b->graph.input = b->inputs;
  b->graph.output = b->outputs;
}

static inline void ob_free(ob *b) {
  for (int i = 0; i < b->n_pool; i++)
    free(b->pool[i]);
  b->n_pool = 0;
}

/* A node with inputs (NULL-terminated list, "" for an absent optional one)
 * and one output. */
static inline Onnx__NodeProto *ob_node(ob *b, const char *op, const char *name,
                                       const char *const *in, const char *out) {
  Onnx__NodeProto *n = ob_alloc(b, sizeof *n);
  onnx__node_proto__init(n);
  n->op_type = ob_str(b, op);
  if (name) n->name = ob_str(b, name);
  size_t k = 0;
  while (in && in[k])
    k++;
  n->n_input = k;
  n->input = ob_alloc(b, k * sizeof(char *));
  for (size_t i = 0; i < k; i++)
    n->input[i] = ob_str(b, in[i]);
  n->n_output = 1;
  n->output = ob_alloc(b, sizeof(char *));
  n->output[0] = ob_str(b, out);
  n->attribute = ob_alloc(b, 8 * sizeof(Onnx__AttributeProto *));
  b->nodes[b->graph.n_node++] = n;
  return n;
}

static inline Onnx__AttributeProto *ob_attr(ob *b, Onnx__NodeProto *n, const char *name,
                                            Onnx__AttributeProto__AttributeType type) {
  Onnx__AttributeProto *a = ob_alloc(b, sizeof *a);
  onnx__attribute_proto__init(a);
  a->name = ob_str(b, name);
  a->has_type = 1;
  a->type = type;
  n->attribute[n->n_attribute++] = a;
  return a;
}

static inline void ob_attr_ints(ob *b, Onnx__NodeProto *n, const char *name, int count,
                                const int64_t *v) {
  Onnx__AttributeProto *a = ob_attr(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
  a->n_ints = (size_t)count;
  a->ints = ob_alloc(b, (size_t)count * sizeof(int64_t));
  memcpy(a->ints, v, (size_t)count * sizeof(int64_t));
}

/* A tensor with dims; the caller fills its data fields. */
static inline Onnx__TensorProto *ob_tensor(ob *b, const char *name, int type, int rank,
                                           const int64_t *dims) {
  Onnx__TensorProto *t = ob_alloc(b, sizeof *t);
  onnx__tensor_proto__init(t);
  t->name = ob_str(b, name);
  t->has_data_type = 1;
  t->data_type = type;
  t->n_dims = (size_t)rank;
  t->dims = ob_alloc(b, (size_t)rank * sizeof(int64_t));
  if (rank > 0) memcpy(t->dims, dims, (size_t)rank * sizeof(int64_t));
  return t;
}

static inline Onnx__TensorProto *ob_init_tensor(ob *b, Onnx__TensorProto *t) {
  b->inits[b->graph.n_initializer++] = t;
  return t;
}

static inline void ob_raw(ob *b, Onnx__TensorProto *t, const void *data, size_t bytes) {
  t->has_raw_data = 1;
  t->raw_data.len = bytes;
  t->raw_data.data = ob_alloc(b, bytes);
  if (bytes) memcpy(t->raw_data.data, data, bytes);
}

/* A float32 initializer from raw_data (little-endian host assumed). */
static inline Onnx__TensorProto *ob_init_f32(ob *b, const char *name, int rank, const int64_t *dims,
                                             const float *v) {
  Onnx__TensorProto *t = ob_tensor(b, name, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, rank, dims);
  size_t n = 1;
  for (int i = 0; i < rank; i++)
    n *= (size_t)dims[i];
  ob_raw(b, t, v, n * sizeof(float));
  return ob_init_tensor(b, t);
}

static inline void ob_external(ob *b, Onnx__TensorProto *t, const char *location,
                               const char *offset, const char *length) {
  const char *keys[3] = {"location", "offset", "length"}, *vals[3] = {location, offset, length};
  t->has_data_location = 1;
  t->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
  t->external_data = ob_alloc(b, 3 * sizeof(Onnx__StringStringEntryProto *));
  for (int i = 0; i < 3; i++) {
    if (!vals[i]) continue;
    Onnx__StringStringEntryProto *e = ob_alloc(b, sizeof *e);
    onnx__string_string_entry_proto__init(e);
    e->key = ob_str(b, keys[i]);
    e->value = ob_str(b, vals[i]);
    t->external_data[t->n_external_data++] = e;
  }
}

/* A value info of elem_type with dims (-1: symbolic "N"; -2: no value). */
static inline Onnx__ValueInfoProto *ob_value_info(ob *b, const char *name, int elem_type, int rank,
                                                  const int64_t *dims) {
  Onnx__ValueInfoProto *v = ob_alloc(b, sizeof *v);
  Onnx__TypeProto *tp = ob_alloc(b, sizeof *tp);
  Onnx__TypeProto__Tensor *tt = ob_alloc(b, sizeof *tt);
  Onnx__TensorShapeProto *sp = ob_alloc(b, sizeof *sp);
  onnx__value_info_proto__init(v);
  onnx__type_proto__init(tp);
  onnx__type_proto__tensor__init(tt);
  onnx__tensor_shape_proto__init(sp);
  v->name = ob_str(b, name);
  v->type = tp;
  tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
  tp->tensor_type = tt;
  tt->has_elem_type = 1;
  tt->elem_type = elem_type;
  tt->shape = rank >= 0 ? sp : NULL;
  sp->n_dim = rank >= 0 ? (size_t)rank : 0;
  sp->dim = ob_alloc(b, (size_t)(rank > 0 ? rank : 1) * sizeof *sp->dim);
  for (int i = 0; i < rank; i++) {
    Onnx__TensorShapeProto__Dimension *d = ob_alloc(b, sizeof *d);
    onnx__tensor_shape_proto__dimension__init(d);
    if (dims[i] >= 0) {
      d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
      d->dim_value = dims[i];
    } else if (dims[i] == -1) {
      d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
      d->dim_param = ob_str(b, "N");
    }
    sp->dim[i] = d;
  }
  return v;
}

static inline void ob_input(ob *b, const char *name, int rank, const int64_t *dims) {
  b->inputs[b->graph.n_input++] =
      ob_value_info(b, name, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, rank, dims);
}

static inline void ob_output(ob *b, const char *name) {
  b->outputs[b->graph.n_output++] =
      ob_value_info(b, name, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, -1, NULL);
}

/* The packed model (malloc'ed; *len bytes). */
static inline uint8_t *ob_pack(ob *b, size_t *len) {
  *len = onnx__model_proto__get_packed_size(&b->model);
  uint8_t *buf = malloc(*len ? *len : 1);
  if (!buf) abort();
  onnx__model_proto__pack(&b->model, buf);
  return buf;
}

static inline void write_bytes(const char *path, const void *data, size_t len) {
  FILE *fp = fopen(path, "wb");
  if (!fp || (len && fwrite(data, 1, len, fp) != len) || fclose(fp) != 0) abort();
}

static inline void ob_write(ob *b, const char *path) {
  size_t len;
  uint8_t *buf = ob_pack(b, &len);
  write_bytes(path, buf, len);
  free(buf);
}

/* ---- Test helpers (cmocka; files under $CSM_TEST_TMP/<folder>) ---- */

static char g_dir[512];

static inline const char *tmp_path(const char *name) {
  static char buf[8][700];
  static int k;
  k = (k + 1) % 8;
  snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
  return buf[k];
}

static inline void ob_test_dir(const char *folder) {
  const char *base = csm_test_env("CSM_TEST_TMP", "/tmp");
  mkdir(base, 0777);
  snprintf(g_dir, sizeof g_dir, "%s/%s", base, folder);
  mkdir(g_dir, 0777);
}

/* Loads path into g; the status, with the message checked to be one line
 * that starts with the path. */
static inline csm_status load(const char *path, csm_graph *g) {
  csm_status st = csm_onnx_load(path, g);
  if (st) {
    const char *msg = csm_last_error();
    if (strncmp(msg, path, strlen(path)) != 0 || strchr(msg, '\n'))
      fail_msg("message does not start with the path or has several lines: %s", msg);
  }
  return st;
}

/* Loads and fails unless the status is st and the message contains needle. */
static inline void expect_error(const char *path, csm_status st, const char *needle) {
  csm_graph g;
  csm_status got = load(path, &g);
  csm_graph_free(&g);
  if (got != st || !strstr(csm_last_error(), needle))
    fail_msg("%s: want status %d with '%s', got %d: %s", path, st, needle, got, csm_last_error());
}

static inline const csm_tensor *const_value(const csm_graph *g, const char *name) {
  int i = csm_graph_find(g, name);
  if (i < 0) fail_msg("no node '%s'", name);
  assert_int_equal(g->nodes[i].op, CSM_OP_CONST);
  return &g->nodes[i].value;
}

/* A model whose outputs are its initializers (kept: outputs are never
 * dropped), with one unused input. */
static inline void init_model(ob *b) {
  int64_t xd[2] = {1, 1};
  ob_init(b, 13);
  ob_input(b, "x", 2, xd);
}

#endif
