/* Thread-local error messages: the library never prints, it records. */
#include "csm/core.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { CSM_ERROR_MAX = 1024 };
static _Thread_local char csm_error_message[CSM_ERROR_MAX];

const char *csm_last_error(void) { return csm_error_message; }

void csm_clear_error(void) { csm_error_message[0] = '\0'; }

csm_status csm_fail(csm_status status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(csm_error_message, sizeof csm_error_message, fmt, ap);
  va_end(ap);
  /* Messages are one line: a newline inside would break the CLI's contract. */
  for (char *p = csm_error_message; *p; p++)
    if (*p == '\n' || *p == '\r') *p = ' ';
  return status;
}

csm_status csm_fail_context(csm_status status, const char *fmt, ...) {
  char prefix[CSM_ERROR_MAX];
  char old[CSM_ERROR_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(prefix, sizeof prefix, fmt, ap);
  va_end(ap);
  memcpy(old, csm_error_message, sizeof old);
  /* Truncation is fine: the message stays a valid, shorter line. */
  size_t plen = strnlen(prefix, sizeof csm_error_message - 1);
  memcpy(csm_error_message, prefix, plen);
  size_t olen = strnlen(old, sizeof csm_error_message - 1 - plen);
  memcpy(csm_error_message + plen, old, olen);
  csm_error_message[plen + olen] = '\0';
  return status;
}

bool csm_size_mul(size_t a, size_t b, size_t *out) { return !__builtin_mul_overflow(a, b, out); }

bool csm_size_add(size_t a, size_t b, size_t *out) { return !__builtin_add_overflow(a, b, out); }

void *csm_malloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) csm_fail(CSM_ENOMEM, "out of memory allocating %zu bytes", n);
  return p;
}

void *csm_calloc(size_t count, size_t size) {
  void *p = calloc(count ? count : 1, size ? size : 1);
  if (!p) csm_fail(CSM_ENOMEM, "out of memory allocating %zu x %zu bytes", count, size);
  return p;
}

void *csm_malloc_array(size_t count, size_t size) {
  size_t n;
  if (!csm_size_mul(count, size, &n)) {
    csm_fail(CSM_EINPUT, "size overflow: %zu x %zu bytes", count, size);
    return NULL;
  }
  return csm_malloc(n);
}
