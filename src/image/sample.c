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
