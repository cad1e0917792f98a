/* ResizeNearestNeighbor (NHWC float32) with ONNX Resize's coordinate rules.
 *
 * Output index o maps to the source coordinate
 *   asymmetric (no flag)  o * ratio
 *   align_corners         o * (in - 1) / (out - 1)   (0 when out == 1)
 *   half_pixel_centers    (o + 0.5) * ratio - 0.5
 * with ratio = in/out for a size operand and 1/scale for the one-operand
 * form (as ONNX Runtime does), evaluated in double as one product and one
 * division (o * in / out, o / scale), so that a coordinate that is exactly an
 * integer or a half is computed exactly and rounds as the mode says.
 * attrs.nearest_mode rounds it (round_prefer_floor: halves go down, ONNX's
 * default; round_prefer_ceil: halves go up; floor; ceil) and the index is
 * clamped into [0, in - 1]. The source rows and columns are computed once
 * per call into scratch; the copy is then a gather of channel runs. */
#include <math.h>
#include <string.h>

#include "op.h"
#include "../grad/backward.h"

void csm_resize_nearest_map(const csm_node *n, int axis, int64_t in, int64_t out, int64_t *map) {
  const int half = n->a.half_pixel_centers, align = n->a.align_corners;
  const int scaled = n->n_in == 1 && !align;
  const double scale = (double)n->a.scale[axis];
  for (int64_t o = 0; o < out; o++) {
    double src;
    if (align) {
      src = out > 1 ? (double)o * (double)(in - 1) / (double)(out - 1) : 0.0;
    } else {
      const double at = half ? (double)o + 0.5 : (double)o;
      src = scaled ? at / scale : at * (double)in / (double)out;
      if (half) src -= 0.5;
    }
    double r;
    switch (n->a.nearest_mode) {
    case CSM_NEAREST_ROUND_PREFER_CEIL: r = floor(src + 0.5); break;
    case CSM_NEAREST_FLOOR: r = floor(src); break;
    case CSM_NEAREST_CEIL: r = ceil(src); break;
    case CSM_NEAREST_ROUND_PREFER_FLOOR:
    default: r = ceil(src - 0.5); break;
    }
    map[o] = r < 0.0 ? 0 : r > (double)(in - 1) ? in - 1 : (int64_t)r;
  }
}

static csm_status nearest_infer(const csm_node *n, const csm_tensor *in, csm_tensor *out) {
  int64_t size[2];
  csm_status st = csm_resize_out_size(n, in, size);
  if (st) return st;
  if ((int)n->a.nearest_mode < CSM_NEAREST_ROUND_PREFER_FLOOR ||
      n->a.nearest_mode > CSM_NEAREST_CEIL)
    return csm_fail(CSM_EINPUT, "%s has an unknown nearest_mode (%d)", csm_op_name(n->op),
                    (int)n->a.nearest_mode);
  out->dtype = CSM_F32;
  out->shape = in[0].shape;
  out->shape.d[1] = size[0];
  out->shape.d[2] = size[1];
  return csm_shape_numel(&out->shape, &(size_t){0});
}

static size_t nearest_scratch(const csm_node *n, const csm_tensor *in, const csm_tensor *out) {
  (void)n;
  (void)in;
  if (out->shape.rank != 4 || out->shape.d[1] < 0 || out->shape.d[2] < 0) return 0;
  return (size_t)(out->shape.d[1] + out->shape.d[2]) * sizeof(int64_t);
}

static csm_status nearest_forward(const csm_node *n, const csm_tensor *in, csm_tensor *out,
                                  void *scratch) {
  const int64_t batch = in[0].shape.d[0], ih = in[0].shape.d[1], iw = in[0].shape.d[2];
  const int64_t ch = in[0].shape.d[3], oh = out->shape.d[1], ow = out->shape.d[2];
  int64_t *rows = scratch, *cols = rows + oh;
  const float *x = in[0].data;
  float *y = out->data;
  const int64_t lines = batch * oh;
  csm_resize_nearest_map(n, 0, ih, oh, rows);
  csm_resize_nearest_map(n, 1, iw, ow, cols);
#pragma omp parallel for schedule(static) if (lines > 1 && lines * ow * ch >= 32768)
  for (int64_t line = 0; line < lines; line++) {
    const int64_t b = line / oh, r = line % oh;
    const float *src = x + (b * ih + rows[r]) * iw * ch;
    float *o = y + line * ow * ch;
    for (int64_t c = 0; c < ow; c++)
      memcpy(o + c * ch, src + cols[c] * ch, (size_t)ch * sizeof(float));
  }
  return CSM_OK;
}

const csm_op_def csm_op_resize_nearest = {.infer = nearest_infer,
                                          .scratch = nearest_scratch,
                                          .forward = nearest_forward,
                                          .backward = csm_backward_resize_nearest};
