/* The command line that csm compare, eval and sanity share: the explain
 * options, the methods and their options, --cms, --json, --steps, the
 * inputs. Each command then makes its one run/ call and prints. */
#ifndef CSM_CLI_METHODS_CLI_H
#define CSM_CLI_METHODS_CLI_H

#include "explain_common.h"

typedef struct methods_cli {
  explain_args a;   /* first: the explain options' offsets */
  const char *list; /* --list */
  csm_methods_options m;
  int json;           /* --json */
  csm_method_list ml; /* the methods, as the run will take them */
  const char **images;
  csm_input *in;
  int n_in;
  char *list_buf;
  csm_run_options run; /* out_dir, progress */
  int progress;        /* progress lines wanted */
  char what[32];       /* "csm compare" */
} methods_cli;

typedef struct methods_cli_spec {
  const char *cmd;
  const char *help_head, *help_tail;
  int cms;          /* 0: no --cms; 1: optional; 2: required */
  int out_required; /* -o DIR required */
  int steps;        /* accepts --steps N */
} methods_cli_spec;

/* Parses the command line. Returns -1 to go on, or an exit code (help
 * printed, usage error). Free with methods_cli_free in every case. */
int methods_cli_parse(methods_cli *c, const methods_cli_spec *spec, int argc, char **argv);
void methods_cli_free(methods_cli *c);
/* Ends the progress line and prints the error of st, if any; the exit code. */
int methods_cli_finish(methods_cli *c, csm_status st);

/* csm eval and csm sanity: parse, run, print the report's table (--json:
 * its JSON) on stdout and the CAM layer and time on stderr; the exit code.
 * A required --cms (spec->cms == 2) needs a method besides cms. */
typedef csm_status (*methods_cli_run_fn)(const csm_explain_options *o, const csm_input *in, int n,
                                         const csm_methods_options *m, const csm_run_options *r,
                                         csm_methods_report **report);
int methods_cli_report_command(const methods_cli_spec *spec, methods_cli_run_fn run, int argc,
                               char **argv);

#endif
