/* csm image: decoding and resampling into model inputs. */
#ifndef CSM_IMAGE_H
#define CSM_IMAGE_H

#include "csm/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 8-bit interleaved RGB pixels, row-major. */
typedef struct csm_image {
  int w, h;
  unsigned char *rgb;
} csm_image;

/* Largest image accepted (pixels); larger files are rejected, not decoded. */
#define CSM_IMAGE_MAX_PIXELS 100000000LL

/* Decodes a JPEG or PNG file (gray, RGB or RGBA; returned as RGB). Corrupt,
 * truncated, empty or oversized files are errors naming the file. */
csm_status csm_image_load(const char *path, csm_image *out);
void csm_image_free(csm_image *img);

/* Samples the box (x, y, w, h in image pixels; may extend past the border,
 * which reads as black) into dst[oh][ow][channels] with bilinear
 * interpolation at pixel centres. channels 3: RGB; 1: luma (ITU-R 601).
 * Values map 0..255 to lo..hi. */
csm_status csm_image_sample(const csm_image *img, const double box[4], int ow, int oh, int channels,
                            float lo, float hi, float *dst);

/* Affine resampling: output pixel (i, j) (centre i+0.5, j+0.5) reads the
 * source at x = m[0]*(i+0.5) + m[1]*(j+0.5) + m[2], y = m[3]*(i+0.5) +
 * m[4]*(j+0.5) + m[5] (continuous coordinates: pixel k spans [k, k+1)),
 * bilinearly; outside the image reads as black. Output as in
 * csm_image_sample (channels 1 or 3, 0..255 -> lo..hi). Crops with rotation
 * for face models use this. */
csm_status csm_image_warp_affine(const csm_image *img, const double m[6], int ow, int oh,
                                 int channels, float lo, float hi, float *dst);

#ifdef __cplusplus
}
#endif
#endif
