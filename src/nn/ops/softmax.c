/* Softmax and LogSoftmax over the last axis.
 *
 * Numerically stable (the row maximum is subtracted before exp) and shaped
 * like TF.js's cpu kernel so that results agree to the bit: e = exp(x - max)
 * with exp in double rounded to float32, the row sum accumulated in double in
 * index order and rounded to float32, then a float32 division. Each row is
 * computed by one thread in a fixed order, so results do not depend on the
 * thread count or on the other rows of the batch.
 *
 * exp is the vectorizable double kernel of vmath.h, shared with unary.c; its
 * float32 results equal glibc's for every float input. */
#include "op.h"
#include "vmath.h"
#include "../grad/backward.h"

#include <math.h>

#define PAR_MIN ((size_t)1 << 14)

static csm_status softmax_infer(const csm_node *n, const csm_tensor *in, csm_tensor *out) {
  size_t count;
  const char *op = csm_op_name(n->op);
  if (n->n_in != 1) return csm_fail(CSM_EINPUT, "%s takes 1 input, got %d", op, n->n_in);
  if (in[0].dtype != CSM_F32) return csm_fail(CSM_EUNSUPPORTED, "%s needs a float32 input", op);
  if (in[0].shape.rank < 1) return csm_fail(CSM_EINPUT, "%s needs an input of rank >= 1", op);
  out->dtype = CSM_F32;
  out->shape = in[0].shape;
  return csm_shape_numel(&out->shape, &count);
}

/* exp(x - max) of one row. The maximum does not depend on the order (only
 * the sign of a zero maximum does, and x - m does not see it). A NaN is
 * skipped by the maximum but its own exp is NaN, so the row sum and then the
 * whole row are NaN, as in TF.js. */
static void exp_row(const float *x, float *o, size_t c) {
  float m = -INFINITY;
  for (size_t i = 0; i < c; i++)
    m = x[i] > m ? x[i] : m;
#pragma omp simd
  for (size_t i = 0; i < c; i++)
    o[i] = (float)csm_vexp((double)(x[i] - m));
}

/* Rows [r0, r0 + nr), nr <= ROWS. Each row sum is a serial chain in index
 * order; summing ROWS rows side by side keeps the adder busy without
 * changing any row's order. */
#define ROWS 8
static void softmax_rows(const float *x, float *o, size_t c, size_t nr) {
  double sum[ROWS];
  for (size_t q = 0; q < nr; q++) {
    exp_row(x + q * c, o + q * c, c);
    sum[q] = 0.0;
  }
  if (nr == ROWS) { /* constant trip count: the sums live in registers */
    for (size_t i = 0; i < c; i++)
      for (size_t q = 0; q < ROWS; q++)
        sum[q] += (double)o[q * c + i];
  } else {
    for (size_t q = 0; q < nr; q++)
      for (size_t i = 0; i < c; i++)
        sum[q] += (double)o[q * c + i];
  }
  for (size_t q = 0; q < nr; q++) {
    const float s = (float)sum[q];
    float *oq = o + q * c;
#pragma omp simd
    for (size_t i = 0; i < c; i++)
      oq[i] = oq[i] / s;
  }
}

/* One row of LogSoftmax. A NaN makes the sum NaN and so the whole row; a
 * row of -inf has m = -inf and x - m = NaN everywhere (PyTorch agrees). */
static void log_softmax_row(const float *x, float *o, size_t c) {
  float m = -INFINITY;
  for (size_t i = 0; i < c; i++)
    m = x[i] > m ? x[i] : m;
  double sum = 0.0;
  for (size_t i = 0; i < c; i++)
    sum += csm_vexp((double)x[i] - (double)m);
  const double ls = log(sum);
#pragma omp simd
  for (size_t i = 0; i < c; i++)
    o[i] = (float)(((double)x[i] - (double)m) - ls);
}

static csm_status softmax_forward(const csm_node *n, const csm_tensor *in, csm_tensor *out,
                                  void *scratch) {
  const float *x = in[0].data;
  float *o = out->data;
  size_t total = csm_tensor_numel(out), c = (size_t)in[0].shape.d[in[0].shape.rank - 1], rows;
  (void)scratch;
  if (total == 0 || c == 0) return CSM_OK;
  rows = total / c;
  if (n->op == CSM_OP_LOG_SOFTMAX) {
#pragma omp parallel for schedule(static) if (total >= PAR_MIN && rows > 1)
    for (size_t r = 0; r < rows; r++)
      log_softmax_row(x + r * c, o + r * c, c);
    return CSM_OK;
  }
  size_t blocks = (rows + ROWS - 1) / ROWS;
#pragma omp parallel for schedule(static) if (total >= PAR_MIN && blocks > 1)
  for (size_t b = 0; b < blocks; b++) {
    size_t r0 = b * ROWS, nr = rows - r0 < ROWS ? rows - r0 : ROWS;
    softmax_rows(x + r0 * c, o + r0 * c, c, nr);
  }
  return CSM_OK;
}

static double softmax_flops(const csm_node *n, const csm_tensor *in, const csm_tensor *out) {
  (void)n;
  (void)in;
  return 4.0 * (double)csm_tensor_numel(out); /* max, subtract and exp, sum, divide */
}

const csm_op_def csm_op_softmax = {.infer = softmax_infer,
                                   .forward = softmax_forward,
                                   .flops = softmax_flops,
                                   .backward = csm_backward_softmax};
