/* The shared command line of csm compare, eval and sanity. */
#include "methods_cli.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define ARG(field) offsetof(methods_cli, field)

static int take_sigma(const char *cmd, const cli_option *opt, void *args, const char *v) {
  (void)opt;
  double d = 0;
  if (csm_cli_parse_doubles(v, &d, 1) || !(d > 0 && d < 10))
    return csm_cli_usage_error(cmd, "--sigma wants a number in (0, 10), not '%s'", v), -1;
  ((methods_cli *)args)->m.opt.smooth_sigma = (float)d;
  return 0;
}

static int take_seed(const char *cmd, const cli_option *opt, void *args, const char *v) {
  (void)opt;
  char *end;
  unsigned long long s = strtoull(v, &end, 10);
  if (end == v || *end || v[0] == '-')
    return csm_cli_usage_error(cmd, "--seed wants a non-negative integer, not '%s'", v), -1;
  ((methods_cli *)args)->m.opt.seed = (uint64_t)s;
  return 0;
}

static const cli_option methods_options[] = {
    {"--methods", NULL, "LIST",
     "comma-separated: cis, cms (with --cms), gradcam, gradcam++,\nscorecam, occlusion, "
     "gradient, smoothgrad; or all (default)",
     CLI_STRING, ARG(m.methods)},
    {"--layer", NULL, "NAME",
     "the CAM layer (default: the last convolutional feature map\nwith spatial size > 1; `csm "
     "models --model M --layers` lists them)",
     CLI_STRING, ARG(m.layer)},
    {"--window", NULL, "N", "occlusion window in input pixels (default: input size / 8)", CLI_INT,
     ARG(m.opt.window), 1, 1 << 20},
    {"--window-stride", NULL, "N", "its stride (default: window / 2)", CLI_INT, ARG(m.opt.stride),
     1, 1 << 20},
    {"--samples", NULL, "N", "SmoothGrad samples (default 25)", CLI_INT, ARG(m.opt.smooth_samples),
     1, 1 << 20},
    {"--sigma", NULL, "S", "SmoothGrad noise, a fraction of the input range (default 0.15)",
     CLI_CALL, .call = take_sigma},
    {"--seed", NULL, "N", "SmoothGrad noise seed (default 1)", CLI_CALL, .call = take_seed},
    {"--list", NULL, "FILE", "inputs, one per line (as csm cms --list)", CLI_STRING, ARG(list)},
    {"--json", NULL, NULL, "JSON on stdout instead of the table", CLI_FLAG, ARG(json)},
    {0}};

static const cli_option cms_option[] = {{"--cms", NULL, "FILE.npy",
                                         "a CMS map from csm cms (the canonical raster)",
                                         CLI_STRING, ARG(m.cms)},
                                        {0}};

static const cli_option steps_option[] = {
    {"--steps", NULL, "N", "randomization steps (default 8)", CLI_INT, ARG(m.steps), 1, 1 << 20},
    {0}};

int methods_cli_parse(methods_cli *r, const methods_cli_spec *spec, int argc, char **argv) {
  memset(r, 0, sizeof *r);
  explain_args_init(&r->a);
  csm_methods_options_init(&r->m);
  snprintf(r->what, sizeof r->what, "csm %s", spec->cmd);
  r->images = calloc((size_t)argc, sizeof *r->images);
  if (!r->images) return csm_cli_fail(csm_fail(CSM_ENOMEM, "out of memory"));
  const cli_option *tables[4] = {methods_options};
  int n_tables = 1;
  if (spec->cms) tables[n_tables++] = cms_option;
  if (spec->steps) tables[n_tables++] = steps_option;
  tables[n_tables++] = explain_option_table;
  cli_spec cs = {spec->cmd, spec->help_head, spec->help_tail, tables, n_tables, -1};
  int n_images = 0;
  int rc = cli_parse(&cs, r, argc, argv, r->images, &n_images);
  if (rc >= 0) return rc;
  if (!n_images && !r->list) return csm_cli_usage_error(spec->cmd, "no images given");
  if (spec->cms == 2 && !r->m.cms)
    return csm_cli_usage_error(spec->cmd, "--cms FILE.npy (a CMS map from csm cms) is required");
  if (explain_args_check(spec->cmd, &r->a, spec->out_required)) return CSM_EXIT_USAGE;
  if (csm_method_list_parse(r->m.methods, r->m.cms != NULL, &r->ml))
    return csm_cli_usage_error(spec->cmd, "%s", csm_last_error());
  int e = explain_inputs(&r->a, r->images, n_images, r->list, &r->in, &r->n_in, &r->list_buf);
  if (e) return e;
  r->run.out_dir = r->a.out_dir;
  r->progress = explain_progress_wanted(&r->a);
  if (r->progress) r->run.progress = explain_print_progress, r->run.progress_ctx = r->what;
  return -1;
}

void methods_cli_free(methods_cli *c) {
  free(c->in);
  free(c->list_buf);
  explain_args_free(&c->a);
  free(c->images);
}

int methods_cli_finish(methods_cli *c, csm_status st) {
  if (c->progress) fprintf(stderr, "\n");
  return st ? csm_cli_fail(st) : CSM_EXIT_OK;
}

int methods_cli_report_command(const methods_cli_spec *spec, methods_cli_run_fn run, int argc,
                               char **argv) {
  methods_cli c;
  int code = methods_cli_parse(&c, spec, argc, argv);
  if (code < 0 && spec->cms == 2 && c.ml.n < 2)
    code = csm_cli_usage_error(spec->cmd, "--methods must name at least one method besides cms");
  if (code < 0) {
    csm_methods_report *rep = NULL;
    char *text = NULL;
    csm_status st = run(&c.a.o, c.in, c.n_in, &c.m, &c.run, &rep);
    if (!st)
      st = c.json ? csm_methods_report_json(rep, 0, &text) : csm_methods_report_table(rep, &text);
    code = methods_cli_finish(&c, st);
    if (!st) {
      fputs(text, stdout);
      const char *layer = csm_methods_report_layer(rep);
      if (layer) fprintf(stderr, "csm %s: CAM layer %s\n", spec->cmd, layer);
      fprintf(stderr, "csm %s: %.1f s\n", spec->cmd, csm_methods_report_seconds(rep));
    }
    free(text);
    csm_methods_report_free(rep);
  }
  methods_cli_free(&c);
  return code;
}
