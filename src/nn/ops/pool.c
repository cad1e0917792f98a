/* MaxPool and AvgPool, NHWC float32, attrs.ksize / stride / padding (VALID,
 * SAME as TensorFlow, SAME_LOWER, or EXPLICIT pads).
 *
 * Both look only at in-bounds pixels, as TF.js's cpu kernel does: MaxPool
 * never sees padding, and AvgPool divides by the number of in-bounds pixels
 * in the window (so a border window of a SAME pool averages fewer pixels).
 * The average is accumulated in double in row-major window order and divided
 * in double, then rounded once, which is what the TF.js kernel computes.
 * Like TF.js, MaxPool skips NaN (NaN > m is false), and a 1x1 pool that keeps
 * the shape is an identity. Work is split over output rows; channels are the
 * contiguous, vectorized dimension.
 *
 * For ONNX/PyTorch: attrs.ceil_mode (VALID or EXPLICIT pads) rounds the
 * output size up, out = ceil((in + pads - k) / s) + 1, less one if the last
 * window would start past the input and the left padding (PyTorch's rule);
 * windows running past the padded input are clipped. attrs.count_include_pad
 * makes AvgPool divide by the window clipped to the padded input (padding
 * counts, the ceil_mode overhang does not: PyTorch's divisor). */
#include "op.h"
#include "../grad/backward.h"

#include <math.h>
#include <string.h>

#define PAR_MIN ((size_t)1 << 14)
#define BLK 64 /* channels accumulated together on the stack */

typedef struct geom {
  int64_t n, h, w, c, oh, ow;
  int kh, kw, sh, sw, pt, pl;
  int64_t eh, ew; /* end of the padded input (exclusive), in input coordinates */
  int include_pad;
} geom;

int64_t csm_pool_out(int64_t in, int k, int stride, const csm_attrs *a, int axis, int *pad_before,
                     int64_t *padded_end) {
  const int p0 = a->pads[2 * axis], p1 = a->pads[2 * axis + 1];
  const int explicit_pads = a->padding == CSM_PAD_EXPLICIT;
  int64_t out;
  *padded_end = in;
  if (a->ceil_mode && (explicit_pads || a->padding == CSM_PAD_VALID)) {
    const int64_t before = explicit_pads ? p0 : 0, after = explicit_pads ? p1 : 0;
    const int64_t span = in + before + after - k;
    *pad_before = (int)before;
    if (k <= 0 || stride <= 0 || in < 0 || span < 0) return -1;
    out = (span + stride - 1) / stride + 1;
    if ((out - 1) * stride >= in + before) out--;
    *padded_end = in + after;
    return out;
  }
  out = csm_window_out(in, k, stride, 1, a->padding, p0, p1, pad_before);
  if (out < 0) return out;
  if (explicit_pads) {
    *padded_end = in + p1;
  } else { /* VALID: no padding; SAME, SAME_LOWER: the total minus the part before */
    int64_t total = (out - 1) * stride + k - in;
    *padded_end = in + (total > 0 ? total : 0) - *pad_before;
  }
  return out;
}

static csm_status pool_geom(const csm_node *n, const csm_tensor *in, geom *g) {
  const csm_attrs *a = &n->a;
  const char *name = csm_op_name(n->op);
  char buf[128];
  if (n->n_in != 1) return csm_fail(CSM_EINPUT, "%s takes 1 input, got %d", name, n->n_in);
  if (in[0].dtype != CSM_F32) return csm_fail(CSM_EUNSUPPORTED, "%s needs a float32 input", name);
  if (in[0].shape.rank != 4)
    return csm_fail(CSM_EINPUT, "%s needs an NHWC input of rank 4, got %s", name,
                    csm_shape_str(&in[0].shape, buf, sizeof buf));
  if (a->ksize[0] <= 0 || a->ksize[1] <= 0 || a->stride[0] <= 0 || a->stride[1] <= 0)
    return csm_fail(CSM_EINPUT, "%s: window %dx%d and stride %dx%d must be positive", name,
                    a->ksize[0], a->ksize[1], a->stride[0], a->stride[1]);
  if (a->padding != CSM_PAD_VALID && a->padding != CSM_PAD_SAME &&
      a->padding != CSM_PAD_SAME_LOWER && a->padding != CSM_PAD_EXPLICIT)
    return csm_fail(CSM_EINPUT, "%s: unknown padding %d", name, (int)a->padding);
  if (a->padding == CSM_PAD_EXPLICIT &&
      (a->pads[0] < 0 || a->pads[1] < 0 || a->pads[2] < 0 || a->pads[3] < 0))
    return csm_fail(CSM_EINPUT, "%s: explicit pads must not be negative", name);
  g->n = in[0].shape.d[0];
  g->h = in[0].shape.d[1];
  g->w = in[0].shape.d[2];
  g->c = in[0].shape.d[3];
  g->kh = a->ksize[0];
  g->kw = a->ksize[1];
  g->sh = a->stride[0];
  g->sw = a->stride[1];
  g->oh = csm_pool_out(g->h, g->kh, g->sh, a, 0, &g->pt, &g->eh);
  g->ow = csm_pool_out(g->w, g->kw, g->sw, a, 1, &g->pl, &g->ew);
  g->include_pad = n->op == CSM_OP_AVGPOOL && a->count_include_pad;
  if (g->oh < 0 || g->ow < 0)
    return csm_fail(CSM_EINPUT, "%s: a %dx%d window does not fit input %s", name, g->kh, g->kw,
                    csm_shape_str(&in[0].shape, buf, sizeof buf));
  return CSM_OK;
}

static csm_status pool_infer(const csm_node *n, const csm_tensor *in, csm_tensor *out) {
  geom g;
  size_t count;
  csm_status st;
  if ((st = pool_geom(n, in, &g))) return st;
  int64_t d[4] = {g.n, g.oh, g.ow, g.c};
  out->dtype = CSM_F32;
  out->shape = csm_shape_make(4, d);
  return csm_shape_numel(&out->shape, &count);
}

/* The in-bounds window [*lo, *hi) along one axis for output position o. */
static void window(int64_t o, int stride, int pad, int k, int64_t size, int64_t *lo, int64_t *hi) {
  int64_t start = o * stride - pad;
  *lo = start < 0 ? 0 : start;
  *hi = start + k < size ? start + k : size;
}

static void max_row(const geom *g, const float *x, float *out, int64_t b, int64_t oy) {
  int64_t y0, y1, c = g->c;
  float acc[BLK]; /* a register-resident block instead of read-modify-write of out */
  window(oy, g->sh, g->pt, g->kh, g->h, &y0, &y1);
  for (int64_t ox = 0; ox < g->ow; ox++) {
    int64_t x0, x1;
    float *o = out + ((b * g->oh + oy) * g->ow + ox) * c;
    window(ox, g->sw, g->pl, g->kw, g->w, &x0, &x1);
    for (int64_t k0 = 0; k0 < c; k0 += BLK) {
      int64_t bl = c - k0 < BLK ? c - k0 : BLK;
      for (int64_t k = 0; k < bl; k++)
        acc[k] = -INFINITY;
      for (int64_t iy = y0; iy < y1; iy++)
        for (int64_t ix = x0; ix < x1; ix++) {
          const float *p = x + ((b * g->h + iy) * g->w + ix) * c + k0;
#pragma omp simd
          for (int64_t k = 0; k < bl; k++)
            acc[k] = p[k] > acc[k] ? p[k] : acc[k];
        }
      for (int64_t k = 0; k < bl; k++)
        o[k0 + k] = acc[k];
    }
  }
}

/* The window of output (oy, ox) clipped to the padded input only. */
static int64_t pad_count(const geom *g, int64_t oy, int64_t ox) {
  const int64_t y0 = oy * g->sh - g->pt, x0 = ox * g->sw - g->pl;
  const int64_t y1 = y0 + g->kh < g->eh ? y0 + g->kh : g->eh;
  const int64_t x1 = x0 + g->kw < g->ew ? x0 + g->kw : g->ew;
  return (y1 > y0 ? y1 - y0 : 0) * (x1 > x0 ? x1 - x0 : 0);
}

static void avg_row(const geom *g, const float *x, float *out, int64_t b, int64_t oy) {
  int64_t y0, y1, c = g->c;
  double acc[BLK];
  window(oy, g->sh, g->pt, g->kh, g->h, &y0, &y1);
  for (int64_t ox = 0; ox < g->ow; ox++) {
    int64_t x0, x1;
    float *o = out + ((b * g->oh + oy) * g->ow + ox) * c;
    window(ox, g->sw, g->pl, g->kw, g->w, &x0, &x1);
    /* An empty window (only possible with explicit pads) gives 0/0 = NaN. */
    double count = (double)((y1 > y0 ? y1 - y0 : 0) * (x1 > x0 ? x1 - x0 : 0));
    if (g->include_pad) count = (double)pad_count(g, oy, ox);
    for (int64_t k0 = 0; k0 < c; k0 += BLK) {
      int64_t bl = c - k0 < BLK ? c - k0 : BLK;
      for (int64_t k = 0; k < bl; k++)
        acc[k] = 0.0;
      for (int64_t iy = y0; iy < y1; iy++)
        for (int64_t ix = x0; ix < x1; ix++) {
          const float *p = x + ((b * g->h + iy) * g->w + ix) * c + k0;
#pragma omp simd
          for (int64_t k = 0; k < bl; k++)
            acc[k] += (double)p[k];
        }
      for (int64_t k = 0; k < bl; k++)
        o[k0 + k] = (float)(acc[k] / count);
    }
  }
}

static csm_status pool_forward(const csm_node *n, const csm_tensor *in, csm_tensor *out,
                               void *scratch) {
  geom g;
  const float *x = in[0].data;
  float *o = out->data;
  size_t total = csm_tensor_numel(out);
  csm_status st;
  (void)scratch;
  if ((st = pool_geom(n, in, &g))) return st;
  if (total == 0) return CSM_OK;
  if (g.kh == 1 && g.kw == 1 && g.pt == 0 && g.pl == 0 && g.oh == g.h && g.ow == g.w) {
    if (o != x) memmove(o, x, total * sizeof(float));
    return CSM_OK;
  }
  int64_t rows = g.n * g.oh;
  int is_max = n->op == CSM_OP_MAXPOOL;
  size_t work = total * (size_t)g.kh * (size_t)g.kw;
#pragma omp parallel for schedule(static) if (work >= PAR_MIN && rows > 1)
  for (int64_t r = 0; r < rows; r++) {
    if (is_max)
      max_row(&g, x, o, r / g.oh, r % g.oh);
    else
      avg_row(&g, x, o, r / g.oh, r % g.oh);
  }
  return CSM_OK;
}

static double pool_flops(const csm_node *n, const csm_tensor *in, const csm_tensor *out) {
  (void)in;
  return (double)csm_tensor_numel(out) * n->a.ksize[0] * n->a.ksize[1];
}

const csm_op_def csm_op_maxpool = {.infer = pool_infer,
                                   .forward = pool_forward,
                                   .flops = pool_flops,
                                   .backward = csm_backward_pool};
const csm_op_def csm_op_avgpool = {.infer = pool_infer,
                                   .forward = pool_forward,
                                   .flops = pool_flops,
                                   .backward = csm_backward_pool};
