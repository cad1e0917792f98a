/* Shared by the libFuzzer harnesses (fuzz/fuzz_*.c): the per-process scratch
 * folder the loaders read their files from, splitting one input into
 * several files, and the model walk that the TF.js and ONNX harnesses share.
 * Everything goes through the public API (include/csm/). */
#ifndef CSM_FUZZ_COMMON_H
#define CSM_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

/* The separator between the files of one input (model.json | shard | ...);
 * it is in every multi-file harness's dictionary. */
#define FZ_SEP "\n--8<--\n"

/* One file of a split input (pointing into the input, not copied). */
typedef struct fz_part {
  const uint8_t *data;
  size_t size;
} fz_part;

/* Splits data at each FZ_SEP into at most max parts (the last one takes the
 * rest, separators included). Returns the number of parts (>= 1). */
size_t fz_split(const uint8_t *data, size_t size, fz_part *parts, size_t max);

/* The process's scratch folder: created by fz_init in $CSM_FUZZ_TMPDIR,
 * else /dev/shm (tmpfs: no disk writes), else $TMPDIR or /tmp; removed at
 * exit. */
const char *fz_dir(void);
/* fz_dir()/name into buf. */
void fz_path(char *buf, size_t len, const char *name);
/* Writes size bytes to fz_dir()/name; aborts on failure (a harness bug,
 * not a finding). */
void fz_write(const char *name, const void *data, size_t size);
/* Empties the scratch folder: every harness calls it at the end of each
 * input, so no input sees another's files. */
void fz_clean(void);

/* The common set-up (LLVMFuzzerInitialize, fuzz_common.c): one thread, the
 * memory limit (512 MiB unless CSM_MAX_MEMORY is set, so that a file that
 * declares gigabytes is refused, not an out-of-memory crash of the fuzzer),
 * the scratch folder. */
void fz_init(void);

/* Loads the model at path (csm_model_load) and, when that succeeds, walks
 * what the public API shows of it: inputs, outputs, nodes, planning for a
 * batch of 1 and, for small models (FLOPs and sizes bounded), one run on a
 * constant input. Frees everything. */
void fz_model(const char *path);

/* With CSM_FUZZ_VERBOSE set, prints "what: ok" or "what: <status>: <the
 * error message>" on stderr (to check what seeds reach); else nothing. */
void fz_note(const char *what, int status);

/* Reads every byte of p (so that ASan sees a buffer that is too small)
 * without the compiler dropping the loop. */
void fz_touch(const void *p, size_t n);

#endif
