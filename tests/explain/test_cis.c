/* CIS and CMS checked against cases whose answer is known independently:
 * density normalization on a hand-computed case, and a synthetic model
 * whose confidence depends only on the subject's left eye (mean brightness
 * of the input pixels inside the eye contour, found in the test by its own
 * point-in-polygon test on the image-space mesh). Its CIS and CMS must be
 * positive at the canonical left eye and exactly 0 beyond the reach of the
 * patches that can touch it: that checks the alignment, the occlusion in
 * the input, the projection onto the canonical face and the normalization
 * together (a mirrored or shifted correspondence lights up elsewhere). */
#include "csm_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Density normalization by hand ------------------------------------- */

static void test_density_hand(void **state) {
  (void)state;
  /* A 6 x 6 raster, footprint 3: a centre in pixel (x, y) covers x-1..x+1,
   * y-1..y+1. A at pixel (2, 2) drops 3; B at (3, 2) drops 6; C was not
   * evaluated (NAN) and counts nowhere. Pixel (3, 2) is invalid. */
  float centres[6] = {2.5f, 2.5f, 3.2f, 2.9f, 1.5f, 1.5f};
  float drop[3] = {3, 6, NAN};
  csm_occlusion o;
  memset(&o, 0, sizeof o);
  o.n_centres = 3, o.centres = centres, o.drop = drop;
  unsigned char valid[36];
  memset(valid, 1, sizeof valid);
  valid[2 * 6 + 3] = 0;
  csm_map m;
  CSM_ASSERT_OK(csm_cis_compute(&o, 3, valid, 6, 6, &m));
  /* Rows 1..3: column 1 only A (3), columns 2-3 A and B ((3 + 6) / 2),
   * column 4 only B (6); the invalid pixel and the rest 0. */
  static const float want[36] = {0, 0, 0,   0,   0, 0, /* row 0 */
                                 0, 3, 4.5, 4.5, 6, 0, /* row 1 */
                                 0, 3, 4.5, 0,   6, 0, /* row 2: (3, 2) invalid */
                                 0, 3, 4.5, 4.5, 6, 0, /* row 3 */
                                 0, 0, 0,   0,   0, 0, /* row 4 */
                                 0, 0, 0,   0,   0, 0};
  static const float want_n[36] = {0, 0, 0, 0, 0, 0, 0, 1, 2, 2, 1, 0, 0, 1, 2, 0, 1, 0,
                                   0, 1, 2, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  for (int p = 0; p < 36; p++) {
    assert_float_equal(m.value[p], want[p], 1e-6);
    assert_float_equal(m.count[p], want_n[p], 0);
  }
  csm_map_free(&m);
  /* Without a mask the invalid pixel is A and B's mean too. */
  CSM_ASSERT_OK(csm_cis_compute(&o, 3, NULL, 6, 6, &m));
  assert_float_equal(m.value[2 * 6 + 3], 4.5, 1e-6);
  csm_map_free(&m);
  /* An even footprint covers footprint pixels: 4 -> x-2..x+1. */
  float one_c[2] = {3.5f, 3.5f}, one_d[1] = {1};
  o.n_centres = 1, o.centres = one_c, o.drop = one_d;
  CSM_ASSERT_OK(csm_cis_compute(&o, 4, NULL, 6, 6, &m));
  int covered = 0;
  for (int y = 0; y < 6; y++)
    for (int x = 0; x < 6; x++) {
      int in = x >= 1 && x <= 4 && y >= 1 && y <= 4;
      assert_float_equal(m.count[y * 6 + x], in, 0);
      covered += in;
    }
  assert_int_equal(covered, 16);
  csm_map_free(&m);
  assert_int_not_equal(csm_cis_compute(&o, 0.5, NULL, 6, 6, &m), CSM_OK);
}

/* The reference code's rule (CSM_SQUARE_REFERENCE), hand-computed on a
 * 619-pixel frame with its footprint 15 * 619 / 224 = 41.45:
 * x1 = max(0, floor(c - 20.72)), x2 = min(floor(x1 + 41.45), 619). */
static void test_reference_squares(void **state) {
  (void)state;
  const int n = 619;
  const double s = 15.0 * 619 / 224;
  /* A: (300.5, 100.25) -> columns 279..319, rows 79..119 (41 each).
   * B: (5, 610) -> x1 = max(0, -15) = 0: shifted inside, columns 0..40;
   *    y1 = 589, rows 589..618 (cut at the edge: 30). */
  float centres[4] = {300.5f, 100.25f, 5.0f, 610.0f};
  float drop[2] = {2, -1};
  csm_occlusion o;
  memset(&o, 0, sizeof o);
  o.n_centres = 2, o.centres = centres, o.drop = drop, o.square = CSM_SQUARE_REFERENCE;
  csm_map m;
  CSM_ASSERT_OK(csm_cis_compute(&o, s, NULL, n, n, &m));
  int covered = 0;
  for (int y = 0; y < n; y++)
    for (int x = 0; x < n; x++) {
      int a = x >= 279 && x <= 319 && y >= 79 && y <= 119;
      int b = x >= 0 && x <= 40 && y >= 589 && y <= 618;
      float want = a ? 2.0f : b ? -1.0f : 0.0f;
      if (m.value[y * n + x] != want || m.count[y * n + x] != (float)(a + b))
        fail_msg("pixel (%d, %d): %g (count %g), want %g", x, y, m.value[y * n + x],
                 m.count[y * n + x], want);
      covered += a + b;
    }
  assert_int_equal(covered, 41 * 41 + 41 * 30);
  csm_map_free(&m);
}

static void test_grid_centres(void **state) {
  (void)state;
  unsigned char mask[8 * 8];
  memset(mask, 0, sizeof mask);
  for (int y = 2; y < 8; y++)
    for (int x = 0; x < 8; x++)
      mask[y * 8 + x] = 1;
  float *uv = NULL;
  int n = 0;
  /* Stride 4: points at 2 and 6 on each axis; row 2 and 6 are in the mask. */
  CSM_ASSERT_OK(csm_centres_grid(mask, 8, 8, 4, &uv, &n));
  assert_int_equal(n, 4);
  assert_float_equal(uv[0], 2.5, 0);
  assert_float_equal(uv[1], 2.5, 0);
  assert_float_equal(uv[6], 6.5, 0);
  assert_float_equal(uv[7], 6.5, 0);
  free(uv);
  memset(mask, 0, sizeof mask);
  assert_int_equal(csm_centres_grid(mask, 8, 8, 4, &uv, &n), CSM_EINPUT);
  assert_int_equal(csm_centres_grid(mask, 8, 8, 0, &uv, &n), CSM_EUSAGE);
}

/* ---- The left-eye model -------------------------------------------------- */

/* MediaPipe FaceMesh's left-eye contour (the subject's left). */
static const int left_eye[16] = {263, 249, 390, 373, 374, 380, 381, 382,
                                 362, 398, 384, 385, 386, 387, 388, 466};

static int in_polygon(const double (*p)[2], int n, double x, double y) {
  int in = 0;
  for (int i = 0, j = n - 1; i < n; j = i++)
    if ((p[i][1] > y) != (p[j][1] > y) &&
        x < (p[j][0] - p[i][0]) * (y - p[i][1]) / (p[j][1] - p[i][1]) + p[i][0])
      in = !in;
  return in;
}

typedef struct eye_model {
  int size, channels;
  unsigned char *region; /* size x size input pixels inside the eye */
  int n_region;
} eye_model;

static csm_status eye_score(void *ctx, const float *inputs, int n, float *conf) {
  eye_model *m = ctx;
  size_t numel = (size_t)m->size * m->size * m->channels;
  for (int s = 0; s < n; s++) {
    const float *x = inputs + numel * s;
    double sum = 0;
    for (int p = 0; p < m->size * m->size; p++)
      if (m->region[p])
        for (int c = 0; c < m->channels; c++)
          sum += x[(size_t)p * m->channels + c];
    conf[s] = (float)(sum / (m->n_region * m->channels * 255.0));
  }
  return CSM_OK;
}

/* Chebyshev distance (pixels) from each canonical pixel to the canonical
 * left-eye polygon (0 inside). */
static void eye_distance(const csm_canon *canon, int size, float *dist) {
  const float *v = csm_canon_vertices(canon);
  double k = (double)size / csm_canon_width(canon), poly[16][2];
  for (int i = 0; i < 16; i++)
    poly[i][0] = v[3 * left_eye[i]] * k, poly[i][1] = v[3 * left_eye[i] + 1] * k;
  unsigned char *in = calloc((size_t)size * size, 1);
  for (int y = 0; y < size; y++)
    for (int x = 0; x < size; x++)
      in[y * size + x] = (unsigned char)in_polygon((const double(*)[2])poly, 16, x + 0.5, y + 0.5);
  for (int y = 0; y < size; y++)
    for (int x = 0; x < size; x++) {
      float best = 1e9f;
      for (int yy = 0; yy < size; yy++)
        for (int xx = 0; xx < size; xx++)
          if (in[yy * size + xx]) {
            float d = (float)(abs(xx - x) > abs(yy - y) ? abs(xx - x) : abs(yy - y));
            if (d < best) best = d;
          }
      dist[y * size + x] = best;
    }
  free(in);
}

/* The CIS of the eye model on every face of one sample photo, added to cms. */
static int eye_maps(const char *photo, const csm_canon *canon, csm_face_detector *det,
                    const float *dist, csm_cms *cms) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", csm_test_env("CSM_SAMPLES_DIR", "data/samples"), photo);
  csm_image img;
  CSM_ASSERT_OK(csm_image_load(path, &img));
  csm_face *faces = NULL;
  int n = 0;
  CSM_ASSERT_OK(csm_face_detect(det, &img, &faces, &n));
  assert_true(n > 0);
  /* The gender task's crop at a smaller input, for speed. */
  csm_task_info info = *csm_task_find("gender");
  info.size = 112;
  const int size = 128; /* canonical raster */
  float *centres = NULL;
  int n_centres = 0;
  CSM_ASSERT_OK(csm_centres_mesh(canon, size, &centres, &n_centres));
  int used = 0;
  for (int f = 0; f < n; f++) {
    if (!faces[f].has_mesh || fabsf(faces[f].yaw_deg) > 25) continue;
    double m[6], inv[6];
    CSM_ASSERT_OK(csm_task_crop_matrix_image(&info, &faces[f], img.w, img.h, m));
    double det_m = m[0] * m[4] - m[1] * m[3];
    inv[0] = m[4] / det_m, inv[1] = -m[1] / det_m, inv[3] = -m[3] / det_m, inv[4] = m[0] / det_m;
    inv[2] = -(inv[0] * m[2] + inv[1] * m[5]), inv[5] = -(inv[3] * m[2] + inv[4] * m[5]);
    /* The eye in input pixels, from the image-space mesh. */
    double poly[16][2];
    for (int i = 0; i < 16; i++) {
      double x = faces[f].mesh[left_eye[i]][0], y = faces[f].mesh[left_eye[i]][1];
      poly[i][0] = inv[0] * x + inv[1] * y + inv[2];
      poly[i][1] = inv[3] * x + inv[4] * y + inv[5];
    }
    eye_model em = {info.size, 3, calloc((size_t)info.size * info.size, 1), 0};
    for (int y = 0; y < info.size; y++)
      for (int x = 0; x < info.size; x++)
        if (in_polygon((const double(*)[2])poly, 16, x + 0.5, y + 0.5))
          em.region[y * info.size + x] = 1, em.n_region++;
    assert_true(em.n_region > 10);
    float *input = malloc(sizeof(float) * csm_task_input_numel(&info));
    CSM_ASSERT_OK(csm_task_preprocess_matrix(&info, &img, m, input));
    csm_corr *corr = NULL;
    CSM_ASSERT_OK(csm_canon_corr(canon, &faces[f], img.w, img.h, size, &corr));
    csm_scorer sc = {.views = 1,
                     .size = info.size,
                     .channels = 3,
                     .score = eye_score,
                     .ctx = &em,
                     .what = "eye brightness"};
    csm_view view = {input, {m[0], m[1], m[2], m[3], m[4], m[5]}, corr, NULL};
    csm_occlusion_options opt = csm_occlusion_options_default();
    opt.patch = 10, opt.footprint = 10; /* canonical pixels at 128 */
    csm_occlusion occ;
    CSM_ASSERT_OK(csm_occlusion_run(&sc, &view, centres, n_centres, size, size, &opt, &occ));
    assert_true(occ.n_evaluated > n_centres / 2);
    unsigned char *valid = malloc((size_t)size * size);
    csm_cis_valid(NULL, &view, 1, size, size, valid);
    csm_map cis;
    CSM_ASSERT_OK(csm_cis_compute(&occ, opt.footprint, valid, size, size, &cis));
    /* A patch reaches 5 px around its centre, a footprint 5 px more; 4 px
     * for the piecewise-affine eye outline. Beyond: exactly 0. */
    double near = 0, far = 0, peak = -1;
    int peak_at = -1;
    for (int p = 0; p < size * size; p++) {
      if (dist[p] > 14) far += fabs(cis.value[p]);
      if (dist[p] == 0) near += cis.value[p];
      if (cis.value[p] > peak) peak = cis.value[p], peak_at = p;
    }
    if (far != 0 || near <= 0 || dist[peak_at] > 5)
      fail_msg("%s face %d: far %g near %g, peak %g at distance %g", photo, f + 1, far, near, peak,
               dist[peak_at]);
    /* Occluding the eye with black removes all its brightness: the drop at
     * the best centre is a large part of the base. */
    float best = 0;
    for (int c = 0; c < n_centres; c++)
      if (occ.drop[c] > best) best = occ.drop[c];
    assert_true(best > 0.3f * occ.base);
    CSM_ASSERT_OK(csm_cms_add(cms, &cis));
    used++;
    csm_map_free(&cis);
    free(valid);
    csm_occlusion_free(&occ);
    csm_corr_free(corr);
    free(input);
    free(em.region);
  }
  free(centres);
  free(faces);
  csm_image_free(&img);
  return used;
}

static void test_left_eye_model(void **state) {
  (void)state;
  char model[4096];
  if (!csm_test_model_path("blazeface-back", model, sizeof model)) skip();
  csm_canon *canon = NULL;
  CSM_ASSERT_OK(csm_canon_default(&canon));
  csm_detect_options o = csm_detect_options_default();
  csm_face_detector *det = NULL;
  CSM_ASSERT_OK(csm_face_detector_create(csm_test_env("CSM_MODELS_DIR", "models"), &o, &det));
  const int size = 128;
  float *dist = malloc(sizeof(float) * size * size);
  eye_distance(canon, size, dist);
  csm_cms *cms = NULL;
  CSM_ASSERT_OK(csm_cms_create(size, size, &cms));
  int used = eye_maps("sample3.jpg", canon, det, dist, cms);
  used += eye_maps("sample6.jpg", canon, det, dist, cms);
  assert_true(used >= 5);
  /* The CMS: the same place, nothing elsewhere. */
  float *mean = malloc(sizeof(float) * size * size);
  csm_cms_result(cms, mean, NULL, NULL);
  double far = 0, peak = -1;
  int peak_at = 0;
  for (int p = 0; p < size * size; p++) {
    if (dist[p] > 14) far += fabs(mean[p]);
    if (mean[p] > peak) peak = mean[p], peak_at = p;
  }
  assert_float_equal(far, 0, 0);
  assert_true(peak > 0);
  assert_true(dist[peak_at] <= 5);
  free(mean);
  csm_cms_free(cms);
  free(dist);
  csm_face_detector_free(det);
  csm_canon_free(canon);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_density_hand),
      cmocka_unit_test(test_reference_squares),
      cmocka_unit_test(test_grid_centres),
      cmocka_unit_test(test_left_eye_model),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
