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

typedef struct js_key {
  const char *key;
  int pos;
} js_key;

static int by_key_then_pos(const void *pa, const void *pb) {
  const js_key *a = pa, *b = pb;
  int c = strcmp(a->key, b->key);
  return c ? c : (a->pos > b->pos) - (a->pos < b->pos);
}

typedef struct js_index {
  uint64_t value;
  int slot; /* position in creation order */
  int key;  /* index into keys[] */
} js_index;

static int by_value_then_slot(const void *pa, const void *pb) {
  const js_index *a = pa, *b = pb;
  if (a->value != b->value) return a->value < b->value ? -1 : 1;
  return (a->slot > b->slot) - (a->slot < b->slot);
}

/* Sorting rather than comparing each key with the keys before it: a hostile
 * model.json of 100,000 nodes named "100000", "99999", ... took minutes. */
int csm_tfjs_js_order(const char *const *keys, int n, int dedupe, int *order) {
  int count = 0, n_idx = 0;
  js_key *sorted = dedupe ? csm_malloc_array((size_t)n + 1, sizeof *sorted) : NULL;
  int *winner = dedupe ? csm_malloc_array((size_t)n + 1, sizeof *winner) : NULL;
  js_index *idx = csm_malloc_array((size_t)n + 1, sizeof *idx);
  int *rest = csm_malloc_array((size_t)n + 1, sizeof *rest);
  if ((dedupe && (!sorted || !winner)) || !idx || !rest) {
    count = -1;
    goto out;
  }
  /* Distinct keys in first-creation order, each holding its last index. */
  if (dedupe) {
    for (int i = 0; i < n; i++) {
      sorted[i] = (js_key){keys[i], i};
      winner[i] = -1;
    }
    qsort(sorted, (size_t)n, sizeof *sorted, by_key_then_pos);
    for (int a = 0, b; a < n; a = b) {
      for (b = a + 1; b < n && strcmp(sorted[b].key, sorted[a].key) == 0; b++)
        ;
      winner[sorted[a].pos] = sorted[b - 1].pos;
    }
    for (int i = 0; i < n; i++)
      if (winner[i] >= 0) order[count++] = winner[i];
  } else {
    for (int i = 0; i < n; i++)
      order[count++] = i;
  }
  /* Array indices to the front in numeric order (stable), the other keys
   * after them in creation order. */
  int n_rest = 0;
  for (int i = 0; i < count; i++) {
    uint64_t v;
    if (array_index(keys[order[i]], &v))
      idx[n_idx++] = (js_index){v, i, order[i]};
    else
      rest[n_rest++] = order[i];
  }
  if (n_idx == 0) goto out;
  qsort(idx, (size_t)n_idx, sizeof *idx, by_value_then_slot);
  for (int i = 0; i < n_idx; i++)
    order[i] = idx[i].key;
  memcpy(order + n_idx, rest, (size_t)n_rest * sizeof *rest);
out:
  free(sorted);
  free(winner);
  free(idx);
  free(rest);
  return count;
}
