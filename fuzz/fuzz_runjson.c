/* run.json reading: csm_report_html, the public reader of run folders
 * (run.json parsed by the one run.json reader, then the files it names).
 * The input is run.json, then after FZ_SEP lines stability.csv, cms.png and
 * face.png (the names the seeds' run.json uses); the page is written into
 * the scratch folder. */
#include <stddef.h>

#include "csm/run.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const char *names[] = {"run.json", "stability.csv", "cms.png", "face.png"};
  fz_part parts[4];
  size_t n = fz_split(data, size, parts, 4);
  for (size_t k = 0; k < n; k++)
    fz_write(names[k], parts[k].data, parts[k].size);
  char out[1024];
  fz_path(out, sizeof out, "report.html");
  csm_clear_error();
  fz_note("csm_report_html", csm_report_html(fz_dir(), out));
  fz_clean();
  return 0;
}
