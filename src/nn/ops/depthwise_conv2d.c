/* DepthwiseConv2dNative: NHWC input, filter [KH,KW,C,M], output channel
 * c*M+m = sum over taps of x[..,c] * f[i,j,c,m]; then bias and activation.
 *
 * Channels are contiguous in NHWC, so the kernels vectorize over channels
 * (16, then 8, then 4 at a time, with GCC vector extensions: AVX-512 with
 * -march=native, narrower instructions elsewhere). Output pixels whose taps all fall inside the
 * input row are done four at a time, sharing each filter vector; the border pixels take a
 * bounds-checked path. Every output element is the same computation on every path: 0, plus x*f for
 * each tap inside the input in (i, j) order, then bias, then the activation. Rows of the output are
 * independent, so the batch and the thread count never change a result. */
#include <string.h>

#include "activation.h"
#include "conv_reference.h"
#include "vec.h"
#include "../grad/backward.h"

enum { TILE = 4 };

/* pixel_<T>: channels [c0, c0 + lanes) of one output pixel, bounds-checked.
 * tile_<T>: the same channels of TILE output pixels from ow, all of whose
 * taps are inside the input row; each filter vector serves four pixels. */
#define CSM_DW_KERNELS(T)                                                                          \
  static void pixel_##T(const csm_conv_geom *g, const float *xb, const float *f, int64_t oh,       \
                        int64_t ow, int64_t c0, float *y) {                                        \
    const int64_t C = g->c;                                                                        \
    T acc = {0};                                                                                   \
    for (int64_t i = 0; i < g->kh; i++) {                                                          \
      const int64_t ih = oh * g->sh - g->pad_top + i * g->dh;                                      \
      if (ih < 0 || ih >= g->h) continue;                                                          \
      for (int64_t j = 0; j < g->kw; j++) {                                                        \
        const int64_t iw = ow * g->sw - g->pad_left + j * g->dw;                                   \
        if (iw < 0 || iw >= g->w) continue;                                                        \
        acc += VLOAD(T, xb + (ih * g->w + iw) * C + c0) * VLOAD(T, f + (i * g->kw + j) * C + c0);  \
      }                                                                                            \
    }                                                                                              \
    VSTORE(T, y + c0, acc);                                                                        \
  }                                                                                                \
  static void tile_##T(const csm_conv_geom *g, const float *xb, const float *f, int64_t oh,        \
                       int64_t ow, int64_t c0, float *y) {                                         \
    const int64_t C = g->c, step = g->sw * C;                                                      \
    const int64_t iw0 = ow * g->sw - g->pad_left;                                                  \
    T a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};                                                      \
    for (int64_t i = 0; i < g->kh; i++) {                                                          \
      const int64_t ih = oh * g->sh - g->pad_top + i * g->dh;                                      \
      if (ih < 0 || ih >= g->h) continue;                                                          \
      const float *xr = xb + (ih * g->w + iw0) * C + c0;                                           \
      const float *fr = f + i * g->kw * C + c0;                                                    \
      for (int64_t j = 0; j < g->kw; j++) {                                                        \
        const T fv = VLOAD(T, fr + j * C);                                                         \
        const float *xp = xr + j * g->dw * C;                                                      \
        a0 += VLOAD(T, xp) * fv;                                                                   \
        a1 += VLOAD(T, xp + step) * fv;                                                            \
        a2 += VLOAD(T, xp + 2 * step) * fv;                                                        \
        a3 += VLOAD(T, xp + 3 * step) * fv;                                                        \
      }                                                                                            \
    }                                                                                              \
    VSTORE(T, y + c0, a0);                                                                         \
    VSTORE(T, y + C + c0, a1);                                                                     \
    VSTORE(T, y + 2 * C + c0, a2);                                                                 \
    VSTORE(T, y + 3 * C + c0, a3);                                                                 \
  }

CSM_DW_KERNELS(v16)
CSM_DW_KERNELS(v8)
CSM_DW_KERNELS(v4)

/* Channels [c0, C) of one output pixel, one channel at a time. */
static void pixel_scalar(const csm_conv_geom *g, const float *xb, const float *f, int64_t oh,
                         int64_t ow, int64_t c0, float *y) {
  for (int64_t c = c0; c < g->c; c++) {
    float acc = 0.0f;
    for (int64_t i = 0; i < g->kh; i++) {
      const int64_t ih = oh * g->sh - g->pad_top + i * g->dh;
      if (ih < 0 || ih >= g->h) continue;
      for (int64_t j = 0; j < g->kw; j++) {
        const int64_t iw = ow * g->sw - g->pad_left + j * g->dw;
        if (iw < 0 || iw >= g->w) continue;
        acc += xb[(ih * g->w + iw) * g->c + c] * f[(i * g->kw + j) * g->c + c];
      }
    }
    y[c] = acc;
  }
}

/* One output pixel with bounds checks (multiplier 1): 16 channels at a
 * time, then 8, then 4, then one. */
static void pixel(const csm_conv_geom *g, const float *xb, const float *f, int64_t oh, int64_t ow,
                  float *y) {
  int64_t c0 = 0;
  for (; c0 + 16 <= g->c; c0 += 16)
    pixel_v16(g, xb, f, oh, ow, c0, y);
  if (c0 + 8 <= g->c) {
    pixel_v8(g, xb, f, oh, ow, c0, y);
    c0 += 8;
  }
  if (c0 + 4 <= g->c) {
    pixel_v4(g, xb, f, oh, ow, c0, y);
    c0 += 4;
  }
  pixel_scalar(g, xb, f, oh, ow, c0, y);
}

/* TILE interior output pixels from ow. */
static void tile(const csm_conv_geom *g, const float *xb, const float *f, int64_t oh, int64_t ow,
                 float *y) {
  int64_t c0 = 0;
  for (; c0 + 16 <= g->c; c0 += 16)
    tile_v16(g, xb, f, oh, ow, c0, y);
  if (c0 + 8 <= g->c) {
    tile_v8(g, xb, f, oh, ow, c0, y);
    c0 += 8;
  }
  if (c0 + 4 <= g->c) {
    tile_v4(g, xb, f, oh, ow, c0, y);
    c0 += 4;
  }
  for (int t = 0; t < TILE && c0 < g->c; t++)
    pixel_scalar(g, xb, f, oh, ow + t, c0, y + t * g->c);
}

/* Any multiplier: output channel c*M+m accumulates x[c] * f[i,j,c,m]. */
static void pixel_mult(const csm_conv_geom *g, const float *xb, const float *f, int64_t oh,
                       int64_t ow, float *y) {
  const int64_t C = g->c, M = g->mult;
  memset(y, 0, (size_t)(C * M) * sizeof(float));
  for (int64_t i = 0; i < g->kh; i++) {
    const int64_t ih = oh * g->sh - g->pad_top + i * g->dh;
    if (ih < 0 || ih >= g->h) continue;
    for (int64_t j = 0; j < g->kw; j++) {
      const int64_t iw = ow * g->sw - g->pad_left + j * g->dw;
      if (iw < 0 || iw >= g->w) continue;
      const float *xp = xb + (ih * g->w + iw) * C, *fp = f + (i * g->kw + j) * C * M;
      for (int64_t c = 0; c < C; c++)
        for (int64_t m = 0; m < M; m++)
          y[c * M + m] += xp[c] * fp[c * M + m];
    }
  }
}

static csm_status dw_infer(const csm_node *n, const csm_tensor *in, csm_tensor *out) {
  csm_conv_geom g;
  csm_status st = csm_conv_geom_get(n, in, &g);
  if (st) return st;
  st = csm_epilogue_check(n, in, g.co);
  if (st) return st;
  int64_t dims[4] = {g.n, g.oh, g.ow, g.co};
  out->dtype = CSM_F32;
  out->shape = csm_shape_make(4, dims);
  return CSM_OK;
}

static csm_status dw_forward(const csm_node *n, const csm_tensor *in, csm_tensor *out,
                             void *scratch) {
  csm_conv_geom g;
  csm_epilogue e;
  (void)scratch;
  csm_status st = csm_conv_geom_get(n, in, &g);
  if (st) return st;
  csm_epilogue_from_node(n, in, &e);
  const float *x = in[0].data, *f = in[1].data;
  float *y = out->data;
  const int64_t rows = g.n * g.oh;
  if (rows <= 0 || g.ow == 0 || g.co == 0) return CSM_OK;
  /* Output columns [lo, hi) have every horizontal tap inside the input. */
  int64_t lo = 0, hi = g.ow;
  while (lo < g.ow && lo * g.sw - g.pad_left < 0)
    lo++;
  while (hi > lo && (hi - 1) * g.sw - g.pad_left + (g.kw - 1) * g.dw >= g.w)
    hi--;
  const double work = (double)rows * (double)g.ow * (double)g.co * (double)(g.kh * g.kw);

#pragma omp parallel for schedule(static) if (rows > 1 && work > 65536.0)
  for (int64_t r = 0; r < rows; r++) {
    const int64_t b = r / g.oh, oh = r % g.oh;
    const float *xb = x + b * g.h * g.w * g.c;
    float *yr = y + r * g.ow * g.co;
    if (g.mult != 1) {
      for (int64_t ow = 0; ow < g.ow; ow++)
        pixel_mult(&g, xb, f, oh, ow, yr + ow * g.co);
    } else {
      int64_t ow = 0;
      for (; ow < lo; ow++)
        pixel(&g, xb, f, oh, ow, yr + ow * g.co);
      for (; ow + TILE <= hi; ow += TILE)
        tile(&g, xb, f, oh, ow, yr + ow * g.co);
      for (; ow < g.ow; ow++)
        pixel(&g, xb, f, oh, ow, yr + ow * g.co);
    }
    if (e.bias || e.act != CSM_ACT_NONE) csm_epilogue_rows(yr, g.ow, g.co, &e);
  }
  return CSM_OK;
}

static double dw_flops(const csm_node *n, const csm_tensor *in, const csm_tensor *out) {
  double px = 1.0;
  (void)n;
  for (int d = 1; d < out->shape.rank; d++)
    px *= (double)out->shape.d[d];
  if (out->shape.rank > 0 && out->shape.d[0] > 0) px *= (double)out->shape.d[0];
  return 2.0 * px * (double)in[1].shape.d[0] * (double)in[1].shape.d[1];
}

const csm_op_def csm_op_depthwise_conv2d = {.infer = dw_infer,
                                            .scratch = NULL,
                                            .forward = dw_forward,
                                            .flops = dw_flops,
                                            .backward = csm_backward_depthwise_conv2d,
                                            .flags = CSM_OP_CONV | CSM_OP_WEIGHTED};

csm_status csm_depthwise_conv2d_reference(const csm_node *n, const csm_tensor *in,
                                          csm_tensor *out) {
  csm_conv_geom g;
  csm_epilogue e;
  csm_status st = csm_conv_geom_get(n, in, &g);
  if (st) return st;
  csm_epilogue_from_node(n, in, &e);
  const float *x = in[0].data, *f = in[1].data;
  float *y = out->data;
  for (int64_t b = 0; b < g.n; b++)
    for (int64_t oh = 0; oh < g.oh; oh++)
      for (int64_t ow = 0; ow < g.ow; ow++)
        for (int64_t c = 0; c < g.c; c++)
          for (int64_t m = 0; m < g.mult; m++) {
            double s = 0.0;
            for (int64_t i = 0; i < g.kh; i++)
              for (int64_t j = 0; j < g.kw; j++) {
                const int64_t ih = oh * g.sh - g.pad_top + i * g.dh;
                const int64_t iw = ow * g.sw - g.pad_left + j * g.dw;
                if (ih < 0 || ih >= g.h || iw < 0 || iw >= g.w) continue;
                s += (double)x[((b * g.h + ih) * g.w + iw) * g.c + c] *
                     (double)f[((i * g.kw + j) * g.c + c) * g.mult + m];
              }
            const int64_t o = c * g.mult + m;
            float v = (float)s;
            if (e.bias) v += e.bias[o];
            y[((b * g.oh + oh) * g.ow + ow) * g.co + o] = csm_act_apply(v, &e, o);
          }
  return CSM_OK;
}
