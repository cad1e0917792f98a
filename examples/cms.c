/* The CMS of a task over some photos, through libcsm (docs/api.md):
 *   cms TASK OUT_DIR IMAGE...      e.g. cms gender out data/samples/sample1.jpg
 * writes OUT_DIR/cms.npy, cms.png, count.npy, run.json, ... (docs/formats.md). */
#include <stdio.h>
#include <stdlib.h>

#include "csm/csm.h"

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s TASK OUT_DIR IMAGE...\n", argv[0]);
    return 1;
  }
  csm_explain_options o;
  csm_explain_options_init(&o);
  o.task = argv[1];
  o.grid_stride = 16; /* a coarse grid of occlusion centres; 0: the paper's mesh points */
  int n = argc - 3;
  csm_input *in = calloc((size_t)n, sizeof *in);
  for (int i = 0; in && i < n; i++)
    in[i] = (csm_input){.path = argv[3 + i], .truth = -1};
  csm_cms_run_options r = csm_cms_run_options_default();
  r.out_dir = argv[2];
  csm_run_summary s;
  csm_status st = in ? csm_explain_options_resolve(&o) : CSM_ENOMEM;
  if (!st) st = csm_cms_run(&o, in, n, &r, &s);
  free(in);
  if (st) {
    fprintf(stderr, "cms: %s\n", csm_last_error());
    return 2;
  }
  printf("CMS of %s over %d faces of %d images (%d failed) in %s/cms.npy\n", o.task, s.faces,
         s.inputs, s.failures, r.out_dir);
  return 0;
}
