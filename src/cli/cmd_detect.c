/* csm detect: faces, meshes and head pose in images. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "options.h"

static const char *help = "usage: csm detect IMAGE... [options]\n\n"
                          "Finds every face (BlazeFace), largest first, and fits the 468-point\n"
                          "FaceMesh and head pose to each.\n\n"
                          "";

typedef struct detect_args {
  const char **images;
  int n_images, json, mesh, no_mesh, no_refine;
  const char *out_dir;
  csm_detect_options opt;
} detect_args;

#define ARG(field) offsetof(detect_args, field)

static const cli_option options[] = {
    {"--json", NULL, NULL,
     "{\"images\": [{\"path\", \"faces\": [{\"box\": [x, y, w, h],\n\"score\", \"mesh\": [[x, y, "
     "z] x 468], \"pose\": {\"yaw\",\n\"pitch\", \"roll\"}}]}]} on stdout (pixels, degrees)",
     CLI_FLAG, ARG(json)},
    {"--out", "-o", "DIR", "write an overlay DIR/<stem>_faces.png per image", CLI_STRING,
     ARG(out_dir)},
    {"--no-mesh", NULL, NULL, "detection only (boxes, keypoints, roll)", CLI_FLAG, ARG(no_mesh)},
    {"--no-refine", NULL, NULL, "one FaceMesh pass (no refits on the crop from the first mesh)",
     CLI_FLAG, ARG(no_refine)},
    CLI_DETECT_OPTIONS(ARG(opt),
                       "auto (default), front (close-ups) or back (group\nphotos); auto runs "
                       "back, then front on a close-up",
                       "detector score threshold in [0, 1) (default 0.5)"),
    {0}};

static int parse(int argc, char **argv, detect_args *a) {
  const cli_option *tables[] = {options};
  cli_spec spec = {"detect", help, NULL, tables, 1, -1};
  int rc = cli_parse(&spec, a, argc, argv, a->images, &a->n_images);
  if (rc >= 0) return rc;
  if (a->no_mesh) a->opt.mesh = 0;
  if (a->no_refine) a->opt.refine = 0;
  if (!a->n_images) return csm_cli_usage_error("detect", "no images given");
  return -1;
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

static void print_json(const detect_args *a, csm_face **faces, const int *nf) {
  printf("{\"images\": [");
  for (int i = 0; i < a->n_images; i++) {
    printf("%s\n  {\"path\": ", i ? "," : "");
    csm_json_string(stdout, a->images[i]);
    printf(", \"faces\": [");
    for (int j = 0; j < nf[i]; j++) {
      const csm_face *f = &faces[i][j];
      printf("%s\n    {\"box\": [", j ? "," : "");
      for (int k = 0; k < 4; k++) {
        if (k) printf(", ");
        csm_json_float(stdout, f->box[k]);
      }
      printf("], \"score\": ");
      csm_json_float(stdout, f->score);
      printf(", \"roll\": ");
      csm_json_float(stdout, f->roll_deg);
      printf(", \"keypoints\": [");
      for (int k = 0; k < CSM_KP_COUNT; k++) {
        printf(k ? ", [" : "[");
        csm_json_float(stdout, f->keypoints[k][0]);
        printf(", ");
        csm_json_float(stdout, f->keypoints[k][1]);
        printf("]");
      }
      printf("]");
      if (f->has_mesh) {
        printf(", \"mesh_score\": ");
        csm_json_float(stdout, f->mesh_score);
        printf(", \"mesh\": [");
        for (int p = 0; p < CSM_MESH_POINTS; p++) {
          printf(p ? ", [" : "[");
          for (int c = 0; c < 3; c++) {
            if (c) printf(", ");
            csm_json_float(stdout, f->mesh[p][c]);
          }
          printf("]");
        }
        printf("], \"pose\": {\"yaw\": ");
        csm_json_float(stdout, f->yaw_deg);
        printf(", \"pitch\": ");
        csm_json_float(stdout, f->pitch_deg);
        printf(", \"roll\": ");
        csm_json_float(stdout, f->pose_roll_deg);
        printf("}");
      }
      printf("}");
    }
    printf("%s]}", nf[i] ? "\n  " : "");
  }
  printf("\n]}\n");
}

static void print_summary(const detect_args *a, csm_face **faces, const int *nf) {
  for (int i = 0; i < a->n_images; i++) {
    printf("%s: %d face%s\n", a->images[i], nf[i], nf[i] == 1 ? "" : "s");
    for (int j = 0; j < nf[i]; j++) {
      const csm_face *f = &faces[i][j];
      printf("  %d: box %.0f,%.0f %.0fx%.0f score %.2f roll %.1f", j + 1, f->box[0], f->box[1],
             f->box[2], f->box[3], f->score, f->roll_deg);
      if (f->has_mesh)
        printf("  pose yaw %.1f pitch %.1f roll %.1f", f->yaw_deg, f->pitch_deg, f->pose_roll_deg);
      printf("\n");
    }
  }
}

int csm_cli_detect(int argc, char **argv) {
  detect_args a;
  memset(&a, 0, sizeof a);
  a.opt = csm_detect_options_default();
  a.images = calloc((size_t)argc, sizeof(char *));
  if (!a.images) return csm_cli_fail(CSM_ENOMEM);
  int rc = parse(argc, argv, &a);
  if (rc >= 0) {
    free(a.images);
    return rc;
  }
  csm_face **faces = calloc((size_t)a.n_images, sizeof *faces);
  int *nf = calloc((size_t)a.n_images, sizeof *nf);
  csm_face_detector *det = NULL;
  csm_status st = (!faces || !nf) ? csm_fail(CSM_ENOMEM, "out of memory") : CSM_OK;
  if (!st) st = csm_face_detector_create(csm_cli_models_dir(), &a.opt, &det);
  int progress = a.n_images >= 4 && isatty(STDERR_FILENO);
  /* Every image first, files after: an error leaves no partial output. */
  for (int i = 0; !st && i < a.n_images; i++) {
    csm_image img;
    st = csm_image_load(a.images[i], &img);
    if (st) break;
    st = csm_face_detect(det, &img, &faces[i], &nf[i]);
    csm_image_free(&img);
    if (st) st = csm_fail_context(st, "%s: ", a.images[i]);
    if (progress) fprintf(stderr, "\rcsm detect: %d/%d images", i + 1, a.n_images);
  }
  if (progress) fprintf(stderr, "\n");
  if (!st && a.out_dir) st = csm_make_dirs(a.out_dir);
  for (int i = 0; !st && a.out_dir && i < a.n_images; i++)
    st = write_overlay(a.out_dir, a.images[i], faces[i], nf[i]);
  if (!st) {
    if (a.json)
      print_json(&a, faces, nf);
    else
      print_summary(&a, faces, nf);
  }
  rc = st ? csm_cli_fail(st) : CSM_EXIT_OK;
  for (int i = 0; faces && i < a.n_images; i++)
    free(faces[i]);
  free(faces);
  free(nf);
  csm_face_detector_free(det);
  free(a.images);
  return rc;
}
