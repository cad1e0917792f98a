/* csm eval: the paper's faithfulness metrics (DESIGN.md step 7, Eq. 11-13). */
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

#ifdef __cplusplus
}
#endif
#endif
