/* bench_onnx MODEL INPUT.npy|BATCH [--threads N] [--min-time S] [--min-runs K] [--profile]
 *
 * csm's side of bench/onnx.sh: images/s of csm_model_run on one model (any
 * format csm_model_load takes; here the .onnx files that ONNX Runtime and
 * PyTorch run too) and one batch: INPUT.npy (the model's declared layout,
 * batch included: the same array the peers get) or BATCH fixed pseudo-random
 * values in [0,1). One warm-up run (plans, arena, packed filters), then whole
 * runs until >= --min-time s (default 2) and >= --min-runs (default 3).
 * Prints one JSON line {model, batch, images_per_s, ms_per_run, ms_median,
 * runs, backend, threads, gflop_per_image, gflops}.
 *
 * --profile: then times every op of the plan, the way csm_model_run runs a
 * batch (it splits a batch of B over T threads into T slices of ceil(B/T)
 * items, each slice one plan on one thread, all at once): T plans of the
 * slice shape, the same op callbacks as csm_plan_run (packed filters
 * included), run in a parallel region of T threads with a clock around
 * each op. Prints on stderr a table per op type and the slowest nodes (ms
 * per run: the mean over the T concurrent slices; share; FLOPs; GFLOP/s per
 * thread). Timing every op adds a little to the total (compare the line with
 * csm_model_run's time). Uses the engine's internal headers (src/nn). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "csm/csm.h"
#include "nn/model_internal.h"
#include "nn/ops/op.h"
#include "nn/plan.h"

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static void die(const char *what) {
  fprintf(stderr, "bench_onnx: %s: %s\n", what, csm_last_error());
  exit(2);
}

/* ---- --profile ------------------------------------------------------------ */

typedef struct prof_plan {
  csm_plan *p;
  void **prepared; /* per node */
  void *scratch;
  csm_tensor *in_buf;
} prof_plan;

static void prof_prepare(const csm_graph *g, const csm_tensor *slice_in, prof_plan *pp) {
  csm_shape s = slice_in->shape;
  if (csm_plan_create(g, &s, NULL, &pp->p)) die("profile plan");
  int n_steps, max_in = 1;
  const int *steps = csm_plan_steps(pp->p, &n_steps);
  for (int i = 0; i < g->n_nodes; i++)
    if (g->nodes[i].n_in > max_in) max_in = g->nodes[i].n_in;
  pp->in_buf = calloc((size_t)max_in, sizeof(csm_tensor));
  pp->prepared = calloc((size_t)g->n_nodes, sizeof(void *));
  size_t scratch = 64;
  for (int k = 0; k < n_steps; k++) {
    int i = steps[k];
    const csm_node *n = &g->nodes[i];
    const csm_op_def *def = csm_op_def_get(n->op);
    for (int j = 0; j < n->n_in; j++)
      pp->in_buf[j] = *csm_plan_value(pp->p, n->in[j]);
    if (def->scratch) {
      size_t b = def->scratch(n, pp->in_buf, csm_plan_value(pp->p, i));
      if (b > scratch) scratch = b;
    }
    if (def->prepare && def->prepared_size && def->forward_prepared) {
      size_t b = def->prepared_size(n, pp->in_buf);
      if (b) {
        pp->prepared[i] = aligned_alloc(64, (b + 63) / 64 * 64);
        def->prepare(n, pp->in_buf, pp->prepared[i]);
      }
    }
  }
  pp->scratch = aligned_alloc(64, (scratch + 63) / 64 * 64);
  /* The input, as csm_plan_run copies it. */
  const csm_tensor *v = csm_plan_value(pp->p, g->inputs[0]);
  memcpy(v->data, slice_in->data, csm_tensor_numel(v) * 4);
}

/* One run of the plan with a clock around each op: t[node] += seconds. */
static void prof_run(const csm_graph *g, prof_plan *pp, double *t) {
  int n_steps;
  const int *steps = csm_plan_steps(pp->p, &n_steps);
  for (int k = 0; k < n_steps; k++) {
    int i = steps[k];
    const csm_node *n = &g->nodes[i];
    const csm_op_def *def = csm_op_def_get(n->op);
    if (def->alias) continue;
    for (int j = 0; j < n->n_in; j++)
      pp->in_buf[j] = *csm_plan_value(pp->p, n->in[j]);
    csm_tensor *out = (csm_tensor *)csm_plan_value(pp->p, i);
    double t0 = csm_now();
    csm_status st = pp->prepared[i]
                        ? def->forward_prepared(n, pp->in_buf, out, pp->scratch, pp->prepared[i])
                        : def->forward(n, pp->in_buf, out, pp->scratch);
    t[i] += csm_now() - t0;
    if (st) die(n->name);
  }
}

typedef struct row {
  const char *name;
  double s, flops;
  int count;
} row;

static int cmp_row(const void *a, const void *b) {
  double x = ((const row *)a)->s, y = ((const row *)b)->s;
  return (x < y) - (x > y);
}

static void profile(csm_model *m, const csm_tensor *in, int threads, int reps, double run_ms) {
  const csm_graph *g = &m->g;
  int64_t batch = in->shape.d[0];
  int64_t slice = threads > 1 && batch >= threads ? (batch + threads - 1) / threads : batch;
  int workers = (int)((batch + slice - 1) / slice);
  if (workers > threads) workers = threads;
  if (csm_model_fixed_batch_one(m)) {
    fprintf(stderr, "bench_onnx: --profile: model runs item by item, not profiled\n");
    return;
  }
  prof_plan *pp = calloc((size_t)workers, sizeof *pp);
  double *t = calloc((size_t)workers * (size_t)g->n_nodes, sizeof(double));
  for (int w = 0; w < workers; w++) {
    csm_shape s = in->shape;
    s.d[0] = slice; /* every worker gets the first slice (a short last slice is timed as full) */
    csm_tensor view = {CSM_F32, s, in->data, 0};
    prof_prepare(g, &view, &pp[w]);
  }
  double wall = 0;
  for (int r = -1; r < reps; r++) { /* r = -1: warm-up, not counted */
    double t0 = csm_now();
    /* One worker runs outside any parallel region, as in csm_model_run, so
     * that its ops keep their own threads. */
#pragma omp parallel num_threads(workers) if (workers > 1)
    {
#ifdef _OPENMP
      int w = omp_get_thread_num();
#else
      int w = 0;
#endif
      double *tw = t + (size_t)w * (size_t)g->n_nodes;
      if (r < 0) {
        double *tmp = calloc((size_t)g->n_nodes, sizeof(double));
        prof_run(g, &pp[w], tmp);
        free(tmp);
      } else {
        prof_run(g, &pp[w], tw);
      }
    }
    if (r >= 0) wall += csm_now() - t0;
  }
  /* Per node: mean over workers and runs; flops of one slice. */
  int n_steps;
  const int *steps = csm_plan_steps(pp[0].p, &n_steps);
  row *nodes = calloc((size_t)n_steps, sizeof(row)), *types = calloc((size_t)n_steps, sizeof(row));
  int n_types = 0;
  double total = 0, total_flops = 0;
  for (int k = 0; k < n_steps; k++) {
    int i = steps[k];
    const csm_node *n = &g->nodes[i];
    const csm_op_def *def = csm_op_def_get(n->op);
    double s = 0;
    for (int w = 0; w < workers; w++)
      s += t[(size_t)w * (size_t)g->n_nodes + (size_t)i];
    s /= workers * reps;
    for (int j = 0; j < n->n_in; j++)
      pp[0].in_buf[j] = *csm_plan_value(pp[0].p, n->in[j]);
    const csm_tensor *out = csm_plan_value(pp[0].p, i);
    double f = def->alias   ? 0
               : def->flops ? def->flops(n, pp[0].in_buf, out)
                            : (double)csm_tensor_numel(out);
    nodes[k] = (row){n->name, s, f, 1};
    total += s;
    total_flops += f;
    const char *op = csm_op_name(n->op);
    int ty = 0;
    while (ty < n_types && strcmp(types[ty].name, op))
      ty++;
    if (ty == n_types) types[n_types++] = (row){op, 0, 0, 0};
    types[ty].s += s;
    types[ty].flops += f;
    types[ty].count++;
  }
  qsort(types, (size_t)n_types, sizeof(row), cmp_row);
  qsort(nodes, (size_t)n_steps, sizeof(row), cmp_row);
  fprintf(stderr,
          "profile: %s, batch %lld as %d concurrent slice(s) of %lld on 1 thread each, %d runs:\n"
          "  sum of op times %.1f ms/run (per slice), wall %.1f ms/run with op clocks, "
          "csm_model_run %.1f ms/run\n",
          csm_model_path(m), (long long)batch, workers, (long long)slice, reps, total * 1e3,
          wall / reps * 1e3, run_ms);
  fprintf(stderr, "  %-22s %5s %9s %6s %9s %11s\n", "op type", "nodes", "ms/run", "share", "GFLOP",
          "GFLOP/s/thr");
  for (int k = 0; k < n_types; k++)
    fprintf(stderr, "  %-22s %5d %9.2f %5.1f%% %9.3f %11.2f\n", types[k].name, types[k].count,
            types[k].s * 1e3, 100 * types[k].s / total, types[k].flops * 1e-9,
            types[k].s > 0 ? types[k].flops * 1e-9 / types[k].s : 0);
  fprintf(stderr, "  %-22s %5d %9.2f %5.1f%% %9.3f %11.2f\n", "total", n_steps, total * 1e3, 100.0,
          total_flops * 1e-9, total_flops * 1e-9 / total);
  fprintf(stderr, "  slowest nodes:\n");
  for (int k = 0; k < n_steps && k < 12; k++)
    fprintf(stderr, "  %-40.40s %9.2f ms %5.1f%% %9.3f GFLOP %7.2f GFLOP/s\n", nodes[k].name,
            nodes[k].s * 1e3, 100 * nodes[k].s / total, nodes[k].flops * 1e-9,
            nodes[k].s > 0 ? nodes[k].flops * 1e-9 / nodes[k].s : 0);
  for (int w = 0; w < workers; w++) {
    for (int i = 0; i < g->n_nodes; i++)
      free(pp[w].prepared[i]);
    free(pp[w].prepared);
    free(pp[w].scratch);
    free(pp[w].in_buf);
    csm_plan_free(pp[w].p);
  }
  free(pp);
  free(t);
  free(nodes);
  free(types);
}

/* ---- main ------------------------------------------------------------------ */

int main(int argc, char **argv) {
  const char *model = NULL, *input = NULL;
  int threads = 2, min_runs = 3, prof = 0;
  double min_time = 2;
  const char *env = getenv("CSM_THREADS");
  if (env && atoi(env) > 0) threads = atoi(env);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--threads") && i + 1 < argc)
      threads = atoi(argv[++i]);
    else if (!strcmp(a, "--min-time") && i + 1 < argc)
      min_time = atof(argv[++i]);
    else if (!strcmp(a, "--min-runs") && i + 1 < argc)
      min_runs = atoi(argv[++i]);
    else if (!strcmp(a, "--profile"))
      prof = 1;
    else if (a[0] == '-' && a[1]) {
      fprintf(stderr, "bench_onnx: unknown option %s\n", a);
      return 1;
    } else if (!model)
      model = a;
    else if (!input)
      input = a;
    else {
      model = NULL;
      break;
    }
  }
  if (!model || !input || threads < 1 || min_runs < 1 || !(min_time >= 0)) {
    fprintf(stderr, "usage: bench_onnx MODEL INPUT.npy|BATCH [--threads N] [--min-time S] "
                    "[--min-runs K] [--profile]\n");
    return 1;
  }
  csm_set_threads(threads);
  csm_model *m;
  if (csm_model_load(model, &m)) die(model);
  csm_tensor in = {0};
  char *end;
  long batch = strtol(input, &end, 10);
  if (*input && !*end) {
    if (batch < 1) {
      fprintf(stderr, "bench_onnx: BATCH must be >= 1\n");
      return 1;
    }
    csm_shape s = csm_model_input_shape(m, 0);
    s.d[0] = batch;
    for (int k = 1; k < s.rank; k++)
      if (s.d[k] < 0) s.d[k] = 1;
    if (csm_tensor_alloc(&in, CSM_F32, &s)) die("input");
    uint32_t r = 12345;
    float *x = in.data;
    for (size_t i = 0; i < csm_tensor_numel(&in); i++) {
      r = r * 1664525u + 1013904223u;
      x[i] = (float)(r >> 8) / 16777216.0f;
    }
  } else if (csm_npy_read(input, &in)) {
    die(input);
  }
  batch = (long)in.shape.d[0];
  int n_out = csm_model_num_outputs(m);
  csm_tensor *out = calloc((size_t)n_out, sizeof *out);
  if (!out) return 3;
  double flops = 0;
  if (csm_model_flops(m, &flops)) flops = 0;

  if (csm_model_run(m, &in, out)) die("run"); /* warm-up: plans, arena, packed filters */
  for (int o = 0; o < n_out; o++)
    csm_tensor_free(&out[o]);
  int cap = 64, runs = 0;
  double *times = malloc((size_t)cap * sizeof(double));
  double t0 = csm_now(), total;
  do {
    double s = csm_now();
    if (csm_model_run(m, &in, out)) die("run");
    double e = csm_now();
    for (int o = 0; o < n_out; o++)
      csm_tensor_free(&out[o]);
    if (runs == cap) times = realloc(times, (size_t)(cap *= 2) * sizeof(double));
    times[runs++] = e - s;
    total = e - t0;
  } while (total < min_time || runs < min_runs);
  qsort(times, (size_t)runs, sizeof(double), cmp_double);
  printf("{\"model\": \"%s\", \"batch\": %ld, \"images_per_s\": %.3f, \"ms_per_run\": %.3f, "
         "\"ms_median\": %.3f, \"runs\": %d, \"backend\": \"csm\", \"threads\": %d, "
         "\"gflop_per_image\": %.4f, \"gflops\": %.2f}\n",
         model, batch, runs * batch / total, total / runs * 1e3, times[runs / 2] * 1e3, runs,
         threads, flops * 1e-9, flops * batch * runs / total * 1e-9);
  fflush(stdout);
  if (prof) profile(m, &in, threads, runs < 3 ? 3 : runs, total / runs * 1e3);
  free(times);
  free(out);
  csm_tensor_free(&in);
  csm_model_free(m);
  return 0;
}
