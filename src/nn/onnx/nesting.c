/* How deeply a model's recursive messages nest, read from the wire format
 * before protobuf-c unpacks it.
 *
 * protobuf-c unpacks (and frees) a message by recursion, one C call chain
 * per level of nesting, with no limit: 5,000 nested If subgraphs in a
 * 188 KB file overflow the stack. ONNX recurses through two paths:
 * subgraphs (GraphProto -> NodeProto -> AttributeProto.g / .graphs ->
 * GraphProto, from ModelProto.graph, TrainingInfoProto and FunctionProto's
 * nodes) and types (TypeProto -> sequence_type / map_type / optional_type
 * -> TypeProto, from ValueInfoProto.type and AttributeProto.tp /
 * .type_protos). This walk follows exactly those fields of Debian's
 * onnx.proto (the one compiled into csm), iteratively with its own bounded
 * stack, and skips everything else by its length, so it reads each byte
 * once and needs no memory. Every varint and length is bounds-checked: the
 * bytes are the file's. */
#include "onnx_internal.h"

/* The messages on a recursive path. */
typedef enum msg {
  M_MODEL,
  M_TRAINING, /* TrainingInfoProto */
  M_FUNCTION,
  M_GRAPH,
  M_NODE,
  M_ATTR,
  M_VALUE_INFO,
  M_TYPE,
  M_TYPE_SEQUENCE,
  M_TYPE_MAP,
  M_TYPE_OPTIONAL
} msg;

/* parent.field (a message field, wire type 2) -> child, from onnx.proto. */
static const struct {
  msg parent;
  uint32_t field;
  msg child;
} edges[] = {
    {M_MODEL, 7, M_GRAPH},        /* ModelProto.graph */
    {M_MODEL, 20, M_TRAINING},    /* ModelProto.training_info */
    {M_MODEL, 25, M_FUNCTION},    /* ModelProto.functions */
    {M_TRAINING, 1, M_GRAPH},     /* TrainingInfoProto.initialization */
    {M_TRAINING, 2, M_GRAPH},     /* TrainingInfoProto.algorithm */
    {M_FUNCTION, 7, M_NODE},      /* FunctionProto.node */
    {M_GRAPH, 1, M_NODE},         /* GraphProto.node */
    {M_GRAPH, 11, M_VALUE_INFO},  /* GraphProto.input */
    {M_GRAPH, 12, M_VALUE_INFO},  /* GraphProto.output */
    {M_GRAPH, 13, M_VALUE_INFO},  /* GraphProto.value_info */
    {M_NODE, 5, M_ATTR},          /* NodeProto.attribute */
    {M_ATTR, 6, M_GRAPH},         /* AttributeProto.g */
    {M_ATTR, 11, M_GRAPH},        /* AttributeProto.graphs */
    {M_ATTR, 14, M_TYPE},         /* AttributeProto.tp */
    {M_ATTR, 15, M_TYPE},         /* AttributeProto.type_protos */
    {M_VALUE_INFO, 2, M_TYPE},    /* ValueInfoProto.type */
    {M_TYPE, 4, M_TYPE_SEQUENCE}, /* TypeProto.sequence_type */
    {M_TYPE, 5, M_TYPE_MAP},      /* TypeProto.map_type */
    {M_TYPE, 9, M_TYPE_OPTIONAL}, /* TypeProto.optional_type */
    {M_TYPE_SEQUENCE, 1, M_TYPE}, /* TypeProto.Sequence.elem_type */
    {M_TYPE_MAP, 2, M_TYPE},      /* TypeProto.Map.value_type */
    {M_TYPE_OPTIONAL, 1, M_TYPE}, /* TypeProto.Optional.elem_type */
};

static int child_of(msg parent, uint32_t field, msg *child) {
  for (size_t i = 0; i < sizeof edges / sizeof *edges; i++)
    if (edges[i].parent == parent && edges[i].field == field) {
      *child = edges[i].child;
      return 1;
    }
  return 0;
}

/* A varint at *p (before end): 0 and *p moved past it, or -1. */
static int varint(const uint8_t **p, const uint8_t *end, uint64_t *v) {
  *v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (*p >= end) return -1;
    uint8_t b = *(*p)++;
    *v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) return 0;
  }
  return -1; /* more than 10 bytes */
}

/* Frames on the walk's stack: at most every graph level's Graph, Node and
 * Attribute (or TrainingInfo / Function), and every type level's TypeProto
 * and its Sequence / Map / Optional, plus the model and a ValueInfo. */
enum { MAX_FRAMES = 3 * CSM_MAX_ONNX_GRAPH_DEPTH + 2 * CSM_MAX_ONNX_TYPE_DEPTH + 8 };

csm_status csm_onnx_check_nesting(const char *path, const uint8_t *data, size_t len) {
  struct {
    msg type;
    const uint8_t *end;
  } stack[MAX_FRAMES];
  int top = 0, graphs = 0, types = 0;
  const uint8_t *p = data;
  stack[0].type = M_MODEL;
  stack[0].end = data + len;
  for (;;) {
    while (p == stack[top].end) { /* the message ends */
      if (top == 0) return CSM_OK;
      graphs -= stack[top].type == M_GRAPH;
      types -= stack[top].type == M_TYPE;
      top--;
    }
    const uint8_t *end = stack[top].end;
    uint64_t key, n;
    if (varint(&p, end, &key)) break;
    uint32_t field = (uint32_t)(key >> 3);
    if (key >> 3 == 0 || key >> 3 > 0x1fffffff) break; /* no such field number */
    switch (key & 7) {
    case 0:
      if (varint(&p, end, &n)) goto malformed;
      continue;
    case 1:
      if (end - p < 8) goto malformed;
      p += 8;
      continue;
    case 5:
      if (end - p < 4) goto malformed;
      p += 4;
      continue;
    case 2: break;
    default: goto malformed; /* groups: protobuf-c does not read them either */
    }
    if (varint(&p, end, &n) || n > (uint64_t)(end - p)) break;
    msg child;
    if (!child_of(stack[top].type, field, &child)) {
      p += n; /* a string, bytes, or a message that cannot recurse */
      continue;
    }
    if (child == M_GRAPH && ++graphs > CSM_MAX_ONNX_GRAPH_DEPTH)
      return csm_fail(CSM_EINPUT, "%s: subgraphs nested deeper than %d", path,
                      CSM_MAX_ONNX_GRAPH_DEPTH);
    if (child == M_TYPE && ++types > CSM_MAX_ONNX_TYPE_DEPTH)
      return csm_fail(CSM_EINPUT, "%s: types nested deeper than %d", path, CSM_MAX_ONNX_TYPE_DEPTH);
    if (top + 1 >= MAX_FRAMES) /* unreachable within the two limits */
      return csm_fail(CSM_EINPUT, "%s: messages nested deeper than %d", path, MAX_FRAMES);
    top++;
    stack[top].type = child;
    stack[top].end = p + n;
  }
malformed:
  /* protobuf-c would refuse these bytes too; say so in its words. */
  return csm_fail(CSM_EINPUT, "%s: not an ONNX model (protobuf parse failed)", path);
}
