/* csm warp: faces frontalized into the canonical frame (the visible check
 * that the dense correspondence is right). */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "options.h"

static const char *help =
    "usage: csm warp IMAGE... -o DIR [options]\n\n"
    "Detects every face, fits its 468-point mesh and writes it frontalized\n"
    "into the canonical face's frame: DIR/<stem>_face<k>_warp.png (k from 1,\n"
    "largest face first). Each canonical pixel reads the image through the\n"
    "mesh correspondence; parts of the face hidden in the image (or outside\n"
    "the face) are grey.\n\n"
    "";

static const char *help_tail =
    "\nAll images are processed before any file is written; an error prints one\n"
    "line naming the file and exits 2 (bad input) with no output written.\n";

typedef struct warp_args {
  const char **images;
  int n_images, size, prnet;
  const char *out_dir, *canonical, *mesh, *canonical_mesh;
  csm_detect_options opt;
} warp_args;

static int is_dir(const char *path) {
  struct stat s;
  return stat(path, &s) == 0 && S_ISDIR(s.st_mode);
}

#define ARG(field) offsetof(warp_args, field)

static const char *const align_names[] = {"facemesh", "prnet", NULL};

static const cli_option options[] = {
    {"--out", "-o", "DIR", "output folder (created if missing)", CLI_STRING, ARG(out_dir)},
    {"--size", NULL, "N",
     "canonical raster N x N (default: the canonical face's, 256);\nwith --align prnet: frame "
     "N x N (default 256), the frontal\nmesh's bounding box scaled into it with a 5% margin",
     CLI_INT, ARG(size), 16, 4096},
    {"--canonical", NULL, "PHOTO",
     "fill hidden parts from PHOTO's largest face warped into\nthe canonical frame (its own "
     "hidden parts: the shaded face);\nwith --align prnet: the frontal image the canonical mesh "
     "is\nin (frontal.jpg), resampled into the frame",
     CLI_STRING, ARG(canonical)},
    CLI_DETECT_OPTIONS(ARG(opt), "auto (default), front or back",
                       "detector score threshold in [0, 1) (default 0.5)"),
    {NULL, NULL, NULL, "PRNet alignments (the reference implementation's inputs; no detection):"},
    {"--align", NULL, "prnet",
     "frontalize with a PRNet mesh per image instead of FaceMesh:\nwrites DIR/<stem>_warp.png",
     CLI_CHOICE, ARG(prnet), .choices = align_names},
    {"--mesh", NULL, "PATH",
     "the image's PRNet mesh (.mat, `vertices` N x 3); with a\nfolder, <folder>/<stem>_mesh.mat "
     "per image",
     CLI_STRING, ARG(mesh)},
    {"--canonical-mesh", NULL, "M",
     "PRNet's frontal mesh (frontal_mesh.mat); its vertices[::20]\nmatch the image meshes row "
     "for row",
     CLI_STRING, ARG(canonical_mesh)},
    {0}};

static int parse(int argc, char **argv, warp_args *a) {
  const cli_option *tables[] = {options};
  cli_spec spec = {"warp", help, help_tail, tables, 1, -1};
  int rc = cli_parse(&spec, a, argc, argv, a->images, &a->n_images);
  if (rc >= 0) return rc;
  if (!a->n_images) return csm_cli_usage_error("warp", "no images given");
  if (!a->out_dir) return csm_cli_usage_error("warp", "no output folder given (-o DIR)");
  if (!a->prnet && (a->mesh || a->canonical_mesh))
    return csm_cli_usage_error("warp", "--mesh and --canonical-mesh need --align prnet");
  if (a->prnet && !a->mesh) return csm_cli_usage_error("warp", "--align prnet needs --mesh");
  if (a->prnet && !a->canonical_mesh)
    return csm_cli_usage_error("warp", "--align prnet needs --canonical-mesh");
  if (a->prnet && a->n_images > 1 && !is_dir(a->mesh))
    return csm_cli_usage_error("warp", "--mesh must be a folder with several images");
  return -1;
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

static csm_status run_prnet(const warp_args *a, warped **out, int *n_out) {
  csm_prnet_canon *pc = NULL;
  csm_image fill = {0, 0, NULL};
  warped *w = calloc((size_t)a->n_images, sizeof *w);
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
  for (int i = 0; !st && i < a->n_images; i++) {
    char mesh[PATH_MAX];
    st = mesh_path(a->mesh, a->images[i], mesh, sizeof mesh);
    if (!st) st = out_path(a->out_dir, a->images[i], 0, w[n].path, sizeof w[n].path);
    if (!st) st = prnet_one(pc, a->images[i], mesh, fill.rgb ? &fill : NULL, &w[n].img);
    if (!st) n++;
  }
  if (fill.rgb) csm_image_free(&fill);
  csm_prnet_canon_free(pc);
  *out = w;
  *n_out = n;
  return st;
}

static csm_status run(const warp_args *a, warped **out, int *n_out) {
  csm_canon *canon = NULL;
  csm_face_detector *det = NULL;
  csm_image fill = {0, 0, NULL};
  int cap = 0, n = 0;
  warped *w = NULL;
  csm_status st = csm_canon_default(&canon);
  if (!st) st = csm_face_detector_create(csm_cli_models_dir(), &a->opt, &det);
  if (!st && a->canonical)
    st =
        canonical_fill(det, canon, a->canonical, a->size ? a->size : csm_canon_width(canon), &fill);
  for (int i = 0; !st && i < a->n_images; i++) {
    csm_image img;
    csm_face *faces = NULL;
    int nf = 0;
    if ((st = detect(det, a->images[i], &img, &faces, &nf))) break;
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
      st = out_path(a->out_dir, a->images[i], k + 1, w[n].path, sizeof w[n].path);
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

int csm_cli_warp(int argc, char **argv) {
  warp_args a;
  memset(&a, 0, sizeof a);
  a.opt = csm_detect_options_default();
  a.images = calloc((size_t)argc, sizeof(char *));
  if (!a.images) return csm_cli_fail(CSM_ENOMEM);
  int rc = parse(argc, argv, &a);
  if (rc >= 0) {
    free(a.images);
    return rc;
  }
  warped *w = NULL;
  int n = 0;
  /* Every image first, files after: an error leaves no partial output. */
  csm_status st = a.prnet ? run_prnet(&a, &w, &n) : run(&a, &w, &n);
  if (!st) st = csm_make_dirs(a.out_dir);
  for (int k = 0; !st && k < n; k++)
    st = csm_image_write_png(w[k].path, &w[k].img);
  if (!st) fprintf(stderr, "csm warp: %d face%s written to %s\n", n, n == 1 ? "" : "s", a.out_dir);
  rc = st ? csm_cli_fail(st) : CSM_EXIT_OK;
  for (int k = 0; k < n; k++)
    csm_image_free(&w[k].img);
  free(w);
  free(a.images);
  return rc;
}
