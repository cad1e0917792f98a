/* The command line of the explaining commands (cis, cms, compare, eval,
 * sanity): their shared options into csm_explain_options, the inputs, and
 * the progress line. The work itself is one run/ call (include/csm/run.h). */
#ifndef CSM_CLI_EXPLAIN_COMMON_H
#define CSM_CLI_EXPLAIN_COMMON_H

#include "cli.h"
#include "custom_options.h"
#include "options.h"

typedef struct explain_args {
  csm_explain_options o;
  custom_args custom; /* --model and its flags, copied into o when checked */
  const char *out_dir;
  int quiet;   /* no progress lines */
  int centres; /* --centres: 0 mesh, 1 grid */
  int choice;  /* a choice option's index, before it is applied */
} explain_args;

/* The explain options (cis, cms, compare, eval, sanity), for a command's
 * cli_spec: the struct holding them is explain_args, at offset 0 of the
 * command's arguments. */
extern const cli_option explain_option_table[];

/* Defaults for every field. */
void explain_args_init(explain_args *a);
void explain_args_free(explain_args *a);
/* Checks the combination after parsing (csm_explain_options_resolve); prints
 * a usage error (returns 1). out_required: -o DIR must be given. */
int explain_args_check(const char *cmd, explain_args *a, int out_required);

/* Progress lines go to stderr when it is a terminal or CSM_PROGRESS=1. */
int explain_progress_wanted(const explain_args *a);
/* A csm_progress_fn printing "\r<cmd>: ..." on stderr; ctx: the command's
 * name ("csm cis"). */
int explain_print_progress(void *ctx, const csm_progress *p);

/* verify with --calibrate: the threshold found, on stderr. */
void explain_print_calibration(const explain_args *a, const csm_run_summary *s);

/* The run's inputs from the positional arguments and --list. On failure
 * prints the error and returns the exit code; 0 on success. */
int explain_inputs(const explain_args *a, const char *const *pos, int n_pos, const char *list,
                   csm_input **in, int *n, char **buf);

#endif
