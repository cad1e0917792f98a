/* The pixel squares of occlusion patches and CIS footprints, in one place so
 * that both sides of the method cover the same pixels. A square of side s
 * around a point c (continuous coordinates, pixel k spans [k, k+1)) covers
 * S = round(s) pixels per axis starting at floor(c) - S/2: for the paper's
 * 15 px this is pixels x-7 .. x+7 around the point's pixel x, as in
 * img[y-7:y+8, x-7:x+8]. */
#ifndef CSM_EXPLAIN_SQUARE_H
#define CSM_EXPLAIN_SQUARE_H

#include <math.h>

#include "csm/explain.h"

/* Pixel range [*lo, *hi] of the square on one axis, unclamped. */
static inline void csm_square_range(double c, double side, int *lo, int *hi) {
  int s = (int)lround(side);
  if (s < 1) s = 1;
  int k0 = (int)floor(c);
  *lo = k0 - s / 2;
  *hi = *lo + s - 1;
}

/* The covered range [*lo, *hi] on an axis of n pixels under a rule
 * (csm_square_rule), clipped: empty when *lo > *hi. */
static inline void csm_square_span(double c, double side, csm_square_rule rule, int n, int *lo,
                                   int *hi) {
  if (rule == CSM_SQUARE_REFERENCE) {
    /* x1 = max(0, floor(c - s/2)); x2 = min(floor(x1 + s), n), exclusive. */
    double first = floor(c - side / 2);
    int s = (int)floor(side);
    if (s < 1) s = 1;
    *lo = first < 0 ? 0 : first > n ? n : (int)first;
    *hi = *lo + s - 1;
  } else {
    csm_square_range(c, side, lo, hi);
    if (*lo < 0) *lo = 0;
  }
  if (*hi > n - 1) *hi = n - 1;
}

#endif
