/* csm reproject: a canonical map (a CMS or CIS .npy) pulled back onto every
 * face of some photos (DESIGN.md step 5; docs/cli.md). */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

static const char *help =
    "usage: csm reproject --cms FILE.npy IMAGE... -o DIR [options]\n\n"
    "Pulls a canonical map back onto every face of the images: each image pixel\n"
    "on a visible face reads the map bilinearly at its point on the canonical\n"
    "face (the mesh correspondence at the map's size). Writes per face\n"
    "DIR/<stem>_face<k>.npy (image-size float32, NaN off the face; k from 1,\n"
    "largest face first) and per image DIR/<stem>.png (every face's map over\n"
    "the photo, one colour range for all faces of the image).\n\n"
    "  --cms FILE.npy       the canonical map: 2-D [h, w] float32, h == w, finite; a\n"
    "                       count.npy next to it (as `csm cms` writes) marks pixels\n"
    "                       with count 0 as having no value\n"
    "  -o DIR               output folder (created if missing)\n"
    "  --alpha A            opacity of the map over the photo, in [0, 1] (default 0.65)\n"
    "  --png-only           write only the per-image PNGs (no per-face .npy)\n"
    "  --json               a summary on stdout: {\"cms\", \"size\", \"images\": [{\"path\",\n"
    "                       \"png\", \"faces\": [{\"box\", \"yaw\", \"npy\", \"pixels\", \"min\",\n"
    "                       \"max\", \"mean\"}]}]}\n"
    "  --detector D         auto (default), front or back\n"
    "  --min-score S        detector score threshold in [0, 1) (default 0.5)\n"
    "  --threads N          threads (default: all cores)\n\n"
    "All images are processed before any file is written: a bad map, an image\n"
    "that cannot be read or has no face prints one line and exits 2 with no\n"
    "output written.\n";

#define MAX_MAP 4096

typedef struct rp_args {
  const char **images;
  int n_images, json, no_npy;
  const char *cms, *out_dir;
  double alpha;
  csm_detect_options opt;
} rp_args;

static int parse(int argc, char **argv, rp_args *a) {
  int common;
  for (int i = 1; i < argc; i++) {
    const char *o = argv[i];
    int has_val = i + 1 < argc;
    if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
      fputs(help, stdout);
      exit(CSM_EXIT_OK);
    } else if (!strcmp(o, "-o") && has_val) {
      a->out_dir = argv[++i];
    } else if (!strcmp(o, "--cms") && has_val) {
      a->cms = argv[++i];
    } else if (!strcmp(o, "--alpha") && has_val) {
      double v;
      if (csm_cli_parse_doubles(argv[++i], &v, 1) || !(v >= 0 && v <= 1))
        return csm_cli_usage_error("reproject", "--alpha takes a number in [0, 1]");
      a->alpha = v;
    } else if (!strcmp(o, "--json")) {
      a->json = 1;
    } else if (!strcmp(o, "--png-only")) {
      a->no_npy = 1;
    } else if ((common = csm_cli_common_option("reproject", argc, argv, &i, &a->opt)) != 0) {
      if (common < 0) return CSM_EXIT_USAGE;
    } else if (o[0] == '-' && o[1]) {
      return csm_cli_usage_error("reproject", "unknown option '%s' (or missing value)", o);
    } else {
      a->images[a->n_images++] = o;
    }
  }
  if (!a->cms) return csm_cli_usage_error("reproject", "no canonical map given (--cms FILE.npy)");
  if (!a->n_images) return csm_cli_usage_error("reproject", "no images given");
  if (!a->out_dir) return csm_cli_usage_error("reproject", "no output folder given (-o DIR)");
  return CSM_EXIT_OK;
}

/* The canonical map and the pixels that hold a value. */
typedef struct cmap {
  int size;
  float *value;         /* size x size */
  unsigned char *valid; /* NULL: all */
} cmap;

static void cmap_free(cmap *m) {
  free(m->value);
  free(m->valid);
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

/* One face's reprojection, and its summary. */
typedef struct rp_face {
  char npy[PATH_MAX];
  float *map; /* image w x h */
  float box[4], yaw;
  long pixels;
  double min, max, mean;
} rp_face;

typedef struct rp_image {
  char png[PATH_MAX];
  int w, h, n_faces;
  rp_face *faces;
  csm_image overlay;
} rp_image;

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
static csm_status one_image(const rp_args *a, const csm_canon *canon, csm_face_detector *det,
                            const cmap *m, const char *path, rp_image *r) {
  csm_image img;
  csm_face *faces = NULL;
  int nf = 0;
  memset(r, 0, sizeof *r);
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
  if (!st) st = out_path(a->out_dir, path, ".png", 0, r->png, sizeof r->png);
  for (size_t k = 0; !st && k < npx; k++)
    all[k] = NAN;
  for (int k = 0; !st && k < nf; k++) {
    if (!faces[k].has_mesh) continue;
    rp_face *f = &r->faces[r->n_faces];
    csm_corr *corr = NULL;
    memcpy(f->box, faces[k].box, sizeof f->box);
    f->yaw = faces[k].yaw_deg;
    st = out_path(a->out_dir, path, ".npy", r->n_faces + 1, f->npy, sizeof f->npy);
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
    style.alpha = (float)a->alpha;
    st = csm_map_render(all, NULL, img.w, img.h, &img, &style, &r->overlay);
  }
  free(all);
  free(faces);
  csm_image_free(&img);
  return st;
}

static void free_image(rp_image *r) {
  for (int k = 0; k < r->n_faces; k++)
    free(r->faces[k].map);
  free(r->faces);
  if (r->overlay.rgb) csm_image_free(&r->overlay);
}

static csm_status write_all(const rp_args *a, const rp_image *r, int n) {
  csm_status st = csm_cli_make_dir(a->out_dir);
  for (int i = 0; !st && i < n; i++) {
    for (int k = 0; !st && !a->no_npy && k < r[i].n_faces; k++) {
      int64_t dims[2] = {r[i].h, r[i].w};
      csm_tensor t = {CSM_F32, csm_shape_make(2, dims), r[i].faces[k].map, 0};
      st = csm_npy_write(r[i].faces[k].npy, &t);
    }
    if (!st) st = csm_image_write_png(r[i].png, &r[i].overlay);
  }
  return st;
}

static void print_json(const rp_args *a, int size, const rp_image *r) {
  printf("{\"cms\": ");
  csm_json_string(stdout, a->cms);
  printf(", \"size\": [%d, %d], \"images\": [", size, size);
  for (int i = 0; i < a->n_images; i++) {
    printf("%s{\"path\": ", i ? ", " : "");
    csm_json_string(stdout, a->images[i]);
    printf(", \"png\": ");
    csm_json_string(stdout, r[i].png);
    printf(", \"faces\": [");
    for (int k = 0; k < r[i].n_faces; k++) {
      const rp_face *f = &r[i].faces[k];
      printf("%s{\"box\": [", k ? ", " : "");
      for (int j = 0; j < 4; j++) {
        if (j) printf(", ");
        csm_json_float(stdout, f->box[j]);
      }
      printf("], \"yaw\": ");
      csm_json_float(stdout, f->yaw);
      printf(", \"npy\": ");
      if (a->no_npy)
        printf("null");
      else
        csm_json_string(stdout, f->npy);
      printf(", \"pixels\": %ld, \"min\": ", f->pixels);
      csm_json_float(stdout, f->pixels ? f->min : NAN);
      printf(", \"max\": ");
      csm_json_float(stdout, f->pixels ? f->max : NAN);
      printf(", \"mean\": ");
      csm_json_float(stdout, f->mean);
      printf("}");
    }
    printf("]}");
  }
  printf("]}\n");
}

int csm_cli_reproject(int argc, char **argv) {
  rp_args a;
  memset(&a, 0, sizeof a);
  a.opt = csm_detect_options_default();
  a.alpha = csm_map_style_default().alpha;
  a.images = calloc((size_t)argc, sizeof(char *));
  if (!a.images) return csm_cli_fail(CSM_ENOMEM);
  int rc = parse(argc, argv, &a);
  if (rc) {
    free(a.images);
    return rc;
  }
  a.opt.mesh = 1;
  cmap m = {0, NULL, NULL};
  csm_canon *canon = NULL;
  csm_face_detector *det = NULL;
  rp_image *r = calloc((size_t)a.n_images, sizeof *r);
  int n = 0, faces = 0;
  csm_status st = r ? load_map(a.cms, &m) : CSM_ENOMEM;
  if (!st) st = csm_canon_default(&canon);
  if (!st) st = csm_face_detector_create(csm_cli_models_dir(), &a.opt, &det);
  /* Every image first, files after: an error leaves no partial output. */
  for (; !st && n < a.n_images; n++) {
    st = one_image(&a, canon, det, &m, a.images[n], &r[n]);
    faces += r[n].n_faces;
  }
  if (!st) st = write_all(&a, r, n);
  if (!st) {
    if (a.json) print_json(&a, m.size, r);
    fprintf(stderr, "csm reproject: %d face%s in %d image%s written to %s\n", faces,
            faces == 1 ? "" : "s", n, n == 1 ? "" : "s", a.out_dir);
  }
  rc = st ? csm_cli_fail(st) : CSM_EXIT_OK;
  for (int i = 0; r && i < a.n_images; i++)
    free_image(&r[i]);
  free(r);
  cmap_free(&m);
  csm_face_detector_free(det);
  csm_canon_free(canon);
  free(a.images);
  return rc;
}
