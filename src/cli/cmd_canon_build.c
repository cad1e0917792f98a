/* csm canon-build (hidden): derives data/canonical from photos of frontal
 * faces with csm's own detector and mesh (docs/faces.md has the exact
 * command that produced the committed files). */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

static const char *help =
    "usage: csm canon-build PHOTO... -o DIR [options]\n\n"
    "Fits the mesh to every face in the photos, keeps the frontal ones and\n"
    "derives the canonical face from them: DIR/facemesh_canonical.json and\n"
    "DIR/canonical_face.png (the shaded rendering).\n\n"
    "  -o DIR               output folder (created if missing)\n"
    "  --size N             canonical raster N x N (default 256)\n"
    "  --margin M           border around the face, fraction of N (default 0.08)\n"
    "  --max-angle A        keep faces with |yaw| and |pitch| below A degrees (default 15)\n"
    "  --min-face P         keep faces whose box is at least P pixels wide (default 80)\n";

typedef struct build_args {
  const char **photos;
  int n_photos, size, min_face;
  double margin, max_angle;
  const char *out_dir;
} build_args;

static int parse(int argc, char **argv, build_args *a) {
  for (int i = 1; i < argc; i++) {
    const char *o = argv[i];
    int has_val = i + 1 < argc;
    double d;
    if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
      fputs(help, stdout);
      return -1; /* done: help printed */
    } else if (!strcmp(o, "-o") && has_val) {
      a->out_dir = argv[++i];
    } else if (!strcmp(o, "--size") && has_val) {
      if (csm_cli_parse_int(argv[++i], &a->size) || a->size < 16 || a->size > 4096)
        return csm_cli_usage_error("canon-build", "--size takes an integer in 16..4096");
    } else if (!strcmp(o, "--margin") && has_val) {
      if (csm_cli_parse_doubles(argv[++i], &d, 1) || !(d >= 0 && d < 0.4))
        return csm_cli_usage_error("canon-build", "--margin takes a number in [0, 0.4)");
      a->margin = d;
    } else if (!strcmp(o, "--max-angle") && has_val) {
      if (csm_cli_parse_doubles(argv[++i], &d, 1) || !(d > 0 && d <= 90))
        return csm_cli_usage_error("canon-build", "--max-angle takes degrees in (0, 90]");
      a->max_angle = d;
    } else if (!strcmp(o, "--min-face") && has_val) {
      if (csm_cli_parse_int(argv[++i], &a->min_face))
        return csm_cli_usage_error("canon-build", "--min-face takes a positive integer");
    } else if (o[0] == '-' && o[1]) {
      return csm_cli_usage_error("canon-build", "unknown option '%s' (or missing value)", o);
    } else {
      a->photos[a->n_photos++] = o;
    }
  }
  if (!a->n_photos) return csm_cli_usage_error("canon-build", "no photos given");
  if (!a->out_dir) return csm_cli_usage_error("canon-build", "no output folder given (-o DIR)");
  return CSM_EXIT_OK;
}

typedef struct collected {
  float (*mesh)[CSM_MESH_POINTS][3];
  char **source;
  int n, cap;
} collected;

static csm_status keep(collected *c, const csm_face *f, const char *photo, int k) {
  if (c->n == c->cap) {
    int cap = c->cap ? 2 * c->cap : 32;
    void *m = realloc(c->mesh, sizeof *c->mesh * (size_t)cap);
    if (!m) return csm_fail(CSM_ENOMEM, "out of memory");
    c->mesh = m;
    void *s = realloc(c->source, sizeof *c->source * (size_t)cap);
    if (!s) return csm_fail(CSM_ENOMEM, "out of memory");
    c->source = s;
    c->cap = cap;
  }
  char buf[PATH_MAX + 96];
  snprintf(buf, sizeof buf, "%s face %d (yaw %.1f, pitch %.1f)", photo, k + 1, f->yaw_deg,
           f->pitch_deg);
  if (!(c->source[c->n] = strdup(buf))) return csm_fail(CSM_ENOMEM, "out of memory");
  memcpy(c->mesh[c->n], f->mesh, sizeof f->mesh);
  c->n++;
  return CSM_OK;
}

static csm_status collect(const build_args *a, collected *c) {
  csm_detect_options opt = csm_detect_options_default();
  csm_face_detector *det = NULL;
  csm_status st = csm_face_detector_create(csm_cli_models_dir(), &opt, &det);
  for (int i = 0; !st && i < a->n_photos; i++) {
    csm_image img;
    csm_face *faces = NULL;
    int n = 0;
    if ((st = csm_image_load(a->photos[i], &img))) break;
    st = csm_face_detect(det, &img, &faces, &n);
    csm_image_free(&img);
    if (st) st = csm_fail_context(st, "%s: ", a->photos[i]);
    /* A sure, large, near-frontal face: small faces in group photos give
     * coarse meshes, and turned faces squash the far side. */
    for (int k = 0; !st && k < n; k++) {
      const csm_face *f = &faces[k];
      if (f->has_mesh && f->mesh_score >= 0.9f && f->box[2] >= a->min_face &&
          fabs(f->yaw_deg) < a->max_angle && fabs(f->pitch_deg) < a->max_angle)
        st = keep(c, f, a->photos[i], k);
    }
    free(faces);
  }
  csm_face_detector_free(det);
  return st;
}

int csm_cli_canon_build(int argc, char **argv) {
  build_args a = {NULL, 0, 256, 80, 0.08, 15, NULL};
  a.photos = calloc((size_t)argc, sizeof(char *));
  if (!a.photos) return csm_cli_fail(CSM_ENOMEM);
  int rc = parse(argc, argv, &a);
  if (rc) {
    free(a.photos);
    return rc < 0 ? CSM_EXIT_OK : rc;
  }
  collected c = {NULL, NULL, 0, 0};
  csm_canon *canon = NULL;
  csm_image img = {0, 0, NULL};
  csm_status st = collect(&a, &c);
  if (!st && c.n < 1) st = csm_fail(CSM_EINPUT, "no frontal face found in the photos");
  if (!st)
    st = csm_canon_build((const float(*)[CSM_MESH_POINTS][3])c.mesh, c.n, a.size, a.margin, &canon);
  if (!st) st = csm_make_dirs(a.out_dir);
  char path[PATH_MAX];
  if (!st) {
    snprintf(path, sizeof path, "%s/facemesh_canonical.json", a.out_dir);
    st = csm_canon_save(canon, path, (const char *const *)c.source, c.n);
  }
  if (!st) st = csm_canon_render(canon, a.size, &img);
  if (!st) {
    snprintf(path, sizeof path, "%s/canonical_face.png", a.out_dir);
    st = csm_image_write_png(path, &img);
  }
  if (!st)
    fprintf(stderr, "csm canon-build: %d frontal faces, %d triangles -> %s\n", c.n,
            csm_canon_num_triangles(canon), a.out_dir);
  rc = st ? csm_cli_fail(st) : CSM_EXIT_OK;
  if (img.rgb) csm_image_free(&img);
  csm_canon_free(canon);
  for (int i = 0; i < c.n; i++)
    free(c.source[i]);
  free(c.source);
  free(c.mesh);
  free(a.photos);
  return rc;
}
