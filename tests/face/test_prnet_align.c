/* PRNet alignments (src/face/prnet_align.c) on the reference's own data:
 * the canonical face from frontal_mesh.mat, the canonical -> image ->
 * canonical round trip on a real pair (the criterion: within 0.5 px
 * for at least 99% of the visible canonical pixels), the frame, the warp
 * and the errors. Data: tests/data/celeba-prnet. */
#include "csm_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static char g_dir[512];

static int have_data(void) {
  struct stat st;
  char p[600];
  snprintf(g_dir, sizeof g_dir, "%s/celeba-prnet", csm_test_env("CSM_TEST_DATA", "tests/data"));
  snprintf(p, sizeof p, "%s/frontal_mesh.mat", g_dir);
  return stat(p, &st) == 0;
}

static void test_roundtrip(void **state) {
  (void)state;
  if (!have_data()) fail_msg("%s: missing (tests/data is in the repository)", g_dir);
  char p[700];
  snprintf(p, sizeof p, "%s/frontal_mesh.mat", g_dir);
  csm_prnet_canon *pc = NULL;
  CSM_ASSERT_OK(csm_prnet_canon_load(p, 20, 256, &pc));
  assert_int_equal(csm_prnet_canon_num_vertices(pc), 2194);
  assert_int_equal(csm_prnet_canon_size(pc), 256);
  assert_true(csm_prnet_canon_num_triangles(pc) > 3000);
  /* The frame: the face inside size x size with the margin. */
  const float *xy = csm_prnet_canon_xy(pc);
  double lo = INFINITY, hi = -INFINITY;
  for (int i = 0; i < 2 * 2194; i++)
    lo = fmin(lo, xy[i]), hi = fmax(hi, xy[i]);
  assert_true(lo >= 256 * CSM_PRNET_MARGIN - 1 && hi <= 256 * (1 - CSM_PRNET_MARGIN) + 1);

  snprintf(p, sizeof p, "%s/meshes/000686_mesh.mat", g_dir);
  float *v;
  int rows, cols;
  CSM_ASSERT_OK(csm_mat_read_matrix(p, "vertices", &v, &rows, &cols));
  csm_corr *c = NULL;
  CSM_ASSERT_OK(csm_prnet_corr(pc, v, rows, 178, 218, &c));
  const unsigned char *vis = csm_corr_canon_visible(c);
  int visible = 0, good = 0;
  double worst = 0;
  for (int j = 0; j < 256; j++)
    for (int i = 0; i < 256; i++) {
      if (!vis[j * 256 + i]) continue;
      visible++;
      double u = i + 0.5, w = j + 0.5, x, y, bu, bv;
      if (!csm_corr_to_image(c, u, w, &x, &y) || !csm_corr_to_canon(c, x, y, &bu, &bv)) continue;
      double e = hypot(bu - u, bv - w);
      if (e <= 0.5) good++;
      worst = fmax(worst, e);
    }
  print_message("000686: %d visible canonical px; canon->image->canon within 0.5 px: %d (%.2f%%)\n",
                visible, good, 100.0 * good / visible);
  assert_true(visible > 10000);
  assert_true(good >= 0.99 * visible);

  /* The warp: grey outside the face, image colours inside. */
  snprintf(p, sizeof p, "%s/images/000686.jpg", g_dir);
  csm_image img, out;
  CSM_ASSERT_OK(csm_image_load(p, &img));
  CSM_ASSERT_OK(csm_prnet_warp(pc, &img, c, NULL, &out));
  assert_int_equal(out.w, 256);
  assert_int_equal(out.h, 256);
  assert_int_equal(out.rgb[0], 128);
  csm_image_free(&out);
  csm_image bad = {10, 10, img.rgb};
  assert_int_equal(csm_prnet_warp(pc, &img, c, &bad, &out), CSM_EUSAGE);

  /* Background: frontal.jpg through the frame's inverse scaling. */
  csm_image frontal, bg;
  snprintf(p, sizeof p, "%s/frontal.jpg", g_dir);
  CSM_ASSERT_OK(csm_image_load(p, &frontal));
  CSM_ASSERT_OK(csm_prnet_canon_background(pc, &frontal, &bg));
  assert_int_equal(bg.w, 256);
  CSM_ASSERT_OK(csm_prnet_warp(pc, &img, c, &bg, &out));
  csm_image_free(&out);
  csm_image_free(&bg);
  csm_image_free(&frontal);
  csm_image_free(&img);
  csm_corr_free(c);

  /* Wrong row count. */
  assert_int_equal(csm_prnet_corr(pc, v, rows - 1, 178, 218, &c), CSM_EINPUT);
  assert_null(c);
  free(v);
  csm_prnet_canon_free(pc);
}

static void test_errors(void **state) {
  (void)state;
  csm_prnet_canon *pc = (csm_prnet_canon *)1;
  assert_int_equal(csm_prnet_canon_load("/nonexistent/frontal_mesh.mat", 20, 256, &pc), CSM_EIO);
  assert_null(pc);
  assert_int_equal(csm_prnet_canon_load("x.mat", 0, 256, &pc), CSM_EUSAGE);
  assert_int_equal(csm_prnet_canon_load("x.mat", 20, 0, &pc), CSM_EUSAGE);
  assert_int_equal(csm_prnet_canon_load(NULL, 20, 256, NULL), CSM_EUSAGE);
  csm_corr *c;
  assert_int_equal(csm_prnet_corr(NULL, NULL, 0, 1, 1, &c), CSM_EUSAGE);
  csm_prnet_canon_free(NULL);
  assert_int_equal(csm_prnet_canon_size(NULL), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_roundtrip),
      cmocka_unit_test(test_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
