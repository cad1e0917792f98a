/* Image resizing (bilinear, or exact area averaging when shrinking) and
 * copying. Resizing is separable: each axis gets a table of source taps and
 * weights, and every output pixel sums the product of its two tap lists. */
#include "csm/image.h"
#include "image/image_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct axis_taps {
  int max;    /* taps per output position (row stride of w and idx) */
  int *count; /* [dst] */
  int *idx;   /* [dst][max] source indices */
  double *w;  /* [dst][max] weights, summing to 1 per output */
} axis_taps;

static void free_taps(axis_taps *t) {
  free(t->count);
  free(t->idx);
  free(t->w);
}

static csm_status make_taps(int src, int dst, int area, axis_taps *t) {
  memset(t, 0, sizeof *t);
  const double scale = (double)src / dst;
  /* Area averaging only makes sense when shrinking; when enlarging every
   * output pixel lies inside one source pixel, so it becomes bilinear. */
  const int box = area && dst < src;
  t->max = box ? (int)ceil(scale) + 2 : 2;
  size_t n;
  if (!csm_size_mul((size_t)dst, (size_t)t->max, &n))
    return csm_fail(CSM_EUSAGE, "resize tables too large");
  t->count = csm_malloc_array((size_t)dst, sizeof *t->count);
  t->idx = csm_malloc_array(n, sizeof *t->idx);
  t->w = csm_malloc_array(n, sizeof *t->w);
  if (!t->count || !t->idx || !t->w) {
    free_taps(t);
    return CSM_ENOMEM;
  }
  for (int i = 0; i < dst; i++) {
    int *idx = t->idx + (size_t)i * (size_t)t->max;
    double *w = t->w + (size_t)i * (size_t)t->max;
    int c = 0;
    if (box) {
      /* Output pixel i covers source [lo, hi); each source pixel k weighs
       * by its overlap, so partially covered pixels count fractionally. */
      const double lo = (double)i * src / dst, hi = (double)(i + 1) * src / dst;
      int k0 = (int)floor(lo), k1 = (int)ceil(hi) - 1;
      if (k1 > src - 1) k1 = src - 1;
      double sum = 0;
      for (int k = k0; k <= k1 && c < t->max; k++) {
        double a = fmin(hi, k + 1.0) - fmax(lo, (double)k);
        if (a <= 0) continue;
        idx[c] = k;
        w[c++] = a;
        sum += a;
      }
      for (int j = 0; j < c; j++)
        w[j] /= sum;
    } else {
      /* Half-pixel centres: output centre i+0.5 maps to source centre;
       * beyond the outermost centres the edge pixel is repeated. */
      double f = (i + 0.5) * scale - 0.5;
      if (f < 0) f = 0;
      if (f > src - 1) f = src - 1;
      int k = (int)floor(f);
      double frac = f - k;
      idx[c] = k;
      w[c++] = 1 - frac;
      if (frac > 0 && k + 1 < src) {
        idx[c] = k + 1;
        w[c++] = frac;
      }
    }
    t->count[i] = c;
  }
  return CSM_OK;
}

csm_status csm_image_resize(const csm_image *img, int w, int h, csm_resize_mode mode,
                            csm_image *out) {
  if (!img || !out || !img->rgb || img->w <= 0 || img->h <= 0)
    return csm_fail(CSM_EUSAGE, "resize: empty source image");
  if (w <= 0 || h <= 0 || (long long)w * h > CSM_IMAGE_MAX_PIXELS)
    return csm_fail(CSM_EUSAGE, "resize: bad target size %dx%d", w, h);
  if (mode == CSM_RESIZE_PIL_BICUBIC) return csm_image_resize_pil_bicubic(img, w, h, out);
  if (mode != CSM_RESIZE_BILINEAR && mode != CSM_RESIZE_AREA)
    return csm_fail(CSM_EUSAGE, "resize: unknown mode %d", (int)mode);
  const int area = mode == CSM_RESIZE_AREA;
  axis_taps tx, ty;
  csm_status st = make_taps(img->w, w, area, &tx);
  if (st) return st;
  if ((st = make_taps(img->h, h, area, &ty))) {
    free_taps(&tx);
    return st;
  }
  unsigned char *dst = csm_malloc_array((size_t)w * (size_t)h, 3);
  if (!dst) {
    free_taps(&tx);
    free_taps(&ty);
    return CSM_ENOMEM;
  }
  const size_t stride = (size_t)img->w * 3;
  for (int j = 0; j < h; j++) {
    const int *iy = ty.idx + (size_t)j * (size_t)ty.max;
    const double *wy = ty.w + (size_t)j * (size_t)ty.max;
    for (int i = 0; i < w; i++) {
      const int *ix = tx.idx + (size_t)i * (size_t)tx.max;
      const double *wx = tx.w + (size_t)i * (size_t)tx.max;
      double acc[3] = {0, 0, 0};
      for (int a = 0; a < ty.count[j]; a++) {
        const unsigned char *row = img->rgb + (size_t)iy[a] * stride;
        for (int b = 0; b < tx.count[i]; b++) {
          const unsigned char *p = row + (size_t)ix[b] * 3;
          const double k = wy[a] * wx[b];
          acc[0] += k * p[0];
          acc[1] += k * p[1];
          acc[2] += k * p[2];
        }
      }
      unsigned char *o = dst + ((size_t)j * (size_t)w + (size_t)i) * 3;
      for (int c = 0; c < 3; c++) {
        double v = floor(acc[c] + 0.5);
        o[c] = (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v);
      }
    }
  }
  free_taps(&tx);
  free_taps(&ty);
  out->w = w;
  out->h = h;
  out->rgb = dst;
  return CSM_OK;
}

csm_status csm_image_copy(const csm_image *img, csm_image *out) {
  if (!img || !out || !img->rgb || img->w <= 0 || img->h <= 0)
    return csm_fail(CSM_EUSAGE, "copy: empty source image");
  size_t n;
  if (!csm_size_mul((size_t)img->w, (size_t)img->h, &n) || !csm_size_mul(n, 3, &n))
    return csm_fail(CSM_EUSAGE, "copy: image size overflows");
  unsigned char *p = csm_malloc(n);
  if (!p) return CSM_ENOMEM;
  memcpy(p, img->rgb, n);
  out->w = img->w;
  out->h = img->h;
  out->rgb = p;
  return CSM_OK;
}
