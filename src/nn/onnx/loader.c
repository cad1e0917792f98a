/* ONNX models (ModelProto, opsets 11-17) into the graph IR.
 *
 * Order of work: parse, check the opset, count every value's uses (mappers
 * see them, e.g. to skip unused outputs), initializers become constants,
 * the remaining graph inputs become INPUT nodes, then each node is mapped in
 * file order by the operator mappers (ops_*.c), the graph outputs are
 * resolved in ONNX's own layout, and the graph is simplified, sorted and
 * shape-checked once with the declared input shapes, so that a model with
 * inconsistent shapes fails here rather than on its first run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "nn/plan.h"
#include "onnx_internal.h"

/* Larger than any model we mean to run, small enough to stop a bad path
 * (a disk image) from being read into memory. Protobuf itself caps a
 * message at 2 GiB; larger models keep weights in external data. */
#define CSM_ONNX_MAX_FILE_BYTES ((uint64_t)4 << 30)

csm_status csm_onnx_fail(const csm_onnx_ctx *c, csm_status st, const char *fmt, ...) {
  char msg[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  const Onnx__NodeProto *n = c->node;
  if (!n) return csm_fail(st, "%s: %s", c->path, msg);
  const char *name = n->name && *n->name                            ? n->name
                     : n->n_output && n->output[0] && *n->output[0] ? n->output[0]
                                                                    : "(unnamed)";
  return csm_fail(st, "%s: node '%s' (%s): %s", c->path, name,
                  n->op_type && *n->op_type ? n->op_type : "?", msg);
}

static csm_status read_file(const char *path, uint8_t **data, size_t *len) {
  char *buf;
  *data = NULL;
  csm_status st = csm_read_file(path, CSM_ONNX_MAX_FILE_BYTES, &buf, len);
  if (st) return st;
  if (*len == 0) {
    free(buf);
    return csm_fail(CSM_EINPUT, "%s: not an ONNX model (empty file)", path);
  }
  *data = (uint8_t *)buf;
  return CSM_OK;
}

static int default_domain(const char *d) { return !d || !*d || strcmp(d, "ai.onnx") == 0; }

static csm_status check_opset(csm_onnx_ctx *c) {
  const Onnx__ModelProto *m = c->model;
  c->opset = -1;
  for (size_t i = 0; i < m->n_opset_import; i++) {
    const Onnx__OperatorSetIdProto *o = m->opset_import[i];
    if (o && default_domain(o->domain)) c->opset = o->has_version ? (int)o->version : 0;
    if (o && default_domain(o->domain) && (o->version < 0 || o->version > 1000000))
      c->opset = 0; /* nonsense, reported below */
  }
  if (c->opset < 0)
    return csm_onnx_fail(c, CSM_EINPUT, "no opset_import for the default ONNX domain");
  if (c->opset < CSM_ONNX_OPSET_MIN || c->opset > CSM_ONNX_OPSET_MAX)
    return csm_onnx_fail(c, CSM_EUNSUPPORTED,
                         "opset %d of the default domain is not supported (csm supports %d-%d)",
                         c->opset, CSM_ONNX_OPSET_MIN, CSM_ONNX_OPSET_MAX);
  return CSM_OK;
}

/* Every value read by a node or the graph's outputs, with its use count.
 * Node outputs are entered too (unread ones with 0 uses), so that the table
 * does not grow while mappers hold csm_onnx_value pointers into it. */
static csm_status count_uses(csm_onnx_ctx *c) {
  const Onnx__GraphProto *gp = c->model->graph;
  csm_onnx_value *v;
  csm_status st;
  if (gp->n_node > CSM_MAX_GRAPH_NODES)
    return csm_onnx_fail(c, CSM_EINPUT, "the graph has %zu nodes, more than csm's limit of %d",
                         gp->n_node, CSM_MAX_GRAPH_NODES);
  for (size_t i = 0; i < gp->n_node; i++) {
    const Onnx__NodeProto *n = gp->node[i];
    for (size_t k = 0; n && k < n->n_input; k++) {
      if (!n->input[k] || !n->input[k][0]) continue; /* absent optional input */
      if ((st = csm_onnx_value_entry(c, n->input[k], &v))) return st;
      v->uses++;
    }
    for (size_t k = 0; n && k < n->n_output; k++)
      if (n->output[k] && n->output[k][0] && (st = csm_onnx_value_entry(c, n->output[k], &v)))
        return st;
  }
  for (size_t i = 0; i < gp->n_output; i++) {
    const Onnx__ValueInfoProto *o = gp->output[i];
    if (!o || !o->name || !*o->name)
      return csm_onnx_fail(c, CSM_EINPUT, "graph output %zu has no name", i);
    if ((st = csm_onnx_value_entry(c, o->name, &v))) return st;
    v->uses++;
  }
  return CSM_OK;
}

static csm_status add_initializers(csm_onnx_ctx *c) {
  const Onnx__GraphProto *gp = c->model->graph;
  char what[320];
  csm_status st;
  if (gp->n_sparse_initializer)
    return csm_onnx_fail(c, CSM_EUNSUPPORTED, "sparse initializers are not supported");
  for (size_t i = 0; i < gp->n_initializer; i++) {
    const Onnx__TensorProto *t = gp->initializer[i];
    if (!t || !t->name || !*t->name)
      return csm_onnx_fail(c, CSM_EINPUT, "initializer %zu has no name", i);
    if (csm_onnx_value_get(c, t->name) && csm_onnx_value_get(c, t->name)->logical >= 0)
      return csm_onnx_fail(c, CSM_EINPUT, "initializer '%s' appears twice", t->name);
    snprintf(what, sizeof what, "initializer '%.256s'", t->name);
    csm_tensor value;
    int idx;
    if ((st = csm_onnx_tensor_read(c, t, what, &value))) return st;
    if ((st = csm_onnx_add(c, t->name, CSM_OP_CONST, 0, NULL, NULL, &idx))) {
      csm_tensor_free(&value);
      return st;
    }
    c->g->nodes[idx].value = value;
    if ((st = csm_onnx_define(c, t->name, idx, -1, value.shape.rank))) return st;
  }
  return CSM_OK;
}

/* A graph input's declared type: float only; a dim_param or a missing
 * dim_value is a run-time dimension (-1). */
static csm_status input_shape(csm_onnx_ctx *c, const Onnx__ValueInfoProto *in, csm_shape *s) {
  const Onnx__TypeProto *tp = in->type;
  if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type)
    return csm_onnx_fail(c, CSM_EUNSUPPORTED, "graph input '%s' is not a tensor", in->name);
  const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
  if (!tt->has_elem_type || tt->elem_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
    return csm_onnx_fail(c, CSM_EUNSUPPORTED,
                         "graph input '%s' has element type %d; only float inputs are supported",
                         in->name, tt->has_elem_type ? (int)tt->elem_type : 0);
  if (!tt->shape)
    return csm_onnx_fail(c, CSM_EUNSUPPORTED, "graph input '%s' has no shape (unknown rank)",
                         in->name);
  if (tt->shape->n_dim > CSM_MAX_RANK)
    return csm_onnx_fail(c, CSM_EUNSUPPORTED, "graph input '%s' has rank %zu, at most %d", in->name,
                         tt->shape->n_dim, CSM_MAX_RANK);
  s->rank = (int)tt->shape->n_dim;
  for (int k = 0; k < s->rank; k++) {
    const Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[k];
    s->d[k] = -1;
    if (d && d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE) {
      if (d->dim_value < 0 || d->dim_value > INT32_MAX)
        return csm_onnx_fail(c, CSM_EINPUT, "graph input '%s' has dimension %d = %lld", in->name, k,
                             (long long)d->dim_value);
      s->d[k] = d->dim_value;
    }
  }
  return CSM_OK;
}

/* ONNX images are NCHW by convention, but models converted from TensorFlow
 * (tf2onnx) often keep an NHWC input and transpose inside: an input whose
 * last dimension is a channel count of an image (1 or 3) and whose second
 * is not is taken as it is declared, channels-last. */
static int plainly_channels_last(const csm_shape *s) {
  const int64_t c1 = s->d[1], c3 = s->d[3];
  return (c3 == 1 || c3 == 3) && !(c1 == 1 || c1 == 3);
}

static csm_status add_inputs(csm_onnx_ctx *c) {
  const Onnx__GraphProto *gp = c->model->graph;
  csm_graph *g = c->g;
  csm_status st;
  g->inputs = csm_calloc(gp->n_input + 1, sizeof *g->inputs);
  g->input_channels_first = csm_calloc(gp->n_input + 1, 1);
  if (!g->inputs || !g->input_channels_first) return CSM_ENOMEM;
  for (size_t i = 0; i < gp->n_input; i++) {
    const Onnx__ValueInfoProto *in = gp->input[i];
    if (!in || !in->name || !*in->name)
      return csm_onnx_fail(c, CSM_EINPUT, "graph input %zu has no name", i);
    const csm_onnx_value *v = csm_onnx_value_get(c, in->name);
    /* IR < 4 lists initializers among the inputs too: they stay constant. */
    if (v && v->logical >= 0 && g->nodes[v->logical].op == CSM_OP_CONST) continue;
    csm_shape s;
    int idx;
    if ((st = input_shape(c, in, &s))) return st;
    if ((st = csm_onnx_add(c, in->name, CSM_OP_INPUT, 0, NULL, NULL, &idx))) return st;
    g->nodes[idx].value.dtype = CSM_F32;
    g->nodes[idx].value.shape = s;
    if ((st = csm_onnx_define(c, in->name, idx, -1, s.rank))) return st;
    g->input_channels_first[g->n_inputs] = s.rank == 4 && !plainly_channels_last(&s);
    g->inputs[g->n_inputs++] = idx;
  }
  return CSM_OK;
}

static csm_status map_nodes(csm_onnx_ctx *c) {
  const Onnx__GraphProto *gp = c->model->graph;
  csm_status st;
  for (size_t i = 0; i < gp->n_node; i++) {
    const Onnx__NodeProto *n = gp->node[i];
    c->node = n;
    if (!n->op_type || !*n->op_type) return csm_onnx_fail(c, CSM_EINPUT, "node has no op_type");
    /* Checked here rather than left to each mapper, so that a missing
     * initializer is reported the same way whatever the operator. */
    for (size_t k = 0; k < n->n_input; k++) {
      const csm_onnx_value *v =
          n->input[k] && *n->input[k] ? csm_onnx_value_get(c, n->input[k]) : NULL;
      if (v && v->logical < 0 && v->nhwc < 0)
        return csm_onnx_fail(c, CSM_EINPUT, "input '%s' is not produced by any node or initializer",
                             v->name);
    }
    if (!default_domain(n->domain))
      return csm_onnx_fail(c, CSM_EUNSUPPORTED, "unsupported operator (domain '%s')", n->domain);
    csm_onnx_mapper map = csm_onnx_find_mapper(n->op_type);
    if (!map) return csm_onnx_fail(c, CSM_EUNSUPPORTED, "unsupported operator");
    if ((st = map(c))) return st;
    /* A used output that the mapper left undefined would surface later as
     * a confusing "not produced by any node" at its consumer. */
    for (size_t k = 0; k < n->n_output; k++) {
      const csm_onnx_value *v =
          n->output[k] && *n->output[k] ? csm_onnx_value_get(c, n->output[k]) : NULL;
      if (v && v->uses > 0 && v->logical < 0 && v->nhwc < 0)
        return csm_onnx_fail(c, CSM_EUNSUPPORTED, "output %zu ('%s') is not supported", k, v->name);
    }
  }
  c->node = NULL;
  return CSM_OK;
}

static csm_status set_outputs(csm_onnx_ctx *c) {
  const Onnx__GraphProto *gp = c->model->graph;
  csm_graph *g = c->g;
  csm_status st;
  if (gp->n_output == 0) return csm_onnx_fail(c, CSM_EINPUT, "the model has no outputs");
  g->outputs = csm_calloc(gp->n_output, sizeof *g->outputs);
  g->output_names = csm_calloc(gp->n_output, sizeof *g->output_names);
  if (!g->outputs || !g->output_names) return CSM_ENOMEM;
  for (size_t i = 0; i < gp->n_output; i++) {
    const char *name = gp->output[i]->name; /* checked by count_uses */
    csm_onnx_value *v = csm_onnx_value_get(c, name);
    if (!v || (v->logical < 0 && v->nhwc < 0))
      return csm_onnx_fail(c, CSM_EINPUT,
                           "graph output '%s' is not produced by any node or initializer", name);
    int idx;
    if ((st = csm_onnx_logical(c, v, &idx))) return st;
    /* Counted only once set, so that csm_graph_free sees a consistent graph. */
    if (!(g->output_names[i] = strdup(name))) return csm_fail(CSM_ENOMEM, "out of memory");
    g->outputs[i] = idx;
    g->n_outputs = (int)i + 1;
  }
  return CSM_OK;
}

/* Shape inference over the whole graph with the declared input shapes
 * (run-time dimensions as 1), so that inconsistencies fail at load with the
 * planner's message naming the node. */
static csm_status validate(const csm_graph *g) {
  csm_shape *shapes = csm_calloc((size_t)g->n_inputs + 1, sizeof *shapes);
  if (!shapes) return CSM_ENOMEM;
  for (int i = 0; i < g->n_inputs; i++) {
    shapes[i] = g->nodes[g->inputs[i]].value.shape;
    for (int k = 0; k < shapes[i].rank; k++)
      if (shapes[i].d[k] < 0) shapes[i].d[k] = 1;
  }
  csm_plan_options opt = {.shapes_only = 1};
  csm_plan *p = NULL;
  csm_status st = csm_plan_create(g, shapes, &opt, &p);
  csm_plan_free(p);
  free(shapes);
  return st;
}

static void ctx_free(csm_onnx_ctx *c) {
  for (int i = 0; i < c->n_values; i++)
    free(c->values[i].name);
  free(c->values);
  free(c->slot);
  free(c->name_slot);
  free(c->dir);
  if (c->model) onnx__model_proto__free_unpacked(c->model, NULL);
}

csm_status csm_onnx_load(const char *path, csm_graph *g) {
  csm_onnx_ctx c;
  uint8_t *bytes = NULL;
  size_t len = 0;
  memset(&c, 0, sizeof c);
  memset(g, 0, sizeof *g);
  c.path = path;
  c.g = g;
  if (!(g->path = strdup(path))) return csm_fail(CSM_ENOMEM, "out of memory");
  csm_status st = read_file(path, &bytes, &len);
  if (!st) st = csm_model_folder(path, &c.dir); /* external data must lie in it */
  if (!st) st = csm_onnx_check_nesting(path, bytes, len);
  if (!st) {
    c.model = onnx__model_proto__unpack(NULL, len, bytes);
    free(bytes);
    bytes = NULL;
    if (!c.model)
      st = csm_fail(CSM_EINPUT, "%s: not an ONNX model (protobuf parse failed)", path);
    else if (!c.model->graph)
      st = csm_fail(CSM_EINPUT, "%s: not an ONNX model (no graph)", path);
  }
  if (!st) st = check_opset(&c);
  if (!st) st = count_uses(&c);
  if (!st) st = add_initializers(&c);
  if (!st) st = add_inputs(&c);
  if (!st) st = map_nodes(&c);
  if (!st) st = set_outputs(&c);
  if (!st && (st = csm_graph_simplify(g))) csm_fail_context(st, "%s: ", path);
  if (!st && (st = csm_graph_toposort(g))) csm_fail_context(st, "%s: ", path);
  if (!st) st = validate(g);
  free(bytes);
  ctx_free(&c);
  return st;
}
