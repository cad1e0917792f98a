/* Private helpers shared by the src/image/ files. */
#ifndef CSM_IMAGE_INTERNAL_H
#define CSM_IMAGE_INTERNAL_H

#include <stddef.h>

#include "csm/image.h"

/* What a JPEG's or PNG's header says, read without decoding. */
enum { CSM_IMAGE_UNKNOWN = 0, CSM_IMAGE_JPEG, CSM_IMAGE_PNG };
typedef struct csm_image_info {
  int format;     /* CSM_IMAGE_JPEG, CSM_IMAGE_PNG or CSM_IMAGE_UNKNOWN */
  int have_size;  /* w and h were found (JPEG: SOF; PNG: IHDR) */
  long long w, h; /* as declared */
  /* JPEGs: complete when the marker walk reaches the EOI marker; if not,
   * truncated when the data ended first and the file does not end with an
   * EOI (else the file is corrupt: a malformed marker at byte bad_at). */
  int complete, truncated;
  size_t bad_at;
  /* JPEGs with Huffman tables that stb_image 2.27 would overflow on;
   * nothing may decode those. */
  int corrupt;
  int components, progressive; /* JPEG: from the SOF */
  int orientation;             /* JPEG: EXIF orientation 1..8 (1 when absent) */
} csm_image_info;

/* Fills info from the bytes of a file; PNGs always report complete. Never
 * reads outside buf[0..len). */
void csm_image_probe(const unsigned char *buf, size_t len, csm_image_info *info);

/* Rewrites img in place so that EXIF orientation `orientation` becomes
 * upright (1 = unchanged). */
csm_status csm_image_apply_orientation(csm_image *img, int orientation);

/* csm_image_resize's CSM_RESIZE_PIL_BICUBIC (arguments checked there). */
csm_status csm_image_resize_pil_bicubic(const csm_image *img, int w, int h, csm_image *out);

/* 5x7 glyphs for ASCII 32..126: five column bytes each, bit 0 = top row. */
extern const unsigned char csm_font5x7[95][5];

#endif
