/* csm core: status codes, error messages, checked size arithmetic, threads. */
#ifndef CSM_CORE_H
#define CSM_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Every fallible function returns a csm_status; 0 is success. The CLI maps
 * them to exit codes: USAGE -> 1, INPUT/IO/UNSUPPORTED -> 2, others -> 3. */
typedef enum csm_status {
  CSM_OK = 0,
  CSM_EUSAGE = 1,       /* a caller passed a bad argument */
  CSM_EINPUT = 2,       /* a file or tensor is malformed or inconsistent */
  CSM_EIO = 3,          /* a file could not be opened, read or written */
  CSM_EUNSUPPORTED = 4, /* valid input that csm cannot handle (e.g. unknown op) */
  CSM_ENOMEM = 5,       /* allocation failed */
  CSM_EINTERNAL = 6     /* a bug in csm */
} csm_status;

/* The message of the last failure on this thread ("" if none). */
const char *csm_last_error(void);

/* Sets this thread's message (printf format) and returns `status`, so that
 * a failing path can be written `return csm_fail(CSM_EINPUT, "...", ...)`. */
csm_status csm_fail(csm_status status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prepends context ("file: ") to the current message; returns `status`. */
csm_status csm_fail_context(csm_status status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void csm_clear_error(void);

/* Checked size arithmetic: false on overflow (then *out is unspecified). */
bool csm_size_mul(size_t a, size_t b, size_t *out);
bool csm_size_add(size_t a, size_t b, size_t *out);

/* Allocation that sets the error message on failure. */
void *csm_malloc(size_t n);
void *csm_calloc(size_t count, size_t size);
/* Checked count*size allocation: overflow is an error, not a wrap. */
void *csm_malloc_array(size_t count, size_t size);

/* Threads used by ops (OpenMP) and by OpenBLAS; n <= 0 means all cores. */
void csm_set_threads(int n);
int csm_threads(void);

/* Monotonic seconds, for progress and benchmarks. */
double csm_now(void);

#ifdef __cplusplus
}
#endif
#endif
