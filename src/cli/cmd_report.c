/* csm report: not written yet. */
#include "cli.h"

int csm_cli_report(int argc, char **argv) {
  (void)argc;
  (void)argv;
  return csm_cli_usage_error("report", "not implemented yet");
}
