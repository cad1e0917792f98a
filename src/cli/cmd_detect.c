/* csm detect: faces, meshes and head pose in images: the options, one
 * csm_detect_run call, the faces printed. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
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
  csm_detect_run_options o;
} detect_args;

#define ARG(field) offsetof(detect_args, field)

static const cli_option options[] = {
    {"--json", NULL, NULL,
     "{\"images\": [{\"path\", \"faces\": [{\"box\": [x, y, w, h],\n\"score\", \"mesh\": [[x, y, "
     "z] x 468], \"pose\": {\"yaw\",\n\"pitch\", \"roll\"}}]}]} on stdout (pixels, degrees)",
     CLI_FLAG, ARG(json)},
    {"--out", "-o", "DIR", "write an overlay DIR/<stem>_faces.png per image", CLI_STRING,
     ARG(o.out_dir)},
    {"--no-mesh", NULL, NULL, "detection only (boxes, keypoints, roll)", CLI_FLAG, ARG(no_mesh)},
    {"--no-refine", NULL, NULL, "one FaceMesh pass (no refits on the crop from the first mesh)",
     CLI_FLAG, ARG(no_refine)},
    CLI_DETECT_OPTIONS(ARG(o.det),
                       "auto (default), front (close-ups) or back (group\nphotos); auto runs "
                       "back, then front on a close-up",
                       "detector score threshold in [0, 1) (default 0.5)"),
    {0}};

static int parse(int argc, char **argv, detect_args *a) {
  const cli_option *tables[] = {options};
  cli_spec spec = {"detect", help, NULL, tables, 1, -1};
  int rc = cli_parse(&spec, a, argc, argv, a->images, &a->n_images);
  if (rc >= 0) return rc;
  if (a->no_mesh) a->o.det.mesh = 0;
  if (a->no_refine) a->o.det.refine = 0;
  if (!a->n_images) return csm_cli_usage_error("detect", "no images given");
  return -1;
}

/* "\rcsm detect: i/n images" on a terminal. */
static int show_progress(void *ctx, const csm_progress *p) {
  (void)ctx;
  fprintf(stderr, "\rcsm detect: %d/%d images", p->input, p->n_inputs);
  return 0;
}

int csm_cli_detect(int argc, char **argv) {
  detect_args a;
  memset(&a, 0, sizeof a);
  csm_detect_run_options_init(&a.o);
  a.images = calloc((size_t)argc, sizeof(char *));
  if (!a.images) return csm_cli_fail(CSM_ENOMEM);
  int rc = parse(argc, argv, &a);
  if (rc >= 0) {
    free(a.images);
    return rc;
  }
  if (a.n_images >= 4 && isatty(STDERR_FILENO)) a.o.progress = show_progress;
  csm_detect_report *r = NULL;
  char *text = NULL;
  csm_status st = csm_detect_run(&a.o, a.images, a.n_images, &r);
  if (a.o.progress) fprintf(stderr, "\n");
  if (!st) st = a.json ? csm_detect_report_json(r, &text) : csm_detect_report_text(r, &text);
  if (!st) fputs(text, stdout);
  free(text);
  csm_detect_report_free(r);
  free(a.images);
  return st ? csm_cli_fail(st) : CSM_EXIT_OK;
}
