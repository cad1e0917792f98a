/* CSM_RESIZE_PIL_BICUBIC against Pillow itself (the oracle: Debian's
 * python3-pil, Image.resize((w, h)) with its default filter): byte for byte
 * on random noise and on a real photo, enlarging, shrinking (antialiased)
 * and both at once, as the reference mode feeds its model. Skipped (77)
 * without a python3 that imports PIL. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csm_test.h"

static char g_tmp[512], g_py[512];

/* PIL's resize of the PNG at src into raw RGB bytes at dst. */
static void pil_resize(const char *src, int w, int h, const char *dst) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd,
           "'%s' -c \"import sys; from PIL import Image; "
           "open(sys.argv[2], 'wb').write(Image.open(sys.argv[1]).convert('RGB')"
           ".resize((int(sys.argv[3]), int(sys.argv[4]))).tobytes())\" '%s' '%s' %d %d",
           g_py, src, dst, w, h);
  assert_int_equal(system(cmd), 0);
}

static void check(const csm_image *img, const char *png, int w, int h) {
  char raw[700];
  snprintf(raw, sizeof raw, "%s/pil.raw", g_tmp);
  pil_resize(png, w, h, raw);
  csm_image got;
  CSM_ASSERT_OK(csm_image_resize(img, w, h, CSM_RESIZE_PIL_BICUBIC, &got));
  assert_int_equal(got.w, w);
  assert_int_equal(got.h, h);
  size_t n = (size_t)w * h * 3;
  unsigned char *want = malloc(n);
  FILE *fp = fopen(raw, "rb");
  assert_non_null(fp);
  assert_int_equal(fread(want, 1, n, fp), n);
  fclose(fp);
  size_t differ = 0, first = n;
  for (size_t k = 0; k < n; k++)
    if (got.rgb[k] != want[k]) differ++, first = first < n ? first : k;
  if (differ)
    fail_msg("%s %dx%d -> %dx%d: %zu bytes differ from PIL (first at pixel %zu: %d, PIL %d)", png,
             img->w, img->h, w, h, differ, first / 3, got.rgb[first], want[first]);
  free(want);
  csm_image_free(&got);
}

static const int sizes[][2] = {{224, 224}, {100, 300}, {53, 20}, {17, 17},
                               {400, 218}, {224, 37},  {1, 1},   {178, 218}};

static void test_noise(void **state) {
  (void)state;
  /* Noise: every tap and the 8-bit clipping of the cubic's overshoot. */
  csm_image img = {37, 53, malloc(37 * 53 * 3)};
  uint32_t s = 12345;
  for (int k = 0; k < 37 * 53 * 3; k++) {
    s = s * 1664525u + 1013904223u;
    img.rgb[k] = (unsigned char)(s >> 24);
  }
  char png[700];
  snprintf(png, sizeof png, "%s/noise.png", g_tmp);
  CSM_ASSERT_OK(csm_image_write_png(png, &img));
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
    check(&img, png, sizes[i][0], sizes[i][1]);
  csm_image_free(&img);
}

static void test_photo(void **state) {
  (void)state;
  /* A reference photo (178 x 218) as PNG, so that both read the same
   * pixels, then the reference mode's 224 x 224 and more. */
  char src[700], png[700];
  snprintf(src, sizeof src, "%s/celeba-prnet/images/000686.jpg",
           csm_test_env("CSM_TEST_DATA", "tests/data"));
  snprintf(png, sizeof png, "%s/photo.png", g_tmp);
  csm_image img;
  CSM_ASSERT_OK(csm_image_load(src, &img));
  CSM_ASSERT_OK(csm_image_write_png(png, &img));
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
    check(&img, png, sizes[i][0], sizes[i][1]);
  csm_image_free(&img);
}

int main(void) {
  snprintf(g_py, sizeof g_py, "%s", csm_test_env("CSM_TORCH_PYTHON", "/usr/bin/python3"));
  char cmd[700];
  snprintf(cmd, sizeof cmd, "'%s' -c 'import PIL.Image' 2>/dev/null", g_py);
  if (system(cmd) != 0) {
    printf("SKIP: %s cannot import PIL (scripts/setup.sh installs python3-pil)\n", g_py);
    return CSM_TEST_SKIP;
  }
  snprintf(g_tmp, sizeof g_tmp, "%s/resize_pil", csm_test_env("CSM_TEST_TMP", "/tmp"));
  snprintf(cmd, sizeof cmd, "mkdir -p '%s'", g_tmp);
  if (system(cmd) != 0) return 1;
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_noise), cmocka_unit_test(test_photo)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
