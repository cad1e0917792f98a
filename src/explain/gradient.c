/* Vanilla gradient (Simonyan et al. 2014) and SmoothGrad (Smilkov et al.
 * 2017) on a white-box scorer. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "explain/methods.h"

/* The noise: splitmix64 (Steele, Lea and Flood 2014) seeded with opt->seed
 * gives 64-bit words x; u = (x >> 11) * 2^-53 is uniform in [0, 1); pairs
 * (u1, u2) become two standard normals by Box-Muller,
 * r = sqrt(-2 ln(1 - u1)), z1 = r cos(2 pi u2), z2 = r sin(2 pi u2), used
 * in that order. The stream runs over the copies in order, each copy's
 * views in order, each view's floats in NHWC order, so the noise does not
 * depend on max_batch. */
typedef struct normal_rng {
  uint64_t state;
  int has_spare;
  double spare;
} normal_rng;

static uint64_t splitmix64(uint64_t *state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static double uniform01(uint64_t *state) {
  return (double)(splitmix64(state) >> 11) * (1.0 / 9007199254740992.0);
}

static double normal(normal_rng *r) {
  if (r->has_spare) {
    r->has_spare = 0;
    return r->spare;
  }
  double u1 = uniform01(&r->state), u2 = uniform01(&r->state);
  double rad = sqrt(-2.0 * log(1.0 - u1)), th = 2.0 * 3.14159265358979323846 * u2;
  r->spare = rad * sin(th);
  r->has_spare = 1;
  return rad * cos(th);
}

/* map[p] += max over channels of |g[p, c]| for one view's gradient. */
static void add_abs_max(const float *g, int npx, int ch, double *map) {
  for (int p = 0; p < npx; p++) {
    float m = 0;
    for (int c = 0; c < ch; c++) {
      float a = fabsf(g[(size_t)p * ch + c]);
      if (a > m) m = a;
    }
    map[p] += m;
  }
}

csm_status csm_gradient_run(const csm_scorer *s, const float *inputs, const csm_method_options *opt,
                            int smooth, float *out) {
  int V = s->views, npx = s->size * s->size, ch = s->channels;
  size_t numel = (size_t)npx * ch;
  int input_node = csm_model_input_node(s->model, 0);
  int total = smooth ? opt->smooth_samples : 1;
  int per_batch = smooth ? opt->max_batch / V : 1;
  if (per_batch < 1) per_batch = 1;
  if (per_batch > total) per_batch = total;
  csm_status st = CSM_OK;
  double *acc = csm_calloc((size_t)V * npx, sizeof(double));
  double *sigma = csm_malloc_array((size_t)V, sizeof(double));
  float *conf = csm_malloc_array((size_t)per_batch, sizeof(float));
  float *batch = smooth ? csm_malloc_array((size_t)per_batch * V, numel * sizeof(float)) : NULL;
  if (!acc || !sigma || !conf || (smooth && !batch)) {
    st = CSM_ENOMEM;
    goto done;
  }
  /* Noise standard deviation per view: smooth_sigma x that view's range. */
  for (int v = 0; v < V; v++) {
    const float *x = inputs + numel * v;
    float lo = x[0], hi = x[0];
    for (size_t e = 1; e < numel; e++) {
      if (x[e] < lo) lo = x[e];
      if (x[e] > hi) hi = x[e];
    }
    sigma[v] = (double)opt->smooth_sigma * ((double)hi - (double)lo);
  }
  normal_rng rng = {opt->seed, 0, 0};
  for (int t0 = 0; t0 < total; t0 += per_batch) {
    int nb = total - t0 < per_batch ? total - t0 : per_batch;
    const float *in = inputs;
    if (smooth) {
      for (int b = 0; b < nb; b++)
        for (int v = 0; v < V; v++) {
          const float *x = inputs + numel * v;
          float *dst = batch + numel * ((size_t)b * V + v);
          for (size_t e = 0; e < numel; e++)
            dst[e] = (float)(x[e] + sigma[v] * normal(&rng));
        }
      in = batch;
    }
    float *g = NULL;
    if ((st = csm_method_white_box(s, in, nb, input_node, conf, NULL, &g, NULL))) goto done;
    for (int b = 0; b < nb; b++)
      for (int v = 0; v < V; v++)
        add_abs_max(g + numel * ((size_t)b * V + v), npx, ch, acc + (size_t)npx * v);
    free(g);
    if (opt->progress) opt->progress(opt->progress_ctx, t0 + nb, total);
  }
  for (size_t p = 0; p < (size_t)V * npx; p++)
    out[p] = (float)(acc[p] / total);
done:
  free(acc);
  free(sigma);
  free(conf);
  free(batch);
  return st;
}
