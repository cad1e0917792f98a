/* Gather (ONNX): picks slices of x along attrs.axis by int32 indices
 * (negative counts from the end):
 *   out[o, k..., i] = x[o, indices[k...], i]
 * with o over the dims before the axis and i over the dims after it, so
 * out.shape = x.shape[:axis] + indices.shape + x.shape[axis+1:]. Scalar
 * indices drop the axis. Models use it on float activations and, in shape
 * arithmetic, on int32 shape vectors (Gather(Shape(x), 0)), where the
 * planner folds it like any op whose operands are all constant. */
#include "op.h"
#include "../grad/backward.h"

#include <string.h>

/* Below this many elements threads cost more than they save. */
#define GATHER_PARALLEL_MIN ((size_t)1 << 16)

static size_t prod(const csm_shape *s, int from, int to) {
  size_t p = 1;
  for (int i = from; i < to; i++)
    p *= (size_t)s->d[i];
  return p;
}

/* Every index lies in [-dim, dim). */
static csm_status check_indices(const csm_tensor *idx, int64_t dim) {
  const int32_t *v = idx->data;
  const size_t count = csm_tensor_numel(idx);
  for (size_t k = 0; k < count; k++)
    if (v[k] < -dim || v[k] >= dim)
      return csm_fail(CSM_EINPUT, "index %d (element %zu of indices) is out of range [%lld, %lld)",
                      (int)v[k], k, (long long)-dim, (long long)dim);
  return CSM_OK;
}

static csm_status gather_axis(const csm_node *n, const csm_shape *s, int *axis) {
  if (s->rank == 0) return csm_fail(CSM_EINPUT, "cannot gather from a scalar input");
  if (n->a.axis < -s->rank || n->a.axis >= s->rank)
    return csm_fail(CSM_EINPUT, "axis %d out of range for rank %d input", n->a.axis, s->rank);
  *axis = n->a.axis < 0 ? n->a.axis + s->rank : n->a.axis;
  return CSM_OK;
}

static csm_status gather_infer(const csm_node *n, const csm_tensor *in, csm_tensor *out) {
  const csm_shape *s = &in[0].shape, *is = &in[1].shape;
  int axis = 0;
  csm_status st;
  if (n->n_in != 2) return csm_fail(CSM_EINPUT, "Gather takes 2 inputs, got %d", n->n_in);
  if (in[0].dtype != CSM_F32 && in[0].dtype != CSM_I32)
    return csm_fail(CSM_EINPUT, "input has an unknown dtype %d", (int)in[0].dtype);
  if (in[1].dtype != CSM_I32) return csm_fail(CSM_EINPUT, "indices must be int32");
  if ((st = csm_shape_numel(s, &(size_t){0}))) return st;
  if ((st = csm_shape_numel(is, &(size_t){0}))) return csm_fail_context(st, "indices: ");
  if ((st = gather_axis(n, s, &axis))) return st;
  if (s->rank - 1 + is->rank > CSM_MAX_RANK)
    return csm_fail(CSM_EUNSUPPORTED, "output rank %d exceeds %d", s->rank - 1 + is->rank,
                    CSM_MAX_RANK);
  /* Constant indices (the usual case) are checked now, at plan time. */
  if (in[1].data && (st = check_indices(&in[1], s->d[axis]))) return st;
  out->dtype = in[0].dtype;
  out->shape.rank = 0;
  for (int d = 0; d < axis; d++)
    out->shape.d[out->shape.rank++] = s->d[d];
  for (int d = 0; d < is->rank; d++)
    out->shape.d[out->shape.rank++] = is->d[d];
  for (int d = axis + 1; d < s->rank; d++)
    out->shape.d[out->shape.rank++] = s->d[d];
  return csm_shape_numel(&out->shape, &(size_t){0});
}

static csm_status gather_forward(const csm_node *n, const csm_tensor *in, csm_tensor *out,
                                 void *scratch) {
  const csm_shape *s = &in[0].shape;
  const int32_t *idx = in[1].data;
  int axis = 0;
  csm_status st;
  (void)scratch;
  if ((st = gather_axis(n, s, &axis))) return st;
  if ((st = check_indices(&in[1], s->d[axis]))) return st;
  const size_t total = csm_tensor_numel(out);
  if (total == 0) return CSM_OK;
  const size_t outer = prod(s, 0, axis), inner = prod(s, axis + 1, s->rank);
  const size_t count = csm_tensor_numel(&in[1]), dim = (size_t)s->d[axis];
  const size_t bytes = inner * 4, rows = outer * count;
  const char *x = in[0].data;
  char *y = out->data;
#pragma omp parallel for schedule(static) if (total >= GATHER_PARALLEL_MIN && rows > 1)
  for (size_t r = 0; r < rows; r++) {
    size_t o = r / count;
    int64_t k = idx[r % count];
    size_t j = (size_t)(k < 0 ? k + (int64_t)dim : k);
    memcpy(y + r * bytes, x + (o * dim + j) * bytes, bytes);
  }
  return CSM_OK;
}

static double gather_flops(const csm_node *n, const csm_tensor *in, const csm_tensor *out) {
  (void)n;
  (void)in;
  (void)out;
  return 0.0;
}

const csm_op_def csm_op_gather = {.infer = gather_infer,
                                  .forward = gather_forward,
                                  .flops = gather_flops,
                                  .backward = csm_backward_gather};
