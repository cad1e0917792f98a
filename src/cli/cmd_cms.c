/* csm cms: not written yet. */
#include "cli.h"

int csm_cli_cms(int argc, char **argv) {
  (void)argc;
  (void)argv;
  return csm_cli_usage_error("cms", "not implemented yet");
}
