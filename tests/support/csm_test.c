#include "csm_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *csm_test_env(const char *name, const char *fallback) {
  const char *v = getenv(name);
  return v && *v ? v : fallback;
}

const char *csm_test_model_path(const char *name, char *buf, size_t len) {
  snprintf(buf, len, "%s/%s.json", csm_test_env("CSM_MODELS_DIR", "models"), name);
  return access(buf, R_OK) == 0 ? buf : NULL;
}

void csm_test_fill_uniform(float *x, size_t n, uint32_t seed, float lo, float hi) {
  uint32_t s = seed ? seed : 1u;
  for (size_t i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    x[i] = lo + (hi - lo) * (float)(s >> 8) / 16777216.0f;
  }
}

#include "nn/ops/op.h"

csm_status csm_test_run_op(const struct csm_node *node, const csm_tensor *in, csm_tensor *out) {
  const csm_op_def *def = csm_op_def_get(node->op);
  csm_tensor shape_only;
  csm_status st;
  void *scratch = NULL;
  if (!def || !def->infer) return csm_fail(CSM_EUNSUPPORTED, "op has no definition");
  memset(&shape_only, 0, sizeof shape_only);
  st = def->infer(node, in, &shape_only);
  if (st) return st;
  st = csm_tensor_alloc(out, shape_only.dtype, &shape_only.shape);
  if (st) return st;
  if (def->alias) {
    size_t n = csm_tensor_numel(out);
    memcpy(out->data, in[0].data, n * 4);
    return CSM_OK;
  }
  if (def->scratch) {
    size_t bytes = def->scratch(node, in, out);
    scratch = bytes ? malloc(bytes) : NULL;
  }
  st = def->forward(node, in, out, scratch);
  free(scratch);
  if (st) csm_tensor_free(out); /* nothing for the caller to free on failure */
  return st;
}

csm_tensor csm_test_tensor(csm_dtype dtype, int rank, const int64_t *dims, const void *data) {
  csm_tensor t;
  memset(&t, 0, sizeof t);
  t.dtype = dtype;
  t.shape = csm_shape_make(rank, dims);
  t.data = (void *)data;
  return t;
}

csm_tensor csm_test_tensor_f32(int rank, const int64_t *dims, const float *data) {
  return csm_test_tensor(CSM_F32, rank, dims, data);
}

csm_tensor csm_test_tensor_i32(int rank, const int64_t *dims, const int32_t *data) {
  return csm_test_tensor(CSM_I32, rank, dims, data);
}

struct csm_node csm_test_node(int op, int n_in) {
  static int idx[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
  csm_node n;
  assert_true(n_in >= 0 && n_in <= 16);
  memset(&n, 0, sizeof n);
  n.op = (csm_op_kind)op;
  n.a = csm_attrs_default();
  n.in = idx;
  n.n_in = n_in;
  return n;
}

const char *csm_test_context = "";

void csm_test_assert_shape(const csm_tensor *t, int rank, const int64_t *dims) {
  char got[128], want[128];
  csm_shape s = csm_shape_make(rank, dims);
  if (!csm_shape_equal(&t->shape, &s))
    fail_msg("%s%sshape %s, want %s", csm_test_context, *csm_test_context ? " " : "",
             csm_shape_str(&t->shape, got, sizeof got), csm_shape_str(&s, want, sizeof want));
}

void csm_test_assert_close(const float *got, const float *want, size_t n, float abs_tol,
                           float rel_tol) {
  for (size_t i = 0; i < n; i++) {
    if (got[i] == want[i] || (isnan(got[i]) && isnan(want[i]))) continue;
    if (isinf(want[i]) || !(fabsf(got[i] - want[i]) <= abs_tol + rel_tol * fabsf(want[i])))
      fail_msg("%s%selement %zu: got %.9g, want %.9g", csm_test_context,
               *csm_test_context ? " " : "", i, (double)got[i], (double)want[i]);
  }
}

void csm_test_assert_tensor_close(const csm_tensor *t, const float *want, size_t n, float abs_tol,
                                  float rel_tol) {
  assert_int_equal(t->dtype, CSM_F32);
  assert_int_equal(csm_tensor_numel(t), n);
  csm_test_assert_close(t->data, want, n, abs_tol, rel_tol);
}

void csm_test_assert_tensor_i32(const csm_tensor *t, const int32_t *want, size_t n) {
  const int32_t *got = t->data;
  assert_int_equal(t->dtype, CSM_I32);
  assert_int_equal(csm_tensor_numel(t), n);
  for (size_t i = 0; i < n; i++)
    if (got[i] != want[i]) fail_msg("element %zu: got %d, want %d", i, got[i], want[i]);
}

void csm_test_expect_error(const struct csm_node *node, const csm_tensor *in, csm_status status,
                           const char *needle) {
  csm_tensor out;
  memset(&out, 0, sizeof out);
  csm_status st = csm_test_run_op(node, in, &out);
  csm_tensor_free(&out);
  const char *err = csm_last_error();
  if (st != status) fail_msg("status %d, want %d (%s)", (int)st, (int)status, err);
  if (!strstr(err, needle)) fail_msg("message \"%s\" lacks \"%s\"", err, needle);
  if (strchr(err, '\n')) fail_msg("message has a newline: %s", err);
}

int csm_test_graph_add(struct csm_graph *g, const char *name, int op, int n_in, const int *in) {
  int idx = -1;
  CSM_ASSERT_OK(csm_graph_add(g, name, (csm_op_kind)op, n_in, in, &idx));
  return idx;
}

int csm_test_graph_const(struct csm_graph *g, const char *name, csm_dtype dtype, int rank,
                         const int64_t *dims, const void *v) {
  int idx = csm_test_graph_add(g, name, CSM_OP_CONST, 0, NULL);
  csm_shape s = csm_shape_make(rank, dims);
  csm_tensor *t = &g->nodes[idx].value;
  CSM_ASSERT_OK(csm_tensor_alloc(t, dtype, &s));
  if (v) memcpy(t->data, v, csm_tensor_numel(t) * 4);
  return idx;
}

int csm_test_next_perm(int *p, int n) {
  int i = n - 2;
  while (i >= 0 && p[i] >= p[i + 1])
    i--;
  if (i < 0) return 0;
  int j = n - 1;
  while (p[j] <= p[i])
    j--;
  int t = p[i];
  p[i] = p[j];
  p[j] = t;
  for (int a = i + 1, b = n - 1; a < b; a++, b--)
    t = p[a], p[a] = p[b], p[b] = t;
  return 1;
}
