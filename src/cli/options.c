/* The one option parser and help printer (options.h). */
#include "options.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const cli_option *find(const cli_spec *spec, const char *name) {
  for (int t = 0; t < spec->n_tables; t++)
    for (const cli_option *o = spec->tables[t]; o->name || o->help; o++)
      if (o->name && (!strcmp(o->name, name) || (o->alias && !strcmp(o->alias, name)))) return o;
  return NULL;
}

static int bounded(const cli_option *o, double v) {
  return (o->min == 0 && o->max == 0) || (v >= o->min && v <= o->max);
}

static int range_error(const char *cmd, const cli_option *o, const char *kind, const char *v) {
  if (o->min == 0 && o->max == 0)
    return csm_cli_usage_error(cmd, "%s takes %s, not '%s'", o->name, kind, v);
  return csm_cli_usage_error(cmd, "%s takes %s in %g..%g, not '%s'", o->name, kind, o->min, o->max,
                             v);
}

/* Stores the value of o into args. */
static int take(const cli_spec *spec, const cli_option *o, void *args, const char *v) {
  char *field = (char *)args + o->offset;
  const char *cmd = spec->cmd;
  switch (o->kind) {
  case CLI_FLAG: *(int *)field = o->set ? o->set : 1; break;
  case CLI_STRING: *(const char **)field = v; break;
  case CLI_INT: {
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (end == v || *end || errno || x < INT_MIN || x > INT_MAX || !bounded(o, (double)x))
      return range_error(cmd, o, "an integer", v), -1;
    *(int *)field = (int)x;
    break;
  }
  case CLI_NUMBER: {
    char *end;
    double d = strtod(v, &end);
    if (end == v || *end || !isfinite(d) || !bounded(o, d))
      return range_error(cmd, o, "a number", v), -1;
    *(double *)field = d;
    break;
  }
  case CLI_CHOICE: {
    int k = 0;
    while (o->choices[k] && strcmp(o->choices[k], v))
      k++;
    if (!o->choices[k]) return csm_cli_usage_error(cmd, "%s does not take '%s'", o->name, v), -1;
    *(int *)field = k;
    break;
  }
  case CLI_CALL: break;
  }
  return o->call ? o->call(cmd, o, args, v) : 0;
}

int cli_parse(const cli_spec *spec, void *args, int argc, char **argv, const char **pos,
              int *n_pos) {
  *n_pos = 0;
  int only_positional = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!only_positional && !strcmp(a, "--")) {
      only_positional = 1;
      continue;
    }
    if (only_positional || a[0] != '-' || !a[1]) {
      if (spec->max_positional >= 0 && *n_pos >= spec->max_positional)
        return csm_cli_usage_error(spec->cmd, "unexpected argument '%s'", a);
      pos[(*n_pos)++] = a;
      continue;
    }
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      cli_print_help(spec, stdout);
      return CSM_EXIT_OK;
    }
    const cli_option *o = find(spec, a);
    if (!o) return csm_cli_usage_error(spec->cmd, "unknown option '%s'", a);
    const char *v = NULL;
    if (o->arg) {
      if (i + 1 >= argc) return csm_cli_usage_error(spec->cmd, "%s needs a value", a);
      v = argv[++i];
    }
    if (take(spec, o, args, v)) return CSM_EXIT_USAGE;
  }
  return -1;
}

void cli_print_help(const cli_spec *spec, FILE *fp) {
  fputs(spec->usage, fp);
  for (int t = 0; t < spec->n_tables; t++)
    for (const cli_option *o = spec->tables[t]; o->name || o->help; o++) {
      if (!o->name) {
        fprintf(fp, "\n%s\n", o->help);
        continue;
      }
      char head[64];
      /* "-o, --out DIR" but "--centres, --centers X": the short form first. */
      int short_alias = o->alias && o->alias[1] != '-';
      const char *first = short_alias ? o->alias : o->name;
      const char *second = short_alias ? o->name : o->alias;
      int n = snprintf(head, sizeof head, "  %s%s%s%s%s", first, second ? ", " : "",
                       second ? second : "", o->arg ? " " : "", o->arg ? o->arg : "");
      /* The help's lines at column 23, the first beside the name when it fits. */
      const char *h = o->help;
      if (n > 22)
        fprintf(fp, "%s\n%-23s", head, "");
      else
        fprintf(fp, "%-23s", head);
      for (; *h; h++) {
        fputc(*h, fp);
        if (*h == '\n' && h[1]) fprintf(fp, "%-23s", "");
      }
      fputc('\n', fp);
    }
  if (spec->tail) fputs(spec->tail, fp);
}
