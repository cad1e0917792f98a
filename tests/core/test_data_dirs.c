/* The data-folder lookup (src/core/data_dirs.c): csm_set_data_dirs, else
 * $CSM_MODELS_DIR / $CSM_DATA_DIR, else the source tree's folders; and the
 * canonical face found through it. */
#include <stdlib.h>
#include <string.h>

#include "csm_test.h"

static void test_order(void **state) {
  (void)state;
  /* Built-in defaults: the source tree's models/ and data/. */
  unsetenv("CSM_MODELS_DIR");
  unsetenv("CSM_DATA_DIR");
  CSM_ASSERT_OK(csm_set_data_dirs(NULL, NULL));
  char want[1024];
  snprintf(want, sizeof want, "%s/models", csm_test_env("CSM_SOURCE_DIR", "."));
  if (getenv("CSM_SOURCE_DIR")) assert_string_equal(csm_models_dir(), want);
  snprintf(want, sizeof want, "%s/data", csm_test_env("CSM_SOURCE_DIR", "."));
  if (getenv("CSM_SOURCE_DIR")) assert_string_equal(csm_data_dir(), want);
  /* The environment overrides the defaults. */
  setenv("CSM_MODELS_DIR", "/env/models", 1);
  setenv("CSM_DATA_DIR", "/env/data", 1);
  assert_string_equal(csm_models_dir(), "/env/models");
  assert_string_equal(csm_data_dir(), "/env/data");
  setenv("CSM_DATA_DIR", "", 1); /* empty: not set */
  assert_string_not_equal(csm_data_dir(), "");
  setenv("CSM_DATA_DIR", "/env/data", 1);
  /* The API overrides the environment; strings handed out stay valid. */
  CSM_ASSERT_OK(csm_set_data_dirs("/api/models", "/api/data"));
  const char *m = csm_models_dir();
  assert_string_equal(m, "/api/models");
  assert_string_equal(csm_data_dir(), "/api/data");
  CSM_ASSERT_OK(csm_set_data_dirs("/api/models2", NULL));
  assert_string_equal(m, "/api/models");
  assert_string_equal(csm_models_dir(), "/api/models2");
  assert_string_equal(csm_data_dir(), "/env/data"); /* NULL: back to the environment */
  CSM_ASSERT_OK(csm_set_data_dirs("", NULL));
  assert_string_equal(csm_models_dir(), "/env/models");
  unsetenv("CSM_MODELS_DIR");
  unsetenv("CSM_DATA_DIR");
}

/* csm_canon_default reads <data dir>/canonical/facemesh_canonical.json. */
static void test_canon_default(void **state) {
  (void)state;
  csm_canon *c = NULL;
  CSM_ASSERT_OK(csm_set_data_dirs(NULL, "/nonexistent/csm-data"));
  assert_int_equal(csm_canon_default(&c), CSM_EIO);
  assert_non_null(strstr(csm_last_error(), "/nonexistent/csm-data/canonical/"));
  char dir[1024];
  snprintf(dir, sizeof dir, "%s/data", csm_test_env("CSM_SOURCE_DIR", "."));
  CSM_ASSERT_OK(csm_set_data_dirs(NULL, dir));
  CSM_ASSERT_OK(csm_canon_default(&c));
  assert_int_equal(csm_canon_width(c), csm_canon_height(c));
  csm_canon_free(c);
  CSM_ASSERT_OK(csm_set_data_dirs(NULL, NULL));
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_order),
                                     cmocka_unit_test(test_canon_default)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
