/* csm warp: faces frontalized into the canonical frame (the visible check
 * that the dense correspondence is right): the options, one csm_warp_run
 * call, the count printed. */
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
  int n_images;
  csm_warp_options o;
} warp_args;

static int is_dir(const char *path) {
  struct stat s;
  return stat(path, &s) == 0 && S_ISDIR(s.st_mode);
}

#define ARG(field) offsetof(warp_args, field)

static const char *const align_names[] = {"facemesh", "prnet", NULL};

static const cli_option options[] = {
    {"--out", "-o", "DIR", "output folder (created if missing)", CLI_STRING, ARG(o.out_dir)},
    {"--size", NULL, "N",
     "canonical raster N x N (default: the canonical face's, 256);\nwith --align prnet: frame "
     "N x N (default 256), the frontal\nmesh's bounding box scaled into it with a 5% margin",
     CLI_INT, ARG(o.size), 16, 4096},
    {"--canonical", NULL, "PHOTO",
     "fill hidden parts from PHOTO's largest face warped into\nthe canonical frame (its own "
     "hidden parts: the shaded face);\nwith --align prnet: the frontal image the canonical mesh "
     "is\nin (frontal.jpg), resampled into the frame",
     CLI_STRING, ARG(o.canonical)},
    CLI_DETECT_OPTIONS(ARG(o.det), "auto (default), front or back",
                       "detector score threshold in [0, 1) (default 0.5)"),
    {NULL, NULL, NULL, "PRNet alignments (the reference implementation's inputs; no detection):"},
    {"--align", NULL, "prnet",
     "frontalize with a PRNet mesh per image instead of FaceMesh:\nwrites DIR/<stem>_warp.png",
     CLI_CHOICE, ARG(o.prnet), .choices = align_names},
    {"--mesh", NULL, "PATH",
     "the image's PRNet mesh (.mat, `vertices` N x 3); with a\nfolder, <folder>/<stem>_mesh.mat "
     "per image",
     CLI_STRING, ARG(o.mesh)},
    {"--canonical-mesh", NULL, "M",
     "PRNet's frontal mesh (frontal_mesh.mat); its vertices[::20]\nmatch the image meshes row "
     "for row",
     CLI_STRING, ARG(o.canonical_mesh)},
    {0}};

static int parse(int argc, char **argv, warp_args *a) {
  const cli_option *tables[] = {options};
  cli_spec spec = {"warp", help, help_tail, tables, 1, -1};
  int rc = cli_parse(&spec, a, argc, argv, a->images, &a->n_images);
  if (rc >= 0) return rc;
  if (!a->n_images) return csm_cli_usage_error("warp", "no images given");
  if (!a->o.out_dir) return csm_cli_usage_error("warp", "no output folder given (-o DIR)");
  if (!a->o.prnet && (a->o.mesh || a->o.canonical_mesh))
    return csm_cli_usage_error("warp", "--mesh and --canonical-mesh need --align prnet");
  if (a->o.prnet && !a->o.mesh) return csm_cli_usage_error("warp", "--align prnet needs --mesh");
  if (a->o.prnet && !a->o.canonical_mesh)
    return csm_cli_usage_error("warp", "--align prnet needs --canonical-mesh");
  if (a->o.prnet && a->n_images > 1 && !is_dir(a->o.mesh))
    return csm_cli_usage_error("warp", "--mesh must be a folder with several images");
  return -1;
}

int csm_cli_warp(int argc, char **argv) {
  warp_args a;
  memset(&a, 0, sizeof a);
  csm_warp_options_init(&a.o);
  a.images = calloc((size_t)argc, sizeof(char *));
  if (!a.images) return csm_cli_fail(CSM_ENOMEM);
  int rc = parse(argc, argv, &a);
  int n = 0;
  csm_status st = rc >= 0 ? CSM_OK : csm_warp_run(&a.o, a.images, a.n_images, &n);
  if (rc < 0 && !st)
    fprintf(stderr, "csm warp: %d face%s written to %s\n", n, n == 1 ? "" : "s", a.o.out_dir);
  if (rc < 0) rc = st ? csm_cli_fail(st) : CSM_EXIT_OK;
  free(a.images);
  return rc;
}
