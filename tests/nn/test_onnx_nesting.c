/* Deeply nested ONNX files (issue 15): 5,000 nested If subgraphs, or types
 * nested 5,000 deep, used to overflow the stack in protobuf-c's recursive
 * unpack (SIGSEGV). The loader walks the wire format first and refuses more
 * than 64 levels with one line naming the file; 64 levels still load as far
 * as their operators allow. The walk itself must survive arbitrary bytes:
 * every truncation of a nested file and seeded random corruptions of it
 * give an error or a graph, never a crash. Files are encoded here by hand
 * (field numbers from onnx.proto). */
#include "onnx_builder.h"
#include "nn/onnx/onnx_internal.h"

/* ---- Protobuf encoding --------------------------------------------------- */

typedef struct buf {
  uint8_t *p;
  size_t n, cap;
} buf;

static void put(buf *b, const void *data, size_t n) {
  if (b->n + n > b->cap) {
    b->cap = (b->n + n) * 2 + 64;
    b->p = realloc(b->p, b->cap);
    if (!b->p) abort();
  }
  if (n) memcpy(b->p + b->n, data, n);
  b->n += n;
}

static void put_varint(buf *b, uint64_t v) {
  uint8_t t[10];
  size_t n = 0;
  do {
    t[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
    v >>= 7;
  } while (v);
  put(b, t, n);
}

/* Field `field` as a length-delimited value (a string or a message). */
static void put_bytes(buf *b, unsigned field, const void *data, size_t n) {
  put_varint(b, (uint64_t)field << 3 | 2);
  put_varint(b, n);
  put(b, data, n);
}

static void put_str(buf *b, unsigned field, const char *s) { put_bytes(b, field, s, strlen(s)); }

static void put_int(buf *b, unsigned field, uint64_t v) {
  put_varint(b, (uint64_t)field << 3);
  put_varint(b, v);
}

/* Deep nesting is built from the inside out by prepending, which costs a
 * copy per level when done on a forward buffer: a "front" buffer holds its
 * content reversed, so that prepending appends. */
static void front_put(buf *r, const void *data, size_t n) {
  const uint8_t *d = data;
  for (size_t i = n; i-- > 0;)
    put(r, &d[i], 1);
}

/* Prepends a field header: tag, then the length of everything after it. */
static void front_header(buf *r, unsigned field, size_t len) {
  buf h = {0};
  put_varint(&h, (uint64_t)field << 3 | 2);
  put_varint(&h, len);
  front_put(r, h.p, h.n);
  free(h.p);
}

static void front_field(buf *r, const buf *fields) { front_put(r, fields->p, fields->n); }

/* The front buffer's content, forward. */
static void front_done(buf *r) {
  for (size_t i = 0; i < r->n / 2; i++) {
    uint8_t t = r->p[i];
    r->p[i] = r->p[r->n - 1 - i];
    r->p[r->n - 1 - i] = t;
  }
}

/* NodeProto "If" (output y) with a then_branch attribute holding `graph`. */
static void if_node(buf *out, const buf *graph) {
  buf attr = {0}, node = {0};
  put_str(&attr, 1, "then_branch"); /* AttributeProto.name */
  put_int(&attr, 20, 5);            /* .type = GRAPH */
  put_bytes(&attr, 6, graph->p, graph->n);
  put_str(&node, 1, "x"); /* NodeProto.input */
  put_str(&node, 2, "y"); /* .output */
  put_str(&node, 4, "If");
  put_bytes(&node, 5, attr.p, attr.n);
  put(out, node.p, node.n);
  free(attr.p);
  free(node.p);
}

/* A GraphProto nesting `levels` graphs in all: If nodes down to an empty
 * graph (levels = 1: just the empty graph). */
static void nested_graph(buf *g, int levels) {
  buf r = {0}, name = {0}, attr_fields = {0}, node_fields = {0};
  put_str(&name, 2, "g0"); /* GraphProto.name */
  put_str(&attr_fields, 1, "then_branch");
  put_int(&attr_fields, 20, 5); /* GRAPH */
  put_str(&node_fields, 1, "x");
  put_str(&node_fields, 2, "y");
  put_str(&node_fields, 4, "If");
  front_field(&r, &name);
  for (int k = 1; k < levels; k++) {
    front_header(&r, 6, r.n); /* AttributeProto.g = the graph so far */
    front_field(&r, &attr_fields);
    front_header(&r, 5, r.n); /* NodeProto.attribute */
    front_field(&r, &node_fields);
    front_header(&r, 1, r.n); /* GraphProto.node */
  }
  front_done(&r);
  *g = r;
  free(name.p);
  free(attr_fields.p);
  free(node_fields.p);
}

/* A ValueInfoProto 'x' whose type nests `levels` TypeProtos: sequences of
 * ... of a float tensor of shape [1]. */
static void nested_value_info(buf *v, const char *name, int levels) {
  buf r = {0}, tensor = {0}, dim = {0}, shape = {0}, tt = {0};
  put_int(&dim, 1, 1);                     /* Dimension.dim_value = 1 */
  put_bytes(&shape, 1, dim.p, dim.n);      /* TensorShapeProto.dim */
  put_int(&tensor, 1, 1);                  /* Tensor.elem_type = FLOAT */
  put_bytes(&tensor, 2, shape.p, shape.n); /* Tensor.shape */
  put_bytes(&tt, 1, tensor.p, tensor.n);   /* TypeProto.tensor_type */
  front_field(&r, &tt);
  for (int k = 1; k < levels; k++) {
    front_header(&r, 1, r.n); /* Sequence.elem_type */
    front_header(&r, 4, r.n); /* TypeProto.sequence_type */
  }
  front_done(&r);
  buf vi = {0};
  put_str(&vi, 1, name);
  put_bytes(&vi, 2, r.p, r.n);
  *v = vi;
  free(r.p);
  free(tensor.p);
  free(dim.p);
  free(shape.p);
  free(tt.p);
}

/* A ModelProto (ir 8, opset 13) around a main graph's fields; extra holds
 * other ModelProto fields (functions, training_info). */
static void model(buf *m, const buf *graph_fields, const buf *extra) {
  buf opset = {0};
  put_int(&opset, 2, 13);
  memset(m, 0, sizeof *m);
  put_int(m, 1, 8);
  put_bytes(m, 8, opset.p, opset.n);
  put_bytes(m, 7, graph_fields->p, graph_fields->n);
  if (extra) put(m, extra->p, extra->n);
  free(opset.p);
}

/* The main graph: input x [1,3], an If whose branch nests `levels` - 1 more
 * graphs (levels in all), output y. */
static void if_model(buf *m, int levels) {
  buf g = {0}, vi = {0}, branch = {0}, node = {0}, out = {0};
  nested_value_info(&vi, "x", 1);
  put_bytes(&g, 11, vi.p, vi.n); /* GraphProto.input */
  nested_graph(&branch, levels - 1);
  if_node(&node, &branch);
  put_bytes(&g, 1, node.p, node.n);
  put_str(&out, 1, "y");
  put_bytes(&g, 12, out.p, out.n); /* GraphProto.output */
  model(m, &g, NULL);
  free(g.p);
  free(vi.p);
  free(branch.p);
  free(node.p);
  free(out.p);
}

static const char *write_model(const char *name, const buf *m) {
  const char *path = tmp_path(name);
  write_bytes(path, m->p, m->n);
  return path;
}

static int setup(void **state) {
  (void)state;
  ob_test_dir("onnx_nesting");
  return 0;
}

/* ---- Subgraphs ------------------------------------------------------------ */

static void test_deep_if_refused(void **state) {
  (void)state;
  buf m;
  if_model(&m, 5000);
  assert_true(m.n > 100000); /* the ~188 KB file of the report */
  expect_error(write_model("if5000.onnx", &m), CSM_EINPUT, "subgraphs nested deeper than 64");
  free(m.p);
  if_model(&m, 65);
  expect_error(write_model("if65.onnx", &m), CSM_EINPUT, "subgraphs nested deeper than 64");
  free(m.p);
}

/* 64 levels pass the walk; the loader then refuses If as an operator. */
static void test_if_at_limit(void **state) {
  (void)state;
  buf m;
  if_model(&m, 64);
  expect_error(write_model("if64.onnx", &m), CSM_EUNSUPPORTED, "(If): unsupported operator");
  free(m.p);
}

/* Subgraphs reached through the other paths: AttributeProto.graphs,
 * ModelProto.functions -> FunctionProto.node, ModelProto.training_info. */
static void test_other_graph_paths(void **state) {
  (void)state;
  buf deep = {0}, node = {0}, g = {0}, extra = {0}, m;
  nested_graph(&deep, 5000);
  /* A Loop-like node whose attribute lists graphs (field 11). */
  buf attr = {0};
  put_str(&attr, 1, "branches");
  put_int(&attr, 20, 10); /* GRAPHS */
  put_bytes(&attr, 11, deep.p, deep.n);
  put_str(&node, 4, "Foo");
  put_bytes(&node, 5, attr.p, attr.n);
  put_bytes(&g, 1, node.p, node.n);
  model(&m, &g, NULL);
  expect_error(write_model("graphs.onnx", &m), CSM_EINPUT, "subgraphs nested deeper than 64");
  free(m.p);

  /* FunctionProto { name, node (7) = the If } in ModelProto.functions (25). */
  buf fn = {0}, ifn = {0}, empty = {0};
  if_node(&ifn, &deep);
  put_str(&fn, 1, "f");
  put_bytes(&fn, 7, ifn.p, ifn.n);
  put_bytes(&extra, 25, fn.p, fn.n);
  put_str(&empty, 2, "main");
  model(&m, &empty, &extra);
  expect_error(write_model("function.onnx", &m), CSM_EINPUT, "subgraphs nested deeper than 64");
  free(m.p);

  /* TrainingInfoProto { algorithm (2) = deep } in ModelProto.training_info (20). */
  buf ti = {0};
  free(extra.p);
  extra = (buf){0};
  put_bytes(&ti, 2, deep.p, deep.n);
  put_bytes(&extra, 20, ti.p, ti.n);
  model(&m, &empty, &extra);
  expect_error(write_model("training.onnx", &m), CSM_EINPUT, "subgraphs nested deeper than 64");
  free(m.p);

  free(deep.p);
  free(node.p);
  free(g.p);
  free(attr.p);
  free(fn.p);
  free(ifn.p);
  free(empty.p);
  free(ti.p);
  free(extra.p);
}

/* ---- Types ------------------------------------------------------------------ */

static void test_deep_types_refused(void **state) {
  (void)state;
  buf vi = {0}, g = {0}, m;
  nested_value_info(&vi, "x", 5000);
  put_bytes(&g, 11, vi.p, vi.n);
  model(&m, &g, NULL);
  expect_error(write_model("types5000.onnx", &m), CSM_EINPUT, "types nested deeper than 64");
  free(m.p);
  free(g.p);
  free(vi.p);

  /* In a value_info (13) and through Map.value_type / Optional.elem_type. */
  buf type = {0}, tensor = {0}, key = {0};
  put_int(&tensor, 1, 1);
  put_int(&key, 1, 7); /* Map.key_type INT64 */
  front_field(&type, &tensor);
  front_header(&type, 1, type.n); /* TypeProto.tensor_type */
  for (int k = 1; k < 3000; k++) {
    if (k % 2) {
      front_header(&type, 2, type.n); /* Map.value_type */
      front_field(&type, &key);
      front_header(&type, 5, type.n); /* TypeProto.map_type */
    } else {
      front_header(&type, 1, type.n); /* Optional.elem_type */
      front_header(&type, 9, type.n); /* TypeProto.optional_type */
    }
  }
  front_done(&type);
  vi = (buf){0};
  g = (buf){0};
  put_str(&vi, 1, "v");
  put_bytes(&vi, 2, type.p, type.n);
  put_bytes(&g, 13, vi.p, vi.n);
  model(&m, &g, NULL);
  expect_error(write_model("maps.onnx", &m), CSM_EINPUT, "types nested deeper than 64");
  free(m.p);
  free(g.p);
  free(vi.p);
  free(type.p);
  free(tensor.p);
  free(key.p);
}

/* 64 type levels are read (the graph input is then not a tensor). */
static void test_types_at_limit(void **state) {
  (void)state;
  buf vi = {0}, g = {0}, m;
  nested_value_info(&vi, "x", 64);
  put_bytes(&g, 11, vi.p, vi.n);
  model(&m, &g, NULL);
  expect_error(write_model("types64.onnx", &m), CSM_EUNSUPPORTED, "is not a tensor");
  free(m.p);
  free(g.p);
  free(vi.p);
}

/* ---- The walk on arbitrary bytes ---------------------------------------- */

/* The walk on n bytes; when it lets them through, protobuf-c unpacks them
 * (or refuses them) without trouble, and so does the loader. */
static void walk_any(const uint8_t *p, size_t n) {
  if (csm_onnx_check_nesting("x.onnx", p, n)) {
    assert_non_null(strstr(csm_last_error(), "x.onnx: "));
    return;
  }
  Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, n, p);
  if (m) onnx__model_proto__free_unpacked(m, NULL);
}

static void test_walk_survives_garbage(void **state) {
  (void)state;
  buf m;
  if_model(&m, 40);
  const char *path = tmp_path("garbage.onnx");
  /* Every truncation, some through the loader. */
  for (size_t n = 0; n <= m.n; n++) {
    walk_any(m.p, n);
    if (n % 97 == 0) {
      csm_graph g;
      write_bytes(path, m.p, n);
      assert_int_not_equal(load(path, &g), CSM_OK);
      csm_graph_free(&g);
    }
  }
  /* Seeded corruptions: a few bytes set to random values, lengths included. */
  uint64_t seed = 0x9e3779b97f4a7c15u;
  uint8_t *copy = malloc(m.n);
  assert_non_null(copy);
  for (int trial = 0; trial < 20000; trial++) {
    memcpy(copy, m.p, m.n);
    for (int k = 0; k < 3; k++) {
      seed = seed * 6364136223846793005u + 1442695040888963407u;
      copy[(seed >> 33) % m.n] = (uint8_t)(seed >> 17);
    }
    walk_any(copy, m.n);
  }
  /* Varints that never end, lengths past the end, a group. */
  static const uint8_t bad[][12] = {
      {0x3a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
      {0x3a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80},
      {0x3a, 0x0a, 0x0a, 0x05},
      {0x3b, 0x00},
      {0x00, 0x00}};
  static const size_t bad_len[] = {12, 12, 4, 2, 2};
  for (size_t i = 0; i < sizeof bad_len / sizeof *bad_len; i++) {
    write_bytes(path, bad[i], bad_len[i]);
    expect_error(path, CSM_EINPUT, "not an ONNX model");
  }
  free(copy);
  free(m.p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_deep_if_refused),   cmocka_unit_test(test_if_at_limit),
      cmocka_unit_test(test_other_graph_paths), cmocka_unit_test(test_deep_types_refused),
      cmocka_unit_test(test_types_at_limit),    cmocka_unit_test(test_walk_survives_garbage),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
