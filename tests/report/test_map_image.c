/* Colour maps, map images, side-by-side images and atomic text files. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csm_test.h"

static char dir[512];

static void assert_rgb_near(const unsigned char *got, int r, int g, int b, int tol) {
  if (abs(got[0] - r) > tol || abs(got[1] - g) > tol || abs(got[2] - b) > tol)
    fail_msg("%s: got (%d, %d, %d), want (%d, %d, %d) +- %d", csm_test_context, got[0], got[1],
             got[2], r, g, b, tol);
}

static double luminance(const unsigned char *c) {
  return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
}

static const unsigned char *pixel(const csm_image *img, int x, int y) {
  return img->rgb + ((size_t)y * img->w + x) * 3;
}

/* The expected blend of colour c over background bg. */
static void blend(const unsigned char *c, const unsigned char *bg, double a, unsigned char *out) {
  for (int k = 0; k < 3; k++)
    out[k] = (unsigned char)lrint(a * c[k] + (1 - a) * bg[k]);
}

static void test_inferno_matches_matplotlib(void **state) {
  (void)state;
  unsigned char c[3];
  /* matplotlib's _inferno_data[0], [128] and [255], times 255. */
  csm_test_context = "inferno(0)";
  csm_colormap_rgb(CSM_CMAP_INFERNO, 0, c);
  assert_rgb_near(c, 0, 0, 4, 1);
  csm_test_context = "inferno(0.5)";
  csm_colormap_rgb(CSM_CMAP_INFERNO, 128.0 / 255, c);
  assert_rgb_near(c, 188, 55, 84, 2);
  csm_test_context = "inferno(1)";
  csm_colormap_rgb(CSM_CMAP_INFERNO, 1, c);
  assert_rgb_near(c, 252, 255, 164, 1);
  /* Clamped, and NAN reads as 0. */
  unsigned char d[3];
  csm_colormap_rgb(CSM_CMAP_INFERNO, -3, d);
  csm_colormap_rgb(CSM_CMAP_INFERNO, 0, c);
  assert_memory_equal(c, d, 3);
  csm_colormap_rgb(CSM_CMAP_INFERNO, NAN, d);
  assert_memory_equal(c, d, 3);
  csm_colormap_rgb(CSM_CMAP_INFERNO, 7, d);
  csm_colormap_rgb(CSM_CMAP_INFERNO, 1, c);
  assert_memory_equal(c, d, 3);
}

static void test_inferno_luminance_is_monotone(void **state) {
  (void)state;
  unsigned char prev[3], c[3];
  csm_colormap_rgb(CSM_CMAP_INFERNO, 0, prev);
  for (int i = 1; i <= 512; i++) {
    csm_colormap_rgb(CSM_CMAP_INFERNO, i / 512.0, c);
    /* 8-bit rounding may cost a fraction of a level between neighbours. */
    if (luminance(c) < luminance(prev) - 0.75)
      fail_msg("luminance drops at t = %g: %g -> %g", i / 512.0, luminance(prev), luminance(c));
    memcpy(prev, c, 3);
  }
  unsigned char a[3], b[3];
  for (int i = 0; i < 16; i++) {
    csm_colormap_rgb(CSM_CMAP_INFERNO, i / 16.0, a);
    csm_colormap_rgb(CSM_CMAP_INFERNO, (i + 1) / 16.0, b);
    assert_true(luminance(b) > luminance(a) + 3);
  }
}

static void test_diverging(void **state) {
  (void)state;
  unsigned char c[3];
  csm_test_context = "diverging(0.5)";
  csm_colormap_rgb(CSM_CMAP_DIVERGING, 0.5, c);
  assert_true(c[0] >= 235 && c[1] >= 235 && c[2] >= 235);
  assert_true(abs(c[0] - c[2]) <= 8);
  csm_colormap_rgb(CSM_CMAP_DIVERGING, 0, c);
  assert_true(c[2] > c[0] + 60 && c[2] > c[1] + 30); /* blue */
  csm_colormap_rgb(CSM_CMAP_DIVERGING, 1, c);
  assert_true(c[0] > c[2] + 60 && c[0] > c[1] + 60); /* red */
  /* Whiter towards the middle from both ends. */
  double prev = -1;
  for (int i = 0; i <= 50; i++) {
    csm_colormap_rgb(CSM_CMAP_DIVERGING, i / 100.0, c);
    double s = c[0] + c[1] + c[2];
    assert_true(s >= prev - 1);
    prev = s;
  }
  for (int i = 50; i <= 100; i++) {
    csm_colormap_rgb(CSM_CMAP_DIVERGING, i / 100.0, c);
    double s = c[0] + c[1] + c[2];
    assert_true(s <= prev + 1);
    prev = s;
  }
}

/* A 4x3 map over a patterned background. */
enum { W = 4, H = 3 };
static const float map4x3[W * H] = {0.f, 1.f, 2.f, 3.f, 4.f, 5.f, NAN, 7.f, 8.f, 9.f, 10.f, 11.f};
static const unsigned char valid4x3[W * H] = {1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1};

static csm_image background(void) {
  csm_image bg = {W, H, malloc(W * H * 3)};
  for (int i = 0; i < W * H * 3; i++)
    bg.rgb[i] = (unsigned char)(17 * i + 3);
  return bg;
}

static void test_render_blends_over_background(void **state) {
  (void)state;
  csm_image bg = background(), out;
  csm_map_style s = csm_map_style_default();
  assert_int_equal(s.cmap, CSM_CMAP_DIVERGING);
  assert_true(fabsf(s.alpha - 0.65f) < 1e-6f);
  assert_int_equal(s.colorbar, 1);
  assert_int_equal(s.scale, 1);
  s.cmap = CSM_CMAP_INFERNO;
  CSM_ASSERT_OK(csm_map_render(map4x3, valid4x3, W, H, &bg, &s, &out));
  /* The bar widens the image; no title: the map starts at the top left. */
  assert_true(out.w > W);
  assert_true(out.h >= H);
  unsigned char top[3], bottom[3], want[3];
  csm_colormap_rgb(CSM_CMAP_INFERNO, 1, top);
  csm_colormap_rgb(CSM_CMAP_INFERNO, 0, bottom);
  csm_test_context = "max value";
  blend(top, pixel(&bg, 3, 2), s.alpha, want);
  assert_rgb_near(pixel(&out, 3, 2), want[0], want[1], want[2], 1);
  csm_test_context = "min value";
  blend(bottom, pixel(&bg, 0, 0), s.alpha, want);
  assert_rgb_near(pixel(&out, 0, 0), want[0], want[1], want[2], 1);
  /* Masked and NaN pixels keep the background exactly. */
  assert_memory_equal(pixel(&out, 1, 1), pixel(&bg, 1, 1), 3);
  assert_memory_equal(pixel(&out, 2, 1), pixel(&bg, 2, 1), 3);
  csm_image_free(&out);

  /* Explicit range, values beyond it clamp; no bar, no title: w x h. */
  s.lo = 0, s.hi = 22, s.colorbar = 0, s.alpha = 1;
  CSM_ASSERT_OK(csm_map_render(map4x3, NULL, W, H, &bg, &s, &out));
  assert_int_equal(out.w, W);
  assert_int_equal(out.h, H);
  unsigned char half[3];
  csm_colormap_rgb(CSM_CMAP_INFERNO, 0.5, half);
  csm_test_context = "11 of 0..22";
  assert_rgb_near(pixel(&out, 3, 2), half[0], half[1], half[2], 1);
  assert_memory_equal(pixel(&out, 2, 1), pixel(&bg, 2, 1), 3); /* NaN */
  csm_image_free(&out);

  /* Scale 3: each map pixel a 3x3 block. */
  s.scale = 3, s.lo = s.hi = 0, s.alpha = 0.5f;
  CSM_ASSERT_OK(csm_map_render(map4x3, valid4x3, W, H, &bg, &s, &out));
  assert_int_equal(out.w, 3 * W);
  assert_int_equal(out.h, 3 * H);
  blend(top, pixel(&bg, 3, 2), 0.5, want);
  for (int y = 6; y < 9; y++)
    for (int x = 9; x < 12; x++)
      assert_rgb_near(pixel(&out, x, y), want[0], want[1], want[2], 1);
  csm_image_free(&out);
  csm_image_free(&bg);
}

static void test_render_layout_and_defaults(void **state) {
  (void)state;
  csm_image out, titled, big;
  /* NULL style: diverging, automatic -m..m; NULL background: mid grey. */
  float m[4] = {-2, 0, 1, 2};
  CSM_ASSERT_OK(csm_map_render(m, NULL, 2, 2, NULL, NULL, &out));
  unsigned char grey[3] = {128, 128, 128}, c[3], want[3];
  csm_colormap_rgb(CSM_CMAP_DIVERGING, 0.5, c);
  blend(c, grey, 0.65, want);
  csm_test_context = "0 of -2..2";
  assert_rgb_near(pixel(&out, 1, 0), want[0], want[1], want[2], 1);
  csm_colormap_rgb(CSM_CMAP_DIVERGING, 0, c);
  blend(c, grey, 0.65, want);
  csm_test_context = "-2 of -2..2";
  assert_rgb_near(pixel(&out, 0, 0), want[0], want[1], want[2], 1);
  csm_colormap_rgb(CSM_CMAP_DIVERGING, 0.75, c);
  blend(c, grey, 0.65, want);
  csm_test_context = "1 of -2..2";
  assert_rgb_near(pixel(&out, 0, 1), want[0], want[1], want[2], 1);

  /* A title adds height (and width for a long one). */
  csm_map_style s = csm_map_style_default();
  s.title = "a long title for a small map";
  CSM_ASSERT_OK(csm_map_render(m, NULL, 2, 2, NULL, &s, &titled));
  assert_true(titled.h > out.h);
  assert_true(titled.w >= (int)strlen(s.title) * 6);
  /* Scale enlarges everything, labels included. */
  s.scale = 2;
  CSM_ASSERT_OK(csm_map_render(m, NULL, 2, 2, NULL, &s, &big));
  assert_true(big.w >= 2 * titled.w - 4 && big.h >= 2 * titled.h - 4);
  /* The bar's labels are drawn: dark pixels right of the bar and its ticks
   * (map 2, gap 6, bar 12, ticks 3). */
  int dark = 0;
  for (int y = 0; y < out.h; y++)
    for (int x = 2 + 6 + 12 + 3; x < out.w; x++)
      dark += luminance(pixel(&out, x, y)) < 40;
  assert_true(dark > 20);
  csm_image_free(&out);
  csm_image_free(&titled);
  csm_image_free(&big);

  /* All invalid, constant maps: still an image, no failure. */
  float flat[4] = {3, 3, 3, 3};
  unsigned char none[4] = {0};
  s = csm_map_style_default();
  s.cmap = CSM_CMAP_INFERNO;
  CSM_ASSERT_OK(csm_map_render(flat, none, 2, 2, NULL, &s, &out));
  assert_memory_equal(pixel(&out, 0, 0), grey, 3);
  csm_image_free(&out);
  CSM_ASSERT_OK(csm_map_render(flat, NULL, 2, 2, NULL, &s, &out));
  csm_image_free(&out);
}

static void expect_usage(csm_status st, const csm_image *out) {
  assert_int_equal(st, CSM_EUSAGE);
  assert_true(strlen(csm_last_error()) > 0);
  assert_null(out->rgb);
}

static void test_render_bad_args(void **state) {
  (void)state;
  csm_image bg = background(), out;
  csm_map_style s = csm_map_style_default();
  expect_usage(csm_map_render(NULL, NULL, W, H, NULL, NULL, &out), &out);
  expect_usage(csm_map_render(map4x3, NULL, 0, H, NULL, NULL, &out), &out);
  expect_usage(csm_map_render(map4x3, NULL, W, -1, NULL, NULL, &out), &out);
  expect_usage(csm_map_render(map4x3, NULL, W - 1, H, &bg, NULL, &out), &out);
  assert_non_null(strstr(csm_last_error(), "background"));
  csm_image nopix = {W, H, NULL};
  expect_usage(csm_map_render(map4x3, NULL, W, H, &nopix, NULL, &out), &out);
  s.alpha = 1.5f;
  expect_usage(csm_map_render(map4x3, NULL, W, H, &bg, &s, &out), &out);
  s.alpha = NAN;
  expect_usage(csm_map_render(map4x3, NULL, W, H, &bg, &s, &out), &out);
  s = csm_map_style_default();
  s.scale = 0;
  expect_usage(csm_map_render(map4x3, NULL, W, H, &bg, &s, &out), &out);
  s.scale = 1;
  s.cmap = (csm_colormap)42;
  expect_usage(csm_map_render(map4x3, NULL, W, H, &bg, &s, &out), &out);
  assert_int_equal(csm_map_render(map4x3, NULL, W, H, &bg, NULL, NULL), CSM_EUSAGE);
  expect_usage(csm_map_render(map4x3, NULL, 1 << 20, 1 << 20, NULL, NULL, &out), &out);
  csm_image_free(&bg);
}

static void test_hstack(void **state) {
  (void)state;
  unsigned char a_px[3 * 2 * 3], b_px[5 * 4 * 3];
  memset(a_px, 10, sizeof a_px);
  memset(b_px, 20, sizeof b_px);
  csm_image imgs[2] = {{3, 2, a_px}, {5, 4, b_px}}, out;
  CSM_ASSERT_OK(csm_image_hstack(imgs, 2, 2, &out));
  assert_int_equal(out.w, 3 + 2 + 5);
  assert_int_equal(out.h, 4);
  assert_int_equal(pixel(&out, 0, 0)[0], 10);
  assert_int_equal(pixel(&out, 2, 1)[2], 10);
  assert_int_equal(pixel(&out, 1, 3)[0], 255); /* below the shorter image */
  assert_int_equal(pixel(&out, 3, 0)[0], 255); /* the gap */
  assert_int_equal(pixel(&out, 4, 2)[1], 255);
  assert_int_equal(pixel(&out, 5, 0)[0], 20);
  assert_int_equal(pixel(&out, 9, 3)[2], 20);
  csm_image_free(&out);
  CSM_ASSERT_OK(csm_image_hstack(imgs + 1, 1, 7, &out));
  assert_int_equal(out.w, 5);
  assert_int_equal(out.h, 4);
  csm_image_free(&out);
  expect_usage(csm_image_hstack(imgs, 0, 0, &out), &out);
  expect_usage(csm_image_hstack(NULL, 2, 0, &out), &out);
  expect_usage(csm_image_hstack(imgs, 2, -1, &out), &out);
  csm_image empty = {0, 0, NULL};
  expect_usage(csm_image_hstack(&empty, 1, 0, &out), &out);
}

static void test_vstack(void **state) {
  (void)state;
  unsigned char a_px[3 * 2 * 3], b_px[5 * 4 * 3];
  memset(a_px, 10, sizeof a_px);
  memset(b_px, 20, sizeof b_px);
  csm_image imgs[2] = {{3, 2, a_px}, {5, 4, b_px}}, out;
  CSM_ASSERT_OK(csm_image_vstack(imgs, 2, 1, &out));
  assert_int_equal(out.w, 5);
  assert_int_equal(out.h, 2 + 1 + 4);
  assert_int_equal(pixel(&out, 0, 0)[0], 10);
  assert_int_equal(pixel(&out, 2, 1)[2], 10);
  assert_int_equal(pixel(&out, 4, 0)[0], 255); /* right of the narrower image */
  assert_int_equal(pixel(&out, 0, 2)[1], 255); /* the gap */
  assert_int_equal(pixel(&out, 0, 3)[0], 20);
  assert_int_equal(pixel(&out, 4, 6)[2], 20);
  csm_image_free(&out);
  expect_usage(csm_image_vstack(imgs, 0, 0, &out), &out);
  expect_usage(csm_image_vstack(imgs, 2, -1, &out), &out);
  csm_image empty = {0, 0, NULL};
  expect_usage(csm_image_vstack(&empty, 1, 0, &out), &out);
}

static void test_write_file_atomic(void **state) {
  (void)state;
  char path[700], buf[64];
  snprintf(path, sizeof path, "%s/a.txt", dir);
  CSM_ASSERT_OK(csm_write_file_atomic(path, "hello\n", 6));
  CSM_ASSERT_OK(csm_write_file_atomic(path, "bye", 3)); /* replaces */
  FILE *fp = fopen(path, "rb");
  assert_non_null(fp);
  size_t n = fread(buf, 1, sizeof buf, fp);
  fclose(fp);
  assert_int_equal(n, 3);
  assert_memory_equal(buf, "bye", 3);
  CSM_ASSERT_OK(csm_write_file_atomic(path, NULL, 0)); /* empty file */
  /* A folder that does not exist: CSM_EIO naming the file, nothing left. */
  snprintf(path, sizeof path, "%s/no/such/b.txt", dir);
  assert_int_equal(csm_write_file_atomic(path, "x", 1), CSM_EIO);
  assert_non_null(strstr(csm_last_error(), "b.txt"));
  /* A target that is a folder: the rename fails, the temporary is removed. */
  snprintf(path, sizeof path, "%s/sub", dir);
  assert_int_equal(mkdir(path, 0755), 0);
  char inner[720];
  snprintf(inner, sizeof inner, "%s/x", path);
  fp = fopen(inner, "w");
  assert_non_null(fp);
  fclose(fp);
  assert_int_equal(csm_write_file_atomic(path, "x", 1), CSM_EIO);
  assert_non_null(strstr(csm_last_error(), "sub"));
  char tmp[760];
  snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
  assert_int_not_equal(access(tmp, F_OK), 0);
  assert_int_equal(csm_write_file_atomic(NULL, "x", 1), CSM_EUSAGE);
}

int main(void) {
  snprintf(dir, sizeof dir, "%s/mapimgXXXXXX", csm_test_env("TMPDIR", "/tmp"));
  if (!mkdtemp(dir)) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_inferno_matches_matplotlib),
      cmocka_unit_test(test_inferno_luminance_is_monotone),
      cmocka_unit_test(test_diverging),
      cmocka_unit_test(test_render_blends_over_background),
      cmocka_unit_test(test_render_layout_and_defaults),
      cmocka_unit_test(test_render_bad_args),
      cmocka_unit_test(test_hstack),
      cmocka_unit_test(test_vstack),
      cmocka_unit_test(test_write_file_atomic),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  char cmd[700];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd)) rc = rc ? rc : 1;
  return rc;
}
