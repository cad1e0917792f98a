/* .npy reading and writing: the exact bytes numpy expects, and hostile files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "csm_test.h"

static char dir[512];

static const char *tmp_path(const char *name) {
  static char buf[1024];
  snprintf(buf, sizeof buf, "%s/%s", dir, name);
  return buf;
}

static void write_bytes(const char *path, const void *data, size_t n) {
  FILE *fp = fopen(path, "wb");
  assert_non_null(fp);
  assert_int_equal(fwrite(data, 1, n, fp), n);
  fclose(fp);
}

/* A file as numpy writes it: magic, version 1.0, header length, the dict,
 * spaces and a newline so that the data starts on a multiple of 64 bytes. */
static size_t numpy_file(unsigned char *buf, const char *dict, const void *data, size_t nbytes) {
  size_t dlen = strlen(dict);
  size_t hlen = (10 + dlen + 1 + 63) / 64 * 64 - 10;
  memcpy(buf, "\x93NUMPY\x01\x00", 8);
  buf[8] = (unsigned char)hlen;
  buf[9] = 0;
  memset(buf + 10, ' ', hlen);
  memcpy(buf + 10, dict, dlen);
  buf[10 + hlen - 1] = '\n';
  memcpy(buf + 10 + hlen, data, nbytes);
  return 10 + hlen + nbytes;
}

static void test_reads_numpy_layout(void **state) {
  (void)state;
  float v[6] = {0, 1, 2, 3, 4, 5};
  unsigned char buf[512];
  size_t n =
      numpy_file(buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", v, sizeof v);
  write_bytes(tmp_path("a.npy"), buf, n);
  csm_tensor t;
  CSM_ASSERT_OK(csm_npy_read(tmp_path("a.npy"), &t));
  assert_int_equal(t.dtype, CSM_F32);
  assert_int_equal(t.shape.rank, 2);
  assert_int_equal(t.shape.d[0], 2);
  assert_int_equal(t.shape.d[1], 3);
  assert_memory_equal(t.data, v, sizeof v);
  csm_tensor_free(&t);
}

static void test_write_matches_numpy_bytes(void **state) {
  (void)state;
  float v[6] = {0, 1, 2, 3, 4, 5};
  int64_t d[2] = {2, 3};
  csm_shape s = csm_shape_make(2, d);
  csm_tensor t = {.dtype = CSM_F32, .shape = s, .data = v};
  CSM_ASSERT_OK(csm_npy_write(tmp_path("w.npy"), &t));
  FILE *fp = fopen(tmp_path("w.npy"), "rb");
  unsigned char got[512];
  size_t n = fread(got, 1, sizeof got, fp);
  fclose(fp);
  unsigned char want[512];
  size_t wn =
      numpy_file(want, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", v, sizeof v);
  assert_int_equal(n, wn);
  assert_memory_equal(got, want, n);
  /* 1-D shapes need numpy's trailing comma: (4,) */
  int64_t d1 = 4;
  s = csm_shape_make(1, &d1);
  t.shape = s;
  CSM_ASSERT_OK(csm_npy_write(tmp_path("w1.npy"), &t));
  fp = fopen(tmp_path("w1.npy"), "rb");
  n = fread(got, 1, sizeof got, fp);
  fclose(fp);
  got[n < sizeof got ? n : sizeof got - 1] = 0;
  assert_non_null(strstr((char *)got + 10, "'shape': (4,)"));
}

static void expect_error(const char *name, const void *bytes, size_t n, const char *keyword) {
  write_bytes(tmp_path(name), bytes, n);
  csm_tensor t;
  csm_status st = csm_npy_read(tmp_path(name), &t);
  assert_int_not_equal(st, CSM_OK);
  assert_non_null(strstr(csm_last_error(), name));
  if (!strstr(csm_last_error(), keyword)) fail_msg("'%s' lacks '%s'", csm_last_error(), keyword);
}

static void test_hostile_files(void **state) {
  (void)state;
  float v[6] = {0};
  unsigned char buf[512];
  expect_error("magic.npy", "hello world", 11, "not a .npy");
  size_t n =
      numpy_file(buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", v, sizeof v);
  expect_error("short.npy", buf, n - 4, "bytes");
  n = numpy_file(
      buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4), }", v, 0);
  expect_error("huge.npy", buf, n, "too large");
  n = numpy_file(buf, "{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", v, 16);
  expect_error("complex.npy", buf, n, "dtype");
  n = numpy_file(buf, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", v, sizeof v);
  expect_error("fortran.npy", buf, n, "Fortran");
  n = numpy_file(buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3), }", v, sizeof v);
  expect_error("negative.npy", buf, n, "shape");
  expect_error("header.npy", "\x93NUMPY\x01\x00\xff\x00{", 11, "truncated");
  csm_tensor t;
  assert_int_equal(csm_npy_read(tmp_path("missing.npy"), &t), CSM_EIO);
}

int main(void) {
  snprintf(dir, sizeof dir, "%s/npyXXXXXX", csm_test_env("TMPDIR", "/tmp"));
  if (!mkdtemp(dir)) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reads_numpy_layout),
      cmocka_unit_test(test_write_matches_numpy_bytes),
      cmocka_unit_test(test_hostile_files),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  char cmd[700];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd)) rc = rc ? rc : 1;
  return rc;
}
