/* csm report: one self-contained HTML page from run folders. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "options.h"

static const char *help =
    "usage: csm report DIR [-o FILE]\n\n"
    "Writes one self-contained HTML page (images inline, no network) from the\n"
    "run folder DIR (written by 'csm cis' or 'csm cms'; it has a run.json), or\n"
    "from every sub-folder of DIR that is one, side by side: parameters, the\n"
    "CMS images, the stability curve, failures and every face's maps.\n"
    "See docs/report.md.\n\n";

typedef struct report_args {
  const char *out;
} report_args;

static const cli_option options[] = {{"--out", "-o", "FILE", "the page (default DIR/report.html)",
                                      CLI_STRING, offsetof(report_args, out)},
                                     {0}};

int csm_cli_report(int argc, char **argv) {
  report_args a = {NULL};
  const char **pos = calloc((size_t)argc + 1, sizeof *pos);
  if (!pos) return csm_cli_fail(csm_fail(CSM_ENOMEM, "out of memory"));
  int n_pos = 0;
  const cli_option *tables[] = {options};
  cli_spec spec = {"report", help, NULL, tables, 1, -1};
  int rc = cli_parse(&spec, &a, argc, argv, pos, &n_pos);
  const char *dir = pos[0], *dir2 = pos[1], *out = a.out;
  free(pos);
  if (rc >= 0) return rc;
  if (n_pos > 1)
    return csm_cli_usage_error("report", "one folder only ('%s' and '%s' given)", dir, dir2);
  if (!dir) return csm_cli_usage_error("report", "no folder given");
  if (!*dir) return csm_cli_usage_error("report", "empty folder name");
  if (out && !*out) return csm_cli_usage_error("report", "empty output path");
  char *def = NULL;
  if (!out) {
    size_t n = strlen(dir) + sizeof "/report.html";
    def = malloc(n);
    if (!def) return csm_cli_fail(csm_fail(CSM_ENOMEM, "out of memory"));
    snprintf(def, n, "%s/report.html", dir);
    out = def;
  }
  csm_status st = csm_report_html(dir, out);
  if (!st) fprintf(stderr, "csm report: wrote %s\n", out);
  free(def);
  return st ? csm_cli_fail(st) : CSM_EXIT_OK;
}
