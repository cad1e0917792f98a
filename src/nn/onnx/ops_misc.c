/* Identity, Dropout, Constant, Shape, Gather, Expand and Cast. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_internal.h"

static int is_op(const csm_onnx_ctx *c, const char *name) {
  return strcmp(c->node->op_type, name) == 0;
}

/* Identity, and Dropout at inference (its mask output must be unused). */
csm_status csm_onnx_map_identity(csm_onnx_ctx *c) {
  if (is_op(c, "Dropout")) {
    csm_status st = csm_onnx_unused_outputs(c, 1);
    if (st) return st;
  }
  return csm_onnx_map_elementwise1(c, CSM_OP_IDENTITY, NULL);
}

/* Constant: value (a tensor), value_float(s), value_int(s). */
csm_status csm_onnx_map_constant(csm_onnx_ctx *c) {
  const Onnx__AttributeProto *at;
  csm_tensor t = {0};
  csm_status st;
  int y;
  if ((at = csm_onnx_attr(c, "value")) && at->t) {
    if ((st = csm_onnx_tensor_read(c, at->t, "value", &t))) return st;
  } else if ((at = csm_onnx_attr(c, "value_float")) || (at = csm_onnx_attr(c, "value_floats"))) {
    const int one = !strcmp(at->name, "value_float");
    csm_shape s = {.rank = one ? 0 : 1, .d = {one ? 1 : (int64_t)at->n_floats}};
    if ((st = csm_tensor_alloc(&t, CSM_F32, &s))) return st;
    if (one)
      ((float *)t.data)[0] = at->f;
    else if (at->n_floats)
      memcpy(t.data, at->floats, at->n_floats * sizeof(float));
    if (csm_weight_check_finite(csm_onnx_output(c, 0) ? csm_onnx_output(c, 0) : at->name, &t)) {
      csm_tensor_free(&t);
      return csm_onnx_fail(c, CSM_EINPUT, "%s", csm_last_error());
    }
  } else if ((at = csm_onnx_attr(c, "value_int")) || (at = csm_onnx_attr(c, "value_ints"))) {
    const int one = !strcmp(at->name, "value_int");
    const size_t n = one ? 1 : at->n_ints;
    csm_shape s = {.rank = one ? 0 : 1, .d = {(int64_t)n}};
    if ((st = csm_tensor_alloc(&t, CSM_I32, &s))) return st;
    for (size_t i = 0; i < n; i++) {
      const int64_t v = one ? at->i : at->ints[i];
      if (v < INT32_MIN || v > INT32_MAX) {
        csm_tensor_free(&t);
        return csm_onnx_fail(c, CSM_EUNSUPPORTED, "%s %lld is outside the int32 range", at->name,
                             (long long)v);
      }
      ((int32_t *)t.data)[i] = (int32_t)v;
    }
  } else {
    return csm_onnx_fail(c, CSM_EUNSUPPORTED,
                         "only value, value_float(s) and value_int(s) constants are supported");
  }
  if ((st = csm_onnx_add(c, csm_onnx_output(c, 0), CSM_OP_CONST, 0, NULL, NULL, &y))) {
    csm_tensor_free(&t);
    return st;
  }
  c->g->nodes[y].value = t;
  return csm_onnx_def(c, 0, y, -1, t.shape.rank);
}

/* Shape (start/end from opset 15). Of an NHWC-only value: the NHWC shape
 * gathered back into ONNX's order, which folds at plan time and moves no
 * data. */
csm_status csm_onnx_map_shape(csm_onnx_ctx *c) {
  csm_onnx_value *x;
  int64_t start, end;
  int in[2], y;
  csm_status st;
  if ((st = csm_onnx_input(c, 0, 0, &x)) ||
      (st = csm_onnx_attr_int(c, "start", 0, INT32_MIN, INT32_MAX, &start)) ||
      (st = csm_onnx_attr_int(c, "end", INT32_MAX, INT32_MIN, INT32_MAX, &end)))
    return st;
  const int r = x->rank, sliced = start != 0 || end != INT32_MAX;
  if (x->logical < 0 && x->nhwc >= 0 && r == 4) {
    int32_t idx[4];
    int n = 0;
    start = start < 0 ? start + 4 : start;
    end = end < 0 ? end + 4 : end;
    for (int64_t d = start < 0 ? 0 : start; d < (end > 4 ? 4 : end); d++)
      idx[n++] = csm_onnx_nhwc_axis((int)d);
    csm_attrs a = csm_attrs_default();
    if ((st = csm_onnx_add_aux(c, "nhwc_shape", CSM_OP_SHAPE, 1, &x->nhwc, NULL, &in[0])) ||
        (st = csm_onnx_aux_i32(c, "order", 1, idx, n, &in[1])) ||
        (st = csm_onnx_add(c, csm_onnx_output(c, 0), CSM_OP_GATHER, 2, in, &a, &y)))
      return st;
    return csm_onnx_def(c, 0, y, -1, 1);
  }
  if ((st = csm_onnx_logical(c, x, &in[0]))) return st;
  if (!sliced) {
    if ((st = csm_onnx_add(c, csm_onnx_output(c, 0), CSM_OP_SHAPE, 1, in, NULL, &y))) return st;
    return csm_onnx_def(c, 0, y, -1, 1);
  }
  int sl[4], one = 1;
  int32_t b = (int32_t)start, e = (int32_t)end, s = 1;
  csm_attrs a = csm_attrs_default();
  a.end_mask = end == INT32_MAX;
  (void)one;
  if ((st = csm_onnx_add_aux(c, "full", CSM_OP_SHAPE, 1, in, NULL, &sl[0])) ||
      (st = csm_onnx_aux_i32(c, "begin", 1, &b, 1, &sl[1])) ||
      (st = csm_onnx_aux_i32(c, "end", 1, &e, 1, &sl[2])) ||
      (st = csm_onnx_aux_i32(c, "strides", 1, &s, 1, &sl[3])) ||
      (st = csm_onnx_add(c, csm_onnx_output(c, 0), CSM_OP_STRIDED_SLICE, 4, sl, &a, &y)))
    return st;
  return csm_onnx_def(c, 0, y, -1, 1);
}

csm_status csm_onnx_map_gather(csm_onnx_ctx *c) {
  csm_onnx_value *x, *idx;
  int64_t axis;
  int in[2], y;
  csm_attrs a = csm_attrs_default();
  csm_status st;
  if ((st = csm_onnx_input(c, 0, 0, &x)) || (st = csm_onnx_input(c, 1, 0, &idx)) ||
      (st = csm_onnx_attr_int(c, "axis", 0, -CSM_MAX_RANK, CSM_MAX_RANK - 1, &axis)))
    return st;
  if (axis < 0 || x->rank >= 0) {
    if ((st = csm_onnx_axis(c, axis, x->rank, "axis", &a.axis))) return st;
  } else {
    a.axis = (int)axis;
  }
  if ((st = csm_onnx_logical(c, x, &in[0])) || (st = csm_onnx_logical(c, idx, &in[1])) ||
      (st = csm_onnx_add(c, csm_onnx_output(c, 0), CSM_OP_GATHER, 2, in, &a, &y)))
    return st;
  const int r = x->rank < 0 || idx->rank < 0 ? -1 : x->rank - 1 + idx->rank;
  return csm_onnx_def(c, 0, y, -1, r);
}

/* Expand: BROADCAST_TO (bidirectional, as ONNX). */
csm_status csm_onnx_map_expand(csm_onnx_ctx *c) {
  csm_onnx_value *x, *s;
  int in[2], y;
  csm_status st;
  if ((st = csm_onnx_input(c, 0, 0, &x)) || (st = csm_onnx_input(c, 1, 0, &s))) return st;
  if ((st = csm_onnx_logical(c, x, &in[0])) || (st = csm_onnx_logical(c, s, &in[1])) ||
      (st = csm_onnx_add(c, csm_onnx_output(c, 0), CSM_OP_BROADCAST_TO, 2, in, NULL, &y)))
    return st;
  const int n = csm_onnx_vec_len(c, s->name);
  const int r = n < 0 || x->rank < 0 ? -1 : n > x->rank ? n : x->rank;
  return csm_onnx_def(c, 0, y, -1, r);
}

/* Cast to a float or an integer type: CAST, or IDENTITY for a constant
 * that already has the IR dtype. */
csm_status csm_onnx_map_cast(csm_onnx_ctx *c) {
  csm_onnx_value *x;
  int64_t to;
  csm_attrs a = csm_attrs_default();
  csm_status st;
  if ((st = csm_onnx_input(c, 0, 0, &x)) || (st = csm_onnx_attr_int(c, "to", 0, 0, 64, &to)))
    return st;
  if (!csm_onnx_attr(c, "to"))
    return csm_onnx_fail(c, CSM_EINPUT, "required attribute 'to' is missing");
  switch (to) {
  case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT:
  case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16:
  case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE:
  case ONNX__TENSOR_PROTO__DATA_TYPE__BFLOAT16: a.to_dtype = CSM_F32; break;
  case ONNX__TENSOR_PROTO__DATA_TYPE__INT64:
  case ONNX__TENSOR_PROTO__DATA_TYPE__INT32:
  case ONNX__TENSOR_PROTO__DATA_TYPE__INT16:
  case ONNX__TENSOR_PROTO__DATA_TYPE__INT8:
  case ONNX__TENSOR_PROTO__DATA_TYPE__UINT16:
  case ONNX__TENSOR_PROTO__DATA_TYPE__UINT8: a.to_dtype = CSM_I32; break;
  default:
    return csm_onnx_fail(c, CSM_EUNSUPPORTED, "cast to type %lld is not supported", (long long)to);
  }
  const csm_tensor *t = csm_onnx_const_of(c, x);
  if (t && t->dtype == a.to_dtype) return csm_onnx_map_elementwise1(c, CSM_OP_IDENTITY, NULL);
  return csm_onnx_map_elementwise1(c, CSM_OP_CAST, &a);
}

/* ConstantOfShape: BROADCAST_TO of the scalar `value` (default float 0). */
csm_status csm_onnx_map_constant_of_shape(csm_onnx_ctx *c) {
  csm_onnx_value *s;
  const Onnx__AttributeProto *at = csm_onnx_attr(c, "value");
  csm_tensor t = {0};
  int in[2], y;
  csm_status st;
  if ((st = csm_onnx_input(c, 0, 0, &s))) return st;
  if (at && at->t) {
    if ((st = csm_onnx_tensor_read(c, at->t, "value", &t))) return st;
  } else {
    csm_shape one = {.rank = 0};
    if ((st = csm_tensor_alloc(&t, CSM_F32, &one))) return st;
  }
  if (csm_tensor_numel(&t) != 1) {
    csm_tensor_free(&t);
    return csm_onnx_fail(c, CSM_EINPUT, "value must have one element");
  }
  csm_shape scalar = {.rank = 0};
  st = t.dtype == CSM_F32 ? csm_onnx_aux_f32(c, "value", &scalar, t.data, &in[0])
                          : csm_onnx_aux_i32(c, "value", 0, t.data, 1, &in[0]);
  csm_tensor_free(&t);
  if (st || (st = csm_onnx_logical(c, s, &in[1])) ||
      (st = csm_onnx_add(c, csm_onnx_output(c, 0), CSM_OP_BROADCAST_TO, 2, in, NULL, &y)))
    return st;
  return csm_onnx_def(c, 0, y, -1, csm_onnx_vec_len(c, s->name));
}
