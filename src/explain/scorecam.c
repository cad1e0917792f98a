/* Score-CAM (Wang et al. 2020): channel weights from forward passes of the
 * input masked by each channel's upsampled activation. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "explain/methods.h"

/* One evaluation: view `view` masked by channel `k`, or made black (k < 0,
 * the view's baseline). The other views of the sample stay as they are. */
typedef struct job {
  int view, k;
} job;

/* The normalized mask of channel k of view v: (U - lo) / (hi - lo) for the
 * upsampled activation U (size x size). */
static void channel_mask(const float *A, int h, int w, int c, int k, int size, float lo, float hi,
                         float *chan, float *mask) {
  for (int p = 0; p < h * w; p++)
    chan[p] = A[(size_t)p * c + k];
  csm_method_upsample(chan, h, w, size, mask);
  double scale = 1.0 / ((double)hi - (double)lo);
  for (int p = 0; p < size * size; p++)
    mask[p] = (float)(((double)mask[p] - lo) * scale);
}

csm_status csm_scorecam_run(const csm_scorer *s, const float *inputs, const csm_method_options *opt,
                            float *out) {
  int layer = opt->layer;
  csm_status st;
  if (layer < 0 && (st = csm_cam_default_layer(s->model, &layer))) return st;
  int V = s->views, size = s->size, ch = s->channels, npx = size * size;
  size_t numel = (size_t)npx * ch;
  float *A = NULL;
  csm_shape sh;
  if ((st = csm_method_activations(s, inputs, V, layer, &A, &sh))) return st;
  if ((st = csm_method_check_layer(s, layer, &sh))) {
    free(A);
    return st;
  }
  int h = (int)sh.d[1], w = (int)sh.d[2], c = (int)sh.d[3];
  size_t per = (size_t)h * w * c;
  float *lo = csm_malloc_array((size_t)V * c, sizeof(float));
  float *hi = csm_malloc_array((size_t)V * c, sizeof(float));
  double *wk = csm_calloc((size_t)V * c, sizeof(double));
  double *base = csm_calloc((size_t)V, sizeof(double));
  job *jobs = csm_malloc_array((size_t)V * (c + 1), sizeof(job));
  float *chan = csm_malloc_array((size_t)h * w, sizeof(float));
  float *mask = csm_malloc_array((size_t)npx, sizeof(float));
  float *batch = NULL, *conf = NULL;
  if (!lo || !hi || !wk || !base || !jobs || !chan || !mask) {
    st = CSM_ENOMEM;
    goto done;
  }
  /* The jobs: per view its baseline, then every channel whose upsampled
   * activation is not constant (constant channels keep w_k = 0). */
  int n_jobs = 0;
  for (int v = 0; v < V; v++) {
    jobs[n_jobs++] = (job){v, -1};
    for (int k = 0; k < c; k++) {
      for (int p = 0; p < h * w; p++)
        chan[p] = A[per * v + (size_t)p * c + k];
      csm_method_upsample(chan, h, w, size, mask);
      float mn = mask[0], mx = mask[0];
      for (int p = 1; p < npx; p++) {
        if (mask[p] < mn) mn = mask[p];
        if (mask[p] > mx) mx = mask[p];
      }
      lo[(size_t)v * c + k] = mn, hi[(size_t)v * c + k] = mx;
      if (mx > mn) jobs[n_jobs++] = (job){v, k};
    }
  }
  /* Batches of one size (the last padded with unmasked copies whose
   * results are ignored), so that the model plans its batch shape once. */
  int bmax = opt->max_batch;
  int n_batches = (n_jobs + bmax - 1) / bmax;
  int B = (n_jobs + n_batches - 1) / n_batches;
  batch = csm_malloc_array((size_t)B * V, numel * sizeof(float));
  conf = csm_malloc_array((size_t)B, sizeof(float));
  if (!batch || !conf) {
    st = CSM_ENOMEM;
    goto done;
  }
  for (int j0 = 0; j0 < n_jobs; j0 += B) {
    int nb = n_jobs - j0 < B ? n_jobs - j0 : B;
    for (int b = 0; b < B; b++) {
      float *sample = batch + numel * V * b;
      memcpy(sample, inputs, numel * V * sizeof(float));
      if (b >= nb) continue;
      job jb = jobs[j0 + b];
      float *x = sample + numel * jb.view;
      if (jb.k < 0) {
        for (int p = 0; p < npx; p++)
          for (int q = 0; q < ch; q++)
            x[(size_t)p * ch + q] = s->black[q];
        continue;
      }
      size_t vk = (size_t)jb.view * c + jb.k;
      channel_mask(A + per * jb.view, h, w, c, jb.k, size, lo[vk], hi[vk], chan, mask);
      for (int p = 0; p < npx; p++)
        for (int q = 0; q < ch; q++) {
          float *e = &x[(size_t)p * ch + q];
          *e = s->black[q] + (*e - s->black[q]) * mask[p];
        }
    }
    if ((st = s->score(s->ctx, batch, B, conf))) goto done;
    for (int b = 0; b < nb; b++) {
      job jb = jobs[j0 + b];
      if (!isfinite(conf[b])) {
        st = csm_fail(CSM_EINPUT, "the confidence of a masked input is not finite");
        goto done;
      }
      if (jb.k < 0)
        base[jb.view] = conf[b];
      else
        wk[(size_t)jb.view * c + jb.k] = conf[b];
    }
    if (opt->progress) opt->progress(opt->progress_ctx, j0 + nb, n_jobs);
  }
  /* Each view's baseline is its first job, evaluated before its channels. */
  for (int j = 0; j < n_jobs; j++)
    if (jobs[j].k >= 0) {
      size_t vk = (size_t)jobs[j].view * c + jobs[j].k;
      wk[vk] -= base[jobs[j].view];
    }
  for (int v = 0; !st && v < V; v++)
    st = csm_method_cam_map(A + per * v, h, w, c, wk + (size_t)v * c, size, out + (size_t)npx * v);
done:
  free(A);
  free(lo);
  free(hi);
  free(wk);
  free(base);
  free(jobs);
  free(chan);
  free(mask);
  free(batch);
  free(conf);
  return st;
}
