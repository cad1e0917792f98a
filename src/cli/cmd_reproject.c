/* csm reproject: not written yet. */
#include "cli.h"

int csm_cli_reproject(int argc, char **argv) {
  (void)argc;
  (void)argv;
  return csm_cli_usage_error("reproject", "not implemented yet");
}
