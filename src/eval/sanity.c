/* The cascading randomization loop: weights saved, the top layers replaced
 * step by step, the caller's maps recomputed and compared with the
 * original ones, the weights put back. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "csm/eval.h"

void csm_sanity_free(csm_sanity *s) {
  if (!s) return;
  if (s->step_maps)
    for (int i = 0; i < (s->n_steps + 1) * s->n_maps; i++)
      free(s->step_maps[i]);
  free(s->step_maps);
  free(s->spearman);
  free(s->ssim);
  memset(s, 0, sizeof *s);
}

int csm_sanity_pass(const csm_sanity *s, int k) {
  if (s->n_steps < 1) return 0;
  return s->spearman[s->n_steps * s->n_maps + k] < CSM_SANITY_PASS_BELOW;
}

static void free_maps(float **maps, int n) {
  for (int k = 0; k < n; k++) {
    free(maps[k]);
    maps[k] = NULL;
  }
}

csm_status csm_sanity_run(csm_model *m, int of, int n_steps, uint64_t seed, int n_maps, int views,
                          int size, csm_sanity_maps_fn fn, void *ctx, int keep_maps,
                          csm_sanity *out) {
  memset(out, 0, sizeof *out);
  if (!m || !fn || n_maps < 1 || views < 1 || size < 1 || n_steps < 1)
    return csm_fail(CSM_EUSAGE, "csm_sanity_run: bad arguments");
  int L = csm_model_layers_of(m, of, NULL, 0);
  if (L == 0)
    return csm_fail(CSM_EUNSUPPORTED, "%s: no weighted layers to randomize", csm_model_path(m));
  if (n_steps > L) n_steps = L;
  if (n_steps > CSM_SANITY_MAX_STEPS - 1) n_steps = CSM_SANITY_MAX_STEPS - 1;
  out->n_layers = L, out->n_steps = n_steps, out->n_maps = n_maps;
  for (int t = 1; t <= n_steps; t++)
    out->counts[t] = n_steps == 1 ? L : 1 + (int)lround((double)(L - 1) * (t - 1) / (n_steps - 1));
  size_t cells = (size_t)(n_steps + 1) * n_maps, per = (size_t)size * size;
  out->spearman = calloc(cells, sizeof(double));
  out->ssim = calloc(cells, sizeof(double));
  if (keep_maps) out->step_maps = calloc(cells, sizeof(float *));
  float **orig = calloc((size_t)n_maps, sizeof(float *));
  float **now = calloc((size_t)n_maps, sizeof(float *));
  csm_weights *saved = NULL;
  csm_status st = out->spearman && out->ssim && orig && now && (!keep_maps || out->step_maps)
                      ? CSM_OK
                      : csm_fail(CSM_ENOMEM, "out of memory");
  if (!st) st = csm_model_weights_save(m, &saved);
  if (!st) st = fn(ctx, orig);
  for (int k = 0; !st && k < n_maps; k++)
    out->spearman[k] = out->ssim[k] = 1; /* step 0: the original itself */
  for (int t = 1; !st && t <= n_steps; t++) {
    st = csm_model_weights_restore(m, saved);
    if (!st) st = csm_model_randomize_layers_of(m, of, out->counts[t], seed);
    if (!st) st = fn(ctx, now);
    for (int k = 0; !st && k < n_maps; k++) {
      double sp = 0, ss = 0;
      for (int v = 0; v < views; v++) {
        sp += csm_eval_spearman(orig[k] + per * v, now[k] + per * v, per);
        ss += csm_eval_ssim(orig[k] + per * v, now[k] + per * v, size, size);
      }
      out->spearman[(size_t)t * n_maps + k] = sp / views;
      out->ssim[(size_t)t * n_maps + k] = ss / views;
      if (keep_maps) {
        out->step_maps[(size_t)t * n_maps + k] = now[k];
        now[k] = NULL;
      }
    }
    free_maps(now, n_maps);
  }
  /* The model as it was, whatever happened. */
  if (saved) {
    csm_status rs = csm_model_weights_restore(m, saved);
    if (!st) st = rs;
  }
  csm_weights_free(saved);
  if (!st && keep_maps)
    for (int k = 0; k < n_maps; k++) {
      out->step_maps[k] = orig[k];
      orig[k] = NULL;
    }
  if (orig) free_maps(orig, n_maps);
  if (now) free_maps(now, n_maps);
  free(orig);
  free(now);
  if (st) csm_sanity_free(out);
  return st;
}
