/* csm warp as a library call: faces frontalized into the canonical frame
 * (the visible check that the dense correspondence is right), through the
 * FaceMesh correspondence or the reference's PRNet meshes. Every image is
 * computed before any file is written, so an error leaves no partial output. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "csm/csm.h"

void csm_warp_options_init(csm_warp_options *o) {
  memset(o, 0, sizeof *o);
  o->det = csm_detect_options_default();
}

static int is_dir(const char *path) {
  struct stat s;
  return stat(path, &s) == 0 && S_ISDIR(s.st_mode);
}

/* One frontalized face waiting to be written. */
typedef struct warped {
  char path[PATH_MAX];
  csm_image img;
} warped;

static csm_status out_path(const char *dir, const char *image, int k, char *buf, size_t len) {
  const char *base = strrchr(image, '/');
  base = base ? base + 1 : image;
  const char *dot = strrchr(base, '.');
  int stem = (int)(dot && dot != base ? (size_t)(dot - base) : strlen(base));
  int n = k > 0 ? snprintf(buf, len, "%s/%.*s_face%d_warp.png", dir, stem, base, k)
                : snprintf(buf, len, "%s/%.*s_warp.png", dir, stem, base);
  if (n < 0 || (size_t)n >= len) return csm_fail(CSM_EUSAGE, "%s: output path too long", image);
  return CSM_OK;
}

/* The faces of one image; *faces malloc'ed. */
static csm_status detect(csm_face_detector *det, const char *path, csm_image *img, csm_face **faces,
                         int *n) {
  csm_status st = csm_image_load(path, img);
  if (st) return st;
  st = csm_face_detect(det, img, faces, n);
  if (st) {
    csm_image_free(img);
    return csm_fail_context(st, "%s: ", path);
  }
  return CSM_OK;
}

static csm_status canonical_fill(csm_face_detector *det, const csm_canon *canon, const char *path,
                                 int size, csm_image *fill) {
  csm_image img;
  csm_face *faces = NULL;
  int n = 0;
  csm_status st = detect(det, path, &img, &faces, &n);
  if (st) return st;
  if (n < 1 || !faces[0].has_mesh)
    st = csm_fail(CSM_EINPUT, "%s: no face found for --canonical", path);
  else
    st = csm_canon_from_photo(canon, &img, &faces[0], size, fill);
  free(faces);
  csm_image_free(&img);
  return st;
}

/* The PRNet mesh of one image: --mesh itself, or <folder>/<stem>_mesh.mat
 * (the reference's naming) when it is a folder. */
static csm_status mesh_path(const char *mesh, const char *image, char *buf, size_t len) {
  int n;
  if (!is_dir(mesh)) {
    n = snprintf(buf, len, "%s", mesh);
  } else {
    const char *base = strrchr(image, '/');
    base = base ? base + 1 : image;
    const char *dot = strrchr(base, '.');
    int stem = (int)(dot && dot != base ? (size_t)(dot - base) : strlen(base));
    n = snprintf(buf, len, "%s/%.*s_mesh.mat", mesh, stem, base);
  }
  if (n < 0 || (size_t)n >= len) return csm_fail(CSM_EUSAGE, "%s: mesh path too long", image);
  return CSM_OK;
}

/* One image frontalized through its PRNet mesh. */
static csm_status prnet_one(const csm_prnet_canon *pc, const char *image, const char *mesh,
                            const csm_image *fill, csm_image *out) {
  csm_image img;
  csm_status st = csm_image_load(image, &img);
  if (st) return st;
  float *v = NULL;
  int rows = 0, cols = 0;
  csm_corr *corr = NULL;
  st = csm_mat_read_matrix(mesh, "vertices", &v, &rows, &cols);
  if (!st) {
    st = csm_prnet_corr(pc, v, rows, img.w, img.h, &corr);
    if (st == CSM_EINPUT) st = csm_fail_context(st, "%s: ", mesh);
  }
  if (!st) st = csm_prnet_warp(pc, &img, corr, fill, out);
  csm_corr_free(corr);
  free(v);
  csm_image_free(&img);
  return st;
}

static csm_status run_prnet(const csm_warp_options *a, const char *const *paths, int n_paths,
                            warped **out, int *n_out) {
  csm_prnet_canon *pc = NULL;
  csm_image fill = {0, 0, NULL};
  warped *w = calloc((size_t)n_paths, sizeof *w);
  int n = 0;
  /* Stride 20: the reference's vertices[::20], as the sample meshes. */
  csm_status st =
      w ? csm_prnet_canon_load(a->canonical_mesh, 20, a->size ? a->size : 256, &pc) : CSM_ENOMEM;
  if (!st && a->canonical) {
    csm_image photo;
    st = csm_image_load(a->canonical, &photo);
    if (!st) {
      st = csm_prnet_canon_background(pc, &photo, &fill);
      csm_image_free(&photo);
    }
  }
  for (int i = 0; !st && i < n_paths; i++) {
    char mesh[PATH_MAX];
    st = mesh_path(a->mesh, paths[i], mesh, sizeof mesh);
    if (!st) st = out_path(a->out_dir, paths[i], 0, w[n].path, sizeof w[n].path);
    if (!st) st = prnet_one(pc, paths[i], mesh, fill.rgb ? &fill : NULL, &w[n].img);
    if (!st) n++;
  }
  if (fill.rgb) csm_image_free(&fill);
  csm_prnet_canon_free(pc);
  *out = w;
  *n_out = n;
  return st;
}

static csm_status run_facemesh(const csm_warp_options *a, const char *const *paths, int n_paths,
                               warped **out, int *n_out) {
  csm_canon *canon = NULL;
  csm_face_detector *det = NULL;
  csm_image fill = {0, 0, NULL};
  int cap = 0, n = 0;
  warped *w = NULL;
  csm_status st = csm_canon_default(&canon);
  if (!st) st = csm_face_detector_create(csm_models_dir(), &a->det, &det);
  if (!st && a->canonical)
    st =
        canonical_fill(det, canon, a->canonical, a->size ? a->size : csm_canon_width(canon), &fill);
  for (int i = 0; !st && i < n_paths; i++) {
    csm_image img;
    csm_face *faces = NULL;
    int nf = 0;
    if ((st = detect(det, paths[i], &img, &faces, &nf))) break;
    for (int k = 0; !st && k < nf; k++) {
      if (!faces[k].has_mesh) continue;
      if (n == cap) {
        cap = cap ? 2 * cap : 8;
        warped *grown = realloc(w, sizeof *w * (size_t)cap);
        if (!grown) {
          st = csm_fail(CSM_ENOMEM, "out of memory");
          break;
        }
        w = grown;
      }
      st = out_path(a->out_dir, paths[i], k + 1, w[n].path, sizeof w[n].path);
      if (!st)
        st = csm_canon_warp(canon, &img, &faces[k], a->size, fill.rgb ? &fill : NULL, &w[n].img);
      if (!st) n++;
    }
    free(faces);
    csm_image_free(&img);
  }
  if (fill.rgb) csm_image_free(&fill);
  csm_face_detector_free(det);
  csm_canon_free(canon);
  *out = w;
  *n_out = n;
  return st;
}

csm_status csm_warp_run(const csm_warp_options *o, const char *const *paths, int n, int *faces) {
  warped *w = NULL;
  int n_w = 0;
  csm_status st = o->prnet ? run_prnet(o, paths, n, &w, &n_w) : run_facemesh(o, paths, n, &w, &n_w);
  if (!st) st = csm_make_dirs(o->out_dir);
  for (int k = 0; !st && k < n_w; k++)
    st = csm_image_write_png(w[k].path, &w[k].img);
  for (int k = 0; k < n_w; k++)
    csm_image_free(&w[k].img);
  free(w);
  *faces = st ? 0 : n_w;
  return st;
}
