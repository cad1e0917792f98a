/* Map similarity: Spearman on hand-ranked cases and SSIM against a naive
 * reference written here from the formula (Wang et al. 2004) as one direct
 * loop per pixel over its 2-D window, independent of the library's
 * separable filtering. */
#include "csm_test.h"

#include <math.h>
#include <stdlib.h>

static void test_spearman_monotone_and_reversal(void **state) {
  (void)state;
  float a[6] = {0.3f, -2.0f, 5.0f, 1.0f, 0.9f, 4.0f}, b[6], r[6];
  for (int i = 0; i < 6; i++) {
    b[i] = expf(a[i]) * 3.0f + 1.0f; /* strictly increasing transform */
    r[i] = -a[i] * a[i] * a[i];      /* strictly decreasing */
  }
  assert_float_equal(csm_eval_spearman(a, b, 6), 1.0, 1e-12);
  assert_float_equal(csm_eval_spearman(a, r, 6), -1.0, 1e-12);
  assert_float_equal(csm_eval_spearman(a, a, 6), 1.0, 1e-12);
}

static void test_spearman_ties(void **state) {
  (void)state;
  /* a = 1, 2, 2, 3 -> ranks 1, 2.5, 2.5, 4; b = 1, 3, 2, 4 -> ranks 1, 3, 2,
   * 4; mean 2.5: da = -1.5, 0, 0, 1.5; db = -1.5, .5, -.5, 1.5;
   * sum da db = 4.5, sum da^2 = 4.5, sum db^2 = 5 -> rho = 4.5 / sqrt(22.5)
   * = sqrt(0.9). */
  const float a[4] = {1, 2, 2, 3}, b[4] = {1, 3, 2, 4};
  assert_float_equal(csm_eval_spearman(a, b, 4), sqrt(0.9), 1e-12);
  assert_float_equal(csm_eval_spearman(b, a, 4), sqrt(0.9), 1e-12);
  /* a = 1, 1, 2, 2 -> 1.5, 1.5, 3.5, 3.5; b = 5, 7, 5, 7 -> 1.5, 3.5, 1.5,
   * 3.5: the deviations are orthogonal, rho = 0. */
  const float c[4] = {1, 1, 2, 2}, d[4] = {5, 7, 5, 7};
  assert_float_equal(csm_eval_spearman(c, d, 4), 0.0, 1e-12);
  /* a = 3, 1, 1, 1, 2 -> ranks 5, 2, 2, 2, 4; b = 10, 20, 30, 40, 50 ->
   * 1..5. Mean 3: da = 2, -1, -1, -1, 1; db = -2, -1, 0, 1, 2. sum da db =
   * -4 + 1 + 0 - 1 + 2 = -2; sum da^2 = 8; sum db^2 = 10 -> -2 / sqrt(80). */
  const float e[5] = {3, 1, 1, 1, 2}, f[5] = {10, 20, 30, 40, 50};
  assert_float_equal(csm_eval_spearman(e, f, 5), -2.0 / sqrt(80.0), 1e-12);
}

static void test_spearman_constant(void **state) {
  (void)state;
  const float a[5] = {1, 2, 3, 4, 5}, k[5] = {7, 7, 7, 7, 7};
  assert_float_equal(csm_eval_spearman(a, k, 5), 0.0, 0);
  assert_float_equal(csm_eval_spearman(k, a, 5), 0.0, 0);
  assert_float_equal(csm_eval_spearman(k, k, 5), 0.0, 0);
  assert_float_equal(csm_eval_spearman(a, a, 1), 0.0, 0);
}

/* ---- SSIM reference ---- */

static void ref_minmax(const float *x, int n, double *out) {
  double lo = x[0], hi = x[0];
  for (int i = 1; i < n; i++) {
    lo = x[i] < lo ? x[i] : lo;
    hi = x[i] > hi ? x[i] : hi;
  }
  for (int i = 0; i < n; i++)
    out[i] = hi > lo ? (x[i] - lo) / (hi - lo) : 0.0;
}

/* For each pixel: the 11 x 11 Gaussian (sigma 1.5) weights of the window
 * pixels inside the map, normalized to sum 1; weighted means, variances and
 * covariance; SSIM; then the mean over pixels. */
static double ref_ssim(const float *a, const float *b, int w, int h) {
  double *x = malloc(sizeof(double) * w * h), *y = malloc(sizeof(double) * w * h);
  ref_minmax(a, w * h, x);
  ref_minmax(b, w * h, y);
  const double c1 = 1e-4, c2 = 9e-4;
  double total = 0;
  for (int i = 0; i < h; i++)
    for (int j = 0; j < w; j++) {
      double ws = 0, mx = 0, my = 0, sxx = 0, syy = 0, sxy = 0;
      for (int di = -5; di <= 5; di++)
        for (int dj = -5; dj <= 5; dj++) {
          int ii = i + di, jj = j + dj;
          if (ii < 0 || ii >= h || jj < 0 || jj >= w) continue;
          double g = exp(-(di * di + dj * dj) / 4.5);
          double u = x[ii * w + jj], v = y[ii * w + jj];
          ws += g;
          mx += g * u;
          my += g * v;
          sxx += g * u * u;
          syy += g * v * v;
          sxy += g * u * v;
        }
      mx /= ws, my /= ws, sxx /= ws, syy /= ws, sxy /= ws;
      double vx = sxx - mx * mx, vy = syy - my * my, cxy = sxy - mx * my;
      total += (2 * mx * my + c1) * (2 * cxy + c2) / ((mx * mx + my * my + c1) * (vx + vy + c2));
    }
  free(x);
  free(y);
  return total / (w * h);
}

static void test_ssim_identical(void **state) {
  (void)state;
  float a[13 * 9];
  csm_test_fill_uniform(a, 13 * 9, 7, -1.0f, 3.0f);
  assert_float_equal(csm_eval_ssim(a, a, 13, 9), 1.0, 1e-12);
  /* Two constant maps normalize to 0 both: (c1 c2) / (c1 c2) = 1. */
  float k1[6] = {2, 2, 2, 2, 2, 2}, k2[6] = {-5, -5, -5, -5, -5, -5};
  assert_float_equal(csm_eval_ssim(k1, k2, 3, 2), 1.0, 1e-12);
}

static void test_ssim_minmax_invariance(void **state) {
  (void)state;
  enum { W = 17, H = 12 };
  float a[W * H], b[W * H], a2[W * H], b2[W * H];
  csm_test_fill_uniform(a, W * H, 11, 0.0f, 1.0f);
  csm_test_fill_uniform(b, W * H, 12, 0.0f, 1.0f);
  for (int i = 0; i < W * H; i++) {
    a2[i] = a[i] * 4.0f - 7.0f;
    b2[i] = b[i] * 0.25f + 100.0f;
  }
  double s = csm_eval_ssim(a, b, W, H);
  assert_true(s < 0.5); /* unrelated maps */
  assert_float_equal(csm_eval_ssim(a2, b2, W, H), s, 1e-4);
  assert_float_equal(csm_eval_ssim(b, a, W, H), s, 1e-12); /* symmetric */
}

static void test_ssim_against_reference(void **state) {
  (void)state;
  /* Shapes smaller and larger than the window, w != h. */
  const int sizes[4][2] = {{13, 9}, {24, 31}, {5, 3}, {1, 12}};
  for (int t = 0; t < 4; t++) {
    const int w = sizes[t][0], h = sizes[t][1];
    float *a = malloc(sizeof(float) * w * h), *b = malloc(sizeof(float) * w * h);
    csm_test_fill_uniform(a, (size_t)w * h, 100 + t, 0.0f, 1.0f);
    csm_test_fill_uniform(b, (size_t)w * h, 200 + t, -2.0f, 2.0f);
    /* b correlated with a, so the values are not all near 0. */
    for (int i = 0; i < w * h; i++)
      b[i] = 0.7f * a[i] + 0.1f * b[i];
    double want = ref_ssim(a, b, w, h), got = csm_eval_ssim(a, b, w, h);
    assert_float_equal(got, want, 1e-9);
    assert_true(want > 0.2 && want < 1.0);
    free(a);
    free(b);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_spearman_monotone_and_reversal),
      cmocka_unit_test(test_spearman_ties),
      cmocka_unit_test(test_spearman_constant),
      cmocka_unit_test(test_ssim_identical),
      cmocka_unit_test(test_ssim_minmax_invariance),
      cmocka_unit_test(test_ssim_against_reference),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
