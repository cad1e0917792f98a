/* Shared harness code (fuzz_common.h). */
#define _XOPEN_SOURCE 700 /* nftw */
#include "fuzz_common.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csm/core.h"
#include "csm/nn.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);

static char g_dir[512];

size_t fz_split(const uint8_t *data, size_t size, fz_part *parts, size_t max) {
  const size_t sep = sizeof FZ_SEP - 1;
  size_t n = 0, start = 0;
  for (size_t i = 0; n + 1 < max && size >= sep && i + sep <= size;) {
    if (memcmp(data + i, FZ_SEP, sep) == 0) {
      parts[n].data = data + start;
      parts[n].size = i - start;
      n++;
      i += sep;
      start = i;
    } else {
      i++;
    }
  }
  parts[n].data = data + start;
  parts[n].size = size - start;
  return n + 1;
}

const char *fz_dir(void) { return g_dir; }

void fz_path(char *buf, size_t len, const char *name) {
  if ((size_t)snprintf(buf, len, "%s/%s", g_dir, name) >= len) {
    fprintf(stderr, "fuzz: path too long: %s/%s\n", g_dir, name);
    abort();
  }
}

void fz_write(const char *name, const void *data, size_t size) {
  char path[1024];
  fz_path(path, sizeof path, name);
  FILE *fp = fopen(path, "wb");
  if (!fp || (size && fwrite(data, 1, size, fp) != size) || fclose(fp) != 0) {
    fprintf(stderr, "fuzz: cannot write %s\n", path);
    abort();
  }
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb, (void)flag;
  if (ftw->level > 0) remove(path);
  return 0;
}

void fz_clean(void) {
  if (g_dir[0]) nftw(g_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void remove_dir(void) {
  fz_clean();
  if (g_dir[0]) rmdir(g_dir);
}

static int writable_dir(const char *d) {
  struct stat sb;
  return d && *d && stat(d, &sb) == 0 && S_ISDIR(sb.st_mode) && access(d, W_OK | X_OK) == 0;
}

void fz_init(void) {
  if (g_dir[0]) return;
  csm_set_threads(1);
  const char *mem = getenv("CSM_MAX_MEMORY");
  if (!mem || !*mem) csm_set_memory_limit((size_t)512 << 20);
  const char *cands[] = {getenv("CSM_FUZZ_TMPDIR"), "/dev/shm", getenv("TMPDIR"), "/tmp"};
  for (size_t i = 0; i < sizeof cands / sizeof *cands && !g_dir[0]; i++) {
    if (!writable_dir(cands[i])) continue;
    snprintf(g_dir, sizeof g_dir, "%s/csm-fuzz-XXXXXX", cands[i]);
    if (!mkdtemp(g_dir)) g_dir[0] = '\0';
  }
  if (!g_dir[0]) {
    fprintf(stderr, "fuzz: cannot create a scratch folder\n");
    abort();
  }
  atexit(remove_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  fz_init();
  return 0;
}

void fz_note(const char *what, int status) {
  static int verbose = -1;
  if (verbose < 0) verbose = getenv("CSM_FUZZ_VERBOSE") != NULL;
  if (!verbose) return;
  if (status == CSM_OK)
    fprintf(stderr, "%s: ok\n", what);
  else
    fprintf(stderr, "%s: status %d: %s\n", what, status, csm_last_error());
}

void fz_touch(const void *p, size_t n) {
  const unsigned char *b = p;
  volatile unsigned char sink = 0;
  unsigned char acc = 0;
  for (size_t i = 0; i < n; i++)
    acc ^= b[i];
  sink = acc;
  (void)sink;
}

/* A run is only tried when it is cheap: the fuzzer should spend its time
 * on parsing, not on convolutions. */
#define FZ_MAX_FLOPS 2e7
#define FZ_MAX_INPUT_ELEMENTS ((size_t)1 << 18)

/* One run of m on constant inputs (batch 1); values: csm_model_infer_values'. */
static void run_once(csm_model *m, const csm_node_value *values) {
  int ni = csm_model_num_inputs(m), no = csm_model_num_outputs(m);
  if (ni < 1 || ni > 16 || no < 1 || no > 64) return;
  csm_tensor in[16], out[64];
  memset(in, 0, sizeof in);
  memset(out, 0, sizeof out);
  int ok = 1;
  for (int i = 0; i < ni && ok; i++) {
    int node = csm_model_input_node(m, i);
    if (node < 0 || node >= csm_model_node_count(m)) {
      ok = 0;
      break;
    }
    csm_shape s = values[node].shape;
    for (int d = 0; d < s.rank; d++)
      if (s.d[d] < 0) s.d[d] = 1;
    size_t numel;
    if (csm_shape_numel(&s, &numel) || numel > FZ_MAX_INPUT_ELEMENTS ||
        csm_tensor_alloc(&in[i], values[node].dtype, &s)) {
      ok = 0;
      break;
    }
    for (size_t k = 0; k < numel; k++) {
      if (in[i].dtype == CSM_F32)
        ((float *)in[i].data)[k] = (float)(k % 7) * 0.25f - 0.5f;
      else
        ((int32_t *)in[i].data)[k] = (int32_t)(k % 3);
    }
  }
  csm_status st = ok ? csm_model_run(m, in, out) : CSM_EUSAGE;
  fz_note("csm_model_run", st);
  if (st == CSM_OK) {
    for (int o = 0; o < no; o++) {
      fz_touch(out[o].data, csm_tensor_numel(&out[o]) * 4);
      csm_tensor_free(&out[o]);
    }
  }
  for (int i = 0; i < ni; i++)
    csm_tensor_free(&in[i]);
}

void fz_model(const char *path) {
  csm_model *m = NULL;
  csm_clear_error();
  csm_status st = csm_model_load(path, &m);
  fz_note("csm_model_load", st);
  if (st != CSM_OK) return;
  char buf[256];
  fz_touch(csm_model_path(m), strlen(csm_model_path(m)));
  int ni = csm_model_num_inputs(m), no = csm_model_num_outputs(m);
  for (int i = 0; i < ni; i++) {
    const char *name = csm_model_input_name(m, i);
    if (name) fz_touch(name, strlen(name));
    csm_shape s = csm_model_input_shape(m, i);
    csm_shape_str(&s, buf, sizeof buf);
    (void)csm_model_input_channels_first(m, i);
  }
  for (int o = 0; o < no; o++) {
    const char *name = csm_model_output_name(m, o);
    if (name) fz_touch(name, strlen(name));
  }
  (void)csm_model_params(m);
  (void)csm_model_fixed_batch_one(m);
  int nodes = csm_model_node_count(m);
  for (int k = 0; k < nodes; k++) {
    const char *name = csm_model_node_name(m, k), *op = csm_model_node_op(m, k);
    if (name) fz_touch(name, strlen(name));
    if (op) fz_touch(op, strlen(op));
    (void)csm_model_node_flags(m, k);
    int ins[8];
    (void)csm_model_node_inputs(m, k, ins, 8);
  }
  (void)csm_model_layers(m, NULL, 0);
  st = csm_model_use_channels_last(m);
  fz_note("csm_model_use_channels_last", st);
  if (st != CSM_OK) goto done;
  for (int o = 0; o < no; o++) {
    csm_shape s;
    st = csm_model_output_shape(m, o, 1, &s);
    fz_note("csm_model_output_shape", st);
    if (st == CSM_OK) csm_shape_str(&s, buf, sizeof buf);
  }
  double flops = 0;
  nodes = csm_model_node_count(m); /* the channels-last rewrite may add nodes */
  st = nodes > 0 ? csm_model_flops(m, &flops) : CSM_EINPUT;
  fz_note("csm_model_flops", st);
  if (st == CSM_OK && flops <= FZ_MAX_FLOPS) {
    csm_node_value *values = calloc((size_t)nodes, sizeof *values);
    st = values ? csm_model_infer_values(m, 1, values) : CSM_ENOMEM;
    fz_note("csm_model_infer_values", st);
    if (st == CSM_OK) run_once(m, values);
    free(values);
  }
done:
  csm_model_free(m);
}
