/* Image files: EXIF orientation, PNG round trips, hostile and oversized
 * inputs (zlib bombs, the memory limit, corrupt versus truncated files,
 * folders and FIFOs), and the bundled samples. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csm_test.h"

/* The test's own static copy of the writer, to make PNG fixtures. */
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
#pragma GCC diagnostic ignored "-Wunused-function"

static char dir[512];

static const char *tmp_path(const char *name) {
  static char buf[1024];
  snprintf(buf, sizeof buf, "%s/%s", dir, name);
  return buf;
}

static void write_bytes(const char *path, const void *data, size_t n) {
  FILE *fp = fopen(path, "wb");
  assert_non_null(fp);
  if (n) assert_int_equal(fwrite(data, 1, n, fp), n);
  fclose(fp);
}

typedef struct membuf {
  unsigned char *p;
  size_t n, cap;
} membuf;

static void mem_write(void *ctx, void *data, int size) {
  membuf *m = ctx;
  if (m->n + (size_t)size > m->cap) {
    m->cap = (m->n + (size_t)size) * 2;
    m->p = realloc(m->p, m->cap);
    assert_non_null(m->p);
  }
  memcpy(m->p + m->n, data, (size_t)size);
  m->n += (size_t)size;
}

/* 32x16 with flat quadrants (8-aligned, so JPEG blocks stay flat):
 * TL red, TR green, BL blue, BR white. */
enum { QW = 32, QH = 16 };
static const unsigned char quad_rgb[4][3] = {
    {255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {255, 255, 255}};

/* That image as stbi_write_jpg (quality 100, so no chroma subsampling)
 * writes it. Embedded rather than generated at run time because stb's JPEG
 * writer shifts negative ints, which UBSan (rightly) aborts on. */
static const unsigned char quad_jpg[651] = {
    0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 0x4A, 0x46, 0x49, 0x46, 0x00, 0x01, 0x01, 0x00, 0x00, 0x01,
    0x00, 0x01, 0x00, 0x00, 0xFF, 0xDB, 0x00, 0x84, 0x00, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01,
    0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01,
    0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01,
    0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01,
    0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01,
    0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01,
    0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01,
    0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01,
    0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0xFF, 0xC0, 0x00, 0x11, 0x08, 0x00,
    0x10, 0x00, 0x20, 0x03, 0x01, 0x11, 0x00, 0x02, 0x11, 0x01, 0x03, 0x11, 0x01, 0xFF, 0xC4, 0x01,
    0xA2, 0x00, 0x00, 0x01, 0x05, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B, 0x10, 0x00,
    0x02, 0x01, 0x03, 0x03, 0x02, 0x04, 0x03, 0x05, 0x05, 0x04, 0x04, 0x00, 0x00, 0x01, 0x7D, 0x01,
    0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07, 0x22,
    0x71, 0x14, 0x32, 0x81, 0x91, 0xA1, 0x08, 0x23, 0x42, 0xB1, 0xC1, 0x15, 0x52, 0xD1, 0xF0, 0x24,
    0x33, 0x62, 0x72, 0x82, 0x09, 0x0A, 0x16, 0x17, 0x18, 0x19, 0x1A, 0x25, 0x26, 0x27, 0x28, 0x29,
    0x2A, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3A, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4A,
    0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5A, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6A,
    0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7A, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A,
    0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8,
    0xA9, 0xAA, 0xB2, 0xB3, 0xB4, 0xB5, 0xB6, 0xB7, 0xB8, 0xB9, 0xBA, 0xC2, 0xC3, 0xC4, 0xC5, 0xC6,
    0xC7, 0xC8, 0xC9, 0xCA, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8, 0xD9, 0xDA, 0xE1, 0xE2, 0xE3,
    0xE4, 0xE5, 0xE6, 0xE7, 0xE8, 0xE9, 0xEA, 0xF1, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8, 0xF9,
    0xFA, 0x01, 0x00, 0x03, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B, 0x11, 0x00,
    0x02, 0x01, 0x02, 0x04, 0x04, 0x03, 0x04, 0x07, 0x05, 0x04, 0x04, 0x00, 0x01, 0x02, 0x77, 0x00,
    0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71, 0x13,
    0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xA1, 0xB1, 0xC1, 0x09, 0x23, 0x33, 0x52, 0xF0, 0x15,
    0x62, 0x72, 0xD1, 0x0A, 0x16, 0x24, 0x34, 0xE1, 0x25, 0xF1, 0x17, 0x18, 0x19, 0x1A, 0x26, 0x27,
    0x28, 0x29, 0x2A, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3A, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49,
    0x4A, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5A, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69,
    0x6A, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7A, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88,
    0x89, 0x8A, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6,
    0xA7, 0xA8, 0xA9, 0xAA, 0xB2, 0xB3, 0xB4, 0xB5, 0xB6, 0xB7, 0xB8, 0xB9, 0xBA, 0xC2, 0xC3, 0xC4,
    0xC5, 0xC6, 0xC7, 0xC8, 0xC9, 0xCA, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8, 0xD9, 0xDA, 0xE2,
    0xE3, 0xE4, 0xE5, 0xE6, 0xE7, 0xE8, 0xE9, 0xEA, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8, 0xF9,
    0xFA, 0xFF, 0xDA, 0x00, 0x0C, 0x03, 0x01, 0x00, 0x02, 0x11, 0x03, 0x11, 0x00, 0x3F, 0x00, 0xFC,
    0x61, 0xAF, 0xF2, 0x9C, 0xFF, 0x00, 0xBF, 0xC0, 0xA0, 0x0F, 0xE9, 0x2E, 0xBF, 0xCB, 0x33, 0xFF,
    0x00, 0x0A, 0xD0, 0xA0, 0x0F, 0xE0, 0xEE, 0xBF, 0xF6, 0xA0, 0x3F, 0xEA, 0xC0, 0x28, 0x03, 0xFD,
    0xC3, 0xEB, 0xFE, 0x00, 0xCF, 0xEA, 0x60, 0xA0, 0x0F, 0xFF, 0xD9,
};

static membuf quadrant_jpeg(void) {
  membuf m = {malloc(sizeof quad_jpg), sizeof quad_jpg, sizeof quad_jpg};
  assert_non_null(m.p);
  memcpy(m.p, quad_jpg, sizeof quad_jpg);
  return m;
}

static void put16(unsigned char *p, unsigned v, int le) {
  p[le ? 0 : 1] = (unsigned char)v;
  p[le ? 1 : 0] = (unsigned char)(v >> 8);
}

static void put32(unsigned char *p, uint32_t v, int le) {
  for (int i = 0; i < 4; i++)
    p[le ? i : 3 - i] = (unsigned char)(v >> (8 * i));
}

/* An APP1 Exif segment whose IFD0 holds one Orientation entry. */
static size_t exif_segment(unsigned char *seg, int le, unsigned orientation) {
  unsigned char *t = seg + 10; /* FF E1, length, "Exif\0\0" */
  memcpy(t, le ? "II" : "MM", 2);
  put16(t + 2, 42, le);
  put32(t + 4, 8, le);
  put16(t + 8, 1, le);
  put16(t + 10, 0x0112, le);
  put16(t + 12, 3, le);
  put32(t + 14, 1, le);
  memset(t + 18, 0, 4);
  put16(t + 18, orientation, le);
  put32(t + 22, 0, le);
  const size_t tiff_len = 26;
  seg[0] = 0xFF;
  seg[1] = 0xE1;
  seg[2] = (unsigned char)((2 + 6 + tiff_len) >> 8);
  seg[3] = (unsigned char)(2 + 6 + tiff_len);
  memcpy(seg + 4, "Exif\0\0", 6);
  return 10 + tiff_len;
}

/* Writes jpeg with seg inserted right after SOI. */
static void write_spliced(const char *path, const membuf *jpeg, const unsigned char *seg,
                          size_t seg_len) {
  unsigned char *b = malloc(jpeg->n + seg_len);
  assert_non_null(b);
  memcpy(b, jpeg->p, 2);
  memcpy(b + 2, seg, seg_len);
  memcpy(b + 2 + seg_len, jpeg->p + 2, jpeg->n - 2);
  write_bytes(path, b, jpeg->n + seg_len);
  free(b);
}

static void assert_near_rgb(const csm_image *img, int x, int y, const unsigned char *want) {
  const unsigned char *p = img->rgb + ((size_t)y * img->w + x) * 3;
  for (int c = 0; c < 3; c++)
    if (abs(p[c] - want[c]) > 40)
      fail_msg("pixel (%d,%d) = %d,%d,%d, want %d,%d,%d", x, y, p[0], p[1], p[2], want[0], want[1],
               want[2]);
}

/* Where each stored corner (TL, TR, BL) appears on screen, from the EXIF
 * definitions ("the 0th row is the visual right-hand side, ..."); corners
 * numbered 0 TL, 1 TR, 2 BL, 3 BR. */
static const int exif_corners[9][3] = {{0},       {0, 1, 2}, {1, 0, 3}, {3, 2, 1}, {2, 3, 0},
                                       {0, 2, 1}, {1, 3, 0}, {3, 1, 2}, {2, 0, 3}};

static void check_orientation(const char *path, int o) {
  csm_image img;
  CSM_ASSERT_OK(csm_image_load(path, &img));
  const int dw = o >= 5 ? QH : QW, dh = o >= 5 ? QW : QH;
  assert_int_equal(img.w, dw);
  assert_int_equal(img.h, dh);
  for (int k = 0; k < 4; k++) {
    /* Stored corner k shows at display corner d (BR is whatever is left). */
    int d = k < 3 ? exif_corners[o][k]
                  : 6 - exif_corners[o][0] - exif_corners[o][1] - exif_corners[o][2];
    int x = (d & 1) ? dw * 3 / 4 : dw / 4, y = (d & 2) ? dh * 3 / 4 : dh / 4;
    assert_near_rgb(&img, x, y, quad_rgb[k]);
  }
  csm_image_free(&img);
}

static void test_exif_orientations(void **state) {
  (void)state;
  membuf jpeg = quadrant_jpeg();
  unsigned char seg[64];
  for (int le = 0; le <= 1; le++)
    for (int o = 1; o <= 8; o++) {
      char name[64];
      snprintf(name, sizeof name, "exif_%s_%d.jpg", le ? "II" : "MM", o);
      write_spliced(tmp_path(name), &jpeg, seg, exif_segment(seg, le, (unsigned)o));
      check_orientation(tmp_path(name), o);
    }
  /* No EXIF at all: as stored. */
  write_bytes(tmp_path("plain.jpg"), jpeg.p, jpeg.n);
  check_orientation(tmp_path("plain.jpg"), 1);
  free(jpeg.p);
}

/* Loads path: either an error with a proper message or an image; never a
 * crash or sanitizer report. */
static void load_any(const char *path) {
  csm_image img;
  csm_status st = csm_image_load(path, &img);
  if (st == CSM_OK)
    csm_image_free(&img);
  else
    assert_null(strchr(csm_last_error(), '\n'));
}

static void test_exif_hostile(void **state) {
  (void)state;
  membuf jpeg = quadrant_jpeg();
  unsigned char seg[64];
  for (int le = 0; le <= 1; le++) {
    const size_t n = exif_segment(seg, le, 6);
    unsigned char *t = seg + 10;
    /* upright: whether the orientation (6) must be ignored. */
    struct {
      size_t off;
      uint32_t val;
      int bytes, upright;
    } cases[] = {
        {4, 0xFFFFFFF0u, 4, 1}, /* IFD0 past the end */
        {4, 25, 4, 1},          /* IFD0 straddling the end */
        {4, 0, 4, 1},           /* IFD0 at the header: garbage entries */
        {8, 0xFFFF, 2, 0},      /* entry count beyond the data (entry 0 is fine) */
        {10, 0x0100, 2, 1},     /* no orientation tag */
        {18, 9, 2, 1},          /* orientation out of range */
        {18, 0, 2, 1},          /* orientation zero */
        {12, 7, 2, 1},          /* unexpected type */
        {22, 8, 4, 0},          /* next-IFD pointing back at IFD0 (a loop) */
        {2, 43, 2, 1},          /* bad TIFF magic */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
      exif_segment(seg, le, 6);
      if (cases[i].bytes == 4)
        put32(t + cases[i].off, cases[i].val, le);
      else
        put16(t + cases[i].off, (unsigned)cases[i].val, le);
      write_spliced(tmp_path("hostile.jpg"), &jpeg, seg, n);
      csm_image img;
      CSM_ASSERT_OK(csm_image_load(tmp_path("hostile.jpg"), &img));
      assert_int_equal(img.w, cases[i].upright ? QW : QH);
      assert_int_equal(img.h, cases[i].upright ? QH : QW);
      csm_image_free(&img);
    }
    /* Segment lengths that lie: shorter than the TIFF header, and longer
     * than the file. */
    exif_segment(seg, le, 6);
    seg[2] = 0;
    seg[3] = 12;
    write_spliced(tmp_path("short.jpg"), &jpeg, seg, 14);
    check_orientation(tmp_path("short.jpg"), 1);
    exif_segment(seg, le, 6);
    seg[2] = 0xFF;
    seg[3] = 0xFF;
    write_spliced(tmp_path("long.jpg"), &jpeg, seg, n);
    load_any(tmp_path("long.jpg"));
  }
  free(jpeg.p);
}

static void test_png_round_trip(void **state) {
  (void)state;
  csm_image img = {7, 5, malloc(7 * 5 * 3)};
  assert_non_null(img.rgb);
  for (int i = 0; i < 7 * 5 * 3; i++)
    img.rgb[i] = (unsigned char)(i * 37 + 11);
  CSM_ASSERT_OK(csm_image_write_png(tmp_path("rt.png"), &img));
  csm_image back;
  CSM_ASSERT_OK(csm_image_load(tmp_path("rt.png"), &back));
  assert_int_equal(back.w, 7);
  assert_int_equal(back.h, 5);
  assert_memory_equal(back.rgb, img.rgb, 7 * 5 * 3);
  csm_image_free(&back);
  /* Overwriting works, and no temporary file is left behind. */
  CSM_ASSERT_OK(csm_image_write_png(tmp_path("rt.png"), &img));
  DIR *d = opendir(dir);
  assert_non_null(d);
  for (struct dirent *e; (e = readdir(d));)
    if (strstr(e->d_name, ".tmp.")) fail_msg("left over: %s", e->d_name);
  closedir(d);
  /* An unwritable destination is an I/O error naming the file. */
  const char *bad = "/nonexistent-dir-csm/out.png";
  assert_int_equal(csm_image_write_png(bad, &img), CSM_EIO);
  assert_non_null(strstr(csm_last_error(), "/nonexistent-dir-csm/out.png"));
  assert_null(strchr(csm_last_error(), '\n'));
  free(img.rgb);
}

/* Asserts that loading `name` fails with `want` and a one-line message that
 * names the file. */
static void expect_bad(const char *name, csm_status want) {
  csm_image img = {1, 1, NULL};
  const char *path = tmp_path(name);
  char copy[1024];
  snprintf(copy, sizeof copy, "%s", path);
  csm_status st = csm_image_load(copy, &img);
  if (st != want) fail_msg("%s: status %d, want %d (%s)", name, st, want, csm_last_error());
  const char *msg = csm_last_error();
  if (!strstr(msg, copy)) fail_msg("%s: message does not name the file: %s", name, msg);
  if (strchr(msg, '\n')) fail_msg("%s: message is not one line: %s", name, msg);
  assert_null(img.rgb);
}

static uint32_t crc32_bytes(const unsigned char *p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; i++) {
    c ^= p[i];
    for (int k = 0; k < 8; k++)
      c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
  }
  return ~c;
}

/* Signature, IHDR (w x h, 8-bit RGB), a tiny IDAT and IEND. */
static size_t png_header_only(unsigned char *b, uint32_t w, uint32_t h) {
  static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  memcpy(b, sig, 8);
  put32(b + 8, 13, 0);
  memcpy(b + 12, "IHDR", 4);
  put32(b + 16, w, 0);
  put32(b + 20, h, 0);
  memcpy(b + 24, "\x08\x02\x00\x00\x00", 5);
  put32(b + 29, crc32_bytes(b + 12, 17), 0);
  size_t n = 33;
  static const unsigned char idat[] = {0x78, 0x9C, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01};
  put32(b + n, sizeof idat, 0);
  memcpy(b + n + 4, "IDAT", 4);
  memcpy(b + n + 8, idat, sizeof idat);
  put32(b + n + 8 + sizeof idat, crc32_bytes(b + n + 4, 4 + sizeof idat), 0);
  n += 12 + sizeof idat;
  put32(b + n, 0, 0);
  memcpy(b + n + 4, "IEND", 4);
  put32(b + n + 8, crc32_bytes(b + n + 4, 4), 0);
  return n + 12;
}

static void test_bad_inputs(void **state) {
  (void)state;
  unsigned char b[128];
  write_bytes(tmp_path("empty.jpg"), "", 0);
  expect_bad("empty.jpg", CSM_EINPUT);
  write_bytes(tmp_path("text.png"), "hello, world\n", 13);
  expect_bad("text.png", CSM_EINPUT);
  write_bytes(tmp_path("zero.png"), b, png_header_only(b, 0, 0));
  expect_bad("zero.png", CSM_EINPUT);
  write_bytes(tmp_path("huge.png"), b, png_header_only(b, 30000, 30000));
  expect_bad("huge.png", CSM_EINPUT);
  assert_non_null(strstr(csm_last_error(), "30000x30000"));
  write_bytes(tmp_path("max.png"), b, png_header_only(b, 0xFFFFFFFFu, 0xFFFFFFFFu));
  expect_bad("max.png", CSM_EINPUT);
  expect_bad("does-not-exist.jpg", CSM_EIO);

  /* JPEGs: SOF claiming 30000x30000, zero height, and truncation. */
  membuf jpeg = quadrant_jpeg();
  size_t sof = 0;
  for (size_t i = 2; i + 1 < jpeg.n; i++)
    if (jpeg.p[i] == 0xFF && jpeg.p[i + 1] == 0xC0) {
      sof = i;
      break;
    }
  assert_true(sof > 0);
  unsigned char *j = malloc(jpeg.n);
  assert_non_null(j);
  memcpy(j, jpeg.p, jpeg.n);
  put16(j + sof + 5, 30000, 0);
  put16(j + sof + 7, 30000, 0);
  write_bytes(tmp_path("huge.jpg"), j, jpeg.n);
  expect_bad("huge.jpg", CSM_EINPUT);
  assert_non_null(strstr(csm_last_error(), "30000x30000"));
  memcpy(j, jpeg.p, jpeg.n);
  put16(j + sof + 5, 0, 0);
  write_bytes(tmp_path("zero.jpg"), j, jpeg.n);
  expect_bad("zero.jpg", CSM_EINPUT);
  free(j);
  for (size_t cut = 1; cut < jpeg.n; cut += jpeg.n / 7) {
    write_bytes(tmp_path("cut.jpg"), jpeg.p, cut);
    expect_bad("cut.jpg", CSM_EINPUT);
  }

  /* PNGs: truncated at several points, and a broken zlib stream. */
  csm_image img = {16, 16, malloc(16 * 16 * 3)};
  assert_non_null(img.rgb);
  for (int i = 0; i < 16 * 16 * 3; i++)
    img.rgb[i] = (unsigned char)(i * 7);
  membuf png = {0};
  assert_true(stbi_write_png_to_func(mem_write, &png, 16, 16, 3, img.rgb, 16 * 3));
  free(img.rgb);
  for (size_t cut = 1; cut < png.n - 12; cut += png.n / 9) {
    write_bytes(tmp_path("cut.png"), png.p, cut);
    expect_bad("cut.png", CSM_EINPUT);
  }
  unsigned char *idat = NULL;
  for (size_t i = 0; i + 8 < png.n && !idat; i++)
    if (memcmp(png.p + i, "IDAT", 4) == 0) idat = png.p + i;
  assert_non_null(idat);
  idat[4] = 0;
  idat[5] = 0;
  write_bytes(tmp_path("zlib.png"), png.p, png.n);
  expect_bad("zlib.png", CSM_EINPUT);
  free(png.p);

  /* Byte flips through a whole JPEG: anything but a crash is fine. */
  for (size_t i = 0; i < jpeg.n; i += 3) {
    unsigned char saved = jpeg.p[i];
    jpeg.p[i] ^= 0xA5;
    write_bytes(tmp_path("flip.jpg"), jpeg.p, jpeg.n);
    load_any(tmp_path("flip.jpg"));
    jpeg.p[i] = saved;
  }
  free(jpeg.p);
}

/* ---- PNGs made by hand: any IHDR, any zlib stream ------------------------ */

typedef struct bits {
  membuf m;
  uint32_t acc;
  int n;
} bits;

static void put_bits(bits *b, uint32_t v, int n) { /* LSB first, as deflate packs */
  for (int i = 0; i < n; i++) {
    b->acc |= ((v >> i) & 1u) << b->n;
    if (++b->n == 8) {
      unsigned char c = (unsigned char)b->acc;
      mem_write(&b->m, &c, 1);
      b->acc = 0, b->n = 0;
    }
  }
}

static void put_code(bits *b, uint32_t code, int n) { /* Huffman codes: MSB first */
  for (int i = n - 1; i >= 0; i--)
    put_bits(b, (code >> i) & 1u, 1);
}

static void put_be32(membuf *m, uint32_t v) {
  unsigned char c[4];
  put32(c, v, 0);
  mem_write(m, c, 4);
}

static uint32_t adler32(const unsigned char *p, size_t n) {
  uint32_t a = 1, b = 0;
  for (size_t i = 0; i < n; i++)
    a = (a + p[i]) % 65521u, b = (b + a) % 65521u;
  return b << 16 | a;
}

/* raw as a zlib stream of stored blocks. */
static membuf zlib_stored(const unsigned char *raw, size_t n) {
  membuf m = {0};
  mem_write(&m, "\x78\x01", 2);
  size_t off = 0;
  do {
    size_t k = n - off < 65535 ? n - off : 65535;
    unsigned char h[5] = {off + k == n, (unsigned char)k, (unsigned char)(k >> 8),
                          (unsigned char)~k, (unsigned char)(~k >> 8)};
    mem_write(&m, h, 5);
    if (k) mem_write(&m, (void *)(raw + off), (int)k);
    off += k;
  } while (off < n);
  put_be32(&m, adler32(raw, n));
  return m;
}

/* A zlib bomb: one fixed-Huffman block of a zero byte and then `repeats`
 * copies of 258 bytes at distance 1 (13 bits each): 1 + 258 * repeats zero
 * bytes from a stream about 600 times smaller. */
static membuf zlib_bomb(size_t repeats) {
  bits b = {{0}, 0, 0};
  mem_write(&b.m, "\x78\x01", 2);
  put_bits(&b, 1, 1);    /* BFINAL */
  put_bits(&b, 1, 2);    /* fixed Huffman codes */
  put_code(&b, 0x30, 8); /* literal 0 */
  for (size_t i = 0; i < repeats; i++) {
    put_code(&b, 0xC5, 8); /* length 258 (code 285) */
    put_code(&b, 0, 5);    /* distance 1 */
  }
  put_code(&b, 0, 7);             /* end of block */
  put_bits(&b, 0, (8 - b.n) % 8); /* to a whole byte */
  put_be32(&b.m, 0);              /* adler32: stb does not check it */
  return b.m;
}

static void put_chunk(membuf *m, const char *type, const unsigned char *data, size_t n) {
  unsigned char *c = malloc(n + 4);
  assert_non_null(c);
  memcpy(c, type, 4);
  if (n) memcpy(c + 4, data, n);
  put_be32(m, (uint32_t)n);
  mem_write(m, c, (int)(n + 4));
  put_be32(m, crc32_bytes(c, n + 4));
  free(c);
}

/* A PNG with this IHDR (a grey palette for colour type 3) whose IDAT data,
 * split over two chunks, is the zlib stream z. */
static membuf png_with_stream(uint32_t w, uint32_t h, int depth, int color, int interlace,
                              const membuf *z) {
  static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  membuf m = {0};
  mem_write(&m, (void *)sig, 8);
  unsigned char ihdr[13];
  put32(ihdr, w, 0);
  put32(ihdr + 4, h, 0);
  ihdr[8] = (unsigned char)depth, ihdr[9] = (unsigned char)color;
  ihdr[10] = ihdr[11] = 0, ihdr[12] = (unsigned char)interlace;
  put_chunk(&m, "IHDR", ihdr, 13);
  if (color == 3) {
    unsigned char plte[256 * 3];
    int entries = depth >= 8 ? 256 : 1 << depth;
    for (int i = 0; i < entries * 3; i++)
      plte[i] = (unsigned char)(i / 3);
    put_chunk(&m, "PLTE", plte, (size_t)entries * 3);
  }
  put_chunk(&m, "IDAT", z->p, z->n / 2);
  put_chunk(&m, "IDAT", z->p + z->n / 2, z->n - z->n / 2);
  put_chunk(&m, "IEND", NULL, 0);
  return m;
}

/* What a w x h PNG's filtered data is (filter bytes included), per Adam7
 * pass when interlaced: the test's own count, which stb itself confirms
 * below (one byte less is "not enough pixels" to it). */
static size_t png_data_size(uint32_t w, uint32_t h, int depth, int color, int interlace) {
  static const int x0[7] = {0, 4, 0, 2, 0, 1, 0}, y0[7] = {0, 0, 4, 0, 2, 0, 1};
  static const int dx[7] = {8, 8, 4, 4, 2, 2, 1}, dy[7] = {8, 8, 8, 4, 4, 2, 2};
  static const int channels[7] = {1, 0, 3, 1, 2, 0, 4};
  size_t total = 0;
  for (int k = 0; k < (interlace ? 7 : 1); k++) {
    size_t pw = interlace ? (w + (uint32_t)(dx[k] - x0[k] - 1)) / (uint32_t)dx[k] : w;
    size_t ph = interlace ? (h + (uint32_t)(dy[k] - y0[k] - 1)) / (uint32_t)dy[k] : h;
    if (pw && ph) total += ph * (1 + (pw * (size_t)(channels[color] * depth) + 7) / 8);
  }
  return total;
}

static int png_load_status(const char *name, const membuf *png) {
  write_bytes(tmp_path(name), png->p, png->n);
  csm_image img;
  csm_status st = csm_image_load(tmp_path(name), &img);
  if (!st) csm_image_free(&img);
  return st;
}

/* Issue 15: a PNG declaring 64x64 pixels inflated as much as its zlib
 * stream held (2 GiB from 2 MB); now the inflated data is bounded by the
 * declared size, exactly: each PNG here loads with exactly its declared
 * data (interlaced or not, 1..16 bits), fails as corrupt with one byte less
 * and is refused with one byte more. */
static void test_png_inflate_bound(void **state) {
  (void)state;
  membuf z = zlib_bomb(65536); /* 16 MB of zeros from 106 KB */
  membuf png = png_with_stream(64, 64, 8, 2, 0, &z);
  free(z.p);
  write_bytes(tmp_path("bomb.png"), png.p, png.n);
  expect_bad("bomb.png", CSM_EINPUT);
  if (!strstr(csm_last_error(), "PNG data inflates past its declared 64x64 size"))
    fail_msg("bomb: %s", csm_last_error());
  free(png.p);

  static const int cases[][5] = {
      {13, 7, 8, 2, 0}, {13, 7, 8, 2, 1}, {13, 7, 1, 0, 1}, {5, 3, 16, 6, 1},
      {9, 9, 4, 3, 0},  {9, 9, 2, 3, 1},  {1, 1, 8, 0, 1},  {17, 11, 16, 4, 1},
      {33, 2, 8, 6, 0}, {2, 33, 8, 4, 1}, {7, 5, 16, 2, 0}, {64, 64, 8, 2, 0},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    const int *k = cases[c];
    const size_t n = png_data_size((uint32_t)k[0], (uint32_t)k[1], k[2], k[3], k[4]);
    unsigned char *raw = malloc(n + 1);
    assert_non_null(raw);
    /* Filter type 0 (none) everywhere: every byte is a valid filter byte. */
    memset(raw, 0, n + 1);
    for (int extra = -1; extra <= 1; extra++) {
      membuf zs = zlib_stored(raw, n + (size_t)extra);
      membuf p = png_with_stream((uint32_t)k[0], (uint32_t)k[1], k[2], k[3], k[4], &zs);
      free(zs.p);
      csm_status st = png_load_status("exact.png", &p);
      free(p.p);
      const char *msg = csm_last_error();
      if (extra == 0 && st != CSM_OK)
        fail_msg("%dx%d depth %d colour %d interlace %d: %s", k[0], k[1], k[2], k[3], k[4], msg);
      if (extra != 0 && st != CSM_EINPUT)
        fail_msg("%dx%d depth %d colour %d interlace %d with %+d bytes: status %d", k[0], k[1],
                 k[2], k[3], k[4], extra, st);
      if (extra == 1 && !strstr(msg, "PNG data inflates past its declared"))
        fail_msg("%dx%d with one byte more: %s", k[0], k[1], msg);
      if (extra == -1 && !strstr(msg, "corrupt PNG data"))
        fail_msg("%dx%d with one byte less: %s", k[0], k[1], msg);
    }
    free(raw);
  }
}

/* Issue 15: a small JPEG declaring 9000x9000 pixels decoded to 412 MB;
 * decoding is now checked against the memory limit first. */
static void test_memory_limit(void **state) {
  (void)state;
  membuf jpeg = quadrant_jpeg();
  size_t sof = 0;
  for (size_t i = 2; i + 1 < jpeg.n && !sof; i++)
    if (jpeg.p[i] == 0xFF && jpeg.p[i + 1] == 0xC0) sof = i;
  assert_true(sof > 0);
  put16(jpeg.p + sof + 5, 9000, 0);
  put16(jpeg.p + sof + 7, 9000, 0);
  write_bytes(tmp_path("big.jpg"), jpeg.p, jpeg.n);
  free(jpeg.p);
  unsigned char b[128];
  write_bytes(tmp_path("big.png"), b, png_header_only(b, 9000, 9000));
  csm_set_memory_limit((size_t)100 << 20);
  expect_bad("big.jpg", CSM_EINPUT);
  if (!strstr(csm_last_error(), "9000x9000") || !strstr(csm_last_error(), "needs") ||
      !strstr(csm_last_error(), "limit 104857600 (--max-memory)"))
    fail_msg("big.jpg: %s", csm_last_error());
  expect_bad("big.png", CSM_EINPUT);
  if (!strstr(csm_last_error(), "(--max-memory)")) fail_msg("big.png: %s", csm_last_error());
  /* An ordinary image is well inside the same limit. */
  csm_image img = {7, 5, calloc(7 * 5, 3)}, back;
  assert_non_null(img.rgb);
  CSM_ASSERT_OK(csm_image_write_png(tmp_path("small.png"), &img));
  CSM_ASSERT_OK(csm_image_load(tmp_path("small.png"), &back));
  csm_image_free(&back);
  free(img.rgb);
  write_bytes(tmp_path("small.jpg"), quad_jpg, sizeof quad_jpg);
  CSM_ASSERT_OK(csm_image_load(tmp_path("small.jpg"), &back));
  csm_image_free(&back);
  csm_set_memory_limit(0);
}

/* Issue 15: damaged scan data was reported as "truncated". A file that
 * still ends with its end-of-image marker is corrupt, never truncated,
 * whatever byte is damaged; a file cut short is truncated. */
static void test_jpeg_corrupt_or_truncated(void **state) {
  (void)state;
  membuf jpeg = quadrant_jpeg();
  size_t sos = 0, sof = 0;
  for (size_t i = 2; i + 1 < jpeg.n; i++) {
    if (jpeg.p[i] == 0xFF && jpeg.p[i + 1] == 0xDA && !sos) sos = i;
    if (jpeg.p[i] == 0xFF && jpeg.p[i + 1] == 0xC0 && !sof) sof = i;
  }
  assert_true(sos > 0 && sof > 0);
  const size_t scan = sos + 2 + ((size_t)jpeg.p[sos + 2] << 8 | jpeg.p[sos + 3]);
  assert_true(scan + 8 < jpeg.n);
  /* A marker with a huge length inside the scan data. */
  unsigned char *j = malloc(jpeg.n);
  assert_non_null(j);
  memcpy(j, jpeg.p, jpeg.n);
  memcpy(j + scan + 2, "\xFF\xFE\x7F\xFF", 4);
  write_bytes(tmp_path("scan.jpg"), j, jpeg.n);
  expect_bad("scan.jpg", CSM_EINPUT);
  if (!strstr(csm_last_error(), "corrupt JPEG") || strstr(csm_last_error(), "truncated"))
    fail_msg("scan.jpg: %s", csm_last_error());
  /* Every byte before the EOI set to FF, 00 or flipped. */
  static const int how[3] = {0x100, 0x200, 0xA5};
  for (size_t i = 2; i + 2 < jpeg.n; i++)
    for (int h = 0; h < 3; h++) {
      memcpy(j, jpeg.p, jpeg.n);
      j[i] = how[h] == 0x100 ? 0xFF : how[h] == 0x200 ? 0x00 : (unsigned char)(j[i] ^ 0xA5);
      write_bytes(tmp_path("damaged.jpg"), j, jpeg.n);
      csm_image img;
      csm_status st = csm_image_load(tmp_path("damaged.jpg"), &img);
      if (st == CSM_OK) {
        csm_image_free(&img);
        continue;
      }
      if (strstr(csm_last_error(), "truncated"))
        fail_msg("byte %zu damaged (%d): %s", i, h, csm_last_error());
    }
  free(j);
  /* Cut anywhere after the frame header: truncated. */
  const size_t after_sof = sof + 2 + ((size_t)jpeg.p[sof + 2] << 8 | jpeg.p[sof + 3]);
  for (size_t cut = after_sof; cut < jpeg.n; cut++) {
    write_bytes(tmp_path("cut.jpg"), jpeg.p, cut);
    expect_bad("cut.jpg", CSM_EINPUT);
    if (!strstr(csm_last_error(), "truncated JPEG"))
      fail_msg("cut at %zu of %zu: %s", cut, jpeg.n, csm_last_error());
  }
  free(jpeg.p);
}

/* stb_image takes fill bytes (FF) before the SOI marker, so such a file is
 * a JPEG to it and must get every JPEG check: found by fuzz_image (a bad
 * Huffman table behind fill bytes reached stb's table builder). */
static void test_fill_before_soi(void **state) {
  (void)state;
  membuf jpeg = quadrant_jpeg();
  enum { FILL = 40 };
  unsigned char *j = malloc(jpeg.n + FILL);
  assert_non_null(j);
  memset(j, 0xFF, FILL);
  memcpy(j + FILL, jpeg.p, jpeg.n);
  write_bytes(tmp_path("fill.jpg"), j, jpeg.n + FILL);
  check_orientation(tmp_path("fill.jpg"), 1);
  /* Cut short: truncated, not decoded with a grey bottom. */
  write_bytes(tmp_path("fill-cut.jpg"), j, jpeg.n + FILL - 20);
  expect_bad("fill-cut.jpg", CSM_EINPUT);
  if (!strstr(csm_last_error(), "truncated JPEG")) fail_msg("%s", csm_last_error());
  /* A DHT whose code counts sum past 256. */
  size_t dht = 0;
  for (size_t i = FILL; i + 1 < jpeg.n + FILL && !dht; i++)
    if (j[i] == 0xFF && j[i + 1] == 0xC4) dht = i;
  assert_true(dht > 0);
  memset(j + dht + 5, 0xFF, 16); /* the counts of the first table */
  write_bytes(tmp_path("fill-dht.jpg"), j, jpeg.n + FILL);
  expect_bad("fill-dht.jpg", CSM_EINPUT);
  if (!strstr(csm_last_error(), "bad Huffman table")) fail_msg("%s", csm_last_error());
  free(j);
  free(jpeg.p);
}

/* Folders and FIFOs are refused at once, naming the path (a FIFO without a
 * writer must not block; the alarm turns a hang into a failure). */
static void test_not_regular(void **state) {
  (void)state;
  const char *d = tmp_path("folder.jpg");
  assert_int_equal(mkdir(d, 0777), 0);
  expect_bad("folder.jpg", CSM_EIO);
  if (!strstr(csm_last_error(), "not a regular file")) fail_msg("%s", csm_last_error());
  assert_int_equal(mkfifo(tmp_path("fifo.png"), 0600), 0);
  alarm(60);
  expect_bad("fifo.png", CSM_EIO);
  alarm(0);
  if (!strstr(csm_last_error(), "not a regular file")) fail_msg("%s", csm_last_error());
}

static void test_samples(void **state) {
  (void)state;
  const char *sd = csm_test_env("CSM_SAMPLES_DIR", "data/samples");
  char path[1024];
  snprintf(path, sizeof path, "%s/sample1.jpg", sd);
  if (access(path, R_OK) != 0) skip();
  csm_image img;
  CSM_ASSERT_OK(csm_image_load(path, &img));
  assert_int_equal(img.w, 1920);
  assert_int_equal(img.h, 1280);
  csm_image_free(&img);
  for (int i = 2; i <= 9; i++) {
    snprintf(path, sizeof path, "%s/sample%d.jpg", sd, i);
    if (access(path, R_OK) != 0) continue;
    CSM_ASSERT_OK(csm_image_load(path, &img));
    assert_true(img.w > 0 && img.h > 0);
    csm_image_free(&img);
  }
}

int main(void) {
  snprintf(dir, sizeof dir, "%s", csm_test_env("CSM_TEST_TMP", "/tmp"));
  mkdir(dir, 0777);
  snprintf(dir + strlen(dir), sizeof dir - strlen(dir), "/imageXXXXXX");
  if (!mkdtemp(dir)) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_exif_orientations), cmocka_unit_test(test_exif_hostile),
      cmocka_unit_test(test_png_round_trip),    cmocka_unit_test(test_bad_inputs),
      cmocka_unit_test(test_samples),           cmocka_unit_test(test_png_inflate_bound),
      cmocka_unit_test(test_memory_limit),      cmocka_unit_test(test_jpeg_corrupt_or_truncated),
      cmocka_unit_test(test_not_regular),       cmocka_unit_test(test_fill_before_soi),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  char cmd[700];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (rc == 0 && system(cmd) != 0) return 1;
  return rc;
}
