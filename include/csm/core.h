/* csm core: status codes, error messages, checked size arithmetic, threads. */
#ifndef CSM_CORE_H
#define CSM_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

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
  CSM_EINTERNAL = 6,    /* a bug in csm */
  CSM_ESYSTEM = 7       /* the system failed: an output could not be written (disk full,
                           file too large, I/O error); not the input's fault */
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
/* The thread count: the calling thread's own (csm_set_thread_local_threads)
 * if set, else the process's. */
int csm_threads(void);
/* The calling thread's own count, for worker threads that each run models
 * (csm_cms_run's jobs): sets nothing that other threads read. */
void csm_set_thread_local_threads(int n);

/* ---- Memory limit (src/core/memory_limit.c) --------------------------------
 * A small hostile file can declare gigabytes (a 144 KB JPEG of 9000 x 9000
 * pixels, a 200-byte ONNX ConstantOfShape). Every allocation whose size comes
 * from a file's contents (decoded pixels, weights, folded constants, a
 * model's activations, .npy/.mat/checkpoint data) is checked against one
 * limit before it is made: by default half the physical memory, else the
 * environment's CSM_MAX_MEMORY (e.g. "2G"), else csm_set_memory_limit (the
 * CLI's --max-memory). Going over is CSM_EINPUT "<what> needs N bytes,
 * limit M (--max-memory)": the input's fault, not the machine's. */
size_t csm_memory_limit(void);
void csm_set_memory_limit(size_t bytes); /* 0: back to CSM_MAX_MEMORY or the default */
csm_status csm_memory_check(size_t bytes, const char *what);
/* The same for a * b bytes (an overflow is over the limit). */
csm_status csm_memory_check_product(size_t a, size_t b, const char *what);
/* "512M", "2G", "1.5g", "1000000" (K, M, G, T: powers of 1024; optional B)
 * into bytes; 0 on success, -1 when malformed or < 1. */
int csm_parse_bytes(const char *s, size_t *out);

/* Monotonic seconds, for progress and benchmarks. */
double csm_now(void);

/* ---- Files (src/core/file.c) ------------------------------------------------
 * Every file the library reads or writes goes through these. Inputs must be
 * regular files: a folder, FIFO or device is CSM_EIO "<path>: not a regular
 * file" at once (a FIFO never blocks the open). Outputs are atomic and
 * durable: a temporary file in the same folder is written, fsync'ed and
 * renamed over the target, then the folder is fsync'ed; on any failure
 * (ENOSPC, EFBIG, a missing or read-only folder) the temporary file is
 * removed, the target is untouched and the status names it: CSM_ESYSTEM
 * when the system failed (disk full, file too large, quota, I/O error),
 * CSM_EIO when the folder cannot be used (missing, read-only, no access).
 *
 *   csm_atomic_file *f;
 *   if ((st = csm_atomic_file_open(path, &f))) return st;
 *   fprintf(csm_atomic_file_stream(f), "...");
 *   return csm_atomic_file_commit(f);   // or csm_atomic_file_abort(f)
 */

/* Reads a whole regular file of at most max bytes into *data (malloc'ed,
 * with a terminating NUL not counted in *len). Open and read failures are
 * CSM_EIO, a file larger than max CSM_EINPUT; messages name the file. */
csm_status csm_read_file(const char *path, size_t max, char **data, size_t *len);
/* Opens a regular file for reading (binary); *size is its size when size is
 * not NULL. For loaders that read a file in parts. */
csm_status csm_file_open_read(const char *path, FILE **fp, uint64_t *size);
/* CSM_OK when path can be opened as a regular file, else the error that
 * csm_file_open_read would give; for files that a library opens itself. */
csm_status csm_check_regular_file(const char *path);

/* Writes len bytes to path atomically and durably (see above). */
csm_status csm_write_file_atomic(const char *path, const char *data, size_t len);

/* An output file being written: a stdio stream on the temporary file.
 * Exactly one of commit or abort ends it (both free it). Commit checks every
 * earlier write of the stream, so writers need not check each fprintf. */
typedef struct csm_atomic_file csm_atomic_file;
csm_status csm_atomic_file_open(const char *path, csm_atomic_file **out);
FILE *csm_atomic_file_stream(csm_atomic_file *f);
csm_status csm_atomic_file_commit(csm_atomic_file *f);
void csm_atomic_file_abort(csm_atomic_file *f);

/* Creates the folder and its missing parents (mkdir -p); an existing file
 * of that name is CSM_EIO naming it. */
csm_status csm_make_dirs(const char *dir);

/* ---- JSON writing (src/core/json_write.c) ---------------------------------- */
/* A JSON string literal of s (quotes and control characters escaped). */
void csm_json_string(FILE *fp, const char *s);
/* A number with 9 significant digits; NaN and infinities as null. */
void csm_json_float(FILE *fp, double v);

/* ---- Data folders (src/core/data_dirs.c) ------------------------------------
 * Where the library finds installed models (csm_models_dir: <dir>/<name>.json)
 * and its data (csm_data_dir: the canonical face in <dir>/canonical/). Each is,
 * first found first: the folder set with csm_set_data_dirs; else the
 * environment variable CSM_MODELS_DIR / CSM_DATA_DIR; else the models/ and
 * data/ folders of the source tree that the library was built from. */

/* The folders in use; the strings stay valid for the life of the process
 * (safe to call from any thread). */
const char *csm_models_dir(void);
const char *csm_data_dir(void);
/* Overrides both folders; NULL (or "") removes that override, so that the
 * environment and the built-in default apply again. Call it before starting
 * threads that load models; strings returned earlier remain valid. */
csm_status csm_set_data_dirs(const char *models, const char *data);

#ifdef __cplusplus
}
#endif
#endif
