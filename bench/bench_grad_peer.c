/* bench_grad_peer MODEL_JSON INPUT.npy [--grad K:J] [--threads N] [--min-time S] [--pin]
 *                 [--out GRAD.npy]
 *
 * Seconds per input gradient of csm on one model, the work `csm infer --grad
 * K:J` does (default 0:0) without the process start-up, model load and file
 * output: csm_tape_forward on the whole INPUT batch (item by item for models
 * whose graph fixes the batch at 1), a one-hot seed at value J of output K for
 * every batch item, csm_tape_backward to the input. One warm-up gradient, then
 * whole gradients until at least S seconds (default 2) and 3 gradients. Prints
 * one JSON line like bench/tfjs_grad_bench.mjs:
 *   {model, batch, input, seconds_per_grad, forward_s, backward_s, grads,
 *    threads, pinned, team, backend: "csm"}
 * forward_s and backward_s split the mean time of one gradient. --out writes
 * the warm-up's gradient (to check it against the peer's). --pin turns off
 * OpenMP's dynamic adjustment (see bench/bench_occlusion.c), so csm runs on
 * N threads like TF.js-wasm's fixed pool. bench/grad.sh runs it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "csm/csm.h"

static int team_size(void) {
  int n = 1;
#ifdef _OPENMP
#pragma omp parallel
  {
#pragma omp single
    n = omp_get_num_threads();
  }
#endif
  return n;
}

typedef struct grad_job {
  csm_model *m;
  const csm_tensor *input;
  int output, value, from, wrt;
  double t_fwd, t_bwd;
} grad_job;

/* One gradient into grad (allocated by the caller, the input's shape). */
static csm_status gradient(grad_job *j, csm_tensor *grad) {
  const csm_tensor *in = j->input;
  int64_t batch = in->shape.d[0];
  int64_t steps = csm_model_fixed_batch_one(j->m) ? batch : 1;
  int64_t per_step = batch / steps;
  size_t in_step = csm_tensor_numel(in) / (size_t)steps;
  csm_status st = CSM_OK;
  for (int64_t s = 0; s < steps && !st; s++) {
    csm_shape sh = in->shape;
    sh.d[0] = per_step;
    csm_tensor x = {CSM_F32, sh, (float *)in->data + (size_t)s * in_step, 0};
    csm_tape *tape = NULL;
    csm_tensor seed = {0}, g = {0};
    double t0 = csm_now();
    if ((st = csm_tape_forward(j->m, &x, &tape))) break;
    double t1 = csm_now();
    const csm_tensor *y = csm_tape_value(tape, j->from);
    size_t per = y ? csm_tensor_numel(y) / (size_t)per_step : 0;
    if (!y || y->dtype != CSM_F32 || (size_t)j->value >= per) {
      st = csm_fail(CSM_EUSAGE, "no float value %d in output %d", j->value, j->output);
    } else if (!(st = csm_tensor_alloc(&seed, CSM_F32, &y->shape))) {
      for (int64_t b = 0; b < per_step; b++)
        ((float *)seed.data)[(size_t)b * per + (size_t)j->value] = 1.0f;
      if (!(st = csm_tape_backward(tape, j->from, &seed, 1, &j->wrt, &g)))
        memcpy((float *)grad->data + (size_t)s * in_step, g.data, in_step * sizeof(float));
    }
    csm_tensor_free(&g);
    csm_tensor_free(&seed);
    csm_tape_free(tape);
    double t2 = csm_now();
    j->t_fwd += t1 - t0;
    j->t_bwd += t2 - t1;
  }
  return st;
}

int main(int argc, char **argv) {
  const char *model_path = NULL, *input_path = NULL, *out_path = NULL;
  int threads = 2, pin = 0, output = 0, value = 0;
  double min_time = 2.0;
  for (int i = 1; i < argc; i++) {
    const char *o = argv[i];
    int has = i + 1 < argc;
    if (!strcmp(o, "--threads") && has)
      threads = atoi(argv[++i]);
    else if (!strcmp(o, "--min-time") && has)
      min_time = atof(argv[++i]);
    else if (!strcmp(o, "--out") && has)
      out_path = argv[++i];
    else if (!strcmp(o, "--pin"))
      pin = 1;
    else if (!strcmp(o, "--grad") && has) {
      if (sscanf(argv[++i], "%d:%d", &output, &value) != 2 || output < 0 || value < 0) {
        fprintf(stderr, "bench_grad_peer: --grad takes K:J\n");
        return 1;
      }
    } else if (o[0] == '-') {
      fprintf(stderr, "bench_grad_peer: unknown option %s\n", o);
      return 1;
    } else if (!model_path)
      model_path = o;
    else if (!input_path)
      input_path = o;
    else
      model_path = NULL, input_path = NULL, i = argc;
  }
  if (!model_path || !input_path || threads < 1 || !(min_time > 0)) {
    fprintf(stderr, "usage: bench_grad_peer MODEL_JSON INPUT.npy [--grad K:J] [--threads N] "
                    "[--min-time S] [--pin] [--out GRAD.npy]\n");
    return 1;
  }
  csm_set_threads(threads);
#ifdef _OPENMP
  if (pin) omp_set_dynamic(0);
#endif
  csm_model *m = NULL;
  csm_tensor in = {0}, grad = {0};
  if (csm_model_load(model_path, &m) || csm_npy_read(input_path, &in)) goto fail;
  if (in.dtype != CSM_F32 || in.shape.rank < 1 || in.shape.d[0] < 1) {
    csm_fail(CSM_EINPUT, "%s: not a float32 batch", input_path);
    goto fail;
  }
  if (output >= csm_model_num_outputs(m)) {
    csm_fail(CSM_EUSAGE, "output %d: the model has %d", output, csm_model_num_outputs(m));
    goto fail;
  }
  grad_job j = {m, &in, output, value, csm_model_output_node(m, output), csm_model_input_node(m, 0),
                0, 0};
  if (csm_tensor_alloc(&grad, CSM_F32, &in.shape)) goto fail;
  if (gradient(&j, &grad)) goto fail; /* warm-up: plans, arenas */
  if (out_path && csm_npy_write(out_path, &grad)) goto fail;
  int team = team_size();
  j.t_fwd = j.t_bwd = 0;
  int n = 0;
  double t0 = csm_now(), t;
  do {
    if (gradient(&j, &grad)) goto fail;
    n++;
    t = csm_now() - t0;
  } while (t < min_time || n < 3);
  char buf[64];
  const char *slash = strrchr(model_path, '/'), *name = slash ? slash + 1 : model_path;
  int name_len = (int)strlen(name);
  if (name_len > 5 && !strcmp(name + name_len - 5, ".json")) name_len -= 5;
  printf("{\"model\": \"%.*s\", \"batch\": %lld, \"input\": \"%s\", \"grad\": \"%d:%d\", "
         "\"seconds_per_grad\": %.6f, \"forward_s\": %.6f, \"backward_s\": %.6f, \"grads\": %d, "
         "\"threads\": %d, \"pinned\": %s, \"team\": %d, \"backend\": \"csm\"}\n",
         name_len, name, (long long)in.shape.d[0], csm_shape_str(&in.shape, buf, sizeof buf),
         output, value, t / n, j.t_fwd / n, j.t_bwd / n, n, threads, pin ? "true" : "false", team);
  csm_tensor_free(&grad);
  csm_tensor_free(&in);
  csm_model_free(m);
  return 0;
fail:
  fprintf(stderr, "bench_grad_peer: %s\n", csm_last_error());
  csm_tensor_free(&grad);
  csm_tensor_free(&in);
  csm_model_free(m);
  return 2;
}
