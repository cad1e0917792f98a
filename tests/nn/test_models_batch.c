/* Every required model: a batch of N gives exactly (bit for bit) the results
 * of N single runs, with 2 threads (the batch is split between them, unevenly
 * for N = 5) and with 1 thread; and the model reports sane sizes and costs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csm_test.h"

static const char *const models[] = {"blazeface",
                                     "blazeface-front",
                                     "blazeface-back",
                                     "facemesh",
                                     "facemesh-detection-short",
                                     "facemesh-detection-full",
                                     "iris",
                                     "emotion",
                                     "gender",
                                     "age",
                                     "gender-ssrnet-imdb",
                                     "gear",
                                     "faceres",
                                     "faceres-deep",
                                     "mobilefacenet",
                                     "mobileface",
                                     "antispoof",
                                     "liveness"};

enum { BATCH = 5 };

static void check_model(const char *name) {
  char path[1024];
  if (!csm_test_model_path(name, path, sizeof path)) fail_msg("%s: not installed", name);
  csm_model *m;
  CSM_ASSERT_OK(csm_model_load(path, &m));
  double flops = 0;
  CSM_ASSERT_OK(csm_model_flops(m, &flops));
  assert_true(flops > 1e5);
  assert_true(csm_model_params(m) > 1000);

  csm_shape s = csm_model_input_shape(m, 0);
  s.d[0] = BATCH;
  csm_tensor batch;
  CSM_ASSERT_OK(csm_tensor_alloc(&batch, CSM_F32, &s));
  size_t per = csm_tensor_numel(&batch) / BATCH;
  csm_test_fill_uniform(batch.data, per * BATCH, 7, 0.0f, 1.0f);

  int n_out = csm_model_num_outputs(m);
  csm_tensor *whole = calloc((size_t)n_out, sizeof *whole);
  csm_tensor *single = calloc((size_t)n_out, sizeof *single);
  csm_set_threads(2);
  CSM_ASSERT_OK(csm_model_run(m, &batch, whole));
  csm_set_threads(1);
  for (int b = 0; b < BATCH; b++) {
    csm_shape one = s;
    one.d[0] = 1;
    csm_tensor item = csm_tensor_view(&batch, &one);
    item.data = (float *)batch.data + (size_t)b * per;
    CSM_ASSERT_OK(csm_model_run(m, &item, single));
    for (int o = 0; o < n_out; o++) {
      assert_int_equal(whole[o].shape.d[0], BATCH);
      size_t n = csm_tensor_numel(&single[o]);
      assert_int_equal(n * BATCH, csm_tensor_numel(&whole[o]));
      if (memcmp((float *)whole[o].data + (size_t)b * n, single[o].data, n * 4) != 0)
        fail_msg("%s output %d item %d differs between batch and single runs", name, o, b);
      csm_tensor_free(&single[o]);
    }
  }
  for (int o = 0; o < n_out; o++)
    csm_tensor_free(&whole[o]);
  free(whole);
  free(single);
  csm_tensor_free(&batch);
  csm_model_free(m);
}

static void test_batch_equals_single(void **state) { check_model((const char *)*state); }

int main(void) {
  char path[1024];
  if (!csm_test_model_path("emotion", path, sizeof path)) {
    fprintf(stderr, "models not installed (run make setup): skipped\n");
    return CSM_TEST_SKIP;
  }
  csm_set_threads(2);
  /* One test per model, so that one failure does not hide the others. */
  enum { N = sizeof models / sizeof *models };
  struct CMUnitTest tests[N];
  for (int i = 0; i < N; i++)
    tests[i] =
        (struct CMUnitTest){models[i], test_batch_equals_single, NULL, NULL, (void *)models[i]};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
