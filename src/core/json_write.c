/* JSON values written to a stream: the one escaping of strings and the one
 * formatting of numbers that every JSON file of csm uses. */
#include <math.h>

#include "csm/core.h"

void csm_json_string(FILE *fp, const char *s) {
  fputc('"', fp);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') {
      fprintf(fp, "\\%c", c);
    } else if (c < 0x20) {
      fprintf(fp, "\\u%04x", c);
    } else {
      fputc(c, fp);
    }
  }
  fputc('"', fp);
}

void csm_json_float(FILE *fp, double v) {
  if (isfinite(v)) {
    fprintf(fp, "%.9g", v);
  } else {
    fputs("null", fp); /* JSON has no NaN/Inf */
  }
}
