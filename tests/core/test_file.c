/* File reading and atomic writing (src/core/file.c): round trips, the size
 * bound, what is not a regular file (a folder, a FIFO: fails at once, never
 * blocks), missing files and folders, read-only folders, and write errors
 * (EFBIG through RLIMIT_FSIZE): every failure names the file and leaves
 * neither the target nor a temporary file behind. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csm_test.h"

static char g_dir[512];

static const char *path_in(const char *name) {
  static char buf[4][1024];
  static int k;
  k = (k + 1) % 4;
  snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
  return buf[k];
}

/* Names in folder dir that contain ".tmp." (temporary files left behind). */
static int count_tmp(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return 0;
  int n = 0;
  for (struct dirent *e; (e = readdir(d));)
    n += strstr(e->d_name, ".tmp.") != NULL;
  closedir(d);
  return n;
}

static void expect_error_naming(csm_status got, csm_status want, const char *needle) {
  assert_int_equal(got, want);
  if (!strstr(csm_last_error(), needle))
    fail_msg("message '%s' does not contain '%s'", csm_last_error(), needle);
}

static void test_round_trip(void **state) {
  (void)state;
  const char *p = path_in("round.bin");
  char data[5000];
  for (size_t i = 0; i < sizeof data; i++)
    data[i] = (char)(i * 7 + 3);
  data[10] = '\0'; /* binary: an embedded NUL survives */
  CSM_ASSERT_OK(csm_write_file_atomic(p, data, sizeof data));
  char *got;
  size_t len;
  CSM_ASSERT_OK(csm_read_file(p, sizeof data, &got, &len)); /* exactly max is fine */
  assert_int_equal(len, sizeof data);
  assert_memory_equal(got, data, sizeof data);
  assert_int_equal(got[len], '\0');
  free(got);
  /* Replacing keeps the normal permissions of a new file (not mkstemp's 0600). */
  CSM_ASSERT_OK(csm_write_file_atomic(p, "bye", 3));
  CSM_ASSERT_OK(csm_read_file(p, 100, &got, &len));
  assert_int_equal(len, 3);
  assert_string_equal(got, "bye");
  free(got);
  struct stat sb;
  assert_int_equal(stat(p, &sb), 0);
  mode_t mask = umask(022);
  umask(mask);
  assert_int_equal(sb.st_mode & 0777, 0666 & ~mask);
  /* Empty file. */
  CSM_ASSERT_OK(csm_write_file_atomic(p, NULL, 0));
  CSM_ASSERT_OK(csm_read_file(p, 0, &got, &len));
  assert_int_equal(len, 0);
  assert_int_equal(got[0], '\0');
  free(got);
  /* The streaming writer. */
  csm_atomic_file *f;
  CSM_ASSERT_OK(csm_atomic_file_open(p, &f));
  for (int i = 0; i < 1000; i++)
    fprintf(csm_atomic_file_stream(f), "%d\n", i);
  assert_int_equal(count_tmp(g_dir), 1);
  CSM_ASSERT_OK(csm_atomic_file_commit(f));
  CSM_ASSERT_OK(csm_read_file(p, 1 << 20, &got, &len));
  assert_int_equal(len, 3890);
  assert_memory_equal(got + len - 4, "999\n", 4);
  free(got);
  assert_int_equal(count_tmp(g_dir), 0);
}

static void test_abort_keeps_old(void **state) {
  (void)state;
  const char *p = path_in("keep.txt");
  CSM_ASSERT_OK(csm_write_file_atomic(p, "old", 3));
  csm_atomic_file *f;
  CSM_ASSERT_OK(csm_atomic_file_open(p, &f));
  fputs("new and half-written", csm_atomic_file_stream(f));
  csm_atomic_file_abort(f);
  char *got;
  size_t len;
  CSM_ASSERT_OK(csm_read_file(p, 100, &got, &len));
  assert_string_equal(got, "old");
  free(got);
  assert_int_equal(count_tmp(g_dir), 0);
  csm_atomic_file_abort(NULL);
}

static void test_max_exceeded(void **state) {
  (void)state;
  const char *p = path_in("big.txt");
  CSM_ASSERT_OK(csm_write_file_atomic(p, "0123456789", 10));
  char *got = (char *)1;
  size_t len = 99;
  expect_error_naming(csm_read_file(p, 9, &got, &len), CSM_EINPUT, "big.txt");
  assert_null(got);
  assert_int_equal(len, 0);
}

static void test_not_regular(void **state) {
  (void)state;
  char *got = (char *)1;
  size_t len;
  /* A folder. */
  expect_error_naming(csm_read_file(g_dir, 100, &got, &len), CSM_EIO, "not a regular file");
  assert_non_null(strstr(csm_last_error(), g_dir));
  assert_null(got);
  FILE *fp = (FILE *)1;
  expect_error_naming(csm_file_open_read(g_dir, &fp, NULL), CSM_EIO, "not a regular file");
  assert_null(fp);
  expect_error_naming(csm_check_regular_file(g_dir), CSM_EIO, "not a regular file");
  /* A FIFO with no writer: a plain fopen would block forever. */
  const char *fifo = path_in("pipe");
  unlink(fifo);
  assert_int_equal(mkfifo(fifo, 0600), 0);
  alarm(10); /* a hang fails the test instead of the whole run */
  double t0 = csm_now();
  expect_error_naming(csm_read_file(fifo, 100, &got, &len), CSM_EIO, "not a regular file");
  assert_non_null(strstr(csm_last_error(), "pipe"));
  expect_error_naming(csm_file_open_read(fifo, &fp, NULL), CSM_EIO, "pipe: not a regular file");
  expect_error_naming(csm_check_regular_file(fifo), CSM_EIO, "not a regular file");
  alarm(0);
  assert_true(csm_now() - t0 < 1);
  unlink(fifo);
  /* A device. */
  expect_error_naming(csm_read_file("/dev/null", 100, &got, &len), CSM_EIO, "/dev/null");
}

static void test_missing(void **state) {
  (void)state;
  char *got = (char *)1;
  size_t len;
  expect_error_naming(csm_read_file(path_in("absent.txt"), 100, &got, &len), CSM_EIO, "absent.txt");
  assert_null(got);
  expect_error_naming(csm_read_file(path_in("no/such/x.txt"), 100, &got, &len), CSM_EIO, "x.txt");
  assert_int_equal(csm_read_file(NULL, 100, &got, &len), CSM_EUSAGE);
  assert_int_equal(csm_read_file("", 100, &got, &len), CSM_EUSAGE);
}

static void test_write_failures(void **state) {
  (void)state;
  /* A folder that does not exist. */
  const char *p = path_in("no/such/b.txt");
  expect_error_naming(csm_write_file_atomic(p, "x", 1), CSM_EIO, "b.txt");
  csm_atomic_file *f = (csm_atomic_file *)1;
  expect_error_naming(csm_atomic_file_open(p, &f), CSM_EIO, "b.txt");
  assert_null(f);
  /* A read-only folder (root ignores the mode bits: then only check that a
   * write there leaves no temporary file). */
  const char *ro = path_in("ro");
  mkdir(ro, 0755);
  assert_int_equal(chmod(ro, 0555), 0);
  char q[1100];
  snprintf(q, sizeof q, "%s/c.txt", ro);
  if (access(ro, W_OK) != 0) {
    expect_error_naming(csm_write_file_atomic(q, "x", 1), CSM_EIO, "c.txt");
    assert_int_not_equal(access(q, F_OK), 0);
  } else {
    CSM_ASSERT_OK(csm_write_file_atomic(q, "x", 1));
    unlink(q);
  }
  assert_int_equal(count_tmp(ro), 0);
  chmod(ro, 0755);
  /* The target is a folder holding a file: the rename fails, the
   * temporary file is removed, the folder is untouched. */
  const char *sub = path_in("sub");
  mkdir(sub, 0755);
  char inner[1100];
  snprintf(inner, sizeof inner, "%s/x", sub);
  CSM_ASSERT_OK(csm_write_file_atomic(inner, "x", 1));
  expect_error_naming(csm_write_file_atomic(sub, "x", 1), CSM_EIO, "sub");
  assert_int_equal(access(inner, F_OK), 0);
  assert_int_equal(count_tmp(g_dir), 0);
  assert_int_equal(csm_write_file_atomic(NULL, "x", 1), CSM_EUSAGE);
  assert_int_equal(csm_write_file_atomic(path_in("y"), NULL, 1), CSM_EUSAGE);
}

/* EFBIG: the file-size limit stands in for a full disk (ENOSPC takes the
 * same path: a failed write, caught at the write or at commit). */
static void test_write_error_cleans_up(void **state) {
  (void)state;
  const char *p = path_in("limited.bin");
  CSM_ASSERT_OK(csm_write_file_atomic(p, "old", 3));
  static char big[1 << 16];
  memset(big, 'x', sizeof big);
  struct rlimit old;
  assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
  signal(SIGXFSZ, SIG_IGN);
  struct rlimit lim = {4096, old.rlim_max};
  assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
  csm_status st = csm_write_file_atomic(p, big, sizeof big);
  const char *msg1 = strdup(csm_last_error());
  /* The streaming writer: fprintf errors are collected at commit. */
  csm_atomic_file *f;
  csm_status st_open = csm_atomic_file_open(p, &f);
  csm_status st2 = CSM_EINTERNAL;
  if (!st_open) {
    for (int i = 0; i < 2000; i++)
      fprintf(csm_atomic_file_stream(f), "line %d of a file larger than the limit\n", i);
    st2 = csm_atomic_file_commit(f);
  }
  setrlimit(RLIMIT_FSIZE, &old);
  signal(SIGXFSZ, SIG_DFL);
  /* File too large is the system's failure (CSM_ESYSTEM, exit 3). */
  assert_int_equal(st, CSM_ESYSTEM);
  if (!strstr(msg1, "limited.bin")) fail_msg("message '%s' does not name the file", msg1);
  free((void *)msg1);
  CSM_ASSERT_OK(st_open);
  expect_error_naming(st2, CSM_ESYSTEM, "limited.bin");
  /* Nothing half-written is visible: the old content, no temporary file. */
  char *got;
  size_t len;
  CSM_ASSERT_OK(csm_read_file(p, 1 << 20, &got, &len));
  assert_string_equal(got, "old");
  free(got);
  assert_int_equal(count_tmp(g_dir), 0);
}

int main(void) {
  snprintf(g_dir, sizeof g_dir, "%s/core_file_%ld", csm_test_env("CSM_TEST_TMP", "/tmp"),
           (long)getpid());
  mkdir(csm_test_env("CSM_TEST_TMP", "/tmp"), 0777);
  if (mkdir(g_dir, 0777) != 0 && errno != EEXIST) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_round_trip),
      cmocka_unit_test(test_abort_keeps_old),
      cmocka_unit_test(test_max_exceeded),
      cmocka_unit_test(test_not_regular),
      cmocka_unit_test(test_missing),
      cmocka_unit_test(test_write_failures),
      cmocka_unit_test(test_write_error_cleans_up),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  char cmd[700];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
  if (rc == 0 && system(cmd) != 0) return 1;
  return rc;
}
