/* Map images: a float map blended over a background with a colour map, a
 * title above and a labelled colour bar at the right; images side by side. */
#include "csm/report.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WHITE 0xFFFFFFu
#define BLACK 0x000000u
#define GREY 128

csm_map_style csm_map_style_default(void) {
  csm_map_style s;
  memset(&s, 0, sizeof s);
  s.cmap = CSM_CMAP_DIVERGING;
  s.lo = 0, s.hi = 0; /* automatic */
  s.alpha = 0.65f;
  s.colorbar = 1;
  s.title = NULL;
  s.scale = 1;
  return s;
}

/* A new w x h image filled with one colour; checks the size. */
static csm_status new_image(int w, int h, unsigned char fill, csm_image *out) {
  size_t px, bytes;
  if (w <= 0 || h <= 0 || !csm_size_mul((size_t)w, (size_t)h, &px) ||
      px > (size_t)CSM_IMAGE_MAX_PIXELS || !csm_size_mul(px, 3, &bytes))
    return csm_fail(CSM_EUSAGE, "image size %dx%d is out of range", w, h);
  out->rgb = csm_malloc(bytes);
  if (!out->rgb) return CSM_ENOMEM;
  memset(out->rgb, fill, bytes);
  out->w = w, out->h = h;
  return CSM_OK;
}

static void fill_rect(csm_image *img, int x, int y, int w, int h, const unsigned char rgb[3]) {
  for (int j = y < 0 ? 0 : y; j < y + h && j < img->h; j++)
    for (int i = x < 0 ? 0 : x; i < x + w && i < img->w; i++)
      memcpy(img->rgb + ((size_t)j * img->w + i) * 3, rgb, 3);
}

static int is_valid(const float *map, const unsigned char *valid, size_t i) {
  return (!valid || valid[i]) && isfinite(map[i]);
}

/* The documented automatic range; degenerate ranges are widened so that the
 * mapping stays defined (a constant map shows the middle colour). */
static void auto_range(const float *map, const unsigned char *valid, size_t n, csm_colormap cm,
                       double *lo, double *hi) {
  double mn = INFINITY, mx = -INFINITY;
  for (size_t i = 0; i < n; i++)
    if (is_valid(map, valid, i)) {
      if (map[i] < mn) mn = map[i];
      if (map[i] > mx) mx = map[i];
    }
  if (mn > mx) mn = 0, mx = 0; /* nothing valid */
  if (cm == CSM_CMAP_DIVERGING) {
    double m = fabs(mn) > fabs(mx) ? fabs(mn) : fabs(mx);
    if (!(m > 0)) m = 1;
    *lo = -m, *hi = m;
  } else if (mx > mn) {
    *lo = mn, *hi = mx;
  } else {
    *lo = mn - 0.5, *hi = mn + 0.5;
  }
}

static int text_width(const char *s, int ts) { return (int)strlen(s) * 6 * ts; }

/* A number as the colour bar labels it. */
static void label(char *buf, size_t n, double v) {
  snprintf(buf, n, "%.3g", v);
  if (!strcmp(buf, "-0")) snprintf(buf, n, "0");
}

csm_status csm_map_render(const float *map, const unsigned char *valid, int w, int h,
                          const csm_image *background, const csm_map_style *style, csm_image *out) {
  if (out) memset(out, 0, sizeof *out);
  csm_map_style def = csm_map_style_default();
  const csm_map_style *s = style ? style : &def;
  if (!map || !out) return csm_fail(CSM_EUSAGE, "csm_map_render: no map or no output image");
  size_t n;
  if (w <= 0 || h <= 0 || !csm_size_mul((size_t)w, (size_t)h, &n) ||
      n > (size_t)CSM_IMAGE_MAX_PIXELS)
    return csm_fail(CSM_EUSAGE, "csm_map_render: map size %dx%d is out of range", w, h);
  if (background && (!background->rgb || background->w != w || background->h != h))
    return csm_fail(CSM_EUSAGE, "csm_map_render: background is %dx%d, the map %dx%d", background->w,
                    background->h, w, h);
  if (!(s->alpha >= 0 && s->alpha <= 1))
    return csm_fail(CSM_EUSAGE, "csm_map_render: alpha %g is outside [0, 1]", (double)s->alpha);
  if (s->scale < 1 || s->scale > 64)
    return csm_fail(CSM_EUSAGE, "csm_map_render: scale %d is outside 1..64", s->scale);
  if (s->cmap != CSM_CMAP_INFERNO && s->cmap != CSM_CMAP_DIVERGING)
    return csm_fail(CSM_EUSAGE, "csm_map_render: unknown colour map %d", (int)s->cmap);
  if (s->lo < s->hi && !(isfinite(s->lo) && isfinite(s->hi)))
    return csm_fail(CSM_EUSAGE, "csm_map_render: range is not finite");

  double lo = s->lo, hi = s->hi;
  if (!(lo < hi)) auto_range(map, valid, n, s->cmap, &lo, &hi);

  /* Layout, in output pixels; ts is the text scale, the map's own scale so
   * that labels keep their size relative to the map. */
  const int sc = s->scale, ts = sc, pad = 4 * ts;
  const int mw = w * sc, mh = h * sc;
  int title_lines = 0, title_w = 0;
  if (s->title && *s->title) {
    title_lines = 1;
    int len = 0;
    for (const char *p = s->title;; p++) {
      if (*p == '\n' || !*p) {
        if (len * 6 * ts > title_w) title_w = len * 6 * ts;
        if (!*p) break;
        title_lines++, len = 0;
      } else {
        len++;
      }
    }
  }
  const int title_h = title_lines ? title_lines * 8 * ts + pad : 0;
  char lo_s[32], hi_s[32], zero_s[8] = "0";
  label(lo_s, sizeof lo_s, lo);
  label(hi_s, sizeof hi_s, hi);
  const int bar_gap = 6 * ts, bar_w = 12 * ts, tick = 3 * ts;
  int label_w =
      text_width(lo_s, ts) > text_width(hi_s, ts) ? text_width(lo_s, ts) : text_width(hi_s, ts);
  const int bar_h = s->colorbar ? (mh > 24 * ts ? mh : 24 * ts) : 0;
  const int block_w = s->colorbar ? bar_gap + bar_w + tick + 2 * ts + label_w + pad : 0;
  long long ow = (long long)mw + block_w, oh = (long long)title_h + (mh > bar_h ? mh : bar_h);
  if (title_lines && title_w + 2 * pad > ow) ow = title_w + 2 * pad;
  if (ow > CSM_IMAGE_MAX_PIXELS || oh > CSM_IMAGE_MAX_PIXELS || ow * oh > CSM_IMAGE_MAX_PIXELS)
    return csm_fail(CSM_EUSAGE, "csm_map_render: a %dx%d map at scale %d is too large", w, h, sc);
  csm_status st = new_image((int)ow, (int)oh, 255, out);
  if (st) return st;

  /* The map, each source pixel a sc x sc block. */
  const double a = s->alpha, span = hi - lo;
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      size_t i = (size_t)y * w + x;
      unsigned char px[3] = {GREY, GREY, GREY};
      if (background) memcpy(px, background->rgb + i * 3, 3);
      if (is_valid(map, valid, i)) {
        unsigned char c[3];
        csm_colormap_rgb(s->cmap, (map[i] - lo) / span, c);
        for (int k = 0; k < 3; k++)
          px[k] = (unsigned char)lrint(a * c[k] + (1 - a) * px[k]);
      }
      fill_rect(out, x * sc, title_h + y * sc, sc, sc, px);
    }
  if (title_lines) csm_draw_text(out, pad, pad / 2, s->title, ts, BLACK);
  if (!s->colorbar) return CSM_OK;

  /* The bar: hi at the top, lo at the bottom, fully opaque, framed. */
  const int bx = mw + bar_gap, by = title_h;
  for (int j = 0; j < bar_h; j++) {
    unsigned char c[3];
    csm_colormap_rgb(s->cmap, bar_h > 1 ? 1.0 - (double)j / (bar_h - 1) : 0.5, c);
    fill_rect(out, bx, by + j, bar_w, 1, c);
  }
  csm_draw_box(out, (float)bx - 1, (float)by - 1, (float)bar_w + 1, (float)bar_h + 1, 1, BLACK);
  const int lx = bx + bar_w + tick + 2 * ts;
  csm_draw_line(out, (float)(bx + bar_w), (float)by, (float)(bx + bar_w + tick), (float)by, 1,
                BLACK);
  csm_draw_line(out, (float)(bx + bar_w), (float)(by + bar_h - 1), (float)(bx + bar_w + tick),
                (float)(by + bar_h - 1), 1, BLACK);
  csm_draw_text(out, lx, by, hi_s, ts, BLACK);
  csm_draw_text(out, lx, by + bar_h - 7 * ts, lo_s, ts, BLACK);
  if (s->cmap == CSM_CMAP_DIVERGING && lo < 0 && hi > 0) {
    int zy = by + (int)lrint((hi / span) * (bar_h - 1));
    /* Only where it does not collide with the end labels. */
    if (zy - 4 * ts >= by + 9 * ts && zy + 4 * ts <= by + bar_h - 8 * ts) {
      csm_draw_line(out, (float)(bx + bar_w), (float)zy, (float)(bx + bar_w + tick), (float)zy, 1,
                    BLACK);
      csm_draw_text(out, lx, zy - 3 * ts, zero_s, ts, BLACK);
    }
  }
  return CSM_OK;
}

csm_status csm_image_hstack(const csm_image *imgs, int n, int gap, csm_image *out) {
  if (out) memset(out, 0, sizeof *out);
  if (!imgs || n <= 0 || gap < 0 || !out)
    return csm_fail(CSM_EUSAGE, "csm_image_hstack: no images (n = %d, gap = %d)", n, gap);
  long long w = (long long)gap * (n - 1), h = 0;
  for (int k = 0; k < n; k++) {
    if (!imgs[k].rgb || imgs[k].w <= 0 || imgs[k].h <= 0)
      return csm_fail(CSM_EUSAGE, "csm_image_hstack: image %d is empty", k);
    w += imgs[k].w;
    if (imgs[k].h > h) h = imgs[k].h;
    if (w > CSM_IMAGE_MAX_PIXELS)
      return csm_fail(CSM_EUSAGE, "csm_image_hstack: the row is too wide");
  }
  if (w * h > CSM_IMAGE_MAX_PIXELS)
    return csm_fail(CSM_EUSAGE, "csm_image_hstack: %lldx%lld is too large", w, h);
  csm_status st = new_image((int)w, (int)h, 255, out);
  if (st) return st;
  int x = 0;
  for (int k = 0; k < n; k++) {
    for (int y = 0; y < imgs[k].h; y++)
      memcpy(out->rgb + ((size_t)y * out->w + x) * 3, imgs[k].rgb + (size_t)y * imgs[k].w * 3,
             (size_t)imgs[k].w * 3);
    x += imgs[k].w + gap;
  }
  return CSM_OK;
}

csm_status csm_image_vstack(const csm_image *imgs, int n, int gap, csm_image *out) {
  if (out) memset(out, 0, sizeof *out);
  if (!imgs || n <= 0 || gap < 0 || !out)
    return csm_fail(CSM_EUSAGE, "csm_image_vstack: no images (n = %d, gap = %d)", n, gap);
  long long w = 0, h = (long long)gap * (n - 1);
  for (int k = 0; k < n; k++) {
    if (!imgs[k].rgb || imgs[k].w <= 0 || imgs[k].h <= 0)
      return csm_fail(CSM_EUSAGE, "csm_image_vstack: image %d is empty", k);
    h += imgs[k].h;
    if (imgs[k].w > w) w = imgs[k].w;
    if (h > CSM_IMAGE_MAX_PIXELS)
      return csm_fail(CSM_EUSAGE, "csm_image_vstack: the column is too tall");
  }
  if (w * h > CSM_IMAGE_MAX_PIXELS)
    return csm_fail(CSM_EUSAGE, "csm_image_vstack: %lldx%lld is too large", w, h);
  csm_status st = new_image((int)w, (int)h, 255, out);
  if (st) return st;
  size_t y0 = 0;
  for (int k = 0; k < n; k++) {
    for (int y = 0; y < imgs[k].h; y++)
      memcpy(out->rgb + ((y0 + (size_t)y) * (size_t)out->w) * 3,
             imgs[k].rgb + (size_t)y * imgs[k].w * 3, (size_t)imgs[k].w * 3);
    y0 += (size_t)imgs[k].h + (size_t)gap;
  }
  return CSM_OK;
}
