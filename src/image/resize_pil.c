/* Bicubic resizing exactly as Pillow's Image.resize((w, h)) does it for an
 * 8-bit RGB image (its default filter since Pillow 7): the reference
 * implementation of Canonical Saliency Maps feeds its model this way, so the
 * reference mode (--align prnet) must see the same bytes.
 *
 * Pillow's algorithm, as documented by its source (libImaging/Resample.c):
 * separable, the horizontal pass first, then the vertical one, each rounding
 * to 8 bits. Per output position the source centre is (i + 0.5) * scale; the
 * Keys cubic (a = -0.5) is stretched by the scale when shrinking
 * (antialiasing); taps span [centre - support, centre + support) rounded,
 * clipped to the image, and their weights are normalized to sum 1 and then
 * turned into 22-bit fixed point (rounded half away from zero). A pixel is
 * the integer sum plus one half, shifted back and clipped to 0..255. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image/image_internal.h"

#define PIL_PRECISION_BITS (32 - 8 - 2)
#define PIL_BICUBIC_SUPPORT 2.0

static double keys_cubic(double x) {
  const double a = -0.5;
  if (x < 0) x = -x;
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

/* One axis: for output position i, taps first[i] .. first[i] + count[i] - 1
 * with fixed-point weights k[i * ksize + t]. */
typedef struct pil_axis {
  int ksize;
  int *first, *count;
  int32_t *k;
} pil_axis;

static void axis_free(pil_axis *a) {
  free(a->first);
  free(a->count);
  free(a->k);
}

static csm_status axis_make(int in_size, int out_size, pil_axis *a) {
  double scale = (double)in_size / out_size;
  double filterscale = scale < 1 ? 1 : scale;
  double support = PIL_BICUBIC_SUPPORT * filterscale;
  a->ksize = (int)ceil(support) * 2 + 1;
  a->first = csm_malloc_array((size_t)out_size, sizeof(int));
  a->count = csm_malloc_array((size_t)out_size, sizeof(int));
  a->k = csm_calloc((size_t)out_size * (size_t)a->ksize, sizeof(int32_t));
  double *w = csm_malloc_array((size_t)a->ksize, sizeof(double));
  if (!a->first || !a->count || !a->k || !w) {
    free(w);
    axis_free(a);
    return CSM_ENOMEM;
  }
  for (int i = 0; i < out_size; i++) {
    double centre = (i + 0.5) * scale;
    /* (int) truncates toward zero, as the C source does. */
    int lo = (int)(centre - support + 0.5), hi = (int)(centre + support + 0.5);
    if (lo < 0) lo = 0;
    if (hi > in_size) hi = in_size;
    int n = hi - lo;
    if (n > a->ksize) n = a->ksize;
    double sum = 0;
    for (int t = 0; t < n; t++)
      sum += w[t] = keys_cubic((t + lo - centre + 0.5) / filterscale);
    for (int t = 0; t < n; t++) {
      double v = sum != 0 ? w[t] / sum : w[t];
      double fixed = v * (1 << PIL_PRECISION_BITS);
      a->k[(size_t)i * a->ksize + t] = (int32_t)(v < 0 ? fixed - 0.5 : fixed + 0.5);
    }
    a->first[i] = lo, a->count[i] = n;
  }
  free(w);
  return CSM_OK;
}

static unsigned char clip8(int32_t v) {
  if (v >= (int32_t)1 << (PIL_PRECISION_BITS + 8)) return 255;
  if (v <= 0) return 0;
  return (unsigned char)(v >> PIL_PRECISION_BITS);
}

/* dst (w x rows) from rows row0.. of src (sw wide), along x. */
static void pass_x(const unsigned char *src, int sw, int row0, int rows, const pil_axis *ax, int w,
                   unsigned char *dst) {
  for (int j = 0; j < rows; j++) {
    const unsigned char *in = src + (size_t)(row0 + j) * sw * 3;
    for (int i = 0; i < w; i++) {
      const int32_t *k = ax->k + (size_t)i * ax->ksize;
      int32_t s[3] = {1 << (PIL_PRECISION_BITS - 1), 1 << (PIL_PRECISION_BITS - 1),
                      1 << (PIL_PRECISION_BITS - 1)};
      for (int t = 0; t < ax->count[i]; t++) {
        const unsigned char *p = in + (size_t)(ax->first[i] + t) * 3;
        s[0] += p[0] * k[t], s[1] += p[1] * k[t], s[2] += p[2] * k[t];
      }
      unsigned char *o = dst + ((size_t)j * w + i) * 3;
      o[0] = clip8(s[0]), o[1] = clip8(s[1]), o[2] = clip8(s[2]);
    }
  }
}

/* dst (w x h) along y from src (w wide), whose row 0 is source row row0. */
static void pass_y(const unsigned char *src, int w, int row0, const pil_axis *ay, int h,
                   unsigned char *dst) {
  for (int j = 0; j < h; j++) {
    const int32_t *k = ay->k + (size_t)j * ay->ksize;
    for (int i = 0; i < w; i++) {
      int32_t s[3] = {1 << (PIL_PRECISION_BITS - 1), 1 << (PIL_PRECISION_BITS - 1),
                      1 << (PIL_PRECISION_BITS - 1)};
      for (int t = 0; t < ay->count[j]; t++) {
        const unsigned char *p = src + ((size_t)(ay->first[j] + t - row0) * w + i) * 3;
        s[0] += p[0] * k[t], s[1] += p[1] * k[t], s[2] += p[2] * k[t];
      }
      unsigned char *o = dst + ((size_t)j * w + i) * 3;
      o[0] = clip8(s[0]), o[1] = clip8(s[1]), o[2] = clip8(s[2]);
    }
  }
}

csm_status csm_image_resize_pil_bicubic(const csm_image *img, int w, int h, csm_image *out) {
  pil_axis ax = {0}, ay = {0};
  unsigned char *tmp = NULL, *dst = NULL;
  csm_status st = axis_make(img->w, w, &ax);
  if (!st) st = axis_make(img->h, h, &ay);
  if (st) goto done;
  /* Pillow skips an axis whose size does not change. */
  const unsigned char *src = img->rgb;
  int sw = img->w, row0 = 0;
  if (w != img->w) {
    /* Only the source rows that the vertical pass reads. */
    int r0 = h != img->h ? ay.first[0] : 0;
    int r1 = h != img->h ? ay.first[h - 1] + ay.count[h - 1] : img->h;
    tmp = csm_malloc_array((size_t)w * (size_t)(r1 - r0), 3);
    if (!tmp) {
      st = CSM_ENOMEM;
      goto done;
    }
    pass_x(img->rgb, img->w, r0, r1 - r0, &ax, w, tmp);
    src = tmp, sw = w, row0 = r0;
  }
  dst = csm_malloc_array((size_t)w * (size_t)h, 3);
  if (!dst) {
    st = CSM_ENOMEM;
    goto done;
  }
  if (h != img->h)
    pass_y(src, sw, row0, &ay, h, dst);
  else
    memcpy(dst, src, (size_t)w * h * 3);
  out->w = w, out->h = h, out->rgb = dst;
  dst = NULL;
done:
  axis_free(&ax);
  axis_free(&ay);
  free(tmp);
  free(dst);
  return st;
}
