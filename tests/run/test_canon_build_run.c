/* csm_canon_build_run (include/csm/run.h) on the labelled face crops of
 * tests/data/faceapi: the canonical face it writes loads back, is
 * left-right symmetric about the frame's middle (each point and its mirror
 * partner), lies inside the margin, records one source per face used, and
 * has the shape of the installed canonical face (built from other photos:
 * the 2D points agree after removing scale and offset). Photos without a
 * face fail naming the fault, with no folder made. */
#include "csm_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char out_dir[700], photos[8][700];

/* RMS distance of the two point sets' x, y after each is centred and
 * scaled to unit RMS radius. */
static double shape_distance(const float *a, const float *b, int n) {
  double ca[2] = {0, 0}, cb[2] = {0, 0};
  for (int i = 0; i < n; i++)
    for (int d = 0; d < 2; d++)
      ca[d] += a[3 * i + d] / n, cb[d] += b[3 * i + d] / n;
  double ra = 0, rb = 0;
  for (int i = 0; i < n; i++)
    for (int d = 0; d < 2; d++)
      ra += pow(a[3 * i + d] - ca[d], 2), rb += pow(b[3 * i + d] - cb[d], 2);
  ra = sqrt(ra / n), rb = sqrt(rb / n);
  double s = 0;
  for (int i = 0; i < n; i++)
    for (int d = 0; d < 2; d++)
      s += pow((a[3 * i + d] - ca[d]) / ra - (b[3 * i + d] - cb[d]) / rb, 2);
  return sqrt(s / n);
}

static void test_build(void **state) {
  (void)state;
  csm_canon_build_options o;
  csm_canon_build_options_init(&o);
  o.out_dir = out_dir;
  o.min_face = 40; /* the crops are ~150 px */
  const char *p[8];
  for (int k = 0; k < 8; k++)
    p[k] = photos[k];
  int faces = 0, triangles = 0;
  CSM_ASSERT_OK(csm_canon_build_run(&o, p, 8, &faces, &triangles));
  assert_true(faces >= 4 && faces <= 8);
  char path[800];
  snprintf(path, sizeof path, "%s/facemesh_canonical.json", out_dir);
  csm_canon *c, *ref;
  CSM_ASSERT_OK(csm_canon_load(path, &c));
  assert_int_equal(csm_canon_num_triangles(c), triangles);
  assert_true(triangles > 800);
  int w = csm_canon_width(c), h = csm_canon_height(c);
  assert_int_equal(w, 256);
  const float *v = csm_canon_vertices(c);
  const int *mirror = csm_canon_mirror(c);
  for (int i = 0; i < CSM_MESH_POINTS; i++) {
    const float *a = v + 3 * i, *b = v + 3 * mirror[i];
    assert_int_equal(mirror[mirror[i]], i);
    if (fabsf(a[0] + b[0] - (float)w) > 1e-2f * w || fabsf(a[1] - b[1]) > 1e-2f * h)
      fail_msg("point %d (%g, %g) and its mirror %d (%g, %g) are not symmetric", i, a[0], a[1],
               mirror[i], b[0], b[1]);
    if (a[0] < o.margin * w - 1 || a[0] > (1 - o.margin) * w + 1 || a[1] < -1 || a[1] > h + 1)
      fail_msg("point %d (%g, %g) outside the %g margin", i, a[0], a[1], o.margin);
  }
  /* One source per face used. */
  char *text;
  size_t len;
  CSM_ASSERT_OK(csm_read_file(path, 1 << 24, &text, &len));
  int sources = 0;
  for (const char *s = text; (s = strstr(s, "(yaw ")); s++)
    sources++;
  assert_int_equal(sources, faces);
  free(text);
  snprintf(path, sizeof path, "%s/canonical_face.png", out_dir);
  csm_image img;
  CSM_ASSERT_OK(csm_image_load(path, &img));
  assert_int_equal(img.w, 256);
  csm_image_free(&img);
  /* The shape of a mean face: close to the installed one. */
  CSM_ASSERT_OK(csm_canon_default(&ref));
  double d = shape_distance(v, csm_canon_vertices(ref), CSM_MESH_POINTS);
  printf("%d faces, %d triangles; shape distance to the installed canonical face %.4f\n", faces,
         triangles, d);
  assert_true(d < 0.1);
  csm_canon_free(ref);
  csm_canon_free(c);
}

static void test_no_face(void **state) {
  (void)state;
  char grey[800], dir[800];
  snprintf(grey, sizeof grey, "%s/grey.png", csm_test_env("CSM_TEST_TMP", "/tmp"));
  snprintf(dir, sizeof dir, "%s/canon_build_none", csm_test_env("CSM_TEST_TMP", "/tmp"));
  unsigned char *px = malloc(64 * 64 * 3);
  memset(px, 128, 64 * 64 * 3);
  csm_image img = {64, 64, px};
  CSM_ASSERT_OK(csm_image_write_png(grey, &img));
  free(px);
  rmdir(dir);
  csm_canon_build_options o;
  csm_canon_build_options_init(&o);
  o.out_dir = dir;
  const char *p[1] = {grey};
  int faces = -1, triangles = -1;
  assert_int_equal(csm_canon_build_run(&o, p, 1, &faces, &triangles), CSM_EINPUT);
  assert_non_null(strstr(csm_last_error(), "no frontal face"));
  assert_int_equal(faces, 0);
  assert_int_not_equal(access(dir, F_OK), 0);
}

int main(void) {
  const char *data = csm_test_env("CSM_TEST_DATA", "tests/data");
  const char *who[8] = {"amy",     "bernadette", "penny",   "howard",
                        "leonard", "raj",        "sheldon", "stuart"};
  for (int k = 0; k < 8; k++)
    snprintf(photos[k], sizeof photos[k], "%s/faceapi/%s/%s1.png", data, who[k], who[k]);
  if (access(photos[0], R_OK) != 0) {
    fprintf(stderr, "%s: missing (tests/data)\n", photos[0]);
    return 1;
  }
  snprintf(out_dir, sizeof out_dir, "%s/canon_build_run", csm_test_env("CSM_TEST_TMP", "/tmp"));
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_build), cmocka_unit_test(test_no_face)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
