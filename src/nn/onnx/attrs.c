/* Attributes of the node being mapped, with type and range checks.
 *
 * Exporters always set AttributeProto.type (ONNX IR >= 3 requires it); an
 * attribute without one is accepted when the field that the getter reads
 * is present, as onnxruntime does for old files. */
#include <stdio.h>
#include <string.h>

#include "onnx_internal.h"

const Onnx__AttributeProto *csm_onnx_attr(const csm_onnx_ctx *c, const char *name) {
  const Onnx__NodeProto *n = c->node;
  if (!n) return NULL;
  /* The last one wins if an attribute repeats, as in protobuf merging. */
  for (size_t i = n->n_attribute; i-- > 0;) {
    const Onnx__AttributeProto *a = n->attribute[i];
    if (a && a->name && strcmp(a->name, name) == 0) return a;
  }
  return NULL;
}

static const char *type_name(const Onnx__AttributeProto *a) {
  if (!a->has_type) return "untyped";
  switch (a->type) {
  case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT: return "FLOAT";
  case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT: return "INT";
  case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING: return "STRING";
  case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR: return "TENSOR";
  case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH: return "GRAPH";
  case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS: return "FLOATS";
  case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS: return "INTS";
  case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS: return "STRINGS";
  default: return "another type";
  }
}

/* 1 if a has type `want`, or no type but the field (`present`) set. */
static int is_type(const Onnx__AttributeProto *a, Onnx__AttributeProto__AttributeType want,
                   int present) {
  if (a->has_type && a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED)
    return a->type == want;
  return present;
}

static csm_status wrong_type(csm_onnx_ctx *c, const Onnx__AttributeProto *a, const char *want) {
  return csm_onnx_fail(c, CSM_EINPUT, "attribute '%s' is %s, expected %s", a->name, type_name(a),
                       want);
}

csm_status csm_onnx_attr_int(csm_onnx_ctx *c, const char *name, int64_t def, int64_t lo, int64_t hi,
                             int64_t *out) {
  const Onnx__AttributeProto *a = csm_onnx_attr(c, name);
  *out = def;
  if (!a) return CSM_OK;
  if (!is_type(a, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT, a->has_i))
    return wrong_type(c, a, "INT");
  if (a->i < lo || a->i > hi)
    return csm_onnx_fail(c, CSM_EUNSUPPORTED, "attribute '%s' is %lld, supported: %lld..%lld", name,
                         (long long)a->i, (long long)lo, (long long)hi);
  *out = a->i;
  return CSM_OK;
}

csm_status csm_onnx_attr_float(csm_onnx_ctx *c, const char *name, float def, float *out) {
  const Onnx__AttributeProto *a = csm_onnx_attr(c, name);
  *out = def;
  if (!a) return CSM_OK;
  if (!is_type(a, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT, a->has_f))
    return wrong_type(c, a, "FLOAT");
  *out = a->f;
  return CSM_OK;
}

csm_status csm_onnx_attr_ints(csm_onnx_ctx *c, const char *name, int64_t *v, int max, int *count) {
  const Onnx__AttributeProto *a = csm_onnx_attr(c, name);
  *count = -1;
  if (!a) return CSM_OK;
  if (!is_type(a, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS, a->n_ints > 0))
    return wrong_type(c, a, "INTS");
  if (a->n_ints > (size_t)(max < 0 ? 0 : max))
    return csm_onnx_fail(c, CSM_EUNSUPPORTED,
                         "attribute '%s' has %zu entries, at most %d supported", name, a->n_ints,
                         max);
  if (a->n_ints) memcpy(v, a->ints, a->n_ints * sizeof *v);
  *count = (int)a->n_ints;
  return CSM_OK;
}

csm_status csm_onnx_attr_string(csm_onnx_ctx *c, const char *name, const char *def, char *buf,
                                size_t len) {
  const Onnx__AttributeProto *a = csm_onnx_attr(c, name);
  const char *src = def;
  size_t n;
  if (a) {
    if (!is_type(a, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING, a->has_s))
      return wrong_type(c, a, "STRING");
    n = a->s.len;
    if (n && memchr(a->s.data, '\0', n))
      return csm_onnx_fail(c, CSM_EINPUT, "attribute '%s' contains a NUL byte", name);
    if (n >= len)
      return csm_onnx_fail(c, CSM_EUNSUPPORTED, "attribute '%s' is too long (%zu bytes)", name, n);
    if (n) memcpy(buf, a->s.data, n);
    buf[n] = '\0';
    return CSM_OK;
  }
  if (!src) return csm_onnx_fail(c, CSM_EINPUT, "required attribute '%s' is missing", name);
  if (strlen(src) >= len)
    return csm_onnx_fail(c, CSM_EINTERNAL, "default of attribute '%s' does not fit", name);
  snprintf(buf, len, "%s", src);
  return CSM_OK;
}
