/* Reprojection (csm_reproject) checked against answers known independently:
 * a canonical map that is a linear function f(u, v) must come back, at every
 * covered image pixel, as f of that pixel's canonical point (bilinear
 * interpolation reproduces linear functions exactly, so any shift, flip or
 * half-pixel error shows); an image-space function carried into the
 * canonical frame and back must be recovered within interpolation error;
 * invalid taps are left out with the weights renormalized; the rest of the
 * image is NaN. On a synthetic warp mesh, then on real faces (sample2). */
#include "csm_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static double f_lin(double u, double v) { return 3 + u + 2 * v; }

/* A canonical raster n x n of f_lin at pixel centres. */
static float *linear_map(int n) {
  float *m = malloc(sizeof(float) * n * n);
  for (int j = 0; j < n; j++)
    for (int i = 0; i < n; i++)
      m[j * n + i] = (float)f_lin(i + 0.5, j + 0.5);
  return m;
}

/* A 17 x 17 grid over canonical [8, 120] of a 128 raster, warped smoothly
 * into a w x h image. */
static csm_corr *warp_grid(int iw, int ih, double scale) {
  enum { N = 17 };
  float can[N * N * 2], img[N * N * 3];
  int32_t tri[(N - 1) * (N - 1) * 6];
  for (int j = 0; j < N; j++)
    for (int i = 0; i < N; i++) {
      double u = 8 + 7 * i, v = 8 + 7 * j;
      can[(j * N + i) * 2] = (float)u, can[(j * N + i) * 2 + 1] = (float)v;
      img[(j * N + i) * 3] = (float)(scale * (20 + 2.5 * u + 3 * sin(v / 20)));
      img[(j * N + i) * 3 + 1] = (float)(scale * (15 + 2.3 * v + 3 * sin(u / 25)));
      img[(j * N + i) * 3 + 2] = 0;
    }
  int k = 0;
  for (int j = 0; j + 1 < N; j++)
    for (int i = 0; i + 1 < N; i++) {
      int a = j * N + i, b = a + 1, c = a + N, d = c + 1;
      int32_t t[6] = {a, b, d, a, d, c};
      memcpy(tri + 6 * k++, t, sizeof t);
    }
  csm_corr_mesh m = {N * N, img, can, 2 * k, tri, 128, 128, iw, ih};
  csm_corr *c = NULL;
  CSM_ASSERT_OK(csm_corr_create(&m, &c));
  return c;
}

/* Checks out (iw x ih) against f_lin at each pixel's canonical point:
 * finite exactly where csm_corr_to_canon succeeds, and within 1e-3
 * relative there. Returns the pixels compared. */
static long check_linear(const csm_corr *c, const float *out, int iw, int ih) {
  long n = 0;
  double worst = 0;
  for (int y = 0; y < ih; y++)
    for (int x = 0; x < iw; x++) {
      double u, v;
      float o = out[(size_t)y * iw + x];
      if (!csm_corr_to_canon(c, x + 0.5, y + 0.5, &u, &v)) {
        if (!isnan(o)) fail_msg("pixel (%d, %d) is off the face but reads %g", x, y, o);
        continue;
      }
      double want = f_lin(u, v);
      if (!(fabs(o - want) <= 1e-3 * fabs(want)))
        fail_msg("pixel (%d, %d): canonical (%.3f, %.3f), got %.6g, want %.6g", x, y, u, v, o,
                 want);
      worst = fmax(worst, fabs(o - want) / fabs(want));
      n++;
    }
  print_message("  %ld face pixels, worst relative error %.2g\n", n, worst);
  return n;
}

static void test_linear_synthetic(void **state) {
  (void)state;
  const int iw = 400, ih = 380;
  csm_corr *c = warp_grid(iw, ih, 1);
  float *map = linear_map(128), *out = malloc(sizeof(float) * iw * ih);
  CSM_ASSERT_OK(csm_reproject(map, NULL, 128, 128, c, iw, ih, out));
  print_message("synthetic warp, 128 px map on a 400 x 380 image:\n");
  assert_true(check_linear(c, out, iw, ih) > 50000);
  free(map);
  free(out);
  csm_corr_free(c);
}

/* Validity: taps that are invalid, NaN or outside the raster are left out
 * and the weights renormalized; a pixel whose taps are all invalid is NaN. */
static void test_valid_taps(void **state) {
  (void)state;
  const int iw = 400, ih = 380, n = 128;
  csm_corr *c = warp_grid(iw, ih, 1);
  float *map = linear_map(n), *out = malloc(sizeof(float) * iw * ih);
  unsigned char *valid = malloc((size_t)n * n);
  /* Valid: columns < 60; also poison column 30 with NaN in the map. */
  for (int j = 0; j < n; j++)
    for (int i = 0; i < n; i++) {
      valid[j * n + i] = i < 60;
      if (i == 30) map[j * n + i] = NAN;
    }
  CSM_ASSERT_OK(csm_reproject(map, valid, n, n, c, iw, ih, out));
  long exact = 0, nan_right = 0, renorm = 0;
  for (int y = 0; y < ih; y++)
    for (int x = 0; x < iw; x++) {
      double u, v;
      float o = out[(size_t)y * iw + x];
      if (!csm_corr_to_canon(c, x + 0.5, y + 0.5, &u, &v)) {
        assert_true(isnan(o));
        continue;
      }
      int i0 = (int)floor(u - 0.5), j0 = (int)floor(v - 0.5);
      double ax = u - 0.5 - i0, ay = v - 0.5 - j0;
      /* The expected value, by hand over the usable taps. */
      double s = 0, ws = 0;
      for (int dj = 0; dj < 2; dj++)
        for (int di = 0; di < 2; di++) {
          int i = i0 + di, j = j0 + dj;
          double w = (di ? ax : 1 - ax) * (dj ? ay : 1 - ay);
          if (w <= 0 || i < 0 || j < 0 || i >= n || j >= n || i >= 60 || i == 30) continue;
          s += w * f_lin(i + 0.5, j + 0.5), ws += w;
        }
      if (ws <= 1e-12) {
        if (!isnan(o))
          fail_msg("pixel (%d, %d) at u %.3f has no valid tap but reads %g", x, y, u, o);
        nan_right += u > 61;
        continue;
      }
      double want = s / ws;
      if (!(fabs(o - want) <= 1e-4 * fabs(want)))
        fail_msg("pixel (%d, %d) at (%.3f, %.3f): got %.6g, want %.6g", x, y, u, v, o, want);
      if (ws < 0.999)
        renorm++;
      else
        exact++;
    }
  print_message(
      "valid taps: %ld pixels with all taps, %ld renormalized, %ld NaN beyond column 60\n", exact,
      renorm, nan_right);
  assert_true(exact > 10000 && renorm > 500 && nan_right > 10000);
  free(valid);
  free(map);
  free(out);
  csm_corr_free(c);
}

/* A 1000 x 1000 image with the face over most of it: only the face's box
 * is visited (the rest is NaN), in well under a second. */
static void test_large(void **state) {
  (void)state;
  const int iw = 1000, ih = 1000;
  csm_corr *c = warp_grid(iw, ih, 2.4);
  double box[4];
  csm_corr_image_bounds(c, box);
  print_message("face bounds %.0f..%.0f x %.0f..%.0f\n", box[0], box[2], box[1], box[3]);
  assert_true(box[0] >= 0 && box[2] <= iw && box[0] < box[2] && box[1] < box[3]);
  float *map = linear_map(128), *out = malloc(sizeof(float) * iw * ih);
  double t0 = csm_now();
  CSM_ASSERT_OK(csm_reproject(map, NULL, 128, 128, c, iw, ih, out));
  double dt = csm_now() - t0;
  long n = 0;
  for (int y = 0; y < ih; y++)
    for (int x = 0; x < iw; x++) {
      int in = x >= box[0] && x < box[2] && y >= box[1] && y < box[3];
      if (!in) assert_true(isnan(out[(size_t)y * iw + x]));
      n += !isnan(out[(size_t)y * iw + x]);
    }
  print_message("1000 x 1000: %ld face pixels reprojected in %.1f ms\n", n, 1e3 * dt);
  assert_true(n > 400000);
  assert_true(dt < 2.0);
  /* Spot-check values. */
  assert_true(check_linear(c, out, iw, ih) == n);
  free(map);
  free(out);
  csm_corr_free(c);
}

static void test_bad_args(void **state) {
  (void)state;
  csm_corr *c = warp_grid(100, 100, 0.3);
  float map[16] = {0}, out[100 * 100];
  assert_int_equal(csm_reproject(NULL, NULL, 4, 4, c, 100, 100, out), CSM_EUSAGE);
  assert_int_equal(csm_reproject(map, NULL, 4, 4, NULL, 100, 100, out), CSM_EUSAGE);
  assert_int_equal(csm_reproject(map, NULL, 4, 4, c, 100, 100, NULL), CSM_EUSAGE);
  assert_int_equal(csm_reproject(map, NULL, 0, 4, c, 100, 100, out), CSM_EUSAGE);
  assert_int_equal(csm_reproject(map, NULL, 4, 4, c, 0, 100, out), CSM_EUSAGE);
  csm_corr_free(c);
  double box[4] = {1, 2, 3, 4};
  csm_corr_image_bounds(NULL, box);
  assert_true(box[0] == 0 && box[1] == 0 && box[2] == 0 && box[3] == 0);
}

/* ---- Real faces -------------------------------------------------------- */

typedef struct real_faces {
  csm_canon *canon;
  csm_image img;
  csm_face *faces;
  int n;
} real_faces;

static int load_real(real_faces *r) {
  char p[1024], m[1024];
  memset(r, 0, sizeof *r);
  snprintf(p, sizeof p, "%s/data/canonical/facemesh_canonical.json",
           csm_test_env("CSM_SOURCE_DIR", "."));
  struct stat st;
  if (stat(p, &st) != 0 || !csm_test_model_path("facemesh", m, sizeof m) ||
      !csm_test_model_path("blazeface-back", m, sizeof m))
    return 0;
  CSM_ASSERT_OK(csm_canon_load(p, &r->canon));
  csm_detect_options opt = csm_detect_options_default();
  csm_face_detector *det = NULL;
  CSM_ASSERT_OK(csm_face_detector_create(csm_test_env("CSM_MODELS_DIR", "models"), &opt, &det));
  snprintf(p, sizeof p, "%s/sample2.jpg", csm_test_env("CSM_SAMPLES_DIR", "data/samples"));
  CSM_ASSERT_OK(csm_image_load(p, &r->img));
  CSM_ASSERT_OK(csm_face_detect(det, &r->img, &r->faces, &r->n));
  csm_face_detector_free(det);
  assert_true(r->n >= 3);
  return 1;
}

static void free_real(real_faces *r) {
  free(r->faces);
  csm_image_free(&r->img);
  csm_canon_free(r->canon);
}

/* The linear map on real faces, at two canonical sizes. */
static void test_linear_real(void **state) {
  (void)state;
  real_faces r;
  if (!load_real(&r)) skip();
  const int iw = r.img.w, ih = r.img.h;
  float *out = malloc(sizeof(float) * iw * ih);
  static const int sizes[] = {256, 100};
  for (int s = 0; s < 2; s++) {
    int n = sizes[s];
    float *map = linear_map(n);
    for (int k = 0; k < r.n; k++) {
      csm_corr *c = NULL;
      CSM_ASSERT_OK(csm_canon_corr(r.canon, &r.faces[k], iw, ih, n, &c));
      CSM_ASSERT_OK(csm_reproject(map, NULL, n, n, c, iw, ih, out));
      print_message("sample2 face %d (yaw %.0f), %d px map:\n", k + 1, r.faces[k].yaw_deg, n);
      assert_true(check_linear(c, out, iw, ih) > 10000);
      csm_corr_free(c);
    }
    free(map);
  }
  free(out);
  free_real(&r);
}

static double g_img(double x, double y) {
  return 100 + 20 * sin(x / 40) + 20 * cos(y / 30) + 0.05 * x;
}
/* |grad g| <= sqrt(0.55^2 + 0.67^2) */
#define G_SLOPE 0.87

/* The largest image distance from (x, y) to the image points of the four
 * canonical pixel centres around (u, v) that are visible. */
static double tap_spread(const csm_corr *c, double u, double v, double x, double y) {
  double i0 = floor(u - 0.5), j0 = floor(v - 0.5), d = 0;
  for (int k = 0; k < 4; k++) {
    double tx, ty;
    if (csm_corr_to_image(c, i0 + (k & 1) + 0.5, j0 + (k >> 1) + 0.5, &tx, &ty))
      d = fmax(d, hypot(tx - x, ty - y));
  }
  return d;
}

/* The other way: g(x, y) in the image, carried into the canonical frame
 * through csm_corr_to_image at the visible canonical pixel centres (the rest
 * invalid), then reprojected: g comes back within interpolation error:
 * within 0.25 on >= 97 % of the face's pixels, and on >= 99.5 % within
 * 0.25 + |grad g| x the largest image distance from the pixel to its four
 * canonical taps (where the canonical grid is coarse in the image: a
 * strongly turned face's near side, folds). */
static void test_image_roundtrip(void **state) {
  (void)state;
  real_faces r;
  if (!load_real(&r)) skip();
  const int iw = r.img.w, ih = r.img.h, n = 256;
  float *out = malloc(sizeof(float) * iw * ih), *map = malloc(sizeof(float) * n * n);
  unsigned char *valid = malloc((size_t)n * n);
  for (int k = 0; k < r.n; k++) {
    csm_corr *c = NULL;
    CSM_ASSERT_OK(csm_canon_corr(r.canon, &r.faces[k], iw, ih, n, &c));
    for (int j = 0; j < n; j++)
      for (int i = 0; i < n; i++) {
        double x, y;
        valid[j * n + i] = (unsigned char)csm_corr_to_image(c, i + 0.5, j + 0.5, &x, &y);
        map[j * n + i] = valid[j * n + i] ? (float)g_img(x, y) : NAN;
      }
    CSM_ASSERT_OK(csm_reproject(map, valid, n, n, c, iw, ih, out));
    long face = 0, good = 0, good_fixed = 0, finite = 0;
    double worst = 0;
    for (int y = 0; y < ih; y++)
      for (int x = 0; x < iw; x++) {
        double u, v;
        if (!csm_corr_to_canon(c, x + 0.5, y + 0.5, &u, &v)) continue;
        face++;
        float o = out[(size_t)y * iw + x];
        if (isnan(o)) continue;
        finite++;
        double e = fabs(o - g_img(x + 0.5, y + 0.5));
        /* Bilinear interpolation on the canonical grid: its error grows
         * with how far apart the four taps land in the image (where the
         * face is stretched, or across a fold). */
        good += e <= 0.25 + G_SLOPE * tap_spread(c, u, v, x + 0.5, y + 0.5);
        good_fixed += e <= 0.25;
        worst = fmax(worst, e);
      }
    print_message("sample2 face %d (yaw %.0f): %ld face pixels, %ld finite; %.2f%% within 0.25, "
                  "%.2f%% within 0.25 + |grad g| x tap spread (worst %.3g)\n",
                  k + 1, r.faces[k].yaw_deg, face, finite, 100.0 * good_fixed / face,
                  100.0 * good / face, worst);
    assert_true(face > 10000);
    assert_true(good >= 0.995 * face);
    assert_true(good_fixed >= 0.97 * face);
    csm_corr_free(c);
  }
  free(valid);
  free(map);
  free(out);
  free_real(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_linear_synthetic),
      cmocka_unit_test(test_valid_taps),
      cmocka_unit_test(test_large),
      cmocka_unit_test(test_bad_args),
      cmocka_unit_test(test_linear_real),
      cmocka_unit_test(test_image_roundtrip),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
