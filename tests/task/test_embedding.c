/* Embedding tasks: threshold calibration and the gallery on hand-made
 * numbers; on the 40 labelled crops of tests/data/faceapi (8 people x 5,
 * used whole, no detection): genuine pairs more similar than impostor pairs,
 * calibrated verification accuracy, leave-one-out identification, and the
 * verify / identify confidences against similarities computed here from
 * csm_task_embed. Without the models (scripts/setup.sh) only the synthetic
 * tests run and the program exits 77 (skipped); the crops are in the
 * repository, so their absence is a failure. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csm_test.h"

static const char *const people[8] = {"amy",   "bernadette", "howard",  "leonard",
                                      "penny", "raj",        "sheldon", "stuart"};

/* ---- synthetic ------------------------------------------------------------ */

/* Seven pairs; thresholds between neighbours: 0.275 and 0.5 both give 6/7
 * (the genuine 0.35 or the impostor 0.4 wrong), every other split fewer:
 * the tie goes to the smaller, 0.275. */
static void test_calibrate(void **state) {
  (void)state;
  const float sims[7] = {0.6f, 0.1f, 0.9f, 0.35f, 0.4f, 0.7f, 0.2f};
  const int same[7] = {1, 0, 1, 1, 0, 1, 0};
  float t = 0, acc = 0;
  CSM_ASSERT_OK(csm_verify_calibrate(sims, same, 7, &t, &acc));
  assert_true(fabsf(t - 0.275f) < 1e-6f);
  assert_true(fabsf(acc - 6.0f / 7.0f) < 1e-6f);
  /* Equal similarities cannot be split: only 0.5 | 0.8 -> 0.65, 3/4. */
  const float s2[4] = {0.5f, 0.5f, 0.8f, 0.5f};
  const int y2[4] = {0, 1, 1, 0};
  CSM_ASSERT_OK(csm_verify_calibrate(s2, y2, 4, &t, &acc));
  assert_true(fabsf(t - 0.65f) < 1e-6f && fabsf(acc - 0.75f) < 1e-6f);
  /* Perfectly separable: the midpoint of the gap, 100%. */
  const float s3[4] = {-0.2f, 0.1f, 0.3f, 0.9f};
  const int y3[4] = {0, 0, 1, 1};
  CSM_ASSERT_OK(csm_verify_calibrate(s3, y3, 4, &t, &acc));
  assert_true(fabsf(t - 0.2f) < 1e-6f && acc == 1.0f);
  /* Errors: no pairs, one class only. */
  assert_int_equal(csm_verify_calibrate(sims, same, 0, &t, &acc), CSM_EUSAGE);
  const int ones[4] = {1, 1, 1, 1};
  assert_int_equal(csm_verify_calibrate(s3, ones, 4, &t, &acc), CSM_EUSAGE);
  assert_non_null(strstr(csm_last_error(), "genuine"));
}

static void test_gallery(void **state) {
  (void)state;
  csm_gallery *g = NULL;
  assert_int_equal(csm_gallery_create(0, &g), CSM_EUSAGE);
  CSM_ASSERT_OK(csm_gallery_create(3, &g));
  int id;
  float sim;
  const float q1[3] = {0.9f, 0.1f, 0};
  assert_int_equal(csm_gallery_nearest(g, q1, &id, &sim), CSM_EUSAGE); /* empty */
  const float a1[3] = {1, 0, 0}, a2[3] = {0, 1, 0}, b1[3] = {0, 0, 2};
  CSM_ASSERT_OK(csm_gallery_add(g, "a", a1));
  CSM_ASSERT_OK(csm_gallery_add(g, "b", b1));
  CSM_ASSERT_OK(csm_gallery_add(g, "a", a2));
  assert_int_equal(csm_gallery_identities(g), 2);
  assert_int_equal(csm_gallery_count(g, 0), 2);
  assert_int_equal(csm_gallery_count(g, -1), 3);
  assert_string_equal(csm_gallery_name(g, 1), "b");
  assert_int_equal(csm_gallery_find(g, "b"), 1);
  assert_int_equal(csm_gallery_find(g, "c"), -1);
  assert_null(csm_gallery_name(g, 2));
  /* (0.9, 0.1, 0) / |.| . (1, 0, 0) = 0.9 / sqrt(0.82) = 0.9938837. */
  CSM_ASSERT_OK(csm_gallery_nearest(g, q1, &id, &sim));
  assert_int_equal(id, 0);
  assert_true(fabsf(sim - 0.9938837f) < 1e-6f);
  /* (0, 0.1, 1): b (stored normalized as (0, 0, 1)) at 1 / sqrt(1.01) =
   * 0.9950372; a's closest is (0, 1, 0) at 0.1 / sqrt(1.01) = 0.0995037. */
  const float q2[3] = {0, 0.1f, 1};
  CSM_ASSERT_OK(csm_gallery_nearest(g, q2, &id, &sim));
  assert_int_equal(id, 1);
  assert_true(fabsf(sim - 0.9950372f) < 1e-6f);
  assert_true(fabsf(csm_gallery_similarity(g, 0, q2) - 0.0995037f) < 1e-6f);
  csm_gallery_free(g);
}

/* ---- on the labelled crops --------------------------------------------------- */

static const char *models_dir(void) { return csm_test_env("CSM_MODELS_DIR", "models"); }

static const char *faces_dir(char *buf, size_t n) {
  snprintf(buf, n, "%s/faceapi", csm_test_env("CSM_TEST_DATA", "tests/data"));
  return buf;
}

/* The 40 crops, each whole as the face, preprocessed for t: 40 x per floats. */
static float *load_crops(csm_task *t) {
  const csm_task_info *info = csm_task_get_info(t);
  size_t per = csm_task_input_numel(info);
  float *x = malloc(40 * per * sizeof(float));
  assert_non_null(x);
  char dir[4096], path[4200];
  faces_dir(dir, sizeof dir);
  for (int p = 0; p < 8; p++)
    for (int k = 0; k < 5; k++) {
      snprintf(path, sizeof path, "%s/%s/%s%d.png", dir, people[p], people[p], k + 1);
      csm_image img;
      CSM_ASSERT_OK(csm_image_load(path, &img));
      /* The whole image as the task's crop: a box of side max(w, h) / crop_scale. */
      csm_face f;
      memset(&f, 0, sizeof f);
      float side = (float)(img.w > img.h ? img.w : img.h) / info->crop_scale;
      f.box[0] = (img.w - side) / 2, f.box[1] = (img.h - side) / 2;
      f.box[2] = f.box[3] = side;
      CSM_ASSERT_OK(csm_task_preprocess(info, &img, &f, x + (size_t)(5 * p + k) * per));
      csm_image_free(&img);
    }
  return x;
}

static double dotd(const float *a, const float *b, int dim) {
  double s = 0;
  for (int k = 0; k < dim; k++)
    s += (double)a[k] * b[k];
  return s;
}

/* Pair statistics over the 780 pairs of 40 embeddings. */
static void measure(const char *task, int need) {
  csm_task *t = NULL;
  CSM_ASSERT_OK(csm_task_load(models_dir(), task, &t));
  int dim = csm_task_embedding_dim(t);
  assert_true(dim >= 2);
  float *x = load_crops(t);
  float *e = malloc(40 * (size_t)dim * sizeof(float));
  CSM_ASSERT_OK(csm_task_embed(t, x, 40, e));
  for (int i = 0; i < 40; i++)
    assert_true(fabs(dotd(e + i * dim, e + i * dim, dim) - 1) < 1e-4);
  float sims[780];
  int same[780], n = 0, ng = 0, ni = 0;
  double g = 0, im = 0;
  for (int a = 0; a < 40; a++)
    for (int b = a + 1; b < 40; b++, n++) {
      sims[n] = (float)dotd(e + a * dim, e + b * dim, dim);
      same[n] = a / 5 == b / 5;
      if (same[n])
        g += sims[n], ng++;
      else
        im += sims[n], ni++;
    }
  g /= ng, im /= ni;
  float th, acc;
  CSM_ASSERT_OK(csm_verify_calibrate(sims, same, n, &th, &acc));
  /* Balanced accuracy at that threshold (700 of the 780 pairs are impostors). */
  int tp = 0, tn = 0;
  for (int i = 0; i < n; i++)
    tp += same[i] && sims[i] > th, tn += !same[i] && sims[i] <= th;
  /* Leave-one-out nearest neighbour (Eq. 7 with the other 39 as gallery). */
  int right = 0;
  for (int a = 0; a < 40; a++) {
    int best = -1;
    double bs = -2;
    for (int b = 0; b < 40; b++) {
      double s = b == a ? -3 : dotd(e + a * dim, e + b * dim, dim);
      if (s > bs) bs = s, best = b;
    }
    right += best / 5 == a / 5;
  }
  print_message("%s (dim %d): mean cosine genuine %.3f, impostor %.3f; threshold %.3f: accuracy "
                "%.3f (%d/%d genuine, %d/%d impostor); leave-one-out identification %d/40\n",
                task, dim, g, im, th, acc, tp, ng, tn, ni, right);
  assert_true(g > im);
  if (need) {
    assert_true(acc >= 0.9f);
    assert_true(tp + tn > 0.9 * n);
    assert_true(right >= 32);
  }
  free(x);
  free(e);
  csm_task_free(t);
}

static int have_models(void) {
  char m[4096];
  return csm_test_model_path("faceres", m, sizeof m) &&
         csm_test_model_path("mobileface", m, sizeof m);
}

static void test_faceres(void **state) {
  (void)state;
  measure("embed-faceres", 1);
}

/* MobileFace is much weaker on these small gray crops: reported, only the
 * ordering of the means is required. */
static void test_mobileface(void **state) {
  (void)state;
  measure("embed-mobileface", 0);
}

/* Batches equal single runs; the verify confidence is s - t (genuine) and
 * t - s (impostor) with s from csm_task_embed. */
static void test_verify_scorer(void **state) {
  (void)state;
  csm_task *t = NULL;
  CSM_ASSERT_OK(csm_task_load(models_dir(), "embed-faceres", &t));
  assert_int_equal(csm_task_embedding_dim(t), 1024); /* global_pooling/Mean: [1, 1024] */
  size_t per = csm_task_input_numel(csm_task_get_info(t));
  float *x = load_crops(t);
  /* Pairs (amy1, amy2) and (amy1, howard1), laid out one after another. */
  float *pairs = malloc(4 * per * sizeof(float));
  memcpy(pairs, x, per * sizeof(float));
  memcpy(pairs + per, x + per, per * sizeof(float));
  memcpy(pairs + 2 * per, x, per * sizeof(float));
  memcpy(pairs + 3 * per, x + 10 * per, per * sizeof(float));
  float e[4][1024], one[1024];
  CSM_ASSERT_OK(csm_task_embed(t, pairs, 4, &e[0][0]));
  CSM_ASSERT_OK(csm_task_embed(t, pairs + per, 1, one));
  csm_test_assert_close(one, e[1], 1024, 1e-5f, 1e-4f);
  double s_gen = dotd(e[0], e[1], 1024), s_imp = dotd(e[2], e[3], 1024);
  const float th = 0.58f;
  csm_scorer sg, si;
  CSM_ASSERT_OK(csm_scorer_verify(t, th, 1, &sg));
  CSM_ASSERT_OK(csm_scorer_verify(t, th, 0, &si));
  assert_int_equal(sg.views, 2);
  assert_int_equal(sg.size, 224);
  assert_true(sg.black[0] == 0);
  float cg[2], ci[2];
  CSM_ASSERT_OK(sg.score(sg.ctx, pairs, 2, cg));
  CSM_ASSERT_OK(si.score(si.ctx, pairs, 2, ci));
  print_message("verify: s(amy1, amy2) = %.4f, s(amy1, howard1) = %.4f\n", s_gen, s_imp);
  assert_true(fabs(cg[0] - (s_gen - th)) < 1e-5 && fabs(cg[1] - (s_imp - th)) < 1e-5);
  assert_true(fabs(ci[0] - (th - s_gen)) < 1e-5 && fabs(ci[1] - (th - s_imp)) < 1e-5);
  assert_true(cg[0] > 0 && ci[1] > 0); /* both pairs right at this threshold */
  csm_scorer_free(&sg);
  csm_scorer_free(&si);
  /* Not an embedding task: an error, as classification scorers refuse embeddings. */
  csm_task *g = NULL;
  CSM_ASSERT_OK(csm_task_load(models_dir(), "gender", &g));
  assert_int_equal(csm_scorer_verify(g, th, 1, &sg), CSM_EUSAGE);
  assert_int_equal(csm_task_embed(g, x, 1, one), CSM_EUSAGE);
  assert_int_equal(csm_scorer_class(t, 0, &sg), CSM_EUSAGE);
  csm_task_result r;
  assert_int_equal(csm_task_run(t, x, 1, &r), CSM_EUSAGE);
  assert_non_null(strstr(csm_last_error(), "csm_task_embed"));
  csm_task_free(g);
  free(pairs);
  free(x);
  csm_task_free(t);
}

/* The gallery from the folder: 8 identities in name order, 5 crops each;
 * the identify confidence is the best cosine to the identity's embeddings,
 * computed here from csm_task_embed. */
static void test_gallery_dir(void **state) {
  (void)state;
  csm_task *t = NULL;
  CSM_ASSERT_OK(csm_task_load(models_dir(), "embed-faceres", &t));
  char dir[4096];
  csm_gallery *g = NULL;
  CSM_ASSERT_OK(csm_gallery_load_dir(&g, t, NULL, faces_dir(dir, sizeof dir)));
  assert_int_equal(csm_gallery_identities(g), 8);
  for (int p = 0; p < 8; p++) {
    assert_string_equal(csm_gallery_name(g, p), people[p]);
    assert_int_equal(csm_gallery_count(g, p), 5);
  }
  size_t per = csm_task_input_numel(csm_task_get_info(t));
  float *x = load_crops(t);
  static float e[40][1024];
  CSM_ASSERT_OK(csm_task_embed(t, x, 40, &e[0][0]));
  /* Occlusion's view: amy1 with a black square, scored against howard. */
  float *occ = malloc(per * sizeof(float));
  memcpy(occ, x, per * sizeof(float));
  for (int v = 60; v < 160; v++)
    for (int u = 40; u < 180; u++)
      for (int c = 0; c < 3; c++)
        occ[(v * 224 + u) * 3 + c] = 0;
  float eo[1024];
  CSM_ASSERT_OK(csm_task_embed(t, occ, 1, eo));
  int howard = csm_gallery_find(g, "howard");
  double want_amy = -2, want_howard = -2;
  for (int k = 0; k < 5; k++) {
    want_amy = fmax(want_amy, dotd(eo, e[k], 1024));
    want_howard = fmax(want_howard, dotd(eo, e[5 * howard + k], 1024));
  }
  csm_scorer s;
  float conf[2];
  float *two = malloc(2 * per * sizeof(float));
  memcpy(two, occ, per * sizeof(float));
  memcpy(two + per, x, per * sizeof(float));
  CSM_ASSERT_OK(csm_scorer_identify(t, g, 0, &s));
  assert_int_equal(s.views, 1);
  CSM_ASSERT_OK(s.score(s.ctx, two, 2, conf));
  assert_true(fabs(conf[0] - want_amy) < 1e-4);
  assert_true(fabs(conf[1] - 1) < 1e-4); /* amy1 itself is in the gallery */
  csm_scorer_free(&s);
  CSM_ASSERT_OK(csm_scorer_identify(t, g, howard, &s));
  CSM_ASSERT_OK(s.score(s.ctx, two, 1, conf));
  assert_true(fabs(conf[0] - want_howard) < 1e-4);
  csm_scorer_free(&s);
  print_message("identify: occluded amy1 -> amy %.3f, howard %.3f\n", want_amy, want_howard);
  assert_int_equal(csm_scorer_identify(t, g, 8, &s), CSM_EUSAGE);
  int id;
  float sim;
  CSM_ASSERT_OK(csm_gallery_nearest(g, e[12], &id, &sim));
  assert_int_equal(id, 2); /* howard3 is in the gallery */
  free(two);
  free(occ);
  free(x);
  csm_gallery_free(g);
  csm_task_free(t);
}

/* A folder with an image the detector finds no face in: an error naming it. */
static void test_gallery_no_face(void **state) {
  (void)state;
  char tmp[4096], sub[4200], png[4300];
  snprintf(tmp, sizeof tmp, "%s/embedding-gallery", csm_test_env("CSM_TEST_TMP", "/tmp"));
  mkdir(csm_test_env("CSM_TEST_TMP", "/tmp"), 0777);
  mkdir(tmp, 0777);
  snprintf(sub, sizeof sub, "%s/nobody", tmp);
  mkdir(sub, 0777);
  snprintf(png, sizeof png, "%s/grey.png", sub);
  csm_image img = {96, 96, malloc(96 * 96 * 3)};
  memset(img.rgb, 128, 96 * 96 * 3);
  CSM_ASSERT_OK(csm_image_write_png(png, &img));
  csm_image_free(&img);
  csm_task *t = NULL;
  CSM_ASSERT_OK(csm_task_load(models_dir(), "embed-mobileface", &t));
  csm_detect_options opt = csm_task_detect_options(csm_task_get_info(t));
  csm_face_detector *det = NULL;
  CSM_ASSERT_OK(csm_face_detector_create(models_dir(), &opt, &det));
  csm_gallery *g = NULL;
  assert_int_equal(csm_gallery_load_dir(&g, t, det, tmp), CSM_EINPUT);
  assert_null(g);
  assert_non_null(strstr(csm_last_error(), "grey.png"));
  /* Without a detector the whole image is the face: no error. */
  CSM_ASSERT_OK(csm_gallery_load_dir(&g, t, NULL, tmp));
  assert_int_equal(csm_gallery_identities(g), 1);
  csm_gallery_free(g);
  assert_int_not_equal(csm_gallery_load_dir(&g, t, NULL, "/nonexistent"), CSM_OK);
  unlink(png);
  rmdir(sub);
  rmdir(tmp);
  csm_face_detector_free(det);
  csm_task_free(t);
}

int main(void) {
  const struct CMUnitTest synthetic[] = {
      cmocka_unit_test(test_calibrate),
      cmocka_unit_test(test_gallery),
  };
  const struct CMUnitTest data[] = {
      cmocka_unit_test(test_faceres),         cmocka_unit_test(test_mobileface),
      cmocka_unit_test(test_verify_scorer),   cmocka_unit_test(test_gallery_dir),
      cmocka_unit_test(test_gallery_no_face),
  };
  int rc = cmocka_run_group_tests(synthetic, NULL, NULL);
  if (rc) return rc;
  if (!have_models()) {
    print_message("faceres or mobileface not installed: data tests skipped\n");
    return CSM_TEST_SKIP;
  }
  return cmocka_run_group_tests(data, NULL, NULL);
}
