/* csm reproject: a canonical map (a CMS or CIS .npy) pulled back onto every
 * face of some photos (DESIGN.md step 5; docs/cli.md): the options, one
 * csm_reproject_run call, the summary printed. */
#include <stdlib.h>
#include <string.h>

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

typedef struct rp_args {
  const char **images;
  int n_images, json;
  csm_reproject_options o;
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
      a->o.out_dir = argv[++i];
    } else if (!strcmp(o, "--cms") && has_val) {
      a->o.cms = argv[++i];
    } else if (!strcmp(o, "--alpha") && has_val) {
      double v;
      if (csm_cli_parse_doubles(argv[++i], &v, 1) || !(v >= 0 && v <= 1))
        return csm_cli_usage_error("reproject", "--alpha takes a number in [0, 1]");
      a->o.alpha = v;
    } else if (!strcmp(o, "--json")) {
      a->json = 1;
    } else if (!strcmp(o, "--png-only")) {
      a->o.png_only = 1;
    } else if ((common = csm_cli_common_option("reproject", argc, argv, &i, &a->o.det)) != 0) {
      if (common < 0) return CSM_EXIT_USAGE;
    } else if (o[0] == '-' && o[1]) {
      return csm_cli_usage_error("reproject", "unknown option '%s' (or missing value)", o);
    } else {
      a->images[a->n_images++] = o;
    }
  }
  if (!a->o.cms) return csm_cli_usage_error("reproject", "no canonical map given (--cms FILE.npy)");
  if (!a->n_images) return csm_cli_usage_error("reproject", "no images given");
  if (!a->o.out_dir) return csm_cli_usage_error("reproject", "no output folder given (-o DIR)");
  return CSM_EXIT_OK;
}

int csm_cli_reproject(int argc, char **argv) {
  rp_args a;
  memset(&a, 0, sizeof a);
  csm_reproject_options_init(&a.o);
  a.images = calloc((size_t)argc, sizeof(char *));
  if (!a.images) return csm_cli_fail(CSM_ENOMEM);
  int rc = parse(argc, argv, &a);
  csm_reproject_report *r = NULL;
  char *json = NULL;
  csm_status st = rc ? CSM_OK : csm_reproject_run(&a.o, a.images, a.n_images, &r);
  if (!rc && !st && a.json) st = csm_reproject_report_json(r, &json);
  if (!rc && !st) {
    if (json) fputs(json, stdout);
    int faces = csm_reproject_report_faces(r), n = csm_reproject_report_images(r);
    fprintf(stderr, "csm reproject: %d face%s in %d image%s written to %s\n", faces,
            faces == 1 ? "" : "s", n, n == 1 ? "" : "s", a.o.out_dir);
  }
  if (!rc) rc = st ? csm_cli_fail(st) : CSM_EXIT_OK;
  free(json);
  csm_reproject_report_free(r);
  free(a.images);
  return rc;
}
