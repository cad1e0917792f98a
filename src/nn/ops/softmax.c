/* Softmax over the last axis.
 *
 * Numerically stable (the row maximum is subtracted before exp) and shaped
 * like TF.js's cpu kernel so that results agree to the bit: e = exp(x - max)
 * with exp in double rounded to float32, the row sum accumulated in double in
 * index order and rounded to float32, then a float32 division. Each row is
 * computed by one thread in a fixed order, so results do not depend on the
 * thread count or on the other rows of the batch.
 *
 * exp is the vectorizable double kernel of unary.c (a copy: the two files
 * share no private header); its float32 results equal glibc's for every
 * float input. */
#include "op.h"

#include <math.h>
#include <string.h>

#define PAR_MIN ((size_t)1 << 14)

/* c ? a : b through bit masks: a plain conditional on a clamped value gets
 * jump-threaded into branches, and then the loop no longer vectorizes. */
static inline double dsel(int c, double a, double b) {
  uint64_t ab, bb, m = (uint64_t)0 - (uint64_t)(c != 0);
  memcpy(&ab, &a, 8);
  memcpy(&bb, &b, 8);
  ab = (ab & m) | (bb & ~m);
  memcpy(&a, &ab, 8);
  return a;
}

/* exp in double: x = n ln2 + r with |r| <= ln2/2 (Cody-Waite, two-part ln2),
 * e^r by its degree-13 Taylor polynomial (truncation < 1e-17), 2^n built from
 * bits. The clamp keeps 2^n a normal double; beyond it every float result is
 * already 0 or inf. NaN passes through. */
static inline double vexp(double x) {
  const double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
  const double shift = 0x1.8p52; /* adding it rounds to an integer */
  x = dsel(x < -708.0, -708.0, x);
  x = dsel(x > 709.0, 709.0, x);
  double t = x * 1.4426950408889634074 + shift;
  double n = t - shift;
  double r = (x - n * ln2_hi) - n * ln2_lo;
  double p = 1.0 / 6227020800.0;
  p = p * r + 1.0 / 479001600.0;
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  uint64_t tb, sb;
  double s;
  memcpy(&tb, &t, 8);
  sb = (tb - 0x4338000000000000ull + 1023u) << 52; /* low bits of t hold n */
  memcpy(&s, &sb, 8);
  return p * s;
}

static csm_status softmax_infer(const csm_node *n, const csm_tensor *in, csm_tensor *out) {
  size_t count;
  if (n->n_in != 1) return csm_fail(CSM_EINPUT, "Softmax takes 1 input, got %d", n->n_in);
  if (in[0].dtype != CSM_F32) return csm_fail(CSM_EUNSUPPORTED, "Softmax needs a float32 input");
  if (in[0].shape.rank < 1) return csm_fail(CSM_EINPUT, "Softmax needs an input of rank >= 1");
  out->dtype = CSM_F32;
  out->shape = in[0].shape;
  return csm_shape_numel(&out->shape, &count);
}

/* exp(x - max) of one row. The maximum does not depend on the order (only
 * the sign of a zero maximum does, and x - m does not see it). A NaN is
 * skipped by the maximum but its own exp is NaN, so the row sum and then the
 * whole row are NaN, as in TF.js. */
static void exp_row(const float *x, float *o, size_t c) {
  float m = -INFINITY;
  for (size_t i = 0; i < c; i++)
    m = x[i] > m ? x[i] : m;
#pragma omp simd
  for (size_t i = 0; i < c; i++)
    o[i] = (float)vexp((double)(x[i] - m));
}

/* Rows [r0, r0 + nr), nr <= ROWS. Each row sum is a serial chain in index
 * order; summing ROWS rows side by side keeps the adder busy without
 * changing any row's order. */
#define ROWS 8
static void softmax_rows(const float *x, float *o, size_t c, size_t nr) {
  double sum[ROWS];
  for (size_t q = 0; q < nr; q++) {
    exp_row(x + q * c, o + q * c, c);
    sum[q] = 0.0;
  }
  if (nr == ROWS) { /* constant trip count: the sums live in registers */
    for (size_t i = 0; i < c; i++)
      for (size_t q = 0; q < ROWS; q++)
        sum[q] += (double)o[q * c + i];
  } else {
    for (size_t q = 0; q < nr; q++)
      for (size_t i = 0; i < c; i++)
        sum[q] += (double)o[q * c + i];
  }
  for (size_t q = 0; q < nr; q++) {
    const float s = (float)sum[q];
    float *oq = o + q * c;
#pragma omp simd
    for (size_t i = 0; i < c; i++)
      oq[i] = oq[i] / s;
  }
}

static csm_status softmax_forward(const csm_node *n, const csm_tensor *in, csm_tensor *out,
                                  void *scratch) {
  const float *x = in[0].data;
  float *o = out->data;
  size_t total = csm_tensor_numel(out), c = (size_t)in[0].shape.d[in[0].shape.rank - 1], rows;
  (void)n;
  (void)scratch;
  if (total == 0 || c == 0) return CSM_OK;
  rows = total / c;
  size_t blocks = (rows + ROWS - 1) / ROWS;
#pragma omp parallel for schedule(static) if (total >= PAR_MIN && blocks > 1)
  for (size_t b = 0; b < blocks; b++) {
    size_t r0 = b * ROWS, nr = rows - r0 < ROWS ? rows - r0 : ROWS;
    softmax_rows(x + r0 * c, o + r0 * c, c, nr);
  }
  return CSM_OK;
}

static double softmax_flops(const csm_node *n, const csm_tensor *in, const csm_tensor *out) {
  (void)n;
  (void)in;
  return 4.0 * (double)csm_tensor_numel(out); /* max, subtract and exp, sum, divide */
}

const csm_op_def csm_op_softmax = {
    .infer = softmax_infer, .forward = softmax_forward, .flops = softmax_flops};
