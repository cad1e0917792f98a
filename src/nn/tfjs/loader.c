/* TF.js graph models (model.json + weight shards) into the graph IR.
 *
 * Inputs and outputs are chosen as tfjs-converter 4.22 does in
 * OperationMapper.transformGraph (operations/operation_mapper.js):
 *  - the signature is model.json's "signature", replaced by
 *    userDefinedMetadata.signature when that is present (GraphModel
 *    .loadWithWeightMap);
 *  - outputs: the signature's outputs, keyed by tensor name, in JavaScript
 *    property order; entries naming no node are dropped. Without signature
 *    outputs: every node that no other node consumes (control inputs
 *    count), in property order of the node map;
 *  - inputs: the signature's inputs in the same order, else the
 *    Placeholders in file order;
 *  - a node's display name is its signature key (an input's key wins over
 *    an output's, as it is assigned last), else its node name. */
#include "tfjs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* model.json files are at most a few MB; this only stops absurd reads. */
#define CSM_TFJS_MAX_JSON_BYTES ((size_t)1 << 30)

static csm_status read_text(const char *path, char **text, size_t *len) {
  return csm_read_file(path, CSM_TFJS_MAX_JSON_BYTES, text, len);
}

static csm_status parse_json(const char *path, const char *text, size_t len, cJSON **root) {
  const char *end = NULL;
  *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
  if (!*root) {
    size_t off = end && end >= text && end <= text + len ? (size_t)(end - text) : 0;
    size_t line = 1, col = 1;
    for (size_t i = 0; i < off; i++, col++)
      if (text[i] == '\n') line++, col = 0;
    return csm_fail(CSM_EINPUT, "%s: malformed JSON near line %zu column %zu", path, line, col);
  }
  if (!cJSON_IsObject(*root))
    return csm_fail(CSM_EINPUT, "%s: malformed JSON: the top level is not an object", path);
  return CSM_OK;
}

typedef struct loader {
  const char *path;
  csm_graph *g;
  const cJSON **jnodes; /* file order = IR index until toposort */
  int n;
  csm_tfjs_names names;
  char *consumed;   /* has a consumer (data or control): not a leaf output */
  const char **key; /* signature key per node, or NULL */
} loader;

static csm_status placeholder_value(const loader *L, const cJSON *jn, csm_node *node) {
  csm_tfjs_where w = {L->path, node->name};
  const cJSON *dt = csm_tfjs_attr(jn, "dtype");
  const cJSON *type = dt ? csm_tfjs_get(dt, "type") : NULL;
  int dtype = csm_tfjs_dtype(cJSON_IsString(type) ? type->valuestring : NULL);
  if (dtype < 0)
    return csm_fail(CSM_EUNSUPPORTED, "%s: Placeholder '%s' has unsupported dtype '%s'", L->path,
                    node->name, cJSON_IsString(type) ? type->valuestring : "(none)");
  const cJSON *shape = csm_tfjs_attr(jn, "shape");
  if (!shape)
    return csm_fail(CSM_EUNSUPPORTED, "%s: Placeholder '%s' has no shape", L->path, node->name);
  node->value.dtype = (csm_dtype)dtype;
  return csm_tfjs_shape(&w, csm_tfjs_get(shape, "shape"), 1, "shape", &node->value.shape);
}

/* Checks a node's JSON shape; *n_data gets its number of data inputs. */
static csm_status node_fields(const loader *L, int i, const cJSON *jn, int *n_data) {
  const cJSON *name = csm_tfjs_get(jn, "name");
  const cJSON *op = csm_tfjs_get(jn, "op");
  const cJSON *inputs = csm_tfjs_get(jn, "input");
  const cJSON *in;
  *n_data = 0;
  if (!cJSON_IsObject(jn) || !cJSON_IsString(name) || !*name->valuestring)
    return csm_fail(CSM_EINPUT, "%s: node %d has no name", L->path, i);
  if (!cJSON_IsString(op))
    return csm_fail(CSM_EINPUT, "%s: node '%s' has no op", L->path, name->valuestring);
  if (inputs && !cJSON_IsArray(inputs))
    return csm_fail(CSM_EINPUT, "%s: node '%s' has a malformed input list", L->path,
                    name->valuestring);
  cJSON_ArrayForEach(in, inputs) {
    if (!cJSON_IsString(in))
      return csm_fail(CSM_EINPUT, "%s: node '%s' has a non-string input", L->path,
                      name->valuestring);
    *n_data += in->valuestring[0] != '^';
  }
  return CSM_OK;
}

/* Pass 1: one IR node per TF node, inputs unresolved (-1). */
static csm_status add_nodes(loader *L) {
  csm_status st = CSM_OK;
  int cap = 0;
  int *unresolved = NULL;
  for (int i = 0; i < L->n && !st; i++) {
    const cJSON *jn = L->jnodes[i];
    int n_data, idx, dup;
    st = node_fields(L, i, jn, &n_data);
    if (st) break;
    if (n_data > cap) {
      int *grown = realloc(unresolved, (size_t)n_data * sizeof(int));
      if (!grown) {
        st = csm_fail(CSM_ENOMEM, "out of memory");
        break;
      }
      unresolved = grown;
      cap = n_data;
    }
    for (int k = 0; k < n_data; k++)
      unresolved[k] = -1;
    const char *name = csm_tfjs_get(jn, "name")->valuestring;
    const char *op = csm_tfjs_get(jn, "op")->valuestring;
    csm_tfjs_where w = {L->path, name};
    csm_op_kind kind;
    csm_attrs attrs;
    st = csm_tfjs_map_op(&w, jn, op, n_data, &kind, &attrs);
    if (!st) st = csm_graph_add(L->g, name, kind, n_data, unresolved, &idx);
    if (st) break;
    L->g->nodes[idx].a = attrs;
    if ((dup = csm_tfjs_names_add(&L->names, idx)) >= 0)
      st = csm_fail(CSM_EINPUT, "%s: duplicate node name '%s' (nodes %d and %d)", L->path, name,
                    dup, idx);
    else if (kind == CSM_OP_INPUT)
      st = placeholder_value(L, jn, &L->g->nodes[idx]);
  }
  free(unresolved);
  return st;
}

/* Pass 2: input names -> node indices. */
static csm_status resolve_inputs(loader *L) {
  for (int i = 0; i < L->n; i++) {
    csm_node *node = &L->g->nodes[i];
    const cJSON *in;
    int k = 0;
    cJSON_ArrayForEach(in, csm_tfjs_get(L->jnodes[i], "input")) {
      const char *s = in->valuestring;
      int control = s[0] == '^';
      size_t len;
      long index;
      if (csm_tfjs_split_name(s + control, &len, &index))
        return csm_fail(CSM_EINPUT, "%s: node '%s' has malformed input '%s'", L->path, node->name,
                        s);
      int src = csm_tfjs_names_find(&L->names, s + control, len);
      if (src < 0)
        return csm_fail(CSM_EINPUT, "%s: node '%s' has unknown input node '%.*s'", L->path,
                        node->name, (int)len, s + control);
      L->consumed[src] = 1;
      /* Control edges only order side effects, which no supported op has. */
      if (control) continue;
      if (index > 0)
        return csm_fail(CSM_EUNSUPPORTED,
                        "%s: node '%s' uses output %ld of node '%s' (multi-output ops are "
                        "unsupported)",
                        L->path, node->name, index, L->g->nodes[src].name);
      node->in[k++] = src;
    }
  }
  return CSM_OK;
}

/* Every Const has its weight, of the dtype and shape that its attr says. */
static csm_status check_consts(const loader *L) {
  for (int i = 0; i < L->n; i++) {
    const csm_node *node = &L->g->nodes[i];
    if (node->op != CSM_OP_CONST) continue;
    if (!node->value.data)
      return csm_fail(CSM_EINPUT, "%s: Const node '%s' has no weight in the weightsManifest",
                      L->path, node->name);
    const cJSON *value = csm_tfjs_attr(L->jnodes[i], "value");
    const cJSON *tensor = value ? csm_tfjs_get(value, "tensor") : NULL;
    const cJSON *dtype = tensor ? csm_tfjs_get(tensor, "dtype") : NULL;
    const cJSON *shape = tensor ? csm_tfjs_get(tensor, "tensorShape") : NULL;
    int declared = csm_tfjs_dtype(cJSON_IsString(dtype) ? dtype->valuestring : NULL);
    if (declared >= 0 && declared != (int)node->value.dtype)
      return csm_fail(CSM_EINPUT, "%s: Const node '%s' declares dtype %s but its weight is %s",
                      L->path, node->name, dtype->valuestring,
                      node->value.dtype == CSM_F32 ? "float32" : "int32");
    if (shape) {
      csm_tfjs_where w = {L->path, node->name};
      csm_shape s;
      char a[128], b[128];
      csm_status st = csm_tfjs_shape(&w, shape, 0, "value.tensor.tensorShape", &s);
      if (st) return st;
      if (!csm_shape_equal(&s, &node->value.shape))
        return csm_fail(CSM_EINPUT,
                        "%s: Const node '%s' declares shape %s but its weight has shape %s",
                        L->path, node->name, csm_shape_str(&s, a, sizeof a),
                        csm_shape_str(&node->value.shape, b, sizeof b));
    }
  }
  return CSM_OK;
}

/* A signature's inputs or outputs as (tensor name, key) pairs in the order
 * of JavaScript's Object.keys over mapSignatureEntries' result. */
typedef struct sig_list {
  int n;
  const char **names, **keys;
} sig_list;

static void sig_list_free(sig_list *s) {
  free(s->names);
  free(s->keys);
  memset(s, 0, sizeof *s);
}

static csm_status sig_entries(const char *path, const cJSON *sig, const char *field,
                              sig_list *out) {
  const cJSON *obj = cJSON_IsObject(sig) ? csm_tfjs_get(sig, field) : NULL;
  const cJSON *e;
  int n = 0, m;
  memset(out, 0, sizeof *out);
  if (!cJSON_IsObject(obj)) return CSM_OK;
  cJSON_ArrayForEach(e, obj) n++;
  const char **keys = csm_calloc((size_t)n + 1, sizeof *keys);
  const char **names = csm_calloc((size_t)n + 1, sizeof *names);
  const cJSON **items = csm_calloc((size_t)n + 1, sizeof *items);
  int *order = csm_calloc((size_t)n + 1, sizeof *order);
  out->names = csm_calloc((size_t)n + 1, sizeof *out->names);
  out->keys = csm_calloc((size_t)n + 1, sizeof *out->keys);
  csm_status st = CSM_OK;
  if (!keys || !names || !items || !order || !out->names || !out->keys) {
    st = CSM_ENOMEM;
    goto done;
  }
  n = 0;
  cJSON_ArrayForEach(e, obj) {
    keys[n] = e->string ? e->string : "";
    items[n++] = e;
  }
  if ((m = csm_tfjs_js_order(keys, n, 1, order)) < 0) {
    st = CSM_ENOMEM;
    goto done;
  }
  const char **ordered_keys = out->keys; /* reused as scratch for this pass */
  for (int i = 0; i < m; i++) {
    const cJSON *name = csm_tfjs_get(items[order[i]], "name");
    if (!cJSON_IsString(name)) {
      st = csm_fail(CSM_EINPUT, "%s: signature %s '%s' has no tensor name", path, field,
                    keys[order[i]]);
      goto done;
    }
    names[i] = name->valuestring;
    ordered_keys[i] = keys[order[i]];
  }
  memcpy(keys, ordered_keys, (size_t)m * sizeof *keys);
  if ((m = csm_tfjs_js_order(names, m, 1, order)) < 0) {
    st = CSM_ENOMEM;
    goto done;
  }
  out->n = m;
  for (int i = 0; i < out->n; i++) {
    out->names[i] = names[order[i]];
    out->keys[i] = keys[order[i]];
  }
done:
  free(keys);
  free(names);
  free(items);
  free(order);
  if (st) sig_list_free(out);
  return st;
}

/* The node a signature entry names (-1: none, skipped as TF.js does). */
static csm_status sig_node(const loader *L, const char *field, const char *tensor, int *idx) {
  size_t len;
  long index;
  *idx = -1;
  if (csm_tfjs_split_name(tensor, &len, &index))
    return csm_fail(CSM_EINPUT, "%s: signature %s names malformed tensor '%s'", L->path, field,
                    tensor);
  *idx = csm_tfjs_names_find(&L->names, tensor, len);
  if (*idx >= 0 && index > 0)
    return csm_fail(CSM_EUNSUPPORTED,
                    "%s: signature %s '%s' is output %ld of a node (multi-output ops are "
                    "unsupported)",
                    L->path, field, tensor, index);
  return CSM_OK;
}

static csm_status set_outputs(loader *L, const sig_list *outs) {
  csm_graph *g = L->g;
  int n = 0;
  int *order = NULL;
  const char **nodenames = NULL;
  g->outputs = csm_calloc((size_t)L->n + (size_t)outs->n + 1, sizeof *g->outputs);
  if (!g->outputs) return CSM_ENOMEM;
  if (outs->n > 0) {
    for (int i = 0; i < outs->n; i++) {
      int idx = -1;
      csm_status st = sig_node(L, "output", outs->names[i], &idx);
      if (st) return st;
      if (idx < 0) continue;
      L->key[idx] = outs->keys[i];
      g->outputs[n++] = idx;
    }
  } else {
    order = csm_calloc((size_t)L->n + 1, sizeof *order);
    nodenames = csm_calloc((size_t)L->n + 1, sizeof *nodenames);
    if (!order || !nodenames) {
      free(order);
      free(nodenames);
      return CSM_ENOMEM;
    }
    for (int i = 0; i < L->n; i++)
      nodenames[i] = g->nodes[i].name;
    int m = csm_tfjs_js_order(nodenames, L->n, 0, order);
    if (m < 0) n = -1;
    for (int i = 0; i < m; i++)
      if (!L->consumed[order[i]]) g->outputs[n++] = order[i];
    free(order);
    free(nodenames);
    if (n < 0) return CSM_ENOMEM;
  }
  if (n == 0) return csm_fail(CSM_EINPUT, "%s: the model has no outputs", L->path);
  g->n_outputs = n;
  return CSM_OK;
}

static csm_status set_inputs(loader *L, const sig_list *ins) {
  csm_graph *g = L->g;
  csm_status st = CSM_OK;
  g->inputs = csm_calloc((size_t)L->n + 1, sizeof *g->inputs);
  if (!g->inputs) return CSM_ENOMEM;
  if (ins->n == 0) {
    for (int i = 0; i < L->n; i++)
      if (g->nodes[i].op == CSM_OP_INPUT) g->inputs[g->n_inputs++] = i;
    return CSM_OK;
  }
  unsigned char *listed = csm_calloc((size_t)L->n + 1, 1); /* per node: a signature input */
  if (!listed) return CSM_ENOMEM;
  for (int i = 0; i < ins->n && !st; i++) {
    int idx = -1;
    if ((st = sig_node(L, "input", ins->names[i], &idx)) || idx < 0) continue;
    if (g->nodes[idx].op != CSM_OP_INPUT)
      st = csm_fail(CSM_EUNSUPPORTED, "%s: signature input '%s' is node '%s', not a Placeholder",
                    L->path, ins->keys[i], g->nodes[idx].name);
    else if (listed[idx])
      st =
          csm_fail(CSM_EINPUT, "%s: signature lists input '%s' twice", L->path, g->nodes[idx].name);
    else {
      listed[idx] = 1;
      L->key[idx] = ins->keys[i];
      g->inputs[g->n_inputs++] = idx;
    }
  }
  /* TF.js would only fail when running; the IR needs every input fed. */
  for (int i = 0; i < L->n && !st; i++)
    if (g->nodes[i].op == CSM_OP_INPUT && !listed[i])
      st = csm_fail(CSM_EINPUT, "%s: Placeholder '%s' is not among the signature inputs", L->path,
                    g->nodes[i].name);
  free(listed);
  return st;
}

static csm_status set_io(loader *L, const cJSON *root) {
  const cJSON *sig = csm_tfjs_get(root, "signature");
  const cJSON *meta = csm_tfjs_get(root, "userDefinedMetadata");
  const cJSON *meta_sig = cJSON_IsObject(meta) ? csm_tfjs_get(meta, "signature") : NULL;
  if (meta_sig && !cJSON_IsNull(meta_sig)) sig = meta_sig;
  sig_list ins, outs;
  csm_status st = sig_entries(L->path, sig, "inputs", &ins);
  if (!st)
    st = sig_entries(L->path, sig, "outputs", &outs);
  else
    memset(&outs, 0, sizeof outs);
  /* Outputs before inputs: TF.js sets signature keys in that order. */
  if (!st) st = set_outputs(L, &outs);
  if (!st) st = set_inputs(L, &ins);
  if (!st) {
    csm_graph *g = L->g;
    g->output_names = csm_calloc((size_t)g->n_outputs, sizeof *g->output_names);
    if (!g->output_names) st = CSM_ENOMEM;
    for (int i = 0; !st && i < g->n_outputs; i++) {
      int idx = g->outputs[i];
      g->output_names[i] = strdup(L->key[idx] ? L->key[idx] : g->nodes[idx].name);
      if (!g->output_names[i]) st = csm_fail(CSM_ENOMEM, "out of memory");
    }
  }
  sig_list_free(&ins);
  sig_list_free(&outs);
  return st;
}

static csm_status load(loader *L, const cJSON *root) {
  const cJSON *topo = csm_tfjs_get(root, "modelTopology");
  if (!cJSON_IsObject(topo))
    return csm_fail(CSM_EINPUT, "%s: no modelTopology object (not a TF.js graph model)", L->path);
  const cJSON *nodes = csm_tfjs_get(topo, "node");
  if (!cJSON_IsArray(nodes))
    return csm_fail(CSM_EINPUT, "%s: modelTopology has no node list", L->path);
  const cJSON *jn;
  cJSON_ArrayForEach(jn, nodes) L->n++;
  if (L->n == 0) return csm_fail(CSM_EINPUT, "%s: modelTopology has no nodes", L->path);
  if (L->n > CSM_MAX_GRAPH_NODES)
    return csm_fail(CSM_EINPUT, "%s: modelTopology has %d nodes, more than csm's limit of %d",
                    L->path, L->n, CSM_MAX_GRAPH_NODES);
  L->jnodes = csm_calloc((size_t)L->n, sizeof *L->jnodes);
  L->consumed = csm_calloc((size_t)L->n, 1);
  L->key = csm_calloc((size_t)L->n, sizeof *L->key);
  if (!L->jnodes || !L->consumed || !L->key) return CSM_ENOMEM;
  int i = 0;
  cJSON_ArrayForEach(jn, nodes) L->jnodes[i++] = jn;

  csm_status st = csm_tfjs_names_init(&L->names, L->g, (size_t)L->n);
  if (!st) st = add_nodes(L);
  if (!st) st = resolve_inputs(L);
  if (!st) {
    char *dir = NULL; /* shards must lie in it */
    st = csm_model_folder(L->path, &dir);
    if (!st)
      st = csm_tfjs_load_weights(L->path, dir, csm_tfjs_get(root, "weightsManifest"), L->g,
                                 &L->names);
    free(dir);
  }
  if (!st) st = check_consts(L);
  if (!st) st = set_io(L, root);
  if (!st) {
    st = csm_graph_toposort(L->g);
    if (st) csm_fail_context(st, "%s: ", L->path);
  }
  return st;
}

csm_status csm_tfjs_load(const char *model_json_path, csm_graph *g) {
  const char *path = model_json_path;
  char *text = NULL;
  size_t len = 0;
  cJSON *root = NULL;
  loader L;
  csm_status st;
  if (!g) return csm_fail(CSM_EUSAGE, "csm_tfjs_load: no graph given");
  memset(g, 0, sizeof *g);
  memset(&L, 0, sizeof L);
  if (!path || !*path) return csm_fail(CSM_EUSAGE, "csm_tfjs_load: no model path given");
  g->path = strdup(path);
  if (!g->path) return csm_fail(CSM_ENOMEM, "out of memory");
  L.path = path;
  L.g = g;
  st = read_text(path, &text, &len);
  if (!st) st = parse_json(path, text, len, &root);
  if (!st) st = load(&L, root);
  csm_tfjs_names_free(&L.names);
  free(L.jnodes);
  free(L.consumed);
  free(L.key);
  cJSON_Delete(root);
  free(text);
  if (st) csm_graph_free(g); /* leaves it zeroed: freeing again is harmless */
  return st;
}
