/* csm_detect_run and csm_warp_run (include/csm/run.h) against the layers
 * below them: the faces a detect run reports are the detector's own (count
 * and boxes), a warp run writes one canonical picture per face with a mesh,
 * at the canonical face's size, and a missing image fails naming it with
 * nothing written. */
#include "csm_test.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char photo1[4096], photo3[4096], photo5[4096];

/* The detector's own faces of one photo. */
static void detector_faces(const char *path, csm_face **faces, int *n) {
  csm_detect_options opt = csm_detect_options_default();
  csm_face_detector *det;
  CSM_ASSERT_OK(csm_face_detector_create(csm_models_dir(), &opt, &det));
  csm_image img;
  CSM_ASSERT_OK(csm_image_load(path, &img));
  CSM_ASSERT_OK(csm_face_detect(det, &img, faces, n));
  csm_image_free(&img);
  csm_face_detector_free(det);
}

static void test_detect_run(void **state) {
  (void)state;
  csm_detect_run_options o;
  csm_detect_run_options_init(&o);
  const char *paths[2] = {photo1, photo3};
  csm_detect_report *r;
  CSM_ASSERT_OK(csm_detect_run(&o, paths, 2, &r));
  char *json;
  CSM_ASSERT_OK(csm_detect_report_json(r, &json));
  cJSON *root = cJSON_Parse(json);
  assert_non_null(root);
  cJSON *images = cJSON_GetObjectItem(root, "images");
  assert_int_equal(cJSON_GetArraySize(images), 2);
  for (int i = 0; i < 2; i++) {
    csm_face *want;
    int n;
    detector_faces(paths[i], &want, &n);
    cJSON *faces = cJSON_GetObjectItem(cJSON_GetArrayItem(images, i), "faces");
    assert_int_equal(cJSON_GetArraySize(faces), n);
    for (int k = 0; k < n; k++) {
      cJSON *box = cJSON_GetObjectItem(cJSON_GetArrayItem(faces, k), "box");
      for (int c = 0; c < 4; c++)
        assert_true(fabs(cJSON_GetArrayItem(box, c)->valuedouble - want[k].box[c]) < 1e-3);
    }
    free(want);
  }
  cJSON_Delete(root);
  free(json);
  csm_detect_report_free(r);
}

static void test_missing_image_writes_nothing(void **state) {
  (void)state;
  char tmpl[] = "/tmp/csm-detect-run.XXXXXX";
  const char *dir = mkdtemp(tmpl);
  assert_non_null(dir);
  char out[4200];
  snprintf(out, sizeof out, "%s/out", dir);
  csm_detect_run_options o;
  csm_detect_run_options_init(&o);
  o.out_dir = out;
  const char *paths[2] = {photo1, "/nonexistent/photo.jpg"};
  csm_detect_report *r = NULL;
  assert_int_not_equal(csm_detect_run(&o, paths, 2, &r), CSM_OK);
  assert_non_null(strstr(csm_last_error(), "/nonexistent/photo.jpg"));
  assert_null(strchr(csm_last_error(), '\n'));
  assert_null(r);
  assert_int_not_equal(access(out, F_OK), 0);
  rmdir(dir);
}

static void test_warp_run(void **state) {
  (void)state;
  char tmpl[] = "/tmp/csm-warp-run.XXXXXX";
  const char *dir = mkdtemp(tmpl);
  assert_non_null(dir);
  csm_warp_options o;
  csm_warp_options_init(&o);
  o.out_dir = dir;
  const char *paths[1] = {photo5};
  int written = 0;
  CSM_ASSERT_OK(csm_warp_run(&o, paths, 1, &written));
  csm_face *faces;
  int n, with_mesh = 0;
  detector_faces(photo5, &faces, &n);
  for (int k = 0; k < n; k++)
    with_mesh += faces[k].has_mesh;
  assert_true(with_mesh >= 1);
  assert_int_equal(written, with_mesh);
  csm_canon *canon;
  CSM_ASSERT_OK(csm_canon_default(&canon));
  for (int k = 1; k <= written; k++) {
    char path[4300];
    snprintf(path, sizeof path, "%s/sample5_face%d_warp.png", dir, k);
    csm_image img;
    CSM_ASSERT_OK(csm_image_load(path, &img));
    assert_int_equal(img.w, csm_canon_width(canon));
    assert_int_equal(img.h, csm_canon_height(canon));
    csm_image_free(&img);
    unlink(path);
  }
  csm_canon_free(canon);
  free(faces);
  rmdir(dir);
}

int main(void) {
  const char *samples = csm_test_env("CSM_SAMPLES_DIR", "data/samples");
  snprintf(photo1, sizeof photo1, "%s/sample1.jpg", samples);
  snprintf(photo3, sizeof photo3, "%s/sample3.jpg", samples);
  snprintf(photo5, sizeof photo5, "%s/sample5.jpg", samples);
  csm_set_threads(2);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_detect_run),
      cmocka_unit_test(test_missing_image_writes_nothing),
      cmocka_unit_test(test_warp_run),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
