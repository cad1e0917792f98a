/* Command-line options declared once, in tables: the one parser reads
 * argv through them and the one help printer prints them, so that a
 * command's options, its checks and its --help cannot disagree (libvips'
 * argument declarations; STYLE.md).
 *
 *   static const cli_option opts[] = {
 *       {"--task", NULL, "TASK", "what to explain (see 'csm tasks')", CLI_STRING,
 *        offsetof(my_args, task)},
 *       {"--jobs", NULL, "N", "inputs computed at once (default 1)", CLI_INT,
 *        offsetof(my_args, jobs), .min = 1, .max = 64},
 *       {0}};
 *
 * A table ends with an entry whose name and help are NULL. An entry with a
 * NULL name and a help text is a heading in --help. */
#ifndef CSM_CLI_OPTIONS_H
#define CSM_CLI_OPTIONS_H

#include <stddef.h>
#include <stdio.h>

typedef enum cli_kind {
  CLI_FLAG,   /* no value: stores .set (default 1) into an int */
  CLI_STRING, /* stores the value (const char *) */
  CLI_INT,    /* an integer in [min, max] into an int */
  CLI_NUMBER, /* a finite number in [min, max] into a double */
  CLI_CHOICE, /* one of choices (NULL-terminated): its index into an int */
  CLI_CALL    /* call(args, value): anything else */
} cli_kind;

typedef struct cli_option {
  const char *name;  /* "--task" */
  const char *alias; /* "-o", or NULL */
  const char *arg;   /* the value's name in --help ("TASK"); NULL for flags */
  const char *help;  /* lines separated by \n */
  cli_kind kind;
  size_t offset;   /* of the field in the command's argument struct */
  double min, max; /* CLI_INT, CLI_NUMBER (both 0: no bounds) */
  const char *const *choices;
  int set; /* CLI_FLAG: the value stored (0: 1) */
  /* CLI_CALL (and after any kind when not NULL): takes the value (NULL for
   * a flag); returns 0, or -1 after printing a usage error for cmd. */
  int (*call)(const char *cmd, const struct cli_option *o, void *args, const char *value);
} cli_option;

/* The tables of one command, searched in order. */
typedef struct cli_spec {
  const char *cmd;   /* "cms" */
  const char *usage; /* the help's head (usage lines and what it does) */
  const char *tail;  /* printed after the options, or NULL */
  const cli_option *const *tables;
  int n_tables;
  int max_positional; /* -1: any number */
} cli_spec;

/* Parses argv[1..] into args; positional arguments (and everything after
 * "--") go to pos[*n_pos] (pos holds argc entries). Returns -1 to go on,
 * CSM_EXIT_OK after printing --help, or CSM_EXIT_USAGE after a usage error. */
int cli_parse(const cli_spec *spec, void *args, int argc, char **argv, const char **pos,
              int *n_pos);
/* The help: usage, the tables' options and headings, the tail. */
void cli_print_help(const cli_spec *spec, FILE *fp);

#endif
