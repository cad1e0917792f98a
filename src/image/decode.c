/* JPEG/PNG decoding through stb_image, with limits checked before decoding. */
#include "csm/image.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STBI_ONLY_JPEG
#define STBI_ONLY_PNG
#define STBI_NO_STDIO
#define STBI_MAX_DIMENSIONS (1 << 16)
#define STB_IMAGE_IMPLEMENTATION
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wpedantic"
#include <stb/stb_image.h>
#pragma GCC diagnostic pop

enum { MAX_FILE_BYTES = 512 << 20 };

static csm_status read_file(const char *path, unsigned char **data, size_t *len) {
  FILE *fp = fopen(path, "rb");
  if (!fp) return csm_fail(CSM_EIO, "%s: cannot open: %s", path, strerror(errno));
  if (fseek(fp, 0, SEEK_END) != 0) {
    fclose(fp);
    return csm_fail(CSM_EIO, "%s: cannot seek", path);
  }
  long n = ftell(fp);
  if (n < 0 || n > MAX_FILE_BYTES) {
    fclose(fp);
    return csm_fail(CSM_EINPUT, "%s: file size %ld is out of range", path, n);
  }
  rewind(fp);
  *data = csm_malloc((size_t)n + 1);
  if (!*data) {
    fclose(fp);
    return CSM_ENOMEM;
  }
  if (n > 0 && fread(*data, 1, (size_t)n, fp) != (size_t)n) {
    free(*data);
    fclose(fp);
    return csm_fail(CSM_EIO, "%s: read failed", path);
  }
  fclose(fp);
  *len = (size_t)n;
  return CSM_OK;
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
  if (!stbi_info_from_memory(buf, (int)len, &w, &h, &comp)) {
    free(buf);
    return csm_fail(CSM_EINPUT, "%s: not a readable JPEG or PNG image", path);
  }
  if (w <= 0 || h <= 0 || (long long)w * h > CSM_IMAGE_MAX_PIXELS) {
    free(buf);
    return csm_fail(CSM_EINPUT, "%s: image size %dx%d is out of range (at most %lld pixels)", path,
                    w, h, CSM_IMAGE_MAX_PIXELS);
  }
  out->rgb = stbi_load_from_memory(buf, (int)len, &w, &h, &comp, 3);
  free(buf);
  if (!out->rgb)
    return csm_fail(CSM_EINPUT, "%s: corrupt or truncated image (%s)", path, stbi_failure_reason());
  out->w = w;
  out->h = h;
  return CSM_OK;
}

void csm_image_free(csm_image *img) {
  if (!img) return;
  stbi_image_free(img->rgb);
  memset(img, 0, sizeof *img);
}
