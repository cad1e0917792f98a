/* The inputs of a run: images, verify pairs, list files, and the output
 * file stems made from them. */
#include <stdlib.h>
#include <string.h>

#include "run_internal.h"

static int parse_truth(const char *s) {
  if (!strcmp(s, "same") || !strcmp(s, "1") || !strcmp(s, "genuine")) return 1;
  if (!strcmp(s, "different") || !strcmp(s, "0") || !strcmp(s, "impostor")) return 0;
  return -2;
}

/* Splits one line of a list file in place into at most max fields (one
 * more field is counted but not stored, so that extra fields show). Fields
 * are separated by spaces, tabs or commas; a line that holds a tab is
 * split at tabs only, each field trimmed of spaces, so that paths may hold
 * spaces and commas. A field in double quotes may hold anything, with \"
 * and \\ for a quote and a backslash. Returns the count, or -1 with *why
 * set. */
static int split_fields(char *line, char **f, int max, const char **why) {
  const int tabs = strchr(line, '\t') != NULL;
#define IS_SEP(c) ((c) == '\t' || (c) == '\r' || (!tabs && ((c) == ' ' || (c) == ',')))
  int nf = 0;
  char *p = line;
  for (;;) {
    while (*p && (IS_SEP(*p) || (tabs && *p == ' ')))
      p++;
    if (!*p) break;
    char *start = p, *end;
    if (*p == '"') {
      char *o = start;
      for (p++;; p++) {
        if (!*p) return *why = "a quote is not closed", -1;
        if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
          p++;
        else if (*p == '"')
          break;
        *o++ = *p;
      }
      p++;
      while (tabs && *p == ' ')
        p++;
      if (*p && !IS_SEP(*p)) return *why = "text after a closing quote", -1;
      if (o == start) return *why = "an empty quoted path", -1;
      end = o;
    } else {
      while (*p && !IS_SEP(*p))
        p++;
      end = p;
      while (tabs && end > start && end[-1] == ' ')
        end--;
    }
    const int more = *p != '\0';
    *end = '\0';
    if (nf < max) f[nf] = start;
    if (++nf > max) break;
    if (!more) break;
    p++;
  }
#undef IS_SEP
  return nf;
}

csm_status csm_inputs_parse(csm_explain_mode mode, const char *const *pos, int n_pos,
                            const char *list, csm_input **out, int *n_out, char **buf_out) {
  *out = NULL, *n_out = 0, *buf_out = NULL;
  int pairs = mode == CSM_EXPLAIN_VERIFY;
  if (pairs && n_pos % 2)
    return csm_fail(CSM_EUSAGE, "--task verify takes images in pairs: %d given", n_pos);
  char *buf = NULL;
  size_t len = 0, lines = 0;
  if (list) {
    csm_status rst = csm_read_file(list, (size_t)1 << 30, &buf, &len);
    if (rst) return rst;
    lines = 1;
    for (size_t k = 0; k < len; k++)
      lines += buf[k] == '\n';
  }
  size_t cap = (size_t)(pairs ? n_pos / 2 : n_pos) + lines;
  csm_input *in = calloc(cap ? cap : 1, sizeof *in);
  if (!in) {
    free(buf);
    return csm_fail(CSM_ENOMEM, "out of memory");
  }
  int n = 0;
  for (int i = 0; i < n_pos; i += pairs ? 2 : 1) {
    in[n].path = pos[i];
    in[n].path2 = pairs ? pos[i + 1] : NULL;
    in[n].truth = -1;
    n++;
  }
  csm_status st = CSM_OK;
  int line_no = 0;
  for (char *line = buf, *next; !st && line && *line; line = next) {
    next = strchr(line, '\n');
    if (next) *next++ = 0;
    line_no++;
    line += strspn(line, " \t\r,");
    if (*line == '#') continue; /* a comment, whatever follows */
    char *f[3];
    const char *why = NULL;
    const int nf = split_fields(line, f, 3, &why);
    if (nf < 0) {
      st = csm_fail(CSM_EINPUT, "%s: line %d: %s", list, line_no, why);
      break;
    }
    if (nf == 0) continue;
    in[n].truth = -1;
    if (pairs) {
      if (nf < 2 || nf > 3 || (nf == 3 && parse_truth(f[2]) < -1))
        st =
            csm_fail(CSM_EINPUT, "%s: line %d: want IMAGE1 IMAGE2 [same|different]", list, line_no);
      else
        in[n].path = f[0], in[n].path2 = f[1], in[n].truth = nf == 3 ? parse_truth(f[2]) : -1;
    } else if (mode == CSM_EXPLAIN_IDENTIFY) {
      if (nf > 2)
        st = csm_fail(CSM_EINPUT, "%s: line %d: want IMAGE [IDENTITY]", list, line_no);
      else
        in[n].path = f[0], in[n].identity = nf == 2 ? f[1] : NULL;
    } else if (nf > 1) {
      st = csm_fail(CSM_EINPUT,
                    "%s: line %d: want one image path (a path with spaces in double quotes, "
                    "or the line's fields separated by tabs)",
                    list, line_no);
    } else {
      in[n].path = f[0];
    }
    if (!st) n++;
  }
  if (!st && n == 0) st = csm_fail(CSM_EUSAGE, "no inputs given");
  if (st) {
    free(in);
    free(buf);
    return st;
  }
  *out = in, *n_out = n, *buf_out = buf;
  return CSM_OK;
}

void csm_path_stem(const char *path, char *buf, size_t len) {
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  snprintf(buf, len, "%s", base);
  char *dot = strrchr(buf, '.');
  if (dot && dot != buf) *dot = 0;
}

csm_status csm_input_stems(const csm_input *inputs, int n, char ***out) {
  *out = NULL;
  char **s = calloc((size_t)(n > 0 ? n : 1), sizeof *s);
  if (!s) return csm_fail(CSM_ENOMEM, "out of memory");
  for (int i = 0; i < n; i++) {
    char base[1024], base2[512], buf[1100];
    csm_path_stem(inputs[i].path, base, sizeof base);
    if (inputs[i].path2) {
      csm_path_stem(inputs[i].path2, base2, sizeof base2);
      size_t l = strlen(base);
      snprintf(base + l, sizeof base - l, "__%s", base2);
    }
    snprintf(buf, sizeof buf, "%s", base);
    for (int k = 2;; k++) {
      int clash = 0;
      for (int j = 0; j < i && !clash; j++)
        clash = !strcmp(s[j], buf);
      if (!clash) break;
      snprintf(buf, sizeof buf, "%s-%d", base, k);
    }
    s[i] = strdup(buf);
    if (!s[i]) {
      csm_input_stems_free(s, i);
      return csm_fail(CSM_ENOMEM, "out of memory");
    }
  }
  *out = s;
  return CSM_OK;
}

void csm_input_stems_free(char **stems, int n) {
  for (int i = 0; stems && i < n; i++)
    free(stems[i]);
  free(stems);
}
