/* csm canon-build (hidden): derives data/canonical from photos of frontal
 * faces (docs/faces.md has the exact command that produced the committed
 * files): the options, one csm_canon_build_run call, the count printed. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "options.h"

static const char *help = "usage: csm canon-build PHOTO... -o DIR [options]\n\n"
                          "Fits the mesh to every face in the photos, keeps the frontal ones and\n"
                          "derives the canonical face from them: DIR/facemesh_canonical.json and\n"
                          "DIR/canonical_face.png (the shaded rendering).\n\n";

#define ARG(field) offsetof(csm_canon_build_options, field)

/* The values checked with the messages the command always gave. */
static int take_number(const char *cmd, const cli_option *o, void *args, const char *v) {
  csm_canon_build_options *a = args;
  double d;
  if (!strcmp(o->name, "--size")) {
    if (csm_cli_parse_int(v, &a->size) || a->size < 16 || a->size > 4096)
      return csm_cli_usage_error(cmd, "--size takes an integer in 16..4096"), -1;
  } else if (!strcmp(o->name, "--margin")) {
    if (csm_cli_parse_doubles(v, &d, 1) || !(d >= 0 && d < 0.4))
      return csm_cli_usage_error(cmd, "--margin takes a number in [0, 0.4)"), -1;
    a->margin = d;
  } else if (!strcmp(o->name, "--max-angle")) {
    if (csm_cli_parse_doubles(v, &d, 1) || !(d > 0 && d <= 90))
      return csm_cli_usage_error(cmd, "--max-angle takes degrees in (0, 90]"), -1;
    a->max_angle = d;
  } else if (csm_cli_parse_int(v, &a->min_face)) {
    return csm_cli_usage_error(cmd, "--min-face takes a positive integer"), -1;
  }
  return 0;
}

static const cli_option options[] = {
    {"-o", NULL, "DIR", "output folder (created if missing)", CLI_STRING, ARG(out_dir)},
    {"--size", NULL, "N", "canonical raster N x N (default 256)", CLI_CALL, 0, .call = take_number},
    {"--margin", NULL, "M", "border around the face, fraction of N (default 0.08)", CLI_CALL, 0,
     .call = take_number},
    {"--max-angle", NULL, "A", "keep faces with |yaw| and |pitch| below A degrees (default 15)",
     CLI_CALL, 0, .call = take_number},
    {"--min-face", NULL, "P", "keep faces whose box is at least P pixels wide (default 80)",
     CLI_CALL, 0, .call = take_number},
    {0}};

int csm_cli_canon_build(int argc, char **argv) {
  csm_canon_build_options o;
  csm_canon_build_options_init(&o);
  const char **photos = calloc((size_t)argc, sizeof(char *));
  if (!photos) return csm_cli_fail(CSM_ENOMEM);
  const cli_option *tables[] = {options};
  cli_spec spec = {"canon-build", help, NULL, tables, 1, -1};
  int n = 0, faces = 0, triangles = 0;
  int rc = cli_parse(&spec, &o, argc, argv, photos, &n);
  if (rc < 0 && !n) rc = csm_cli_usage_error("canon-build", "no photos given");
  if (rc < 0 && !o.out_dir)
    rc = csm_cli_usage_error("canon-build", "no output folder given (-o DIR)");
  csm_status st = rc >= 0 ? CSM_OK : csm_canon_build_run(&o, photos, n, &faces, &triangles);
  if (rc < 0 && !st)
    fprintf(stderr, "csm canon-build: %d frontal faces, %d triangles -> %s\n", faces, triangles,
            o.out_dir);
  if (rc < 0) rc = st ? csm_cli_fail(st) : CSM_EXIT_OK;
  free(photos);
  return rc;
}
