/* Shared by the TF.js loader tests: TF.js's own float16 decoder as a
 * reference, and for hand-made models (test_tfjs_synthetic.c,
 * test_tfjs_errors.c) a temporary directory per test, files written into it,
 * the expected-failure check, and JSON snippet macros. */
#ifndef CSM_TESTS_NN_TFJS_FIXTURE_H
#define CSM_TESTS_NN_TFJS_FIXTURE_H

#include "csm_test.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nn/graph.h"
#include "nn/tfjs/tfjs.h"

/* tfjs-core io_utils' table-driven float16 decoder, as an independent
 * reference (fox-toolkit.org/ftp/fasthalffloatconversion.pdf). */
static inline uint32_t tfjs_half_bits(uint16_t h) {
  static uint32_t mant[2048], expo[64], off[64];
  if (!mant[1]) {
    for (uint32_t i = 1; i < 1024; i++) {
      uint32_t m = i << 13, e = 0;
      while (!(m & 0x00800000u))
        e -= 0x00800000u, m <<= 1;
      mant[i] = (m & ~0x00800000u) | (e + 0x38800000u);
    }
    for (uint32_t i = 1024; i < 2048; i++)
      mant[i] = 0x38000000u + ((i - 1024) << 13);
    for (uint32_t i = 1; i < 31; i++)
      expo[i] = i << 23;
    for (uint32_t i = 33; i < 63; i++)
      expo[i] = 0x80000000u + ((i - 32) << 23);
    expo[31] = 0x47800000u, expo[32] = 0x80000000u, expo[63] = 0xc7800000u;
    for (int i = 0; i < 64; i++)
      off[i] = (i == 0 || i == 32) ? 0 : 1024;
  }
  return mant[off[h >> 10] + (h & 0x3ff)] + expo[h >> 10];
}

typedef struct fixture {
  char dir[512];
  char model[600];
} fixture;

static inline int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  const char *base = csm_test_env("CSM_TEST_TMP", "/tmp");
  mkdir(base, 0777); /* may exist */
  snprintf(f->dir, sizeof f->dir, "%s/tfjs_loader_XXXXXX", base);
  if (!mkdtemp(f->dir)) {
    snprintf(f->dir, sizeof f->dir, "/tmp/tfjs_loader_XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
  }
  snprintf(f->model, sizeof f->model, "%s/model.json", f->dir);
  *state = f;
  return 0;
}

static inline int teardown(void **state) {
  fixture *f = *state;
  DIR *d = opendir(f->dir);
  struct dirent *e;
  char p[1024];
  while (d && (e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
      snprintf(p, sizeof p, "%s/%s", f->dir, e->d_name);
      remove(p);
    }
  if (d) closedir(d);
  rmdir(f->dir);
  free(f);
  return 0;
}

static inline void write_file(const fixture *f, const char *name, const void *data, size_t n) {
  char p[700];
  snprintf(p, sizeof p, "%s/%s", f->dir, name);
  FILE *fp = fopen(p, "wb");
  assert_non_null(fp);
  assert_int_equal(fwrite(data, 1, n, fp), n);
  fclose(fp);
}

/* JSON written with ' for " so that the models below stay readable. */
static inline void write_json(const fixture *f, const char *text) {
  char *s = strdup(text);
  for (char *p = s; *p; p++)
    if (*p == '\'') *p = '"';
  write_file(f, "model.json", s, strlen(s));
  free(s);
}

static inline void put_f32(unsigned char *p, float v) {
  uint32_t u;
  memcpy(&u, &v, 4);
  for (int i = 0; i < 4; i++)
    p[i] = (unsigned char)(u >> (8 * i));
}
static inline void put_u32(unsigned char *p, uint32_t u) {
  for (int i = 0; i < 4; i++)
    p[i] = (unsigned char)(u >> (8 * i));
}
static inline void put_u16(unsigned char *p, uint16_t u) {
  p[0] = (unsigned char)u;
  p[1] = (unsigned char)(u >> 8);
}
static inline uint32_t f32_bits(float v) {
  uint32_t u;
  memcpy(&u, &v, 4);
  return u;
}

static inline void load_ok(const fixture *f, csm_graph *g) {
  CSM_ASSERT_OK(csm_tfjs_load(f->model, g));
}

/* The load fails with `want`; the one-line message names the file and holds
 * both keywords; the graph is left empty. */
static inline void expect_fail(const fixture *f, const char *json, csm_status want, const char *kw1,
                               const char *kw2) {
  csm_graph g;
  if (json) write_json(f, json);
  csm_status st = csm_tfjs_load(f->model, &g);
  const char *err = csm_last_error();
  if (st != want) fail_msg("status %d, expected %d: %s", st, want, err);
  if (!strstr(err, f->model)) fail_msg("message does not name the file: %s", err);
  if (!strstr(err, kw1)) fail_msg("message lacks '%s': %s", kw1, err);
  if (kw2 && !strstr(err, kw2)) fail_msg("message lacks '%s': %s", kw2, err);
  assert_null(strchr(err, '\n'));
  assert_int_equal(g.n_nodes, 0);
  assert_null(g.nodes);
  csm_graph_free(&g);
}

/* JSON snippets (single quotes become double quotes). */
#define PH(name)                                                                                   \
  "{'name':'" name "','op':'Placeholder','attr':{'dtype':{'type':'DT_FLOAT'},"                     \
  "'shape':{'shape':{'dim':[{'size':'-1'},{'size':'8'},{'size':'8'},{'size':'4'}]}}}}"
#define CONSTD(name, dt, dims)                                                                     \
  "{'name':'" name "','op':'Const','attr':{'dtype':{'type':'" dt "'},'value':{'tensor':{"          \
  "'dtype':'" dt "','tensorShape':{'dim':[" dims "]}}}}}"
#define CONST(name, dims) CONSTD(name, "DT_FLOAT", dims)
#define NODE(name, op, inputs, attrs)                                                              \
  "{'name':'" name "','op':'" op "','input':[" inputs "],'attr':{" attrs "}}"
#define TOPO(nodes) "{'modelTopology':{'node':[" nodes "]}"
#define WEIGHTS(paths, specs) ",'weightsManifest':[{'paths':[" paths "],'weights':[" specs "]}]"
#define F32(name, shape) "{'name':'" name "','shape':[" shape "],'dtype':'float32'}"

/* Attribute values. */
#define S(v) "{'s':'" v "'}"
#define IL(v) "{'list':{'i':[" v "]}}"
#define SL(v) "{'list':{'s':[" v "]}}"

#endif
