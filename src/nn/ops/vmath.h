/* Vectorizable double-precision math shared by the elementwise kernels
 * (unary.c: Exp, Sigmoid, Tanh; softmax.c: exp of each row).
 *
 * libm's exp does not vectorize (without -ffast-math), so these loops use the
 * kernel below instead. Its error is far below float resolution: checked over
 * all 2^32 float inputs, (float)csm_vexp(x) equals glibc's (float)exp(x) bit
 * for bit, so results agree with TF.js's cpu kernels (exp in double, rounded
 * to float32 once). Everything is static inline so that each `omp simd` loop
 * can inline and vectorize it. */
#ifndef CSM_NN_OPS_VMATH_H
#define CSM_NN_OPS_VMATH_H

#include <stdint.h>
#include <string.h>

/* c ? a : b through bit masks: a plain conditional on a clamped value gets
 * jump-threaded into branches, and then the loop no longer vectorizes. */
static inline double csm_dsel(int c, double a, double b) {
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
static inline double csm_vexp(double x) {
  const double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
  const double shift = 0x1.8p52; /* adding it rounds to an integer */
  x = csm_dsel(x < -708.0, -708.0, x);
  x = csm_dsel(x > 709.0, 709.0, x);
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

#endif
