/* Sliding-window occlusion (Zeiler and Fergus 2014) in input space, per
 * view: black squares of `window` pixels every `stride` pixels. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "explain/methods.h"

/* Window starts on one axis: 0, stride, 2 stride, ... while the window ends
 * inside the input, then size - window, so that the last window touches
 * the border (no start repeats). Returns how many. */
static int window_starts(int size, int window, int stride, int *starts) {
  int n = 0;
  for (int p = 0;; p += stride) {
    if (p + window >= size) {
      starts[n++] = size - window;
      break;
    }
    starts[n++] = p;
  }
  return n;
}

csm_status csm_window_occlusion_run(const csm_scorer *s, const float *inputs,
                                    const csm_method_options *opt, float *out) {
  int V = s->views, size = s->size, ch = s->channels, npx = size * size;
  size_t numel = (size_t)npx * ch;
  int window = opt->window > 0 ? opt->window : size / 8;
  if (window < 1) window = 1;
  if (window > size) window = size;
  int stride = opt->stride > 0 ? opt->stride : window / 2;
  if (stride < 1) stride = 1;
  csm_status st = CSM_OK;
  int *starts = csm_malloc_array((size_t)size + 1, sizeof(int));
  double *sum = csm_calloc((size_t)V * npx, sizeof(double));
  int *count = csm_calloc((size_t)V * npx, sizeof(int));
  float *batch = NULL, *conf = NULL, *drop = NULL;
  if (!starts || !sum || !count) {
    st = CSM_ENOMEM;
    goto done;
  }
  int ns = window_starts(size, window, stride, starts);
  int per_view = ns * ns, n_occ = V * per_view;
  /* Sample 0 is the unoccluded input, then sample 1 + v * per_view + a * ns
   * + b is view v occluded at the window of row start a, column start b
   * (the other views unchanged). Batches of one size; the last is padded
   * with copies of the input whose results are ignored. */
  int total = n_occ + 1, bmax = opt->max_batch;
  int n_batches = (total + bmax - 1) / bmax;
  int B = (total + n_batches - 1) / n_batches;
  batch = csm_malloc_array((size_t)B * V, numel * sizeof(float));
  conf = csm_malloc_array((size_t)B, sizeof(float));
  drop = csm_malloc_array((size_t)n_occ, sizeof(float));
  if (!batch || !conf || !drop) {
    st = CSM_ENOMEM;
    goto done;
  }
  float base = 0;
  for (int t0 = 0; t0 < total; t0 += B) {
    int nb = total - t0 < B ? total - t0 : B;
    for (int b = 0; b < B; b++) {
      float *sample = batch + numel * V * b;
      memcpy(sample, inputs, numel * V * sizeof(float));
      int t = t0 + b;
      if (t == 0 || b >= nb) continue;
      int o = t - 1, v = o / per_view, r = (o % per_view) / ns, c = o % ns;
      float *x = sample + numel * v;
      for (int i = starts[r]; i < starts[r] + window; i++)
        for (int j = starts[c]; j < starts[c] + window; j++)
          for (int q = 0; q < ch; q++)
            x[((size_t)i * size + j) * ch + q] = s->black[q];
    }
    if ((st = s->score(s->ctx, batch, B, conf))) goto done;
    for (int b = 0; b < nb; b++) {
      int t = t0 + b;
      if (!isfinite(conf[b])) {
        st = csm_fail(CSM_EINPUT, "the confidence of %s input is not finite",
                      t ? "an occluded" : "the unoccluded");
        goto done;
      }
      if (t == 0)
        base = conf[b];
      else
        drop[t - 1] = base - conf[b];
    }
    if (opt->progress) opt->progress(opt->progress_ctx, t0 + nb, total);
  }
  /* Each pixel: the mean drop of the windows of its view covering it. */
  for (int o = 0; o < n_occ; o++) {
    int v = o / per_view, r = (o % per_view) / ns, c = o % ns;
    for (int i = starts[r]; i < starts[r] + window; i++)
      for (int j = starts[c]; j < starts[c] + window; j++) {
        size_t p = (size_t)npx * v + (size_t)i * size + j;
        sum[p] += drop[o];
        count[p]++;
      }
  }
  for (size_t p = 0; p < (size_t)V * npx; p++)
    out[p] = count[p] ? (float)(sum[p] / count[p]) : 0.0f;
done:
  free(starts);
  free(sum);
  free(count);
  free(batch);
  free(conf);
  free(drop);
  return st;
}
