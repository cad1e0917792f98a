/* --list files (csm_inputs_parse): every earlier format (an image per line,
 * an identity, verify pairs; spaces, tabs or commas between fields; blank
 * lines, # comments, CRLF), paths with spaces (issue 15: double quotes with
 * backslash escapes, or tab-separated fields), and errors that name the
 * file and the line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csm_test.h"

static char dir[512];

static const char *write_list(const char *text) {
  static char path[1024];
  snprintf(path, sizeof path, "%s/list.txt", dir);
  FILE *fp = fopen(path, "wb");
  assert_non_null(fp);
  fputs(text, fp);
  fclose(fp);
  return path;
}

typedef struct parsed {
  csm_input *in;
  int n;
  char *buf;
} parsed;

static parsed parse_ok(csm_explain_mode mode, const char *text) {
  parsed p = {0};
  CSM_ASSERT_OK(csm_inputs_parse(mode, NULL, 0, write_list(text), &p.in, &p.n, &p.buf));
  return p;
}

static void parsed_free(parsed *p) {
  free(p->in);
  free(p->buf);
}

/* Fails unless the list is refused with CSM_EINPUT and a message naming the
 * list file, the line and `needle`. */
static void parse_bad(csm_explain_mode mode, const char *text, int line, const char *needle) {
  csm_input *in = NULL;
  int n = 0;
  char *buf = NULL;
  const char *path = write_list(text);
  csm_status st = csm_inputs_parse(mode, NULL, 0, path, &in, &n, &buf);
  if (st != CSM_EINPUT)
    fail_msg("'%s': status %d, want %d (%s)", text, st, CSM_EINPUT, csm_last_error());
  char want[1200];
  snprintf(want, sizeof want, "%s: line %d: ", path, line);
  if (!strstr(csm_last_error(), want) || !strstr(csm_last_error(), needle))
    fail_msg("'%s': message '%s' lacks '%s' or '%s'", text, csm_last_error(), want, needle);
  assert_null(in);
  assert_null(buf);
}

static void test_earlier_formats(void **state) {
  (void)state;
  parsed p = parse_ok(CSM_EXPLAIN_CLASSIFY, "a.jpg\n# a comment\n\n  b.jpg  \r\nc.jpg,\n\td.jpg");
  assert_int_equal(p.n, 4);
  assert_string_equal(p.in[0].path, "a.jpg");
  assert_string_equal(p.in[1].path, "b.jpg");
  assert_string_equal(p.in[2].path, "c.jpg");
  assert_string_equal(p.in[3].path, "d.jpg");
  assert_null(p.in[0].path2);
  parsed_free(&p);

  p = parse_ok(CSM_EXPLAIN_IDENTIFY, "x.jpg alice\ny.jpg\nz.jpg,bob\r\nw.jpg\tcarol\n");
  assert_int_equal(p.n, 4);
  assert_string_equal(p.in[0].identity, "alice");
  assert_null(p.in[1].identity);
  assert_string_equal(p.in[2].path, "z.jpg");
  assert_string_equal(p.in[2].identity, "bob");
  assert_string_equal(p.in[3].identity, "carol");
  parsed_free(&p);

  p = parse_ok(CSM_EXPLAIN_VERIFY, "a.jpg b.jpg same\nc.jpg,d.jpg,different\ne.jpg f.jpg\n"
                                   "g.jpg\th.jpg\t0\r\n# i.jpg j.jpg\n");
  assert_int_equal(p.n, 4);
  assert_string_equal(p.in[0].path, "a.jpg");
  assert_string_equal(p.in[0].path2, "b.jpg");
  assert_int_equal(p.in[0].truth, 1);
  assert_string_equal(p.in[1].path2, "d.jpg");
  assert_int_equal(p.in[1].truth, 0);
  assert_int_equal(p.in[2].truth, -1);
  assert_string_equal(p.in[3].path, "g.jpg");
  assert_string_equal(p.in[3].path2, "h.jpg");
  assert_int_equal(p.in[3].truth, 0);
  parsed_free(&p);

  /* Positional images come first, then the list's. */
  const char *pos[1] = {"first.jpg"};
  csm_input *in;
  int n;
  char *buf;
  CSM_ASSERT_OK(
      csm_inputs_parse(CSM_EXPLAIN_CLASSIFY, pos, 1, write_list("second.jpg\n"), &in, &n, &buf));
  assert_int_equal(n, 2);
  assert_string_equal(in[0].path, "first.jpg");
  assert_string_equal(in[1].path, "second.jpg");
  free(in);
  free(buf);
}

static void test_paths_with_spaces(void **state) {
  (void)state;
  parsed p = parse_ok(CSM_EXPLAIN_CLASSIFY, "\"my photo.jpg\"\n  \"a,b #c.jpg\"  \n"
                                            "\"say \\\"hi\\\".jpg\"\n\"back\\\\slash\\n.jpg\"\n"
                                            "\"#not a comment.jpg\"\n");
  assert_int_equal(p.n, 5);
  assert_string_equal(p.in[0].path, "my photo.jpg");
  assert_string_equal(p.in[1].path, "a,b #c.jpg");
  assert_string_equal(p.in[2].path, "say \"hi\".jpg");
  assert_string_equal(p.in[3].path, "back\\slash\\n.jpg");
  assert_string_equal(p.in[4].path, "#not a comment.jpg");
  parsed_free(&p);

  /* Tabs: fields may hold spaces and commas; spaces around them go. */
  p = parse_ok(CSM_EXPLAIN_IDENTIFY, "my photo.jpg\tJohn Smith\r\n  other, one.jpg \t Jane Doe \n"
                                     "\"quoted one.jpg\"\tMax\n");
  assert_int_equal(p.n, 3);
  assert_string_equal(p.in[0].path, "my photo.jpg");
  assert_string_equal(p.in[0].identity, "John Smith");
  assert_string_equal(p.in[1].path, "other, one.jpg");
  assert_string_equal(p.in[1].identity, "Jane Doe");
  assert_string_equal(p.in[2].path, "quoted one.jpg");
  assert_string_equal(p.in[2].identity, "Max");
  parsed_free(&p);

  p = parse_ok(CSM_EXPLAIN_VERIFY, "\"a b.jpg\" \"c d.jpg\" same\n"
                                   "\"e f.jpg\",g.jpg,different\n"
                                   "h i.jpg\tj, k.jpg\tgenuine\n");
  assert_int_equal(p.n, 3);
  assert_string_equal(p.in[0].path, "a b.jpg");
  assert_string_equal(p.in[0].path2, "c d.jpg");
  assert_int_equal(p.in[0].truth, 1);
  assert_string_equal(p.in[1].path, "e f.jpg");
  assert_string_equal(p.in[1].path2, "g.jpg");
  assert_int_equal(p.in[1].truth, 0);
  assert_string_equal(p.in[2].path, "h i.jpg");
  assert_string_equal(p.in[2].path2, "j, k.jpg");
  assert_int_equal(p.in[2].truth, 1);
  parsed_free(&p);
}

static void test_errors(void **state) {
  (void)state;
  parse_bad(CSM_EXPLAIN_CLASSIFY, "ok.jpg\n\"open.jpg\n", 2, "a quote is not closed");
  parse_bad(CSM_EXPLAIN_CLASSIFY, "\"a\"b.jpg\n", 1, "text after a closing quote");
  parse_bad(CSM_EXPLAIN_CLASSIFY, "\"\"\n", 1, "an empty quoted path");
  parse_bad(CSM_EXPLAIN_CLASSIFY, "\n# c\nmy photo.jpg\n", 3, "double quotes");
  parse_bad(CSM_EXPLAIN_IDENTIFY, "a.jpg b c\n", 1, "want IMAGE [IDENTITY]");
  parse_bad(CSM_EXPLAIN_VERIFY, "a.jpg\n", 1, "want IMAGE1 IMAGE2");
  parse_bad(CSM_EXPLAIN_VERIFY, "a.jpg b.jpg maybe\n", 1, "want IMAGE1 IMAGE2");
  parse_bad(CSM_EXPLAIN_VERIFY, "a.jpg b.jpg same extra\n", 1, "want IMAGE1 IMAGE2");
}

/* A list that is a folder or a FIFO is refused at once, naming it (the
 * alarm turns a hang into a failure). */
static void test_not_regular(void **state) {
  (void)state;
  char path[1024];
  csm_input *in;
  int n;
  char *buf;
  snprintf(path, sizeof path, "%s/fifo.txt", dir);
  assert_int_equal(mkfifo(path, 0600), 0);
  alarm(60);
  assert_int_equal(csm_inputs_parse(CSM_EXPLAIN_CLASSIFY, NULL, 0, path, &in, &n, &buf), CSM_EIO);
  alarm(0);
  assert_non_null(strstr(csm_last_error(), "fifo.txt: not a regular file"));
  unlink(path);
  assert_int_equal(csm_inputs_parse(CSM_EXPLAIN_CLASSIFY, NULL, 0, dir, &in, &n, &buf), CSM_EIO);
  assert_non_null(strstr(csm_last_error(), "not a regular file"));
}

int main(void) {
  snprintf(dir, sizeof dir, "%s", csm_test_env("CSM_TEST_TMP", "/tmp"));
  mkdir(dir, 0777);
  snprintf(dir + strlen(dir), sizeof dir - strlen(dir), "/inputsXXXXXX");
  if (!mkdtemp(dir)) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_earlier_formats),
      cmocka_unit_test(test_paths_with_spaces),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_not_regular),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  char cmd[700];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (rc == 0 && system(cmd) != 0) return 1;
  return rc;
}
