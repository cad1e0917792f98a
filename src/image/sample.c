/* Bilinear resampling of images into float tensors: boxes and affine warps. */
#include "csm/image.h"

#include <math.h>

static float texel(const csm_image *img, int x, int y, int c) {
  if (x < 0 || y < 0 || x >= img->w || y >= img->h) return 0.0f;
  return img->rgb[((size_t)y * (size_t)img->w + (size_t)x) * 3 + (size_t)c];
}

csm_status csm_image_sample(const csm_image *img, const double box[4], int ow, int oh, int channels,
                            float lo, float hi, float *dst) {
  if (ow <= 0 || oh <= 0) return csm_fail(CSM_EUSAGE, "bad sample size %dx%d", ow, oh);
  if (!(box[2] > 0) || !(box[3] > 0)) return csm_fail(CSM_EUSAGE, "empty crop box");
  /* Pixel centres map to pixel centres (half-pixel convention). */
  const double m[6] = {box[2] / ow, 0, box[0], 0, box[3] / oh, box[1]};
  return csm_image_warp_affine(img, m, ow, oh, channels, lo, hi, dst);
}

csm_status csm_image_warp_affine(const csm_image *img, const double m[6], int ow, int oh,
                                 int channels, float lo, float hi, float *dst) {
  if (ow <= 0 || oh <= 0 || (channels != 1 && channels != 3))
    return csm_fail(CSM_EUSAGE, "bad sample size %dx%dx%d", ow, oh, channels);
  for (int k = 0; k < 6; k++)
    if (!isfinite(m[k])) return csm_fail(CSM_EUSAGE, "non-finite warp matrix");
  const float scale = (hi - lo) / 255.0f;
  for (int j = 0; j < oh; j++) {
    for (int i = 0; i < ow; i++) {
      /* Continuous source position, then pixel-index space (centres at k). */
      double fx = m[0] * (i + 0.5) + m[1] * (j + 0.5) + m[2] - 0.5;
      double fy = m[3] * (i + 0.5) + m[4] * (j + 0.5) + m[5] - 0.5;
      float *o = dst + ((size_t)j * (size_t)ow + (size_t)i) * (size_t)channels;
      if (!(fx > -1 && fy > -1 && fx < img->w && fy < img->h)) {
        for (int c = 0; c < channels; c++)
          o[c] = lo;
        continue;
      }
      int x0 = (int)floor(fx), y0 = (int)floor(fy);
      float wx = (float)(fx - x0), wy = (float)(fy - y0);
      float rgb[3];
      for (int c = 0; c < 3; c++) {
        float top = texel(img, x0, y0, c) * (1 - wx) + texel(img, x0 + 1, y0, c) * wx;
        float bot = texel(img, x0, y0 + 1, c) * (1 - wx) + texel(img, x0 + 1, y0 + 1, c) * wx;
        rgb[c] = top * (1 - wy) + bot * wy;
      }
      if (channels == 3) {
        for (int c = 0; c < 3; c++)
          o[c] = lo + rgb[c] * scale;
      } else {
        o[0] = lo + (0.299f * rgb[0] + 0.587f * rgb[1] + 0.114f * rgb[2]) * scale;
      }
    }
  }
  return CSM_OK;
}

void csm_image_bilinear_rgb(const csm_image *img, double x, double y, unsigned char rgb[3]) {
  x -= 0.5, y -= 0.5;
  int x0 = (int)floor(x), y0 = (int)floor(y);
  double fx = x - x0, fy = y - y0;
  int xa = x0 < 0 ? 0 : x0 >= img->w ? img->w - 1 : x0;
  int xb = x0 + 1 < 0 ? 0 : x0 + 1 >= img->w ? img->w - 1 : x0 + 1;
  int ya = y0 < 0 ? 0 : y0 >= img->h ? img->h - 1 : y0;
  int yb = y0 + 1 < 0 ? 0 : y0 + 1 >= img->h ? img->h - 1 : y0 + 1;
  const unsigned char *p = img->rgb;
  for (int k = 0; k < 3; k++) {
    double a = p[((size_t)ya * img->w + xa) * 3 + k], b = p[((size_t)ya * img->w + xb) * 3 + k];
    double d = p[((size_t)yb * img->w + xa) * 3 + k], e = p[((size_t)yb * img->w + xb) * 3 + k];
    double v = (1 - fy) * ((1 - fx) * a + fx * b) + fy * ((1 - fx) * d + fx * e);
    rgb[k] = (unsigned char)lround(fmin(255, fmax(0, v)));
  }
}
