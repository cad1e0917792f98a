/* csm report: one self-contained HTML page from run folders. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *help =
    "usage: csm report DIR [-o FILE]\n\n"
    "Writes one self-contained HTML page (images inline, no network) from the\n"
    "run folder DIR (written by 'csm cis' or 'csm cms'; it has a run.json), or\n"
    "from every sub-folder of DIR that is one, side by side: parameters, the\n"
    "CMS images, the stability curve, failures and every face's maps.\n"
    "See docs/report.md.\n\n"
    "  -o, --out FILE       the page (default DIR/report.html)\n";

int csm_cli_report(int argc, char **argv) {
  const char *dir = NULL, *out = NULL;
  for (int i = 1; i < argc; i++) {
    const char *o = argv[i];
    if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
      fputs(help, stdout);
      return CSM_EXIT_OK;
    } else if ((!strcmp(o, "-o") || !strcmp(o, "--out")) && i + 1 < argc) {
      out = argv[++i];
    } else if (o[0] == '-' && o[1]) {
      return csm_cli_usage_error("report", "unknown option '%s' (or missing value)", o);
    } else if (dir) {
      return csm_cli_usage_error("report", "one folder only ('%s' and '%s' given)", dir, o);
    } else {
      dir = o;
    }
  }
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
