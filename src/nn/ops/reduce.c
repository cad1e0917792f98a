/* Mean, Sum and Max over the axes given by a constant int32 operand (scalar
 * or vector, negative axes count from the end, repeats are ignored as in
 * TensorFlow), with attrs.keep_dims.
 *
 * Numerics follow TF.js's cpu kernels: Sum accumulates in double and rounds
 * once; Mean first divides every element by the reduced count in float32 and
 * then sums (that is how TF.js computes it); Max propagates NaN. Each output
 * element is accumulated by one thread over its reduced elements in row-major
 * order, so results do not depend on the thread count or the batch size.
 *
 * The input is viewed as alternating groups of kept and reduced dimensions
 * (size-1 dimensions dropped, neighbours of the same kind merged). When the
 * innermost group is kept (NHWC global pooling: reduce H,W, keep C) a block of
 * contiguous outputs is accumulated together, which vectorizes; otherwise
 * each output sums a contiguous run. */
#include "op.h"
#include "../grad/backward.h"

#include <math.h>
#include <string.h>

#define PAR_MIN ((size_t)1 << 15)
#define BLK 64 /* outputs accumulated together: 512 bytes of double on the stack */

csm_status csm_reduce_axes(const csm_node *n, const csm_tensor *in, int *flag) {
  int64_t axes[CSM_MAX_RANK];
  int count, rank = in[0].shape.rank;
  csm_status st;
  if (in[1].shape.rank > 1)
    return csm_fail(CSM_EINPUT, "%s: axes must be a scalar or a vector, got rank %d",
                    csm_op_name(n->op), in[1].shape.rank);
  /* An empty axes constant may carry no storage at all. */
  if (in[1].dtype == CSM_I32 && in[1].shape.rank == 1 && in[1].shape.d[0] == 0)
    count = 0;
  else if ((st = csm_op_ints(&in[1], "axes", axes, CSM_MAX_RANK, &count)))
    return st;
  memset(flag, 0, sizeof(int) * CSM_MAX_RANK);
  for (int i = 0; i < count; i++) {
    int64_t a = axes[i] < 0 ? axes[i] + rank : axes[i];
    if (a < 0 || a >= rank)
      return csm_fail(CSM_EINPUT, "%s: axis %lld is out of range for an input of rank %d",
                      csm_op_name(n->op), (long long)axes[i], rank);
    flag[a] = 1;
  }
  return CSM_OK;
}

static csm_status reduce_infer(const csm_node *n, const csm_tensor *in, csm_tensor *out) {
  int flag[CSM_MAX_RANK];
  size_t count;
  csm_status st;
  if (n->n_in != 2)
    return csm_fail(CSM_EINPUT, "%s takes 2 inputs (x, axes), got %d", csm_op_name(n->op), n->n_in);
  if (in[0].dtype != CSM_F32)
    return csm_fail(CSM_EUNSUPPORTED, "%s needs a float32 input", csm_op_name(n->op));
  if ((st = csm_shape_numel(&in[0].shape, &count))) return st;
  if ((st = csm_reduce_axes(n, in, flag))) return st;
  memset(&out->shape, 0, sizeof out->shape);
  for (int i = 0; i < in[0].shape.rank; i++) {
    if (!flag[i])
      out->shape.d[out->shape.rank++] = in[0].shape.d[i];
    else if (n->a.keep_dims)
      out->shape.d[out->shape.rank++] = 1;
  }
  out->dtype = CSM_F32;
  return CSM_OK;
}

/* The reduction laid out as loops: outer kept groups (ko), reduced groups
 * walked by an odometer (rd), and the innermost contiguous group. */
typedef struct plan {
  int nk, nr;
  size_t kd[CSM_MAX_RANK], ks[CSM_MAX_RANK]; /* outer kept groups: size, stride */
  size_t rd[CSM_MAX_RANK], rs[CSM_MAX_RANK]; /* reduced groups on the odometer */
  size_t inner;                              /* size of the innermost group */
  int inner_kept;   /* 1: innermost group is kept (block case), 0: reduced (run case) */
  size_t outer;     /* product of kd */
  size_t positions; /* product of rd */
} plan;

static void make_plan(const csm_shape *s, const int *flag, plan *p) {
  size_t gd[CSM_MAX_RANK], gs[CSM_MAX_RANK];
  int gf[CSM_MAX_RANK], ng = 0;
  memset(p, 0, sizeof *p);
  for (int i = 0; i < s->rank; i++) {
    size_t d = (size_t)s->d[i];
    if (d == 1) continue;
    if (ng > 0 && gf[ng - 1] == flag[i]) {
      gd[ng - 1] *= d;
    } else {
      gd[ng] = d;
      gf[ng++] = flag[i];
    }
  }
  if (ng == 0) { /* a single element */
    gd[0] = 1;
    gf[ng++] = 0;
  }
  size_t stride = 1;
  for (int g = ng - 1; g >= 0; g--) {
    gs[g] = stride;
    stride *= gd[g];
  }
  p->inner = gd[ng - 1];
  p->inner_kept = !gf[ng - 1];
  p->outer = p->positions = 1;
  for (int g = 0; g < ng - 1; g++) {
    if (gf[g]) {
      p->rd[p->nr] = gd[g];
      p->rs[p->nr++] = gs[g];
      p->positions *= gd[g];
    } else {
      p->kd[p->nk] = gd[g];
      p->ks[p->nk++] = gs[g];
      p->outer *= gd[g];
    }
  }
}

static size_t outer_offset(const plan *p, size_t o) {
  size_t off = 0;
  for (int g = p->nk - 1; g >= 0; g--) {
    off += (o % p->kd[g]) * p->ks[g];
    o /= p->kd[g];
  }
  return off;
}

/* Advances the odometer over the reduced groups; roff is the element offset. */
static inline void step(const plan *p, size_t *idx, size_t *roff) {
  for (int g = p->nr - 1; g >= 0; g--) {
    *roff += p->rs[g];
    if (++idx[g] < p->rd[g]) return;
    *roff -= p->rs[g] * p->rd[g];
    idx[g] = 0;
  }
}

/* Block case: BLK neighbouring outputs at once, vectorized across them. */
#define BLOCK_TASK(name, ACC, INIT, STEP, FIN)                                                     \
  static void name(const plan *p, const float *x, float *out, size_t task, float nf) {             \
    size_t nb = (p->inner + BLK - 1) / BLK, o = task / nb, k0 = (task % nb) * BLK;                 \
    size_t bl = p->inner - k0 < BLK ? p->inner - k0 : BLK;                                         \
    size_t idx[CSM_MAX_RANK] = {0}, roff = 0, base = outer_offset(p, o) + k0;                      \
    ACC acc[BLK];                                                                                  \
    (void)nf;                                                                                      \
    for (size_t k = 0; k < bl; k++)                                                                \
      acc[k] = (INIT);                                                                             \
    for (size_t r = 0; r < p->positions; r++) {                                                    \
      const float *xp = x + base + roff;                                                           \
      _Pragma("omp simd") for (size_t k = 0; k < bl; k++) {                                        \
        float v = xp[k];                                                                           \
        ACC a = acc[k];                                                                            \
        acc[k] = (STEP);                                                                           \
      }                                                                                            \
      step(p, idx, &roff);                                                                         \
    }                                                                                              \
    for (size_t k = 0; k < bl; k++) {                                                              \
      ACC a = acc[k];                                                                              \
      out[o * p->inner + k0 + k] = (FIN);                                                          \
    }                                                                                              \
  }

/* Run case: each output sums contiguous runs strictly in index order. That
 * is a serial dependency chain, so RUN outputs are interleaved to keep the
 * adder busy; each one still sees its elements in the same order. */
#define RUN 8
#define RUN_TASK(name, ACC, INIT, STEP, FIN)                                                       \
  static void name(const plan *p, const float *x, float *out, size_t task, float nf) {             \
    size_t idx[CSM_MAX_RANK] = {0}, roff = 0, o0 = task * RUN, base[RUN];                          \
    size_t nb = p->outer - o0 < RUN ? p->outer - o0 : RUN;                                         \
    ACC acc[RUN];                                                                                  \
    (void)nf;                                                                                      \
    for (size_t q = 0; q < nb; q++) {                                                              \
      base[q] = outer_offset(p, o0 + q);                                                           \
      acc[q] = (INIT);                                                                             \
    }                                                                                              \
    for (size_t r = 0; r < p->positions; r++) {                                                    \
      if (nb == RUN) { /* constant trip count: the accumulators stay in registers */               \
        for (size_t j = 0; j < p->inner; j++)                                                      \
          for (size_t q = 0; q < RUN; q++) {                                                       \
            float v = x[base[q] + roff + j];                                                       \
            ACC a = acc[q];                                                                        \
            acc[q] = (STEP);                                                                       \
          }                                                                                        \
      } else {                                                                                     \
        for (size_t q = 0; q < nb; q++)                                                            \
          for (size_t j = 0; j < p->inner; j++) {                                                  \
            float v = x[base[q] + roff + j];                                                       \
            ACC a = acc[q];                                                                        \
            acc[q] = (STEP);                                                                       \
          }                                                                                        \
      }                                                                                            \
      step(p, idx, &roff);                                                                         \
    }                                                                                              \
    for (size_t q = 0; q < nb; q++) {                                                              \
      ACC a = acc[q];                                                                              \
      out[o0 + q] = (FIN);                                                                         \
    }                                                                                              \
  }

#define SUM_STEP (a + (double)v)
#define MEAN_STEP (a + (double)(v / nf))
#define MAX_STEP (((v > a) | (v != v)) ? v : a)

BLOCK_TASK(sum_block, double, 0.0, SUM_STEP, (float)a)
BLOCK_TASK(mean_block, double, 0.0, MEAN_STEP, (float)a)
BLOCK_TASK(max_block, float, -INFINITY, MAX_STEP, a)
RUN_TASK(sum_run, double, 0.0, SUM_STEP, (float)a)
RUN_TASK(mean_run, double, 0.0, MEAN_STEP, (float)a)
RUN_TASK(max_run, float, -INFINITY, MAX_STEP, a)

typedef void (*task_fn)(const plan *p, const float *x, float *out, size_t task, float nf);

static csm_status reduce_forward(const csm_node *n, const csm_tensor *in, csm_tensor *out,
                                 void *scratch) {
  int flag[CSM_MAX_RANK];
  const float *x = in[0].data;
  float *o = out->data;
  size_t total_in = csm_tensor_numel(&in[0]), total_out = csm_tensor_numel(out), tasks;
  task_fn f;
  plan p;
  csm_status st;
  (void)scratch;
  if ((st = csm_reduce_axes(n, in, flag))) return st;
  if (total_out == 0) return CSM_OK;
  if (total_in == 0) {
    /* Empty reductions give the identity (Mean: 0/0), as in TensorFlow. */
    float v = n->op == CSM_OP_REDUCE_SUM ? 0.0f : n->op == CSM_OP_REDUCE_MAX ? -INFINITY : NAN;
    for (size_t i = 0; i < total_out; i++)
      o[i] = v;
    return CSM_OK;
  }
  make_plan(&in[0].shape, flag, &p);
  switch (n->op) {
  case CSM_OP_REDUCE_SUM: f = p.inner_kept ? sum_block : sum_run; break;
  case CSM_OP_REDUCE_MEAN: f = p.inner_kept ? mean_block : mean_run; break;
  case CSM_OP_REDUCE_MAX: f = p.inner_kept ? max_block : max_run; break;
  default: return csm_fail(CSM_EINTERNAL, "%s is not a reduction", csm_op_name(n->op));
  }
  tasks = p.inner_kept ? p.outer * ((p.inner + BLK - 1) / BLK) : (p.outer + RUN - 1) / RUN;
  /* TF.js divides by the reduced count as a float32 scalar. */
  const float nf = (float)(total_in / total_out);
#pragma omp parallel for schedule(static) if (total_in >= PAR_MIN && tasks > 1)
  for (size_t t = 0; t < tasks; t++)
    f(&p, x, o, t, nf);
  return CSM_OK;
}

static double reduce_flops(const csm_node *n, const csm_tensor *in, const csm_tensor *out) {
  (void)n;
  (void)out;
  return (double)csm_tensor_numel(&in[0]);
}

const csm_op_def csm_op_reduce = {.infer = reduce_infer,
                                  .forward = reduce_forward,
                                  .flops = reduce_flops,
                                  .backward = csm_backward_reduce};
