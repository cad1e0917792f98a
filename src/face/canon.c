/* The canonical face: loading and saving its JSON file, its mask, the
 * correspondence of a face mesh with it, frontalized warps and the shaded
 * default image. Derivation from meshes is in canon_build.c. */
#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csm/core.h"
#include "face/canon_internal.h"

const int csm_canon_oval[36] = {10,  338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288,
                                397, 365, 379, 378, 400, 377, 152, 148, 176, 149, 150, 136,
                                172, 58,  132, 93,  234, 127, 162, 21,  54,  103, 67,  109};
const int csm_canon_lips_outer[20] = {61,  146, 91,  181, 84,  17, 314, 405, 321, 375,
                                      291, 409, 270, 269, 267, 0,  37,  39,  40,  185};
const int csm_canon_lips_inner[20] = {78,  95,  88,  178, 87,  14, 317, 402, 318, 324,
                                      308, 415, 310, 311, 312, 13, 82,  81,  80,  191};
const int csm_canon_right_eye[16] = {33,  7,   163, 144, 145, 153, 154, 155,
                                     133, 173, 157, 158, 159, 160, 161, 246};
const int csm_canon_left_eye[16] = {263, 249, 390, 373, 374, 380, 381, 382,
                                    362, 398, 384, 385, 386, 387, 388, 466};

/* The file is a few hundred kB; anything much larger is not ours. */
#define CANON_MAX_FILE (16 << 20)
#define CANON_MAX_SIZE 4096
#define CANON_MAX_TRIANGLES 100000

int csm_canon_in_polygon(const float (*v)[3], const int *idx, int n, double x, double y) {
  int in = 0;
  for (int i = 0, j = n - 1; i < n; j = i++) {
    double xi = v[idx[i]][0], yi = v[idx[i]][1], xj = v[idx[j]][0], yj = v[idx[j]][1];
    if ((yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi) in = !in;
  }
  return in;
}

/* Barycentrics of (px, py) in triangle t of c (2D); 0 when degenerate. */
static int tri_bary(const csm_canon *c, const int32_t *t, double px, double py, double w[3]) {
  const float *a = c->v[t[0]], *b = c->v[t[1]], *d = c->v[t[2]];
  double den = ((double)b[1] - d[1]) * (a[0] - d[0]) + ((double)d[0] - b[0]) * (a[1] - d[1]);
  if (fabs(den) < 1e-12) return 0;
  w[0] = (((double)b[1] - d[1]) * (px - d[0]) + ((double)d[0] - b[0]) * (py - d[1])) / den;
  w[1] = (((double)d[1] - a[1]) * (px - d[0]) + ((double)a[0] - d[0]) * (py - d[1])) / den;
  w[2] = 1 - w[0] - w[1];
  return w[0] >= -1e-9 && w[1] >= -1e-9 && w[2] >= -1e-9;
}

/* Calls fn for every pixel centre of the w x h raster inside a triangle
 * (first triangle wins), with the triangle and barycentrics. */
typedef void (*raster_fn)(void *ctx, int x, int y, int t, const double w[3]);
static void raster(const csm_canon *c, double k, int w, int h, unsigned char *seen, raster_fn fn,
                   void *ctx) {
  for (int t = 0; t < c->nt; t++) {
    const int32_t *tr = c->tri + 3 * t;
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (int e = 0; e < 3; e++) {
      x0 = fmin(x0, c->v[tr[e]][0] * k), x1 = fmax(x1, c->v[tr[e]][0] * k);
      y0 = fmin(y0, c->v[tr[e]][1] * k), y1 = fmax(y1, c->v[tr[e]][1] * k);
    }
    int ia = (int)fmax(0, floor(x0 - 0.5)), ib = (int)fmin(w - 1, ceil(x1));
    int ja = (int)fmax(0, floor(y0 - 0.5)), jb = (int)fmin(h - 1, ceil(y1));
    for (int j = ja; j <= jb; j++)
      for (int i = ia; i <= ib; i++) {
        double bw[3];
        if (seen[(size_t)j * w + i] || !tri_bary(c, tr, (i + 0.5) / k, (j + 0.5) / k, bw)) continue;
        seen[(size_t)j * w + i] = 1;
        if (fn) fn(ctx, i, j, t, bw);
      }
  }
}

csm_status csm_canon_make_mask(csm_canon *c) {
  free(c->mask);
  c->mask = calloc((size_t)c->w * c->h, 1);
  if (!c->mask) return CSM_ENOMEM;
  raster(c, 1.0, c->w, c->h, c->mask, NULL, NULL);
  return CSM_OK;
}

void csm_canon_free(csm_canon *c) {
  if (!c) return;
  free(c->tri);
  free(c->mask);
  free(c);
}

int csm_canon_width(const csm_canon *c) { return c->w; }
int csm_canon_height(const csm_canon *c) { return c->h; }
const float *csm_canon_vertices(const csm_canon *c) { return &c->v[0][0]; }
int csm_canon_num_triangles(const csm_canon *c) { return c->nt; }
const int32_t *csm_canon_triangles(const csm_canon *c) { return c->tri; }
const int *csm_canon_mirror(const csm_canon *c) { return c->mirror; }
const unsigned char *csm_canon_mask(const csm_canon *c) { return c->mask; }

/* ---- JSON ---------------------------------------------------------------- */

/* Reads a JSON array of `cols` numbers into dst (doubles); 0 on success. */
static int read_row(const cJSON *row, int cols, double *dst) {
  if (!cJSON_IsArray(row) || cJSON_GetArraySize(row) != cols) return -1;
  int k = 0;
  for (const cJSON *e = row->child; e; e = e->next, k++) {
    if (!cJSON_IsNumber(e) || !isfinite(e->valuedouble)) return -1;
    dst[k] = e->valuedouble;
  }
  return 0;
}

static csm_status parse(const cJSON *root, const char *path, csm_canon *c) {
  const cJSON *size = cJSON_GetObjectItemCaseSensitive(root, "size");
  const cJSON *verts = cJSON_GetObjectItemCaseSensitive(root, "vertices");
  const cJSON *tris = cJSON_GetObjectItemCaseSensitive(root, "triangles");
  const cJSON *mir = cJSON_GetObjectItemCaseSensitive(root, "mirror");
  double d[3];
  if (read_row(size, 2, d) || d[0] != d[1] || d[0] < 16 || d[0] > CANON_MAX_SIZE ||
      d[0] != floor(d[0]))
    return csm_fail(CSM_EINPUT, "%s: \"size\" must be [n, n] with n in 16..%d", path,
                    CANON_MAX_SIZE);
  c->w = c->h = (int)d[0];
  if (!cJSON_IsArray(verts) || cJSON_GetArraySize(verts) != CSM_MESH_POINTS)
    return csm_fail(CSM_EINPUT, "%s: \"vertices\" must hold %d points", path, CSM_MESH_POINTS);
  int i = 0;
  for (const cJSON *e = verts->child; e; e = e->next, i++) {
    if (read_row(e, 3, d) || fabs(d[0]) > 1e6 || fabs(d[1]) > 1e6 || fabs(d[2]) > 1e6)
      return csm_fail(CSM_EINPUT, "%s: vertex %d is not 3 finite numbers", path, i);
    for (int k = 0; k < 3; k++)
      c->v[i][k] = (float)d[k];
  }
  int nt = cJSON_IsArray(tris) ? cJSON_GetArraySize(tris) : 0;
  if (nt < 1 || nt > CANON_MAX_TRIANGLES)
    return csm_fail(CSM_EINPUT, "%s: \"triangles\" must hold 1..%d triangles", path,
                    CANON_MAX_TRIANGLES);
  if (!(c->tri = malloc(sizeof(int32_t) * 3 * (size_t)nt))) return CSM_ENOMEM;
  c->nt = nt;
  i = 0;
  for (const cJSON *e = tris->child; e; e = e->next, i++) {
    if (read_row(e, 3, d)) return csm_fail(CSM_EINPUT, "%s: triangle %d is not 3 indices", path, i);
    for (int k = 0; k < 3; k++) {
      if (d[k] < 0 || d[k] >= CSM_MESH_POINTS || d[k] != floor(d[k]))
        return csm_fail(CSM_EINPUT, "%s: triangle %d: bad vertex index", path, i);
      c->tri[3 * i + k] = (int32_t)d[k];
    }
  }
  if (!cJSON_IsArray(mir) || cJSON_GetArraySize(mir) != CSM_MESH_POINTS)
    return csm_fail(CSM_EINPUT, "%s: \"mirror\" must hold %d indices", path, CSM_MESH_POINTS);
  i = 0;
  for (const cJSON *e = mir->child; e; e = e->next, i++) {
    double m = cJSON_IsNumber(e) ? e->valuedouble : -1;
    if (!(m >= 0 && m < CSM_MESH_POINTS && m == floor(m)))
      return csm_fail(CSM_EINPUT, "%s: mirror %d: bad index", path, i);
    c->mirror[i] = (int)m;
  }
  for (i = 0; i < CSM_MESH_POINTS; i++)
    if (c->mirror[c->mirror[i]] != i)
      return csm_fail(CSM_EINPUT, "%s: mirror map is not an involution at %d", path, i);
  return csm_canon_make_mask(c);
}

csm_status csm_canon_load(const char *path, csm_canon **out) {
  if (!path || !out) return csm_fail(CSM_EUSAGE, "csm_canon_load: null argument");
  *out = NULL;
  char *text;
  size_t len;
  csm_status st = csm_read_file(path, CANON_MAX_FILE, &text, &len);
  if (st) return st;
  cJSON *root = cJSON_Parse(text);
  free(text);
  if (!root) return csm_fail(CSM_EINPUT, "%s: not valid JSON", path);
  csm_canon *c = calloc(1, sizeof *c);
  if (!c)
    st = CSM_ENOMEM;
  else
    st = parse(root, path, c);
  cJSON_Delete(root);
  if (st) {
    csm_canon_free(c);
    return st;
  }
  *out = c;
  return CSM_OK;
}

csm_status csm_canon_default(csm_canon **out) {
  static const char kFile[] = "/canonical/facemesh_canonical.json";
  char path[2 * PATH_MAX];
  const char *dir = csm_data_dir();
  if (snprintf(path, sizeof path, "%s%s", dir, kFile) >= (int)sizeof path)
    return csm_fail(CSM_EUSAGE, "data folder path too long: %s", dir);
  return csm_canon_load(path, out);
}

csm_status csm_canon_save(const csm_canon *c, const char *path, const char *const *sources,
                          int n_sources) {
  if (!c || !path || (n_sources > 0 && !sources))
    return csm_fail(CSM_EUSAGE, "csm_canon_save: null argument");
  csm_atomic_file *out;
  csm_status st = csm_atomic_file_open(path, &out);
  if (st) return st;
  FILE *fp = csm_atomic_file_stream(out);
  /* One point, triangle or source per line: diffs of a regenerated file
   * stay readable. */
  fprintf(fp, "{\n  \"format\": \"csm-canonical-face\",\n  \"version\": 1,\n");
  fprintf(fp, "  \"topology\": \"facemesh-468\",\n  \"size\": [%d, %d],\n", c->w, c->h);
  fprintf(fp, "  \"axes\": \"x right, y down, z depth (larger = farther), pixels\",\n");
  fprintf(fp, "  \"sources\": [");
  for (int i = 0; i < n_sources; i++) {
    cJSON *str = cJSON_CreateString(sources[i]);
    char *q = str ? cJSON_PrintUnformatted(str) : NULL;
    fprintf(fp, "%s\n    %s", i ? "," : "", q ? q : "\"?\"");
    cJSON_free(q);
    cJSON_Delete(str);
  }
  fprintf(fp, "%s],\n  \"vertices\": [", n_sources ? "\n  " : "");
  for (int i = 0; i < CSM_MESH_POINTS; i++)
    fprintf(fp, "%s\n    [%.6f, %.6f, %.6f]", i ? "," : "", c->v[i][0], c->v[i][1], c->v[i][2]);
  fprintf(fp, "\n  ],\n  \"triangles\": [");
  for (int t = 0; t < c->nt; t++)
    fprintf(fp, "%s\n    [%d, %d, %d]", t ? "," : "", (int)c->tri[3 * t], (int)c->tri[3 * t + 1],
            (int)c->tri[3 * t + 2]);
  fprintf(fp, "\n  ],\n  \"mirror\": [");
  for (int i = 0; i < CSM_MESH_POINTS; i++)
    fprintf(fp, "%s%s%d", i ? ", " : "", i % 16 ? "" : "\n    ", c->mirror[i]);
  fprintf(fp, "\n  ]\n}\n");
  return csm_atomic_file_commit(out); /* checks every fprintf above */
}

/* ---- Use ----------------------------------------------------------------- */

static int out_size(const csm_canon *c, int size) { return size > 0 ? size : c->w; }

csm_status csm_canon_corr(const csm_canon *c, const csm_face *face, int image_w, int image_h,
                          int size, csm_corr **out) {
  if (!c || !face || !out) return csm_fail(CSM_EUSAGE, "csm_canon_corr: null argument");
  if (!face->has_mesh) return csm_fail(CSM_EUSAGE, "csm_canon_corr: the face has no mesh");
  size = out_size(c, size);
  if (size > CANON_MAX_SIZE)
    return csm_fail(CSM_EUSAGE, "canonical size %d is larger than %d", size, CANON_MAX_SIZE);
  float *xy = malloc(sizeof(float) * 2 * CSM_MESH_POINTS);
  if (!xy) return CSM_ENOMEM;
  double k = (double)size / c->w;
  for (int i = 0; i < CSM_MESH_POINTS; i++)
    xy[2 * i] = (float)(c->v[i][0] * k), xy[2 * i + 1] = (float)(c->v[i][1] * k);
  csm_corr_mesh m = {CSM_MESH_POINTS, &face->mesh[0][0], xy, c->nt, c->tri, size, size, image_w,
                     image_h};
  csm_status st = csm_corr_create(&m, out);
  free(xy);
  return st;
}

static csm_status new_image(int w, int h, unsigned char grey, csm_image *out) {
  out->w = w, out->h = h;
  out->rgb = malloc((size_t)w * h * 3);
  if (!out->rgb) return CSM_ENOMEM;
  memset(out->rgb, grey, (size_t)w * h * 3);
  return CSM_OK;
}

csm_status csm_canon_warp(const csm_canon *c, const csm_image *img, const csm_face *face, int size,
                          const csm_image *fill, csm_image *out) {
  if (!c || !img || !img->rgb || !face || !out)
    return csm_fail(CSM_EUSAGE, "csm_canon_warp: null argument");
  size = out_size(c, size);
  if (fill && (fill->w != size || fill->h != size || !fill->rgb))
    return csm_fail(CSM_EUSAGE, "csm_canon_warp: fill image must be %dx%d", size, size);
  csm_corr *corr = NULL;
  csm_status st = csm_canon_corr(c, face, img->w, img->h, size, &corr);
  if (st) return st;
  /* Hidden and outside parts are mid grey: neither black nor white, so
   * they read as "no data" next to dark and bright skin alike. */
  st = new_image(size, size, 128, out);
  if (st) {
    csm_corr_free(corr);
    return st;
  }
  if (fill) memcpy(out->rgb, fill->rgb, (size_t)size * size * 3);
  const unsigned char *vis = csm_corr_canon_visible(corr);
  for (int j = 0; j < size; j++)
    for (int i = 0; i < size; i++) {
      double x, y;
      if (vis[(size_t)j * size + i] && csm_corr_to_image(corr, i + 0.5, j + 0.5, &x, &y))
        csm_image_bilinear_rgb(img, x, y, out->rgb + ((size_t)j * size + i) * 3);
    }
  csm_corr_free(corr);
  return CSM_OK;
}

typedef struct shade_ctx {
  const csm_canon *c;
  const double (*vn)[3]; /* unit vertex normals, towards the camera */
  csm_image *img;
  double k; /* output pixels per canonical pixel */
} shade_ctx;

static void shade_pixel(void *vctx, int x, int y, int t, const double w[3]) {
  const shade_ctx *s = vctx;
  const int32_t *tr = s->c->tri + 3 * t;
  double n[3] = {0, 0, 0};
  for (int e = 0; e < 3; e++)
    for (int k = 0; k < 3; k++)
      n[k] += w[e] * s->vn[tr[e]][k];
  double len = sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]);
  /* Light from the front (-z) and above (-y). */
  static const double L[3] = {0, -0.4472135955, -0.894427191};
  double lam = len > 0 ? fmax(0, (n[0] * L[0] + n[1] * L[1] + n[2] * L[2]) / len) : 0;
  double u = (x + 0.5) / s->k, v = (y + 0.5) / s->k;
  const float(*cv)[3] = (const float(*)[3])s->c->v;
  /* Neutral skin, with the eyes and lips tinted so that saliency on them is
   * easy to place; the canonical mesh has no iris, so none is drawn. */
  double base[3] = {222, 190, 168};
  if (csm_canon_in_polygon(cv, csm_canon_lips_inner, 20, u, v)) {
    base[0] = 110, base[1] = 60, base[2] = 60;
  } else if (csm_canon_in_polygon(cv, csm_canon_lips_outer, 20, u, v)) {
    base[0] = 196, base[1] = 120, base[2] = 118;
  } else if (csm_canon_in_polygon(cv, csm_canon_right_eye, 16, u, v) ||
             csm_canon_in_polygon(cv, csm_canon_left_eye, 16, u, v)) {
    base[0] = 120, base[1] = 100, base[2] = 90;
  }
  unsigned char *p = s->img->rgb + ((size_t)y * s->img->w + x) * 3;
  for (int k = 0; k < 3; k++)
    p[k] = (unsigned char)lround(fmin(255, base[k] * (0.3 + 0.75 * lam)));
}

csm_status csm_canon_render(const csm_canon *c, int size, csm_image *out) {
  if (!c || !out) return csm_fail(CSM_EUSAGE, "csm_canon_render: null argument");
  size = out_size(c, size);
  if (size > CANON_MAX_SIZE)
    return csm_fail(CSM_EUSAGE, "canonical size %d is larger than %d", size, CANON_MAX_SIZE);
  double(*vn)[3] = calloc(CSM_MESH_POINTS, sizeof *vn);
  unsigned char *seen = calloc((size_t)size * size, 1);
  csm_status st = vn && seen ? new_image(size, size, 255, out) : CSM_ENOMEM;
  if (st) {
    free(vn);
    free(seen);
    return st;
  }
  /* Area-weighted vertex normals (the cross product's length is twice the
   * area), interpolated per pixel: smooth shading without facets. */
  for (int t = 0; t < c->nt; t++) {
    const int32_t *tr = c->tri + 3 * t;
    double a[3], b[3], n[3];
    for (int k = 0; k < 3; k++)
      a[k] = (double)c->v[tr[1]][k] - c->v[tr[0]][k],
      b[k] = (double)c->v[tr[2]][k] - c->v[tr[0]][k];
    n[0] = a[1] * b[2] - a[2] * b[1], n[1] = a[2] * b[0] - a[0] * b[2],
    n[2] = a[0] * b[1] - a[1] * b[0];
    double sg = n[2] > 0 ? -1 : 1; /* every triangle of a frontal face faces -z */
    for (int e = 0; e < 3; e++)
      for (int k = 0; k < 3; k++)
        vn[tr[e]][k] += sg * n[k];
  }
  shade_ctx ctx = {c, (const double(*)[3])vn, out, (double)size / c->w};
  raster(c, ctx.k, size, size, seen, shade_pixel, &ctx);
  free(vn);
  free(seen);
  return CSM_OK;
}

csm_status csm_canon_from_photo(const csm_canon *c, const csm_image *photo, const csm_face *face,
                                int size, csm_image *out) {
  if (!c || !out) return csm_fail(CSM_EUSAGE, "csm_canon_from_photo: null argument");
  csm_image shaded;
  csm_status st = csm_canon_render(c, size, &shaded);
  if (st) return st;
  st = csm_canon_warp(c, photo, face, size, &shaded, out);
  csm_image_free(&shaded);
  return st;
}
