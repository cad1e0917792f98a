/* JPEG/PNG header inspection without decoding: EXIF orientation, pixel size
 * and JPEG completeness, plus applying an EXIF orientation to pixels. Every
 * read is bounds-checked against the buffer, because these bytes come
 * straight from untrusted files. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image/image_internal.h"

static unsigned rd16(const unsigned char *p, int le) {
  return le ? (unsigned)p[0] | (unsigned)p[1] << 8 : (unsigned)p[0] << 8 | (unsigned)p[1];
}

static uint32_t rd32(const unsigned char *p, int le) {
  return le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
            : (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Orientation from a TIFF structure (the body of an Exif APP1 segment).
 * Only IFD0 is read and no IFD chain is followed, so hostile offsets cannot
 * make this loop. */
static int tiff_orientation(const unsigned char *t, size_t n) {
  if (n < 8) return 1;
  int le;
  if (t[0] == 'I' && t[1] == 'I')
    le = 1;
  else if (t[0] == 'M' && t[1] == 'M')
    le = 0;
  else
    return 1;
  if (rd16(t + 2, le) != 42) return 1;
  uint32_t ifd = rd32(t + 4, le);
  if (ifd > n || n - ifd < 2) return 1;
  unsigned count = rd16(t + ifd, le);
  size_t p = (size_t)ifd + 2;
  for (unsigned i = 0; i < count; i++, p += 12) {
    if (n - p < 12) return 1;
    if (rd16(t + p, le) != 0x0112) continue;
    unsigned type = rd16(t + p + 2, le);
    uint32_t cnt = rd32(t + p + 4, le);
    if (cnt < 1) return 1;
    /* SHORT is standard; some writers use LONG. Both fit the value field. */
    uint32_t v = type == 3 ? rd16(t + p + 8, le) : type == 4 ? rd32(t + p + 8, le) : 0;
    return v >= 1 && v <= 8 ? (int)v : 1;
  }
  return 1;
}

typedef struct jpeg_info {
  int orientation, have_size, complete;
  long long w, h;
  int components, progressive;
  int ran_out;   /* the walk stopped because the data ended */
  size_t bad_at; /* where it stopped, when not complete */
} jpeg_info;

static int is_sof(unsigned m) {
  /* SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC). */
  return m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC;
}

/* stb_image 2.27 overflows its Huffman tables when a DHT's code counts sum
 * past 256 (fixed upstream in 2.28). Every marker stb reads is an FF byte
 * followed by the marker byte, so checking each FF C4 pair in the file,
 * reading as stb does (zeros past the end), covers every DHT it could
 * process, however it resynchronises on garbage. A false alarm needs an FF
 * C4 pair inside some payload followed by nonsense: only hostile files. */
static int dht_tables_ok(const unsigned char *b, size_t n) {
  for (size_t i = 0; i + 1 < n; i++) {
    if (b[i] != 0xFF || b[i + 1] != 0xC4) continue;
    size_t p = i + 2;
    if (n - p < 2) break;
    long left = (long)rd16(b + p, 0) - 2;
    p += 2;
    while (left > 0 && p < n) {
      const unsigned q = b[p++];
      if (q >> 4 > 1 || (q & 15) > 3) break; /* stb rejects this itself */
      size_t total = 0;
      for (int k = 0; k < 16 && p < n; k++)
        total += b[p++];
      if (total > 256) return 0;
      left -= 17 + (long)total;
      p += total;
    }
  }
  return 1;
}

/* Where the data after a JPEG's SOI marker starts, or 0 when the buffer
 * does not start with one. stb_image skips fill bytes (FF) before any
 * marker, the SOI included, so a JPEG may start FF FF ... FF D8. */
static size_t jpeg_soi_end(const unsigned char *b, size_t n) {
  size_t p = 0;
  while (p < n && b[p] == 0xFF)
    p++;
  return p > 0 && p < n && b[p] == 0xD8 ? p + 1 : 0;
}

/* Walks every marker segment (skipping entropy-coded data) to the EOI.
 * When it cannot reach it, ran_out says whether the data ended first (a
 * truncated file) or a marker was malformed (bad_at: where). */
static void jpeg_scan(const unsigned char *b, size_t n, jpeg_info *ji) {
  memset(ji, 0, sizeof *ji);
  ji->orientation = 1;
  ji->ran_out = 1;
  size_t p = jpeg_soi_end(b, n);
  if (!p) return;
  int seen_exif = 0;
  while (p < n) {
    ji->bad_at = p;
    if (b[p] != 0xFF) { /* not a marker: corrupt (the decoder may say more) */
      ji->ran_out = 0;
      return;
    }
    while (p < n && b[p] == 0xFF)
      p++; /* fill bytes */
    if (p >= n) return;
    unsigned m = b[p++];
    if (m == 0xD9) {
      ji->complete = 1;
      ji->ran_out = 0;
      return;
    }
    if (m == 0x01 || (m >= 0xD0 && m <= 0xD7)) continue; /* no length field */
    if (n - p < 2) return;
    size_t seg = rd16(b + p, 0);
    if (seg < 2) {
      ji->ran_out = 0;
      return;
    }
    if (seg > n - p) return;
    const unsigned char *pl = b + p + 2;
    size_t pn = seg - 2;
    if (m == 0xE1 && !seen_exif && pn >= 6 && memcmp(pl, "Exif\0\0", 6) == 0) {
      seen_exif = 1;
      ji->orientation = tiff_orientation(pl + 6, pn - 6);
    } else if (is_sof(m) && !ji->have_size && pn >= 5) {
      ji->h = rd16(pl + 1, 0);
      ji->w = rd16(pl + 3, 0);
      ji->components = pn >= 6 ? pl[5] : 0;
      ji->progressive = m == 0xC2 || m == 0xC6 || m == 0xCA || m == 0xCE;
      ji->have_size = 1;
    }
    p += seg;
    if (m != 0xDA) continue;
    /* Entropy-coded data: 0xFF is stuffed as FF 00, and restart markers
     * sit inside it; any other marker ends the scan. */
    for (; p + 1 < n; p++)
      if (b[p] == 0xFF && b[p + 1] != 0x00 && b[p + 1] != 0xFF &&
          !(b[p + 1] >= 0xD0 && b[p + 1] <= 0xD7))
        break;
    if (p + 1 >= n) return;
  }
  ji->bad_at = n;
}

void csm_image_probe(const unsigned char *buf, size_t len, csm_image_info *info) {
  static const unsigned char png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  memset(info, 0, sizeof *info);
  info->complete = 1;
  info->orientation = 1;
  if (len >= 8 && memcmp(buf, png_sig, 8) == 0) {
    info->format = CSM_IMAGE_PNG;
    /* IHDR comes first (after Apple's CgBI chunk in iPhone PNGs). */
    size_t p = len >= 16 && memcmp(buf + 12, "CgBI", 4) == 0 ? 8 + 12 + rd32(buf + 8, 0) : 8;
    if (p < len && len - p >= 16 && memcmp(buf + p + 4, "IHDR", 4) == 0) {
      info->w = rd32(buf + p + 8, 0);
      info->h = rd32(buf + p + 12, 0);
      info->have_size = 1;
    }
    return;
  }
  if (!jpeg_soi_end(buf, len)) return;
  info->format = CSM_IMAGE_JPEG;
  info->corrupt = !dht_tables_ok(buf, len);
  jpeg_info ji;
  jpeg_scan(buf, len, &ji);
  info->orientation = ji.orientation;
  info->complete = ji.complete;
  /* A file that still ends with an EOI marker was not cut short: what
   * stopped the walk is damage inside it. */
  info->truncated =
      !ji.complete && ji.ran_out && !(len >= 4 && buf[len - 2] == 0xFF && buf[len - 1] == 0xD9);
  info->bad_at = ji.bad_at;
  if (!ji.have_size) return;
  info->have_size = 1;
  info->w = ji.w;
  info->h = ji.h;
  info->components = ji.components;
  info->progressive = ji.progressive;
}

csm_status csm_image_apply_orientation(csm_image *img, int o) {
  if (o <= 1 || o > 8 || !img->rgb) return CSM_OK;
  const int sw = img->w, sh = img->h;
  const int dw = o >= 5 ? sh : sw, dh = o >= 5 ? sw : sh;
  unsigned char *dst = csm_malloc_array((size_t)sw * (size_t)sh, 3);
  if (!dst) return CSM_ENOMEM;
  for (int y = 0; y < dh; y++) {
    for (int x = 0; x < dw; x++) {
      /* (sx, sy): the stored pixel shown at display position (x, y). */
      int sx, sy;
      switch (o) {
      case 2: sx = sw - 1 - x, sy = y; break;
      case 3: sx = sw - 1 - x, sy = sh - 1 - y; break;
      case 4: sx = x, sy = sh - 1 - y; break;
      case 5: sx = y, sy = x; break;
      case 6: sx = y, sy = sh - 1 - x; break;
      case 7: sx = sw - 1 - y, sy = sh - 1 - x; break;
      default: sx = sw - 1 - y, sy = x; break; /* 8 */
      }
      memcpy(dst + ((size_t)y * (size_t)dw + (size_t)x) * 3,
             img->rgb + ((size_t)sy * (size_t)sw + (size_t)sx) * 3, 3);
    }
  }
  /* stb_image allocates with malloc, and csm_image_free releases with the
   * matching free, so a plain malloc'd buffer can replace it. */
  free(img->rgb);
  img->rgb = dst;
  img->w = dw;
  img->h = dh;
  return CSM_OK;
}
