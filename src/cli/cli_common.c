/* Exit codes, model lookup, argument parsing and JSON output for the CLI. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "options.h"

int csm_cli_exit_code(csm_status st) {
  switch (st) {
  case CSM_OK: return CSM_EXIT_OK;
  case CSM_EUSAGE: return CSM_EXIT_USAGE;
  case CSM_EINPUT:
  case CSM_EIO:
  case CSM_EUNSUPPORTED: return CSM_EXIT_INPUT;
  case CSM_ENOMEM:
  case CSM_EINTERNAL:
  case CSM_ESYSTEM: break;
  }
  return CSM_EXIT_INTERNAL;
}

int csm_cli_fail(csm_status st) {
  fprintf(stderr, "csm: %s\n", csm_last_error());
  return csm_cli_exit_code(st);
}

int csm_cli_usage_error(const char *cmd, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "csm %s: ", cmd);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, " (see 'csm %s --help')\n", cmd);
  return CSM_EXIT_USAGE;
}

int csm_cli_parse_doubles(const char *s, double *v, int n) {
  const char *p = s;
  for (int i = 0; i < n; i++) {
    char *end;
    errno = 0;
    v[i] = strtod(p, &end);
    if (end == p || errno || !isfinite(v[i])) return -1;
    p = end;
    if (i < n - 1) {
      if (*p != ',') return -1;
      p++;
    }
  }
  return *p ? -1 : 0;
}

int csm_cli_parse_int(const char *s, int *v) {
  char *end;
  errno = 0;
  long x = strtol(s, &end, 10);
  if (end == s || *end || errno || x <= 0 || x > INT_MAX) return -1;
  *v = (int)x;
  return 0;
}

int csm_cli_common_option(const char *cmd, int argc, char **argv, int *i, csm_detect_options *opt) {
  const char *o = argv[*i];
  if (*i + 1 >= argc) return 0;
  const char *v = argv[*i + 1];
  if (!strcmp(o, "--threads")) {
    int t;
    if (csm_cli_parse_int(v, &t)) {
      csm_cli_usage_error(cmd, "--threads takes a positive integer");
      return -1;
    }
    csm_set_threads(t);
  } else if (opt && !strcmp(o, "--detector")) {
    if (!strcmp(v, "auto")) {
      opt->detector = CSM_DETECTOR_AUTO;
    } else if (!strcmp(v, "front")) {
      opt->detector = CSM_DETECTOR_FRONT;
    } else if (!strcmp(v, "back")) {
      opt->detector = CSM_DETECTOR_BACK;
    } else {
      csm_cli_usage_error(cmd, "--detector takes auto, front or back, not '%s'", v);
      return -1;
    }
  } else if (opt && !strcmp(o, "--min-score")) {
    double s;
    if (csm_cli_parse_doubles(v, &s, 1) || !(s >= 0 && s < 1)) {
      csm_cli_usage_error(cmd, "--min-score takes a number in [0, 1)");
      return -1;
    }
    opt->min_score = (float)s;
  } else {
    return 0;
  }
  (*i)++;
  return 1;
}

void csm_json_shape(FILE *fp, const csm_shape *s) {
  fputc('[', fp);
  for (int i = 0; i < s->rank; i++)
    fprintf(fp, i ? ", %lld" : "%lld", (long long)s->d[i]);
  fputc(']', fp);
}

int cli_take_detect(const char *cmd, const cli_option *o, void *args, const char *v) {
  char *argv[3] = {NULL, (char *)o->name, (char *)v};
  int i = 1;
  return csm_cli_common_option(cmd, 3, argv, &i, (csm_detect_options *)((char *)args + o->offset)) <
                 0
             ? -1
             : 0;
}

int cli_take_threads(const char *cmd, const cli_option *o, void *args, const char *v) {
  (void)args;
  char *argv[3] = {NULL, (char *)o->name, (char *)v};
  int i = 1;
  return csm_cli_common_option(cmd, 3, argv, &i, NULL) < 0 ? -1 : 0;
}
