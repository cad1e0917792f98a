/* TensorProto -> IR tensor: data types, raw and typed fields, external data.
 *
 * Nothing read from the file is trusted: the element count comes from the
 * dims through checked arithmetic and must match the bytes or values that
 * are actually there, and external data must be a file inside the model's
 * folder (a model must not make us read /etc/shadow or ../../secret). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "nn/tfjs/tfjs.h" /* csm_tfjs_half_to_float */
#include "onnx_internal.h"

enum {
  T_FLOAT = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT,
  T_UINT8 = ONNX__TENSOR_PROTO__DATA_TYPE__UINT8,
  T_INT8 = ONNX__TENSOR_PROTO__DATA_TYPE__INT8,
  T_UINT16 = ONNX__TENSOR_PROTO__DATA_TYPE__UINT16,
  T_INT16 = ONNX__TENSOR_PROTO__DATA_TYPE__INT16,
  T_INT32 = ONNX__TENSOR_PROTO__DATA_TYPE__INT32,
  T_INT64 = ONNX__TENSOR_PROTO__DATA_TYPE__INT64,
  T_BOOL = ONNX__TENSOR_PROTO__DATA_TYPE__BOOL,
  T_FLOAT16 = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16,
  T_DOUBLE = ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE
};

static const char *dtype_name(int t) {
  static const char *names[] = {"UNDEFINED",  "FLOAT",   "UINT8",  "INT8",   "UINT16",
                                "INT16",      "INT32",   "INT64",  "STRING", "BOOL",
                                "FLOAT16",    "DOUBLE",  "UINT32", "UINT64", "COMPLEX64",
                                "COMPLEX128", "BFLOAT16"};
  return t >= 0 && t < (int)(sizeof names / sizeof *names) ? names[t] : "unknown";
}

/* Bytes per element in raw_data / external files; 0: unsupported type. */
static size_t elem_bytes(int t) {
  switch (t) {
  case T_FLOAT:
  case T_INT32: return 4;
  case T_DOUBLE:
  case T_INT64: return 8;
  case T_FLOAT16:
  case T_INT16:
  case T_UINT16: return 2;
  case T_INT8:
  case T_UINT8:
  case T_BOOL: return 1;
  default: return 0;
  }
}

static uint64_t le_bits(const unsigned char *p, size_t n) {
  uint64_t v = 0;
  for (size_t i = n; i-- > 0;)
    v = v << 8 | p[i];
  return v;
}

/* int64 -> int32 for the IR. "To the end" sentinels clamp: exporters write
 * INT64_MAX, INT64_MIN and also -INT64_MAX (PyTorch, reversed Slice), so
 * any magnitude >= 2^62 counts as one; other values outside int32 are
 * errors rather than silently different numbers. */
static csm_status narrow(csm_onnx_ctx *c, const char *what, int64_t v, size_t i, int32_t *out) {
  if (v >= ((int64_t)1 << 62)) v = INT32_MAX;
  if (v <= -((int64_t)1 << 62)) v = INT32_MIN;
  if (v < INT32_MIN || v > INT32_MAX)
    return csm_onnx_fail(c, CSM_EUNSUPPORTED,
                         "%s: int64 value %lld at element %zu is outside the "
                         "int32 range",
                         what, (long long)v, i);
  *out = (int32_t)v;
  return CSM_OK;
}

/* Little-endian bytes (raw_data or an external file) into out. */
static csm_status decode_raw(csm_onnx_ctx *c, const char *what, int t, const unsigned char *p,
                             size_t n, csm_tensor *out) {
  float *f = out->data;
  int32_t *d = out->data;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  /* Weights are nearly all little-endian float32, the host's own layout:
   * one copy instead of a switch per element (VGG16: 138 M of them). */
  if (t == T_FLOAT || t == T_INT32) {
    /* An empty tensor (PyTorch's Resize roi) has no bytes: p is NULL, and
     * memcpy's arguments must be valid pointers even for 0 bytes. */
    if (n) memcpy(out->data, p, n * 4);
    return CSM_OK;
  }
#endif
  for (size_t i = 0; i < n; i++) {
    switch (t) {
    case T_FLOAT: {
      uint32_t b = (uint32_t)le_bits(p + 4 * i, 4);
      memcpy(&f[i], &b, 4);
      break;
    }
    case T_DOUBLE: {
      uint64_t b = le_bits(p + 8 * i, 8);
      double x;
      memcpy(&x, &b, 8);
      f[i] = (float)x;
      break;
    }
    case T_FLOAT16: f[i] = csm_tfjs_half_to_float((uint16_t)le_bits(p + 2 * i, 2)); break;
    case T_INT64: {
      csm_status st = narrow(c, what, (int64_t)le_bits(p + 8 * i, 8), i, &d[i]);
      if (st) return st;
      break;
    }
    case T_INT32: d[i] = (int32_t)(uint32_t)le_bits(p + 4 * i, 4); break;
    case T_INT16: d[i] = (int16_t)(uint16_t)le_bits(p + 2 * i, 2); break;
    case T_UINT16: d[i] = (uint16_t)le_bits(p + 2 * i, 2); break;
    case T_INT8: d[i] = (int8_t)p[i]; break;
    case T_UINT8: d[i] = p[i]; break;
    case T_BOOL: d[i] = p[i] != 0; break;
    }
  }
  return CSM_OK;
}

/* The typed field that holds values of type t, and its length. */
static size_t typed_count(const Onnx__TensorProto *tp, int t) {
  switch (t) {
  case T_FLOAT: return tp->n_float_data;
  case T_DOUBLE: return tp->n_double_data;
  case T_INT64: return tp->n_int64_data;
  default: return tp->n_int32_data; /* INT32 and the narrow types, FLOAT16 bits */
  }
}

static csm_status decode_typed(csm_onnx_ctx *c, const char *what, const Onnx__TensorProto *tp,
                               int t, size_t n, csm_tensor *out) {
  float *f = out->data;
  int32_t *d = out->data;
  for (size_t i = 0; i < n; i++) {
    switch (t) {
    case T_FLOAT: f[i] = tp->float_data[i]; break;
    case T_DOUBLE: f[i] = (float)tp->double_data[i]; break;
    case T_FLOAT16: f[i] = csm_tfjs_half_to_float((uint16_t)tp->int32_data[i]); break;
    case T_INT64: {
      csm_status st = narrow(c, what, tp->int64_data[i], i, &d[i]);
      if (st) return st;
      break;
    }
    case T_BOOL: d[i] = tp->int32_data[i] != 0; break;
    default: d[i] = tp->int32_data[i]; break;
    }
  }
  return CSM_OK;
}

/* ---- External data -------------------------------------------------------- */

/* A decimal external_data number (offset, length). */
static int parse_u64(const char *s, uint64_t *out) {
  char *end;
  if (!s || !*s || *s == '-' || *s == '+') return -1;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end) return -1;
  *out = v;
  return 0;
}

/* location must name a file in the model's folder (csm_model_folder_file). */
static csm_status external_path(csm_onnx_ctx *c, const char *what, const char *loc, char **out) {
  if (!*loc) return csm_onnx_fail(c, CSM_EINPUT, "%s: external data has an empty location", what);
  csm_status st = csm_model_folder_file(c->dir, loc, out);
  if (st)
    return csm_onnx_fail(c, st, "%s: external data %s %s", what,
                         st == CSM_EIO ? "file" : "location", csm_last_error());
  return CSM_OK;
}

static csm_status read_external(csm_onnx_ctx *c, const char *what, const Onnx__TensorProto *tp,
                                size_t need, unsigned char **buf) {
  const char *loc = NULL, *off_s = NULL, *len_s = NULL;
  uint64_t off = 0, len = need;
  char *file = NULL;
  csm_status st;
  *buf = NULL;
  for (size_t i = 0; i < tp->n_external_data; i++) {
    const Onnx__StringStringEntryProto *e = tp->external_data[i];
    if (!e || !e->key) continue;
    if (strcmp(e->key, "location") == 0) loc = e->value ? e->value : "";
    if (strcmp(e->key, "offset") == 0) off_s = e->value;
    if (strcmp(e->key, "length") == 0) len_s = e->value;
  }
  if (!loc) return csm_onnx_fail(c, CSM_EINPUT, "%s: external data has no location", what);
  if (off_s && parse_u64(off_s, &off))
    return csm_onnx_fail(c, CSM_EINPUT, "%s: external data offset '%s' is not a number", what,
                         off_s);
  if (len_s && parse_u64(len_s, &len))
    return csm_onnx_fail(c, CSM_EINPUT, "%s: external data length '%s' is not a number", what,
                         len_s);
  if (len != need)
    return csm_onnx_fail(c, CSM_EINPUT,
                         "%s: external data length is %llu bytes but its shape needs %zu", what,
                         (unsigned long long)len, need);
  if ((st = external_path(c, what, loc, &file))) return st;
  FILE *fp;
  uint64_t fsize = 0;
  st = csm_file_open_read(file, &fp, &fsize);
  if (st) {
    /* The message names the file; say which tensor wanted it. */
    st = csm_onnx_fail(c, st, "%s: external data '%s': %s", what, loc, csm_last_error());
  } else if (off > fsize || need > fsize - off) {
    st = csm_onnx_fail(c, CSM_EINPUT,
                       "%s: external data '%s' has %llu bytes, but offset %llu + length %zu "
                       "reach past its end (truncated?)",
                       what, loc, (unsigned long long)fsize, (unsigned long long)off, need);
  } else if (off > (uint64_t)LLONG_MAX || fseeko(fp, (off_t)off, SEEK_SET) != 0) {
    st = csm_onnx_fail(c, CSM_EIO, "%s: cannot seek in external data '%s'", what, loc);
  } else if (!(*buf = csm_malloc(need ? need : 1))) {
    st = CSM_ENOMEM;
  } else if (need && fread(*buf, 1, need, fp) != need) {
    st = csm_onnx_fail(c, CSM_EIO, "%s: cannot read external data '%s'", what, loc);
  }
  if (fp) fclose(fp);
  free(file);
  if (st) {
    free(*buf);
    *buf = NULL;
  }
  return st;
}

/* ---- The tensor ------------------------------------------------------------ */

csm_status csm_onnx_tensor_read(csm_onnx_ctx *c, const Onnx__TensorProto *tp, const char *what,
                                csm_tensor *out) {
  char sb[128];
  csm_status st;
  memset(out, 0, sizeof *out);
  int t = tp->has_data_type ? tp->data_type : 0;
  size_t esize = elem_bytes(t);
  if (!esize)
    return csm_onnx_fail(c, CSM_EUNSUPPORTED, "%s has unsupported data type %s (%d)", what,
                         dtype_name(t), t);
  if (tp->n_dims > CSM_MAX_RANK)
    return csm_onnx_fail(c, CSM_EUNSUPPORTED, "%s has rank %zu, at most %d supported", what,
                         tp->n_dims, CSM_MAX_RANK);
  csm_shape shape = {.rank = (int)tp->n_dims};
  for (size_t i = 0; i < tp->n_dims; i++) {
    if (tp->dims[i] < 0)
      return csm_onnx_fail(c, CSM_EINPUT, "%s has a negative dimension (%lld)", what,
                           (long long)tp->dims[i]);
    shape.d[i] = tp->dims[i];
  }
  size_t n, bytes;
  if (csm_shape_numel(&shape, &n) || !csm_size_mul(n, esize, &bytes) || !csm_size_mul(n, 4, &bytes))
    return csm_onnx_fail(c, CSM_EINPUT, "%s: shape %s is too large", what,
                         csm_shape_str(&shape, sb, sizeof sb));
  bytes = n * esize;
  /* Decoded, every type takes 4 bytes an element (an int8 file holds a
   * quarter of that): all of a model's tensors count toward the limit. */
  char limit_what[512];
  snprintf(limit_what, sizeof limit_what, "%s: weights (up to %s)", c->path, what);
  if (!csm_size_add(c->weight_bytes, n * 4, &c->weight_bytes)) c->weight_bytes = SIZE_MAX;
  if ((st = csm_memory_check(c->weight_bytes, limit_what))) return st;
  int is_float = t == T_FLOAT || t == T_FLOAT16 || t == T_DOUBLE;
  int external =
      tp->has_data_location && tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
  unsigned char *ext = NULL;
  if (external) {
    if ((st = read_external(c, what, tp, bytes, &ext))) return st;
  } else if (tp->has_raw_data) {
    if (tp->raw_data.len != bytes)
      return csm_onnx_fail(c, CSM_EINPUT, "%s: raw_data has %zu bytes but shape %s of %s needs %zu",
                           what, tp->raw_data.len, csm_shape_str(&shape, sb, sizeof sb),
                           dtype_name(t), bytes);
  } else if (typed_count(tp, t) != n) {
    return csm_onnx_fail(c, CSM_EINPUT, "%s has %zu values but shape %s needs %zu%s", what,
                         typed_count(tp, t), csm_shape_str(&shape, sb, sizeof sb), n,
                         typed_count(tp, t) == 0 ? " (no data)" : "");
  }
  st = csm_tensor_alloc(out, is_float ? CSM_F32 : CSM_I32, &shape);
  if (st) {
    free(ext);
    return st;
  }
  if (ext)
    st = decode_raw(c, what, t, ext, n, out);
  else if (tp->has_raw_data)
    st = decode_raw(c, what, t, tp->raw_data.data, n, out);
  else
    st = decode_typed(c, what, tp, t, n, out);
  free(ext);
  if (!st && is_float && csm_weight_check_finite(tp->name && *tp->name ? tp->name : what, out))
    st = csm_onnx_fail(c, CSM_EINPUT, "%s", csm_last_error());
  if (st) csm_tensor_free(out);
  return st;
}
