/* Deletion and insertion curves (Petsiuk et al. 2018, RISE) for one sample
 * and its saliency map.
 *
 * Choices where eval.h leaves room:
 * - After step k (k = 0 .. steps) the first floor(k * P / steps) ranked
 *   pixels are changed (P = views * size * size), so the last step covers
 *   all P and the steps differ by at most one pixel. The curve's x value at
 *   step k is that count / P, the fraction actually changed (exactly k /
 *   steps when steps divides P), and the AUC is the trapezoidal area over
 *   those x values.
 * - A pixel is all its channels: deletion sets each channel c to black[c].
 * - The blur of insertion is a box blur of radius r = size / 16 (integer
 *   division; r = 0 leaves the image as it is), per view and channel, the
 *   window clipped at the border: each output is the plain mean of the
 *   (2r + 1)^2 window's pixels that lie inside the image.
 * - A NaN map value is CSM_EINPUT (it has no rank); +-inf rank normally.
 *
 * The steps + 1 perturbed samples of a curve are built incrementally (each
 * step only changes the pixels of its slice of the ranking) and scored in
 * batches of at most CURVE_BATCH samples. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "csm/eval.h"

enum { CURVE_BATCH = 64 };

typedef struct ranked {
  float v;
  size_t i;
} ranked;

/* Highest value first; ties by index (lower first). */
static int cmp_ranked(const void *pa, const void *pb) {
  const ranked *a = pa, *b = pb;
  if (a->v > b->v) return -1;
  if (a->v < b->v) return 1;
  return a->i < b->i ? -1 : a->i > b->i;
}

/* Box blur of one size x size x channels image, radius r, border-clipped.
 * The mean over a clipped rectangle is separable: row means, then column
 * means of those (tmp: size x size x channels floats). */
static void box_blur(const float *src, int size, int channels, int r, float *tmp, float *dst) {
  const size_t ch = (size_t)channels;
  for (int y = 0; y < size; y++)
    for (int x = 0; x < size; x++) {
      const int x0 = x - r < 0 ? 0 : x - r, x1 = x + r >= size ? size - 1 : x + r;
      for (size_t c = 0; c < ch; c++) {
        double s = 0;
        for (int xx = x0; xx <= x1; xx++)
          s += src[((size_t)y * size + xx) * ch + c];
        tmp[((size_t)y * size + x) * ch + c] = (float)(s / (x1 - x0 + 1));
      }
    }
  for (int y = 0; y < size; y++) {
    const int y0 = y - r < 0 ? 0 : y - r, y1 = y + r >= size ? size - 1 : y + r;
    for (int x = 0; x < size; x++)
      for (size_t c = 0; c < ch; c++) {
        double s = 0;
        for (int yy = y0; yy <= y1; yy++)
          s += tmp[((size_t)yy * size + x) * ch + c];
        dst[((size_t)y * size + x) * ch + c] = (float)(s / (y1 - y0 + 1));
      }
  }
}

/* Pixels changed after step k of `steps`, out of P. */
static size_t step_count(int k, int steps, size_t pixels) {
  return (size_t)(((unsigned long long)k * pixels) / (unsigned long long)steps);
}

/* One curve. start: the sample at step 0 (black-free original for
 * deletion, blurred copy for insertion), modified in place; each step
 * copies the pixels of its slice of `order` from `src` (for deletion a
 * sample that is black everywhere, for insertion the original). */
static csm_status run_curve(const csm_scorer *s, const char *what, const ranked *order,
                            size_t pixels, int steps, float *work, const float *src, float *batch,
                            float *conf, float *curve, double *auc) {
  const size_t sample = pixels * (size_t)s->channels;
  const size_t ch = (size_t)s->channels;
  size_t done = 0; /* pixels of `order` already applied to work */
  for (int k0 = 0; k0 <= steps; k0 += CURVE_BATCH) {
    const int nb = steps + 1 - k0 < CURVE_BATCH ? steps + 1 - k0 : CURVE_BATCH;
    for (int b = 0; b < nb; b++) {
      const size_t want = step_count(k0 + b, steps, pixels);
      for (; done < want; done++) {
        const size_t p = order[done].i;
        memcpy(work + p * ch, src + p * ch, ch * sizeof(float));
      }
      memcpy(batch + (size_t)b * sample, work, sample * sizeof(float));
    }
    csm_status st = s->score(s->ctx, batch, nb, conf + k0);
    if (st) return csm_fail_context(st, "%s curve: ", what);
    for (int b = 0; b < nb; b++)
      if (isnan(conf[k0 + b]))
        return csm_fail(CSM_EINPUT, "%s curve: step %d of %d: the confidence is NaN", what, k0 + b,
                        steps);
  }
  double area = 0;
  for (int k = 0; k < steps; k++) {
    const double x0 = (double)step_count(k, steps, pixels) / (double)pixels;
    const double x1 = (double)step_count(k + 1, steps, pixels) / (double)pixels;
    area += (x1 - x0) * 0.5 * ((double)conf[k] + (double)conf[k + 1]);
  }
  if (curve) memcpy(curve, conf, (size_t)(steps + 1) * sizeof(float));
  if (auc) *auc = area;
  return CSM_OK;
}

csm_status csm_eval_curves(const csm_scorer *s, const float *inputs, const float *map, int steps,
                           float *deletion, float *insertion, double *deletion_auc,
                           double *insertion_auc) {
  if (!s || !s->score) return csm_fail(CSM_EUSAGE, "curves: no scorer");
  if (!inputs || !map) return csm_fail(CSM_EUSAGE, "curves: no inputs or no map");
  if (steps < 1) return csm_fail(CSM_EUSAGE, "curves: steps must be at least 1, got %d", steps);
  if (steps >= 1 << 30) return csm_fail(CSM_EUSAGE, "curves: %d steps is too many", steps);
  if (s->views < 1 || s->size < 1 || s->channels < 1 || s->channels > 3)
    return csm_fail(CSM_EUSAGE,
                    "curves: the scorer needs views >= 1, size >= 1 and 1..3 channels (got %d, "
                    "%d, %d)",
                    s->views, s->size, s->channels);
  const int want_del = deletion || deletion_auc, want_ins = insertion || insertion_auc;
  if (!want_del && !want_ins) return CSM_OK;

  size_t per_view, pixels, sample, batch_floats;
  if (!csm_size_mul((size_t)s->size, (size_t)s->size, &per_view) ||
      !csm_size_mul(per_view, (size_t)s->views, &pixels) ||
      !csm_size_mul(pixels, (size_t)s->channels, &sample) ||
      !csm_size_mul(sample, CURVE_BATCH, &batch_floats))
    return csm_fail(CSM_EUSAGE, "curves: the sample is too large");
  for (size_t p = 0; p < pixels; p++)
    if (isnan(map[p])) return csm_fail(CSM_EINPUT, "curves: map value %zu is NaN", p);

  csm_status st = CSM_OK;
  const int batch_n = steps + 1 < CURVE_BATCH ? steps + 1 : CURVE_BATCH;
  ranked *order = csm_malloc_array(pixels, sizeof *order);
  float *work = csm_malloc_array(sample, sizeof(float));
  float *src = csm_malloc_array(sample, sizeof(float));
  float *batch = csm_malloc_array(sample * (size_t)batch_n, sizeof(float));
  float *conf = csm_malloc_array((size_t)steps + 1, sizeof(float));
  if (!order || !work || !src || !batch || !conf) {
    st = CSM_ENOMEM;
    goto done;
  }
  for (size_t p = 0; p < pixels; p++) {
    order[p].v = map[p];
    order[p].i = p;
  }
  qsort(order, pixels, sizeof *order, cmp_ranked);

  if (want_del) {
    /* Start from the sample; each step copies its pixels from all-black. */
    memcpy(work, inputs, sample * sizeof(float));
    for (size_t p = 0; p < pixels; p++)
      for (int c = 0; c < s->channels; c++)
        src[p * (size_t)s->channels + (size_t)c] = s->black[c];
    st = run_curve(s, "deletion", order, pixels, steps, work, src, batch, conf, deletion,
                   deletion_auc);
    if (st) goto done;
  }
  if (want_ins) {
    /* Start from the blurred sample (src is free now: the blur's scratch);
     * each step copies its pixels from the sample. */
    const int r = s->size / 16;
    for (int v = 0; v < s->views; v++)
      box_blur(inputs + (size_t)v * per_view * (size_t)s->channels, s->size, s->channels, r, src,
               work + (size_t)v * per_view * (size_t)s->channels);
    st = run_curve(s, "insertion", order, pixels, steps, work, inputs, batch, conf, insertion,
                   insertion_auc);
  }
done:
  free(order);
  free(work);
  free(src);
  free(batch);
  free(conf);
  return st;
}
