/* Helpers shared by the C tests: paths from the environment, skipping. */
#ifndef CSM_TEST_H
#define CSM_TEST_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "csm/csm.h"

/* ctest treats this exit code as "skipped". */
#define CSM_TEST_SKIP 77

/* $name or fallback. */
const char *csm_test_env(const char *name, const char *fallback);
/* Path to an installed model's model.json (models/<name>.json), or NULL if
 * the models are not installed. */
const char *csm_test_model_path(const char *name, char *buf, size_t len);
/* Deterministic uniform floats in [lo, hi). */
void csm_test_fill_uniform(float *x, size_t n, uint32_t seed, float lo, float hi);
/* Fails the test with csm_last_error() when st != CSM_OK. */
#define CSM_ASSERT_OK(expr)                                                                        \
  do {                                                                                             \
    csm_status st_ = (expr);                                                                       \
    if (st_ != CSM_OK) fail_msg("%s -> status %d: %s", #expr, st_, csm_last_error());              \
  } while (0)

/* Runs one op: infer the output shape from `in`, allocate `out`, forward.
 * All inputs must have data. */
struct csm_node;
csm_status csm_test_run_op(const struct csm_node *node, const csm_tensor *in, csm_tensor *out);
#endif
