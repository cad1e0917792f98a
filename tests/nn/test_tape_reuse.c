/* Tapes reuse the keep_all plan of the last freed tape (autodiff.c): the
 * reused plan must never be stale. Each tape's output is compared with
 * csm_model_run's under the same weights, bit for bit: after a plain reuse,
 * after the weights were randomized between tapes, after they were
 * randomized while a tape was alive (that tape must not hand its plan
 * back), after a restore, and across input shapes. Uses the installed
 * gender model; exits 77 without it. */
#include <stdlib.h>
#include <string.h>

#include "csm_test.h"

static csm_model *m;
static float x[3 * 64 * 64];

static csm_tensor input(int batch) {
  int64_t d[4] = {batch, 64, 64, 1};
  return (csm_tensor){CSM_F32, csm_shape_make(4, d), x, 0};
}

/* The tape's output equals a plain run's under the current weights. */
static void check_tape(csm_tape *t, int batch) {
  csm_tensor in = input(batch), out;
  CSM_ASSERT_OK(csm_model_run(m, &in, &out));
  const csm_tensor *v = csm_tape_value(t, csm_model_output_node(m, 0));
  assert_non_null(v);
  assert_int_equal(csm_tensor_numel(v), csm_tensor_numel(&out));
  assert_memory_equal(v->data, out.data, csm_tensor_numel(&out) * sizeof(float));
  csm_tensor_free(&out);
}

static csm_tape *tape(int batch) {
  csm_tensor in = input(batch);
  csm_tape *t = NULL;
  CSM_ASSERT_OK(csm_tape_forward(m, &in, &t));
  check_tape(t, batch);
  return t;
}

static void test_reuse(void **state) {
  (void)state;
  csm_weights *w = NULL;
  CSM_ASSERT_OK(csm_model_weights_save(m, &w));
  csm_tape_free(tape(2));
  csm_tape_free(tape(2)); /* the parked plan */
  CSM_ASSERT_OK(csm_model_randomize_layers(m, 3, 1));
  csm_tape_free(tape(2)); /* weights changed between tapes */
  csm_tape *alive = tape(2);
  CSM_ASSERT_OK(csm_model_randomize_layers(m, 6, 2)); /* ...while a tape is alive */
  csm_tape_free(alive);
  csm_tape_free(tape(2));
  CSM_ASSERT_OK(csm_model_weights_restore(m, w));
  csm_tape_free(tape(2));
  csm_tape_free(tape(3)); /* other shapes */
  csm_tape_free(tape(2));
  csm_tape *a = tape(2), *b = tape(2); /* two at once */
  csm_tape_free(a);
  csm_tape_free(b);
  csm_tape_free(tape(2));
  csm_weights_free(w);
}

int main(void) {
  char path[1024];
  if (!csm_test_model_path("gender", path, sizeof path)) return 77;
  if (csm_model_load(path, &m)) return 1;
  csm_test_fill_uniform(x, sizeof x / sizeof *x, 3, -1, 1);
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_reuse)};
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  csm_model_free(m);
  return rc;
}
