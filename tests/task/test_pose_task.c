/* The pose task: the 9 soft head-pose bins against hand-computed values,
 * and its labels on the sample photos against the pose of the detector's
 * own (refined) FaceMesh fit. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csm_test.h"

/* Hand computation, T = 10, tau = 3, sigmoid(x) = 1 / (1 + e^-x):
 * yaw = pitch = 0: p_low = p_high = 1 / (1 + e^(10/3)) = 1 / 29.0316 =
 * 0.0344452, p_mid = 1 - 2 * 0.0344452 = 0.9311096. Corners 0.0344452^2 =
 * 0.0011865, edges 0.0344452 * 0.9311096 = 0.0320722, frontal 0.9311096^2 =
 * 0.8669651. */
static void test_bins_frontal(void **state) {
  (void)state;
  float p[9];
  csm_pose_bins(0, 0, p);
  const float want[9] = {0.0011865f, 0.0320722f, 0.0011865f, 0.0320722f, 0.8669651f,
                         0.0320722f, 0.0011865f, 0.0320722f, 0.0011865f};
  csm_test_assert_close(p, want, 9, 2e-6f, 0);
}

/* yaw = -25 (turned towards image left), pitch = 15 (chin up):
 * yaw: p_low = sigmoid(15/3) = sigmoid(5) = 0.9933071, p_high =
 * sigmoid(-35/3) = 8.57e-6, p_mid = 0.0066843; pitch: p_high = sigmoid(5/3)
 * = 0.8411309, p_low = sigmoid(-25/3) = 0.0002403, p_mid = 0.1586288.
 * top-left = 0.8411309 * 0.9933071 = 0.8355013; left = 0.1586288 *
 * 0.9933071 = 0.1575671; top = 0.8411309 * 0.0066843 = 0.0056224. */
static void test_bins_turned(void **state) {
  (void)state;
  float p[9];
  csm_pose_bins(-25, 15, p);
  float got[3] = {p[0], p[3], p[1]}, want[3] = {0.8355013f, 0.1575671f, 0.0056224f};
  csm_test_assert_close(got, want, 3, 2e-6f, 0);
  /* On an edge: yaw = 10 exactly is half right (sigmoid(0) = 0.5), and
   * p_low = sigmoid(-20/3) = 0.0012706, so p_mid = 0.4987294; pitch = -30:
   * p_low = sigmoid(20/3) = 0.9987294, so bottom-right = 0.4993647. */
  csm_pose_bins(10, -30, p);
  float got2[2] = {p[8], p[7]}, want2[2] = {0.4993647f, 0.9987294f * 0.4987294f};
  csm_test_assert_close(got2, want2, 2, 2e-6f, 0);
}

/* Sums to 1, mirror symmetry (yaw -> -yaw swaps the left and right
 * columns), and the argmax is the hard bin away from the edges. */
static void test_bins_properties(void **state) {
  (void)state;
  for (float yaw = -80; yaw <= 80; yaw += 3.5f)
    for (float pitch = -60; pitch <= 60; pitch += 4.5f) {
      float p[9], q[9];
      csm_pose_bins(yaw, pitch, p);
      csm_pose_bins(-yaw, pitch, q);
      double s = 0;
      for (int k = 0; k < 9; k++) {
        assert_true(p[k] >= 0 && p[k] <= 1);
        s += p[k];
        int mirror = 3 * (k / 3) + (2 - k % 3);
        assert_true(fabsf(p[k] - q[mirror]) < 1e-6f);
      }
      assert_true(fabs(s - 1) < 1e-5);
      if (fabsf(fabsf(yaw) - 10) < 2 || fabsf(fabsf(pitch) - 10) < 2) continue;
      int col = yaw < -10 ? 0 : yaw > 10 ? 2 : 1, row = pitch > 10 ? 0 : pitch < -10 ? 2 : 1;
      int best = 0;
      for (int k = 1; k < 9; k++)
        if (p[k] > p[best]) best = k;
      assert_int_equal(best, 3 * row + col);
    }
}

/* The zoo entry: labels in bin order, FaceMesh's output. */
static void test_zoo_entry(void **state) {
  (void)state;
  const csm_task_info *info = csm_task_find("pose");
  assert_non_null(info);
  assert_int_equal(info->kind, CSM_TASK_POSE);
  assert_int_equal(info->n_classes, 9);
  const char *want[9] = {"top-left", "top",         "top-right", "left",        "frontal",
                         "right",    "bottom-left", "bottom",    "bottom-right"};
  for (int k = 0; k < 9; k++)
    assert_string_equal(info->labels[k], want[k]);
  assert_int_equal(info->size, 192);
  /* Raw scores: a wrong count is an error. */
  float raw[10] = {0};
  csm_task_result r;
  assert_int_equal(csm_task_scores(info, raw, 10, &r), CSM_EINPUT);
}

/* Every face of the sample photos: the task's bin row and column agree
 * with the hard bins of the detector's pose (its refined mesh on a
 * differently framed crop, so angles differ by a few degrees: axes within
 * 3 degrees of an edge are not compared). The confidence of the class
 * scorer for the predicted bin is the run's confidence. */
static void test_samples(void **state) {
  (void)state;
  char path[4096];
  if (!csm_test_model_path("facemesh", path, sizeof path)) {
    skip();
    return;
  }
  const char *models = csm_test_env("CSM_MODELS_DIR", "models");
  const char *samples = csm_test_env("CSM_SAMPLES_DIR", "data/samples");
  csm_detect_options opt = csm_detect_options_default();
  csm_face_detector *det = NULL;
  CSM_ASSERT_OK(csm_face_detector_create(models, &opt, &det));
  csm_task *t = NULL;
  CSM_ASSERT_OK(csm_task_load(models, "pose", &t));
  const csm_task_info *info = csm_task_get_info(t);
  size_t per = csm_task_input_numel(info);
  float *x = malloc(per * sizeof(float));
  int compared = 0, agree = 0, faces = 0, frontal_seen = 0, turned_seen = 0;
  for (int s = 1; s <= 6; s++) {
    snprintf(path, sizeof path, "%s/sample%d.jpg", samples, s);
    csm_image img;
    if (csm_image_load(path, &img)) continue;
    csm_face *f = NULL;
    int n = 0;
    CSM_ASSERT_OK(csm_face_detect(det, &img, &f, &n));
    for (int i = 0; i < n; i++) {
      if (!f[i].has_mesh) continue;
      faces++;
      CSM_ASSERT_OK(csm_task_preprocess(info, &img, &f[i], x));
      csm_task_result r;
      CSM_ASSERT_OK(csm_task_run(t, x, 1, &r));
      csm_scorer sc;
      CSM_ASSERT_OK(csm_scorer_class(t, r.label, &sc));
      float conf;
      CSM_ASSERT_OK(sc.score(sc.ctx, x, 1, &conf));
      assert_true(conf == r.confidence);
      csm_scorer_free(&sc);
      float yaw = f[i].yaw_deg, pitch = f[i].pitch_deg;
      int col = r.label % 3, row = r.label / 3;
      if (fabsf(fabsf(yaw) - 10) >= 3) {
        int want = yaw < -10 ? 0 : yaw > 10 ? 2 : 1;
        compared++, agree += col == want;
        if (col != want) print_message("%s face %d: yaw %.1f, task column %d\n", path, i, yaw, col);
      }
      if (fabsf(fabsf(pitch) - 10) >= 3) {
        int want = pitch > 10 ? 0 : pitch < -10 ? 2 : 1;
        compared++, agree += row == want;
        if (row != want)
          print_message("%s face %d: pitch %.1f, task row %d\n", path, i, pitch, row);
      }
      if (fabsf(yaw) < 5 && fabsf(pitch) < 5) {
        frontal_seen++;
        assert_string_equal(info->labels[r.label], "frontal");
      }
      if (fabsf(yaw) > 20) {
        turned_seen++;
        assert_int_equal(col, yaw < 0 ? 0 : 2);
      }
    }
    free(f);
    csm_image_free(&img);
  }
  print_message("pose on samples: %d faces, %d/%d axis bins agree with the detector's pose\n",
                faces, agree, compared);
  assert_true(faces >= 15);
  assert_true(frontal_seen >= 1 && turned_seen >= 2);
  assert_true(compared >= 20);
  assert_int_equal(agree, compared);
  free(x);
  csm_task_free(t);
  csm_face_detector_free(det);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bins_frontal),    cmocka_unit_test(test_bins_turned),
      cmocka_unit_test(test_bins_properties), cmocka_unit_test(test_zoo_entry),
      cmocka_unit_test(test_samples),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
