/* JPEG/PNG decoding through stb_image, with limits checked before decoding. */
#include "csm/image.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
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

static uint32_t be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Saturating size arithmetic for the memory estimates: an overflow reads
 * as SIZE_MAX, which no limit allows. */
static size_t sat_add(size_t a, size_t b) { return a > SIZE_MAX - b ? SIZE_MAX : a + b; }
static size_t sat_mul(size_t a, size_t b) {
  size_t n;
  return csm_size_mul(a, b, &n) ? n : SIZE_MAX;
}
static size_t size_max(size_t a, size_t b) { return a > b ? a : b; }

/* ---- PNG: the structure and a bounded inflate, before stb_image ----------
 * stb_image inflates the whole IDAT stream into a buffer that it doubles as
 * it goes, whatever the header says: a 2 MB file declaring 64x64 pixels can
 * inflate to gigabytes. So the chunks are walked first (each must lie inside
 * the file), and the IDAT data is inflated into a buffer of exactly the size
 * that the header declares; a stream that needs more is refused. */

typedef struct png_layout {
  uint32_t w, h;
  int depth, color, interlace;
  int cgbi;          /* Apple's iPhone PNG: raw deflate, no zlib header */
  int ihdr_ok;       /* IHDR came first and holds values stb accepts */
  size_t idat_bytes; /* all IDAT chunks together */
} png_layout;

static int png_channels(int color) {
  switch (color) {
  case 0: return 1; /* grey */
  case 2: return 3; /* RGB */
  case 3: return 1; /* palette index */
  case 4: return 2; /* grey + alpha */
  case 6: return 4; /* RGBA */
  default: return 0;
  }
}

/* The chunk type for messages: four letters, anything else as '?'. */
static void png_type_name(const unsigned char *t, char name[5]) {
  for (int i = 0; i < 4; i++)
    name[i] = (t[i] >= 'A' && t[i] <= 'Z') || (t[i] >= 'a' && t[i] <= 'z') ? (char)t[i] : '?';
  name[4] = '\0';
}

/* Walks the chunks to IEND as stb_image reads them (CgBI anywhere, then
 * IHDR first, IDAT chunks wherever they are). A chunk reaching past the end
 * is a truncated file, unless the file still ends with an IEND chunk: then
 * the length is corrupt. */
static csm_status png_walk(const char *path, const unsigned char *b, size_t n, png_layout *pl) {
  memset(pl, 0, sizeof *pl);
  const int ends_with_iend = n >= 20 && memcmp(b + n - 8, "IEND", 4) == 0 && be32(b + n - 12) == 0;
  const char *fault = ends_with_iend ? "corrupt" : "truncated";
  int first = 1;
  for (size_t p = 8;;) {
    if (p == n) return csm_fail(CSM_EINPUT, "%s: truncated PNG (no IEND chunk)", path);
    if (n - p < 12)
      return csm_fail(CSM_EINPUT, "%s: %s PNG (chunk at byte %zu cut short)", path, fault, p);
    const uint32_t len = be32(b + p);
    const unsigned char *type = b + p + 4, *data = b + p + 8;
    char name[5];
    png_type_name(type, name);
    if (len > 0x7FFFFFFFu)
      return csm_fail(CSM_EINPUT, "%s: corrupt PNG ('%s' chunk at byte %zu: length %u)", path, name,
                      p, len);
    if (len > n - p - 12)
      return csm_fail(CSM_EINPUT, "%s: %s PNG ('%s' chunk at byte %zu needs %u bytes, %zu left)",
                      path, fault, name, p, len, n - p - 12);
    if (memcmp(type, "CgBI", 4) == 0) {
      pl->cgbi = 1;
    } else if (first) {
      first = 0;
      if (memcmp(type, "IHDR", 4) == 0 && len == 13) {
        pl->w = be32(data);
        pl->h = be32(data + 4);
        pl->depth = data[8];
        pl->color = data[9];
        pl->interlace = data[12];
        const int d = pl->depth;
        /* What stb checks: depths 1..16 with any colour type but a 16-bit
         * palette, compression and filter method 0, interlace 0 or 1. */
        pl->ihdr_ok = (d == 1 || d == 2 || d == 4 || d == 8 || d == 16) &&
                      png_channels(pl->color) > 0 && !(pl->color == 3 && d == 16) &&
                      data[10] == 0 && data[11] == 0 && pl->interlace <= 1;
      }
    } else if (memcmp(type, "IDAT", 4) == 0) {
      pl->idat_bytes += len;
    } else if (memcmp(type, "IEND", 4) == 0) {
      return CSM_OK;
    }
    p += 12 + (size_t)len;
  }
}

/* The filtered data that the header declares: per row a filter byte and
 * ceil(w * bits / 8) bytes; interlaced (Adam7), that for each of the seven
 * reduced images. SIZE_MAX when it does not fit. */
static size_t png_raw_bytes(const png_layout *pl) {
  static const int x0[7] = {0, 4, 0, 2, 0, 1, 0}, y0[7] = {0, 0, 4, 0, 2, 0, 1};
  static const int dx[7] = {8, 8, 4, 4, 2, 2, 1}, dy[7] = {8, 8, 8, 4, 4, 2, 2};
  const size_t bits = (size_t)png_channels(pl->color) * (size_t)pl->depth;
  const int passes = pl->interlace ? 7 : 1;
  size_t total = 0;
  for (int k = 0; k < passes; k++) {
    size_t w = pl->w, h = pl->h;
    if (pl->interlace) {
      w = w > (size_t)x0[k] ? (w - (size_t)x0[k] + (size_t)dx[k] - 1) / (size_t)dx[k] : 0;
      h = h > (size_t)y0[k] ? (h - (size_t)y0[k] + (size_t)dy[k] - 1) / (size_t)dy[k] : 0;
      if (!w || !h) continue;
    }
    const size_t row = sat_add(sat_mul(w, bits), 7) / 8;
    total = sat_add(total, sat_mul(h, sat_add(row, 1)));
  }
  return total;
}

/* Inflates the IDAT data into a buffer of the declared size: stb's inflater
 * with a fixed buffer fails ("output buffer limit") as soon as the stream
 * needs one byte more, so the work and the memory stay bounded by the
 * header. Anything else wrong with the stream is left to the decoder. */
static csm_status png_check_inflate(const char *path, const unsigned char *b, size_t n,
                                    const png_layout *pl) {
  const size_t bound = png_raw_bytes(pl);
  if (bound > INT_MAX || pl->idat_bytes > INT_MAX)
    return csm_fail(CSM_EINPUT, "%s: PNG of %ux%u pixels is too large to decode", path, pl->w,
                    pl->h);
  unsigned char *idat = malloc(pl->idat_bytes ? pl->idat_bytes : 1);
  char *raw = malloc(bound ? bound : 1);
  if (!idat || !raw) {
    free(idat);
    free(raw);
    return csm_fail(CSM_ENOMEM, "%s: out of memory for the PNG data", path);
  }
  size_t got = 0;
  for (size_t p = 8; p + 12 <= n && got < pl->idat_bytes;) {
    const uint32_t len = be32(b + p);
    if (len > n - p - 12) break; /* (png_walk checked every chunk up to IEND) */
    if (memcmp(b + p + 4, "IDAT", 4) == 0 && len <= pl->idat_bytes - got)
      memcpy(idat + got, b + p + 8, len), got += len;
    p += 12 + (size_t)len;
  }
  const int out =
      pl->cgbi ? stbi_zlib_decode_noheader_buffer(raw, (int)bound, (const char *)idat, (int)got)
               : stbi_zlib_decode_buffer(raw, (int)bound, (const char *)idat, (int)got);
  const char *why = out < 0 ? stbi_failure_reason() : NULL;
  free(idat);
  free(raw);
  if (why && strcmp(why, "output buffer limit") == 0)
    return csm_fail(CSM_EINPUT, "%s: PNG data inflates past its declared %ux%u size", path, pl->w,
                    pl->h);
  if (out < 0)
    return csm_fail(CSM_EINPUT, "%s: corrupt PNG data (zlib: %s)", path, why ? why : "bad stream");
  return CSM_OK;
}

/* ---- What decoding will allocate -------------------------------------------
 * An upper bound of what stb_image (and the EXIF rotation) allocates for an
 * image of the declared size, checked against the memory limit before any of
 * it is: the file itself; for a JPEG one 8-bit plane per component padded to
 * whole MCUs (at most 32 pixels), plus 16-bit coefficients for a progressive
 * one, then the RGB result and its rotated copy; for a PNG the IDAT data
 * (twice: stb grows its copy by doubling), the inflated data (twice when
 * interlaced), the unfiltered pixels (twice when interlaced), and the
 * 16-bit, palette and RGB conversions. */
static size_t decode_bytes(const csm_image_info *info, const png_layout *pl, size_t file_len,
                           size_t w, size_t h, int comp) {
  const size_t pixels = sat_mul(w, h), rgb = sat_mul(pixels, 3);
  if (info->format == CSM_IMAGE_PNG && pl->ihdr_ok) {
    const size_t raw = png_raw_bytes(pl), twice = pl->interlace ? 2 : 1;
    const size_t out_n = (size_t)(png_channels(pl->color) < 4 ? png_channels(pl->color) + 1 : 4);
    const size_t out = sat_mul(pixels, out_n * (pl->depth == 16 ? 2 : 1));
    const size_t check = sat_add(pl->idat_bytes, raw);
    size_t stb = sat_add(sat_mul(pl->idat_bytes, 2), sat_mul(raw, twice));
    stb = sat_add(stb, sat_mul(out, twice));
    stb = sat_add(stb, sat_mul(pixels, out_n + 4 + 3));
    return sat_add(file_len, size_max(check, stb));
  }
  const size_t pw = sat_add(w, 31) & ~(size_t)31, ph = sat_add(h, 31) & ~(size_t)31;
  const size_t comps = (size_t)(info->components > 0 ? info->components : comp > 0 ? comp : 4);
  const size_t planes = sat_mul(sat_mul(sat_mul(pw, ph), comps), info->progressive ? 3 : 1);
  return sat_add(file_len, size_max(sat_add(planes, rgb), sat_mul(rgb, 2)));
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
  csm_image_info info;
  csm_image_probe(buf, len, &info);
  const char *kind = info.format == CSM_IMAGE_PNG ? "PNG" : "JPEG";
  png_layout pl = {0};
  char what[1100];
  if (info.corrupt) {
    st = csm_fail(CSM_EINPUT, "%s: corrupt JPEG (bad Huffman table)", path);
    goto done;
  }
  if (info.have_size && (info.w <= 0 || info.h <= 0 || info.w > CSM_IMAGE_MAX_PIXELS / info.h)) {
    st = csm_fail(CSM_EINPUT, "%s: image size %lldx%lld is out of range (at most %lld pixels)",
                  path, info.w, info.h, CSM_IMAGE_MAX_PIXELS);
    goto done;
  }
  if (!stbi_info_from_memory(buf, (int)len, &w, &h, &comp)) {
    const char *why = stbi_failure_reason();
    st = csm_fail(CSM_EINPUT, "%s: not a readable JPEG or PNG image (%s)", path,
                  why ? why : "unknown format");
    goto done;
  }
  if (w <= 0 || h <= 0 || (long long)w * h > CSM_IMAGE_MAX_PIXELS) {
    st = csm_fail(CSM_EINPUT, "%s: image size %dx%d is out of range (at most %lld pixels)", path, w,
                  h, CSM_IMAGE_MAX_PIXELS);
    goto done;
  }
  /* stb_image decodes a truncated JPEG without complaint (the missing part
   * comes out grey), so require the end-of-image marker. */
  if (info.format == CSM_IMAGE_JPEG && !info.complete) {
    if (info.truncated)
      st = csm_fail(CSM_EINPUT, "%s: truncated JPEG (no end-of-image marker)", path);
    else
      st =
          csm_fail(CSM_EINPUT, "%s: corrupt JPEG (no valid marker at byte %zu)", path, info.bad_at);
    goto done;
  }
  if (info.format == CSM_IMAGE_PNG && (st = png_walk(path, buf, len, &pl))) goto done;
  snprintf(what, sizeof what, "%s: decoding %dx%d pixels", path, w, h);
  if ((st = csm_memory_check(decode_bytes(&info, &pl, len, (size_t)w, (size_t)h, comp), what)))
    goto done;
  if (pl.ihdr_ok && (st = png_check_inflate(path, buf, len, &pl))) goto done;
  out->rgb = stbi_load_from_memory(buf, (int)len, &w, &h, &comp, 3);
  if (!out->rgb) {
    const char *why = stbi_failure_reason();
    st = csm_fail(CSM_EINPUT, "%s: corrupt %s data (%s)", path, kind, why ? why : "unknown");
    goto done;
  }
  out->w = w;
  out->h = h;
  /* Cameras store pixels sensor-up and record the upright orientation in
   * EXIF; callers (face detectors) need the upright image. */
  if (info.format == CSM_IMAGE_JPEG && (st = csm_image_apply_orientation(out, info.orientation))) {
    csm_image_free(out);
    st = csm_fail_context(st, "%s: ", path);
  }
done:
  free(buf);
  return st;
}

void csm_image_free(csm_image *img) {
  if (!img) return;
  stbi_image_free(img->rgb);
  memset(img, 0, sizeof *img);
}
