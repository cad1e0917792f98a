/* csm demo: not written yet. */
#include "cli.h"

int csm_cli_demo(int argc, char **argv) {
  (void)argc;
  (void)argv;
  return csm_cli_usage_error("demo", "not implemented yet");
}
