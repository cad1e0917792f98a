/* DepthToSpace (TF, NHWC, DCR order): output[n, h*b+i, w*b+j, c] =
 * input[n, h, w, (i*b + j)*C' + c] with C' = C / (b*b). For a fixed output
 * row (n, h*b+i) and input column w, the b*C' values for j = 0..b-1 are
 * contiguous in both tensors, so each is one memcpy. */
#include "op.h"
#include "../grad/backward.h"

#include <string.h>

/* Below this many elements threads cost more than they save. */
#define D2S_PARALLEL_MIN ((int64_t)1 << 16)

static csm_status d2s_infer(const csm_node *n, const csm_tensor *in, csm_tensor *out) {
  const csm_shape *s = &in[0].shape;
  int64_t b = n->a.block_size, bb;
  csm_status st;
  if (n->n_in != 1) return csm_fail(CSM_EINPUT, "DepthToSpace takes 1 input, got %d", n->n_in);
  if (in[0].dtype != CSM_F32 && in[0].dtype != CSM_I32)
    return csm_fail(CSM_EINPUT, "input has an unknown dtype %d", (int)in[0].dtype);
  if (s->rank != 4)
    return csm_fail(CSM_EINPUT, "input must have rank 4 (NHWC), got rank %d", s->rank);
  if ((st = csm_shape_numel(s, &(size_t){0}))) return st;
  /* TensorFlow requires at least 2; the upper bound keeps b*b and h*b small. */
  if (b < 2 || b > 65536)
    return csm_fail(CSM_EINPUT, "block_size %lld out of range [2, 65536]", (long long)b);
  bb = b * b;
  if (s->d[3] % bb != 0)
    return csm_fail(CSM_EINPUT, "depth %lld is not divisible by block_size^2 = %lld",
                    (long long)s->d[3], (long long)bb);
  out->dtype = in[0].dtype;
  out->shape = *s;
  out->shape.d[1] = s->d[1] * b; /* dims < 2^40, b <= 2^16: no overflow */
  out->shape.d[2] = s->d[2] * b;
  out->shape.d[3] = s->d[3] / bb;
  return csm_shape_numel(&out->shape, &(size_t){0});
}

static csm_status d2s_forward(const csm_node *n, const csm_tensor *in, csm_tensor *out,
                              void *scratch) {
  const int64_t b = n->a.block_size;
  const int64_t ih = in[0].shape.d[1], iw = in[0].shape.d[2], ic = in[0].shape.d[3];
  const int64_t oh = out->shape.d[1], oc = out->shape.d[3];
  const int64_t rows = in[0].shape.d[0] * oh, numel = rows * out->shape.d[2] * oc;
  const size_t run = (size_t)(b * oc) * 4;
  const char *x = in[0].data;
  char *y = out->data;
  (void)scratch;
  if (numel == 0) return CSM_OK;
#pragma omp parallel for schedule(static) if (numel >= D2S_PARALLEL_MIN)
  for (int64_t row = 0; row < rows; row++) {
    const int64_t nn = row / oh, h = (row % oh) / b, i = (row % oh) % b;
    const char *src = x + (((nn * ih + h) * iw) * ic + i * b * oc) * 4;
    char *dst = y + (size_t)row * iw * run;
    for (int64_t w = 0; w < iw; w++)
      memcpy(dst + (size_t)w * run, src + w * ic * 4, run);
  }
  return CSM_OK;
}

static double d2s_flops(const csm_node *n, const csm_tensor *in, const csm_tensor *out) {
  (void)n;
  (void)in;
  (void)out;
  return 0.0;
}

const csm_op_def csm_op_depth_to_space = {.infer = d2s_infer,
                                          .forward = d2s_forward,
                                          .flops = d2s_flops,
                                          .backward = csm_backward_movement};
