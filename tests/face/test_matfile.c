/* MATLAB .mat reading: hand-written files for every class, base and error
 * case; the real PRNet files (tests/data/celeba-prnet); truncated and
 * byte-flipped copies, which must fail cleanly, never crash. */
#include "csm_test.h"

#include <dirent.h>
#include <math.h>
#include <matio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_tmp[512];

static const char *tmp_path(const char *name) {
  static char buf[1024];
  snprintf(buf, sizeof buf, "%s/%s", g_tmp, name);
  return buf;
}

/* Writes `rows` x 3 row-major `values` as variable `name` of class `cls`
 * (MATLAB stores column-major, so this also checks the transpose). */
static void add_var(mat_t *mat, const char *name, enum matio_classes cls, size_t rows, size_t cols,
                    const double *values, int compress) {
  size_t dims[2] = {rows, cols}, n = rows * cols;
  double d[64];
  float f[64];
  int32_t i[64];
  assert_true(n <= 64);
  for (size_t r = 0; r < rows; r++)
    for (size_t c = 0; c < cols; c++) {
      double v = values[r * cols + c];
      d[c * rows + r] = v, f[c * rows + r] = (float)v, i[c * rows + r] = (int32_t)v;
    }
  void *data = cls == MAT_C_DOUBLE ? (void *)d : cls == MAT_C_SINGLE ? (void *)f : (void *)i;
  enum matio_types t = cls == MAT_C_DOUBLE   ? MAT_T_DOUBLE
                       : cls == MAT_C_SINGLE ? MAT_T_SINGLE
                                             : MAT_T_INT32;
  matvar_t *v = Mat_VarCreate(name, cls, t, 2, dims, data, 0);
  assert_non_null(v);
  assert_int_equal(Mat_VarWrite(mat, v, compress ? MAT_COMPRESSION_ZLIB : MAT_COMPRESSION_NONE), 0);
  Mat_VarFree(v);
}

static const double k_m[4 * 3] = {1.5, 2, 3, 4, 5.25, 6, -7, 8, 9, 10, 11, 12.75};

static void check_matrix(const char *path, const char *var) {
  float *d;
  int r, c;
  CSM_ASSERT_OK(csm_mat_read_matrix(path, var, &d, &r, &c));
  assert_int_equal(r, 4);
  assert_int_equal(c, 3);
  for (int k = 0; k < 12; k++)
    assert_true(fabsf(d[k] - (float)k_m[k]) < 1e-6f);
  free(d);
}

static void test_classes(void **state) {
  (void)state;
  const char *p = tmp_path("classes.mat");
  mat_t *mat = Mat_CreateVer(p, NULL, MAT_FT_MAT5);
  assert_non_null(mat);
  double ints[12];
  for (int k = 0; k < 12; k++)
    ints[k] = round(k_m[k]);
  add_var(mat, "d", MAT_C_DOUBLE, 4, 3, k_m, 0);
  add_var(mat, "s", MAT_C_SINGLE, 4, 3, k_m, 0);
  add_var(mat, "i", MAT_C_INT32, 4, 3, ints, 0);
  add_var(mat, "z", MAT_C_DOUBLE, 4, 3, k_m, 1);
  add_var(mat, "wide", MAT_C_DOUBLE, 3, 4, k_m, 0);
  Mat_Close(mat);
  check_matrix(p, "d");
  check_matrix(p, "s");
  check_matrix(p, "z");
  float *d;
  int r, c;
  CSM_ASSERT_OK(csm_mat_read_matrix(p, "i", &d, &r, &c));
  for (int k = 0; k < 12; k++)
    assert_true(d[k] == (float)ints[k]);
  free(d);
  assert_int_equal(csm_mat_read_matrix(p, "wide", &d, &r, &c), CSM_EINPUT);
  assert_non_null(strstr(csm_last_error(), "'wide'"));
  assert_non_null(strstr(csm_last_error(), "classes.mat"));
  assert_null(d);
  assert_int_equal(csm_mat_read_matrix(p, "nothere", &d, &r, &c), CSM_EINPUT);
  assert_non_null(strstr(csm_last_error(), "no variable 'nothere'"));
}

static void test_v73(void **state) {
  (void)state;
  const char *p = tmp_path("v73.mat");
  mat_t *mat = Mat_CreateVer(p, NULL, MAT_FT_MAT73);
  if (!mat) {
    print_message("matio built without HDF5: v7.3 not tested\n");
    return;
  }
  add_var(mat, "d", MAT_C_DOUBLE, 4, 3, k_m, 0);
  Mat_Close(mat);
  /* Refused: HDF5 is not safe on untrusted files (docs/security.md). */
  float *d = NULL;
  int r, c;
  assert_int_equal(csm_mat_read_matrix(p, "d", &d, &r, &c), CSM_EUNSUPPORTED);
  assert_non_null(strstr(csm_last_error(), "v7.3"));
  assert_null(d);
}

/* Fuzzing's reproducers (fuzz/crashes/mat): each is refused with its own
 * one-line reason before matio (or HDF5) parses it. */
static void test_fuzz_findings(void **state) {
  (void)state;
  static const struct {
    const char *file, *needle;
  } cases[] = {
      {"oom-matio-name-4GB-small-element-array-flags.mat", "array flags"},
      {"asan-hdf5-heap-overflow-H5Aopen_by_name-corrupt-v73.mat", "v7.3"},
      {"lsan-hdf5-H5Fopen-corrupt-v73.mat", "v7.3"},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    char p[1024];
    snprintf(p, sizeof p, "%s/fuzz/crashes/mat/%s", csm_test_env("CSM_SOURCE_DIR", "."),
             cases[k].file);
    int32_t *t = NULL;
    int n = 0;
    assert_int_not_equal(csm_mat_read_triangles(p, "triangles", &t, &n), CSM_OK);
    if (!strstr(csm_last_error(), cases[k].needle))
      fail_msg("%s: want '%s' in: %s", cases[k].file, cases[k].needle, csm_last_error());
    assert_null(t);
  }
}

static void read_tri(const char *path, const char *var, const int32_t *want, int n) {
  int32_t *t;
  int got;
  CSM_ASSERT_OK(csm_mat_read_triangles(path, var, &t, &got));
  assert_int_equal(got, n);
  for (int k = 0; k < n * 3; k++)
    assert_int_equal(t[k], want[k]);
  free(t);
}

static void test_triangles(void **state) {
  (void)state;
  static const double one[2 * 3] = {1, 2, 3, 3, 4, 1}, zero[2 * 3] = {0, 1, 2, 2, 3, 0};
  static const double frac[2 * 3] = {0, 1, 2.5, 2, 3, 0}, neg[2 * 3] = {-1, 1, 2, 2, 3, 0};
  static const int32_t want[2 * 3] = {0, 1, 2, 2, 3, 0};
  /* Square of 4 vertices plus a far vertex 4: reading the shifted base would
   * use the far vertex. */
  static const double verts[5 * 3] = {0, 0, 0, 1, 0, 0, 1, 1, 0, 0, 1, 0, 50, 50, 50};
  const char *p = tmp_path("tri.mat");
  mat_t *mat = Mat_CreateVer(p, NULL, MAT_FT_MAT5);
  assert_non_null(mat);
  add_var(mat, "one_i", MAT_C_INT32, 2, 3, one, 0);
  add_var(mat, "one_d", MAT_C_DOUBLE, 2, 3, one, 0);
  add_var(mat, "zero_i", MAT_C_INT32, 2, 3, zero, 0);
  add_var(mat, "zero_s", MAT_C_SINGLE, 2, 3, zero, 0);
  add_var(mat, "frac", MAT_C_DOUBLE, 2, 3, frac, 0);
  add_var(mat, "neg", MAT_C_INT32, 2, 3, neg, 0);
  add_var(mat, "flat", MAT_C_INT32, 3, 2, zero, 0);
  Mat_Close(mat);
  read_tri(p, "one_i", want, 2);
  read_tri(p, "one_d", want, 2);
  read_tri(p, "zero_i", want, 2);
  read_tri(p, "zero_s", want, 2);
  int32_t *t;
  int n;
  assert_int_equal(csm_mat_read_triangles(p, "frac", &t, &n), CSM_EINPUT);
  assert_int_equal(csm_mat_read_triangles(p, "neg", &t, &n), CSM_EINPUT);
  assert_int_equal(csm_mat_read_triangles(p, "flat", &t, &n), CSM_EINPUT);
  assert_non_null(strstr(csm_last_error(), "'flat'"));
  assert_int_equal(csm_mat_read_triangles(p, "missing", &t, &n), CSM_EINPUT);

  /* With `vertices` in the file: max == N means 1-based; indices 1..N-1 are
   * ambiguous and decided by the geometry. */
  static const double amb0[2 * 3] = {1, 2, 3, 3, 2, 1}; /* 0-based, vertex 0 unused */
  static const double amb1[2 * 3] = {1, 2, 3, 3, 4, 1}; /* 1-based, vertex 4 unused */
  static const int32_t want0[2 * 3] = {1, 2, 3, 3, 2, 1};
  p = tmp_path("tri_v.mat");
  mat = Mat_CreateVer(p, NULL, MAT_FT_MAT5);
  add_var(mat, "vertices", MAT_C_DOUBLE, 5, 3, verts, 0);
  add_var(mat, "amb0", MAT_C_INT32, 2, 3, amb0, 0);
  add_var(mat, "amb1", MAT_C_INT32, 2, 3, amb1, 0);
  add_var(mat, "max5", MAT_C_INT32, 2, 3, (const double[]){1, 2, 5, 3, 4, 1}, 0);
  add_var(mat, "both", MAT_C_INT32, 2, 3, (const double[]){0, 2, 5, 3, 4, 1}, 0);
  Mat_Close(mat);
  read_tri(p, "amb0", want0, 2);
  read_tri(p, "amb1", want, 2);
  read_tri(p, "max5", (const int32_t[]){0, 1, 4, 2, 3, 0}, 2);
  assert_int_equal(csm_mat_read_triangles(p, "both", &t, &n), CSM_EINPUT);
}

static void test_not_mat(void **state) {
  (void)state;
  float *d;
  int r, c;
  const char *p = tmp_path("text.mat");
  FILE *f = fopen(p, "wb");
  assert_non_null(f);
  for (int k = 0; k < 40; k++)
    fputs("not a mat file\n", f);
  fclose(f);
  assert_int_equal(csm_mat_read_matrix(p, "vertices", &d, &r, &c), CSM_EINPUT);
  assert_non_null(strstr(csm_last_error(), "text.mat"));
  assert_int_equal(csm_mat_read_matrix(tmp_path("absent.mat"), "v", &d, &r, &c), CSM_EIO);
  assert_int_equal(csm_mat_read_matrix(g_tmp, "v", &d, &r, &c), CSM_EIO); /* a directory */
}

/* tests/data/celeba-prnet: part of the repository, so absent is a failure. */
static const char *data_dir(char *buf, size_t len) {
  snprintf(buf, len, "%s/celeba-prnet", csm_test_env("CSM_TEST_DATA", "tests/data"));
  struct stat st;
  if (stat(buf, &st) != 0) fail_msg("%s: missing (tests/data is in the repository)", buf);
  return buf;
}

static void test_real(void **state) {
  (void)state;
  char dir[512], p[1024];
  data_dir(dir, sizeof dir);
  snprintf(p, sizeof p, "%s/frontal_mesh.mat", dir);
  float *v, *col;
  int r, c, n;
  int32_t *t;
  CSM_ASSERT_OK(csm_mat_read_matrix(p, "vertices", &v, &r, &c));
  assert_int_equal(r, 43867);
  CSM_ASSERT_OK(csm_mat_read_matrix(p, "colors", &col, &r, &c));
  assert_int_equal(r, 43867);
  for (int k = 0; k < r * 3; k++)
    assert_true(col[k] >= 0 && col[k] <= 1);
  CSM_ASSERT_OK(csm_mat_read_triangles(p, "triangles", &t, &n));
  assert_int_equal(n, 86906);
  int lo = t[0], hi = t[0];
  double max_edge = 0;
  for (int k = 0; k < n * 3; k++)
    lo = t[k] < lo ? t[k] : lo, hi = t[k] > hi ? t[k] : hi;
  for (int k = 0; k < n; k++)
    for (int e = 0; e < 3; e++) {
      const float *a = v + 3 * t[k * 3 + e], *b = v + 3 * t[k * 3 + (e + 1) % 3];
      double d = sqrt(pow(a[0] - b[0], 2) + pow(a[1] - b[1], 2) + pow(a[2] - b[2], 2));
      max_edge = d > max_edge ? d : max_edge;
    }
  /* The stored values are 1..43866: PRNet's 0-based triangles (vertex 0
   * unused). Read 1-based, some triangles would span the face (433 px). */
  print_message("frontal triangles: 0-based %d..%d, longest edge %.1f px\n", lo, hi, max_edge);
  assert_int_equal(lo, 1);
  assert_int_equal(hi, 43866);
  assert_true(max_edge < 20);
  free(v);
  free(col);
  free(t);
  int count = 0;
  snprintf(p, sizeof p, "%s/meshes", dir);
  DIR *d = opendir(p);
  assert_non_null(d);
  for (struct dirent *e; (e = readdir(d));) {
    if (!strstr(e->d_name, "_mesh.mat")) continue;
    snprintf(p, sizeof p, "%s/meshes/%s", dir, e->d_name);
    CSM_ASSERT_OK(csm_mat_read_matrix(p, "vertices", &v, &r, &c));
    assert_int_equal(r, 2194);
    assert_int_equal(c, 3);
    free(v);
    count++;
  }
  closedir(d);
  print_message("read %d image meshes (2194 x 3 each)\n", count);
  assert_true(count > 0);
}

/* Copies `src` with `len` bytes kept and byte `flip` (if >= 0) inverted. */
static void write_variant(const unsigned char *src, size_t len, long flip, const char *dst) {
  FILE *f = fopen(dst, "wb");
  assert_non_null(f);
  for (size_t k = 0; k < len; k++)
    fputc(flip == (long)k ? src[k] ^ 0xff : src[k], f);
  fclose(f);
}

static void test_hostile(void **state) {
  (void)state;
  char dir[512], p[1024];
  data_dir(dir, sizeof dir);
  snprintf(p, sizeof p, "%s/meshes/000686_mesh.mat", dir);
  FILE *f = fopen(p, "rb");
  assert_non_null(f);
  static unsigned char buf[1 << 17];
  size_t len = fread(buf, 1, sizeof buf, f);
  fclose(f);
  assert_true(len > 1000 && len < sizeof buf);
  const char *q = tmp_path("hostile.mat");
  float *v;
  int r, c, fails = 0, runs = 0;
  int32_t *t;
  int n;
  /* Every truncation must be an error. */
  for (size_t cut = 0; cut < len; cut += cut < 300 ? 7 : 811) {
    write_variant(buf, cut, -1, q);
    double t1 = csm_now();
    assert_int_not_equal(csm_mat_read_matrix(q, "vertices", &v, &r, &c), CSM_OK);
    assert_null(v);
    if (csm_now() - t1 > 5) fail_msg("cut at byte %zu took %.1f s", cut, csm_now() - t1);
    runs++;
  }
  /* Byte flips: the header, the tags, and random places in the data. */
  uint32_t s = 12345;
  for (int k = 0; k < 400; k++) {
    s ^= s << 13, s ^= s >> 17, s ^= s << 5;
    long at = k < 200 ? k : (long)(s % len);
    write_variant(buf, len, at, q);
    double t0 = csm_now();
    csm_status st = csm_mat_read_matrix(q, "vertices", &v, &r, &c);
    if (st == CSM_OK) {
      assert_int_equal(c, 3);
      free(v);
    } else {
      fails++;
    }
    if (csm_mat_read_triangles(q, "vertices", &t, &n) == CSM_OK) free(t);
    /* A corrupt size must not turn into a huge allocation and read. */
    if (csm_now() - t0 > 5) fail_msg("flip at byte %ld took %.1f s", at, csm_now() - t0);
    runs++;
  }
  print_message("hostile: %d variants, %d byte flips rejected\n", runs, fails);
}

/* Issue 15: NaN and infinite vertices were accepted. Each is refused
 * naming the file, the variable and the row (0-based), in double, single
 * and compressed variables, by both readers. */
static void test_not_finite(void **state) {
  (void)state;
  const char *p = tmp_path("nan.mat");
  mat_t *mat = Mat_CreateVer(p, NULL, MAT_FT_MAT5);
  assert_non_null(mat);
  double m[4 * 3];
  memcpy(m, k_m, sizeof m);
  m[2 * 3 + 1] = NAN;
  add_var(mat, "vertices", MAT_C_DOUBLE, 4, 3, m, 0);
  memcpy(m, k_m, sizeof m);
  m[3 * 3 + 2] = INFINITY;
  add_var(mat, "single", MAT_C_SINGLE, 4, 3, m, 0);
  memcpy(m, k_m, sizeof m);
  m[0] = -INFINITY;
  add_var(mat, "packed", MAT_C_DOUBLE, 4, 3, m, 1);
  Mat_Close(mat);
  static const struct {
    const char *var;
    int row;
  } bad[] = {{"vertices", 2}, {"single", 3}, {"packed", 0}};
  for (int k = 0; k < 3; k++) {
    char want[1200];
    snprintf(want, sizeof want, "%s: %s row %d is not finite", p, bad[k].var, bad[k].row);
    float *f = NULL;
    double *d = NULL;
    int r, c;
    assert_int_equal(csm_mat_read_matrix(p, bad[k].var, &f, &r, &c), CSM_EINPUT);
    if (!strstr(csm_last_error(), want)) fail_msg("want '%s', got '%s'", want, csm_last_error());
    assert_null(f);
    assert_int_equal(csm_mat_read_matrix_f64(p, bad[k].var, &d, &r, &c), CSM_EINPUT);
    if (!strstr(csm_last_error(), want)) fail_msg("want '%s', got '%s'", want, csm_last_error());
    assert_null(d);
  }
}

/* The matrix is checked against the memory limit before matio reads it;
 * folders and FIFOs are refused before matio opens them (a FIFO would block
 * it: the alarm turns a hang into a failure). */
static void test_limits_and_special_files(void **state) {
  (void)state;
  const char *p = tmp_path("limit.mat");
  mat_t *mat = Mat_CreateVer(p, NULL, MAT_FT_MAT5);
  assert_non_null(mat);
  add_var(mat, "vertices", MAT_C_DOUBLE, 4, 3, k_m, 0);
  Mat_Close(mat);
  float *f;
  int r, c;
  csm_set_memory_limit(100);
  assert_int_equal(csm_mat_read_matrix(p, "vertices", &f, &r, &c), CSM_EINPUT);
  if (!strstr(csm_last_error(), "limit.mat: variable 'vertices' (4 x 3) needs") ||
      !strstr(csm_last_error(), "(--max-memory)"))
    fail_msg("%s", csm_last_error());
  csm_set_memory_limit(0);
  check_matrix(p, "vertices");

  char q[1100];
  snprintf(q, sizeof q, "%s", tmp_path("folder.mat"));
  rmdir(q);
  assert_int_equal(mkdir(q, 0777), 0);
  assert_int_equal(csm_mat_read_matrix(q, "vertices", &f, &r, &c), CSM_EIO);
  if (!strstr(csm_last_error(), "folder.mat: not a regular file")) fail_msg("%s", csm_last_error());
  snprintf(q, sizeof q, "%s", tmp_path("fifo.mat"));
  unlink(q);
  assert_int_equal(mkfifo(q, 0600), 0);
  alarm(60);
  assert_int_equal(csm_mat_read_matrix(q, "vertices", &f, &r, &c), CSM_EIO);
  alarm(0);
  if (!strstr(csm_last_error(), "fifo.mat: not a regular file")) fail_msg("%s", csm_last_error());
  unlink(q);
}

int main(void) {
  snprintf(g_tmp, sizeof g_tmp, "%s/matfile", csm_test_env("CSM_TEST_TMP", "/tmp"));
  mkdir(csm_test_env("CSM_TEST_TMP", "/tmp"), 0777);
  mkdir(g_tmp, 0777);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_classes),
      cmocka_unit_test(test_v73),
      cmocka_unit_test(test_fuzz_findings),
      cmocka_unit_test(test_triangles),
      cmocka_unit_test(test_not_mat),
      cmocka_unit_test(test_real),
      cmocka_unit_test(test_hostile),
      cmocka_unit_test(test_not_finite),
      cmocka_unit_test(test_limits_and_special_files),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
