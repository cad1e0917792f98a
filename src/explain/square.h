/* The pixel squares of occlusion patches and CIS footprints, in one place so
 * that both sides of the method cover the same pixels. A square of side s
 * around a point c (continuous coordinates, pixel k spans [k, k+1)) covers
 * S = round(s) pixels per axis starting at floor(c) - S/2: for the paper's
 * 15 px this is pixels x-7 .. x+7 around the point's pixel x, as in
 * img[y-7:y+8, x-7:x+8]. */
#ifndef CSM_EXPLAIN_SQUARE_H
#define CSM_EXPLAIN_SQUARE_H

#include <math.h>

/* Pixel range [*lo, *hi] of the square on one axis, unclamped. */
static inline void csm_square_range(double c, double side, int *lo, int *hi) {
  int s = (int)lround(side);
  if (s < 1) s = 1;
  int k0 = (int)floor(c);
  *lo = k0 - s / 2;
  *hi = *lo + s - 1;
}

#endif
