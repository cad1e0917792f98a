/* Pack (stack along a new axis) and Concat (TF ConcatV2: join along an
 * existing axis; the last input is the axis). Both copy, for every index of
 * the dims before the axis, one contiguous block from each input in turn. */
#include "op.h"
#include "../grad/backward.h"

#include <string.h>

static double no_flops(const csm_node *n, const csm_tensor *in, const csm_tensor *out) {
  (void)n;
  (void)in;
  (void)out;
  return 0.0;
}

/* Every value input has a known dtype, the same as the first, and a valid shape. */
static csm_status check_values(const csm_tensor *in, int count) {
  if (in[0].dtype != CSM_F32 && in[0].dtype != CSM_I32)
    return csm_fail(CSM_EINPUT, "input 0 has an unknown dtype %d", (int)in[0].dtype);
  for (int i = 0; i < count; i++) {
    if (in[i].dtype != in[0].dtype)
      return csm_fail(CSM_EINPUT, "input %d dtype differs from input 0", i);
    if (csm_shape_numel(&in[i].shape, &(size_t){0}))
      return csm_fail_context(CSM_EINPUT, "input %d: ", i);
  }
  return CSM_OK;
}

static size_t prod(const csm_shape *s, int from, int to) {
  size_t p = 1;
  for (int i = from; i < to; i++)
    p *= (size_t)s->d[i];
  return p;
}

static csm_status pack_infer(const csm_node *n, const csm_tensor *in, csm_tensor *out) {
  const csm_shape *s = &in[0].shape;
  int axis = n->a.axis;
  char b0[128], b1[128];
  csm_status st;
  if (n->n_in < 1) return csm_fail(CSM_EINPUT, "Pack needs at least one input");
  if ((st = check_values(in, n->n_in))) return st;
  for (int i = 1; i < n->n_in; i++)
    if (!csm_shape_equal(&in[i].shape, s))
      return csm_fail(CSM_EINPUT, "input %d shape %s differs from input 0 shape %s", i,
                      csm_shape_str(&in[i].shape, b1, sizeof b1), csm_shape_str(s, b0, sizeof b0));
  if (s->rank + 1 > CSM_MAX_RANK)
    return csm_fail(CSM_EUNSUPPORTED, "output rank %d exceeds %d", s->rank + 1, CSM_MAX_RANK);
  if (axis < -(s->rank + 1) || axis > s->rank)
    return csm_fail(CSM_EINPUT, "axis %d out of range for rank %d inputs", axis, s->rank);
  if (axis < 0) axis += s->rank + 1;
  out->dtype = in[0].dtype;
  out->shape.rank = s->rank + 1;
  for (int i = 0, j = 0; i < out->shape.rank; i++)
    out->shape.d[i] = i == axis ? n->n_in : s->d[j++];
  if ((st = csm_shape_numel(&out->shape, &(size_t){0}))) return st;
  return CSM_OK;
}

static csm_status pack_forward(const csm_node *n, const csm_tensor *in, csm_tensor *out,
                               void *scratch) {
  int axis = n->a.axis < 0 ? n->a.axis + in[0].shape.rank + 1 : n->a.axis;
  size_t outer = prod(&in[0].shape, 0, axis);
  size_t bytes = prod(&in[0].shape, axis, in[0].shape.rank) * 4;
  char *dst = out->data;
  (void)scratch;
  if (!bytes) return CSM_OK;
  for (size_t o = 0; o < outer; o++)
    for (int t = 0; t < n->n_in; t++, dst += bytes)
      memcpy(dst, (const char *)in[t].data + o * bytes, bytes);
  return CSM_OK;
}

/* The axis operand, normalised to [0, rank). */
static csm_status concat_axis(const csm_node *n, const csm_tensor *in, int *axis) {
  const csm_tensor *a = &in[n->n_in - 1];
  int rank = in[0].shape.rank;
  int64_t v[1];
  int count;
  csm_status st;
  if (a->shape.rank > 1)
    return csm_fail(CSM_EINPUT, "axis must be a scalar, got rank %d", a->shape.rank);
  if ((st = csm_op_ints(a, "axis", v, 1, &count))) return st;
  if (count != 1) return csm_fail(CSM_EINPUT, "axis must have exactly one entry, got %d", count);
  if (rank == 0) return csm_fail(CSM_EINPUT, "cannot concatenate scalars");
  if (v[0] < -rank || v[0] >= rank)
    return csm_fail(CSM_EINPUT, "axis %lld out of range for rank %d inputs", (long long)v[0], rank);
  *axis = (int)(v[0] < 0 ? v[0] + rank : v[0]);
  return CSM_OK;
}

static csm_status concat_infer(const csm_node *n, const csm_tensor *in, csm_tensor *out) {
  const csm_shape *s = &in[0].shape;
  int k = n->n_in - 1, axis;
  int64_t total = 0;
  char b0[128], b1[128];
  csm_status st;
  if (k < 1) return csm_fail(CSM_EINPUT, "Concat needs at least one value input and an axis");
  if ((st = check_values(in, k)) || (st = concat_axis(n, in, &axis))) return st;
  for (int i = 0; i < k; i++) {
    const csm_shape *t = &in[i].shape;
    int ok = t->rank == s->rank;
    for (int d = 0; ok && d < s->rank; d++)
      ok = d == axis || t->d[d] == s->d[d];
    if (!ok)
      return csm_fail(CSM_EINPUT, "input %d shape %s does not match input 0 shape %s on axis %d", i,
                      csm_shape_str(t, b1, sizeof b1), csm_shape_str(s, b0, sizeof b0), axis);
    total += t->d[axis]; /* each is checked below 2^40, so no overflow */
  }
  out->dtype = in[0].dtype;
  out->shape = *s;
  out->shape.d[axis] = total;
  if ((st = csm_shape_numel(&out->shape, &(size_t){0}))) return st;
  return CSM_OK;
}

static csm_status concat_forward(const csm_node *n, const csm_tensor *in, csm_tensor *out,
                                 void *scratch) {
  int k = n->n_in - 1, axis;
  size_t outer, inner;
  char *dst = out->data;
  csm_status st = concat_axis(n, in, &axis);
  (void)scratch;
  if (st) return st;
  if (csm_tensor_numel(out) == 0) return CSM_OK;
  outer = prod(&in[0].shape, 0, axis);
  inner = prod(&in[0].shape, axis + 1, in[0].shape.rank) * 4;
  for (size_t o = 0; o < outer; o++) {
    for (int t = 0; t < k; t++) {
      size_t bytes = (size_t)in[t].shape.d[axis] * inner;
      if (bytes) memcpy(dst, (const char *)in[t].data + o * bytes, bytes);
      dst += bytes;
    }
  }
  return CSM_OK;
}

const csm_op_def csm_op_pack = {.infer = pack_infer,
                                .forward = pack_forward,
                                .flops = no_flops,
                                .backward = csm_backward_movement,
                                .grad_operands = CSM_GRAD_ALL};
const csm_op_def csm_op_concat = {.infer = concat_infer,
                                  .forward = concat_forward,
                                  .flops = no_flops,
                                  .backward = csm_backward_movement,
                                  .grad_operands = CSM_GRAD_ALL_BUT_LAST};
