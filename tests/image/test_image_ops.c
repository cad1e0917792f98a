/* Resizing, copying and overlay drawing on in-memory images. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "csm_test.h"

/* A w x h image whose three channels all hold v[y*w+x]. */
static csm_image gray_image(int w, int h, const unsigned char *v) {
  csm_image img = {w, h, malloc((size_t)w * h * 3)};
  assert_non_null(img.rgb);
  for (int i = 0; i < w * h; i++)
    memset(img.rgb + i * 3, v ? v[i] : 0, 3);
  return img;
}

static void assert_gray(const csm_image *img, const unsigned char *want) {
  for (int i = 0; i < img->w * img->h; i++)
    for (int c = 0; c < 3; c++)
      if (img->rgb[i * 3 + c] != want[i])
        fail_msg("pixel %d (%d,%d) channel %d = %d, want %d", i, i % img->w, i / img->w, c,
                 img->rgb[i * 3 + c], want[i]);
}

static void test_bilinear_2x2_to_4x4(void **state) {
  (void)state;
  const unsigned char src[4] = {0, 100, 200, 40};
  csm_image img = gray_image(2, 2, src), out;
  CSM_ASSERT_OK(csm_image_resize(&img, 4, 4, CSM_RESIZE_BILINEAR, &out));
  assert_int_equal(out.w, 4);
  assert_int_equal(out.h, 4);
  /* Output centres map to source x = -0.25, 0.25, 0.75, 1.25 (edges
   * clamped): weights 1 | .75/.25 | .25/.75 | 1 on each axis. E.g. row 1,
   * column 1: .75*(.75*0 + .25*100) + .25*(.75*200 + .25*40) = 58.75. */
  const unsigned char want[16] = {0,   25,  75, 100, /* */
                                  50,  59,  76, 85,  /* */
                                  150, 126, 79, 55,  /* */
                                  200, 160, 80, 40};
  assert_gray(&out, want);
  csm_image_free(&out);
  /* Enlarging in area mode is bilinear. */
  CSM_ASSERT_OK(csm_image_resize(&img, 4, 4, CSM_RESIZE_AREA, &out));
  assert_gray(&out, want);
  csm_image_free(&out);
  csm_image_free(&img);
}

static void test_area_block_means(void **state) {
  (void)state;
  const unsigned char src[16] = {10, 20, 30,  40,  /* */
                                 50, 60, 70,  80,  /* */
                                 0,  4,  255, 255, /* */
                                 8,  12, 255, 255};
  csm_image img = gray_image(4, 4, src), out;
  CSM_ASSERT_OK(csm_image_resize(&img, 2, 2, CSM_RESIZE_AREA, &out));
  const unsigned char want[4] = {(10 + 20 + 50 + 60) / 4, (30 + 40 + 70 + 80) / 4,
                                 (0 + 4 + 8 + 12) / 4, (255 + 255 + 255 + 255) / 4};
  assert_gray(&out, want);
  csm_image_free(&out);
  /* To one pixel: the mean of everything (1404 / 16 = 87.75). */
  CSM_ASSERT_OK(csm_image_resize(&img, 1, 1, CSM_RESIZE_AREA, &out));
  assert_int_equal(out.rgb[0], 88);
  csm_image_free(&out);
  csm_image_free(&img);
}

static void test_area_fractional(void **state) {
  (void)state;
  /* 3 -> 2: output 0 covers source [0, 1.5): pixel 0 fully, pixel 1 half,
   * so weights 2/3 and 1/3 per axis. */
  const unsigned char ramp[9] = {10, 20, 30, 40, 50, 60, 70, 80, 90};
  csm_image img = gray_image(3, 3, ramp), out;
  CSM_ASSERT_OK(csm_image_resize(&img, 2, 2, CSM_RESIZE_AREA, &out));
  /* v = 10 + 10x + 30y at weighted mean positions 1/3 and 5/3. */
  const unsigned char want[4] = {23, 37, 63, 77};
  assert_gray(&out, want);
  csm_image_free(&out);
  csm_image_free(&img);
  /* Only the centre lit: each output gets (1/3 * 1/3) * 255 = 28.3. */
  const unsigned char dot[9] = {0, 0, 0, 0, 255, 0, 0, 0, 0};
  img = gray_image(3, 3, dot);
  CSM_ASSERT_OK(csm_image_resize(&img, 2, 2, CSM_RESIZE_AREA, &out));
  const unsigned char want_dot[4] = {28, 28, 28, 28};
  assert_gray(&out, want_dot);
  csm_image_free(&out);
  /* Mixed: shrink x (area), enlarge y (bilinear). */
  CSM_ASSERT_OK(csm_image_resize(&img, 1, 6, CSM_RESIZE_AREA, &out));
  assert_int_equal(out.w, 1);
  assert_int_equal(out.h, 6);
  csm_image_free(&out);
  csm_image_free(&img);
}

static void test_resize_errors_and_copy(void **state) {
  (void)state;
  const unsigned char v[6] = {1, 2, 3, 4, 5, 6};
  csm_image img = gray_image(3, 2, v), out = {0};
  assert_int_equal(csm_image_resize(&img, 0, 4, CSM_RESIZE_BILINEAR, &out), CSM_EUSAGE);
  assert_int_equal(csm_image_resize(&img, 4, -1, CSM_RESIZE_AREA, &out), CSM_EUSAGE);
  assert_int_equal(csm_image_resize(&img, 20000, 20000, CSM_RESIZE_AREA, &out), CSM_EUSAGE);
  assert_null(out.rgb);
  CSM_ASSERT_OK(csm_image_resize(&img, 3, 2, CSM_RESIZE_BILINEAR, &out));
  assert_memory_equal(out.rgb, img.rgb, 18); /* same size: identity */
  csm_image_free(&out);
  CSM_ASSERT_OK(csm_image_copy(&img, &out));
  assert_int_equal(out.w, 3);
  assert_int_equal(out.h, 2);
  assert_ptr_not_equal(out.rgb, img.rgb);
  assert_memory_equal(out.rgb, img.rgb, 18);
  csm_image_free(&out);
  csm_image_free(&img);
}

enum { W = 40, H = 30 };
static const uint32_t RED = 0xFF0000;

static int is_red(const csm_image *img, int x, int y) {
  const unsigned char *p = img->rgb + (y * img->w + x) * 3;
  return p[0] == 255 && p[1] == 0 && p[2] == 0;
}

static int is_black(const csm_image *img, int x, int y) {
  const unsigned char *p = img->rgb + (y * img->w + x) * 3;
  return !p[0] && !p[1] && !p[2];
}

static void test_box_outline(void **state) {
  (void)state;
  csm_image img = gray_image(W, H, NULL);
  csm_draw_box(&img, 10, 10, 20, 15, 1, RED);
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++) {
      const int on = ((y == 10 || y == 25) && x >= 10 && x <= 30) ||
                     ((x == 10 || x == 30) && y >= 10 && y <= 25);
      if (on ? !is_red(&img, x, y) : !is_black(&img, x, y))
        fail_msg("pixel (%d,%d) should be %s", x, y, on ? "red" : "untouched");
    }
  /* Thick: the band around each edge, still an empty interior. */
  csm_draw_box(&img, 10, 10, 20, 15, 3, RED);
  assert_true(is_red(&img, 20, 11) && is_red(&img, 20, 9) && is_red(&img, 31, 15));
  assert_true(is_black(&img, 20, 12) && is_black(&img, 20, 17) && is_black(&img, 20, 8));
  csm_image_free(&img);
}

static void test_line_and_point(void **state) {
  (void)state;
  csm_image img = gray_image(W, H, NULL);
  csm_draw_line(&img, 2, 3, 20, 15, 1, RED);
  assert_true(is_red(&img, 2, 3));
  assert_true(is_red(&img, 20, 15));
  assert_true(is_red(&img, 11, 9)); /* the midpoint */
  assert_true(is_black(&img, 20, 3) && is_black(&img, 2, 15));
  /* Every column between the endpoints has a pixel: the line connects. */
  for (int x = 2; x <= 20; x++) {
    int n = 0;
    for (int y = 0; y < H; y++)
      n += is_red(&img, x, y);
    if (n == 0) fail_msg("gap in column %d", x);
  }
  csm_image_free(&img);

  img = gray_image(W, H, NULL);
  csm_draw_line(&img, 5, 20, 35, 20, 5, RED); /* thickness 5: rows 18..22 */
  assert_true(is_red(&img, 20, 18) && is_red(&img, 20, 22));
  assert_true(is_black(&img, 20, 17) && is_black(&img, 20, 23));
  csm_draw_point(&img, 20, 8, 3, RED);
  assert_true(is_red(&img, 20, 8) && is_red(&img, 23, 8) && is_red(&img, 22, 10));
  assert_true(is_black(&img, 24, 8) && is_black(&img, 23, 11));
  csm_draw_point(&img, 3.2f, 4.4f, 0.1f, RED); /* tiny: still its pixel */
  assert_true(is_red(&img, 3, 4));
  csm_image_free(&img);
}

static void test_clipping(void **state) {
  (void)state;
  csm_image img = gray_image(W, H, NULL);
  const float nan = NAN, inf = INFINITY;
  csm_draw_line(&img, -1e9f, -1e9f, -1e8f, 5, 1, RED);
  csm_draw_line(&img, 1e30f, 1e30f, -1e30f, 1e30f, 1e30f, RED);
  csm_draw_line(&img, nan, 0, 10, 10, 1, RED);
  csm_draw_line(&img, 0, 0, inf, 10, 1, RED);
  csm_draw_line(&img, 0, -50, 39, -50, 20, RED);
  csm_draw_box(&img, 1e30f, 1e30f, 1e30f, 1e30f, 1, RED);
  csm_draw_box(&img, -100, -100, 50, 50, 2, RED);
  csm_draw_box(&img, nan, 0, 5, 5, 1, RED);
  csm_draw_point(&img, -100, -100, 10, RED);
  csm_draw_point(&img, 1e30f, 5, 1e30f, RED);
  csm_draw_point(&img, 5, 5, nan, 0x000000); /* NaN radius: black on black */
  csm_draw_text(&img, -100000, -100000, "Hello", 3, RED);
  csm_draw_text(&img, INT_MAX - 5, INT_MIN + 5, "Hello", 1000, RED);
  csm_draw_text(&img, W, 0, "far right", 1, RED);
  csm_draw_text(&img, 0, H, "below", 1, RED);
  csm_draw_text(&img, 0, 0, NULL, 1, RED);
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++)
      if (!is_black(&img, x, y)) fail_msg("pixel (%d,%d) changed", x, y);
  /* Far endpoints, visible middle: exactly the visible part is drawn. */
  csm_draw_line(&img, -1e30f, 15, 1e30f, 15, 1, RED);
  for (int x = 0; x < W; x++)
    assert_true(is_red(&img, x, 15));
  assert_true(is_black(&img, 5, 14) && is_black(&img, 5, 16));
  /* A huge thickness covers everything, quickly. */
  csm_draw_line(&img, 0, 0, 1, 1, 1e30f, RED);
  assert_true(is_red(&img, 0, 29) && is_red(&img, 39, 0));
  /* Nothing to draw on. */
  csm_image empty = {0, 0, NULL};
  csm_draw_box(&empty, 0, 0, 5, 5, 1, RED);
  csm_draw_line(&empty, 0, 0, 5, 5, 1, RED);
  csm_draw_point(&empty, 0, 0, 5, RED);
  csm_draw_text(&empty, 0, 0, "x", 1, RED);
  csm_image_free(&img);
}

static void test_text(void **state) {
  (void)state;
  csm_image img = gray_image(W, H, NULL);
  const int x0 = 5, y0 = 6, scale = 2;
  csm_draw_text(&img, x0, y0, "Hi!", scale, RED);
  /* Three 6x8 cells at scale 2: x in [5, 41) clipped to 40, y in [6, 22). */
  int n = 0;
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++)
      if (is_red(&img, x, y)) {
        n++;
        if (x < x0 || y < y0 || y >= y0 + 8 * scale) fail_msg("(%d,%d) outside the text", x, y);
      }
  assert_true(n > 40);
  /* 'H' starts with a full column; the row below the glyph is empty. */
  for (int y = y0; y < y0 + 7 * scale; y++)
    assert_true(is_red(&img, x0, y));
  assert_true(is_black(&img, x0, y0 + 7 * scale));
  csm_image_free(&img);

  /* Every printable character draws something (except space), and
   * newlines, tabs and bytes outside ASCII are handled. */
  img = gray_image(W, H, NULL);
  for (int c = 33; c <= 126; c++) {
    char s[2] = {(char)c, 0};
    memset(img.rgb, 0, W * H * 3);
    csm_draw_text(&img, 0, 0, s, 1, RED);
    int lit = 0;
    for (int i = 0; i < W * H; i++)
      lit += img.rgb[i * 3] != 0;
    if (!lit) fail_msg("glyph '%c' is empty", c);
  }
  csm_draw_text(&img, 0, 0, "a\nb\tc\x01\xff", 1, RED);
  csm_image_free(&img);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bilinear_2x2_to_4x4),
      cmocka_unit_test(test_area_block_means),
      cmocka_unit_test(test_area_fractional),
      cmocka_unit_test(test_resize_errors_and_copy),
      cmocka_unit_test(test_box_outline),
      cmocka_unit_test(test_line_and_point),
      cmocka_unit_test(test_clipping),
      cmocka_unit_test(test_text),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
