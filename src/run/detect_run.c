/* csm detect as a library call: faces, meshes and head pose in images,
 * overlays drawn on request, the result as JSON or the printed summary. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "csm/csm.h"

struct csm_detect_report {
  const char *const *paths;
  int n_images;
  csm_face **faces;
  int *nf;
};

void csm_detect_run_options_init(csm_detect_run_options *o) {
  memset(o, 0, sizeof *o);
  o->det = csm_detect_options_default();
}

/* DIR/<stem>_faces.png where stem is the file name without its extension. */
static csm_status overlay_path(const char *dir, const char *image, char *buf, size_t len) {
  const char *base = strrchr(image, '/');
  base = base ? base + 1 : image;
  const char *dot = strrchr(base, '.');
  int stem = (int)(dot && dot != base ? (size_t)(dot - base) : strlen(base));
  int n = snprintf(buf, len, "%s/%.*s_faces.png", dir, stem, base);
  if (n < 0 || (size_t)n >= len) return csm_fail(CSM_EUSAGE, "%s: output path too long", image);
  return CSM_OK;
}

static void draw_faces(csm_image *img, const csm_face *f, int n) {
  /* Line widths and text scale follow the image size so that overlays of
   * large photos stay legible. */
  float unit = fmaxf(1.0f, (float)(img->w > img->h ? img->w : img->h) / 640.0f);
  for (int i = 0; i < n; i++) {
    if (f[i].has_mesh)
      for (int p = 0; p < CSM_MESH_POINTS; p++)
        csm_draw_point(img, f[i].mesh[p][0], f[i].mesh[p][1], 0.6f * unit, 0x40e0ff);
    csm_draw_box(img, f[i].box[0], f[i].box[1], f[i].box[2], f[i].box[3], 1.5f * unit, 0x00ff40);
    for (int k = 0; k < CSM_KP_COUNT; k++)
      csm_draw_point(img, f[i].keypoints[k][0], f[i].keypoints[k][1], 2.0f * unit, 0xff3030);
    char text[96];
    if (f[i].has_mesh)
      snprintf(text, sizeof text, "%.2f yaw %.0f pitch %.0f roll %.0f", f[i].score, f[i].yaw_deg,
               f[i].pitch_deg, f[i].pose_roll_deg);
    else
      snprintf(text, sizeof text, "%.2f roll %.0f", f[i].score, f[i].roll_deg);
    int scale = (int)unit;
    int ty = (int)f[i].box[1] - 10 * scale;
    csm_draw_text(img, (int)f[i].box[0], ty < 0 ? 0 : ty, text, scale, 0xffff00);
  }
}

static csm_status write_overlay(const char *dir, const char *path, const csm_face *f, int n) {
  char out[PATH_MAX];
  csm_status st = overlay_path(dir, path, out, sizeof out);
  if (st) return st;
  csm_image img;
  if ((st = csm_image_load(path, &img))) return st;
  draw_faces(&img, f, n);
  st = csm_image_write_png(out, &img);
  csm_image_free(&img);
  return st;
}

csm_status csm_detect_run(const csm_detect_run_options *o, const char *const *paths, int n,
                          csm_detect_report **report) {
  *report = NULL;
  csm_detect_report *r = calloc(1, sizeof *r);
  if (r) {
    r->paths = paths;
    r->n_images = n;
    r->faces = calloc((size_t)n + 1, sizeof *r->faces);
    r->nf = calloc((size_t)n + 1, sizeof *r->nf);
  }
  csm_face_detector *det = NULL;
  csm_status st = (!r || !r->faces || !r->nf) ? csm_fail(CSM_ENOMEM, "out of memory") : CSM_OK;
  if (!st) st = csm_face_detector_create(csm_models_dir(), &o->det, &det);
  /* Every image first, files after: an error leaves no partial output. */
  for (int i = 0; !st && i < n; i++) {
    csm_image img;
    st = csm_image_load(paths[i], &img);
    if (st) break;
    st = csm_face_detect(det, &img, &r->faces[i], &r->nf[i]);
    csm_image_free(&img);
    if (st) st = csm_fail_context(st, "%s: ", paths[i]);
    if (o->progress) {
      csm_progress p = {.input = i + 1, .n_inputs = n};
      o->progress(o->progress_ctx, &p);
    }
  }
  csm_face_detector_free(det);
  if (!st && o->out_dir) st = csm_make_dirs(o->out_dir);
  for (int i = 0; !st && o->out_dir && i < n; i++)
    st = write_overlay(o->out_dir, paths[i], r->faces[i], r->nf[i]);
  if (st)
    csm_detect_report_free(r);
  else
    *report = r;
  return st;
}

static void print_json(FILE *fp, const csm_detect_report *a, csm_face **faces, const int *nf) {
  fprintf(fp, "{\"images\": [");
  for (int i = 0; i < a->n_images; i++) {
    fprintf(fp, "%s\n  {\"path\": ", i ? "," : "");
    csm_json_string(fp, a->paths[i]);
    fprintf(fp, ", \"faces\": [");
    for (int j = 0; j < nf[i]; j++) {
      const csm_face *f = &faces[i][j];
      fprintf(fp, "%s\n    {\"box\": [", j ? "," : "");
      for (int k = 0; k < 4; k++) {
        if (k) fprintf(fp, ", ");
        csm_json_float(fp, f->box[k]);
      }
      fprintf(fp, "], \"score\": ");
      csm_json_float(fp, f->score);
      fprintf(fp, ", \"roll\": ");
      csm_json_float(fp, f->roll_deg);
      fprintf(fp, ", \"keypoints\": [");
      for (int k = 0; k < CSM_KP_COUNT; k++) {
        fprintf(fp, k ? ", [" : "[");
        csm_json_float(fp, f->keypoints[k][0]);
        fprintf(fp, ", ");
        csm_json_float(fp, f->keypoints[k][1]);
        fprintf(fp, "]");
      }
      fprintf(fp, "]");
      if (f->has_mesh) {
        fprintf(fp, ", \"mesh_score\": ");
        csm_json_float(fp, f->mesh_score);
        fprintf(fp, ", \"mesh\": [");
        for (int p = 0; p < CSM_MESH_POINTS; p++) {
          fprintf(fp, p ? ", [" : "[");
          for (int c = 0; c < 3; c++) {
            if (c) fprintf(fp, ", ");
            csm_json_float(fp, f->mesh[p][c]);
          }
          fprintf(fp, "]");
        }
        fprintf(fp, "], \"pose\": {\"yaw\": ");
        csm_json_float(fp, f->yaw_deg);
        fprintf(fp, ", \"pitch\": ");
        csm_json_float(fp, f->pitch_deg);
        fprintf(fp, ", \"roll\": ");
        csm_json_float(fp, f->pose_roll_deg);
        fprintf(fp, "}");
      }
      fprintf(fp, "}");
    }
    fprintf(fp, "%s]}", nf[i] ? "\n  " : "");
  }
  fprintf(fp, "\n]}\n");
}

static void print_summary(FILE *fp, const csm_detect_report *a, csm_face **faces, const int *nf) {
  for (int i = 0; i < a->n_images; i++) {
    fprintf(fp, "%s: %d face%s\n", a->paths[i], nf[i], nf[i] == 1 ? "" : "s");
    for (int j = 0; j < nf[i]; j++) {
      const csm_face *f = &faces[i][j];
      fprintf(fp, "  %d: box %.0f,%.0f %.0fx%.0f score %.2f roll %.1f", j + 1, f->box[0], f->box[1],
              f->box[2], f->box[3], f->score, f->roll_deg);
      if (f->has_mesh)
        fprintf(fp, "  pose yaw %.1f pitch %.1f roll %.1f", f->yaw_deg, f->pitch_deg,
                f->pose_roll_deg);
      fprintf(fp, "\n");
    }
  }
}

static csm_status render(const csm_detect_report *r, int json, char **text) {
  size_t len = 0;
  FILE *fp = open_memstream(text, &len);
  if (!fp) return csm_fail(CSM_ENOMEM, "out of memory");
  if (json)
    print_json(fp, r, r->faces, r->nf);
  else
    print_summary(fp, r, r->faces, r->nf);
  return fclose(fp) ? csm_fail(CSM_ENOMEM, "out of memory") : CSM_OK;
}

csm_status csm_detect_report_json(const csm_detect_report *r, char **text) {
  return render(r, 1, text);
}

csm_status csm_detect_report_text(const csm_detect_report *r, char **text) {
  return render(r, 0, text);
}

void csm_detect_report_free(csm_detect_report *r) {
  if (!r) return;
  for (int i = 0; r->faces && i < r->n_images; i++)
    free(r->faces[i]);
  free(r->faces);
  free(r->nf);
  free(r);
}
