/* Writes the seeds that need the library or matio: CMS checkpoints
 * (csm_cms_save, so they follow the current format; fuzz/corpus/cms, each
 * with fuzz_cms.c's leading mode byte) and MATLAB files (matio: v5, v5
 * compressed, v7.3; fuzz/corpus/mat). Built on request:
 *
 *   cmake --build build-h3 --target fuzz_make_seeds
 *   build-h3/fuzz/fuzz_make_seeds fuzz/corpus
 */
#include <matio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csm/explain.h"

static const char *g_out;

static void die(const char *what) {
  fprintf(stderr, "make_seeds: %s: %s\n", what, csm_last_error());
  exit(1);
}

static void path_of(char *buf, size_t len, const char *harness, const char *name) {
  snprintf(buf, len, "%s/%s", g_out, harness);
  mkdir(buf, 0777);
  snprintf(buf, len, "%s/%s/%s", g_out, harness, name);
}

/* The checkpoint at tmp, with the mode byte in front, as corpus/cms/name. */
static void cms_seed(const csm_cms *c, unsigned char mode, const char *name) {
  char tmp[1024], out[1024];
  path_of(tmp, sizeof tmp, "cms", ".tmp.ckpt");
  path_of(out, sizeof out, "cms", name);
  if (csm_cms_save(c, tmp)) die(tmp);
  char *data;
  size_t len;
  if (csm_read_file(tmp, (size_t)1 << 24, &data, &len)) die(tmp);
  unlink(tmp);
  FILE *fp = fopen(out, "wb");
  if (!fp || fputc(mode, fp) == EOF || fwrite(data, 1, len, fp) != len || fclose(fp)) die(out);
  free(data);
}

static csm_cms *cms_with(int w, int h, int images, uint64_t identity) {
  csm_cms *c;
  if (csm_cms_create(w, h, &c)) die("csm_cms_create");
  csm_map m;
  if (csm_map_alloc(&m, w, h)) die("csm_map_alloc");
  for (int k = 0; k < images; k++) {
    for (int i = 0; i < w * h; i++) {
      m.count[i] = (float)((i + k) % 3 != 0);
      m.value[i] = m.count[i] ? (float)(i * 0.25 - k * 0.5) : 0.0f;
    }
    if (csm_cms_add(c, &m)) die("csm_cms_add");
  }
  csm_map_free(&m);
  csm_cms_set_identity(c, identity);
  return c;
}

static void cms_seeds(void) {
  struct {
    int w, h, images;
    uint64_t identity;
    unsigned char mode;
    const char *name;
  } s[] = {{4, 3, 0, 0, 0, "empty-4x3"},
           {3, 2, 1, 0, 0, "one-3x2"},
           {5, 4, 7, 42, 0, "seven-5x4"},
           {2, 2, 12, 0, 0, "twelve-2x2"},
           {3, 3, 2, 7, 1, "as-is-3x3"}};
  for (size_t i = 0; i < sizeof s / sizeof *s; i++) {
    csm_cms *c = cms_with(s[i].w, s[i].h, s[i].images, s[i].identity);
    cms_seed(c, s[i].mode, s[i].name);
    csm_cms_free(c);
  }
}

/* rows x cols values (row-major in, column-major stored) as variable name. */
static void add_var(mat_t *mat, const char *name, enum matio_classes cls, size_t rows, size_t cols,
                    const double *v, enum matio_compression z) {
  size_t dims[2] = {rows, cols}, n = rows * cols;
  double d[64];
  float f[64];
  int32_t i32[64];
  uint16_t u16[64];
  for (size_t r = 0; r < rows; r++)
    for (size_t c = 0; c < cols; c++) {
      double x = v[r * cols + c];
      size_t k = c * rows + r;
      d[k] = x, f[k] = (float)x, i32[k] = (int32_t)x, u16[k] = (uint16_t)x;
    }
  (void)n;
  void *data = cls == MAT_C_DOUBLE   ? (void *)d
               : cls == MAT_C_SINGLE ? (void *)f
               : cls == MAT_C_INT32  ? (void *)i32
                                     : (void *)u16;
  enum matio_types t = cls == MAT_C_DOUBLE   ? MAT_T_DOUBLE
                       : cls == MAT_C_SINGLE ? MAT_T_SINGLE
                       : cls == MAT_C_INT32  ? MAT_T_INT32
                                             : MAT_T_UINT16;
  matvar_t *mv = Mat_VarCreate(name, cls, t, 2, dims, data, 0);
  if (!mv || Mat_VarWrite(mat, mv, z)) {
    fprintf(stderr, "make_seeds: cannot write variable %s\n", name);
    exit(1);
  }
  Mat_VarFree(mv);
}

static void mat_seed(const char *name, enum mat_ft ver, enum matio_classes vcls,
                     enum matio_classes tcls, int base, enum matio_compression z) {
  char out[1024];
  path_of(out, sizeof out, "mat", name);
  unlink(out);
  mat_t *mat = Mat_CreateVer(out, NULL, ver);
  if (!mat) {
    fprintf(stderr, "make_seeds: cannot create %s\n", out);
    exit(1);
  }
  static const double vertices[] = {0, 0, 0, 10, 0, 1, 0, 10, 2, 10, 10, 3};
  double tri[] = {0, 1, 2, 1, 3, 2};
  for (int i = 0; i < 6; i++)
    tri[i] += base;
  add_var(mat, "vertices", vcls, 4, 3, vertices, z);
  add_var(mat, "triangles", tcls, 2, 3, tri, z);
  Mat_Close(mat);
}

int main(int argc, char **argv) {
  g_out = argc > 1 ? argv[1] : "fuzz/corpus";
  cms_seeds();
  mat_seed("v5.mat", MAT_FT_MAT5, MAT_C_DOUBLE, MAT_C_INT32, 1, MAT_COMPRESSION_NONE);
  mat_seed("v5-single-0based.mat", MAT_FT_MAT5, MAT_C_SINGLE, MAT_C_DOUBLE, 0,
           MAT_COMPRESSION_NONE);
  mat_seed("v5-zlib.mat", MAT_FT_MAT5, MAT_C_DOUBLE, MAT_C_UINT16, 1, MAT_COMPRESSION_ZLIB);
  mat_seed("v73.mat", MAT_FT_MAT73, MAT_C_DOUBLE, MAT_C_INT32, 1, MAT_COMPRESSION_NONE);
  return 0;
}
