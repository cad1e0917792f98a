/* bench_models MODEL_JSON BATCH [THREADS]: images/s of csm on one model.
 * Prints one JSON line like bench/tfjs_wasm_bench.mjs, so bench/run.sh can
 * put both engines side by side. Input: fixed pseudo-random values in [0,1). */
#include <stdio.h>
#include <stdlib.h>

#include "csm/csm.h"

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: bench_models MODEL_JSON BATCH [THREADS]\n");
    return 1;
  }
  int batch = atoi(argv[2]);
  int threads = argc > 3 ? atoi(argv[3]) : 2;
  csm_set_threads(threads);
  csm_model *m;
  if (csm_model_load(argv[1], &m)) {
    fprintf(stderr, "bench_models: %s\n", csm_last_error());
    return 2;
  }
  csm_shape s = csm_model_input_shape(m, 0);
  s.d[0] = batch;
  for (int k = 1; k < s.rank; k++)
    if (s.d[k] < 0) s.d[k] = 1;
  csm_tensor in;
  int n_out = csm_model_num_outputs(m);
  csm_tensor *out = calloc((size_t)n_out, sizeof *out);
  if (csm_tensor_alloc(&in, CSM_F32, &s) || !out) return 3;
  uint32_t r = 12345;
  float *x = in.data;
  for (size_t i = 0; i < csm_tensor_numel(&in); i++) {
    r = r * 1664525u + 1013904223u;
    x[i] = (float)(r >> 8) / 16777216.0f;
  }
  /* Warm-up builds the plan and touches the arena. */
  for (int w = 0; w < 2; w++) {
    if (csm_model_run(m, &in, out)) {
      fprintf(stderr, "bench_models: %s\n", csm_last_error());
      return 2;
    }
    for (int o = 0; o < n_out; o++)
      csm_tensor_free(&out[o]);
  }
  int iters = 0;
  double t0 = csm_now(), t;
  do {
    csm_model_run(m, &in, out);
    for (int o = 0; o < n_out; o++)
      csm_tensor_free(&out[o]);
    iters++;
    t = csm_now() - t0;
  } while (t < 2.0 || iters < 3);
  printf("{\"model\": \"%s\", \"batch\": %d, \"images_per_s\": %.3f, \"backend\": \"csm\", "
         "\"threads\": %d}\n",
         argv[1], batch, iters * batch / t, threads);
  csm_tensor_free(&in);
  free(out);
  csm_model_free(m);
  return 0;
}
