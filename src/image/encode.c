/* PNG encoding through stb_image_write, written atomically through
 * csm_atomic_file (core/file.c): readers never see a half-written image. */
#include "csm/image.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STBI_WRITE_NO_STDIO
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wpedantic"
/* stb_image_write's JPEG bit writer shifts a signed int past its sign bit
 * (bitBuf <<= 8 in stbiw__jpg_writeBits): defined with wrapping, the bits
 * it keeps are the same, and sanitizer builds do not stop on every JPEG. */
#if defined(__clang__)
#pragma clang attribute push(__attribute__((no_sanitize("shift"))), apply_to = function)
#elif defined(__GNUC__)
#pragma GCC push_options
#pragma GCC optimize("wrapv")
#endif
#include <stb/stb_image_write.h>
#if defined(__clang__)
#pragma clang attribute pop
#elif defined(__GNUC__)
#pragma GCC pop_options
#endif
#pragma GCC diagnostic pop
/* GCC reports static prototypes of the formats compiled out at the end of
 * the file, after the pop, so this one stays off for the whole file. */
#pragma GCC diagnostic ignored "-Wunused-function"

typedef struct png_sink {
  FILE *fp;
  int failed;
} png_sink;

/* stb reports no write errors, so the sink remembers them. */
static void sink_write(void *ctx, void *data, int size) {
  png_sink *s = ctx;
  if (s->failed || size <= 0) return;
  if (fwrite(data, 1, (size_t)size, s->fp) != (size_t)size) s->failed = errno ? errno : EIO;
}

csm_status csm_image_write_png(const char *path, const csm_image *img) {
  if (!path || !img || !img->rgb || img->w <= 0 || img->h <= 0)
    return csm_fail(CSM_EUSAGE, "%s: no image to write", path ? path : "(null)");
  if ((long long)img->w * img->h > CSM_IMAGE_MAX_PIXELS || img->w > INT_MAX / 3)
    return csm_fail(CSM_EUSAGE, "%s: image size %dx%d is too large to write", path, img->w, img->h);
  csm_atomic_file *out;
  csm_status st = csm_atomic_file_open(path, &out);
  if (st) return st;
  png_sink sink = {csm_atomic_file_stream(out), 0};
  errno = 0;
  int ok = stbi_write_png_to_func(sink_write, &sink, img->w, img->h, 3, img->rgb, img->w * 3);
  if (!ok || sink.failed) {
    st = !ok ? csm_fail(CSM_ENOMEM, "%s: PNG encoding failed (out of memory)", path)
             : csm_fail(CSM_EIO, "%s: write failed: %s", path, strerror(sink.failed));
    csm_atomic_file_abort(out);
    return st;
  }
  return csm_atomic_file_commit(out);
}

typedef struct mem_sink {
  unsigned char *p;
  size_t n, cap;
  int failed;
} mem_sink;

static void mem_write(void *ctx, void *data, int size) {
  mem_sink *s = ctx;
  if (s->failed || size <= 0) return;
  if (s->n + (size_t)size > s->cap) {
    size_t cap = (s->n + (size_t)size) * 2;
    unsigned char *p = realloc(s->p, cap);
    if (!p) {
      s->failed = 1;
      return;
    }
    s->p = p, s->cap = cap;
  }
  memcpy(s->p + s->n, data, (size_t)size);
  s->n += (size_t)size;
}

csm_status csm_image_encode_png(const csm_image *img, unsigned char **data, size_t *len) {
  if (!img || !img->rgb || img->w <= 0 || img->h <= 0 || !data || !len)
    return csm_fail(CSM_EUSAGE, "csm_image_encode_png: no image");
  if ((long long)img->w * img->h > CSM_IMAGE_MAX_PIXELS || img->w > INT_MAX / 3)
    return csm_fail(CSM_EUSAGE, "image size %dx%d is too large to encode", img->w, img->h);
  mem_sink s = {NULL, 0, 0, 0};
  int ok = stbi_write_png_to_func(mem_write, &s, img->w, img->h, 3, img->rgb, img->w * 3);
  if (!ok || s.failed) {
    free(s.p);
    return csm_fail(CSM_ENOMEM, "PNG encoding failed (out of memory)");
  }
  *data = s.p;
  *len = s.n;
  return CSM_OK;
}

csm_status csm_image_encode_jpeg(const csm_image *img, int quality, unsigned char **data,
                                 size_t *len) {
  if (!img || !img->rgb || img->w <= 0 || img->h <= 0 || !data || !len || quality < 1 ||
      quality > 100)
    return csm_fail(CSM_EUSAGE, "csm_image_encode_jpeg: bad arguments");
  if ((long long)img->w * img->h > CSM_IMAGE_MAX_PIXELS || img->w > INT_MAX / 3)
    return csm_fail(CSM_EUSAGE, "image size %dx%d is too large to encode", img->w, img->h);
  mem_sink s = {NULL, 0, 0, 0};
  int ok = stbi_write_jpg_to_func(mem_write, &s, img->w, img->h, 3, img->rgb, quality);
  if (!ok || s.failed) {
    free(s.p);
    return csm_fail(CSM_ENOMEM, "JPEG encoding failed (out of memory)");
  }
  *data = s.p;
  *len = s.n;
  return CSM_OK;
}
