/* Eq. 11-13 on hand-made confidences whose results are worked out here. */
#include "csm_test.h"

#include <math.h>

static void test_average_drop_and_increase(void **state) {
  (void)state;
  /* Four images: a drop of half, no change, an increase (counts 0 in the
   * drop, 1 in the increase), a drop to zero. */
  float y[4] = {0.8f, 0.5f, 0.4f, 0.9f};
  float o[4] = {0.4f, 0.5f, 0.6f, 0.0f};
  double drop, inc;
  CSM_ASSERT_OK(csm_eval_average_drop(y, o, 4, &drop));
  CSM_ASSERT_OK(csm_eval_increase(y, o, 4, &inc));
  /* (0.5 + 0 + 0 + 1) / 4 = 37.5 %; one increase of four = 25 %. */
  assert_float_equal(drop, 37.5, 1e-5);
  assert_float_equal(inc, 25.0, 1e-12);
  float bad_y[1] = {0};
  assert_int_equal(csm_eval_average_drop(bad_y, o, 1, &drop), CSM_EINPUT);
  float nan_o[1] = {NAN};
  assert_int_equal(csm_eval_increase(y, nan_o, 1, &inc), CSM_EINPUT);
  assert_int_equal(csm_eval_increase(y, o, 0, &inc), CSM_EUSAGE);
}

static void test_win_with_ties(void **state) {
  (void)state;
  /* Three methods, four images: method 0 lowest twice, method 2 once, and
   * one three-way tie that counts for all. */
  float o[12] = {0.1f, 0.2f, 0.3f,  /* 0 */
                 0.5f, 0.4f, 0.2f,  /* 2 */
                 0.0f, 0.1f, 0.1f,  /* 0 */
                 0.3f, 0.3f, 0.3f}; /* tie */
  double win[3];
  CSM_ASSERT_OK(csm_eval_win(o, 4, 3, win));
  assert_float_equal(win[0], 75.0, 1e-12);
  assert_float_equal(win[1], 25.0, 1e-12);
  assert_float_equal(win[2], 50.0, 1e-12);
  o[4] = INFINITY;
  assert_int_equal(csm_eval_win(o, 4, 3, win), CSM_EINPUT);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_average_drop_and_increase),
      cmocka_unit_test(test_win_with_ties),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
