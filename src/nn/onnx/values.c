/* ONNX values and their IR materializations (see onnx_internal.h), IR node
 * naming and constants for mappers.
 *
 * The value table is filled before any node is mapped (the loader counts
 * every value's uses first), so an entry may exist without being defined
 * yet: logical == nhwc == -1 means "not produced (yet)". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_internal.h"

static size_t hash_str(const char *s) {
  size_t h = 1469598103934665603u; /* FNV-1a: fast, good enough for names */
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211u;
  return h;
}

/* ---- Value table -------------------------------------------------------- */

static csm_status values_rehash(csm_onnx_ctx *c, size_t slots) {
  int *slot = csm_calloc(slots, sizeof *slot);
  if (!slot) return CSM_ENOMEM;
  for (int i = 0; i < c->n_values; i++) {
    size_t h = hash_str(c->values[i].name) & (slots - 1);
    while (slot[h])
      h = (h + 1) & (slots - 1);
    slot[h] = i + 1;
  }
  free(c->slot);
  c->slot = slot;
  c->mask = slots - 1;
  return CSM_OK;
}

csm_onnx_value *csm_onnx_value_get(csm_onnx_ctx *c, const char *name) {
  if (!c->slot || !name) return NULL;
  for (size_t h = hash_str(name) & c->mask; c->slot[h]; h = (h + 1) & c->mask) {
    csm_onnx_value *v = &c->values[c->slot[h] - 1];
    if (strcmp(v->name, name) == 0) return v;
  }
  return NULL;
}

csm_status csm_onnx_value_entry(csm_onnx_ctx *c, const char *name, csm_onnx_value **out) {
  csm_onnx_value *v = csm_onnx_value_get(c, name);
  csm_status st;
  if (v) {
    *out = v;
    return CSM_OK;
  }
  /* Keep the table at most half full so probes stay short. */
  if (!c->slot || (size_t)(c->n_values + 1) * 2 > c->mask + 1) {
    size_t slots = c->slot ? (c->mask + 1) * 2 : 64;
    if ((st = values_rehash(c, slots))) return st;
  }
  if (c->n_values == c->cap_values) {
    int cap = c->cap_values ? c->cap_values * 2 : 64;
    csm_onnx_value *grown = realloc(c->values, (size_t)cap * sizeof *grown);
    if (!grown) return csm_fail(CSM_ENOMEM, "out of memory growing the value table");
    c->values = grown;
    c->cap_values = cap;
  }
  v = &c->values[c->n_values];
  memset(v, 0, sizeof *v);
  if (!(v->name = strdup(name))) return csm_fail(CSM_ENOMEM, "out of memory");
  v->logical = v->nhwc = -1;
  v->rank = -1;
  size_t h = hash_str(name) & c->mask;
  while (c->slot[h])
    h = (h + 1) & c->mask;
  c->slot[h] = ++c->n_values;
  *out = v;
  return CSM_OK;
}

static int defined(const csm_onnx_value *v) { return v && (v->logical >= 0 || v->nhwc >= 0); }

csm_status csm_onnx_input(csm_onnx_ctx *c, int k, int optional, csm_onnx_value **out) {
  const Onnx__NodeProto *n = c->node;
  *out = NULL;
  if (!n || k < 0 || (size_t)k >= n->n_input || !n->input[k] || !n->input[k][0]) {
    if (optional) return CSM_OK;
    return csm_onnx_fail(c, CSM_EINPUT, "required input %d is missing", k);
  }
  csm_onnx_value *v = csm_onnx_value_get(c, n->input[k]);
  if (!defined(v))
    return csm_onnx_fail(c, CSM_EINPUT, "input '%s' is not produced by any node or initializer",
                         n->input[k]);
  *out = v;
  return CSM_OK;
}

csm_status csm_onnx_define(csm_onnx_ctx *c, const char *name, int logical, int nhwc, int rank) {
  csm_onnx_value *v;
  if (!name || !*name) return csm_onnx_fail(c, CSM_EINPUT, "a value has an empty name");
  if (logical < 0 && nhwc < 0)
    return csm_onnx_fail(c, CSM_EINTERNAL, "value '%s' defined without an IR node", name);
  csm_status st = csm_onnx_value_entry(c, name, &v);
  if (st) return st;
  if (defined(v)) return csm_onnx_fail(c, CSM_EINPUT, "value '%s' is produced twice", name);
  v->logical = logical;
  v->nhwc = nhwc;
  v->rank = nhwc >= 0 ? 4 : rank;
  return CSM_OK;
}

int csm_onnx_has_nhwc(const csm_onnx_value *v) { return v && v->nhwc >= 0; }

/* A TRANSPOSE of node `src` named "<value><suffix>". */
static csm_status add_transpose(csm_onnx_ctx *c, const csm_onnx_value *v, int src,
                                const int perm[4], const char *suffix, int *node) {
  csm_attrs a = csm_attrs_default();
  size_t len = strlen(v->name) + strlen(suffix) + 1;
  char *name = csm_malloc(len);
  if (!name) return CSM_ENOMEM;
  snprintf(name, len, "%s%s", v->name, suffix);
  memcpy(a.perm, perm, 4 * sizeof *perm);
  a.n_perm = 4;
  csm_status st = csm_onnx_add(c, name, CSM_OP_TRANSPOSE, 1, &src, &a, node);
  free(name);
  return st;
}

csm_status csm_onnx_logical(csm_onnx_ctx *c, csm_onnx_value *v, int *node) {
  static const int to_nchw[4] = {0, 3, 1, 2};
  if (v->logical >= 0) {
    *node = v->logical;
    return CSM_OK;
  }
  if (v->nhwc < 0)
    return csm_onnx_fail(c, CSM_EINPUT, "value '%s' is not produced by any node or initializer",
                         v->name);
  csm_status st = add_transpose(c, v, v->nhwc, to_nchw, "/nchw", node);
  if (!st) v->logical = *node;
  return st;
}

csm_status csm_onnx_nhwc(csm_onnx_ctx *c, csm_onnx_value *v, int *node) {
  static const int to_nhwc[4] = {0, 2, 3, 1};
  if (v->nhwc >= 0) {
    *node = v->nhwc;
    return CSM_OK;
  }
  if (v->logical < 0)
    return csm_onnx_fail(c, CSM_EINPUT, "value '%s' is not produced by any node or initializer",
                         v->name);
  /* Unknown rank (-1) is left to the planner, which checks the transpose. */
  if (v->rank >= 0 && v->rank != 4)
    return csm_onnx_fail(c, CSM_EUNSUPPORTED,
                         "value '%s' has rank %d where a rank-4 NCHW value "
                         "is needed",
                         v->name, v->rank);
  csm_status st = add_transpose(c, v, v->logical, to_nhwc, "/nhwc", node);
  if (!st) v->nhwc = *node;
  return st;
}

int csm_onnx_nhwc_axis(int axis) {
  static const int map[4] = {0, 3, 1, 2};
  return axis >= 0 && axis < 4 ? map[axis] : -1;
}

/* ---- IR node names ------------------------------------------------------ */

static int name_find(const csm_onnx_ctx *c, const char *name) {
  for (size_t h = hash_str(name) & c->name_mask; c->name_slot[h]; h = (h + 1) & c->name_mask) {
    int i = c->name_slot[h] - 1;
    if (strcmp(c->g->nodes[i].name, name) == 0) return i;
  }
  return -1;
}

static void name_insert(csm_onnx_ctx *c, int i) {
  size_t h = hash_str(c->g->nodes[i].name) & c->name_mask;
  while (c->name_slot[h])
    h = (h + 1) & c->name_mask;
  c->name_slot[h] = i + 1;
}

/* Indexes every node (including any added without csm_onnx_add), with room
 * for one more, keeping the table at most half full. */
static csm_status names_sync(csm_onnx_ctx *c) {
  int n = c->g->n_nodes;
  if (!c->name_slot || (size_t)(n + 1) * 2 > c->name_mask + 1) {
    size_t slots = 64;
    while ((size_t)(n + 1) * 2 > slots)
      slots *= 2;
    int *slot = csm_calloc(slots, sizeof *slot);
    if (!slot) return CSM_ENOMEM;
    free(c->name_slot);
    c->name_slot = slot;
    c->name_mask = slots - 1;
    c->n_named = 0;
  }
  for (; c->n_named < n; c->n_named++)
    name_insert(c, c->n_named);
  return CSM_OK;
}

csm_status csm_onnx_add(csm_onnx_ctx *c, const char *name, csm_op_kind op, int n_in, const int *in,
                        const csm_attrs *a, int *index) {
  csm_status st = names_sync(c);
  if (st) return st;
  if (!name || !*name) name = csm_op_name(op) ? csm_op_name(op) : "node";
  char *unique = NULL;
  if (name_find(c, name) >= 0) {
    size_t len = strlen(name) + 24;
    if (!(unique = csm_malloc(len))) return CSM_ENOMEM;
    for (long k = 1;; k++) {
      snprintf(unique, len, "%s_%ld", name, k);
      if (name_find(c, unique) < 0) break;
    }
    name = unique;
  }
  st = csm_graph_add(c->g, name, op, n_in, in, index);
  free(unique);
  if (st) return st;
  /* IR names appear in the planner's messages, which must stay one line. */
  for (char *p = c->g->nodes[*index].name; *p; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
  if (a) c->g->nodes[*index].a = *a;
  /* names_sync left room for this one. */
  name_insert(c, *index);
  c->n_named = c->g->n_nodes;
  return CSM_OK;
}

/* ---- Constants ----------------------------------------------------------- */

static csm_status add_const(csm_onnx_ctx *c, const char *name, csm_dtype dtype,
                            const csm_shape *shape, const void *data, int *index) {
  csm_tensor t = {0};
  csm_status st = csm_tensor_alloc(&t, dtype, shape);
  if (st) return st;
  size_t n = csm_tensor_numel(&t);
  if (n) memcpy(t.data, data, n * 4);
  st = csm_onnx_add(c, name, CSM_OP_CONST, 0, NULL, NULL, index);
  if (st) {
    csm_tensor_free(&t);
    return st;
  }
  c->g->nodes[*index].value = t;
  return CSM_OK;
}

csm_status csm_onnx_const_f32(csm_onnx_ctx *c, const char *name, const csm_shape *shape,
                              const float *data, int *index) {
  return add_const(c, name, CSM_F32, shape, data, index);
}

csm_status csm_onnx_const_i32(csm_onnx_ctx *c, const char *name, const csm_shape *shape,
                              const int32_t *data, int *index) {
  return add_const(c, name, CSM_I32, shape, data, index);
}

const csm_tensor *csm_onnx_const_of(csm_onnx_ctx *c, const csm_onnx_value *v) {
  if (!v || v->logical < 0 || v->logical >= c->g->n_nodes) return NULL;
  const csm_node *n = &c->g->nodes[v->logical];
  return n->op == CSM_OP_CONST && n->value.data ? &n->value : NULL;
}

csm_status csm_onnx_const_ints(csm_onnx_ctx *c, const csm_onnx_value *val, const char *what,
                               int64_t *v, int max, int *count) {
  const csm_tensor *t = csm_onnx_const_of(c, val);
  *count = 0;
  if (!t || t->dtype != CSM_I32 || t->shape.rank > 1)
    return csm_onnx_fail(c, CSM_EUNSUPPORTED, "%s ('%s') must be a constant integer vector", what,
                         val ? val->name : "?");
  size_t n = csm_tensor_numel(t);
  if (n > (size_t)max)
    return csm_onnx_fail(c, CSM_EUNSUPPORTED, "%s ('%s') has %zu entries, at most %d supported",
                         what, val->name, n, max);
  for (size_t i = 0; i < n; i++)
    v[i] = ((const int32_t *)t->data)[i];
  *count = (int)n;
  return CSM_OK;
}
