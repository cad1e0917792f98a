/* One limit for the memory that a file's contents can make csm allocate:
 * a small hostile file can declare gigabytes (a 144 KB JPEG of 9000 x 9000
 * pixels, a 200-byte ONNX ConstantOfShape of 30000 x 30000), and the answer
 * must be a clear refusal before the allocation, not the OOM killer. */
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "csm/core.h"

static _Atomic size_t memory_limit = 0; /* 0: not set yet */

/* Half the physical memory: room for the process's own needs beside one
 * big allocation, and far below what would swap the machine to a halt. */
static size_t default_limit(void) {
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page <= 0) return (size_t)4 << 30;
  return (size_t)pages / 2 * (size_t)page;
}

size_t csm_memory_limit(void) {
  size_t lim = atomic_load(&memory_limit);
  if (lim) return lim;
  const char *env = getenv("CSM_MAX_MEMORY");
  if (!env || !*env || csm_parse_bytes(env, &lim) || !lim) lim = default_limit();
  atomic_store(&memory_limit, lim);
  return lim;
}

void csm_set_memory_limit(size_t bytes) { atomic_store(&memory_limit, bytes); }

csm_status csm_memory_check(size_t bytes, const char *what) {
  size_t lim = csm_memory_limit();
  if (bytes <= lim) return CSM_OK;
  return csm_fail(CSM_EINPUT, "%s needs %zu bytes, limit %zu (--max-memory)", what, bytes, lim);
}

csm_status csm_memory_check_product(size_t a, size_t b, const char *what) {
  size_t n;
  if (!csm_size_mul(a, b, &n))
    return csm_fail(CSM_EINPUT, "%s needs more than %zu bytes, limit %zu (--max-memory)", what,
                    SIZE_MAX, csm_memory_limit());
  return csm_memory_check(n, what);
}

int csm_parse_bytes(const char *s, size_t *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (end == s || errno || !(v >= 1)) return -1;
  double unit = 1;
  switch (*end) {
  case 'k':
  case 'K': unit = 1024.0, end++; break;
  case 'm':
  case 'M': unit = 1024.0 * 1024, end++; break;
  case 'g':
  case 'G': unit = 1024.0 * 1024 * 1024, end++; break;
  case 't':
  case 'T': unit = 1024.0 * 1024 * 1024 * 1024, end++; break;
  default: break;
  }
  if (*end == 'B' || *end == 'b') end++;
  if (*end) return -1;
  v *= unit;
  if (!(v < 18e18)) return -1;
  *out = (size_t)v;
  return 0;
}
