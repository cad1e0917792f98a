/* Reshape, Squeeze, ExpandDims, Identity and Flatten: ops that only relabel the
 * dimensions of their first input. They are alias ops, so the planner shares
 * the input's storage and never calls forward; forward still works as a plain
 * copy for executors that do not alias. */
#include "op.h"
#include "../grad/backward.h"

#include <string.h>

static csm_status check_arity(const csm_node *n, int want, const char *op) {
  if (n->n_in != want)
    return csm_fail(CSM_EINPUT, "%s takes %d input%s, got %d", op, want, want == 1 ? "" : "s",
                    n->n_in);
  return CSM_OK;
}

static csm_status check_dtype(const csm_tensor *t, const char *what) {
  if (t->dtype != CSM_F32 && t->dtype != CSM_I32)
    return csm_fail(CSM_EINPUT, "%s has an unknown dtype %d", what, (int)t->dtype);
  return CSM_OK;
}

/* Shared by all five: the data is unchanged, only the shape differs. */
static csm_status alias_forward(const csm_node *n, const csm_tensor *in, csm_tensor *out,
                                void *scratch) {
  size_t count;
  (void)n;
  (void)scratch;
  if (csm_shape_numel(&out->shape, &count)) return CSM_EINPUT;
  if (out->data != in[0].data && count) memmove(out->data, in[0].data, count * 4);
  return CSM_OK;
}

static double no_flops(const csm_node *n, const csm_tensor *in, const csm_tensor *out) {
  (void)n;
  (void)in;
  (void)out;
  return 0.0;
}

static csm_status reshape_infer(const csm_node *n, const csm_tensor *in, csm_tensor *out) {
  int64_t dims[CSM_MAX_RANK];
  int count, unknown = -1;
  size_t numel, known = 1, got;
  char buf[128];
  csm_status st;
  if ((st = check_arity(n, 2, "Reshape")) || (st = check_dtype(&in[0], "input"))) return st;
  if (in[1].shape.rank != 1)
    return csm_fail(CSM_EINPUT, "shape must be a vector, got rank %d", in[1].shape.rank);
  if ((st = csm_op_ints(&in[1], "shape", dims, CSM_MAX_RANK, &count))) return st;
  if ((st = csm_shape_numel(&in[0].shape, &numel))) return st;
  for (int i = 0; i < count; i++) {
    /* ONNX Reshape (allowzero = 0): a 0 keeps the input's dim there. */
    if (dims[i] == 0 && n->a.zero_copies) {
      if (i >= in[0].shape.rank)
        return csm_fail(CSM_EINPUT,
                        "shape entry %d is 0 (copy the input dim) but the input has rank %d", i,
                        in[0].shape.rank);
      dims[i] = in[0].shape.d[i];
    }
    if (dims[i] == -1) {
      if (unknown >= 0) return csm_fail(CSM_EINPUT, "shape has more than one -1 entry");
      unknown = i;
    } else if (dims[i] < 0) {
      return csm_fail(CSM_EINPUT, "shape entry %d is %lld", i, (long long)dims[i]);
    } else if (!csm_size_mul(known, (size_t)dims[i], &known)) {
      return csm_fail(CSM_EINPUT, "shape element count overflows");
    }
  }
  if (unknown >= 0) {
    /* TensorFlow refuses to guess the -1 when the other entries multiply to 0. */
    if (known == 0 || numel % known != 0)
      return csm_fail(CSM_EINPUT, "cannot reshape %zu elements (input %s) with a -1 entry", numel,
                      csm_shape_str(&in[0].shape, buf, sizeof buf));
    dims[unknown] = (int64_t)(numel / known);
  }
  out->dtype = in[0].dtype;
  out->shape = csm_shape_make(count, dims);
  if ((st = csm_shape_numel(&out->shape, &got))) return st;
  if (got != numel) {
    char obuf[128];
    return csm_fail(CSM_EINPUT, "cannot reshape input %s (%zu elements) to %s (%zu elements)",
                    csm_shape_str(&in[0].shape, buf, sizeof buf), numel,
                    csm_shape_str(&out->shape, obuf, sizeof obuf), got);
  }
  return CSM_OK;
}

static csm_status squeeze_infer(const csm_node *n, const csm_tensor *in, csm_tensor *out) {
  const csm_shape *s = &in[0].shape;
  int drop[CSM_MAX_RANK] = {0};
  csm_status st;
  if ((st = check_arity(n, 1, "Squeeze")) || (st = check_dtype(&in[0], "input"))) return st;
  if ((st = csm_shape_numel(s, &(size_t){0}))) return st;
  if (n->a.n_squeeze < 0 || n->a.n_squeeze > CSM_MAX_RANK)
    return csm_fail(CSM_EINPUT, "squeeze_dims has %d entries", n->a.n_squeeze);
  if (n->a.n_squeeze == 0) {
    for (int i = 0; i < s->rank; i++)
      drop[i] = s->d[i] == 1;
  }
  for (int k = 0; k < n->a.n_squeeze; k++) {
    int axis = n->a.squeeze_dims[k];
    if (axis < -s->rank || axis >= s->rank)
      return csm_fail(CSM_EINPUT, "squeeze dim %d out of range for rank %d", axis, s->rank);
    if (axis < 0) axis += s->rank;
    if (s->d[axis] != 1)
      return csm_fail(CSM_EINPUT, "cannot squeeze dim %d of size %lld", axis,
                      (long long)s->d[axis]);
    drop[axis] = 1; /* repeats are harmless, as in TensorFlow */
  }
  out->dtype = in[0].dtype;
  out->shape.rank = 0;
  for (int i = 0; i < s->rank; i++)
    if (!drop[i]) out->shape.d[out->shape.rank++] = s->d[i];
  return CSM_OK;
}

static csm_status expand_dims_infer(const csm_node *n, const csm_tensor *in, csm_tensor *out) {
  const csm_shape *s = &in[0].shape;
  int64_t v[1];
  int count, axis;
  csm_status st;
  if ((st = check_arity(n, 2, "ExpandDims")) || (st = check_dtype(&in[0], "input"))) return st;
  if ((st = csm_shape_numel(s, &(size_t){0}))) return st;
  if ((st = csm_op_ints(&in[1], "axis", v, 1, &count))) return st;
  if (count != 1) return csm_fail(CSM_EINPUT, "axis must have exactly one entry, got %d", count);
  if (s->rank + 1 > CSM_MAX_RANK)
    return csm_fail(CSM_EUNSUPPORTED, "output rank %d exceeds %d", s->rank + 1, CSM_MAX_RANK);
  if (v[0] < -(s->rank + 1) || v[0] > s->rank)
    return csm_fail(CSM_EINPUT, "axis %lld out of range for rank %d", (long long)v[0], s->rank);
  axis = (int)(v[0] < 0 ? v[0] + s->rank + 1 : v[0]);
  out->dtype = in[0].dtype;
  out->shape.rank = s->rank + 1;
  for (int i = 0, j = 0; i < out->shape.rank; i++)
    out->shape.d[i] = i == axis ? 1 : s->d[j++];
  return CSM_OK;
}

static csm_status identity_infer(const csm_node *n, const csm_tensor *in, csm_tensor *out) {
  csm_status st;
  if ((st = check_arity(n, 1, "Identity")) || (st = check_dtype(&in[0], "input"))) return st;
  if ((st = csm_shape_numel(&in[0].shape, &(size_t){0}))) return st;
  out->dtype = in[0].dtype;
  out->shape = in[0].shape;
  return CSM_OK;
}

/* ONNX Flatten: [prod(dims < axis), prod(dims >= axis)], axis in [-rank, rank]. */
static csm_status flatten_infer(const csm_node *n, const csm_tensor *in, csm_tensor *out) {
  const csm_shape *s = &in[0].shape;
  size_t outer = 1, inner = 1;
  int axis = n->a.axis;
  csm_status st;
  if ((st = check_arity(n, 1, "Flatten")) || (st = check_dtype(&in[0], "input"))) return st;
  if ((st = csm_shape_numel(s, &(size_t){0}))) return st;
  if (axis < -s->rank || axis > s->rank)
    return csm_fail(CSM_EINPUT, "axis %d out of range [%d, %d] for rank %d input", axis, -s->rank,
                    s->rank, s->rank);
  if (axis < 0) axis += s->rank;
  for (int i = 0; i < s->rank; i++) {
    size_t *p = i < axis ? &outer : &inner;
    /* With a 0 dim elsewhere the other product is not bounded by numel. */
    if (!csm_size_mul(*p, (size_t)s->d[i], p))
      return csm_fail(CSM_EINPUT, "flattened dim overflows");
  }
  out->dtype = in[0].dtype;
  out->shape = csm_shape_make(2, (const int64_t[]){(int64_t)outer, (int64_t)inner});
  return csm_shape_numel(&out->shape, &(size_t){0});
}

const csm_op_def csm_op_reshape = {.infer = reshape_infer,
                                   .forward = alias_forward,
                                   .flops = no_flops,
                                   .alias = 1,
                                   .backward = csm_backward_movement};
const csm_op_def csm_op_squeeze = {.infer = squeeze_infer,
                                   .forward = alias_forward,
                                   .flops = no_flops,
                                   .alias = 1,
                                   .backward = csm_backward_movement};
const csm_op_def csm_op_expand_dims = {.infer = expand_dims_infer,
                                       .forward = alias_forward,
                                       .flops = no_flops,
                                       .alias = 1,
                                       .backward = csm_backward_movement};
const csm_op_def csm_op_identity = {.infer = identity_infer,
                                    .forward = alias_forward,
                                    .flops = no_flops,
                                    .alias = 1,
                                    .backward = csm_backward_movement,
                                    .flags = CSM_OP_ELEMENTWISE};
const csm_op_def csm_op_flatten = {.infer = flatten_infer,
                                   .forward = alias_forward,
                                   .flops = no_flops,
                                   .alias = 1,
                                   .backward = csm_backward_movement};
