/* Shape and data-movement operators: Flatten, Reshape, Transpose, Concat,
 * Split, Slice, Squeeze, Unsqueeze, Pad, Identity, Dropout, Constant, Shape,
 * Gather, Expand and Cast.
 *
 * Ops whose meaning depends on the dimension order (Reshape, Flatten,
 * Transpose, Shape, Gather, Expand) work in ONNX's layout; Concat, Split,
 * Slice, Pad and Squeeze work on an NHWC input in place, with mapped axes,
 * when the input is available as NHWC. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_internal.h"

/* ONNX axis of NHWC position q (inverse of csm_onnx_nhwc_axis). */
static const int from_nhwc[4] = {0, 2, 3, 1};

/* 1 if the rank-4 value v is to be worked on as NHWC. */
static int use_nhwc(const csm_onnx_value *v) { return csm_onnx_has_nhwc(v) && v->rank == 4; }

static csm_status layout_of(csm_onnx_ctx *c, csm_onnx_value *v, int nhwc, int *node) {
  return nhwc ? csm_onnx_nhwc(c, v, node) : csm_onnx_logical(c, v, node);
}

/* ---- Lengths of shape vectors ------------------------------------------------ */

static const Onnx__NodeProto *producer(const csm_onnx_ctx *c, const char *name) {
  const Onnx__GraphProto *g = c->model ? c->model->graph : NULL;
  for (size_t i = 0; g && i < g->n_node; i++)
    for (size_t k = 0; g->node[i] && k < g->node[i]->n_output; k++)
      if (g->node[i]->output[k] && !strcmp(g->node[i]->output[k], name)) return g->node[i];
  return NULL;
}

static int64_t attr_int_of(const Onnx__NodeProto *n, const char *name, int64_t def) {
  for (size_t i = 0; i < n->n_attribute; i++)
    if (n->attribute[i]->name && !strcmp(n->attribute[i]->name, name)) return n->attribute[i]->i;
  return def;
}

/* The length of [s, e) over a vector of len entries, with ONNX's rules for
 * negative and out-of-range bounds (Shape's start/end, Slice with step 1). */
static int range_len(int64_t s, int64_t e, int64_t len) {
  s = s < 0 ? s + len : s;
  e = e < 0 ? e + len : e;
  s = s < 0 ? 0 : s > len ? len : s;
  e = e < 0 ? 0 : e > len ? len : e;
  return e > s ? (int)(e - s) : 0;
}

static int vec_len(csm_onnx_ctx *c, const char *name, int depth) {
  csm_onnx_value *v = csm_onnx_value_get(c, name);
  if (!v || depth > 32) return -1;
  const csm_tensor *t = csm_onnx_const_of(c, v);
  if (t) return t->shape.rank == 1 ? (int)t->shape.d[0] : -1;
  const Onnx__NodeProto *n = producer(c, name);
  if (!n || n->n_input < 1) return -1;
  const char *op = n->op_type;
  if (!strcmp(op, "Shape")) {
    csm_onnx_value *x = csm_onnx_value_get(c, n->input[0]);
    if (!x || x->rank < 0) return -1;
    return range_len(attr_int_of(n, "start", 0), attr_int_of(n, "end", x->rank), x->rank);
  }
  if (!strcmp(op, "Concat")) {
    int sum = 0;
    for (size_t k = 0; k < n->n_input; k++) {
      int l = vec_len(c, n->input[k], depth + 1);
      if (l < 0) return -1;
      sum += l;
    }
    return sum;
  }
  if (!strcmp(op, "Unsqueeze")) {
    csm_onnx_value *x = csm_onnx_value_get(c, n->input[0]);
    return x && x->rank == 0 ? 1 : -1;
  }
  if (!strcmp(op, "Cast") || !strcmp(op, "Identity") || !strcmp(op, "Neg") || !strcmp(op, "Abs")) {
    return vec_len(c, n->input[0], depth + 1);
  }
  if (!strcmp(op, "Add") || !strcmp(op, "Sub") || !strcmp(op, "Mul") || !strcmp(op, "Div") ||
      !strcmp(op, "Max") || !strcmp(op, "Min")) {
    int len = 0;
    for (size_t k = 0; k < n->n_input; k++) {
      csm_onnx_value *x = csm_onnx_value_get(c, n->input[k]);
      if (!x || x->rank < 0 || x->rank > 1) return -1;
      int l = x->rank == 0 ? 1 : vec_len(c, n->input[k], depth + 1);
      if (l < 0) return -1;
      if (l > len) len = l;
    }
    return len;
  }
  if (!strcmp(op, "Gather") && n->n_input >= 2) {
    csm_onnx_value *idx = csm_onnx_value_get(c, n->input[1]);
    const csm_tensor *it = csm_onnx_const_of(c, idx);
    return it && it->shape.rank == 1 ? (int)it->shape.d[0] : -1;
  }
  if (!strcmp(op, "Slice") && n->n_input >= 3) { /* of a vector, constant bounds */
    const int64_t len = vec_len(c, n->input[0], depth + 1);
    const csm_tensor *t[4] = {NULL, NULL, NULL, NULL};
    for (size_t k = 1; k < n->n_input && k <= 4; k++)
      if (n->input[k][0]) t[k - 1] = csm_onnx_const_of(c, csm_onnx_value_get(c, n->input[k]));
    if (len < 0 || !t[0] || !t[1] || csm_tensor_numel(t[0]) != 1 || csm_tensor_numel(t[1]) != 1 ||
        (n->n_input > 4 && n->input[4][0] && !t[3]))
      return -1;
    const int64_t step = t[3] && csm_tensor_numel(t[3]) == 1 ? ((const int32_t *)t[3]->data)[0] : 1;
    if (step != 1) return -1;
    return range_len(((const int32_t *)t[0]->data)[0], ((const int32_t *)t[1]->data)[0], len);
  }
  if (!strcmp(op, "ConstantOfShape")) {
    const csm_tensor *st = csm_onnx_const_of(c, csm_onnx_value_get(c, n->input[0]));
    return st && st->dtype == CSM_I32 && csm_tensor_numel(st) == 1 ? ((int32_t *)st->data)[0] : -1;
  }
  return -1;
}

int csm_onnx_vec_len(csm_onnx_ctx *c, const char *name) {
  int l = vec_len(c, name, 0);
  if (l < 0) {
    /* A declared [n] shape. */
    const Onnx__GraphProto *g = c->model ? c->model->graph : NULL;
    for (size_t i = 0; g && i < g->n_value_info; i++) {
      const Onnx__ValueInfoProto *vi = g->value_info[i];
      if (!vi || !vi->name || strcmp(vi->name, name) || !vi->type ||
          vi->type->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !vi->type->tensor_type ||
          !vi->type->tensor_type->shape || vi->type->tensor_type->shape->n_dim != 1)
        continue;
      const Onnx__TensorShapeProto__Dimension *d = vi->type->tensor_type->shape->dim[0];
      if (d && d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE &&
          d->dim_value >= 0 && d->dim_value <= CSM_MAX_RANK)
        return (int)d->dim_value;
    }
  }
  return l;
}

/* ---- Reshape, Flatten, Transpose ---------------------------------------------- */

csm_status csm_onnx_map_reshape(csm_onnx_ctx *c) {
  csm_onnx_value *x, *s;
  int64_t allowzero, v[CSM_MAX_RANK];
  int n = -1, in[2], y;
  csm_attrs a = csm_attrs_default();
  csm_status st;
  if ((st = csm_onnx_input(c, 0, 0, &x)) || (st = csm_onnx_input(c, 1, 0, &s)) ||
      (st = csm_onnx_attr_int(c, "allowzero", 0, 0, 1, &allowzero)))
    return st;
  if (csm_onnx_const_of(c, s)) {
    if ((st = csm_onnx_const_ints(c, s, "shape", v, CSM_MAX_RANK, &n))) return st;
    for (int i = 0; i < n && allowzero; i++)
      if (v[i] == 0) return csm_onnx_fail(c, CSM_EUNSUPPORTED, "allowzero=1 with a 0 in the shape");
  } else {
    if (allowzero)
      return csm_onnx_fail(c, CSM_EUNSUPPORTED, "allowzero=1 with a computed shape ('%s')",
                           s->name);
    n = csm_onnx_vec_len(c, s->name);
  }
  a.zero_copies = !allowzero;
  if ((st = csm_onnx_logical(c, x, &in[0])) || (st = csm_onnx_logical(c, s, &in[1])) ||
      (st = csm_onnx_add(c, csm_onnx_output(c, 0), CSM_OP_RESHAPE, 2, in, &a, &y)))
    return st;
  return csm_onnx_def(c, 0, y, -1, n);
}

csm_status csm_onnx_map_flatten(csm_onnx_ctx *c) {
  csm_onnx_value *x;
  int64_t axis;
  int in, y;
  csm_attrs a = csm_attrs_default();
  csm_status st;
  if ((st = csm_onnx_input(c, 0, 0, &x)) ||
      (st = csm_onnx_attr_int(c, "axis", 1, -CSM_MAX_RANK, CSM_MAX_RANK, &axis)))
    return st;
  if (axis < 0) {
    if (x->rank < 0 || axis < -x->rank)
      return csm_onnx_fail(c, CSM_EUNSUPPORTED, "axis %lld needs a known rank", (long long)axis);
    axis += x->rank;
  }
  if (x->rank >= 0 && axis > x->rank)
    return csm_onnx_fail(c, CSM_EINPUT, "axis %lld is out of range for rank %d", (long long)axis,
                         x->rank);
  a.axis = (int)axis;
  if ((st = csm_onnx_logical(c, x, &in)) ||
      (st = csm_onnx_add(c, csm_onnx_output(c, 0), CSM_OP_FLATTEN, 1, &in, &a, &y)))
    return st;
  return csm_onnx_def(c, 0, y, -1, 2);
}

csm_status csm_onnx_map_transpose(csm_onnx_ctx *c) {
  csm_onnx_value *x;
  int64_t p[CSM_MAX_RANK];
  int n, in, y, seen[CSM_MAX_RANK] = {0};
  csm_attrs a = csm_attrs_default();
  csm_status st;
  if ((st = csm_onnx_input(c, 0, 0, &x)) ||
      (st = csm_onnx_attr_ints(c, "perm", p, CSM_MAX_RANK, &n)))
    return st;
  const int r = x->rank;
  if (n < 0) {
    if (r < 0) return csm_onnx_fail(c, CSM_EUNSUPPORTED, "no perm and the input's rank is unknown");
    n = r;
    for (int d = 0; d < r; d++)
      p[d] = r - 1 - d;
  }
  if (r >= 0 && n != r)
    return csm_onnx_fail(c, CSM_EINPUT, "perm has %d entries for rank %d", n, r);
  for (int d = 0; d < n; d++) {
    if (p[d] < 0 || p[d] >= n || seen[p[d]])
      return csm_onnx_fail(c, CSM_EINPUT, "perm is not a permutation");
    seen[p[d]] = 1;
  }
  a.n_perm = n;
  const int from = x->logical < 0 && use_nhwc(x);
  int identity = 1;
  for (int d = 0; d < n; d++) {
    /* From NHWC: output dim d = ONNX dim p[d] = NHWC dim nhwc_axis(p[d]). */
    a.perm[d] = from ? csm_onnx_nhwc_axis((int)p[d]) : (int)p[d];
    identity &= a.perm[d] == d;
  }
  if ((st = layout_of(c, x, from, &in)) ||
      (st = csm_onnx_add(c, csm_onnx_output(c, 0), identity ? CSM_OP_IDENTITY : CSM_OP_TRANSPOSE, 1,
                         &in, identity ? NULL : &a, &y)))
    return st;
  return csm_onnx_def(c, 0, y, -1, n);
}

/* ---- Concat, Split, Slice ------------------------------------------------------- */

csm_status csm_onnx_map_concat(csm_onnx_ctx *c) {
  const int n = (int)c->node->n_input;
  int64_t axis64;
  int axis, rank = -1, nhwc = 1, y;
  csm_status st;
  if (n < 1) return csm_onnx_fail(c, CSM_EINPUT, "no inputs");
  if ((st = csm_onnx_attr_int(c, "axis", 0, -CSM_MAX_RANK, CSM_MAX_RANK - 1, &axis64))) return st;
  if (!csm_onnx_attr(c, "axis"))
    return csm_onnx_fail(c, CSM_EINPUT, "required attribute 'axis' is missing");
  int *in = csm_malloc_array((size_t)n + 1, sizeof *in);
  csm_onnx_value **v = csm_malloc_array((size_t)n, sizeof *v);
  if (!in || !v) {
    free(in);
    free(v);
    return CSM_ENOMEM;
  }
  st = CSM_OK;
  for (int i = 0; i < n && !st; i++) {
    st = csm_onnx_input(c, i, 0, &v[i]);
    if (!st && v[i]->rank >= 0) rank = v[i]->rank;
    if (!st && !use_nhwc(v[i])) nhwc = 0;
  }
  if (!st) st = csm_onnx_axis(c, axis64, rank, "axis", &axis);
  for (int i = 0; i < n && !st; i++)
    st = layout_of(c, v[i], nhwc, &in[i]);
  if (!st) {
    int32_t ax = nhwc ? csm_onnx_nhwc_axis(axis) : axis;
    st = csm_onnx_aux_i32(c, "axis", 0, &ax, 1, &in[n]);
  }
  if (!st) st = csm_onnx_add(c, csm_onnx_output(c, 0), CSM_OP_CONCAT, n + 1, in, NULL, &y);
  free(in);
  free(v);
  if (st) return st;
  return csm_onnx_def(c, 0, nhwc ? -1 : y, nhwc ? y : -1, rank);
}

/* A STRIDED_SLICE of node x (rank r) along one axis, other axes whole. */
static csm_status slice_axis(csm_onnx_ctx *c, const char *name, int x, int r, int axis,
                             int32_t begin, int32_t end, int *y) {
  int32_t b[CSM_MAX_RANK] = {0}, e[CSM_MAX_RANK] = {0}, s[CSM_MAX_RANK];
  int in[4] = {x};
  csm_attrs a = csm_attrs_default();
  csm_status st;
  for (int d = 0; d < r; d++)
    s[d] = 1;
  b[axis] = begin;
  e[axis] = end;
  a.begin_mask = a.end_mask = ((1 << r) - 1) & ~(1 << axis);
  if ((st = csm_onnx_aux_i32(c, "begin", 1, b, r, &in[1])) ||
      (st = csm_onnx_aux_i32(c, "end", 1, e, r, &in[2])) ||
      (st = csm_onnx_aux_i32(c, "strides", 1, s, r, &in[3])))
    return st;
  return csm_onnx_add(c, name, CSM_OP_STRIDED_SLICE, 4, in, &a, y);
}

/* The size of dimension `axis` of `name` as the graph declares it, or -1. */
static int64_t declared_dim(const csm_onnx_ctx *c, const char *name, int axis) {
  const Onnx__GraphProto *g = c->model ? c->model->graph : NULL;
  for (size_t i = 0; g && name && i < g->n_value_info + g->n_output; i++) {
    const Onnx__ValueInfoProto *vi =
        i < g->n_value_info ? g->value_info[i] : g->output[i - g->n_value_info];
    if (!vi || !vi->name || strcmp(vi->name, name) || !vi->type ||
        vi->type->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !vi->type->tensor_type ||
        !vi->type->tensor_type->shape || (size_t)axis >= vi->type->tensor_type->shape->n_dim)
      continue;
    const Onnx__TensorShapeProto__Dimension *d = vi->type->tensor_type->shape->dim[axis];
    if (d && d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE)
      return d->dim_value;
  }
  return -1;
}

/* Split: sizes from the 'split' input (opset 13) or attribute (before); an
 * equal split takes the outputs' declared sizes. One STRIDED_SLICE each. */
csm_status csm_onnx_map_split(csm_onnx_ctx *c) {
  csm_onnx_value *x, *sv = NULL;
  int64_t axis64, sizes[64];
  int axis, n = -1, x_node, y;
  const int n_out = (int)c->node->n_output;
  csm_status st;
  if ((st = csm_onnx_input(c, 0, 0, &x)) ||
      (st = csm_onnx_attr_int(c, "axis", 0, -CSM_MAX_RANK, CSM_MAX_RANK - 1, &axis64)) ||
      (st = csm_onnx_axis(c, axis64, x->rank, "axis", &axis)))
    return st;
  if (n_out < 1 || n_out > 64)
    return csm_onnx_fail(c, CSM_EUNSUPPORTED, "%d outputs are not supported", n_out);
  if (c->opset >= 13) {
    if ((st = csm_onnx_input(c, 1, 1, &sv))) return st;
    if (sv && !csm_onnx_is_empty(c, sv) &&
        (st = csm_onnx_const_ints(c, sv, "split", sizes, 64, &n)))
      return st;
  } else if ((st = csm_onnx_attr_ints(c, "split", sizes, 64, &n))) {
    return st;
  }
  if (n < 0) {
    for (int k = 0; k < n_out; k++) {
      sizes[k] = declared_dim(c, csm_onnx_output(c, k), axis);
      if (sizes[k] < 0)
        return csm_onnx_fail(c, CSM_EUNSUPPORTED,
                             "an equal split needs the outputs' sizes (no 'split' given and "
                             "none declared)");
    }
    n = n_out;
  }
  if (n != n_out)
    return csm_onnx_fail(c, CSM_EINPUT, "split has %d sizes for %d outputs", n, n_out);
  const int nhwc = use_nhwc(x);
  const int ax = nhwc ? csm_onnx_nhwc_axis(axis) : axis;
  if ((st = layout_of(c, x, nhwc, &x_node))) return st;
  int64_t begin = 0;
  for (int k = 0; k < n_out; k++) {
    const char *name = csm_onnx_output(c, k);
    if (sizes[k] < 0 || begin + sizes[k] > INT32_MAX)
      return csm_onnx_fail(c, CSM_EINPUT, "split size %lld is invalid", (long long)sizes[k]);
    if (name) {
      if ((st = slice_axis(c, name, x_node, x->rank, ax, (int32_t)begin,
                           (int32_t)(begin + sizes[k]), &y)) ||
          (st = csm_onnx_def(c, k, nhwc ? -1 : y, nhwc ? y : -1, x->rank)))
        return st;
    }
    begin += sizes[k];
  }
  return CSM_OK;
}

/* A full-rank int vector for an IR op from the n-entry ONNX vector v (a
 * constant or computed): entry q is v[pick[q]], or 0 where pick[q] < 0.
 * Computed vectors become GATHER(CONCAT(v, [0]), pick), folded at plan
 * time when v is known then. */
static csm_status scatter_vec(csm_onnx_ctx *c, csm_onnx_value *v, const int64_t *cv, int n,
                              const int *pick, int r, const char *suffix, int *node) {
  int32_t out[2 * CSM_MAX_RANK];
  csm_status st;
  if (cv) {
    for (int q = 0; q < r; q++) {
      const int64_t x = pick[q] < 0 ? 0 : cv[pick[q]];
      out[q] = (int32_t)(x < INT32_MIN ? INT32_MIN : x > INT32_MAX ? INT32_MAX : x);
    }
    return csm_onnx_aux_i32(c, suffix, 1, out, r, node);
  }
  int in[3], zero = 0, cat, idx, pair[2];
  int32_t z = 0, ax = 0;
  char sfx[48];
  for (int q = 0; q < r; q++)
    out[q] = pick[q] < 0 ? n : pick[q];
  snprintf(sfx, sizeof sfx, "%s_zero", suffix);
  if ((st = csm_onnx_logical(c, v, &in[0])) || (st = csm_onnx_aux_i32(c, sfx, 1, &z, 1, &zero)))
    return st;
  in[1] = zero;
  snprintf(sfx, sizeof sfx, "%s_axis", suffix);
  if ((st = csm_onnx_aux_i32(c, sfx, 0, &ax, 1, &in[2]))) return st;
  snprintf(sfx, sizeof sfx, "%s_padded", suffix);
  if ((st = csm_onnx_add_aux(c, sfx, CSM_OP_CONCAT, 3, in, NULL, &cat))) return st;
  snprintf(sfx, sizeof sfx, "%s_index", suffix);
  if ((st = csm_onnx_aux_i32(c, sfx, 1, out, r, &idx))) return st;
  pair[0] = cat;
  pair[1] = idx;
  csm_attrs a = csm_attrs_default();
  return csm_onnx_add_aux(c, suffix, CSM_OP_GATHER, 2, pair, &a, node);
}

/* Slice (opset 10+): starts and ends (constant or computed), constant axes
 * and steps -> STRIDED_SLICE (TensorFlow clamps out-of-range bounds the way
 * ONNX does). */
csm_status csm_onnx_map_slice(csm_onnx_ctx *c) {
  csm_onnx_value *x, *v[4];
  int64_t starts[CSM_MAX_RANK], ends[CSM_MAX_RANK], axes[CSM_MAX_RANK], steps[CSM_MAX_RANK];
  int n = -1, ne = -1, na = -1, ns = -1, seen[CSM_MAX_RANK] = {0};
  csm_status st;
  if ((st = csm_onnx_input(c, 0, 0, &x))) return st;
  for (int k = 0; k < 4; k++)
    if ((st = csm_onnx_input(c, k + 1, k >= 2, &v[k]))) return st;
  const int cs = csm_onnx_const_of(c, v[0]) != NULL, ce = csm_onnx_const_of(c, v[1]) != NULL;
  if ((cs && (st = csm_onnx_const_ints(c, v[0], "starts", starts, CSM_MAX_RANK, &n))) ||
      (ce && (st = csm_onnx_const_ints(c, v[1], "ends", ends, CSM_MAX_RANK, &ne))) ||
      (v[2] && (st = csm_onnx_const_ints(c, v[2], "axes", axes, CSM_MAX_RANK, &na))) ||
      (v[3] && (st = csm_onnx_const_ints(c, v[3], "steps", steps, CSM_MAX_RANK, &ns))))
    return st;
  if (!cs) n = csm_onnx_vec_len(c, v[0]->name);
  if (!ce) ne = csm_onnx_vec_len(c, v[1]->name);
  if (n < 0) n = na >= 0 ? na : ne;
  if (ne < 0) ne = n;
  const int r = x->rank;
  if (r < 0) return csm_onnx_fail(c, CSM_EUNSUPPORTED, "the input's rank is unknown");
  if (n < 0 || n > r)
    return csm_onnx_fail(c, CSM_EUNSUPPORTED, "the number of sliced axes is unknown");
  if (ne != n || (na >= 0 && na != n) || (ns >= 0 && ns != n))
    return csm_onnx_fail(c, CSM_EINPUT, "starts, ends, axes and steps differ in length");
  const int nhwc = use_nhwc(x);
  int32_t s[CSM_MAX_RANK];
  int pick[CSM_MAX_RANK];
  csm_attrs a = csm_attrs_default();
  a.begin_mask = a.end_mask = (1 << r) - 1;
  for (int d = 0; d < r; d++) {
    s[d] = 1;
    pick[d] = -1;
  }
  for (int i = 0; i < n; i++) {
    int ax;
    if ((st = csm_onnx_axis(c, na >= 0 ? axes[i] : i, r, "axis", &ax))) return st;
    if (seen[ax]) return csm_onnx_fail(c, CSM_EINPUT, "axis %d is repeated", ax);
    seen[ax] = 1;
    const int64_t step = ns >= 0 ? steps[i] : 1;
    if (step == 0 || step < INT32_MIN || step > INT32_MAX)
      return csm_onnx_fail(c, CSM_EINPUT, "step %lld is invalid", (long long)step);
    const int q = nhwc ? csm_onnx_nhwc_axis(ax) : ax;
    s[q] = (int32_t)step;
    pick[q] = i;
    a.begin_mask &= ~(1 << q);
    a.end_mask &= ~(1 << q);
  }
  int in[4], y;
  if ((st = layout_of(c, x, nhwc, &in[0])) ||
      (st = scatter_vec(c, v[0], cs ? starts : NULL, n, pick, r, "begin", &in[1])) ||
      (st = scatter_vec(c, v[1], ce ? ends : NULL, n, pick, r, "end", &in[2])) ||
      (st = csm_onnx_aux_i32(c, "strides", 1, s, r, &in[3])) ||
      (st = csm_onnx_add(c, csm_onnx_output(c, 0), CSM_OP_STRIDED_SLICE, 4, in, &a, &y)))
    return st;
  return csm_onnx_def(c, 0, nhwc ? -1 : y, nhwc ? y : -1, r);
}

/* ---- Squeeze, Unsqueeze, Pad ---------------------------------------------------- */

/* Axes from the attribute (before opset 13) or input 1; *n = -1: none. */
static csm_status axes_of(csm_onnx_ctx *c, int64_t *axes, int *n) {
  csm_onnx_value *v;
  csm_status st;
  *n = -1;
  if (c->opset < 13) return csm_onnx_attr_ints(c, "axes", axes, CSM_MAX_RANK, n);
  if ((st = csm_onnx_input(c, 1, 1, &v)) || !v || csm_onnx_is_empty(c, v)) return st;
  return csm_onnx_const_ints(c, v, "axes", axes, CSM_MAX_RANK, n);
}

csm_status csm_onnx_map_squeeze(csm_onnx_ctx *c) {
  csm_onnx_value *x;
  int64_t axes[CSM_MAX_RANK];
  int n, in, y, flag[CSM_MAX_RANK] = {0};
  csm_attrs a = csm_attrs_default();
  csm_status st;
  if ((st = csm_onnx_input(c, 0, 0, &x)) || (st = axes_of(c, axes, &n))) return st;
  const int r = x->rank;
  if (n <= 0) { /* every size-1 dimension, known at plan time */
    if ((st = csm_onnx_logical(c, x, &in)) ||
        (st = csm_onnx_add(c, csm_onnx_output(c, 0), CSM_OP_SQUEEZE, 1, &in, &a, &y)))
      return st;
    return csm_onnx_def(c, 0, y, -1, -1);
  }
  int count = 0;
  for (int i = 0; i < n; i++) {
    int ax;
    if ((st = csm_onnx_axis(c, axes[i], r, "axis", &ax))) return st;
    count += !flag[ax];
    flag[ax] = 1;
  }
  /* From NHWC when the kept dimensions keep ONNX's order ([N,C,1,1]). */
  int nhwc = use_nhwc(x), prev = -1;
  for (int q = 0; q < 4 && nhwc; q++) {
    if (flag[from_nhwc[q]]) continue;
    if (from_nhwc[q] < prev) nhwc = 0;
    prev = from_nhwc[q];
  }
  for (int d = 0; d < r; d++)
    if (flag[d]) a.squeeze_dims[a.n_squeeze++] = nhwc ? csm_onnx_nhwc_axis(d) : d;
  if ((st = layout_of(c, x, nhwc, &in)) ||
      (st = csm_onnx_add(c, csm_onnx_output(c, 0), CSM_OP_SQUEEZE, 1, &in, &a, &y)))
    return st;
  return csm_onnx_def(c, 0, y, -1, r - count);
}

csm_status csm_onnx_map_unsqueeze(csm_onnx_ctx *c) {
  csm_onnx_value *x;
  int64_t axes[CSM_MAX_RANK];
  int n, y, flag[CSM_MAX_RANK] = {0};
  csm_status st;
  if ((st = csm_onnx_input(c, 0, 0, &x)) || (st = axes_of(c, axes, &n))) return st;
  if (n <= 0) return csm_onnx_fail(c, CSM_EINPUT, "no axes");
  const int out_rank = x->rank < 0 ? -1 : x->rank + n;
  if (out_rank > CSM_MAX_RANK)
    return csm_onnx_fail(c, CSM_EUNSUPPORTED, "output rank %d exceeds %d", out_rank, CSM_MAX_RANK);
  for (int i = 0; i < n; i++) {
    int ax;
    if (axes[i] >= 0 && out_rank < 0 && axes[i] < CSM_MAX_RANK) {
      ax = (int)axes[i];
    } else if ((st = csm_onnx_axis(c, axes[i], out_rank, "axis", &ax))) {
      return st;
    }
    if (flag[ax]) return csm_onnx_fail(c, CSM_EINPUT, "axis %d is repeated", ax);
    flag[ax] = 1;
  }
  /* Inserting in ascending order puts each axis at its final position. */
  if ((st = csm_onnx_logical(c, x, &y))) return st;
  for (int ax = 0, done = 0; ax < CSM_MAX_RANK; ax++) {
    if (!flag[ax]) continue;
    int32_t v = ax;
    int in[2] = {y};
    char sfx[24];
    snprintf(sfx, sizeof sfx, "axis%d", ax);
    if ((st = csm_onnx_aux_i32(c, sfx, 0, &v, 1, &in[1]))) return st;
    snprintf(sfx, sizeof sfx, "expand%d", ax);
    st = ++done == n ? csm_onnx_add(c, csm_onnx_output(c, 0), CSM_OP_EXPAND_DIMS, 2, in, NULL, &y)
                     : csm_onnx_add_aux(c, sfx, CSM_OP_EXPAND_DIMS, 2, in, NULL, &y);
    if (st) return st;
  }
  return csm_onnx_def(c, 0, y, -1, out_rank);
}

/* Pad (opset 11+, constant mode): pads [x1_begin.., x1_end..] (constant or
 * computed) -> paddings [rank,2] in the layout x runs in. */
csm_status csm_onnx_map_pad(csm_onnx_ctx *c) {
  csm_onnx_value *x, *pv, *cv;
  int64_t p[2 * CSM_MAX_RANK];
  int n = -1, in[3], y;
  char mode[32];
  csm_status st;
  if ((st = csm_onnx_input(c, 0, 0, &x)) || (st = csm_onnx_input(c, 1, 0, &pv)) ||
      (st = csm_onnx_input(c, 2, 1, &cv)) ||
      (st = csm_onnx_attr_string(c, "mode", "constant", mode, sizeof mode)))
    return st;
  if (strcmp(mode, "constant"))
    return csm_onnx_fail(c, CSM_EUNSUPPORTED, "mode '%s' is not supported (only constant)", mode);
  const int known = csm_onnx_const_of(c, pv) != NULL;
  if (known && (st = csm_onnx_const_ints(c, pv, "pads", p, 2 * CSM_MAX_RANK, &n))) return st;
  const int r = x->rank;
  if (!known) n = csm_onnx_vec_len(c, pv->name);
  if (r < 0 || (n >= 0 && n != 2 * r))
    return csm_onnx_fail(c, CSM_EINPUT, "pads has %d entries for an input of rank %d", n, r);
  const int nhwc = use_nhwc(x);
  int pick[2 * CSM_MAX_RANK];
  for (int q = 0; q < r; q++) {
    const int d = nhwc ? from_nhwc[q] : q;
    if (known && (p[d] < 0 || p[d + r] < 0))
      return csm_onnx_fail(c, CSM_EUNSUPPORTED, "negative pads (cropping) are not supported");
    pick[2 * q] = d;
    pick[2 * q + 1] = d + r;
  }
  int flat, shape, pair[2];
  const int32_t dims[2] = {r, 2};
  int n_in = 2;
  if ((st = layout_of(c, x, nhwc, &in[0])) ||
      (st = scatter_vec(c, pv, known ? p : NULL, 2 * r, pick, 2 * r, "pads", &flat)) ||
      (st = csm_onnx_aux_i32(c, "paddings_shape", 1, dims, 2, &shape)))
    return st;
  pair[0] = flat;
  pair[1] = shape;
  if ((st = csm_onnx_add_aux(c, "paddings", CSM_OP_RESHAPE, 2, pair, NULL, &in[1]))) return st;
  if (cv && !csm_onnx_is_empty(c, cv)) {
    const csm_tensor *t = csm_onnx_const_of(c, cv);
    if (!t || csm_tensor_numel(t) != 1)
      return csm_onnx_fail(c, CSM_EUNSUPPORTED, "constant_value ('%s') must be a constant scalar",
                           cv->name);
    uint32_t bits;
    memcpy(&bits, t->data, 4);
    if (bits) { /* 0 (either dtype) is the default */
      csm_shape s = {.rank = 0};
      if ((st = t->dtype == CSM_F32
                    ? csm_onnx_aux_f32(c, "value", &s, (const float *)t->data, &in[2])
                    : csm_onnx_aux_i32(c, "value", 0, (const int32_t *)t->data, 1, &in[2])))
        return st;
      n_in = 3;
    }
  }
  if ((st = csm_onnx_add(c, csm_onnx_output(c, 0), CSM_OP_PAD, n_in, in, NULL, &y))) return st;
  return csm_onnx_def(c, 0, nhwc ? -1 : y, nhwc ? y : -1, r);
}
