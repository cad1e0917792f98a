/* csm demo: the main job on the built-in sample photos: CIS of every face
 * for gender, expression and age, each task's CMS, the CMS reprojected onto
 * every photo, and the HTML report (what `make demo` runs). The job is
 * csm_demo_run; here: finding the samples and printing its stages. */
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "explain_common.h"

static const char *help =
    "usage: csm demo [-o DIR] [--tasks LIST] [--threads N]\n\n"
    "Runs the main job on the built-in sample photos (data/samples, installed\n"
    "by the set-up; $CSM_SAMPLES_DIR overrides): for each task, 'csm cms' (the\n"
    "CIS of every face and their mean) into DIR/<task>/, 'csm reproject' of the\n"
    "CMS onto every photo into DIR/<task>/reproject/, then 'csm report' into\n"
    "DIR/report.html, with the tasks' CMS side by side in DIR/cms.png. A\n"
    "finished task is not recomputed when run again; a\n"
    "killed one continues where it stopped.\n\n";

/* $CSM_SAMPLES_DIR, else data/samples beside the build folder, else
 * ./data/samples. */
static void samples_dir(char *buf, size_t len) {
  const char *env = getenv("CSM_SAMPLES_DIR");
  if (env && *env) {
    snprintf(buf, len, "%s", env);
    return;
  }
  char exe[PATH_MAX - 32];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (slash) {
      *slash = 0;
      snprintf(buf, len, "%s/../data/samples", exe);
      char real[PATH_MAX];
      /* A clean path for the report: build/../data/samples -> data/samples. */
      if (access(buf, R_OK) == 0) {
        if (realpath(buf, real) && strlen(real) < len) snprintf(buf, len, "%s", real);
        return;
      }
    }
  }
  snprintf(buf, len, "data/samples");
}

/* The stages as the commands the demo stands for print them. */
static void print_stage(void *ctx, const csm_demo_stage *s) {
  int progress = *(const int *)ctx;
  switch (s->step) {
  case CSM_DEMO_CMS:
    fprintf(stderr, "== csm cms --task %s (%d photos) -> %s\n", s->task, s->photos, s->out);
    break;
  case CSM_DEMO_CMS_DONE:
    if (progress) fprintf(stderr, "\n");
    fprintf(stderr, "csm cms: %d faces from %d images (%d failed) in %.1f s -> %s\n", s->cms->faces,
            s->cms->inputs, s->cms->failures, s->cms->seconds, s->out);
    break;
  case CSM_DEMO_REPROJECT:
    fprintf(stderr, "== csm reproject --cms %s -> %s\n", s->in, s->out);
    break;
  case CSM_DEMO_REPROJECT_DONE:
    fprintf(stderr, "csm reproject: %d face%s in %d image%s written to %s\n", s->faces,
            s->faces == 1 ? "" : "s", s->photos, s->photos == 1 ? "" : "s", s->out);
    break;
  case CSM_DEMO_REPORT: fprintf(stderr, "== csm report %s -> %s\n", s->in, s->out); break;
  }
}

#define ARG(field) offsetof(csm_demo_options, field)

static const cli_option options[] = {
    {"--out", "-o", "DIR", "output folder (default demo-out)", CLI_STRING, ARG(out_dir)},
    {"--tasks", NULL, "LIST", "comma-separated tasks (default gender,expression,age)", CLI_STRING,
     ARG(tasks)},
    CLI_THREADS_OPTION,
    {0}};

int csm_cli_demo(int argc, char **argv) {
  csm_demo_options o;
  csm_demo_options_init(&o);
  const cli_option *tables[] = {options};
  cli_spec spec = {"demo", help, NULL, tables, 1, 0};
  int n_pos = 0;
  int rc = cli_parse(&spec, &o, argc, argv, NULL, &n_pos);
  if (rc >= 0) return rc;
  char dir[PATH_MAX];
  samples_dir(dir, sizeof dir);
  o.samples_dir = dir;
  /* Progress as csm cms prints it (a terminal, or CSM_PROGRESS=1). */
  explain_args quiet;
  explain_args_init(&quiet);
  int progress = explain_progress_wanted(&quiet);
  explain_args_free(&quiet);
  if (progress) o.progress = explain_print_progress, o.progress_ctx = (void *)"csm cms";
  o.stage = print_stage, o.stage_ctx = &progress;
  double t0 = csm_now();
  csm_status st = csm_demo_run(&o);
  /* Its usage errors are the options': a bad task list or output folder. */
  if (st == CSM_EUSAGE) return csm_cli_usage_error("demo", "%s", csm_last_error());
  if (st) return csm_cli_fail(st);
  fprintf(stderr, "csm demo: done in %.0f s: open %s/report.html\n", csm_now() - t0, o.out_dir);
  return CSM_EXIT_OK;
}
