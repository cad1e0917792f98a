/* Helpers shared by the C tests: paths from the environment, skipping, and
 * building, running and checking single ops. */
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

/* Runs one op: infer the output shape from `in`, allocate `out`, forward
 * (on failure `out` is freed).
 * All inputs must have data. */
struct csm_node;
csm_status csm_test_run_op(const struct csm_node *node, const csm_tensor *in, csm_tensor *out);

/* ---- op tests (callers include "nn/ops/op.h" for struct csm_node) ---- */

/* A non-owning tensor over test data. */
csm_tensor csm_test_tensor(csm_dtype dtype, int rank, const int64_t *dims, const void *data);
csm_tensor csm_test_tensor_f32(int rank, const int64_t *dims, const float *data);
csm_tensor csm_test_tensor_i32(int rank, const int64_t *dims, const int32_t *data);
/* A node of kind `op` (a csm_op_kind) with default attributes reading inputs
 * 0 .. n_in - 1 (n_in <= 16). */
struct csm_node csm_test_node(int op, int n_in);

/* ---- graphs built in code (tests include "nn/graph.h") ---- */
struct csm_graph;
/* Appends a node (csm_graph_add; fails the test on error); its index. */
int csm_test_graph_add(struct csm_graph *g, const char *name, int op, int n_in, const int *in);
/* Appends a CONST node of dtype and shape dims holding a copy of v (numel
 * values; v NULL: zeros); its index. */
int csm_test_graph_const(struct csm_graph *g, const char *name, csm_dtype dtype, int rank,
                         const int64_t *dims, const void *v);

/* Names the case in the failure messages of the checks below ("" for none). */
extern const char *csm_test_context;
/* Fails unless t has this shape. */
void csm_test_assert_shape(const csm_tensor *t, int rank, const int64_t *dims);
/* Fails unless got[i] matches want[i] for i < n: equal, both NaN, or, for a
 * finite want, |got - want| <= abs_tol + rel_tol * |want|. An infinite want
 * must be matched exactly; tolerances 0 ask for exact values. */
void csm_test_assert_close(const float *got, const float *want, size_t n, float abs_tol,
                           float rel_tol);
/* Fails unless t is float32 with n elements that match want as above. */
void csm_test_assert_tensor_close(const csm_tensor *t, const float *want, size_t n, float abs_tol,
                                  float rel_tol);
/* Fails unless t is int32 with exactly the n values of want. */
void csm_test_assert_tensor_i32(const csm_tensor *t, const int32_t *want, size_t n);
/* Runs the op and fails unless it returns `status` with a one-line message
 * containing `needle`. */
void csm_test_expect_error(const struct csm_node *node, const csm_tensor *in, csm_status status,
                           const char *needle);
/* Steps p (n entries) to the next permutation in lexicographic order;
 * returns 0 after the last (for looping over every perm of a transpose). */
int csm_test_next_perm(int *p, int n);
#endif
