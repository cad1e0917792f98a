/* Node names: a hash index, TensorFlow tensor names, and JavaScript's
 * property order (which decides TF.js's output order). */
#include "tfjs.h"

#include <stdlib.h>
#include <string.h>

static uint64_t hash_bytes(const char *s, size_t n) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (size_t i = 0; i < n; i++) {
    h ^= (unsigned char)s[i];
    h *= 1099511628211ull;
  }
  return h;
}

csm_status csm_tfjs_names_init(csm_tfjs_names *t, const csm_graph *g, size_t expected) {
  size_t cap = 64;
  memset(t, 0, sizeof *t);
  /* Load factor <= 1/2 keeps probes short; expected is bounded by the JSON
   * size, so the loop cannot run away. */
  while (cap < expected * 2) {
    if (cap > SIZE_MAX / 4) return csm_fail(CSM_EINPUT, "too many nodes (%zu)", expected);
    cap *= 2;
  }
  t->slot = csm_calloc(cap, sizeof *t->slot);
  if (!t->slot) return CSM_ENOMEM;
  t->g = g;
  t->mask = cap - 1;
  return CSM_OK;
}

void csm_tfjs_names_free(csm_tfjs_names *t) {
  free(t->slot);
  memset(t, 0, sizeof *t);
}

static int names_probe(const csm_tfjs_names *t, const char *name, size_t len, size_t *pos) {
  size_t i = (size_t)hash_bytes(name, len) & t->mask;
  for (;;) {
    int s = t->slot[i];
    if (s == 0) {
      *pos = i;
      return -1;
    }
    const char *other = t->g->nodes[s - 1].name;
    if (strncmp(other, name, len) == 0 && other[len] == '\0') {
      *pos = i;
      return s - 1;
    }
    i = (i + 1) & t->mask;
  }
}

int csm_tfjs_names_add(csm_tfjs_names *t, int index) {
  size_t pos;
  const char *name = t->g->nodes[index].name;
  int found = names_probe(t, name, strlen(name), &pos);
  if (found >= 0) return found;
  t->slot[pos] = index + 1;
  return -1;
}

int csm_tfjs_names_find(const csm_tfjs_names *t, const char *name, size_t len) {
  size_t pos;
  if (!t->slot) return -1;
  return names_probe(t, name, len, &pos);
}

int csm_tfjs_split_name(const char *s, size_t *len, long *index) {
  const char *colon = strchr(s, ':');
  if (!colon) {
    *len = strlen(s);
    *index = 0;
    return 0;
  }
  /* TensorFlow node names cannot contain ':', so whatever follows the first
   * one must be a plain output index. */
  const char *p = colon + 1;
  long k = 0;
  if (!*p) return -1;
  for (; *p; p++) {
    if (*p < '0' || *p > '9' || k > 100000000L) return -1;
    k = k * 10 + (*p - '0');
  }
  *len = (size_t)(colon - s);
  *index = k;
  return 0;
}

/* ECMAScript "array index": a canonical decimal integer below 2^32 - 1.
 * Object.keys lists those first, in numeric order. */
static int array_index(const char *s, uint64_t *value) {
  uint64_t v = 0;
  size_t n = strlen(s);
  if (n == 0 || n > 10 || (n > 1 && s[0] == '0')) return 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return 0;
    v = v * 10 + (uint64_t)(s[i] - '0');
  }
  if (v >= 4294967295ull) return 0;
  *value = v;
  return 1;
}

int csm_tfjs_js_order(const char *const *keys, int n, int dedupe, int *order) {
  int count = 0;
  /* Distinct keys in first-creation order, each holding its last index. */
  for (int i = 0; i < n; i++) {
    int seen = -1;
    if (dedupe)
      for (int k = 0; k < count && seen < 0; k++)
        if (strcmp(keys[order[k]], keys[i]) == 0) seen = k;
    if (seen >= 0)
      order[seen] = i;
    else
      order[count++] = i;
  }
  /* Stable insertion sort moving array indices to the front; graphs rarely
   * have such names, so this is almost always a single pass. */
  for (int i = 1; i < count; i++) {
    uint64_t vi;
    if (!array_index(keys[order[i]], &vi)) continue;
    int cur = order[i], j = i;
    while (j > 0) {
      uint64_t vj;
      if (array_index(keys[order[j - 1]], &vj) && vj <= vi) break;
      order[j] = order[j - 1];
      j--;
    }
    order[j] = cur;
  }
  return count;
}
