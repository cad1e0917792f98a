/* Checks an op's backward pass against central finite differences.
 *
 * The loss is L = sum_i w_i out_i with fixed random weights w, so that
 * dL/d(out) = w is the seed and every output element matters. For each
 * element j of operand k (all of them, or `max_points` spread evenly),
 * (L(x + eps e_j) - L(x - eps e_j)) / (2 eps), accumulated in double over
 * float forward passes, must match the backward pass within
 * abs_tol + rel_tol * |fd|. Header-only: include it in one test file. */
#ifndef CSM_TEST_GRAD_CHECK_H
#define CSM_TEST_GRAD_CHECK_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "csm_test.h"
#include "nn/grad/backward.h"
#include "nn/ops/op.h"

typedef struct csm_grad_check {
  double eps;     /* default 1e-2 */
  double abs_tol; /* default 2e-3 */
  double rel_tol; /* default 2e-2 */
  int max_points; /* 0: every element */
  uint32_t seed;  /* for w (default 7) */
} csm_grad_check;

static double grad_check_loss(const csm_node *node, const csm_tensor *in, const float *w) {
  csm_tensor out;
  CSM_ASSERT_OK(csm_test_run_op(node, in, &out));
  double l = 0;
  const float *o = out.data;
  for (size_t i = 0; i < csm_tensor_numel(&out); i++)
    l += (double)w[i] * o[i];
  csm_tensor_free(&out);
  return l;
}

/* Checks operand k of node with operands in (their data is modified and
 * restored; it must be writable float32). */
static void csm_grad_check_operand(const csm_node *node, csm_tensor *in, int k,
                                   const csm_grad_check *opt) {
  csm_grad_check o = {1e-2, 2e-3, 2e-2, 0, 7};
  if (opt) {
    if (opt->eps > 0) o.eps = opt->eps;
    if (opt->abs_tol > 0) o.abs_tol = opt->abs_tol;
    if (opt->rel_tol > 0) o.rel_tol = opt->rel_tol;
    o.max_points = opt->max_points;
    if (opt->seed) o.seed = opt->seed;
  }
  csm_tensor out, din;
  CSM_ASSERT_OK(csm_test_run_op(node, in, &out));
  size_t n_out = csm_tensor_numel(&out);
  float *w = malloc(sizeof(float) * (n_out ? n_out : 1));
  csm_test_fill_uniform(w, n_out, o.seed, -1.0f, 1.0f);
  csm_tensor dout = out;
  dout.owned = 0;
  dout.data = w;
  CSM_ASSERT_OK(csm_tensor_alloc(&din, CSM_F32, &in[k].shape));
  /* The backward pass adds: start from a known offset to check that. */
  float *g = din.data;
  size_t n_in = csm_tensor_numel(&in[k]);
  for (size_t i = 0; i < n_in; i++)
    g[i] = 0.25f;
  csm_backward_fn fn = csm_backward_get(node->op);
  if (!fn) fail_msg("%s: no backward function", csm_op_name(node->op));
  csm_backward_args a = {node, in, &out, &dout, k, &din};
  CSM_ASSERT_OK(fn(&a));
  float *x = in[k].data;
  size_t step = 1;
  if (o.max_points > 0 && n_in > (size_t)o.max_points) step = n_in / (size_t)o.max_points;
  for (size_t j = 0; j < n_in; j += step) {
    float keep = x[j];
    x[j] = (float)(keep + o.eps);
    double lp = grad_check_loss(node, in, w);
    x[j] = (float)(keep - o.eps);
    double lm = grad_check_loss(node, in, w);
    x[j] = keep;
    double fd = (lp - lm) / (2 * o.eps), got = (double)g[j] - 0.25;
    if (fabs(got - fd) > o.abs_tol + o.rel_tol * fabs(fd))
      fail_msg("%s%s%s operand %d element %zu: backward %.6g, finite difference %.6g",
               csm_test_context, *csm_test_context ? ": " : "", csm_op_name(node->op), k, j, got,
               fd);
  }
  free(w);
  csm_tensor_free(&din);
  csm_tensor_free(&out);
}

#endif
