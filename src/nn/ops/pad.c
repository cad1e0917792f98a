/* Pad (TF Pad/PadV2, constant mode): paddings int32 [rank,2], an optional
 * scalar constant fill value (0 otherwise). The output is walked one row of
 * the last dim at a time: a row either lies wholly in the padding (filled),
 * or is fill + one contiguous input row + fill. */
#include "op.h"
#include "../grad/backward.h"

#include <string.h>

/* Below this many output elements threads cost more than they save. */
#define PAD_PARALLEL_MIN ((int64_t)1 << 16)

typedef struct pad_spec {
  int64_t before[CSM_MAX_RANK], after[CSM_MAX_RANK];
  uint32_t fill; /* the fill value's bits: both dtypes are 4 bytes */
} pad_spec;

static csm_status pad_read(const csm_node *n, const csm_tensor *in, pad_spec *p) {
  const csm_shape *s = &in[0].shape;
  const csm_tensor *pt = &in[1];
  int64_t v[2 * CSM_MAX_RANK];
  int count;
  csm_status st;
  if (n->n_in != 2 && n->n_in != 3)
    return csm_fail(CSM_EINPUT, "Pad takes 2 or 3 inputs, got %d", n->n_in);
  if (in[0].dtype != CSM_F32 && in[0].dtype != CSM_I32)
    return csm_fail(CSM_EINPUT, "input has an unknown dtype %d", (int)in[0].dtype);
  if ((st = csm_shape_numel(s, &(size_t){0}))) return st;
  if (pt->shape.rank != 2 || pt->shape.d[0] != s->rank || pt->shape.d[1] != 2) {
    char b[128];
    return csm_fail(CSM_EINPUT, "paddings must have shape [%d,2] for a rank %d input, got %s",
                    s->rank, s->rank, csm_shape_str(&pt->shape, b, sizeof b));
  }
  if ((st = csm_op_ints(pt, "paddings", v, 2 * CSM_MAX_RANK, &count))) return st;
  for (int d = 0; d < s->rank; d++) {
    p->before[d] = v[2 * d];
    p->after[d] = v[2 * d + 1];
    if (p->before[d] < 0 || p->after[d] < 0)
      return csm_fail(CSM_EINPUT, "paddings for dim %d are negative (%lld, %lld)", d,
                      (long long)p->before[d], (long long)p->after[d]);
  }
  p->fill = 0;
  if (n->n_in == 3) {
    const csm_tensor *c = &in[2];
    size_t numel;
    if (c->dtype != in[0].dtype)
      return csm_fail(CSM_EINPUT, "pad value dtype differs from the input dtype");
    if ((st = csm_shape_numel(&c->shape, &numel))) return st;
    if (numel != 1) return csm_fail(CSM_EINPUT, "pad value must be a scalar, has %zu", numel);
    if (!c->data) return csm_fail(CSM_EUNSUPPORTED, "pad value must be a constant");
    memcpy(&p->fill, c->data, 4);
  }
  return CSM_OK;
}

static csm_status pad_infer(const csm_node *n, const csm_tensor *in, csm_tensor *out) {
  pad_spec p;
  csm_status st = pad_read(n, in, &p);
  if (st) return st;
  out->dtype = in[0].dtype;
  out->shape = in[0].shape;
  /* Dims are below 2^40 and paddings below 2^31: the sums cannot overflow. */
  for (int d = 0; d < out->shape.rank; d++)
    out->shape.d[d] += p.before[d] + p.after[d];
  return csm_shape_numel(&out->shape, &(size_t){0});
}

static void fill_u32(uint32_t *dst, int64_t count, uint32_t v) {
  for (int64_t i = 0; i < count; i++)
    dst[i] = v;
}

static csm_status pad_forward(const csm_node *n, const csm_tensor *in, csm_tensor *out,
                              void *scratch) {
  const csm_shape *is = &in[0].shape, *os = &out->shape;
  const uint32_t *src = in[0].data;
  uint32_t *dst = out->data;
  int r = is->rank;
  int64_t rows, w_out, w_in, numel;
  pad_spec p;
  csm_status st = pad_read(n, in, &p);
  (void)scratch;
  if (st) return st;
  if (r == 0) {
    dst[0] = src[0];
    return CSM_OK;
  }
  numel = (int64_t)csm_tensor_numel(out);
  if (numel == 0) return CSM_OK;
  w_out = os->d[r - 1];
  w_in = is->d[r - 1];
  rows = numel / w_out;
#pragma omp parallel for schedule(static) if (numel >= PAD_PARALLEL_MIN)
  for (int64_t row = 0; row < rows; row++) {
    uint32_t *o = dst + row * w_out;
    int64_t rem = row, in_row = 0, scale = 1;
    int inside = 1;
    /* Decode the row's coordinates over dims r-2..0 into an input row index. */
    for (int d = r - 2; d >= 0; d--) {
      int64_t c = rem % os->d[d] - p.before[d];
      rem /= os->d[d];
      if (c < 0 || c >= is->d[d]) inside = 0;
      in_row += c * scale;
      scale *= is->d[d];
    }
    if (!inside) {
      fill_u32(o, w_out, p.fill);
      continue;
    }
    fill_u32(o, p.before[r - 1], p.fill);
    if (w_in) memcpy(o + p.before[r - 1], src + in_row * w_in, (size_t)w_in * 4);
    fill_u32(o + p.before[r - 1] + w_in, p.after[r - 1], p.fill);
  }
  return CSM_OK;
}

static double pad_flops(const csm_node *n, const csm_tensor *in, const csm_tensor *out) {
  (void)n;
  (void)in;
  (void)out;
  return 0.0;
}

const csm_op_def csm_op_pad = {
    .infer = pad_infer, .forward = pad_forward, .flops = pad_flops, .backward = csm_backward_pad};
