/* Tensors and shapes: every dimension product is checked for overflow. */
#include "graph.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

csm_shape csm_shape_make(int rank, const int64_t *dims) {
  csm_shape s;
  memset(&s, 0, sizeof s);
  s.rank = rank;
  for (int i = 0; i < rank && i < CSM_MAX_RANK; i++)
    s.d[i] = dims[i];
  return s;
}

csm_status csm_shape_numel(const csm_shape *s, size_t *numel) {
  size_t n = 1;
  if (s->rank < 0 || s->rank > CSM_MAX_RANK)
    return csm_fail(CSM_EINPUT, "rank %d out of range", s->rank);
  for (int i = 0; i < s->rank; i++) {
    if (s->d[i] < 0) return csm_fail(CSM_EINPUT, "negative dimension %lld", (long long)s->d[i]);
    if ((uint64_t)s->d[i] > SIZE_MAX || !csm_size_mul(n, (size_t)s->d[i], &n))
      return csm_fail(CSM_EINPUT, "shape too large (element count overflows)");
  }
  /* Keep byte counts (x4) and 32-bit index math in the executor safe. */
  if (n > ((size_t)1 << 40)) return csm_fail(CSM_EINPUT, "shape too large (%zu elements)", n);
  *numel = n;
  return CSM_OK;
}

bool csm_shape_equal(const csm_shape *a, const csm_shape *b) {
  if (a->rank != b->rank) return false;
  for (int i = 0; i < a->rank; i++)
    if (a->d[i] != b->d[i]) return false;
  return true;
}

const char *csm_shape_str(const csm_shape *s, char *buf, size_t len) {
  size_t off = 0;
  if (len == 0) return buf;
  buf[0] = '\0';
  off += (size_t)snprintf(buf + off, len - off, "[");
  for (int i = 0; i < s->rank && off < len; i++)
    off += (size_t)snprintf(buf + off, len - off, i ? ",%lld" : "%lld", (long long)s->d[i]);
  if (off < len) snprintf(buf + off, len - off, "]");
  return buf;
}

csm_status csm_tensor_alloc(csm_tensor *t, csm_dtype dtype, const csm_shape *shape_in) {
  size_t n;
  /* Copied first: callers may pass &t->shape, which the memset clears. */
  const csm_shape copy = *shape_in;
  const csm_shape *shape = &copy;
  csm_status st = csm_shape_numel(shape, &n);
  memset(t, 0, sizeof *t);
  if (st) return st;
  t->data = csm_calloc(n, 4); /* both dtypes are 4 bytes */
  if (!t->data) return CSM_ENOMEM;
  t->dtype = dtype;
  t->shape = *shape;
  t->owned = 1;
  return CSM_OK;
}

void csm_tensor_free(csm_tensor *t) {
  if (!t) return;
  if (t->owned) free(t->data);
  memset(t, 0, sizeof *t);
}

size_t csm_tensor_numel(const csm_tensor *t) {
  size_t n = 1;
  for (int i = 0; i < t->shape.rank; i++)
    n *= (size_t)t->shape.d[i];
  return n;
}

csm_tensor csm_tensor_view(const csm_tensor *t, const csm_shape *shape) {
  csm_tensor v = *t;
  v.shape = *shape;
  v.owned = 0;
  return v;
}

/* Blocks of a fixed size are OR-reduced without a branch (vectorized), and
 * only a block with a hit is searched: the check costs little next to
 * reading the weights. */
bool csm_tensor_find_nonfinite(const csm_tensor *t, size_t *index) {
  if (t->dtype != CSM_F32 || !t->data) return false;
  const uint32_t *u = t->data;
  size_t n = csm_tensor_numel(t);
  enum { BLOCK = 256 };
  for (size_t b = 0; b < n; b += BLOCK) {
    size_t e = n - b < BLOCK ? n : b + BLOCK;
    uint32_t hit = 0;
    for (size_t i = b; i < e; i++)
      hit |= (u[i] & 0x7f800000u) == 0x7f800000u;
    if (!hit) continue;
    for (size_t i = b; i < e; i++)
      if ((u[i] & 0x7f800000u) == 0x7f800000u) {
        *index = i;
        return true;
      }
  }
  return false;
}

csm_status csm_weight_check_finite(const char *name, const csm_tensor *t) {
  size_t n = csm_tensor_numel(t), k;
  if (!csm_tensor_find_nonfinite(t, &k)) return CSM_OK;
  float v = ((const float *)t->data)[k];
  /* A single infinity is a legitimate bound (Clip's max, a mask value). */
  if (n == 1 && !isnan(v)) return CSM_OK;
  return csm_fail(CSM_EINPUT, "weight '%s' has a non-finite value at index %zu (%s)", name, k,
                  isnan(v) ? "NaN"
                  : v > 0  ? "+Inf"
                           : "-Inf");
}
