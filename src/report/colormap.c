/* Colour maps: matplotlib's inferno (sampled at 33 evenly spaced points of its
 * published 256-entry table, linear in between: within 2/255 of the full
 * table) and ColorBrewer's RdBu, reversed so that low is blue and high red. */
#include "csm/report.h"

#include <math.h>

static const float inferno[33][3] = {
    {0.0015, 0.0005, 0.0139}, {0.0139, 0.0112, 0.0716}, {0.0420, 0.0280, 0.1406},
    {0.0815, 0.0432, 0.2144}, {0.1285, 0.0473, 0.2896}, {0.1823, 0.0405, 0.3539},
    {0.2370, 0.0366, 0.3956}, {0.2894, 0.0453, 0.4182}, {0.3399, 0.0618, 0.4292},
    {0.3897, 0.0803, 0.4331}, {0.4393, 0.0986, 0.4317}, {0.4889, 0.1164, 0.4259},
    {0.5386, 0.1339, 0.4157}, {0.5882, 0.1516, 0.4011}, {0.6375, 0.1704, 0.3822},
    {0.6858, 0.1910, 0.3591}, {0.7328, 0.2143, 0.3321}, {0.7776, 0.2414, 0.3016},
    {0.8195, 0.2728, 0.2685}, {0.8578, 0.3090, 0.2333}, {0.8918, 0.3500, 0.1965},
    {0.9210, 0.3954, 0.1584}, {0.9451, 0.4448, 0.1188}, {0.9640, 0.4974, 0.0776},
    {0.9774, 0.5526, 0.0380}, {0.9855, 0.6100, 0.0245}, {0.9879, 0.6692, 0.0596},
    {0.9847, 0.7296, 0.1222}, {0.9759, 0.7909, 0.1973}, {0.9623, 0.8522, 0.2867},
    {0.9486, 0.9109, 0.3962}, {0.9518, 0.9608, 0.5247}, {0.9884, 0.9984, 0.6449},
};

/* RdBu (11 classes), blue end first; the middle entry is the near-white
 * #f7f7f7. */
static const float diverging[11][3] = {
    {0x05, 0x30, 0x61}, {0x21, 0x66, 0xac}, {0x43, 0x93, 0xc3}, {0x92, 0xc5, 0xde},
    {0xd1, 0xe5, 0xf0}, {0xf7, 0xf7, 0xf7}, {0xfd, 0xdb, 0xc7}, {0xf4, 0xa5, 0x82},
    {0xd6, 0x60, 0x4d}, {0xb2, 0x18, 0x2b}, {0x67, 0x00, 0x1f},
};

static unsigned char to_byte(double v) {
  if (!(v > 0)) return 0;
  if (v >= 255) return 255;
  return (unsigned char)lrint(v);
}

static void lerp_table(const float (*tab)[3], int n, double unit, double t, unsigned char rgb[3]) {
  double x = t * (n - 1);
  int k = (int)x;
  if (k >= n - 1) k = n - 2;
  double f = x - k;
  for (int c = 0; c < 3; c++)
    rgb[c] = to_byte(((1 - f) * tab[k][c] + f * tab[k + 1][c]) * unit);
}

void csm_colormap_rgb(csm_colormap cm, double t, unsigned char rgb[3]) {
  if (!(t > 0)) t = 0; /* NAN too */
  if (t > 1) t = 1;
  if (cm == CSM_CMAP_INFERNO)
    lerp_table(inferno, 33, 255.0, t, rgb);
  else
    lerp_table(diverging, 11, 1.0, t, rgb);
}
