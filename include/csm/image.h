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

#ifdef __cplusplus
}
#endif
#endif
