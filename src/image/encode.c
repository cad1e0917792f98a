/* PNG encoding through stb_image_write, written atomically: a temporary
 * file next to the target, renamed over it only once complete, so readers
 * never see a half-written image. */
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
#include <stb/stb_image_write.h>
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
  size_t n = strlen(path) + 32;
  char *tmp = csm_malloc(n);
  if (!tmp) return CSM_ENOMEM;
  snprintf(tmp, n, "%s.tmp.%ld", path, (long)getpid());
  png_sink sink = {fopen(tmp, "wb"), 0};
  if (!sink.fp) {
    csm_status st =
        csm_fail(CSM_EIO, "%s: cannot create temporary file %s: %s", path, tmp, strerror(errno));
    free(tmp);
    return st;
  }
  errno = 0;
  int ok = stbi_write_png_to_func(sink_write, &sink, img->w, img->h, 3, img->rgb, img->w * 3);
  int err = sink.failed;
  if (fflush(sink.fp) != 0 && !err) err = errno ? errno : EIO;
  if (fclose(sink.fp) != 0 && !err) err = errno ? errno : EIO;
  if (!ok || err) {
    remove(tmp);
    free(tmp);
    if (!ok) return csm_fail(CSM_ENOMEM, "%s: PNG encoding failed (out of memory)", path);
    return csm_fail(CSM_EIO, "%s: write failed: %s", path, strerror(err));
  }
  if (rename(tmp, path) != 0) {
    csm_status st = csm_fail(CSM_EIO, "%s: cannot rename into place: %s", path, strerror(errno));
    remove(tmp);
    free(tmp);
    return st;
  }
  free(tmp);
  return CSM_OK;
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
