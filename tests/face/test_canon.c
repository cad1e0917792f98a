/* The canonical face: the committed data (symmetric, frontal, eyes and mouth
 * covered), the builder on known shapes, Delaunay on random points, bad
 * files, and a real face's round trip through the canonical frame (skipped
 * without the data or the models). */
#include "csm_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static uint32_t g_rng = 88172645u;
static double rnd(double lo, double hi) {
  g_rng ^= g_rng << 13, g_rng ^= g_rng >> 17, g_rng ^= g_rng << 5;
  return lo + (hi - lo) * (g_rng >> 8) / 16777216.0;
}

static csm_canon *load_committed(void) {
  char p[1024];
  snprintf(p, sizeof p, "%s/data/canonical/facemesh_canonical.json",
           csm_test_env("CSM_SOURCE_DIR", "."));
  struct stat st;
  if (stat(p, &st) != 0) return NULL;
  csm_canon *c = NULL;
  CSM_ASSERT_OK(csm_canon_load(p, &c));
  return c;
}

static void test_committed(void **state) {
  (void)state;
  csm_canon *c = load_committed();
  if (!c) skip();
  const int W = csm_canon_width(c);
  assert_int_equal(W, 256);
  assert_int_equal(csm_canon_height(c), 256);
  const float(*v)[3] = (const float(*)[3])csm_canon_vertices(c);
  const int *mir = csm_canon_mirror(c);
  double worst = 0;
  int midline = 0;
  for (int i = 0; i < CSM_MESH_POINTS; i++) {
    int j = mir[i];
    assert_int_equal(mir[j], i);
    midline += i == j;
    worst = fmax(worst, fabs(v[i][0] - (W - v[j][0])));
    worst = fmax(worst, fmax(fabs(v[i][1] - v[j][1]), fabs(v[i][2] - v[j][2])));
  }
  /* FaceMesh's topology: 28 midline points and 220 pairs. */
  print_message("symmetry: worst |p_i - mirror(p_j)| = %.2g px, %d midline points\n", worst,
                midline);
  assert_true(worst < 1e-4);
  assert_int_equal(midline, 28);
  assert_int_equal(mir[33], 263); /* outer eye corners */
  assert_int_equal(mir[61], 291); /* mouth corners */
  float yaw, pitch, roll;
  csm_face_pose(v, &yaw, &pitch, &roll);
  print_message("pose of the canonical face: yaw %.3g pitch %.3g roll %.3g deg\n", yaw, pitch,
                roll);
  assert_true(fabs(yaw) < 1 && fabs(pitch) < 1 && fabs(roll) < 1);
  /* Subject's left eye (263) on the image right, chin below the forehead,
   * nose tip nearest the camera. */
  assert_true(v[263][0] > v[33][0] && v[152][1] > v[10][1]);
  for (int i = 0; i < CSM_MESH_POINTS; i++)
    assert_true(v[1][2] <= v[i][2] + 1e-3 || v[4][2] <= v[i][2] + 1e-3);
  /* Eyes, lips and the mouth between them are covered: eye corners, lids,
   * lip corners and middles, and points between the lips and lids. */
  const unsigned char *m = csm_canon_mask(c);
  static const int pts[] = {33, 133, 362, 263, 159, 145, 386, 374, 61, 291, 0, 17, 13, 14, 1, 199};
  for (size_t k = 0; k < sizeof pts / sizeof pts[0]; k++) {
    int x = (int)v[pts[k]][0], y = (int)v[pts[k]][1];
    if (!m[y * W + x])
      fail_msg("point %d (%g, %g) is outside the mask", pts[k], v[pts[k]][0], v[pts[k]][1]);
  }
  static const int between[][2] = {{13, 14}, {159, 145}, {386, 374}, {33, 133}, {362, 263}};
  for (size_t k = 0; k < sizeof between / sizeof between[0]; k++) {
    const float *a = v[between[k][0]], *b = v[between[k][1]];
    assert_true(m[(int)(0.5 * (a[1] + b[1])) * W + (int)(0.5 * (a[0] + b[0]))]);
  }
  int area = 0;
  for (int k = 0; k < W * W; k++)
    area += m[k];
  print_message("%d triangles cover %d px (%.1f%% of the raster)\n", csm_canon_num_triangles(c),
                area, 100.0 * area / (W * W));
  assert_true(area > W * W / 3 && area < W * W * 9 / 10);
  /* Every point is used by some triangle (nothing of the face left out). */
  unsigned char used[CSM_MESH_POINTS] = {0};
  const int32_t *t = csm_canon_triangles(c);
  for (int k = 0; k < 3 * csm_canon_num_triangles(c); k++)
    used[t[k]] = 1;
  for (int i = 0; i < CSM_MESH_POINTS; i++)
    assert_true(used[i]);
  csm_canon_free(c);
}

/* Rotated, scaled, shifted copies of the canonical shape (with a little
 * noise) must build back into it: the builder undoes similarity transforms
 * and reproduces the frame. */
static void test_build(void **state) {
  (void)state;
  csm_canon *c = load_committed();
  if (!c) skip();
  const float(*v)[3] = (const float(*)[3])csm_canon_vertices(c);
  enum { N = 4 };
  float(*meshes)[CSM_MESH_POINTS][3] = malloc(sizeof *meshes * N);
  for (int m = 0; m < N; m++) {
    double a = rnd(-0.2, 0.2), b = rnd(-0.2, 0.2), g = rnd(-0.3, 0.3), s = rnd(0.5, 3);
    for (int i = 0; i < CSM_MESH_POINTS; i++) {
      double x = v[i][0] - 128, y = v[i][1] - 128, z = v[i][2];
      double y1 = cos(a) * y - sin(a) * z, z1 = sin(a) * y + cos(a) * z;
      double x2 = cos(b) * x + sin(b) * z1, z2 = -sin(b) * x + cos(b) * z1;
      double x3 = cos(g) * x2 - sin(g) * y1, y3 = sin(g) * x2 + cos(g) * y1;
      meshes[m][i][0] = (float)(s * x3 + 400 + rnd(-0.01, 0.01));
      meshes[m][i][1] = (float)(s * y3 + 300);
      meshes[m][i][2] = (float)(s * z2);
    }
  }
  csm_canon *b = NULL;
  CSM_ASSERT_OK(csm_canon_build((const float(*)[CSM_MESH_POINTS][3])meshes, N, 256, 0.08, &b));
  const float(*w)[3] = (const float(*)[3])csm_canon_vertices(b);
  double worst = 0;
  for (int i = 0; i < CSM_MESH_POINTS; i++)
    for (int k = 0; k < 3; k++)
      worst = fmax(worst, fabs(w[i][k] - v[i][k]));
  print_message("rebuilt from %d rotated copies: worst vertex change %.3g px\n", N, worst);
  assert_true(worst < 0.05);
  assert_memory_equal(csm_canon_mirror(b), csm_canon_mirror(c), sizeof(int) * CSM_MESH_POINTS);
  csm_canon_free(b);
  free(meshes);
  assert_int_equal(csm_canon_build(NULL, 0, 256, 0.08, &b), CSM_EUSAGE);
  csm_canon_free(c);
}

static double orient(const double *x, const double *y, int a, int b, int c) {
  return (x[b] - x[a]) * (y[c] - y[a]) - (y[b] - y[a]) * (x[c] - x[a]);
}

static int cmp_pt(const void *pa, const void *pb) {
  const double *a = pa, *b = pb;
  return a[0] != b[0] ? (a[0] < b[0] ? -1 : 1) : (a[1] < b[1] ? -1 : a[1] > b[1]);
}

/* Area of the convex hull (monotone chain). */
static double hull_area(const double *x, const double *y, int n) {
  double(*p)[2] = malloc(sizeof *p * n), (*h)[2] = malloc(sizeof *h * 2 * n);
  for (int i = 0; i < n; i++)
    p[i][0] = x[i], p[i][1] = y[i];
  qsort(p, n, sizeof *p, cmp_pt);
  int k = 0;
#define CROSS(o, a, b) ((a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]))
  for (int i = 0; i < n; i++) {
    while (k >= 2 && CROSS(h[k - 2], h[k - 1], p[i]) <= 0)
      k--;
    h[k][0] = p[i][0], h[k][1] = p[i][1], k++;
  }
  for (int i = n - 2, lo = k + 1; i >= 0; i--) {
    while (k >= lo && CROSS(h[k - 2], h[k - 1], p[i]) <= 0)
      k--;
    h[k][0] = p[i][0], h[k][1] = p[i][1], k++;
  }
  double a = 0;
  for (int i = 0; i + 1 < k; i++)
    a += h[i][0] * h[i + 1][1] - h[i + 1][0] * h[i][1];
  free(p);
  free(h);
  return 0.5 * a;
}

static void test_delaunay(void **state) {
  (void)state;
  enum { N = 400 };
  double x[N], y[N];
  for (int i = 0; i < N; i++)
    x[i] = rnd(0, 100), y[i] = rnd(0, 60);
  int32_t *t = NULL;
  int nt = 0;
  CSM_ASSERT_OK(csm_delaunay(x, y, N, &t, &nt));
  double area = 0;
  int violations = 0;
  for (int k = 0; k < nt; k++) {
    int a = t[3 * k], b = t[3 * k + 1], c = t[3 * k + 2];
    double o = orient(x, y, a, b, c);
    assert_true(o > 0); /* the documented orientation */
    area += 0.5 * o;
    /* Empty circumcircle: the in-circle determinant (relative tolerance). */
    for (int i = 0; i < N; i++) {
      if (i == a || i == b || i == c) continue;
      double ax = x[a] - x[i], ay = y[a] - y[i], bx = x[b] - x[i], by = y[b] - y[i];
      double cx = x[c] - x[i], cy = y[c] - y[i];
      double det = (ax * ax + ay * ay) * (bx * cy - cx * by) -
                   (bx * bx + by * by) * (ax * cy - cx * ay) +
                   (cx * cx + cy * cy) * (ax * by - bx * ay);
      if (det > 1e-9 * 1e6) violations++;
    }
  }
  double hull = hull_area(x, y, N);
  print_message("delaunay: %d triangles over %d random points, area %.6g of hull %.6g, %d "
                "in-circle violations\n",
                nt, N, area, hull, violations);
  assert_int_equal(violations, 0);
  assert_true(fabs(area - hull) < 1e-6 * hull);
  free(t);
  /* Coincident points are refused, not triangulated into slivers. */
  x[5] = x[6], y[5] = y[6];
  assert_int_equal(csm_delaunay(x, y, N, &t, &nt), CSM_EINPUT);
  assert_int_equal(csm_delaunay(x, y, 2, &t, &nt), CSM_EUSAGE);
}

static void write_text(const char *path, const char *text) {
  FILE *fp = fopen(path, "w");
  assert_non_null(fp);
  fputs(text, fp);
  fclose(fp);
}

static void test_bad_files(void **state) {
  (void)state;
  char dir[512], p[1024];
  snprintf(dir, sizeof dir, "%s", csm_test_env("CSM_TEST_TMP", "/tmp"));
  mkdir(dir, 0777);
  csm_canon *c = NULL;
  snprintf(p, sizeof p, "%s/no_such_canonical.json", dir);
  assert_int_equal(csm_canon_load(p, &c), CSM_EIO);
  assert_null(c);
  static const char *bad[] = {
      "{",
      "{\"size\": [256, 128], \"vertices\": [], \"triangles\": [], \"mirror\": []}",
      "{\"size\": [256, 256], \"vertices\": [[1, 2, 3]], \"triangles\": [], \"mirror\": []}",
      "[1, 2]",
  };
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    snprintf(p, sizeof p, "%s/bad_canonical_%zu.json", dir, k);
    write_text(p, bad[k]);
    assert_int_equal(csm_canon_load(p, &c), CSM_EINPUT);
    assert_null(c);
    assert_null(strchr(csm_last_error(), '\n'));
    remove(p);
  }
}

static int in_tri2(double p[3][2], double x, double y) {
  double den =
      (p[1][1] - p[2][1]) * (p[0][0] - p[2][0]) + (p[2][0] - p[1][0]) * (p[0][1] - p[2][1]);
  if (fabs(den) < 1e-12) return 0;
  double w0 = ((p[1][1] - p[2][1]) * (x - p[2][0]) + (p[2][0] - p[1][0]) * (y - p[2][1])) / den;
  double w1 = ((p[2][1] - p[0][1]) * (x - p[2][0]) + (p[0][0] - p[2][0]) * (y - p[2][1])) / den;
  return w0 >= -1e-9 && w1 >= -1e-9 && 1 - w0 - w1 >= -1e-9;
}

/* Does canonical (u, v) lie in a triangle whose winding in the image is
 * flipped (a fold of the mesh that docs/faces.md keeps visible unless it
 * clearly faces away), or image (x, y) in the image of one? */
static int in_fold(const csm_canon *c, const csm_face *face, double u, double v, double x,
                   double y) {
  const float *cv = csm_canon_vertices(c);
  const int32_t *tri = csm_canon_triangles(c);
  for (int k = 0; k < csm_canon_num_triangles(c); k++) {
    double pc[3][2], pi[3][2];
    for (int j = 0; j < 3; j++) {
      int i = tri[3 * k + j];
      pc[j][0] = cv[3 * i], pc[j][1] = cv[3 * i + 1];
      pi[j][0] = face->mesh[i][0], pi[j][1] = face->mesh[i][1];
    }
    double ac = (pc[1][0] - pc[0][0]) * (pc[2][1] - pc[0][1]) -
                (pc[1][1] - pc[0][1]) * (pc[2][0] - pc[0][0]);
    double ai = (pi[1][0] - pi[0][0]) * (pi[2][1] - pi[0][1]) -
                (pi[1][1] - pi[0][1]) * (pi[2][0] - pi[0][0]);
    if ((ac > 0) == (ai > 0)) continue;
    if (in_tri2(pc, u, v) || in_tri2(pi, x, y)) return 1;
  }
  return 0;
}

/* A real face: image -> canonical -> image is exact, and canonical ->
 * image -> canonical is within 0.5 px at visible canonical pixels (the
 * issue's criterion), through the committed canonical face. */
static void test_real_roundtrip(void **state) {
  (void)state;
  char m[1024], img_path[1024];
  csm_canon *c = load_committed();
  if (!c || !csm_test_model_path("facemesh", m, sizeof m) ||
      !csm_test_model_path("blazeface-back", m, sizeof m)) {
    csm_canon_free(c);
    skip();
  }
  snprintf(img_path, sizeof img_path, "%s/sample2.jpg",
           csm_test_env("CSM_SAMPLES_DIR", "data/samples"));
  struct stat st;
  if (stat(img_path, &st) != 0) {
    csm_canon_free(c);
    skip();
  }
  csm_detect_options opt = csm_detect_options_default();
  csm_face_detector *det = NULL;
  CSM_ASSERT_OK(csm_face_detector_create(csm_test_env("CSM_MODELS_DIR", "models"), &opt, &det));
  csm_image img;
  CSM_ASSERT_OK(csm_image_load(img_path, &img));
  csm_face *faces = NULL;
  int nf = 0;
  CSM_ASSERT_OK(csm_face_detect(det, &img, &faces, &nf));
  assert_true(nf >= 1);
  for (int f = 0; f < nf; f++) {
    csm_corr *corr = NULL;
    CSM_ASSERT_OK(csm_canon_corr(c, &faces[f], img.w, img.h, 0, &corr));
    const unsigned char *vis = csm_corr_canon_visible(corr);
    int n_vis = 0, n_ok = 0, n_img = 0, n_fold = 0;
    double worst_img = 0;
    for (int y = 0; y < 256; y++)
      for (int x = 0; x < 256; x++) {
        double ix, iy, u, v;
        if (!vis[y * 256 + x]) continue;
        n_vis++;
        assert_true(csm_corr_to_image(corr, x + 0.5, y + 0.5, &ix, &iy));
        if (csm_corr_to_canon(corr, ix, iy, &u, &v) && hypot(u - x - 0.5, v - y - 0.5) < 0.5)
          n_ok++;
        else if (in_fold(c, &faces[f], x + 0.5, y + 0.5, ix, iy))
          n_fold++; /* two canonical points share this image point by design */
        if (csm_corr_to_canon(corr, ix + 0.25, iy - 0.25, &u, &v)) {
          double bx, by;
          assert_true(csm_corr_to_image(corr, u, v, &bx, &by));
          worst_img = fmax(worst_img, hypot(bx - ix - 0.25, by - iy + 0.25));
          n_img++;
        }
      }
    print_message("%s face %d (yaw %.0f): %d visible canonical px, %.2f%% round trip < 0.5 px "
                  "(%.2f%% in folds); image round trip max %.2g px over %d points\n",
                  img_path, f + 1, faces[f].yaw_deg, n_vis, 100.0 * n_ok / n_vis,
                  100.0 * n_fold / n_vis, worst_img, n_img);
    assert_true(n_vis > 5000);
    assert_true(n_ok >= 0.99 * (n_vis - n_fold));
    assert_true(n_fold <= 0.1 * n_vis);
    assert_true(worst_img < 1e-6);
    csm_corr_free(corr);
    /* The warp is the canonical size and reads the face's pixels. */
    csm_image w;
    CSM_ASSERT_OK(csm_canon_warp(c, &img, &faces[f], 128, NULL, &w));
    assert_int_equal(w.w, 128);
    csm_image_free(&w);
  }
  csm_image r;
  CSM_ASSERT_OK(csm_canon_from_photo(c, &img, &faces[0], 0, &r));
  assert_int_equal(r.w, 256);
  csm_image_free(&r);
  free(faces);
  csm_image_free(&img);
  csm_face_detector_free(det);
  csm_canon_free(c);
}

static void test_render(void **state) {
  (void)state;
  csm_canon *c = load_committed();
  if (!c) skip();
  csm_image r;
  CSM_ASSERT_OK(csm_canon_render(c, 0, &r));
  const unsigned char *m = csm_canon_mask(c);
  /* Face pixels are shaded skin; the rest is the white background. */
  int face_white = 0, bg_white = 0, n_bg = 0;
  for (int k = 0; k < r.w * r.h; k++) {
    int white = r.rgb[3 * k] == 255 && r.rgb[3 * k + 1] == 255 && r.rgb[3 * k + 2] == 255;
    if (m[k])
      face_white += white;
    else
      n_bg++, bg_white += white;
  }
  assert_int_equal(face_white, 0);
  assert_int_equal(bg_white, n_bg);
  csm_image_free(&r);
  csm_canon_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_committed), cmocka_unit_test(test_build),
      cmocka_unit_test(test_delaunay),  cmocka_unit_test(test_bad_files),
      cmocka_unit_test(test_render),    cmocka_unit_test(test_real_roundtrip),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
