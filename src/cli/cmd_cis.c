/* csm cis: the Canonical Image Saliency map of every face in the images. */
#include <stdlib.h>
#include <string.h>

#include "explain_common.h"

static const char *help_head =
    "usage: csm cis --task TASK IMAGE... -o DIR [options]\n"
    "       csm cis --task verify IMAGE1 IMAGE2 [IMAGE1 IMAGE2 ...] -o DIR [options]\n\n"
    "Occludes every face at each occlusion centre of the canonical face, records\n"
    "the drop of the task's confidence and writes it onto the canonical face\n"
    "with density normalization (DESIGN.md, steps 1-3). Per face (k from 1,\n"
    "largest first): DIR/<stem>_face<k>.npy (canonical map, float32, 0 where\n"
    "never covered) and .png (over the canonical face, with a colour bar),\n"
    "<stem>_face<k>_input.npy/.png (the raw occlusion map in the model's input\n"
    "crop), DIR/canonical.png and DIR/run.json (docs/formats.md).\n\n";

static const char *help_tail =
    "\nEvery image is processed before any file is written: an image that cannot\n"
    "be read or holds no face is a one-line error (exit 2) and nothing is written.\n";

int csm_cli_cis(int argc, char **argv) {
  explain_args a;
  explain_args_init(&a);
  const cli_option *tables[] = {explain_option_table};
  cli_spec spec = {"cis", help_head, help_tail, tables, 1, -1};
  const char **images = calloc((size_t)argc, sizeof *images);
  if (!images) return csm_cli_fail(csm_fail(CSM_ENOMEM, "out of memory"));
  int n_images = 0;
  int rc = cli_parse(&spec, &a, argc, argv, images, &n_images);
  if (rc < 0 && !n_images) rc = csm_cli_usage_error("cis", "no images given");
  if (rc < 0 && explain_args_check("cis", &a, 1)) rc = CSM_EXIT_USAGE;
  csm_input *in = NULL;
  char *list_buf = NULL;
  int n_in = 0;
  if (rc < 0) {
    int e = explain_inputs(&a, images, n_images, NULL, &in, &n_in, &list_buf);
    if (e) rc = e;
  }
  if (rc < 0) {
    csm_run_options r = {a.out_dir, NULL, (void *)"csm cis"};
    int progress = explain_progress_wanted(&a);
    if (progress) r.progress = explain_print_progress;
    csm_run_summary s;
    csm_status st = csm_cis_run(&a.o, in, n_in, &r, &s);
    if (progress) fprintf(stderr, "\n");
    if (!st) {
      explain_print_calibration(&a, &s);
      fprintf(stderr, "csm cis: %d face%s in %.1f s -> %s\n", s.faces, s.faces == 1 ? "" : "s",
              s.seconds, a.out_dir);
    }
    rc = st ? csm_cli_fail(st) : CSM_EXIT_OK;
  }
  free(in);
  free(list_buf);
  explain_args_free(&a);
  free(images);
  return rc;
}
