/* .npy inputs from users (issue 15): a dtype that a reader cannot take is
 * named with the dtypes it expects (an int32 model input used to come out
 * as a shape mismatch), the tensor is checked against the memory limit
 * before it is allocated, and folders and FIFOs are refused at once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csm_test.h"

static char dir[512];

static const char *tmp_path(const char *name) {
  static char buf[1024];
  snprintf(buf, sizeof buf, "%s/%s", dir, name);
  return buf;
}

/* A version 1.0 file: the dict padded so the data starts at a multiple of
 * 64 bytes, then nbytes of data (value k at byte k). */
static const char *write_npy(const char *name, const char *descr, const char *shape,
                             size_t nbytes) {
  char dict[256];
  snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr,
           shape);
  size_t dlen = strlen(dict), hlen = (10 + dlen + 1 + 63) / 64 * 64 - 10;
  unsigned char *buf = malloc(10 + hlen + nbytes);
  assert_non_null(buf);
  memcpy(buf, "\x93NUMPY\x01\x00", 8);
  buf[8] = (unsigned char)hlen, buf[9] = (unsigned char)(hlen >> 8);
  memset(buf + 10, ' ', hlen);
  memcpy(buf + 10, dict, dlen);
  buf[10 + hlen - 1] = '\n';
  for (size_t k = 0; k < nbytes; k++)
    buf[10 + hlen + k] = (unsigned char)k;
  /* Each name its own buffer: callers hold several paths at once. */
  static char paths[8][1024];
  static int next;
  char *path = paths[next++ % 8];
  snprintf(path, sizeof paths[0], "%s", tmp_path(name));
  FILE *fp = fopen(path, "wb");
  assert_non_null(fp);
  assert_int_equal(fwrite(buf, 1, 10 + hlen + nbytes, fp), 10 + hlen + nbytes);
  fclose(fp);
  free(buf);
  return path;
}

static void expect_message(csm_status got, csm_status want, const char *needle) {
  if (got != want) fail_msg("status %d, want %d (%s)", got, want, csm_last_error());
  if (!strstr(csm_last_error(), needle)) fail_msg("'%s' lacks '%s'", csm_last_error(), needle);
}

static void test_dtypes(void **state) {
  (void)state;
  csm_tensor t;
  /* int32: a count map may be, a model input may not. */
  const char *i4 = write_npy("i4.npy", "<i4", "(1, 4, 4, 3)", 4 * 48);
  CSM_ASSERT_OK(csm_npy_read(i4, &t));
  assert_int_equal(t.dtype, CSM_I32);
  csm_tensor_free(&t);
  expect_message(csm_npy_read_float(i4, &t), CSM_EUNSUPPORTED,
                 "i4.npy: .npy dtype '<i4' is not supported: expected '<f4' (little-endian "
                 "float32) or '<f8' (float64)");
  assert_null(t.data);
  /* Floats are read by both. */
  const char *f4 = write_npy("f4.npy", "<f4", "(2, 3)", 24);
  CSM_ASSERT_OK(csm_npy_read_float(f4, &t));
  assert_int_equal(t.dtype, CSM_F32);
  csm_tensor_free(&t);
  const char *f8 = write_npy("f8.npy", "<f8", "(3,)", 24);
  CSM_ASSERT_OK(csm_npy_read_float(f8, &t));
  assert_int_equal(t.shape.d[0], 3);
  csm_tensor_free(&t);
  /* Others are named, with what would do. */
  const char *i8 = write_npy("i8.npy", "<i8", "(3,)", 24);
  expect_message(csm_npy_read(i8, &t), CSM_EUNSUPPORTED,
                 "i8.npy: .npy dtype '<i8' is not supported: expected '<f4' (little-endian "
                 "float32), '<f8' (float64) or '<i4' (int32)");
  const char *be = write_npy("be.npy", ">f4", "(3,)", 12);
  expect_message(csm_npy_read_float(be, &t), CSM_EUNSUPPORTED, "dtype '>f4' is not supported");
  const char *odd = write_npy("odd.npy", "\x01\x02<f4 but far too long a name", "(3,)", 12);
  expect_message(csm_npy_read(odd, &t), CSM_EUNSUPPORTED, "dtype '?\?<f4 but far to...'");
  assert_null(strchr(csm_last_error(), '\n'));
}

static void test_memory_limit(void **state) {
  (void)state;
  csm_tensor t;
  const char *f4 = write_npy("limit.npy", "<f4", "(10, 100)", 4000);
  const char *f8 = write_npy("limit8.npy", "<f8", "(10, 100)", 8000);
  csm_set_memory_limit(3000);
  expect_message(csm_npy_read(f4, &t), CSM_EINPUT,
                 "limit.npy: .npy data needs 4000 bytes, limit 3000 (--max-memory)");
  assert_null(t.data);
  /* float64 is read into float32: 4 bytes an element. */
  expect_message(csm_npy_read_float(f8, &t), CSM_EINPUT, "needs 4000 bytes, limit 3000");
  csm_set_memory_limit(4000);
  CSM_ASSERT_OK(csm_npy_read(f4, &t));
  csm_tensor_free(&t);
  csm_set_memory_limit(0);
}

static void test_not_regular(void **state) {
  (void)state;
  csm_tensor t;
  const char *fifo = tmp_path("fifo.npy");
  assert_int_equal(mkfifo(fifo, 0600), 0);
  alarm(60); /* a blocked open fails the test instead of hanging it */
  expect_message(csm_npy_read(fifo, &t), CSM_EIO, "fifo.npy: not a regular file");
  alarm(0);
  unlink(fifo);
  expect_message(csm_npy_read_float(dir, &t), CSM_EIO, ": not a regular file");
}

int main(void) {
  snprintf(dir, sizeof dir, "%s", csm_test_env("CSM_TEST_TMP", "/tmp"));
  mkdir(dir, 0777);
  snprintf(dir + strlen(dir), sizeof dir - strlen(dir), "/npylimXXXXXX");
  if (!mkdtemp(dir)) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_dtypes),
      cmocka_unit_test(test_memory_limit),
      cmocka_unit_test(test_not_regular),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  char cmd[700];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (rc == 0 && system(cmd) != 0) return 1;
  return rc;
}
