/* csm reproject as a library call: a canonical map (a CMS or CIS .npy)
 * pulled back onto every face of some photos (DESIGN.md step 5). Every
 * image is computed before any file is written, so a bad input leaves no
 * partial output. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "run_internal.h"

/* The largest canonical raster accepted: a CMS is 256 or 224 pixels; this
 * bounds the map's memory (64 MiB of floats) before it is read in full. */
#define MAX_MAP 4096

/* The canonical map and the pixels that hold a value. */
typedef struct cmap {
  int size;
  float *value;         /* size x size */
  unsigned char *valid; /* NULL: all */
} cmap;

/* One face's reprojection, and its summary. */
typedef struct rp_face {
  char npy[PATH_MAX];
  float *map; /* image w x h */
  float box[4], yaw;
  long pixels;
  double min, max, mean;
} rp_face;

typedef struct rp_image {
  const char *path;
  char png[PATH_MAX];
  int w, h, n_faces;
  rp_face *faces;
  csm_image overlay;
} rp_image;

struct csm_reproject_report {
  const char *cms; /* the caller's */
  int png_only, size, n_images, faces;
  rp_image *images;
};

void csm_reproject_options_init(csm_reproject_options *o) {
  memset(o, 0, sizeof *o);
  o->alpha = csm_map_style_default().alpha;
  o->det = csm_detect_options_default();
}

/* A 2-D [size, size] .npy as float32 (count files may be int32). */
static csm_status read_square(const char *path, int want, float **out, int *size) {
  csm_tensor t;
  memset(&t, 0, sizeof t);
  csm_status st = csm_npy_read(path, &t);
  if (st) return st;
  char shape[128];
  csm_shape_str(&t.shape, shape, sizeof shape);
  if (t.shape.rank != 2)
    st = csm_fail(CSM_EINPUT, "%s: a canonical map must be 2-D [h, w], not %s", path, shape);
  else if (t.shape.d[0] != t.shape.d[1] || t.shape.d[0] < 1 || t.shape.d[0] > MAX_MAP)
    st = csm_fail(CSM_EINPUT, "%s: a canonical map must be square, 1..%d pixels, not %s", path,
                  MAX_MAP, shape);
  else if (want && t.shape.d[0] != want)
    st = csm_fail(CSM_EINPUT, "%s: shape %s does not match the map's [%d, %d]", path, shape, want,
                  want);
  if (!st && !want && t.dtype != CSM_F32)
    st = csm_fail(CSM_EINPUT, "%s: a canonical map must be float32", path);
  if (st) {
    csm_tensor_free(&t);
    return st;
  }
  int n = (int)t.shape.d[0];
  float *v = malloc(sizeof(float) * (size_t)n * n);
  if (!v) {
    csm_tensor_free(&t);
    return CSM_ENOMEM;
  }
  for (size_t k = 0; k < (size_t)n * n; k++)
    v[k] = t.dtype == CSM_F32 ? ((const float *)t.data)[k] : (float)((const int32_t *)t.data)[k];
  csm_tensor_free(&t);
  *out = v;
  *size = n;
  return CSM_OK;
}

static void cmap_free(cmap *m) {
  free(m->value);
  free(m->valid);
}

static csm_status load_map(const char *path, cmap *m) {
  memset(m, 0, sizeof *m);
  csm_status st = read_square(path, 0, &m->value, &m->size);
  if (st) return st;
  size_t n = (size_t)m->size * m->size;
  for (size_t k = 0; k < n; k++)
    if (!isfinite(m->value[k]))
      return csm_fail(CSM_EINPUT, "%s: value %g at [%zu, %zu]: the map must be finite", path,
                      m->value[k], k / m->size, k % m->size);
  /* count.npy beside it (csm cms's run folder): count 0 = no value. */
  char cpath[PATH_MAX];
  const char *slash = strrchr(path, '/');
  int dir = slash ? (int)(slash - path + 1) : 0;
  int len = snprintf(cpath, sizeof cpath, "%.*scount.npy", dir, path);
  struct stat s;
  if (len < 0 || (size_t)len >= sizeof cpath || stat(cpath, &s) != 0 || !strcmp(cpath, path))
    return CSM_OK;
  float *count = NULL;
  int cs = 0;
  if ((st = read_square(cpath, m->size, &count, &cs))) return st;
  m->valid = malloc(n);
  if (!m->valid) {
    free(count);
    return CSM_ENOMEM;
  }
  for (size_t k = 0; k < n; k++)
    m->valid[k] = count[k] > 0;
  free(count);
  return CSM_OK;
}

/* dir/<stem><suffix>, or dir/<stem>_face<k><suffix> for k > 0. */
static csm_status out_path(const char *dir, const char *image, const char *suffix, int k, char *buf,
                           size_t len) {
  const char *base = strrchr(image, '/');
  base = base ? base + 1 : image;
  const char *dot = strrchr(base, '.');
  int stem = (int)(dot && dot != base ? (size_t)(dot - base) : strlen(base));
  int n = k > 0 ? snprintf(buf, len, "%s/%.*s_face%d%s", dir, stem, base, k, suffix)
                : snprintf(buf, len, "%s/%.*s%s", dir, stem, base, suffix);
  if (n < 0 || (size_t)n >= len) return csm_fail(CSM_EUSAGE, "%s: output path too long", image);
  return CSM_OK;
}

static void summarize(rp_face *f, size_t n) {
  double sum = 0;
  f->pixels = 0, f->min = INFINITY, f->max = -INFINITY;
  for (size_t k = 0; k < n; k++) {
    float v = f->map[k];
    if (v != v) continue;
    f->pixels++, sum += v;
    f->min = fmin(f->min, v), f->max = fmax(f->max, v);
  }
  f->mean = f->pixels ? sum / f->pixels : NAN;
}

/* Every face of one image reprojected, and the overlay drawn. */
static csm_status one_image(const csm_reproject_options *o, const csm_canon *canon,
                            csm_face_detector *det, const cmap *m, const char *path, rp_image *r) {
  csm_image img;
  csm_face *faces = NULL;
  int nf = 0;
  memset(r, 0, sizeof *r);
  r->path = path;
  csm_status st = csm_image_load(path, &img);
  if (st) return st;
  st = csm_face_detect(det, &img, &faces, &nf);
  if (st) st = csm_fail_context(st, "%s: ", path);
  int n_mesh = 0;
  for (int k = 0; !st && k < nf; k++)
    n_mesh += faces[k].has_mesh;
  if (!st && !n_mesh) st = csm_fail(CSM_EINPUT, "%s: no face found", path);
  size_t npx = (size_t)img.w * img.h;
  float *all = NULL;
  if (!st) {
    r->w = img.w, r->h = img.h;
    r->faces = calloc((size_t)n_mesh, sizeof *r->faces);
    all = malloc(sizeof(float) * npx);
    if (!r->faces || !all) st = CSM_ENOMEM;
  }
  if (!st) st = out_path(o->out_dir, path, ".png", 0, r->png, sizeof r->png);
  for (size_t k = 0; !st && k < npx; k++)
    all[k] = NAN;
  for (int k = 0; !st && k < nf; k++) {
    if (!faces[k].has_mesh) continue;
    rp_face *f = &r->faces[r->n_faces];
    csm_corr *corr = NULL;
    memcpy(f->box, faces[k].box, sizeof f->box);
    f->yaw = faces[k].yaw_deg;
    st = out_path(o->out_dir, path, ".npy", r->n_faces + 1, f->npy, sizeof f->npy);
    if (!st) f->map = malloc(sizeof(float) * npx);
    if (!st && !f->map) st = CSM_ENOMEM;
    if (!st) st = csm_canon_corr(canon, &faces[k], img.w, img.h, m->size, &corr);
    if (!st) st = csm_reproject(m->value, m->valid, m->size, m->size, corr, img.w, img.h, f->map);
    csm_corr_free(corr);
    if (st) {
      free(f->map);
      f->map = NULL;
      break;
    }
    r->n_faces++;
    summarize(f, npx);
    /* Faces come largest first: where two overlap, the larger is drawn. */
    for (size_t p = 0; p < npx; p++)
      if (all[p] != all[p]) all[p] = f->map[p];
  }
  if (!st) {
    /* One map for all faces: one colour range across them. */
    csm_map_style style = csm_map_style_default();
    style.alpha = (float)o->alpha;
    st = csm_map_render(all, NULL, img.w, img.h, &img, &style, &r->overlay);
  }
  free(all);
  free(faces);
  csm_image_free(&img);
  return st;
}

static csm_status write_all(const csm_reproject_options *o, const csm_reproject_report *rep) {
  csm_status st = csm_make_dirs(o->out_dir);
  for (int i = 0; !st && i < rep->n_images; i++) {
    const rp_image *r = &rep->images[i];
    for (int k = 0; !st && !o->png_only && k < r->n_faces; k++) {
      int64_t dims[2] = {r->h, r->w};
      csm_tensor t = {CSM_F32, csm_shape_make(2, dims), r->faces[k].map, 0};
      st = csm_npy_write(r->faces[k].npy, &t);
    }
    if (!st) st = csm_image_write_png(r->png, &r->overlay);
  }
  return st;
}

void csm_reproject_report_free(csm_reproject_report *rep) {
  if (!rep) return;
  for (int i = 0; rep->images && i < rep->n_images; i++) {
    rp_image *r = &rep->images[i];
    for (int k = 0; k < r->n_faces; k++)
      free(r->faces[k].map);
    free(r->faces);
    if (r->overlay.rgb) csm_image_free(&r->overlay);
  }
  free(rep->images);
  free(rep);
}

csm_status csm_reproject_run(const csm_reproject_options *o, const char *const *paths, int n,
                             csm_reproject_report **out) {
  *out = NULL;
  if (!o->cms) return csm_fail(CSM_EUSAGE, "no canonical map given (--cms FILE.npy)");
  if (n <= 0) return csm_fail(CSM_EUSAGE, "no images given");
  if (!o->out_dir) return csm_fail(CSM_EUSAGE, "no output folder given (-o DIR)");
  if (!(o->alpha >= 0 && o->alpha <= 1))
    return csm_fail(CSM_EUSAGE, "--alpha takes a number in [0, 1]");
  /* The correspondence needs every face's mesh. */
  csm_detect_options det_opt = o->det;
  det_opt.mesh = 1;
  cmap m = {0, NULL, NULL};
  csm_canon *canon = NULL;
  csm_face_detector *det = NULL;
  csm_reproject_report *rep = calloc(1, sizeof *rep);
  if (rep) rep->images = calloc((size_t)n, sizeof *rep->images);
  csm_status st = rep && rep->images ? load_map(o->cms, &m) : CSM_ENOMEM;
  if (!st) st = csm_canon_default(&canon);
  if (!st) st = csm_face_detector_create(csm_models_dir(), &det_opt, &det);
  if (rep) rep->cms = o->cms, rep->png_only = o->png_only, rep->size = m.size;
  /* Every image first, files after: an error leaves no partial output. */
  for (int i = 0; !st && i < n; i++) {
    st = one_image(o, canon, det, &m, paths[i], &rep->images[i]);
    rep->n_images = i + 1;
    rep->faces += rep->images[i].n_faces;
  }
  if (!st) st = write_all(o, rep);
  cmap_free(&m);
  csm_face_detector_free(det);
  csm_canon_free(canon);
  if (st) {
    csm_reproject_report_free(rep);
    return st;
  }
  *out = rep;
  return CSM_OK;
}

int csm_reproject_report_images(const csm_reproject_report *r) { return r->n_images; }
int csm_reproject_report_faces(const csm_reproject_report *r) { return r->faces; }

csm_status csm_reproject_report_json(const csm_reproject_report *r, char **text) {
  *text = NULL;
  size_t len = 0;
  FILE *fp = open_memstream(text, &len);
  if (!fp) return csm_fail(CSM_ENOMEM, "out of memory");
  fprintf(fp, "{\"cms\": ");
  csm_json_string(fp, r->cms);
  fprintf(fp, ", \"size\": [%d, %d], \"images\": [", r->size, r->size);
  for (int i = 0; i < r->n_images; i++) {
    const rp_image *im = &r->images[i];
    fprintf(fp, "%s{\"path\": ", i ? ", " : "");
    csm_json_string(fp, im->path);
    fprintf(fp, ", \"png\": ");
    csm_json_string(fp, im->png);
    fprintf(fp, ", \"faces\": [");
    for (int k = 0; k < im->n_faces; k++) {
      const rp_face *f = &im->faces[k];
      fprintf(fp, "%s{\"box\": [", k ? ", " : "");
      for (int j = 0; j < 4; j++) {
        if (j) fprintf(fp, ", ");
        csm_json_float(fp, f->box[j]);
      }
      fprintf(fp, "], \"yaw\": ");
      csm_json_float(fp, f->yaw);
      fprintf(fp, ", \"npy\": ");
      if (r->png_only)
        fprintf(fp, "null");
      else
        csm_json_string(fp, f->npy);
      fprintf(fp, ", \"pixels\": %ld, \"min\": ", f->pixels);
      csm_json_float(fp, f->pixels ? f->min : NAN);
      fprintf(fp, ", \"max\": ");
      csm_json_float(fp, f->pixels ? f->max : NAN);
      fprintf(fp, ", \"mean\": ");
      csm_json_float(fp, f->mean);
      fprintf(fp, "}");
    }
    fprintf(fp, "]}");
  }
  fprintf(fp, "]}\n");
  fclose(fp);
  return *text ? CSM_OK : csm_fail(CSM_ENOMEM, "out of memory");
}
