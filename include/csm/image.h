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

/* Largest image accepted (pixels); larger files are rejected, not decoded.
 * 100 million: about the largest camera sensors. It is a bound on what
 * an image may claim at all; the memory limit (csm_memory_check) is what
 * bounds the decoding of any size below it on a given machine. */
#define CSM_IMAGE_MAX_PIXELS 100000000LL

/* Decodes a JPEG or PNG file (gray, RGB or RGBA; returned as RGB). A JPEG's
 * EXIF orientation (1-8) is applied, so the pixels are always upright (w and
 * h swapped for the rotated orientations). Empty, zero-sized or oversized
 * files are CSM_EINPUT, with a one-line message naming the file; a missing
 * or unreadable file, a folder or a FIFO is CSM_EIO ("not a regular file",
 * never blocking). Everything is checked from the header before decoding:
 * the pixel count; what decoding that size allocates, against the memory
 * limit ("<file>: decoding WxH pixels needs N bytes, limit M
 * (--max-memory)"); a PNG's IDAT data, inflated into a buffer of exactly
 * its declared size ("<file>: PNG data inflates past its declared WxH
 * size" for a zlib bomb). A JPEG must reach its end-of-image marker: one
 * cut short is "truncated", one damaged inside "corrupt". */
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

/* One RGB pixel read bilinearly at continuous coordinates (pixel k spans
 * [k, k+1)), edge pixels repeated; for warps that write 8-bit images. */
void csm_image_bilinear_rgb(const csm_image *img, double x, double y, unsigned char rgb[3]);

/* ---- Implemented by src/image/{encode,resize,draw}.c -------------------- */

/* Writes img as an 8-bit RGB PNG, atomically: to "path.tmp.<pid>", then
 * renamed over path, so path is never seen half-written. Write failures are
 * CSM_EIO naming the file; the temporary file is removed. */
csm_status csm_image_write_png(const char *path, const csm_image *img);

/* The same PNG in memory: *data (malloc'ed, free()) of *len bytes. */
csm_status csm_image_encode_png(const csm_image *img, unsigned char **data, size_t *len);
/* A JPEG in memory (quality 1..100), for photos in self-contained pages. */
csm_status csm_image_encode_jpeg(const csm_image *img, int quality, unsigned char **data,
                                 size_t *len);
/* A new image of size w x h (1 <= w*h <= CSM_IMAGE_MAX_PIXELS), each
 * channel rounded to nearest. BILINEAR: half-pixel centres (output centre
 * i+0.5 reads source x = (i+0.5)*src_w/w - 0.5), edge pixels repeated.
 * AREA: on each shrinking axis an output pixel is the exact mean of the
 * source span it covers, partly covered source pixels weighted by their
 * coverage; enlarging axes fall back to bilinear. PIL_BICUBIC: the same
 * bytes as Pillow's Image.resize((w, h)) of an RGB image (its default
 * bicubic filter, antialiased when shrinking; src/image/resize_pil.c), as
 * Python pipelines feed their models. out is freed with csm_image_free. */
typedef enum csm_resize_mode {
  CSM_RESIZE_BILINEAR,
  CSM_RESIZE_AREA,
  CSM_RESIZE_PIL_BICUBIC
} csm_resize_mode;
csm_status csm_image_resize(const csm_image *img, int w, int h, csm_resize_mode mode,
                            csm_image *out);

/* Copies img (for drawing overlays on a copy); free with csm_image_free. */
csm_status csm_image_copy(const csm_image *img, csm_image *out);

/* Drawing for overlays: colour is 0xRRGGBB, coordinates in pixels with
 * integer coordinates at pixel centres, clipped to the image. Non-finite
 * coordinates draw nothing; huge ones draw only the visible part. Points
 * are filled discs and lines are pixels within thickness/2 of the segment
 * (at least one pixel wide; the pixels nearest the endpoints are always
 * set); a box is its four edges as lines, interior untouched. */
void csm_draw_point(csm_image *img, float x, float y, float radius, uint32_t rgb);
void csm_draw_line(csm_image *img, float x0, float y0, float x1, float y1, float thickness,
                   uint32_t rgb);
void csm_draw_box(csm_image *img, float x, float y, float w, float h, float thickness,
                  uint32_t rgb);
/* Text in a built-in 5x7 bitmap font (ASCII 32..126; other bytes draw '?',
 * '\n' starts a new line) in 6x8 cells scaled by scale (clamped to 1..64),
 * top-left at x, y. */
void csm_draw_text(csm_image *img, int x, int y, const char *text, int scale, uint32_t rgb);

#ifdef __cplusplus
}
#endif
#endif
