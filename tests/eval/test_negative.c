/* Eq. 9-10 (csm_eval_normalize, csm_eval_negative_image) on small inputs
 * whose results are worked out by hand in the comments. */
#include "csm_test.h"

#include <math.h>

static void test_normalize_constant_map(void **state) {
  (void)state;
  const float map[4] = {3, 3, 3, 3};
  float out[4] = {9, 9, 9, 9};
  /* A constant map normalizes to all 0 and stays 0 whatever the target. */
  const float zero[4] = {0, 0, 0, 0};
  csm_eval_normalize(map, 4, 2.0, out);
  csm_test_assert_close(out, zero, 4, 0, 0);
  csm_eval_normalize(map, 4, -1.0, out);
  csm_test_assert_close(out, zero, 4, 0, 0);
}

static void test_normalize_minmax_only(void **state) {
  (void)state;
  /* min 1, max 5: (x - 1) / 4 -> 0, 0.25, 0.5, 1 (sum 1.75). */
  const float map[4] = {1, 2, 3, 5};
  const float want[4] = {0, 0.25f, 0.5f, 1};
  float out[4];
  csm_eval_normalize(map, 4, -1.0, out);
  csm_test_assert_close(out, want, 4, 1e-7f, 0);
  csm_eval_normalize(map, 4, -0.001, out);
  csm_test_assert_close(out, want, 4, 1e-7f, 0);
  /* A target equal to the normalized sum changes nothing. */
  csm_eval_normalize(map, 4, 1.75, out);
  csm_test_assert_close(out, want, 4, 1e-7f, 0);
}

static void test_normalize_target_sum(void **state) {
  (void)state;
  const float map[4] = {-3, -1, 1, 5}; /* (x + 3) / 8: 0, 0.25, 0.5, 1 */
  float out[4];
  /* Target 0.875 = half of 1.75: every value halves, sum reached. */
  csm_eval_normalize(map, 4, 0.875, out);
  const float half[4] = {0, 0.125f, 0.25f, 0.5f};
  csm_test_assert_close(out, half, 4, 1e-7f, 0);
  assert_float_equal(out[0] + out[1] + out[2] + out[3], 0.875, 1e-6);
  /* Target 0: all 0. */
  csm_eval_normalize(map, 4, 0.0, out);
  const float zero[4] = {0, 0, 0, 0};
  csm_test_assert_close(out, zero, 4, 0, 0);
}

static void test_normalize_clips_at_one(void **state) {
  (void)state;
  const float map[4] = {1, 2, 3, 5};
  float out[4];
  /* Target 3.5 = 2 x 1.75: 0, 0.5, 1, 2 -> clipped to 0, 0.5, 1, 1 (sum
   * 2.5, below the target). */
  csm_eval_normalize(map, 4, 3.5, out);
  const float want[4] = {0, 0.5f, 1, 1};
  csm_test_assert_close(out, want, 4, 1e-7f, 0);
  /* A huge target: everything above the minimum saturates. */
  csm_eval_normalize(map, 4, 1e6, out);
  const float sat[4] = {0, 1, 1, 1};
  csm_test_assert_close(out, sat, 4, 0, 0);
}

static void test_negative_image_per_channel(void **state) {
  (void)state;
  /* 2 x 2 pixels, 3 channels, non-zero black per channel. */
  const float black[3] = {-1.0f, 0.5f, 2.0f};
  const float h[4] = {0.0f, 1.0f, 0.5f, 0.25f};
  const float in[12] = {0.1f, 0.2f,  0.3f,      /* h 0: unchanged */
                        7.0f, 8.0f,  9.0f,      /* h 1: black */
                        1.0f, 1.5f,  0.0f,      /* h 0.5: halfway to black */
                        3.0f, -0.5f, 6.0f};     /* h 0.25: black + 0.75 (x - black) */
  const float want[12] = {0.1f,  0.2f,   0.3f,  /**/
                          -1.0f, 0.5f,   2.0f,  /* */
                          0.0f,  1.0f,   1.0f,  /* (1 + -1) / 2, (1.5 + .5) / 2, (0 + 2) / 2 */
                          2.0f,  -0.25f, 5.0f}; /* -1 + 3, .5 - .75, 2 + 3 */
  float out[12];
  csm_eval_negative_image(in, 2, 3, black, h, out);
  csm_test_assert_close(out, want, 12, 1e-6f, 0);
  /* One channel: black 0.25, h 0.5 everywhere. */
  const float g_in[4] = {1, 0, 0.25f, -1};
  const float g_h[4] = {0.5f, 0.5f, 0.5f, 0.5f};
  const float g_black[1] = {0.25f};
  const float g_want[4] = {0.625f, 0.125f, 0.25f, -0.375f};
  csm_eval_negative_image(g_in, 2, 1, g_black, g_h, out);
  csm_test_assert_close(out, g_want, 4, 1e-7f, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_normalize_constant_map),
      cmocka_unit_test(test_normalize_minmax_only),
      cmocka_unit_test(test_normalize_target_sum),
      cmocka_unit_test(test_normalize_clips_at_one),
      cmocka_unit_test(test_negative_image_per_channel),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
