/* JPEG/PNG decoding through stb_image, with limits checked before decoding. */
#include "csm/image.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/image_internal.h"

#define STBI_ONLY_JPEG
#define STBI_ONLY_PNG
#define STBI_NO_STDIO
#define STBI_MAX_DIMENSIONS (1 << 16)
/* Static, so that libcsm does not export stb symbols that could clash with
 * an application's own copy. */
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
/* stb_image 2.27 lets hostile JPEGs overflow signed ints in its DC
 * prediction and dequantisation (fixed upstream in 2.28 with "bad delta"
 * checks). The results only land in (short) coefficients, so make that
 * arithmetic wrap by definition rather than be undefined behaviour. */
#if defined(__clang__)
#pragma clang attribute push(__attribute__((no_sanitize("signed-integer-overflow"))),              \
                             apply_to = function)
#elif defined(__GNUC__)
#pragma GCC push_options
#pragma GCC optimize("wrapv")
#endif
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wpedantic"
#if defined(__GNUC__) && !defined(__clang__)
/* A false positive at -O3 once the wrapv code is inlined. */
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <stb/stb_image.h>
#pragma GCC diagnostic pop
#if defined(__clang__)
#pragma clang attribute pop
#elif defined(__GNUC__)
#pragma GCC pop_options
#endif
/* GCC reports static prototypes of the formats compiled out at the end of
 * the file, after the pop, so this one stays off for the whole file. */
#pragma GCC diagnostic ignored "-Wunused-function"

enum { MAX_FILE_BYTES = 512 << 20 };

static csm_status read_file(const char *path, unsigned char **data, size_t *len) {
  char *p;
  csm_status st = csm_read_file(path, MAX_FILE_BYTES, &p, len);
  *data = st ? NULL : (unsigned char *)p;
  return st;
}

csm_status csm_image_load(const char *path, csm_image *out) {
  unsigned char *buf = NULL;
  size_t len = 0;
  int w, h, comp;
  memset(out, 0, sizeof *out);
  csm_status st = read_file(path, &buf, &len);
  if (st) return st;
  if (len == 0) {
    free(buf);
    return csm_fail(CSM_EINPUT, "%s: empty file", path);
  }
  /* The size comes from our own header parse first, so that an oversized or
   * empty image gets a message saying so (stb's own checks only say "too
   * large") and is rejected before any pixel memory is allocated. */
  long long pw = 0, ph = 0;
  int complete = 1, corrupt = 0;
  const int probed = csm_image_probe(buf, len, &pw, &ph, &complete, &corrupt);
  if (corrupt) {
    free(buf);
    return csm_fail(CSM_EINPUT, "%s: corrupt JPEG (bad Huffman table)", path);
  }
  if (probed && (pw <= 0 || ph <= 0 || pw > CSM_IMAGE_MAX_PIXELS / ph)) {
    free(buf);
    return csm_fail(CSM_EINPUT, "%s: image size %lldx%lld is out of range (at most %lld pixels)",
                    path, pw, ph, CSM_IMAGE_MAX_PIXELS);
  }
  if (!stbi_info_from_memory(buf, (int)len, &w, &h, &comp)) {
    const char *why = stbi_failure_reason();
    free(buf);
    return csm_fail(CSM_EINPUT, "%s: not a readable JPEG or PNG image (%s)", path,
                    why ? why : "unknown format");
  }
  if (w <= 0 || h <= 0 || (long long)w * h > CSM_IMAGE_MAX_PIXELS) {
    free(buf);
    return csm_fail(CSM_EINPUT, "%s: image size %dx%d is out of range (at most %lld pixels)", path,
                    w, h, CSM_IMAGE_MAX_PIXELS);
  }
  /* stb_image decodes a truncated JPEG without complaint (the missing part
   * comes out grey), so require the end-of-image marker. */
  if (!complete) {
    free(buf);
    return csm_fail(CSM_EINPUT, "%s: truncated JPEG (no end-of-image marker)", path);
  }
  const int orientation = csm_jpeg_exif_orientation(buf, len);
  out->rgb = stbi_load_from_memory(buf, (int)len, &w, &h, &comp, 3);
  free(buf);
  if (!out->rgb)
    return csm_fail(CSM_EINPUT, "%s: corrupt or truncated image (%s)", path, stbi_failure_reason());
  out->w = w;
  out->h = h;
  /* Cameras store pixels sensor-up and record the upright orientation in
   * EXIF; callers (face detectors) need the upright image. */
  st = csm_image_apply_orientation(out, orientation);
  if (st) {
    csm_image_free(out);
    return csm_fail_context(st, "%s: ", path);
  }
  return CSM_OK;
}

void csm_image_free(csm_image *img) {
  if (!img) return;
  stbi_image_free(img->rgb);
  memset(img, 0, sizeof *img);
}
