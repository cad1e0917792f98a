/* csm reproject: a canonical map (a CMS or CIS .npy) pulled back onto every
 * face of some photos (DESIGN.md step 5; docs/cli.md): the options, one
 * csm_reproject_run call, the summary printed. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "options.h"

static const char *help =
    "usage: csm reproject --cms FILE.npy IMAGE... -o DIR [options]\n\n"
    "Pulls a canonical map back onto every face of the images: each image pixel\n"
    "on a visible face reads the map bilinearly at its point on the canonical\n"
    "face (the mesh correspondence at the map's size). Writes per face\n"
    "DIR/<stem>_face<k>.npy (image-size float32, NaN off the face; k from 1,\n"
    "largest face first) and per image DIR/<stem>.png (every face's map over\n"
    "the photo, one colour range for all faces of the image).\n\n"
    "";

static const char *help_tail =
    "\nAll images are processed before any file is written: a bad map, an image\n"
    "that cannot be read or has no face prints one line and exits 2 with no\n"
    "output written.\n";

typedef struct rp_args {
  const char **images;
  int n_images, json;
  csm_reproject_options o;
} rp_args;

#define ARG(field) offsetof(rp_args, field)

static const cli_option options[] = {
    {"--cms", NULL, "FILE.npy",
     "the canonical map: 2-D [h, w] float32, h == w, finite; a\ncount.npy next to it (as `csm "
     "cms` writes) marks pixels\nwith count 0 as having no value",
     CLI_STRING, ARG(o.cms)},
    {"--out", "-o", "DIR", "output folder (created if missing)", CLI_STRING, ARG(o.out_dir)},
    {"--alpha", NULL, "A", "opacity of the map over the photo, in [0, 1] (default 0.65)",
     CLI_NUMBER, ARG(o.alpha), 0, 1},
    {"--png-only", NULL, NULL, "write only the per-image PNGs (no per-face .npy)", CLI_FLAG,
     ARG(o.png_only)},
    {"--json", NULL, NULL,
     "a summary on stdout: {\"cms\", \"size\", \"images\": [{\"path\",\n\"png\", \"faces\": "
     "[{\"box\", \"yaw\", \"npy\", \"pixels\", \"min\",\n\"max\", \"mean\"}]}]}",
     CLI_FLAG, ARG(json)},
    CLI_DETECT_OPTIONS(ARG(o.det), "auto (default), front or back",
                       "detector score threshold in [0, 1) (default 0.5)"),
    {0}};

static int parse(int argc, char **argv, rp_args *a) {
  const cli_option *tables[] = {options};
  cli_spec spec = {"reproject", help, help_tail, tables, 1, -1};
  int rc = cli_parse(&spec, a, argc, argv, a->images, &a->n_images);
  if (rc >= 0) return rc;
  if (!a->o.cms) return csm_cli_usage_error("reproject", "no canonical map given (--cms FILE.npy)");
  if (!a->n_images) return csm_cli_usage_error("reproject", "no images given");
  if (!a->o.out_dir) return csm_cli_usage_error("reproject", "no output folder given (-o DIR)");
  return -1;
}

int csm_cli_reproject(int argc, char **argv) {
  rp_args a;
  memset(&a, 0, sizeof a);
  csm_reproject_options_init(&a.o);
  a.images = calloc((size_t)argc, sizeof(char *));
  if (!a.images) return csm_cli_fail(CSM_ENOMEM);
  int rc = parse(argc, argv, &a);
  int go = rc < 0;
  csm_reproject_report *r = NULL;
  char *json = NULL;
  csm_status st = go ? csm_reproject_run(&a.o, a.images, a.n_images, &r) : CSM_OK;
  if (go && !st && a.json) st = csm_reproject_report_json(r, &json);
  if (go && !st) {
    if (json) fputs(json, stdout);
    int faces = csm_reproject_report_faces(r), n = csm_reproject_report_images(r);
    fprintf(stderr, "csm reproject: %d face%s in %d image%s written to %s\n", faces,
            faces == 1 ? "" : "s", n, n == 1 ? "" : "s", a.o.out_dir);
  }
  if (go) rc = st ? csm_cli_fail(st) : CSM_EXIT_OK;
  free(json);
  csm_reproject_report_free(r);
  free(a.images);
  return rc;
}
