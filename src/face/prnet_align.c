/* PRNet alignments (the reference implementation's inputs): the canonical
 * face from PRNet's frontal mesh, the correspondence of a per-image PRNet
 * mesh with it, and frontalized warps. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "csm/core.h"
#include "csm/face.h"

/* A Delaunay triangle is kept when its longest edge is at most this many
 * times the median longest edge: Delaunay fills the convex hull, and the
 * triangles bridging the outline's concave parts are much longer than the
 * mesh spacing. */
#define PRNET_LONG_EDGE 3.0

struct csm_prnet_canon {
  int n, size, nt;
  float *xy;     /* n x 2, canonical frame */
  int32_t *tri;  /* nt x 3 */
  double scale;  /* frame = frontal * scale + (ox, oy) */
  double ox, oy; /* offset */
};

void csm_prnet_canon_free(csm_prnet_canon *pc) {
  if (!pc) return;
  free(pc->xy);
  free(pc->tri);
  free(pc);
}

int csm_prnet_canon_size(const csm_prnet_canon *pc) { return pc ? pc->size : 0; }
int csm_prnet_canon_num_vertices(const csm_prnet_canon *pc) { return pc ? pc->n : 0; }
const float *csm_prnet_canon_xy(const csm_prnet_canon *pc) { return pc ? pc->xy : NULL; }
int csm_prnet_canon_num_triangles(const csm_prnet_canon *pc) { return pc ? pc->nt : 0; }
const int32_t *csm_prnet_canon_triangles(const csm_prnet_canon *pc) { return pc ? pc->tri : NULL; }

void csm_prnet_canon_frame(const csm_prnet_canon *pc, double *scale, double *ox, double *oy) {
  if (!pc) return;
  if (scale) *scale = pc->scale;
  if (ox) *ox = pc->ox;
  if (oy) *oy = pc->oy;
}

static double tri_max_edge(const double *px, const double *py, const int32_t *t) {
  double e = 0;
  for (int k = 0; k < 3; k++)
    e = fmax(e, hypot(px[t[k]] - px[t[(k + 1) % 3]], py[t[k]] - py[t[(k + 1) % 3]]));
  return e;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Drops the long bridging triangles (see PRNET_LONG_EDGE); returns the
 * count kept, or -1 when out of memory. */
static int drop_long(const double *px, const double *py, int32_t *tri, int nt) {
  double *e = csm_malloc_array((size_t)nt, sizeof(double));
  if (!e) return -1;
  for (int k = 0; k < nt; k++)
    e[k] = tri_max_edge(px, py, tri + 3 * k);
  double *sorted = csm_malloc_array((size_t)nt, sizeof(double));
  if (!sorted) {
    free(e);
    return -1;
  }
  memcpy(sorted, e, sizeof(double) * (size_t)nt);
  qsort(sorted, (size_t)nt, sizeof(double), cmp_double);
  double lim = PRNET_LONG_EDGE * sorted[nt / 2];
  free(sorted);
  int m = 0;
  for (int k = 0; k < nt; k++)
    if (e[k] <= lim) memmove(tri + 3 * m++, tri + 3 * k, 3 * sizeof(int32_t));
  free(e);
  return m;
}

/* Triangles over the subsampled points. Stride 1 keeps PRNet's own
 * triangulation; a subsample has none, so it is re-triangulated (Delaunay
 * on the frontal 2D positions, where the face is a flat, fold-free sheet). */
static csm_status triangulate(const char *path, const float *fv, int nf, int stride,
                              csm_prnet_canon *pc) {
  if (stride == 1) {
    csm_status st = csm_mat_read_triangles(path, "triangles", &pc->tri, &pc->nt);
    if (st) return st;
    for (int i = 0; i < 3 * pc->nt; i++)
      if (pc->tri[i] < 0 || pc->tri[i] >= nf)
        return csm_fail(CSM_EINPUT, "%s: 'triangles' index %d out of range for %d vertices", path,
                        (int)pc->tri[i], nf);
    return CSM_OK;
  }
  double *px = csm_malloc_array((size_t)pc->n, sizeof(double));
  double *py = csm_malloc_array((size_t)pc->n, sizeof(double));
  csm_status st = px && py ? CSM_OK : CSM_ENOMEM;
  for (int i = 0; !st && i < pc->n; i++) {
    px[i] = fv[3 * (size_t)stride * i];
    py[i] = fv[3 * (size_t)stride * i + 1];
  }
  if (!st) st = csm_delaunay(px, py, pc->n, &pc->tri, &pc->nt);
  if (st) st = csm_fail_context(st, "%s: ", path);
  if (!st) {
    pc->nt = drop_long(px, py, pc->tri, pc->nt);
    if (pc->nt < 0) st = CSM_ENOMEM;
  }
  free(px);
  free(py);
  return st;
}

/* pixel_frame: frontal.jpg's pixels as they are; else the bounding box
 * scaled into the frame with a margin. */
static csm_status canon_load(const char *frontal_mesh_mat, int stride, int size, int pixel_frame,
                             csm_prnet_canon **out) {
  if (!out) return csm_fail(CSM_EUSAGE, "csm_prnet_canon_load: null output");
  *out = NULL;
  if (!frontal_mesh_mat || stride < 1 || size < 1 || size > 4096)
    return csm_fail(CSM_EUSAGE, "csm_prnet_canon_load: bad argument (stride %d, size %d)", stride,
                    size);
  float *fv = NULL;
  int nf = 0, cols = 0;
  csm_status st = csm_mat_read_matrix(frontal_mesh_mat, "vertices", &fv, &nf, &cols);
  if (st) return st;
  csm_prnet_canon *pc = calloc(1, sizeof *pc);
  if (!pc) {
    free(fv);
    return CSM_ENOMEM;
  }
  pc->size = size;
  pc->n = (nf + stride - 1) / stride; /* the rows of vertices[::stride] */
  if (pc->n < 3) {
    st = csm_fail(CSM_EINPUT, "%s: %d vertices, too few for a face", frontal_mesh_mat, nf);
    goto done;
  }
  /* The frame: the whole frontal mesh's bounding box, centred in size x
   * size with a margin, one scale for both axes so the face keeps its
   * shape. The bounding box (not frontal.jpg's size) keeps the loader
   * independent of the image, which is optional. */
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  for (int i = 0; i < nf; i++) {
    double x = fv[3 * i], y = fv[3 * i + 1];
    if (!isfinite(x) || !isfinite(y)) {
      st = csm_fail(CSM_EINPUT, "%s: vertex %d is not finite", frontal_mesh_mat, i + 1);
      goto done;
    }
    x0 = fmin(x0, x), x1 = fmax(x1, x), y0 = fmin(y0, y), y1 = fmax(y1, y);
  }
  double extent = fmax(x1 - x0, y1 - y0);
  if (!(extent > 0)) {
    st = csm_fail(CSM_EINPUT, "%s: the frontal mesh is flat", frontal_mesh_mat);
    goto done;
  }
  if (pixel_frame) {
    pc->scale = 1, pc->ox = pc->oy = 0;
  } else {
    pc->scale = size * (1 - 2 * CSM_PRNET_MARGIN) / extent;
    pc->ox = size / 2.0 - pc->scale * (x0 + x1) / 2;
    pc->oy = size / 2.0 - pc->scale * (y0 + y1) / 2;
  }
  pc->xy = csm_malloc_array((size_t)pc->n * 2, sizeof(float));
  if (!pc->xy) {
    st = CSM_ENOMEM;
    goto done;
  }
  for (int i = 0; i < pc->n; i++) {
    pc->xy[2 * i] = (float)(fv[3 * (size_t)stride * i] * pc->scale + pc->ox);
    pc->xy[2 * i + 1] = (float)(fv[3 * (size_t)stride * i + 1] * pc->scale + pc->oy);
  }
  st = triangulate(frontal_mesh_mat, fv, nf, stride, pc);
  if (!st && pc->nt < 1)
    st = csm_fail(CSM_EINPUT, "%s: no triangles over the frontal mesh", frontal_mesh_mat);
done:
  free(fv);
  if (st)
    csm_prnet_canon_free(pc);
  else
    *out = pc;
  return st;
}

csm_status csm_prnet_canon_load(const char *frontal_mesh_mat, int stride, int size,
                                csm_prnet_canon **out) {
  return canon_load(frontal_mesh_mat, stride, size, 0, out);
}

csm_status csm_prnet_canon_load_pixels(const char *frontal_mesh_mat, int stride, int size,
                                       csm_prnet_canon **out) {
  return canon_load(frontal_mesh_mat, stride, size, 1, out);
}

csm_status csm_prnet_corr(const csm_prnet_canon *pc, const float *image_xyz, int n, int image_w,
                          int image_h, csm_corr **out) {
  if (!out) return csm_fail(CSM_EUSAGE, "csm_prnet_corr: null output");
  *out = NULL;
  if (!pc || !image_xyz || image_w < 1 || image_h < 1)
    return csm_fail(CSM_EUSAGE, "csm_prnet_corr: bad argument");
  if (n != pc->n)
    return csm_fail(CSM_EINPUT, "mesh has %d vertices, the canonical PRNet face %d", n, pc->n);
  float *xyz = csm_malloc_array((size_t)n * 3, sizeof(float));
  if (!xyz) return CSM_ENOMEM;
  /* PRNet's z grows toward the camera (the frontal nose tip has the
   * largest z); the correspondence wants larger = farther. */
  for (int i = 0; i < n; i++) {
    xyz[3 * i] = image_xyz[3 * i];
    xyz[3 * i + 1] = image_xyz[3 * i + 1];
    xyz[3 * i + 2] = -image_xyz[3 * i + 2];
  }
  csm_corr_mesh m = {n, xyz, pc->xy, pc->nt, pc->tri, pc->size, pc->size, image_w, image_h};
  csm_status st = csm_corr_create(&m, out);
  free(xyz);
  return st;
}

/* Hidden and outside parts are mid grey, as in csm_canon_warp: neither
 * black nor white, so they read as "no data" next to any skin. */
static csm_status grey_image(int size, csm_image *out) {
  out->w = out->h = size;
  out->rgb = malloc((size_t)size * size * 3);
  if (!out->rgb) return CSM_ENOMEM;
  memset(out->rgb, 128, (size_t)size * size * 3);
  return CSM_OK;
}

csm_status csm_prnet_canon_background(const csm_prnet_canon *pc, const csm_image *frontal,
                                      csm_image *out) {
  if (!pc || !frontal || !frontal->rgb || !out)
    return csm_fail(CSM_EUSAGE, "csm_prnet_canon_background: null argument");
  csm_status st = grey_image(pc->size, out);
  if (st) return st;
  /* Each frame pixel centre read back through the frame's inverse scaling;
   * the margin beyond the photo stays grey. */
  for (int j = 0; j < pc->size; j++)
    for (int i = 0; i < pc->size; i++) {
      double x = (i + 0.5 - pc->ox) / pc->scale, y = (j + 0.5 - pc->oy) / pc->scale;
      if (x >= 0 && y >= 0 && x <= frontal->w && y <= frontal->h)
        csm_image_bilinear_rgb(frontal, x, y, out->rgb + ((size_t)j * pc->size + i) * 3);
    }
  return CSM_OK;
}

csm_status csm_prnet_warp(const csm_prnet_canon *pc, const csm_image *img, const csm_corr *corr,
                          const csm_image *fill, csm_image *out) {
  if (!pc || !img || !img->rgb || !corr || !out)
    return csm_fail(CSM_EUSAGE, "csm_prnet_warp: null argument");
  int size = pc->size;
  if (fill && (fill->w != size || fill->h != size || !fill->rgb))
    return csm_fail(CSM_EUSAGE, "csm_prnet_warp: fill image must be %dx%d", size, size);
  csm_status st = grey_image(size, out);
  if (st) return st;
  if (fill) memcpy(out->rgb, fill->rgb, (size_t)size * size * 3);
  const unsigned char *vis = csm_corr_canon_visible(corr);
  for (int j = 0; j < size; j++)
    for (int i = 0; i < size; i++) {
      double x, y;
      if (vis[(size_t)j * size + i] && csm_corr_to_image(corr, i + 0.5, j + 0.5, &x, &y))
        csm_image_bilinear_rgb(img, x, y, out->rgb + ((size_t)j * size + i) * 3);
    }
  return CSM_OK;
}
