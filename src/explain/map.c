/* csm_map: a w x h float map with a per-pixel count (include/csm/explain.h). */
#include <stdlib.h>
#include <string.h>

#include "csm/explain.h"

csm_status csm_map_alloc(csm_map *m, int w, int h) {
  if (!m) return csm_fail(CSM_EUSAGE, "csm_map_alloc: null map");
  memset(m, 0, sizeof *m);
  if (w <= 0 || h <= 0) return csm_fail(CSM_EUSAGE, "csm_map_alloc: bad size %d x %d", w, h);
  size_t n;
  if (!csm_size_mul((size_t)w, (size_t)h, &n))
    return csm_fail(CSM_EUSAGE, "csm_map_alloc: %d x %d is too large", w, h);
  m->value = csm_calloc(n, sizeof *m->value);
  m->count = m->value ? csm_calloc(n, sizeof *m->count) : NULL;
  if (!m->count) {
    csm_map_free(m);
    return CSM_ENOMEM;
  }
  m->w = w;
  m->h = h;
  return CSM_OK;
}

void csm_map_free(csm_map *m) {
  if (!m) return;
  free(m->value);
  free(m->count);
  memset(m, 0, sizeof *m);
}
