/* ResizeBilinear (NHWC float32) computed as TF.js 4.22's cpu backend does
 * (tfjs-backend-cpu kernels/ResizeBilinear.js), so that outputs match it:
 * JavaScript numbers are doubles, so the source coordinates, fractions and
 * the three lerps are evaluated in double and only the result is rounded to
 * float. Each lerp is split into separate statements so that the compiler
 * cannot fuse it into an FMA and change the rounding.
 *
 * ONNX Resize with scales is the one-operand form: the output is
 * floor(in * scale) and the source coordinate uses 1/scale as the ratio (ONNX
 * Runtime, PyTorch's scale_factor) instead of in/out. */
#include "op.h"
#include "../grad/backward.h"

#include <math.h>

/* Below this many output elements threads cost more than they save. */
#define RESIZE_PARALLEL_MIN ((int64_t)1 << 15)

csm_status csm_resize_out_size(const csm_node *n, const csm_tensor *in, int64_t size[2]) {
  const char *op = csm_op_name(n->op);
  const csm_shape *s = &in[0].shape;
  int count;
  csm_status st;
  if (n->n_in != 1 && n->n_in != 2)
    return csm_fail(CSM_EINPUT, "%s takes 2 inputs (or 1 with scales), got %d", op, n->n_in);
  if (in[0].dtype != CSM_F32) return csm_fail(CSM_EINPUT, "images must be float32");
  if (s->rank != 4)
    return csm_fail(CSM_EINPUT, "images must have rank 4 (NHWC), got rank %d", s->rank);
  if ((st = csm_shape_numel(s, &(size_t){0}))) return st;
  if (s->d[1] < 1 || s->d[2] < 1)
    return csm_fail(CSM_EINPUT, "images have an empty spatial size %lldx%lld", (long long)s->d[1],
                    (long long)s->d[2]);
  if (n->n_in == 2) {
    if (in[1].shape.rank != 1)
      return csm_fail(CSM_EINPUT, "size must be a vector, got rank %d", in[1].shape.rank);
    if ((st = csm_op_ints(&in[1], "size", size, 2, &count))) return st;
    if (count != 2) return csm_fail(CSM_EINPUT, "size must have 2 entries, got %d", count);
  } else {
    for (int k = 0; k < 2; k++) {
      const double sc = (double)n->a.scale[k], v = floor((double)s->d[1 + k] * sc);
      if (!(sc > 0.0) || !(v < 2147483648.0))
        return csm_fail(CSM_EINPUT, "%s scales must be positive and finite, got %g,%g", op,
                        (double)n->a.scale[0], (double)n->a.scale[1]);
      size[k] = (int64_t)v;
    }
  }
  if (size[0] < 1 || size[1] < 1)
    return csm_fail(CSM_EINPUT, "size must be positive, got [%lld,%lld]", (long long)size[0],
                    (long long)size[1]);
  /* TF and TF.js reject this combination. */
  if (n->a.align_corners && n->a.half_pixel_centers)
    return csm_fail(CSM_EINPUT, "align_corners and half_pixel_centers cannot both be set");
  return CSM_OK;
}

double csm_resize_scaled_ratio(const csm_node *n, int axis, int64_t in, int64_t out) {
  if (n->n_in == 1 && !n->a.align_corners) return 1.0 / (double)n->a.scale[axis];
  return csm_resize_ratio(in, out, n->a.align_corners);
}

static csm_status resize_infer(const csm_node *n, const csm_tensor *in, csm_tensor *out) {
  int64_t size[2];
  csm_status st = csm_resize_out_size(n, in, size);
  if (st) return st;
  out->dtype = CSM_F32;
  out->shape = in[0].shape;
  out->shape.d[1] = size[0];
  out->shape.d[2] = size[1];
  return csm_shape_numel(&out->shape, &(size_t){0});
}

double csm_resize_ratio(int64_t in, int64_t out, int align) {
  int shrink = align && out > 1;
  return (double)(shrink ? in - 1 : in) / (double)(shrink ? out - 1 : out);
}

csm_resize_tap csm_resize_tap_at(double ratio, int64_t i, int64_t in, int half) {
  csm_resize_tap t;
  double src = half ? ratio * ((double)i + 0.5) - 0.5 : ratio * (double)i;
  double fl = floor(src), ce = ceil(src);
  t.lo = fl > 0 ? (int64_t)fl : 0;
  t.frac = src - (double)t.lo;
  t.hi = ce < (double)(in - 1) ? (int64_t)ce : in - 1;
  return t;
}

static csm_status resize_forward(const csm_node *n, const csm_tensor *in, csm_tensor *out,
                                 void *scratch) {
  const int64_t batch = in[0].shape.d[0], ih = in[0].shape.d[1], iw = in[0].shape.d[2];
  const int64_t ch = in[0].shape.d[3], oh = out->shape.d[1], ow = out->shape.d[2];
  const int half = n->a.half_pixel_centers;
  const double rr = csm_resize_scaled_ratio(n, 0, ih, oh);
  const double cr = csm_resize_scaled_ratio(n, 1, iw, ow);
  const float *x = in[0].data;
  float *y = out->data;
  const int64_t rows = batch * oh, numel = rows * ow * ch;
  (void)scratch;
#pragma omp parallel for schedule(static) if (numel >= RESIZE_PARALLEL_MIN)
  for (int64_t br = 0; br < rows; br++) {
    const int64_t b = br / oh, r = br % oh;
    const csm_resize_tap rt = csm_resize_tap_at(rr, r, ih, half);
    const float *top = x + (b * ih + rt.lo) * iw * ch;
    const float *bot = x + (b * ih + rt.hi) * iw * ch;
    float *o = y + br * ow * ch;
    for (int64_t c = 0; c < ow; c++) {
      const csm_resize_tap ct = csm_resize_tap_at(cr, c, iw, half);
      const float *tl = top + ct.lo * ch, *tr = top + ct.hi * ch;
      const float *bl = bot + ct.lo * ch, *brp = bot + ct.hi * ch;
      for (int64_t d = 0; d < ch; d++) {
        double dt = ((double)tr[d] - (double)tl[d]) * ct.frac;
        double t = (double)tl[d] + dt;
        double db = ((double)brp[d] - (double)bl[d]) * ct.frac;
        double bo = (double)bl[d] + db;
        double dv = (bo - t) * rt.frac;
        *o++ = (float)(t + dv);
      }
    }
  }
  return CSM_OK;
}

/* Three lerps (subtract, multiply, add) per output element. */
static double resize_flops(const csm_node *n, const csm_tensor *in, const csm_tensor *out) {
  (void)n;
  (void)in;
  return 9.0 * (double)csm_tensor_numel(out);
}

const csm_op_def csm_op_resize_bilinear = {.infer = resize_infer,
                                           .forward = resize_forward,
                                           .flops = resize_flops,
                                           .backward = csm_backward_resize_bilinear};
