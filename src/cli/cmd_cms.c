/* csm cms: the Canonical Model Saliency map of a task over a dataset: the
 * per-pixel mean of every face's CIS, checkpointed after every image. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "explain_common.h"

static const char *help_head =
    "usage: csm cms --task TASK (IMAGE... | --list FILE) -o DIR [options]\n"
    "       csm cms --task verify (IMAGE1 IMAGE2 ... | --list PAIRS) -o DIR [options]\n\n"
    "The CIS map of every face (as 'csm cis') averaged per canonical pixel over\n"
    "the faces where that pixel was visible (DESIGN.md step 4). Writes to DIR:\n"
    "cms.npy, cms.png, count.npy (faces per pixel), stderr.npy (standard error\n"
    "of the mean), stability.csv (correlation of the running CMS after 1, 2, 5,\n"
    "10, 20, 50, ... images with the final one), failures.csv (inputs without a\n"
    "map, and why), the per-face CIS files unless --no-cis, and run.json.\n\n";

static const char *help_tail =
    "\nA checkpoint is written after every image: a killed run continues with\n"
    "--resume and ends with the same bits as an uninterrupted one. Images that\n"
    "cannot be read or hold no face are listed in failures.csv, not dropped.\n";

typedef struct cms_args {
  explain_args e; /* first: the explain options' offsets */
  const char *list;
  int resume, no_cis, jobs;
} cms_args;

#define ARG(field) offsetof(cms_args, field)

static const cli_option cms_options[] = {
    {"--list", NULL, "FILE",
     "inputs, one per line (# comments, blank lines ok): IMAGE;\nIMAGE IDENTITY for identify; "
     "IMAGE1 IMAGE2 [same|different]\nfor verify",
     CLI_STRING, ARG(list)},
    {"--resume", NULL, NULL, "continue the run in DIR (same images and options)", CLI_FLAG,
     ARG(resume)},
    {"--no-cis", NULL, NULL, "do not write per-face CIS files", CLI_FLAG, ARG(no_cis)},
    {"--jobs", NULL, "N",
     "images computed at once, each job with its own models and\nthreads/N threads (default 1); "
     "the results do not depend on N",
     CLI_INT, ARG(jobs), 1, 64},
    {0}};

int csm_cli_cms(int argc, char **argv) {
  cms_args c;
  memset(&c, 0, sizeof c);
  explain_args_init(&c.e);
  c.jobs = 1;
  const cli_option *tables[] = {cms_options, explain_option_table};
  cli_spec spec = {"cms", help_head, help_tail, tables, 2, -1};
  const char **images = calloc((size_t)argc, sizeof *images);
  if (!images) return csm_cli_fail(csm_fail(CSM_ENOMEM, "out of memory"));
  int n_pos = 0;
  int rc = cli_parse(&spec, &c, argc, argv, images, &n_pos);
  if (rc < 0 && explain_args_check("cms", &c.e, 1)) rc = CSM_EXIT_USAGE;
  if (rc < 0 && !n_pos && !c.list)
    rc = csm_cli_usage_error("cms", "no images given (IMAGE... or --list)");
  csm_input *in = NULL;
  char *list_buf = NULL;
  int n_in = 0;
  if (rc < 0) {
    int e = explain_inputs(&c.e, images, n_pos, c.list, &in, &n_in, &list_buf);
    if (e) rc = e;
  }
  if (rc < 0) {
    csm_cms_run_options r = csm_cms_run_options_default();
    r.out_dir = c.e.out_dir, r.resume = c.resume, r.write_cis = !c.no_cis, r.jobs = c.jobs;
    int progress = explain_progress_wanted(&c.e);
    if (progress) r.progress = explain_print_progress, r.progress_ctx = (void *)"csm cms";
    csm_run_summary s;
    csm_status st = csm_cms_run(&c.e.o, in, n_in, &r, &s);
    if (progress) fprintf(stderr, "\n");
    if (!st) {
      explain_print_calibration(&c.e, &s);
      fprintf(stderr, "csm cms: %d faces from %d images (%d failed) in %.1f s -> %s\n", s.faces,
              s.inputs, s.failures, s.seconds, c.e.out_dir);
    }
    rc = st ? csm_cli_fail(st) : CSM_EXIT_OK;
  }
  free(in);
  free(list_buf);
  explain_args_free(&c.e);
  free(images);
  return rc;
}
