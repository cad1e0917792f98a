/* csm cis: not written yet. */
#include "cli.h"

int csm_cli_cis(int argc, char **argv) {
  (void)argc;
  (void)argv;
  return csm_cli_usage_error("cis", "not implemented yet");
}
