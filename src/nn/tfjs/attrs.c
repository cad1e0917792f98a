/* Node attributes as the TF.js converter writes them: the JSON form of
 * TensorFlow's AttrValue protobuf (int64 as strings, strings as base64,
 * default values possibly omitted). */
#include "tfjs.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const cJSON *csm_tfjs_get(const cJSON *obj, const char *key) {
  const cJSON *found = NULL, *c;
  if (!cJSON_IsObject(obj)) return NULL;
  cJSON_ArrayForEach(c, obj) if (c->string && strcmp(c->string, key) == 0) found = c;
  return found;
}

const cJSON *csm_tfjs_attr(const cJSON *node, const char *name) {
  const cJSON *attr = csm_tfjs_get(node, "attr");
  if (!cJSON_IsObject(attr)) return NULL;
  const cJSON *v = csm_tfjs_get(attr, name);
  return cJSON_IsObject(v) ? v : NULL;
}

int csm_tfjs_json_int(const cJSON *v, int64_t *out) {
  if (cJSON_IsNumber(v)) {
    double d = v->valuedouble;
    /* 2^62 bounds anything a shape or attribute can sensibly hold and keeps
     * the conversion defined. */
    if (!(d >= -4611686018427387904.0 && d <= 4611686018427387904.0) || d != floor(d)) return -1;
    *out = (int64_t)d;
    return 0;
  }
  if (cJSON_IsString(v)) {
    const char *s = v->valuestring;
    char *end;
    if (!*s || isspace((unsigned char)*s)) return -1;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (errno || *end) return -1;
    *out = (int64_t)x;
    return 0;
  }
  return -1;
}

int csm_tfjs_json_number(const cJSON *v, double *out) {
  if (cJSON_IsNumber(v)) {
    *out = v->valuedouble;
    return 0;
  }
  if (cJSON_IsString(v)) {
    const char *s = v->valuestring;
    char *end;
    if (!*s || isspace((unsigned char)*s)) return -1;
    *out = strtod(s, &end);
    return *end ? -1 : 0;
  }
  return -1;
}

csm_status csm_tfjs_attr_int(const csm_tfjs_where *w, const cJSON *node, const char *name,
                             int64_t def, int64_t lo, int64_t hi, int *out) {
  const cJSON *a = csm_tfjs_attr(node, name);
  int64_t v = def;
  if (a) {
    const cJSON *i = csm_tfjs_get(a, "i");
    /* protobuf JSON omits zero values. */
    if (!i)
      v = 0;
    else if (csm_tfjs_json_int(i, &v))
      return csm_fail(CSM_EINPUT, "%s: node '%s': attr '%s' is not an integer", w->path, w->node,
                      name);
  }
  if (v < lo || v > hi)
    return csm_fail(CSM_EINPUT, "%s: node '%s': attr '%s' = %lld out of range [%lld, %lld]",
                    w->path, w->node, name, (long long)v, (long long)lo, (long long)hi);
  *out = (int)v;
  return CSM_OK;
}

csm_status csm_tfjs_attr_bool(const csm_tfjs_where *w, const cJSON *node, const char *name, int def,
                              int *out) {
  const cJSON *a = csm_tfjs_attr(node, name);
  *out = def;
  if (!a) return CSM_OK;
  const cJSON *b = csm_tfjs_get(a, "b");
  if (!b) {
    *out = 0;
    return CSM_OK;
  }
  if (!cJSON_IsBool(b))
    return csm_fail(CSM_EINPUT, "%s: node '%s': attr '%s' is not a boolean", w->path, w->node,
                    name);
  *out = cJSON_IsTrue(b);
  return CSM_OK;
}

csm_status csm_tfjs_attr_float(const csm_tfjs_where *w, const cJSON *node, const char *name,
                               float def, float *out) {
  const cJSON *a = csm_tfjs_attr(node, name);
  double v = def;
  if (a) {
    const cJSON *f = csm_tfjs_get(a, "f");
    if (!f)
      v = 0;
    else if (csm_tfjs_json_number(f, &v))
      return csm_fail(CSM_EINPUT, "%s: node '%s': attr '%s' is not a number", w->path, w->node,
                      name);
  }
  *out = (float)v;
  return CSM_OK;
}

static int b64_value(int c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}

/* Decodes base64 into buf (NUL-terminated); -1 if invalid or too long. */
static int b64_decode(const char *s, char *buf, size_t len) {
  size_t n = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (; *s && *s != '='; s++) {
    int v = b64_value((unsigned char)*s);
    if (v < 0) return -1;
    acc = (acc << 6) | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (n + 1 >= len) return -1;
      buf[n++] = (char)((acc >> bits) & 0xff);
    }
  }
  for (; *s == '='; s++) {
  }
  if (*s) return -1;
  buf[n] = '\0';
  return 0;
}

/* Every string attribute csm reads (padding, data_format, fused ops) is
 * printable ASCII; anything else is corrupt, and echoing it into a message
 * would break the message. */
static int printable(const char *s) {
  for (; *s; s++)
    if (*s < 0x20 || *s > 0x7e) return 0;
  return 1;
}

/* TF.js accepts either base64 text or an array of character codes. */
static int decode_string(const cJSON *s, char *buf, size_t len) {
  if (cJSON_IsString(s)) return b64_decode(s->valuestring, buf, len) || !printable(buf) ? -1 : 0;
  if (cJSON_IsArray(s)) {
    size_t n = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, s) {
      int64_t v;
      if (csm_tfjs_json_int(c, &v) || v < 0x20 || v > 0x7e || n + 1 >= len) return -1;
      buf[n++] = (char)v;
    }
    buf[n] = '\0';
    return 0;
  }
  return -1;
}

csm_status csm_tfjs_attr_string(const csm_tfjs_where *w, const cJSON *node, const char *name,
                                const char *def, char *buf, size_t len) {
  const cJSON *a = csm_tfjs_attr(node, name);
  if (!a) {
    if (!def)
      return csm_fail(CSM_EINPUT, "%s: node '%s': attr '%s' is missing", w->path, w->node, name);
    snprintf(buf, len, "%s", def);
    return CSM_OK;
  }
  const cJSON *s = csm_tfjs_get(a, "s");
  if (!s) {
    buf[0] = '\0';
    return CSM_OK;
  }
  if (decode_string(s, buf, len))
    return csm_fail(CSM_EINPUT, "%s: node '%s': attr '%s' is not a valid string", w->path, w->node,
                    name);
  return CSM_OK;
}

static const cJSON *attr_list(const cJSON *node, const char *name, const char *field) {
  const cJSON *a = csm_tfjs_attr(node, name);
  if (!a) return NULL;
  const cJSON *list = csm_tfjs_get(a, "list");
  if (!cJSON_IsObject(list)) return NULL;
  return csm_tfjs_get(list, field);
}

csm_status csm_tfjs_attr_ints(const csm_tfjs_where *w, const cJSON *node, const char *name,
                              int64_t *v, int max, int *count) {
  const cJSON *a = csm_tfjs_attr(node, name);
  *count = -1;
  if (!a) return CSM_OK;
  if (!cJSON_IsObject(csm_tfjs_get(a, "list")))
    return csm_fail(CSM_EINPUT, "%s: node '%s': attr '%s' is not a list", w->path, w->node, name);
  const cJSON *items = attr_list(node, name, "i");
  *count = 0;
  if (!items) return CSM_OK;
  if (!cJSON_IsArray(items))
    return csm_fail(CSM_EINPUT, "%s: node '%s': attr '%s' is not an integer list", w->path, w->node,
                    name);
  const cJSON *it;
  cJSON_ArrayForEach(it, items) {
    if (*count >= max)
      return csm_fail(CSM_EINPUT, "%s: node '%s': attr '%s' has more than %d entries", w->path,
                      w->node, name, max);
    if (csm_tfjs_json_int(it, &v[*count]))
      return csm_fail(CSM_EINPUT, "%s: node '%s': attr '%s' holds a non-integer", w->path, w->node,
                      name);
    (*count)++;
  }
  return CSM_OK;
}

csm_status csm_tfjs_attr_strings(const csm_tfjs_where *w, const cJSON *node, const char *name,
                                 char (*v)[32], int max, int *count) {
  const cJSON *items = attr_list(node, name, "s");
  const cJSON *it;
  *count = 0;
  if (!items) return CSM_OK;
  if (!cJSON_IsArray(items))
    return csm_fail(CSM_EINPUT, "%s: node '%s': attr '%s' is not a string list", w->path, w->node,
                    name);
  cJSON_ArrayForEach(it, items) {
    if (*count >= max)
      return csm_fail(CSM_EUNSUPPORTED, "%s: node '%s': attr '%s' has more than %d entries",
                      w->path, w->node, name, max);
    if (decode_string(it, v[*count], sizeof v[*count]))
      return csm_fail(CSM_EINPUT, "%s: node '%s': attr '%s' holds an invalid string", w->path,
                      w->node, name);
    (*count)++;
  }
  return CSM_OK;
}

int csm_tfjs_dtype(const char *tf_dtype) {
  if (!tf_dtype) return -1;
  if (strcmp(tf_dtype, "DT_FLOAT") == 0) return CSM_F32;
  if (strcmp(tf_dtype, "DT_INT32") == 0) return CSM_I32;
  return -1;
}

csm_status csm_tfjs_shape(const csm_tfjs_where *w, const cJSON *shape_proto, int allow_unknown,
                          const char *what, csm_shape *out) {
  memset(out, 0, sizeof *out);
  if (!cJSON_IsObject(shape_proto))
    return csm_fail(CSM_EINPUT, "%s: node '%s': %s is not a shape", w->path, w->node, what);
  if (cJSON_IsTrue(csm_tfjs_get(shape_proto, "unknownRank")))
    return csm_fail(CSM_EUNSUPPORTED, "%s: node '%s': %s has an unknown rank", w->path, w->node,
                    what);
  const cJSON *dims = csm_tfjs_get(shape_proto, "dim");
  if (!dims) return CSM_OK; /* a scalar */
  if (!cJSON_IsArray(dims))
    return csm_fail(CSM_EINPUT, "%s: node '%s': %s has a malformed dim list", w->path, w->node,
                    what);
  int rank = cJSON_GetArraySize(dims);
  if (rank > CSM_MAX_RANK)
    return csm_fail(CSM_EUNSUPPORTED, "%s: node '%s': %s has rank %d (at most %d supported)",
                    w->path, w->node, what, rank, CSM_MAX_RANK);
  const cJSON *d;
  cJSON_ArrayForEach(d, dims) {
    const cJSON *size = cJSON_IsObject(d) ? csm_tfjs_get(d, "size") : NULL;
    int64_t v = 0; /* protobuf JSON omits a zero size */
    if (!cJSON_IsObject(d) || (size && csm_tfjs_json_int(size, &v)))
      return csm_fail(CSM_EINPUT, "%s: node '%s': %s has a malformed dimension", w->path, w->node,
                      what);
    if (v < -1 || (v == -1 && !allow_unknown))
      return csm_fail(CSM_EINPUT, "%s: node '%s': %s has negative dimension %lld", w->path, w->node,
                      what, (long long)v);
    out->d[out->rank++] = v;
  }
  /* Reject absurd declared sizes here (overflow); -1 stands for any size. */
  csm_shape known = *out;
  for (int i = 0; i < known.rank; i++)
    if (known.d[i] < 0) known.d[i] = 1;
  size_t numel;
  if (csm_shape_numel(&known, &numel))
    return csm_fail_context(CSM_EINPUT, "%s: node '%s': %s: ", w->path, w->node, what);
  return CSM_OK;
}

int csm_tfjs_streq(const char *a, const char *b) { return strcasecmp(a, b) == 0; }
