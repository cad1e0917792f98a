/* Private helpers shared by the src/image/ files. */
#ifndef CSM_IMAGE_INTERNAL_H
#define CSM_IMAGE_INTERNAL_H

#include <stddef.h>

#include "csm/image.h"

/* EXIF orientation (1..8) of a JPEG held in buf, or 1 when absent or
 * malformed. Never reads outside buf[0..len). */
int csm_jpeg_exif_orientation(const unsigned char *buf, size_t len);

/* Reads the pixel size from a JPEG (SOF) or PNG (IHDR) header without
 * decoding. Returns 1 and sets *w, *h when found, 0 otherwise. For JPEGs,
 * *complete is set to whether the file reaches its EOI marker (a missing
 * EOI means the file was truncated); PNGs always report complete. *corrupt
 * is set (whatever the return value) for JPEGs with Huffman tables that
 * stb_image 2.27 would overflow on; nothing may decode those. */
int csm_image_probe(const unsigned char *buf, size_t len, long long *w, long long *h, int *complete,
                    int *corrupt);

/* Rewrites img in place so that EXIF orientation `orientation` becomes
 * upright (1 = unchanged). */
csm_status csm_image_apply_orientation(csm_image *img, int orientation);

/* csm_image_resize's CSM_RESIZE_PIL_BICUBIC (arguments checked there). */
csm_status csm_image_resize_pil_bicubic(const csm_image *img, int w, int h, csm_image *out);

/* 5x7 glyphs for ASCII 32..126: five column bytes each, bit 0 = top row. */
extern const unsigned char csm_font5x7[95][5];

#endif
