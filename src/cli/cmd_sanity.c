/* csm sanity: the model-parameter randomization test (Adebayo et al. 2018,
 * cascading): a map that does not change when the model's weights are
 * replaced by noise does not explain the model. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "methods_cli.h"

static const char *help_head =
    "usage: csm sanity --task TASK IMAGE... [--methods LIST] [--steps N] [--json]\n"
    "                  [-o DIR] [options]\n\n"
    "Cascading randomization: the weighted layers (convolutions and matrix\n"
    "products) that the explained output depends on are re-initialized from the\n"
    "output layer down, more of them at each step (seeded Gaussian weights with\n"
    "each layer's own standard deviation, biases 0; the same random values for a\n"
    "layer at every step), and every method's map of every face is computed again\n"
    "for the class the original model predicted. Per step and method: the\n"
    "Spearman rank correlation and the SSIM of the map with the original map,\n"
    "averaged over faces. A method passes when its maps fall away from the\n"
    "original: mean Spearman after randomizing every layer below 0.5 (it is 1\n"
    "before any). --steps N (default 8, at most the number of layers): the\n"
    "cumulative layer counts run from 1 to all in N even steps. The table goes\n"
    "to stdout (--json: JSON). -o DIR also writes DIR/sanity.json and per face\n"
    "and method DIR/<stem>_face<k>_sanity_<method>.png (the map at every step).\n"
    "--seed N seeds the random weights (and SmoothGrad's noise).\n"
    "The model's weights are restored afterwards.\n\n";

int csm_cli_sanity(int argc, char **argv) {
  methods_cli_spec spec = {"sanity", help_head, NULL, 0, 0, 1};
  return methods_cli_report_command(&spec, csm_sanity_check_run, argc, argv);
}
