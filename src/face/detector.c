/* The face detector: BlazeFace (front or back model) and, per face,
 * FaceMesh. Decoding lives in blazeface.c; the rule for the automatic
 * choice of model is documented in docs/faces.md. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "face/blazeface.h"

/* AUTO: the back model's largest face wider or taller than this share of
 * the image makes it a close-up, where the front model is more accurate. */
#define CSM_AUTO_CLOSEUP 0.3f

struct csm_face_detector {
  csm_detect_options opt;
  csm_model *front, *back, *mesh;
};

csm_detect_options csm_detect_options_default(void) {
  csm_detect_options o;
  memset(&o, 0, sizeof o); /* every field, hard_nms included (0: weighted NMS) */
  o.detector = CSM_DETECTOR_AUTO;
  o.min_score = 0.5f;
  o.iou = 0.3f;
  o.max_faces = 64;
  o.mesh = 1;
  o.refine = 1;
  return o;
}

static csm_status load(const char *dir, const char *name, csm_model **out) {
  char path[4096];
  int len = snprintf(path, sizeof path, "%s/%s.json", dir, name);
  if (len < 0 || (size_t)len >= sizeof path)
    return csm_fail(CSM_EUSAGE, "models folder path too long: %s", dir);
  return csm_model_load(path, out);
}

csm_status csm_face_detector_create(const char *models_dir, const csm_detect_options *opt,
                                    csm_face_detector **out) {
  if (!out) return csm_fail(CSM_EUSAGE, "csm_face_detector_create: null output");
  *out = NULL;
  if (!models_dir) return csm_fail(CSM_EUSAGE, "csm_face_detector_create: no models folder");
  csm_detect_options o = opt ? *opt : csm_detect_options_default();
  if (o.detector != CSM_DETECTOR_AUTO && o.detector != CSM_DETECTOR_FRONT &&
      o.detector != CSM_DETECTOR_BACK)
    return csm_fail(CSM_EUSAGE, "unknown face detector kind %d", (int)o.detector);
  if (!(o.min_score >= 0 && o.min_score < 1))
    return csm_fail(CSM_EUSAGE, "face detection: min_score must be in [0, 1)");
  if (!(o.iou > 0 && o.iou <= 1))
    return csm_fail(CSM_EUSAGE, "face detection: iou must be in (0, 1]");
  if (o.max_faces <= 0) return csm_fail(CSM_EUSAGE, "face detection: max_faces must be > 0");
  csm_face_detector *d = csm_calloc(1, sizeof *d);
  if (!d) return CSM_ENOMEM;
  d->opt = o;
  csm_status st = CSM_OK;
  /* Only the models this configuration runs: each costs load time. */
  if (o.detector != CSM_DETECTOR_FRONT) st = load(models_dir, "blazeface-back", &d->back);
  if (!st && o.detector != CSM_DETECTOR_BACK) st = load(models_dir, "blazeface-front", &d->front);
  if (!st && o.mesh) st = load(models_dir, "facemesh", &d->mesh);
  if (st) {
    csm_face_detector_free(d);
    return st;
  }
  *out = d;
  return CSM_OK;
}

void csm_face_detector_free(csm_face_detector *d) {
  if (!d) return;
  csm_model_free(d->front);
  csm_model_free(d->back);
  csm_model_free(d->mesh);
  free(d);
}

static int by_area_desc(const void *pa, const void *pb) {
  const csm_face *a = pa, *b = pb;
  float sa = a->box[2] * a->box[3], sb = b->box[2] * b->box[3];
  if (sa != sb) return (sa < sb) - (sa > sb);
  return (a->score < b->score) - (a->score > b->score);
}

static int is_closeup(const csm_face *f, int n, const csm_image *img) {
  for (int i = 0; i < n; i++)
    if (f[i].box[2] > CSM_AUTO_CLOSEUP * img->w || f[i].box[3] > CSM_AUTO_CLOSEUP * img->h)
      return 1;
  return 0;
}

static csm_status detect_boxes(csm_face_detector *d, const csm_image *img, csm_face **faces,
                               int *n) {
  const csm_detect_options *o = &d->opt;
  if (o->detector == CSM_DETECTOR_FRONT)
    return csm_bf_detect(d->front, img, o->min_score, o->iou, o->hard_nms, o->max_faces, faces, n);
  csm_status st =
      csm_bf_detect(d->back, img, o->min_score, o->iou, o->hard_nms, o->max_faces, faces, n);
  if (st || o->detector == CSM_DETECTOR_BACK) return st;
  /* AUTO: the back model finds small faces and misses faces filling the
   * frame; the front model is the reverse. Run front when back found
   * nothing or a close-up, and take its answer when it found faces. */
  if (*n > 0 && !is_closeup(*faces, *n, img)) return CSM_OK;
  csm_face *ff = NULL;
  int nf = 0;
  st = csm_bf_detect(d->front, img, o->min_score, o->iou, o->hard_nms, o->max_faces, &ff, &nf);
  if (st) return st;
  if (nf > 0) {
    free(*faces);
    *faces = ff;
    *n = nf;
  } else {
    free(ff);
  }
  return CSM_OK;
}

csm_status csm_face_detect(csm_face_detector *d, const csm_image *img, csm_face **faces, int *n) {
  if (!faces || !n) return csm_fail(CSM_EUSAGE, "csm_face_detect: null output");
  *faces = NULL;
  *n = 0;
  if (!d || !img) return csm_fail(CSM_EUSAGE, "csm_face_detect: null argument");
  csm_face *f = NULL;
  int nf = 0;
  csm_status st = detect_boxes(d, img, &f, &nf);
  if (st) return st;
  if (d->opt.mesh) {
    /* Like human, a face FaceMesh does not confirm (presence score below
     * min_score) is a detector false positive and is dropped. */
    int kept = 0;
    for (int i = 0; i < nf; i++) {
      st = csm_face_mesh(d->mesh, img, d->opt.refine, &f[i]);
      if (st) {
        free(f);
        return st;
      }
      if (f[i].mesh_score >= d->opt.min_score) f[kept++] = f[i];
    }
    nf = kept;
  }
  if (nf > 1) qsort(f, (size_t)nf, sizeof *f, by_area_desc);
  if (nf == 0) {
    free(f);
    f = NULL;
  }
  *faces = f;
  *n = nf;
  return CSM_OK;
}
