/* csm eval: the paper's faithfulness comparison (DESIGN.md step 7) plus
 * deletion and insertion curves, over every face of the inputs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "methods_cli.h"

static const char *help_head =
    "usage: csm eval --task TASK IMAGE... --cms FILE.npy [--methods LIST] [--json]\n"
    "                [-o DIR] [options]\n\n"
    "Measures how faithful each method's map is (the paper's Eq. 9-13). For every\n"
    "face: Y, the confidence for the class predicted on the original; each map\n"
    "min-max normalized to [0, 1] and rescaled to the sum of the CMS map's on that\n"
    "face (Eq. 10; the CMS read through the face's correspondence); the negative\n"
    "explanation image E = I (1 - H) (Eq. 9: salient pixels go black); O, the\n"
    "confidence on E. Since E removes what the map calls salient, a faithful map\n"
    "makes the confidence fall. Over all faces: Average Drop % (Eq. 11; higher is\n"
    "better here), % Increase in confidence (Eq. 12; lower is better), Win % (Eq.\n"
    "13: the share of faces where the method's E has the lowest O, ties count for\n"
    "all; higher is better), and the deletion and insertion AUCs (20 steps;\n"
    "deletion: lower is better, insertion: higher is better). The table goes to\n"
    "stdout (--json: the JSON instead).\n"
    "-o DIR also writes DIR/eval.json (the JSON plus every face's Y, O and AUCs)\n"
    "and per face DIR/<stem>_face<k>_eval.png\n"
    "(the crop and each method's explanation image).\n"
    "Faces whose confidence Y is not positive (a verify pair the model gets\n"
    "wrong) are left out and counted.\n\n";

int csm_cli_eval(int argc, char **argv) {
  methods_cli_spec spec = {"eval", help_head, NULL, 2, 0, 0};
  return methods_cli_report_command(&spec, csm_eval_run, argc, argv);
}
