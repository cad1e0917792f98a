/* csm compare: every method's map of every face, side by side. */
#include <stdlib.h>
#include <string.h>

#include "methods_cli.h"

static const char *help_head =
    "usage: csm compare --task TASK IMAGE... -o DIR [--methods LIST] [--cms FILE.npy]\n"
    "                   [options]\n\n"
    "Explains every face with every method on the same confidence (the one CIS\n"
    "uses: the predicted class, the identity, the pair's verdict) and writes,\n"
    "per face, DIR/<stem>_face<k>_compare.png (the model's input crop and each\n"
    "map over it, min-max normalized; a verify pair gets a row per face) and\n"
    "DIR/<stem>_face<k>_<method>.npy (the map in the model's input space,\n"
    "size x size, or 2 x size x size for a pair, float32, in the method's own\n"
    "units), DIR/<stem>_face<k>_x.npy (the model input every map explains,\n"
    "size x size x channels, NHWC, preprocessed; 2 x ... for a pair) and\n"
    "DIR/compare.json. CIS and the CMS (--cms, a canonical map from\n"
    "csm cms) are read through each face's dense correspondence at every input\n"
    "pixel (0 off the visible face).\n\n";

static const char *help_tail = "\nMethods are described in docs/baselines.md.\n";

int csm_cli_compare(int argc, char **argv) {
  methods_cli c;
  methods_cli_spec spec = {"compare", help_head, help_tail, 1, 1, 0};
  int code = methods_cli_parse(&c, &spec, argc, argv);
  if (code < 0) {
    csm_methods_report *rep = NULL;
    csm_status st = csm_compare_run(&c.a.o, c.in, c.n_in, &c.m, &c.run, &rep);
    code = methods_cli_finish(&c, st);
    if (!st) {
      const char *layer = csm_methods_report_layer(rep);
      int faces = csm_methods_report_faces(rep), m = csm_methods_report_methods(rep)->n;
      if (layer) fprintf(stderr, "csm compare: CAM layer %s\n", layer);
      fprintf(stderr, "csm compare: %d face%s, %d method%s in %.1f s -> %s\n", faces,
              faces == 1 ? "" : "s", m, m == 1 ? "" : "s", csm_methods_report_seconds(rep),
              c.a.out_dir);
    }
    csm_methods_report_free(rep);
  }
  methods_cli_free(&c);
  return code;
}
