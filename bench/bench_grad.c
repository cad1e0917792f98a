/* bench_grad [MODEL_JSON] [THREADS]: seconds of a gradient (csm_tape_forward
 * + csm_tape_backward from output 0, one-hot seed on its first value, to the
 * input) at batch 1 and 8, best of 3, and the ratio to a plain csm_model_run
 * of the same batch (also best of 3). Defaults: models/faceres.json and
 * CSM_THREADS (or 2) threads. Input: fixed pseudo-random values in [0,1). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csm/csm.h"

static int fail(const char *what) {
  fprintf(stderr, "bench_grad: %s: %s\n", what, csm_last_error());
  return 2;
}

static int bench_batch(csm_model *m, int batch) {
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
  const int out_node = csm_model_output_node(m, 0), in_node = csm_model_input_node(m, 0);
  double best_run = 1e30, best_fwd = 1e30, best_bwd = 1e30, best_grad = 1e30;
  /* One warm-up of each, then 3 timed rounds. */
  for (int it = 0; it < 4; it++) {
    double t0 = csm_now();
    if (csm_model_run(m, &in, out)) return fail("csm_model_run");
    double t1 = csm_now();
    for (int o = 0; o < n_out; o++)
      csm_tensor_free(&out[o]);
    csm_tape *t;
    double t2 = csm_now();
    if (csm_tape_forward(m, &in, &t)) return fail("csm_tape_forward");
    double t3 = csm_now();
    const csm_tensor *v = csm_tape_value(t, out_node);
    if (!v) return fail("csm_tape_value");
    csm_tensor seed, grad;
    if (csm_tensor_alloc(&seed, CSM_F32, &v->shape)) return 3;
    memset(seed.data, 0, csm_tensor_numel(v) * sizeof(float));
    ((float *)seed.data)[0] = 1.0f;
    double t4 = csm_now();
    if (csm_tape_backward(t, out_node, &seed, 1, &in_node, &grad)) return fail("csm_tape_backward");
    double t5 = csm_now();
    csm_tape_free(t);
    double gsum = 0.0;
    for (size_t i = 0; i < csm_tensor_numel(&grad); i++)
      gsum += ((const float *)grad.data)[i];
    csm_tensor_free(&grad);
    csm_tensor_free(&seed);
    if (it == 0) {
      printf("batch %d: gradient sum %.9g\n", batch, gsum);
      continue;
    }
    if (t1 - t0 < best_run) best_run = t1 - t0;
    if (t3 - t2 < best_fwd) best_fwd = t3 - t2;
    if (t5 - t4 < best_bwd) best_bwd = t5 - t4;
    if ((t3 - t2) + (t5 - t4) < best_grad) best_grad = (t3 - t2) + (t5 - t4);
  }
  printf("batch %d: run %.4f s | tape_forward %.4f s (%.2fx) | tape_backward %.4f s (%.2fx) | "
         "gradient %.4f s (%.2fx run)\n",
         batch, best_run, best_fwd, best_fwd / best_run, best_bwd, best_bwd / best_run, best_grad,
         best_grad / best_run);
  csm_tensor_free(&in);
  free(out);
  return 0;
}

int main(int argc, char **argv) {
  const char *path = argc > 1 ? argv[1] : "models/faceres.json";
  const char *env = getenv("CSM_THREADS");
  int threads = argc > 2 ? atoi(argv[2]) : env ? atoi(env) : 2;
  if (threads < 1) threads = 1;
  csm_set_threads(threads);
  csm_model *m;
  if (csm_model_load(path, &m)) return fail(path);
  printf("%s, %d thread(s)\n", path, threads);
  int st = bench_batch(m, 1);
  if (!st) st = bench_batch(m, 8);
  csm_model_free(m);
  return st;
}
