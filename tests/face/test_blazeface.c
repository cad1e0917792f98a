/* BlazeFace decoding on hand-made data: anchors, box/keypoint decoding,
 * weighted NMS, roll, preprocessing; and the detector on a real photo when
 * the models are installed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csm_test.h"
#include "face/blazeface.h"

static void test_anchor_counts(void **state) {
  (void)state;
  /* 128: 16x16 cells x 2 + 8x8 x 6; 256 (back): strides 16 and 32, same. */
  assert_int_equal(csm_bf_anchors(128, NULL), 896);
  assert_int_equal(csm_bf_anchors(256, NULL), 896);
  float *a = malloc(896 * 2 * sizeof(float));
  assert_int_equal(csm_bf_anchors(128, a), 896);
  /* First anchor: centre of cell (0, 0) of stride 8, twice. */
  assert_float_equal(a[0], 4, 0);
  assert_float_equal(a[1], 4, 0);
  assert_float_equal(a[2], 4, 0);
  /* Anchor 2: next cell in x. */
  assert_float_equal(a[4], 12, 0);
  assert_float_equal(a[5], 4, 0);
  /* Anchor 512: first of the stride-16 map, 6 per cell. */
  assert_float_equal(a[2 * 512], 8, 0);
  assert_float_equal(a[2 * 512 + 1], 8, 0);
  assert_float_equal(a[2 * 895], 120, 0);
  assert_float_equal(a[2 * 895 + 1], 120, 0);
  csm_bf_anchors(256, a);
  assert_float_equal(a[2 * 511], 248, 0);
  assert_float_equal(a[2 * 512], 16, 0);
  free(a);
}

static void test_decode_one_anchor(void **state) {
  (void)state;
  enum { N = 896 };
  float *anchors = malloc(N * 2 * sizeof(float));
  float *raw = calloc(N * CSM_BF_VALUES, sizeof(float));
  csm_bf_det *out = malloc(N * sizeof *out);
  csm_bf_anchors(128, anchors);
  for (int i = 0; i < N; i++)
    raw[i * CSM_BF_VALUES] = -10; /* score ~ 4.5e-5 */
  /* Anchor 600 (stride 16 map) with centre (anchors[1200], anchors[1201]). */
  const int k = 600;
  float ax = anchors[2 * k], ay = anchors[2 * k + 1];
  float *v = raw + k * CSM_BF_VALUES;
  v[0] = 2.0f;           /* sigmoid(2) = 0.8808 */
  v[1] = 3, v[2] = -2;   /* centre offset */
  v[3] = 40, v[4] = 30;  /* size */
  v[5] = -10, v[6] = -5; /* right eye */
  v[7] = 10, v[8] = -5;  /* left eye */
  int n = csm_bf_decode(raw, anchors, N, 0.5f, out);
  assert_int_equal(n, 1);
  assert_float_equal(out[0].score, 1 / (1 + exp(-2.0)), 1e-6);
  assert_float_equal(out[0].box[0], ax + 3 - 20, 1e-4);
  assert_float_equal(out[0].box[1], ay - 2 - 15, 1e-4);
  assert_float_equal(out[0].box[2], ax + 3 + 20, 1e-4);
  assert_float_equal(out[0].box[3], ay - 2 + 15, 1e-4);
  assert_float_equal(out[0].kp[0][0], ax - 10, 1e-4);
  assert_float_equal(out[0].kp[1][1], ay - 5, 1e-4);
  /* The threshold is strict, and NaN logits never pass. */
  assert_int_equal(csm_bf_decode(raw, anchors, N, 0.9f, out), 0);
  v[0] = NAN;
  assert_int_equal(csm_bf_decode(raw, anchors, N, 0.0f, out), N - 1);
  free(anchors);
  free(raw);
  free(out);
}

static csm_bf_det det(float x1, float y1, float x2, float y2, float score) {
  csm_bf_det d;
  memset(&d, 0, sizeof d);
  d.box[0] = x1, d.box[1] = y1, d.box[2] = x2, d.box[3] = y2;
  d.score = score;
  for (int k = 0; k < CSM_KP_COUNT; k++)
    d.kp[k][0] = x1, d.kp[k][1] = y1;
  return d;
}

static void test_iou(void **state) {
  (void)state;
  float a[4] = {0, 0, 10, 10}, b[4] = {5, 0, 15, 10}, c[4] = {20, 20, 30, 30};
  assert_float_equal(csm_bf_iou(a, a), 1, 1e-6);
  assert_float_equal(csm_bf_iou(a, b), 50.0 / 150.0, 1e-6);
  assert_float_equal(csm_bf_iou(a, c), 0, 0);
}

static void test_weighted_nms(void **state) {
  (void)state;
  csm_bf_det d[6];
  /* Face A: two near-duplicates (IoU 0.91, averaged) and a shifted box (IoU
   * 0.62: suppressed, not averaged); face B: two near-duplicates (IoU 0.90);
   * a weak box overlapping A a little (IoU 0.05: kept). Out of order. */
  d[0] = det(100, 100, 140, 140, 0.6f);
  d[1] = det(0, 0, 10, 10, 0.9f);
  d[2] = det(101, 101, 141, 141, 0.9f);
  d[3] = det(130, 130, 170, 170, 0.55f);
  d[4] = det(0.5f, 0, 10.5f, 10, 0.3f);
  d[5] = det(106, 106, 146, 146, 0.7f);
  int n = csm_bf_weighted_nms(d, 6, 0.3f, 10);
  assert_int_equal(n, 3);
  /* The two 0.9 clusters first, in either order (qsort is not stable). */
  int a = d[0].box[0] > 50 ? 0 : 1, b = 1 - a;
  assert_float_equal(d[a].box[0], (101 * 0.9 + 100 * 0.6) / 1.5, 1e-4);
  assert_float_equal(d[a].box[3], (141 * 0.9 + 140 * 0.6) / 1.5, 1e-4);
  assert_float_equal(d[a].kp[2][1], (101 * 0.9 + 100 * 0.6) / 1.5, 1e-4);
  assert_float_equal(d[a].score, 0.9f, 0);
  assert_float_equal(d[b].box[0], 0.5 * 0.3 / 1.2, 1e-5);
  assert_float_equal(d[b].box[2], (10 * 0.9 + 10.5 * 0.3) / 1.2, 1e-5);
  assert_float_equal(d[2].box[0], 130, 0);
  assert_float_equal(d[2].score, 0.55f, 0);
  /* Hard suppression at a low threshold: the weak box goes too. */
  d[0] = det(100, 100, 140, 140, 0.9f);
  d[1] = det(130, 130, 170, 170, 0.5f);
  assert_int_equal(csm_bf_weighted_nms(d, 2, 0.02f, 10), 1);
  assert_float_equal(d[0].box[0], 100, 0);
  /* max_out caps the result; nothing in, nothing out. */
  d[0] = det(0, 0, 10, 10, 0.9f);
  d[1] = det(50, 50, 60, 60, 0.8f);
  assert_int_equal(csm_bf_weighted_nms(d, 2, 0.3f, 1), 1);
  assert_float_equal(d[0].box[0], 0, 0);
  assert_int_equal(csm_bf_weighted_nms(d, 0, 0.3f, 5), 0);
}

static void test_roll(void **state) {
  (void)state;
  float r[2] = {100, 100}, l[2] = {140, 100};
  assert_float_equal(csm_bf_roll_deg(r, l), 0, 1e-6);
  /* Left eye lower in the image (y down): head tilted clockwise, +45. */
  float l2[2] = {140, 140};
  assert_float_equal(csm_bf_roll_deg(r, l2), 45, 1e-4);
  float l3[2] = {140, 60};
  assert_float_equal(csm_bf_roll_deg(r, l3), -45, 1e-4);
  /* Upside down. */
  float l4[2] = {60, 100};
  assert_float_equal(fabs(csm_bf_roll_deg(r, l4)), 180, 1e-4);
}

static void test_preprocess(void **state) {
  (void)state;
  /* 4x2 image to 2x2: TF.js legacy resize reads source (0, 0) and (2, 0)
   * for the first row; values map to [-1, 1]. */
  unsigned char px[4 * 2 * 3];
  for (int i = 0; i < 8; i++)
    px[3 * i] = px[3 * i + 1] = px[3 * i + 2] = (unsigned char)(i * 30);
  csm_image img = {4, 2, px};
  float out[2 * 2 * 3];
  csm_bf_preprocess(&img, 2, out);
  assert_float_equal(out[0], 0 / 127.5 - 1, 1e-6);
  assert_float_equal(out[3], 60 / 127.5 - 1, 1e-6);  /* source x = 2 */
  assert_float_equal(out[6], 120 / 127.5 - 1, 1e-6); /* row 1: source y = 1 */
  assert_float_equal(out[9], 180 / 127.5 - 1, 1e-6);
}

/* Real models on a sample photo: three faces (the TF.js oracle test in
 * tests/face/detect.test.sh compares them with human's). */
static void test_detect_sample(void **state) {
  (void)state;
  const char *models = csm_test_env("CSM_MODELS_DIR", NULL);
  const char *samples = csm_test_env("CSM_SAMPLES_DIR", NULL);
  char path[4096], model[4096];
  if (!models || !samples || !csm_test_model_path("blazeface-back", model, sizeof model)) {
    skip();
    return;
  }
  snprintf(path, sizeof path, "%s/sample1.jpg", samples);
  csm_image img;
  if (csm_image_load(path, &img) != CSM_OK) {
    skip();
    return;
  }
  csm_detect_options o = csm_detect_options_default();
  o.mesh = 0;
  o.detector = CSM_DETECTOR_BACK;
  csm_face_detector *d;
  CSM_ASSERT_OK(csm_face_detector_create(models, &o, &d));
  csm_face *f;
  int n;
  CSM_ASSERT_OK(csm_face_detect(d, &img, &f, &n));
  assert_int_equal(n, 3);
  for (int i = 0; i < n; i++) {
    assert_true(f[i].score > 0.5f && f[i].score <= 1);
    assert_true(f[i].box[2] > 50 && f[i].box[3] > 50);
    if (i) assert_true(f[i].box[2] * f[i].box[3] <= f[i - 1].box[2] * f[i - 1].box[3]);
    /* Eyes inside the box, right eye (subject's) left of the left eye. */
    for (int k = 0; k < 2; k++) {
      assert_true(f[i].keypoints[k][0] > f[i].box[0]);
      assert_true(f[i].keypoints[k][0] < f[i].box[0] + f[i].box[2]);
    }
  }
  free(f);
  /* Bad options are usage errors. */
  o.min_score = 1.5f;
  csm_face_detector *bad = NULL;
  assert_int_equal(csm_face_detector_create(models, &o, &bad), CSM_EUSAGE);
  assert_null(bad);
  csm_face_detector_free(d);
  csm_image_free(&img);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_anchor_counts), cmocka_unit_test(test_decode_one_anchor),
      cmocka_unit_test(test_iou),           cmocka_unit_test(test_weighted_nms),
      cmocka_unit_test(test_roll),          cmocka_unit_test(test_preprocess),
      cmocka_unit_test(test_detect_sample),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
