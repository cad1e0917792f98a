/* Map similarity: Spearman rank correlation and SSIM.
 *
 * Choices where eval.h leaves room:
 * - Spearman is the Pearson correlation of the average ranks (the standard
 *   definition with ties). NaN values rank above every number and tie
 *   with each other. n < 2 counts as constant (0).
 * - SSIM: each map is min-max normalized to [0, 1] over its values (a
 *   constant map becomes all 0), so the dynamic range L is 1. The Gaussian
 *   window (11 x 11, sigma 1.5, weights exp(-(dx^2 + dy^2) / (2 sigma^2)))
 *   is clipped at the border: only the in-map pixels of the window count
 *   and their weights are renormalized to sum to 1. Local statistics are
 *   the weighted mean, variance E[x^2] - mu^2 and covariance (the biased
 *   form of Wang et al.). The result is the mean of the SSIM map over all
 *   w x h pixels; empty or missing maps give NaN. Since the window is a
 *   product of 1-D Gaussians and the clipped window is a rectangle, the
 *   renormalized filter is separable and is applied as two 1-D passes. */
#include <math.h>
#include <stdlib.h>

#include "csm/eval.h"

typedef struct rank_item {
  float v;
  size_t i;
} rank_item;

static int cmp_item(const void *pa, const void *pb) {
  const rank_item *a = pa, *b = pb;
  const int na = isnan(a->v), nb = isnan(b->v);
  if (na || nb) return na - nb;
  return a->v < b->v ? -1 : a->v > b->v;
}

static int same_value(float a, float b) { return a == b || (isnan(a) && isnan(b)); }

/* Average ranks (1-based) of x into r; 0 if out of memory. */
static int average_ranks(const float *x, size_t n, double *r) {
  rank_item *it = malloc(n * sizeof *it);
  if (!it) return 0;
  for (size_t i = 0; i < n; i++) {
    it[i].v = x[i];
    it[i].i = i;
  }
  qsort(it, n, sizeof *it, cmp_item);
  for (size_t a = 0; a < n;) {
    size_t b = a + 1;
    while (b < n && same_value(it[b].v, it[a].v))
      b++;
    const double avg = 0.5 * (double)(a + 1 + b); /* mean of ranks a+1 .. b */
    for (size_t k = a; k < b; k++)
      r[it[k].i] = avg;
    a = b;
  }
  free(it);
  return 1;
}

double csm_eval_spearman(const float *a, const float *b, size_t n) {
  if (!a || !b || n < 2) return 0;
  double *ra = malloc(n * sizeof *ra), *rb = malloc(n * sizeof *rb);
  double rho = 0;
  if (ra && rb && average_ranks(a, n, ra) && average_ranks(b, n, rb)) {
    /* Both rank vectors have mean (n + 1) / 2. */
    const double mean = 0.5 * ((double)n + 1);
    double sab = 0, saa = 0, sbb = 0;
    for (size_t i = 0; i < n; i++) {
      const double da = ra[i] - mean, db = rb[i] - mean;
      sab += da * db;
      saa += da * da;
      sbb += db * db;
    }
    if (saa > 0 && sbb > 0) rho = sab / sqrt(saa * sbb);
    if (rho > 1) rho = 1;
    if (rho < -1) rho = -1;
  }
  free(ra);
  free(rb);
  return rho;
}

/* Min-max normalized copy (constant -> 0). */
static void minmax(const float *x, size_t n, double *out) {
  double lo = INFINITY, hi = -INFINITY;
  for (size_t i = 0; i < n; i++) {
    if (x[i] < lo) lo = x[i];
    if (x[i] > hi) hi = x[i];
  }
  const double range = hi - lo;
  for (size_t i = 0; i < n; i++)
    out[i] = range > 0 ? ((double)x[i] - lo) / range : 0;
}

enum { SSIM_RADIUS = 5 };

/* Gaussian-filters each of the 5 w x h planes of `in` into `out` (tmp:
 * scratch of the same size), window clipped and renormalized per pixel. */
static void gauss_filter(const double *in, int w, int h, const double *g, double *tmp,
                         double *out) {
  const size_t plane = (size_t)w * (size_t)h;
  for (int p = 0; p < 5; p++) {
    const double *src = in + p * plane;
    double *t = tmp + p * plane, *dst = out + p * plane;
    for (int y = 0; y < h; y++)
      for (int x = 0; x < w; x++) {
        double s = 0, ws = 0;
        for (int d = -SSIM_RADIUS; d <= SSIM_RADIUS; d++) {
          const int xx = x + d;
          if (xx < 0 || xx >= w) continue;
          s += g[d + SSIM_RADIUS] * src[(size_t)y * w + xx];
          ws += g[d + SSIM_RADIUS];
        }
        t[(size_t)y * w + x] = s / ws;
      }
    for (int y = 0; y < h; y++)
      for (int x = 0; x < w; x++) {
        double s = 0, ws = 0;
        for (int d = -SSIM_RADIUS; d <= SSIM_RADIUS; d++) {
          const int yy = y + d;
          if (yy < 0 || yy >= h) continue;
          s += g[d + SSIM_RADIUS] * t[(size_t)yy * w + x];
          ws += g[d + SSIM_RADIUS];
        }
        dst[(size_t)y * w + x] = s / ws;
      }
  }
}

double csm_eval_ssim(const float *a, const float *b, int w, int h) {
  if (!a || !b || w <= 0 || h <= 0) return NAN;
  const size_t n = (size_t)w * (size_t)h;
  /* Planes: a, b, a^2, b^2, ab; then their filtered means. */
  double *in = malloc(5 * n * sizeof *in), *tmp = malloc(5 * n * sizeof *tmp),
         *mu = malloc(5 * n * sizeof *mu);
  double result = NAN;
  if (in && tmp && mu) {
    double *pa = in, *pb = in + n;
    minmax(a, n, pa);
    minmax(b, n, pb);
    for (size_t i = 0; i < n; i++) {
      in[2 * n + i] = pa[i] * pa[i];
      in[3 * n + i] = pb[i] * pb[i];
      in[4 * n + i] = pa[i] * pb[i];
    }
    double g[2 * SSIM_RADIUS + 1];
    for (int d = -SSIM_RADIUS; d <= SSIM_RADIUS; d++)
      g[d + SSIM_RADIUS] = exp(-(double)(d * d) / (2 * 1.5 * 1.5));
    gauss_filter(in, w, h, g, tmp, mu);
    const double c1 = 0.01 * 0.01, c2 = 0.03 * 0.03;
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
      const double ma = mu[i], mb = mu[n + i];
      const double va = mu[2 * n + i] - ma * ma, vb = mu[3 * n + i] - mb * mb;
      const double cov = mu[4 * n + i] - ma * mb;
      sum += ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2));
    }
    result = sum / (double)n;
  }
  free(in);
  free(tmp);
  free(mu);
  return result;
}
