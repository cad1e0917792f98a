/* Dense correspondence between an image and the canonical face through a
 * triangulated mesh: piecewise-affine maps both ways, with visibility.
 *
 * Two bucket grids make lookups exact and fast: per canonical pixel, and per
 * image pixel (restricted to the mesh's bounding box inside the image), the
 * triangles that overlap the pixel's square (conservative rasterization). A
 * point is looked up among the few triangles of its own pixel with exact
 * barycentrics, so thin triangles that cover no pixel centre are still
 * found: the maps are exact piecewise-affine maps and the round trip
 * image -> canonical -> image is exact to rounding. The image grid doubles
 * as an exact depth test: the surfaces at an image point are the triangles
 * that contain it.
 *
 * Skipped triangles (documented in docs/faces.md): a vertex that is NaN or
 * infinite in either frame, or zero area on the canonical face. Zero area in
 * the image means edge-on: such a triangle is hidden. Out-of-range vertex
 * indices are an error. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "csm/core.h"
#include "csm/face.h"

enum { TRI_VALID = 1, TRI_FRONT = 2, TRI_IMAGE = 4 /* non-degenerate in the image */ };

/* Tolerance on barycentrics, so that points on shared edges are found in
 * either triangle despite rounding (no cracks between triangles). */
#define BARY_EPS 1e-9
/* Areas (twice, in pixels^2) below this are degenerate. */
#define AREA_EPS 1e-12
/* Visibility (docs/faces.md): a triangle is back-facing when its unit normal
 * points away from the camera by more than this (sin of 14.5 degrees past
 * edge-on); a point is occluded by surfaces nearer than ZTOL_FRAC of the
 * mesh's depth range, farther than NEAR_FRAC of the canonical width from it
 * on the canonical face. */
#define BACK_COS 0.25
#define ZTOL_FRAC 0.03
#define NEAR_FRAC 0.05

/* Triangles per pixel of a w x h window at (x0, y0): ids[start[k] ..
 * start[k + 1]) for pixel k, in ascending id order. */
typedef struct bucket {
  int x0, y0, w, h;
  size_t *start;
  int32_t *ids;
} bucket;

struct csm_corr {
  int nv, nt;
  double *img; /* nv x 3 */
  double *can; /* nv x 2 */
  int32_t *tri;
  unsigned char *tflag;
  double *dens; /* canonical area per image area (the fold rule) */
  int cw, ch, iw, ih;
  unsigned char *cvis;
  bucket cb;   /* canonical raster */
  bucket ib;   /* image pixels under the mesh */
  double ztol; /* depth tolerance for "not behind" */
};

/* Barycentrics of (px, py) in triangle (a, b, c); 0 if degenerate. */
static int bary(double ax, double ay, double bx, double by, double cx, double cy, double px,
                double py, double w[3]) {
  double den = (by - cy) * (ax - cx) + (cx - bx) * (ay - cy);
  if (fabs(den) <= AREA_EPS) return 0;
  w[0] = ((by - cy) * (px - cx) + (cx - bx) * (py - cy)) / den;
  w[1] = ((cy - ay) * (px - cx) + (ax - cx) * (py - cy)) / den;
  w[2] = 1.0 - w[0] - w[1];
  return 1;
}

static int inside(const double w[3]) {
  return w[0] >= -BARY_EPS && w[1] >= -BARY_EPS && w[2] >= -BARY_EPS;
}

static int bary_can(const csm_corr *c, int t, double u, double v, double w[3]) {
  const int32_t *i = c->tri + (size_t)t * 3;
  const double *a = c->can + (size_t)i[0] * 2, *b = c->can + (size_t)i[1] * 2,
               *d = c->can + (size_t)i[2] * 2;
  return bary(a[0], a[1], b[0], b[1], d[0], d[1], u, v, w);
}

static int bary_img(const csm_corr *c, int t, double x, double y, double w[3]) {
  const int32_t *i = c->tri + (size_t)t * 3;
  const double *a = c->img + (size_t)i[0] * 3, *b = c->img + (size_t)i[1] * 3,
               *d = c->img + (size_t)i[2] * 3;
  return bary(a[0], a[1], b[0], b[1], d[0], d[1], x, y, w);
}

/* sum_k w_k * (coordinate `k` of vertex k of t) in array `p` with `stride`. */
static double interp(const csm_corr *c, const double *p, int stride, int t, int comp,
                     const double w[3]) {
  const int32_t *i = c->tri + (size_t)t * 3;
  return w[0] * p[(size_t)i[0] * stride + comp] + w[1] * p[(size_t)i[1] * stride + comp] +
         w[2] * p[(size_t)i[2] * stride + comp];
}

/* Does a triangle overlap the unit square of pixel (x, y)? Separating axes:
 * the bounding box (the caller's pixel range) and the three edge normals,
 * each edge function offset by the square's half extent along its normal. */
typedef struct edges {
  double a[3], b[3], c[3]; /* edge k: a x + b y + c >= 0 on the square's side */
} edges;

static void edges_setup(const csm_corr *c, const double *p, int stride, int t, edges *e) {
  const int32_t *i = c->tri + (size_t)t * 3;
  double vx[3], vy[3];
  for (int k = 0; k < 3; k++)
    vx[k] = p[(size_t)i[k] * stride], vy[k] = p[(size_t)i[k] * stride + 1];
  double area = (vx[1] - vx[0]) * (vy[2] - vy[0]) - (vy[1] - vy[0]) * (vx[2] - vx[0]);
  double sg = area > 0 ? 1 : -1;
  for (int k = 0; k < 3; k++) {
    double ex = vx[(k + 1) % 3] - vx[k], ey = vy[(k + 1) % 3] - vy[k];
    e->a[k] = -sg * ey;
    e->b[k] = sg * ex;
    e->c[k] = sg * (ey * vx[k] - ex * vy[k]) + 0.5 * (fabs(ex) + fabs(ey)) * (1 + 1e-9);
  }
}

static int overlaps(const edges *e, int x, int y) {
  double qx = x + 0.5, qy = y + 0.5;
  for (int k = 0; k < 3; k++)
    if (e->a[k] * qx + e->b[k] * qy + e->c[k] < 0) return 0;
  return 1;
}

/* Pixel range [lo, hi] of the squares that [mn, mx] touches, clamped to
 * [org, org + n - 1] (empty when lo > hi); in double so that huge
 * coordinates never overflow an int. */
static void pixel_range(double mn, double mx, int org, int n, int *lo, int *hi) {
  double a = floor(mn), b = floor(mx);
  *lo = a < org ? org : a > (double)org + n ? org + n : (int)a;
  *hi = b > (double)org + n - 1 ? org + n - 1 : b < org - 1.0 ? org - 1 : (int)b;
}

static void tri_bbox(const csm_corr *c, const double *p, int stride, int t, double bb[4]) {
  bb[0] = bb[2] = INFINITY, bb[1] = bb[3] = -INFINITY;
  for (int k = 0; k < 3; k++) {
    const double *q = p + (size_t)c->tri[(size_t)t * 3 + k] * stride;
    bb[0] = fmin(bb[0], q[0]), bb[1] = fmax(bb[1], q[0]);
    bb[2] = fmin(bb[2], q[1]), bb[3] = fmax(bb[3], q[1]);
  }
}

/* Two passes over the triangles with `flag`: count, then fill. */
static csm_status bucket_build(const csm_corr *c, bucket *b, const double *p, int stride,
                               unsigned char flag) {
  size_t n = (size_t)b->w * (size_t)b->h;
  size_t *cursor = NULL;
  b->start = csm_calloc(n + 1, sizeof(size_t));
  if (!b->start) return CSM_ENOMEM;
  for (int pass = 0; pass < 2; pass++) {
    for (int t = 0; t < c->nt; t++) {
      if (!(c->tflag[t] & flag)) continue;
      double bb[4];
      int x0, x1, y0, y1;
      edges e;
      tri_bbox(c, p, stride, t, bb);
      edges_setup(c, p, stride, t, &e);
      pixel_range(bb[0], bb[1], b->x0, b->w, &x0, &x1);
      pixel_range(bb[2], bb[3], b->y0, b->h, &y0, &y1);
      for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++) {
          if (!overlaps(&e, x, y)) continue;
          size_t k = (size_t)(y - b->y0) * b->w + (size_t)(x - b->x0);
          if (pass == 0)
            b->start[k + 1]++;
          else
            b->ids[cursor[k]++] = t;
        }
    }
    if (pass == 1) break;
    for (size_t k = 0; k < n; k++)
      if (!csm_size_add(b->start[k + 1], b->start[k], &b->start[k + 1]))
        return csm_fail(CSM_ENOMEM, "correspondence: too many triangle-pixel overlaps");
    b->ids = csm_malloc_array(b->start[n] ? b->start[n] : 1, sizeof(int32_t));
    cursor = csm_malloc_array(n, sizeof(size_t));
    if (!b->ids || !cursor) {
      free(cursor);
      return CSM_ENOMEM;
    }
    memcpy(cursor, b->start, n * sizeof(size_t));
  }
  free(cursor);
  return CSM_OK;
}

/* Bucket of the pixel containing (x, y); 0 outside the window. */
static int bucket_at(const bucket *b, double x, double y, size_t *lo, size_t *hi) {
  if (!b->start) return 0;
  double fx = floor(x) - b->x0, fy = floor(y) - b->y0;
  if (!(fx >= 0 && fy >= 0 && fx < b->w && fy < b->h)) return 0;
  size_t k = (size_t)fy * b->w + (size_t)fx;
  *lo = b->start[k], *hi = b->start[k + 1];
  return 1;
}

static int shares_vertex(const csm_corr *c, int t, int u) {
  const int32_t *a = c->tri + (size_t)t * 3, *b = c->tri + (size_t)u * 3;
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++)
      if (a[i] == b[j]) return 1;
  return 0;
}

/* Is the point of triangle t at image point (x, y), depth z, hidden by
 * another surface? Only a surface nearer by more than the depth tolerance
 * and away from the point on the face counts: not a triangle sharing a
 * vertex with t, and not one whose canonical point there lies within
 * NEAR_FRAC of the canonical width of the point's own. A landmark mesh is
 * noisy at the scale of its triangles (FaceMesh folds the nostrils, the
 * lips and the eye corners by a few pixels), and a fold that small is the
 * facing test's business; occlusion is for surfaces from elsewhere on the
 * face (the nose over the far cheek). Back-facing triangles occlude too:
 * an open face mesh seen from behind is still an opaque surface. */
static int occluded(const csm_corr *c, int t, double x, double y, double z) {
  size_t lo, hi;
  double w[3], pu, pv, near2 = (NEAR_FRAC * c->cw) * (NEAR_FRAC * c->cw);
  if (!bucket_at(&c->ib, x, y, &lo, &hi) || !bary_img(c, t, x, y, w)) return 0;
  pu = interp(c, c->can, 2, t, 0, w), pv = interp(c, c->can, 2, t, 1, w);
  for (size_t k = lo; k < hi; k++) {
    int u = c->ib.ids[k];
    if (u == t || !bary_img(c, u, x, y, w) || !inside(w)) continue;
    if (interp(c, c->img, 3, u, 2, w) >= z - c->ztol || shares_vertex(c, t, u)) continue;
    double du = interp(c, c->can, 2, u, 0, w) - pu, dv = interp(c, c->can, 2, u, 1, w) - pv;
    if (du * du + dv * dv >= near2) return 1;
  }
  return 0;
}

/* The surface that image point (x, y) maps to (csm_corr_to_canon); -1 if
 * none. Candidates: the non-back-facing triangles containing it that
 * nothing hides. Any two of them are within the depth tolerance of each
 * other or near each other on the face (a fold of the mesh that the facing
 * test keeps): one surface up to the mesh's noise, all of it visible. The
 * one holding the most canonical area per image area wins (the folded-over,
 * compressed layer: lips pressed together hold the mouth opening in a thin
 * strip), so that canonical -> image -> canonical comes back for as many
 * canonical points as it can; then the nearer, then the lowest id. */
static int visible_at(const csm_corr *c, double x, double y, double w_out[3]) {
  size_t lo, hi;
  if (!bucket_at(&c->ib, x, y, &lo, &hi)) return -1;
  int best = -1;
  double bd = 0, bz = INFINITY;
  for (size_t k = lo; k < hi; k++) {
    int t = c->ib.ids[k];
    double w[3];
    if (!(c->tflag[t] & TRI_FRONT) || !bary_img(c, t, x, y, w) || !inside(w)) continue;
    double z = interp(c, c->img, 3, t, 2, w), d = c->dens[t];
    int better = best < 0 || d > bd * (1 + 1e-9) || (d >= bd * (1 - 1e-9) && z < bz);
    if (better && !occluded(c, t, x, y, z)) {
      best = t, bd = d, bz = z;
      memcpy(w_out, w, sizeof(w));
    }
  }
  return best;
}

/* The canonical triangle containing (u, v). On a shared edge both contain
 * the point; a front-facing one wins so that silhouette edges stay visible
 * from the visible side. Where canonical triangles overlap: the lowest id. */
static int canon_triangle(const csm_corr *c, double u, double v, double w_out[3]) {
  size_t lo, hi;
  int found = -1;
  if (!bucket_at(&c->cb, u, v, &lo, &hi)) return -1;
  for (size_t k = lo; k < hi; k++) {
    int t = c->cb.ids[k];
    double w[3];
    if (!bary_can(c, t, u, v, w) || !inside(w)) continue;
    if (found < 0 || ((c->tflag[t] & TRI_FRONT) && !(c->tflag[found] & TRI_FRONT))) {
      found = t;
      memcpy(w_out, w, sizeof(w));
    }
  }
  return found;
}

/* The image window (the mesh's bounding box inside the image) and the depth
 * tolerance (from the mesh's depth range). */
static csm_status build_image(csm_corr *c) {
  double mnx = INFINITY, mxx = -INFINITY, mny = INFINITY, mxy = -INFINITY;
  double mnz = INFINITY, mxz = -INFINITY;
  for (int t = 0; t < c->nt; t++) {
    if (!(c->tflag[t] & TRI_IMAGE)) continue;
    for (int k = 0; k < 3; k++) {
      const double *p = c->img + (size_t)c->tri[(size_t)t * 3 + k] * 3;
      mnx = fmin(mnx, p[0]), mxx = fmax(mxx, p[0]), mny = fmin(mny, p[1]), mxy = fmax(mxy, p[1]);
      mnz = fmin(mnz, p[2]), mxz = fmax(mxz, p[2]);
    }
  }
  /* A few % of the depth range: landmark depths are noisy by about that
   * much, and genuine occluders (the nose over the cheek) are nearer by far
   * more. */
  c->ztol = mxz >= mnz ? ZTOL_FRAC * (mxz - mnz) + 1e-3 : 1e-3;
  int x0, x1, y0, y1;
  pixel_range(mnx, mxx, 0, c->iw, &x0, &x1);
  pixel_range(mny, mxy, 0, c->ih, &y0, &y1);
  if (x0 > x1 || y0 > y1) return CSM_OK; /* the mesh misses the image */
  c->ib = (bucket){x0, y0, x1 - x0 + 1, y1 - y0 + 1, NULL, NULL};
  /* Back-facing triangles occlude too: an open face mesh seen from behind
   * is still an opaque surface. */
  return bucket_build(c, &c->ib, c->img, 3, TRI_IMAGE);
}

/* Image point of canonical (u, v) when it is visible in the image. */
static int canon_to_image(const csm_corr *c, double u, double v, double *x, double *y) {
  double w[3] = {0, 0, 0};
  int t = canon_triangle(c, u, v, w);
  if (t < 0 || !(c->tflag[t] & TRI_FRONT)) return 0;
  double px = interp(c, c->img, 3, t, 0, w), py = interp(c, c->img, 3, t, 1, w);
  double pz = interp(c, c->img, 3, t, 2, w);
  if (!(px >= 0 && py >= 0 && px < c->iw && py < c->ih)) return 0;
  if (occluded(c, t, px, py, pz)) return 0;
  *x = px;
  *y = py;
  return 1;
}

static csm_status copy_mesh(csm_corr *c, const csm_corr_mesh *m) {
  for (int t = 0; t < m->n_triangles; t++)
    for (int k = 0; k < 3; k++) {
      int32_t i = m->triangles[(size_t)t * 3 + k];
      if (i < 0 || i >= m->n_vertices)
        return csm_fail(CSM_EINPUT, "correspondence: triangle %d has vertex index %d outside 0..%d",
                        t, (int)i, m->n_vertices - 1);
    }
  memcpy(c->tri, m->triangles, (size_t)m->n_triangles * 3 * sizeof(int32_t));
  for (size_t i = 0; i < (size_t)m->n_vertices; i++) {
    for (int k = 0; k < 3; k++)
      c->img[i * 3 + k] = m->image_xyz[i * 3 + k];
    for (int k = 0; k < 2; k++)
      c->can[i * 2 + k] = m->canon_xy[i * 2 + k];
  }
  for (int t = 0; t < c->nt; t++) {
    const int32_t *i = c->tri + (size_t)t * 3;
    int finite = 1;
    for (int k = 0; k < 3; k++) {
      const double *p = c->img + (size_t)i[k] * 3, *q = c->can + (size_t)i[k] * 2;
      finite &=
          isfinite(p[0]) && isfinite(p[1]) && isfinite(p[2]) && isfinite(q[0]) && isfinite(q[1]);
    }
    if (!finite) continue;
    const double *a = c->can + (size_t)i[0] * 2, *b = c->can + (size_t)i[1] * 2,
                 *d = c->can + (size_t)i[2] * 2;
    double ac = (b[0] - a[0]) * (d[1] - a[1]) - (b[1] - a[1]) * (d[0] - a[0]);
    const double *e = c->img + (size_t)i[0] * 3, *f = c->img + (size_t)i[1] * 3,
                 *g = c->img + (size_t)i[2] * 3;
    double ai = (f[0] - e[0]) * (g[1] - e[1]) - (f[1] - e[1]) * (g[0] - e[0]);
    if (!isfinite(ac) || !isfinite(ai) || fabs(ac) <= AREA_EPS) continue;
    c->tflag[t] = TRI_VALID;
    if (fabs(ai) > AREA_EPS) c->tflag[t] |= TRI_IMAGE;
    c->dens[t] = fabs(ai) > AREA_EPS ? fabs(ac) / fabs(ai) : 0;
    /* Facing: both frames are y-down, so the same winding means facing the
     * camera. Opposite winding alone is not enough to hide a triangle: the
     * unit 3D normal must also point away by more than BACK_COS (an angle of
     * asin(BACK_COS) past edge-on), so that small folds of a noisy mesh
     * (lips pressed together, nostrils, eye corners) stay visible. */
    double ex[3] = {f[0] - e[0], f[1] - e[1], f[2] - e[2]};
    double ey[3] = {g[0] - e[0], g[1] - e[1], g[2] - e[2]};
    double nx = ex[1] * ey[2] - ex[2] * ey[1], ny = ex[2] * ey[0] - ex[0] * ey[2];
    double nn = sqrt(nx * nx + ny * ny + ai * ai);
    int same = (ai > 0) == (ac > 0);
    /* > 0: towards the camera; huge coordinates overflow to the winding. */
    double facing = nn > 0 && isfinite(nn) ? (ac > 0 ? ai : -ai) / nn : same ? 1 : -1;
    if (fabs(ai) > AREA_EPS && facing > -BACK_COS) c->tflag[t] |= TRI_FRONT;
  }
  return CSM_OK;
}

csm_status csm_corr_create(const csm_corr_mesh *m, csm_corr **out) {
  if (!out) return csm_fail(CSM_EUSAGE, "csm_corr_create: NULL output");
  *out = NULL;
  if (!m || !m->image_xyz || !m->canon_xy || !m->triangles)
    return csm_fail(CSM_EUSAGE, "csm_corr_create: NULL mesh or mesh array");
  if (m->n_vertices < 3 || m->n_triangles < 1)
    return csm_fail(CSM_EUSAGE, "csm_corr_create: %d vertices, %d triangles (need >= 3 and >= 1)",
                    m->n_vertices, m->n_triangles);
  if (m->canon_w < 1 || m->canon_h < 1 || m->image_w < 1 || m->image_h < 1)
    return csm_fail(CSM_EUSAGE, "csm_corr_create: raster sizes canon %dx%d, image %dx%d",
                    m->canon_w, m->canon_h, m->image_w, m->image_h);
  size_t ncan, ntri3;
  if (!csm_size_mul((size_t)m->canon_w, (size_t)m->canon_h, &ncan) ||
      !csm_size_mul((size_t)m->n_triangles, 3, &ntri3))
    return csm_fail(CSM_EUSAGE, "csm_corr_create: sizes overflow");
  csm_corr *c = csm_calloc(1, sizeof(*c));
  if (!c) return CSM_ENOMEM;
  c->nv = m->n_vertices, c->nt = m->n_triangles;
  c->cw = m->canon_w, c->ch = m->canon_h, c->iw = m->image_w, c->ih = m->image_h;
  c->img = csm_malloc_array((size_t)c->nv, 3 * sizeof(double));
  c->can = csm_malloc_array((size_t)c->nv, 2 * sizeof(double));
  c->tri = csm_malloc_array(ntri3, sizeof(int32_t));
  c->tflag = csm_calloc((size_t)c->nt, 1);
  c->dens = csm_calloc((size_t)c->nt, sizeof(double));
  c->cvis = csm_calloc(ncan, 1);
  csm_status s = CSM_ENOMEM;
  if (!c->img || !c->can || !c->tri || !c->tflag || !c->dens || !c->cvis) goto fail;
  if ((s = copy_mesh(c, m)) != CSM_OK) goto fail;
  c->cb = (bucket){0, 0, c->cw, c->ch, NULL, NULL};
  if ((s = bucket_build(c, &c->cb, c->can, 2, TRI_VALID)) != CSM_OK) goto fail;
  if ((s = build_image(c)) != CSM_OK) goto fail;
  for (int y = 0; y < c->ch; y++)
    for (int x = 0; x < c->cw; x++) {
      double ix, iy;
      c->cvis[(size_t)y * c->cw + x] = (unsigned char)canon_to_image(c, x + 0.5, y + 0.5, &ix, &iy);
    }
  *out = c;
  return CSM_OK;
fail:
  csm_corr_free(c);
  return s;
}

void csm_corr_free(csm_corr *c) {
  if (!c) return;
  free(c->img);
  free(c->can);
  free(c->tri);
  free(c->tflag);
  free(c->dens);
  free(c->cb.start);
  free(c->cb.ids);
  free(c->ib.start);
  free(c->ib.ids);
  free(c->cvis);
  free(c);
}

int csm_corr_to_image(const csm_corr *c, double u, double v, double *x, double *y) {
  if (!c || !x || !y) return 0;
  return canon_to_image(c, u, v, x, y);
}

int csm_corr_to_canon(const csm_corr *c, double x, double y, double *u, double *v) {
  if (!c || !u || !v || !(x >= 0 && y >= 0 && x < c->iw && y < c->ih)) return 0;
  double w[3] = {0, 0, 0};
  int t = visible_at(c, x, y, w);
  if (t < 0) return 0;
  double cu = interp(c, c->can, 2, t, 0, w), cv = interp(c, c->can, 2, t, 1, w);
  if (!(cu >= 0 && cv >= 0 && cu < c->cw && cv < c->ch)) return 0;
  *u = cu;
  *v = cv;
  return 1;
}

const unsigned char *csm_corr_canon_visible(const csm_corr *c) { return c ? c->cvis : NULL; }

void csm_corr_image_bounds(const csm_corr *c, double box[4]) {
  if (!box) return;
  box[0] = box[1] = box[2] = box[3] = 0;
  if (!c || !c->ib.start) return;
  box[0] = c->ib.x0, box[1] = c->ib.y0;
  box[2] = (double)c->ib.x0 + c->ib.w, box[3] = (double)c->ib.y0 + c->ib.h;
}
