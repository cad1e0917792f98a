/* Custom tasks: a zoo model loaded as a custom task with the zoo entry's
 * settings gives the zoo task's results bit for bit; the info is copied;
 * open class counts; softmax (LOGITS) and raw logits (LOGIT) against hand
 * computations; a batch-1 model; errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csm_test.h"

static const char *models_dir(void) { return csm_test_env("CSM_MODELS_DIR", "models"); }

static int model_path(const char *name, char *buf, size_t n) {
  return csm_test_model_path(name, buf, n) != NULL;
}

/* gender-64's settings written out by hand (docs/tasks.md): 64x64 gray
 * with human's weights, (g - 0.5) * 2, 1.4x box, upright, [female, male]. */
static csm_task_info gender64_settings(char *name_buf) {
  static const char *const labels[] = {"female", "male"};
  csm_task_info info;
  memset(&info, 0, sizeof info);
  strcpy(name_buf, "my-gender");
  info.name = name_buf;
  info.output = "Identity";
  info.crop_scale = 1.4f;
  info.upright = 1;
  info.size = 64;
  info.channels = 1;
  info.gray_w[0] = 0.2989f, info.gray_w[1] = 0.5870f, info.gray_w[2] = 0.1140f;
  info.scale = 2, info.offset = -1;
  info.kind = CSM_TASK_PROBS;
  info.n_classes = 2;
  info.labels = labels;
  return info;
}

static void test_same_as_zoo(void **state) {
  (void)state;
  char path[4096];
  if (!model_path("gender", path, sizeof path)) {
    skip();
    return;
  }
  char *name = malloc(64);
  csm_task_info info = gender64_settings(name);
  csm_task *c = NULL, *z = NULL;
  CSM_ASSERT_OK(csm_task_load_custom(path, &info, &c));
  /* The caller's struct and strings go away: the task keeps its copy. */
  memset(name, 'x', 63);
  free(name);
  memset(&info, 0, sizeof info);
  CSM_ASSERT_OK(csm_task_load(models_dir(), "gender-64", &z));
  const csm_task_info *ci = csm_task_get_info(c), *zi = csm_task_get_info(z);
  assert_string_equal(ci->name, "my-gender");
  assert_string_equal(ci->labels[1], "male");
  assert_string_equal(ci->output, "Identity");
  assert_int_equal(ci->n_classes, 2);
  /* Preprocessing: the same floats for a tilted face in a photo-like image. */
  csm_image img = {160, 120, malloc(160 * 120 * 3)};
  for (int i = 0; i < 160 * 120 * 3; i++)
    img.rgb[i] = (unsigned char)((i * 7919u) >> 3);
  csm_face f;
  memset(&f, 0, sizeof f);
  f.box[0] = 40, f.box[1] = 30, f.box[2] = 70, f.box[3] = 60;
  f.roll_deg = 12;
  size_t per = csm_task_input_numel(zi);
  assert_int_equal(csm_task_input_numel(ci), per);
  float *xc = malloc(4 * per * sizeof(float)), *xz = malloc(4 * per * sizeof(float));
  CSM_ASSERT_OK(csm_task_preprocess(ci, &img, &f, xc));
  CSM_ASSERT_OK(csm_task_preprocess(zi, &img, &f, xz));
  assert_memory_equal(xc, xz, per * sizeof(float));
  /* Three more random inputs in [-1, 1]; one batch of four. */
  csm_test_fill_uniform(xz + per, 3 * per, 42, -1, 1);
  memcpy(xc + per, xz + per, 3 * per * sizeof(float));
  csm_task_result rc[4], rz[4];
  CSM_ASSERT_OK(csm_task_run(c, xc, 4, rc));
  CSM_ASSERT_OK(csm_task_run(z, xz, 4, rz));
  for (int i = 0; i < 4; i++) {
    assert_int_equal(rc[i].label, rz[i].label);
    assert_memory_equal(&rc[i].confidence, &rz[i].confidence, sizeof(float));
    assert_memory_equal(rc[i].scores, rz[i].scores, 2 * sizeof(float));
  }
  /* A scorer works on a custom task as on a zoo one. */
  csm_scorer s;
  CSM_ASSERT_OK(csm_scorer_class(c, 1, &s));
  float conf[4];
  CSM_ASSERT_OK(s.score(s.ctx, xc, 4, conf));
  for (int i = 0; i < 4; i++)
    assert_true(conf[i] == rz[i].scores[1]);
  assert_string_equal(s.what, "P(male)");
  csm_scorer_free(&s);
  free(xc);
  free(xz);
  csm_image_free(&img);
  csm_task_free(c);
  csm_task_free(z);
}

/* n_classes 0, labels NULL, output NULL: the first output, one class per
 * value, labelled by index; gray weights default to human's. */
static void test_open_classes(void **state) {
  (void)state;
  char path[4096];
  if (!model_path("gear", path, sizeof path)) {
    skip();
    return;
  }
  csm_task_info info;
  memset(&info, 0, sizeof info);
  info.crop_scale = 1.4f;
  info.size = 198, info.channels = 3, info.scale = 1;
  info.kind = CSM_TASK_LOGIT;
  csm_task *t = NULL;
  CSM_ASSERT_OK(csm_task_load_custom(path, &info, &t));
  const csm_task_info *ti = csm_task_get_info(t);
  /* gear's first output is race_output, [1, 5] (csm models). */
  assert_int_equal(ti->n_classes, 5);
  assert_string_equal(ti->name, "custom");
  assert_non_null(strstr(ti->output, "race_output"));
  assert_string_equal(ti->labels[0], "0");
  assert_string_equal(ti->labels[4], "4");
  assert_int_equal(csm_task_class_index(ti, "3"), 3);
  assert_true(ti->sub[2] == 1 && ti->sub[3] == 1);
  csm_task_free(t);
  /* The age head as LOGITS: its values are already probabilities, so the
   * scores are their softmax, checked against the raw output by hand. */
  info.output = "age_output";
  info.kind = CSM_TASK_LOGITS;
  CSM_ASSERT_OK(csm_task_load_custom(path, &info, &t));
  assert_int_equal(csm_task_get_info(t)->n_classes, 7);
  float *x = malloc(198 * 198 * 3 * sizeof(float)), raw[7];
  csm_test_fill_uniform(x, 198 * 198 * 3, 7, 0, 1);
  assert_int_equal(csm_task_output_numel(t), 7);
  CSM_ASSERT_OK(csm_task_run_raw(t, x, 1, raw));
  csm_task_result r;
  CSM_ASSERT_OK(csm_task_run(t, x, 1, &r));
  double z = 0;
  for (int k = 0; k < 7; k++)
    z += exp(raw[k]);
  for (int k = 0; k < 7; k++)
    assert_true(fabs(r.scores[k] - exp(raw[k]) / z) < 1e-6);
  free(x);
  csm_task_free(t);
}

/* Softmax of (1, 2, 3): e^-2, e^-1, 1 over 1 + e^-1 + e^-2 = 1.5032147:
 * 0.0900306, 0.2447285, 0.6652410; shifted by 1000 the same (no overflow). */
static void test_scores_by_hand(void **state) {
  (void)state;
  static const char *const abc[] = {"a", "b", "c"};
  csm_task_info info;
  memset(&info, 0, sizeof info);
  info.name = "t", info.kind = CSM_TASK_LOGITS, info.n_classes = 3, info.labels = abc;
  const float raw[3] = {1, 2, 3}, big[3] = {1001, 1002, 1003},
              want[3] = {0.0900306f, 0.2447285f, 0.6652410f};
  csm_task_result r;
  CSM_ASSERT_OK(csm_task_scores(&info, raw, 3, &r));
  csm_test_assert_close(r.scores, want, 3, 1e-6f, 0);
  assert_int_equal(r.label, 2);
  assert_true(r.confidence == r.scores[2]);
  CSM_ASSERT_OK(csm_task_scores(&info, big, 3, &r));
  csm_test_assert_close(r.scores, want, 3, 1e-6f, 0);
  /* LOGIT: the raw values are the scores. */
  info.kind = CSM_TASK_LOGIT;
  const float lg[3] = {-1, 2.5f, 0.25f};
  CSM_ASSERT_OK(csm_task_scores(&info, lg, 3, &r));
  assert_int_equal(r.label, 1);
  assert_true(r.confidence == 2.5f && r.scores[0] == -1 && r.scores[2] == 0.25f);
  assert_int_equal(csm_task_scores(&info, lg, 2, &r), CSM_EINPUT);
  /* Embeddings have no scores. */
  info.kind = CSM_TASK_EMBEDDING, info.n_classes = 0;
  assert_int_equal(csm_task_scores(&info, lg, 3, &r), CSM_EUSAGE);
  assert_non_null(strstr(csm_last_error(), "csm_task_embed"));
}

/* blazeface-front's input batch is fixed at 1 ([1, 128, 128, 3]): a batch
 * of three runs one input at a time and equals three single runs. */
static void test_batch1(void **state) {
  (void)state;
  char path[4096];
  if (!model_path("blazeface-front", path, sizeof path)) {
    skip();
    return;
  }
  csm_task_info info;
  memset(&info, 0, sizeof info);
  info.crop_scale = 1, info.size = 128, info.channels = 3, info.scale = 2, info.offset = -1;
  info.kind = CSM_TASK_EMBEDDING;
  info.output = "Identity_1"; /* [1, 384, 1] scores */
  csm_task *t = NULL;
  CSM_ASSERT_OK(csm_task_load_custom(path, &info, &t));
  assert_int_equal(csm_task_embedding_dim(t), 384);
  size_t per = 128 * 128 * 3;
  float *x = malloc(3 * per * sizeof(float));
  csm_test_fill_uniform(x, 3 * per, 3, -1, 1);
  float *all = malloc(3 * 384 * sizeof(float)), one[384];
  CSM_ASSERT_OK(csm_task_run_raw(t, x, 3, all));
  for (int i = 0; i < 3; i++) {
    CSM_ASSERT_OK(csm_task_run_raw(t, x + i * per, 1, one));
    assert_memory_equal(one, all + i * 384, sizeof one);
  }
  free(x);
  free(all);
  csm_task_free(t);
}

static void expect_load_error(const char *path, const csm_task_info *info, csm_status want,
                              const char *needle) {
  csm_task *t = (csm_task *)1;
  assert_int_equal(csm_task_load_custom(path, info, &t), want);
  assert_null(t);
  if (needle && !strstr(csm_last_error(), needle))
    fail_msg("error '%s' lacks '%s'", csm_last_error(), needle);
}

static void test_errors(void **state) {
  (void)state;
  char path[4096], name[64];
  if (!model_path("gender", path, sizeof path)) {
    skip();
    return;
  }
  csm_task_info ok = gender64_settings(name), info;
  info = ok, info.size = 63;
  expect_load_error(path, &info, CSM_EINPUT, "does not match");
  info = ok, info.channels = 3;
  expect_load_error(path, &info, CSM_EINPUT, "does not match");
  info = ok, info.output = "no_such_output";
  expect_load_error(path, &info, CSM_EINPUT, "no_such_output");
  info = ok, info.n_classes = 3;
  static const char *const three[] = {"a", "b", "c"};
  info.labels = three;
  expect_load_error(path, &info, CSM_EINPUT, "values");
  info = ok, info.kind = CSM_TASK_POSE;
  expect_load_error(path, &info, CSM_EUSAGE, "kind");
  info = ok, info.channels = 2;
  expect_load_error(path, &info, CSM_EUSAGE, "channels");
  info = ok, info.crop_scale = 0;
  expect_load_error(path, &info, CSM_EUSAGE, "crop_scale");
  info = ok, info.kind = CSM_TASK_VALUE;
  expect_load_error(path, &info, CSM_EUSAGE, "no classes");
  info = ok;
  expect_load_error("/nonexistent/model.json", &info, CSM_EIO, NULL);
  csm_task *t = NULL;
  assert_int_equal(csm_task_load_custom(path, NULL, &t), CSM_EUSAGE);
}

/* Per-channel mean/std (torchvision's Normalize): the preprocessed input
 * is the plain one, channel order applied, then (x - mean[c]) / std[c];
 * the black value follows; size and channels 0 take the model's own; zoo
 * tasks have none (their inputs stay bit for bit). */
static void test_mean_std(void **state) {
  (void)state;
  char path[4096];
  if (!model_path("age", path, sizeof path)) {
    skip();
    return;
  }
  for (int i = 0; i < csm_task_count(); i++)
    assert_false(csm_task_has_norm(csm_task_at(i)));
  csm_task_info plain;
  memset(&plain, 0, sizeof plain);
  plain.crop_scale = 1.4f, plain.upright = 1, plain.scale = 1, plain.bgr = 1;
  plain.kind = CSM_TASK_VALUE;
  csm_task_info norm = plain;
  const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
  memcpy(norm.mean, mean, sizeof mean);
  memcpy(norm.std, std, sizeof std);
  csm_task *tp = NULL, *tn = NULL;
  CSM_ASSERT_OK(csm_task_load_custom(path, &plain, &tp));
  CSM_ASSERT_OK(csm_task_load_custom(path, &norm, &tn));
  const csm_task_info *pi = csm_task_get_info(tp), *ni = csm_task_get_info(tn);
  assert_int_equal(ni->size, 64); /* the model's own: [-1, 64, 64, 3] */
  assert_int_equal(ni->channels, 3);
  assert_true(csm_task_has_norm(ni));
  assert_false(csm_task_has_norm(pi));
  csm_image img = {90, 70, malloc(90 * 70 * 3)};
  for (int i = 0; i < 90 * 70 * 3; i++)
    img.rgb[i] = (unsigned char)((i * 2654435761u) >> 5);
  csm_face f;
  memset(&f, 0, sizeof f);
  f.box[0] = 20, f.box[1] = 15, f.box[2] = 40, f.box[3] = 38;
  f.roll_deg = -7;
  size_t per = csm_task_input_numel(ni);
  float *xp = malloc(per * sizeof(float)), *xn = malloc(per * sizeof(float));
  CSM_ASSERT_OK(csm_task_preprocess(pi, &img, &f, xp));
  CSM_ASSERT_OK(csm_task_preprocess(ni, &img, &f, xn));
  for (size_t k = 0; k < per; k++) {
    float want = (xp[k] - mean[k % 3]) / std[k % 3];
    assert_memory_equal(&xn[k], &want, sizeof want);
  }
  /* A black pixel: 0 before the norm, so -mean / std; the scorer's zero fill. */
  float black[3];
  csm_task_black(ni, black);
  csm_scorer s;
  CSM_ASSERT_OK(csm_scorer_class(tn, 0, &s));
  for (int c = 0; c < 3; c++) {
    float want = (0.0f - mean[c]) / std[c];
    assert_memory_equal(&black[c], &want, sizeof want);
    assert_memory_equal(&s.black[c], &want, sizeof want);
  }
  csm_scorer_free(&s);
  /* Errors: a std that is not positive. */
  csm_task_info bad = norm;
  bad.std[1] = 0;
  expect_load_error(path, &bad, CSM_EUSAGE, "std");
  bad = norm, bad.std[2] = -1;
  expect_load_error(path, &bad, CSM_EUSAGE, "std");
  free(xp);
  free(xn);
  csm_image_free(&img);
  csm_task_free(tp);
  csm_task_free(tn);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_same_as_zoo),    cmocka_unit_test(test_open_classes),
      cmocka_unit_test(test_scores_by_hand), cmocka_unit_test(test_batch1),
      cmocka_unit_test(test_errors),         cmocka_unit_test(test_mean_std),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
