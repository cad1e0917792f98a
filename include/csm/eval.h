/* csm eval: the paper's faithfulness metrics (DESIGN.md step 7, Eq. 11-13),
 * deletion/insertion curves, map similarity, and the cascading randomization
 * sanity check (step 8) that is measured with them. */
#ifndef CSM_EVAL_H
#define CSM_EVAL_H

#include "csm/task.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Over n images, with y[i] the confidence on the original image and o[i]
 * on its explanation image, both for the class predicted on the original:
 * Average Drop % (Eq. 11) = 100/n * sum max(0, y - o) / y;
 * % Increase in confidence (Eq. 12) = 100/n * #{o > y}.
 * y must be positive and both finite (CSM_EINPUT otherwise). */
csm_status csm_eval_average_drop(const float *y, const float *o, int n, double *percent);
csm_status csm_eval_increase(const float *y, const float *o, int n, double *percent);

/* Win % (Eq. 13) of m methods over n images: o is n x m (row i: every
 * method's confidence on image i's explanation image); win[j] = 100/n *
 * #{images where method j gives the lowest o}. A tie for the lowest is a
 * win for every tied method, so the percentages can sum to more than 100. */
csm_status csm_eval_win(const float *o, int n, int m, double *win);

/* ---- Negative explanation images (src/eval/negative.c) ------------------ */
/* Eq. 10: map (n values) min-max normalized to [0, 1] (a constant map gives
 * all 0), then scaled so that its sum is target_sum (the CMS map's sum on
 * that image, after the same normalization), and clipped to [0, 1]. With
 * target_sum < 0 only the normalization is done. */
void csm_eval_normalize(const float *map, size_t n, double target_sum, float *out);
/* Eq. 9: E = I (1 - H) in pixel terms: each input value x (size x size x
 * channels) moves towards the black value of its channel:
 * black + (x - black)(1 - h). */
void csm_eval_negative_image(const float *input, int size, int channels, const float *black,
                             const float *h, float *out);

/* ---- Deletion and insertion (src/eval/curves.c; Petsiuk et al. 2018) ----- */
/* For one sample of s (s->views inputs) and its map (s->views x size x
 * size): pixels ranked by map value (highest first; ties by index), in
 * `steps` equal steps (the last covers all pixels) deletion sets them to
 * black and insertion copies them from the sample onto a blurred copy (box
 * blur of radius size / 16) of it. curves get steps + 1 confidences each
 * (index 0: nothing changed yet); auc = trapezoidal area under the curve
 * over the fraction of pixels [0, 1]. Either curve may be NULL. */
csm_status csm_eval_curves(const csm_scorer *s, const float *inputs, const float *map, int steps,
                           float *deletion, float *insertion, double *deletion_auc,
                           double *insertion_auc);

/* ---- Map similarity (src/eval/similarity.c) ------------------------------ */
/* Spearman rank correlation of two n-value maps (average ranks for ties;
 * 0 when either is constant). */
double csm_eval_spearman(const float *a, const float *b, size_t n);
/* SSIM (Wang et al. 2004) of two w x h maps after min-max normalization of
 * each to [0, 1]: 11 x 11 Gaussian window (sigma 1.5, clipped at the
 * border), C1 = 0.01^2, C2 = 0.03^2, mean over pixels. */
double csm_eval_ssim(const float *a, const float *b, int w, int h);

/* ---- Sanity check (src/eval/sanity.c) -----------------------------------
 * Cascading model-parameter randomization (Adebayo et al. 2018): the
 * model's weighted layers (csm_model_layers) are re-initialized from the
 * output layer down (csm_model_randomize_layers, seeded), more of them at
 * each step, and the maps are computed again and compared with the
 * original ones. */

/* Computes n_maps maps (each views x size x size floats, into maps[k])
 * with the model's current weights. */
typedef csm_status (*csm_sanity_maps_fn)(void *ctx, float **maps);

#define CSM_SANITY_MAX_STEPS 64

typedef struct csm_sanity {
  int n_layers;                     /* weighted layers of the model */
  int n_steps;                      /* randomization steps run */
  int counts[CSM_SANITY_MAX_STEPS]; /* top layers random at step t */
  int n_maps;
  /* [t * n_maps + k]: map k at step t against the original, averaged over
   * views: Spearman rank correlation and SSIM. */
  double *spearman, *ssim;
  float **step_maps; /* keep_maps: [t * n_maps + k] the map (malloc'ed), t = 0 original */
} csm_sanity;

/* Runs the cascade with n_steps steps (<= CSM_SANITY_MAX_STEPS and <= the
 * layer count) over the weighted layers that node `of` (the explained
 * output; < 0: every output) depends on (csm_model_layers_of): step t
 * randomizes the top counts[t] of them, counts running evenly from 1 (the
 * output layer) to all. The model's weights are
 * restored afterwards, also on failure. */
csm_status csm_sanity_run(csm_model *m, int of, int n_steps, uint64_t seed, int n_maps, int views,
                          int size, csm_sanity_maps_fn fn, void *ctx, int keep_maps,
                          csm_sanity *out);
void csm_sanity_free(csm_sanity *s);
/* The verdict for map k: the maps must fall away from the original as the
 * model is destroyed: after every layer is randomized, the Spearman
 * correlation with the original map (1 before any randomization) is below
 * CSM_SANITY_PASS_BELOW. A map that keeps resembling the original (an edge
 * detector of the input, say) fails. */
#define CSM_SANITY_PASS_BELOW 0.5
int csm_sanity_pass(const csm_sanity *s, int k);

#ifdef __cplusplus
}
#endif
#endif
