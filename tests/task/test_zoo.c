/* The task zoo: every entry's model matches its declared input and output,
 * the crop geometry and value mapping on synthetic images (hand-computed
 * pixels), score conversion, and batched runs equal single runs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "csm_test.h"

/* A 256x256 ramp: R = x, G = y, B = 200, so bilinear reads of pixel centres
 * are exact and every value says where it came from. */
static csm_image ramp(void) {
  csm_image img = {256, 256, malloc(256 * 256 * 3)};
  assert_non_null(img.rgb);
  for (int y = 0; y < 256; y++)
    for (int x = 0; x < 256; x++) {
      unsigned char *p = img.rgb + 3 * (y * 256 + x);
      p[0] = (unsigned char)x, p[1] = (unsigned char)y, p[2] = 200;
    }
  return img;
}

static csm_face face_at(float x, float y, float w, float h, float roll) {
  csm_face f;
  memset(&f, 0, sizeof f);
  f.box[0] = x, f.box[1] = y, f.box[2] = w, f.box[3] = h;
  f.roll_deg = roll;
  f.score = 1;
  return f;
}

static void test_table(void **state) {
  (void)state;
  assert_true(csm_task_count() >= 6);
  const char *required[] = {"gender", "gender-64", "gender-ssrnet", "expression", "age", "race"};
  for (size_t i = 0; i < sizeof required / sizeof *required; i++)
    assert_non_null(csm_task_find(required[i]));
  assert_null(csm_task_find("nope"));
  assert_null(csm_task_find(NULL));
  assert_null(csm_task_at(csm_task_count()));
  for (int i = 0; i < csm_task_count(); i++) {
    const csm_task_info *t = csm_task_at(i);
    assert_ptr_equal(csm_task_find(t->name), t);
    assert_true(t->channels == 1 || t->channels == 3);
    assert_true(t->n_classes <= CSM_TASK_MAX_CLASSES);
    assert_true((t->kind == CSM_TASK_VALUE || t->kind == CSM_TASK_EMBEDDING) ==
                (t->n_classes == 0));
    if (t->kind == CSM_TASK_SIGMOID) assert_int_equal(t->n_classes, 2);
    for (int k = 0; k < t->n_classes; k++)
      assert_non_null(t->labels[k]);
  }
  /* Which value means what (human's faceres.ts, emotion.ts, gear.ts). */
  assert_string_equal(csm_task_find("gender")->labels[1], "male");
  assert_string_equal(csm_task_find("expression")->labels[6], "neutral");
  assert_string_equal(csm_task_find("race")->labels[2], "asian");
}

/* Every model exists and its input is [batch, size, size, channels]. */
static void test_models_match(void **state) {
  (void)state;
  char path[4096];
  if (!csm_test_model_path("faceres", path, sizeof path)) {
    skip();
    return;
  }
  const char *dir = csm_test_env("CSM_MODELS_DIR", "models");
  for (int i = 0; i < csm_task_count(); i++) {
    const csm_task_info *info = csm_task_at(i);
    csm_test_context = info->name;
    assert_non_null(csm_test_model_path(info->model, path, sizeof path));
    csm_task *t = NULL;
    CSM_ASSERT_OK(csm_task_load(dir, info->name, &t));
    csm_shape s = csm_model_input_shape(csm_task_model(t), 0);
    assert_int_equal(s.rank, 4);
    assert_int_equal(s.d[1], info->size);
    assert_int_equal(s.d[2], info->size);
    assert_int_equal(s.d[3], info->channels);
    assert_ptr_equal(csm_task_get_info(t), info);
    csm_task_free(t);
  }
  csm_test_context = "";
  csm_task *t = NULL;
  assert_int_equal(csm_task_load(dir, "nope", &t), CSM_EUSAGE);
  assert_null(t);
  assert_int_not_equal(csm_task_load("/nonexistent", "gender", &t), CSM_OK);
}

/* expression-tight: 64x64 gray, tight crop, (g - 0.5) * 2 with human's weights. */
static void test_preprocess_gray(void **state) {
  (void)state;
  const csm_task_info *info = csm_task_find("expression-tight");
  assert_true(info->crop_scale == 1.0f && info->size == 64 && info->channels == 1);
  csm_image img = ramp();
  /* A 64-pixel box: input pixel (i, j) is image pixel (10 + i, 20 + j). */
  csm_face f = face_at(10, 20, 64, 64, 0);
  float *x = malloc(csm_task_input_numel(info) * sizeof(float));
  CSM_ASSERT_OK(csm_task_preprocess(info, &img, &f, x));
  /* (i, j) = (5, 7): R 15, G 27, B 200 -> (0.2989*15 + 0.587*27 + 0.114*200)
   * / 255 = 43.1325 / 255 = 0.169147; * 2 - 1 = -0.661706. */
  float want = -0.661706f;
  csm_test_assert_close(&x[7 * 64 + 5], &want, 1, 1e-4f, 0);
  for (size_t k = 0; k < csm_task_input_numel(info); k++)
    assert_true(x[k] >= -1 && x[k] <= 1);
  free(x);
  csm_image_free(&img);
}

/* gender (FaceRes): 224x224 RGB 0..255 of the box enlarged 1.4x. */
static void test_preprocess_rgb(void **state) {
  (void)state;
  const csm_task_info *info = csm_task_find("gender");
  assert_int_equal(info->size, 224);
  csm_image img = ramp();
  /* Box 160 wide centred at (120, 110): the crop is 224 px from (8, -2), so
   * input pixel (i, j) is image pixel (8 + i, j - 2); the top two rows are
   * outside the image (black). */
  csm_face f = face_at(40, 30, 160, 160, 0);
  float *x = malloc(csm_task_input_numel(info) * sizeof(float));
  CSM_ASSERT_OK(csm_task_preprocess(info, &img, &f, x));
  const float *p = x + (50 * 224 + 100) * 3; /* (i, j) = (100, 50): image (108, 48) */
  float want[3] = {108, 48, 200};
  csm_test_assert_close(p, want, 3, 1e-2f, 0);
  float black[3] = {0, 0, 0};
  csm_test_assert_close(x, black, 3, 0, 0);
  for (size_t k = 0; k < csm_task_input_numel(info); k++)
    assert_true(x[k] >= 0 && x[k] <= 255);
  free(x);
  csm_image_free(&img);
}

/* Roll 90 degrees: the crop's x axis runs down the image, its y axis left. */
static void test_crop_roll(void **state) {
  (void)state;
  const csm_task_info *info = csm_task_find("expression-tight");
  csm_face f = face_at(100, 100, 64, 64, 90);
  double m[6];
  CSM_ASSERT_OK(csm_task_crop_matrix(info, &f, m));
  double want[6] = {0, -1, 164, 1, 0, 100};
  for (int k = 0; k < 6; k++)
    assert_true(fabs(m[k] - want[k]) < 1e-9);
  /* gear's sub-box: x from 10% to 90%, y from 0 to 90% of the square. */
  const csm_task_info *race = csm_task_find("race");
  f = face_at(0, 0, 100, 100, 0); /* square side 140 from (-20, -20) */
  CSM_ASSERT_OK(csm_task_crop_matrix(race, &f, m));
  assert_true(fabs(m[0] - 0.8 * 140 / 198) < 1e-5 && fabs(m[4] - 0.9 * 140 / 198) < 1e-5);
  assert_true(fabs(m[2] - (-20 + 14)) < 1e-4 && fabs(m[5] - (-20)) < 1e-4);
  f.box[2] = 0;
  assert_int_equal(csm_task_crop_matrix(info, &f, m), CSM_EINPUT);
}

static void test_scores(void **state) {
  (void)state;
  csm_task_result r;
  float p = 0.8f;
  CSM_ASSERT_OK(csm_task_scores(csm_task_find("gender"), &p, 1, &r));
  assert_int_equal(r.label, 1);
  assert_true(fabsf(r.scores[0] - 0.2f) < 1e-6f && fabsf(r.confidence - 0.8f) < 1e-6f);
  assert_true(isnan(r.value));
  float years[100] = {0};
  years[30] = 0.5f, years[40] = 0.5f;
  CSM_ASSERT_OK(csm_task_scores(csm_task_find("age"), years, 100, &r));
  assert_int_equal(r.label, 30); /* first of equal maxima */
  assert_true(fabsf(r.value - 35.0f) < 1e-4f);
  float age = 41.5f;
  CSM_ASSERT_OK(csm_task_scores(csm_task_find("age-ssrnet"), &age, 1, &r));
  assert_int_equal(r.label, -1);
  assert_true(r.value == 41.5f);
  float bad = NAN;
  assert_int_equal(csm_task_scores(csm_task_find("gender"), &bad, 1, &r), CSM_EINPUT);
  assert_int_equal(csm_task_scores(csm_task_find("expression"), years, 3, &r), CSM_EINPUT);
}

/* One batch of several faces gives what each face gives alone: saliency
 * relies on batching occluded copies. */
static void test_batch(void **state) {
  (void)state;
  char path[4096];
  if (!csm_test_model_path("emotion", path, sizeof path)) {
    skip();
    return;
  }
  csm_task *t = NULL;
  CSM_ASSERT_OK(csm_task_load(csm_test_env("CSM_MODELS_DIR", "models"), "expression", &t));
  const csm_task_info *info = csm_task_get_info(t);
  size_t per = csm_task_input_numel(info);
  csm_image img = ramp();
  float *x = malloc(3 * per * sizeof(float));
  for (int i = 0; i < 3; i++) {
    csm_face f = face_at(20.0f + 30 * i, 40, 90, 80, 10.0f * i);
    CSM_ASSERT_OK(csm_task_preprocess(info, &img, &f, x + i * per));
  }
  csm_task_result all[3], one;
  CSM_ASSERT_OK(csm_task_run(t, x, 3, all));
  for (int i = 0; i < 3; i++) {
    CSM_ASSERT_OK(csm_task_run(t, x + i * per, 1, &one));
    csm_test_assert_close(all[i].scores, one.scores, 7, 1e-5f, 1e-4f);
    float sum = 0;
    for (int k = 0; k < 7; k++)
      sum += one.scores[k];
    assert_true(fabsf(sum - 1) < 1e-3f);
  }
  free(x);
  csm_image_free(&img);
  csm_task_free(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_table),           cmocka_unit_test(test_models_match),
      cmocka_unit_test(test_preprocess_gray), cmocka_unit_test(test_preprocess_rgb),
      cmocka_unit_test(test_crop_roll),       cmocka_unit_test(test_scores),
      cmocka_unit_test(test_batch),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
