/* Shared pieces of the command-line tool. */
#ifndef CSM_CLI_H
#define CSM_CLI_H

#include <stdio.h>

#include "csm/csm.h"

/* Exit codes (DESIGN.md): 0 ok, 1 bad usage, 2 bad input, 3 internal failure. */
enum { CSM_EXIT_OK = 0, CSM_EXIT_USAGE = 1, CSM_EXIT_INPUT = 2, CSM_EXIT_INTERNAL = 3 };

int csm_cli_models(int argc, char **argv);
int csm_cli_infer(int argc, char **argv);
int csm_cli_detect(int argc, char **argv);
int csm_cli_warp(int argc, char **argv);
/* Hidden: regenerates data/canonical (docs/faces.md). */
int csm_cli_canon_build(int argc, char **argv);
int csm_cli_classify(int argc, char **argv);
int csm_cli_tasks(int argc, char **argv);
int csm_cli_cis(int argc, char **argv);
int csm_cli_cms(int argc, char **argv);
int csm_cli_reproject(int argc, char **argv);
int csm_cli_report(int argc, char **argv);
int csm_cli_demo(int argc, char **argv);
int csm_cli_compare(int argc, char **argv);
int csm_cli_eval(int argc, char **argv);
int csm_cli_sanity(int argc, char **argv);

/* Prints "csm: <last error>" and returns the exit code for st. */
int csm_cli_fail(csm_status st);
/* Prints "csm <cmd>: <message>" for a usage error and returns 1. */
int csm_cli_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int csm_cli_exit_code(csm_status st);

/* Parses "a,b,c" into n doubles; 0 on success. */
int csm_cli_parse_doubles(const char *s, double *v, int n);
/* Parses a positive int; 0 on success. */
int csm_cli_parse_int(const char *s, int *v);

/* Options shared by commands: --threads N, and with opt (face commands)
 * --detector auto|front|back and --min-score S. Looks at argv[*i]: returns 1
 * when it took an option (and its value; *i advanced), 0 when argv[*i] is
 * none of them, -1 after printing a usage error for `cmd`. */
int csm_cli_common_option(const char *cmd, int argc, char **argv, int *i, csm_detect_options *opt);

/* JSON helpers writing to fp. */
void csm_json_shape(FILE *fp, const csm_shape *s);

/* Option-table entries (options.h) for --detector, --min-score and
 * --threads, storing into the csm_detect_options at `offset` of the
 * command's arguments. */
struct cli_option;
int cli_take_detect(const char *cmd, const struct cli_option *o, void *args, const char *v);
/* --threads alone (commands without a detector). */
int cli_take_threads(const char *cmd, const struct cli_option *o, void *args, const char *v);
#define CLI_THREADS_OPTION                                                                         \
  { "--threads", NULL, "N", "threads (default: all cores)", CLI_CALL, 0, .call = cli_take_threads }
#define CLI_DETECT_OPTIONS(offset, detector_help, score_help)                                      \
  {"--detector", NULL, "D", detector_help, CLI_CALL, offset, .call = cli_take_detect},             \
      {"--min-score", NULL, "S", score_help, CLI_CALL, offset, .call = cli_take_detect}, {         \
    "--threads", NULL, "N", "threads (default: all cores)", CLI_CALL, offset,                      \
        .call = cli_take_detect                                                                    \
  }

#endif
