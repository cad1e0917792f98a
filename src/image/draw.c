/* Overlay drawing: discs, thick lines, box outlines and bitmap text.
 * Integer coordinates are pixel centres (as in most drawing APIs), so a
 * one-pixel line between integer points is exactly one pixel wide rather
 * than tying between two rows. Everything is clipped to the image in floating
 * point before converting to int, so NaN, infinite or huge coordinates
 * draw nothing (or only the visible part) and never overflow. */
#include <math.h>
#include <stdint.h>

#include "image/image_internal.h"

static int drawable(const csm_image *img) { return img && img->rgb && img->w > 0 && img->h > 0; }

static void put(csm_image *img, int x, int y, uint32_t rgb) {
  unsigned char *p = img->rgb + ((size_t)y * (size_t)img->w + (size_t)x) * 3;
  p[0] = (unsigned char)(rgb >> 16);
  p[1] = (unsigned char)(rgb >> 8);
  p[2] = (unsigned char)rgb;
}

/* Sets the pixel nearest to (x, y), if it is inside the image. */
static void put_at(csm_image *img, double x, double y, uint32_t rgb) {
  x += 0.5;
  y += 0.5;
  if (x >= 0 && y >= 0 && x < img->w && y < img->h) put(img, (int)x, (int)y, rgb);
}

/* The pixel indices, clamped to [0, n-1], of a superset of the pixels
 * whose centres lie in [lo, hi]; 0 when none can. */
static int clamp_span(double lo, double hi, int n, int *a, int *b) {
  if (!(lo <= hi) || hi < -1 || lo > n) return 0;
  *a = lo < 0 ? 0 : (int)floor(lo);
  *b = hi > n - 1 ? n - 1 : (int)ceil(hi);
  return *a <= *b;
}

/* Radius from a user thickness or radius: at least half a pixel, and no
 * more than the image needs, so the loops stay bounded. */
static double sane_radius(const csm_image *img, double r) {
  const double cap = (double)img->w + img->h;
  if (!(r > 0.5)) return 0.5; /* also catches NaN */
  return r > cap ? cap : r;
}

void csm_draw_point(csm_image *img, float x, float y, float radius, uint32_t rgb) {
  if (!drawable(img) || !isfinite(x) || !isfinite(y)) return;
  const double r = sane_radius(img, radius);
  int x0, x1, y0, y1;
  if (!clamp_span(x - r, x + r, img->w, &x0, &x1) || !clamp_span(y - r, y + r, img->h, &y0, &y1))
    return;
  for (int py = y0; py <= y1; py++)
    for (int px = x0; px <= x1; px++) {
      const double dx = px - x, dy = py - y;
      if (dx * dx + dy * dy <= r * r) put(img, px, py, rgb);
    }
  /* A small disc may contain no pixel centre; always mark the nearest. */
  put_at(img, x, y, rgb);
}

/* Squared distance from (px, py) to the segment a-b. */
static double seg_dist2(double px, double py, double ax, double ay, double bx, double by) {
  const double dx = bx - ax, dy = by - ay, l2 = dx * dx + dy * dy;
  double t = l2 > 0 ? ((px - ax) * dx + (py - ay) * dy) / l2 : 0;
  t = t < 0 ? 0 : t > 1 ? 1 : t;
  const double ex = ax + t * dx - px, ey = ay + t * dy - py;
  return ex * ex + ey * ey;
}

/* Liang-Barsky: clips the segment to [xlo, xhi] x [ylo, yhi] (so later
 * arithmetic works with moderate numbers); 0 when it misses. */
static int clip_segment(double *x0, double *y0, double *x1, double *y1, double xlo, double xhi,
                        double ylo, double yhi) {
  const double dx = *x1 - *x0, dy = *y1 - *y0;
  const double p[4] = {-dx, dx, -dy, dy};
  const double q[4] = {*x0 - xlo, xhi - *x0, *y0 - ylo, yhi - *y0};
  const double bound[4] = {xlo, xhi, ylo, yhi};
  double t0 = 0, t1 = 1;
  int k0 = -1, k1 = -1; /* the border each end was clipped to */
  for (int k = 0; k < 4; k++) {
    if (p[k] == 0) {
      if (q[k] < 0) return 0;
      continue;
    }
    const double t = q[k] / p[k];
    if (p[k] < 0) {
      if (t > t1) return 0;
      if (t > t0) t0 = t, k0 = k;
    } else {
      if (t < t0) return 0;
      if (t < t1) t1 = t, k1 = k;
    }
  }
  /* With huge endpoints t is too coarse to recover the clipped coordinate
   * as x0 + t*dx (it cancels catastrophically), so that coordinate is set
   * to its border exactly, and the other one is clamped into the box. */
  double ax = *x0 + t0 * dx, ay = *y0 + t0 * dy, bx = *x0 + t1 * dx, by = *y0 + t1 * dy;
  if (k0 >= 0) *(k0 < 2 ? &ax : &ay) = bound[k0];
  if (k1 >= 0) *(k1 < 2 ? &bx : &by) = bound[k1];
  *x0 = fmin(fmax(ax, xlo), xhi);
  *y0 = fmin(fmax(ay, ylo), yhi);
  *x1 = fmin(fmax(bx, xlo), xhi);
  *y1 = fmin(fmax(by, ylo), yhi);
  return 1;
}

void csm_draw_line(csm_image *img, float x0, float y0, float x1, float y1, float thickness,
                   uint32_t rgb) {
  if (!drawable(img) || !isfinite(x0) || !isfinite(y0) || !isfinite(x1) || !isfinite(y1)) return;
  const double r = sane_radius(img, thickness * 0.5);
  double ax = x0, ay = y0, bx = x1, by = y1;
  /* Pixels farther than r outside the image cannot be affected. */
  if (!clip_segment(&ax, &ay, &bx, &by, -r - 1, img->w + r + 1, -r - 1, img->h + r + 1)) return;
  int px0, px1, py0, py1;
  if (!clamp_span(fmin(ax, bx) - r, fmax(ax, bx) + r, img->w, &px0, &px1) ||
      !clamp_span(fmin(ay, by) - r, fmax(ay, by) + r, img->h, &py0, &py1))
    return;
  /* Pixels whose centres lie within r of the segment: with r >= 0.5 every
   * row or column the line crosses gets a pixel, so thin lines connect. */
  for (int py = py0; py <= py1; py++)
    for (int px = px0; px <= px1; px++)
      if (seg_dist2(px, py, ax, ay, bx, by) <= r * r) put(img, px, py, rgb);
  put_at(img, x0, y0, rgb);
  put_at(img, x1, y1, rgb);
}

void csm_draw_box(csm_image *img, float x, float y, float w, float h, float thickness,
                  uint32_t rgb) {
  if (!drawable(img) || !isfinite(x) || !isfinite(y) || !isfinite(w) || !isfinite(h)) return;
  const float xr = x + w, yb = y + h;
  csm_draw_line(img, x, y, xr, y, thickness, rgb);
  csm_draw_line(img, xr, y, xr, yb, thickness, rgb);
  csm_draw_line(img, xr, yb, x, yb, thickness, rgb);
  csm_draw_line(img, x, yb, x, y, thickness, rgb);
}

/* Fills the cell [x, x+s) x [y, y+s), clipped; long long so that pen
 * positions far off the image cannot overflow. */
static void fill_cell(csm_image *img, long long x, long long y, long long s, uint32_t rgb) {
  long long xa = x < 0 ? 0 : x, ya = y < 0 ? 0 : y;
  long long xb = x + s > img->w ? img->w : x + s, yb = y + s > img->h ? img->h : y + s;
  for (long long py = ya; py < yb; py++)
    for (long long px = xa; px < xb; px++)
      put(img, (int)px, (int)py, rgb);
}

void csm_draw_text(csm_image *img, int x, int y, const char *text, int scale, uint32_t rgb) {
  if (!drawable(img) || !text) return;
  if (scale < 1) scale = 1;
  if (scale > 64) scale = 64;
  /* Each glyph is 5x7 in a 6x8 cell, so adjacent glyphs and lines get a
   * pixel of spacing. */
  long long pen_x = x, pen_y = y;
  for (const unsigned char *s = (const unsigned char *)text; *s; s++) {
    if (*s == '\n') {
      pen_x = x;
      pen_y += 8LL * scale;
      continue;
    }
    const unsigned ch = *s == '\t' ? ' ' : (*s < 32 || *s > 126) ? '?' : *s;
    const unsigned char *g = csm_font5x7[ch - 32];
    if (pen_x < img->w && pen_y < img->h && pen_x + 6LL * scale > 0 && pen_y + 8LL * scale > 0)
      for (int col = 0; col < 5; col++)
        for (int row = 0; row < 7; row++)
          if (g[col] >> row & 1)
            fill_cell(img, pen_x + (long long)col * scale, pen_y + (long long)row * scale, scale,
                      rgb);
    pen_x += 6LL * scale;
  }
}
