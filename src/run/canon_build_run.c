/* csm canon-build as a library call: the canonical face derived from
 * photos of frontal faces with csm's own detector and mesh (docs/faces.md
 * has the exact command that produced the committed data/canonical). */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "csm/csm.h"

void csm_canon_build_options_init(csm_canon_build_options *o) {
  memset(o, 0, sizeof *o);
  o->size = 256;
  o->margin = 0.08;
  o->max_angle = 15;
  o->min_face = 80;
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

static csm_status collect(const csm_canon_build_options *a, const char *const *photos, int n_photos,
                          collected *c) {
  csm_detect_options opt = csm_detect_options_default();
  csm_face_detector *det = NULL;
  csm_status st = csm_face_detector_create(csm_models_dir(), &opt, &det);
  for (int i = 0; !st && i < n_photos; i++) {
    csm_image img;
    csm_face *faces = NULL;
    int n = 0;
    if ((st = csm_image_load(photos[i], &img))) break;
    st = csm_face_detect(det, &img, &faces, &n);
    csm_image_free(&img);
    if (st) st = csm_fail_context(st, "%s: ", photos[i]);
    /* A sure, large, near-frontal face: small faces in group photos give
     * coarse meshes, and turned faces squash the far side. */
    for (int k = 0; !st && k < n; k++) {
      const csm_face *f = &faces[k];
      if (f->has_mesh && f->mesh_score >= 0.9f && f->box[2] >= a->min_face &&
          fabs(f->yaw_deg) < a->max_angle && fabs(f->pitch_deg) < a->max_angle)
        st = keep(c, f, photos[i], k);
    }
    free(faces);
  }
  csm_face_detector_free(det);
  return st;
}

csm_status csm_canon_build_run(const csm_canon_build_options *o, const char *const *photos, int n,
                               int *faces, int *triangles) {
  collected c = {NULL, NULL, 0, 0};
  csm_canon *canon = NULL;
  csm_image img = {0, 0, NULL};
  *faces = *triangles = 0;
  csm_status st = collect(o, photos, n, &c);
  if (!st && c.n < 1) st = csm_fail(CSM_EINPUT, "no frontal face found in the photos");
  if (!st)
    st = csm_canon_build((const float(*)[CSM_MESH_POINTS][3])c.mesh, c.n, o->size, o->margin,
                         &canon);
  if (!st) st = csm_make_dirs(o->out_dir);
  char path[PATH_MAX];
  if (!st) {
    snprintf(path, sizeof path, "%s/facemesh_canonical.json", o->out_dir);
    st = csm_canon_save(canon, path, (const char *const *)c.source, c.n);
  }
  if (!st) st = csm_canon_render(canon, o->size, &img);
  if (!st) {
    snprintf(path, sizeof path, "%s/canonical_face.png", o->out_dir);
    st = csm_image_write_png(path, &img);
  }
  if (!st) {
    *faces = c.n;
    *triangles = csm_canon_num_triangles(canon);
  }
  if (img.rgb) csm_image_free(&img);
  csm_canon_free(canon);
  for (int i = 0; i < c.n; i++)
    free(c.source[i]);
  free(c.source);
  free(c.mesh);
  return st;
}
