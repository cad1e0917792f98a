/* Reverse-mode differentiation over a kept forward run.
 *
 * csm_tape_forward plans the model for the inputs' shapes with keep_all, so
 * every value (inputs included: the plan copies them into its arena) stays
 * readable after the run. csm_tape_backward then walks the plan's steps in
 * reverse from `from`, keeping gradient buffers only for run-time float
 * values that lie on a path between the wrt nodes and `from`, and calls each
 * op's backward pass (grad/backward.h) for its data operands on that path.
 * A node's gradient buffer is released as soon as its op has passed it on,
 * unless it is asked for.
 *
 * Plan reuse: a keep_all plan is large (every value of the run stays), and
 * a fresh one costs its arena's page faults (the kernel zeroes every page)
 * and the packing of the weights again, which made a tape forward several
 * times a plain run. csm_tape_free therefore parks its plan on the model
 * (m->tape_plan), and the next csm_tape_forward for the same input shapes
 * takes it back. csm_model_free frees it; csm_model_drop_plans (weights
 * randomized or restored) drops it and advances m->weights_gen, and a tape
 * made before such a change does not park its plan (its packed weights and
 * folded values would be stale). With several tapes at once, the first
 * takes the parked plan and the others plan afresh. A parked plan holds its
 * arena (FaceRes at batch 8: ~0.9 GB) until the model is freed, its plans
 * are dropped, or a tape of other shapes takes its place; tapes must be
 * freed before their model. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "grad/backward.h"
#include "model_internal.h"
#include "ops/op.h"

struct csm_tape {
  csm_model *m;
  csm_plan *p;
  unsigned char *needed; /* per node: some output needs it */
  uint64_t weights_gen;  /* the model's weights_gen when the plan was made */
};

static const char *model_path(const csm_model *m) { return m->g.path ? m->g.path : "model"; }

enum { HUGE_PAGE = 2 << 20 };

/* Asks for transparent huge pages on [p, p + bytes) (a hint; errors are
 * ignored): large fresh buffers then fault in 2 MB at a time. */
static void hint_huge(void *p, size_t bytes) {
#ifdef MADV_HUGEPAGE
  uintptr_t lo = ((uintptr_t)p + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
  uintptr_t hi = ((uintptr_t)p + bytes) / HUGE_PAGE * HUGE_PAGE;
  if (hi > lo) (void)madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
#else
  (void)p;
  (void)bytes;
#endif
}

static csm_status tape_node_fail(const csm_tape *t, int i, csm_status st) {
  const csm_node *n = &t->m->g.nodes[i];
  return csm_fail_context(st, "%s: node '%s' (%s): ", model_path(t->m), n->name,
                          csm_op_name(n->op));
}

/* The nodes some output (or input) needs, as the planner marks them without
 * keep_all. */
static void mark_needed(const csm_graph *g, unsigned char *needed) {
  for (int i = 0; i < g->n_outputs; i++)
    needed[g->outputs[i]] = 1;
  for (int i = 0; i < g->n_inputs; i++)
    needed[g->inputs[i]] = 1;
  for (int i = g->n_nodes - 1; i >= 0; i--) {
    if (!needed[i]) continue;
    for (int k = 0; k < g->nodes[i].n_in; k++)
      needed[g->nodes[i].in[k]] = 1;
  }
}

void csm_tape_free(csm_tape *t) {
  if (!t) return;
  /* Park the plan for the next tape (see the top of this file), unless the
   * weights changed since it was made. */
  if (t->p && t->weights_gen == t->m->weights_gen) {
    csm_plan_free(t->m->tape_plan);
    t->m->tape_plan = t->p;
    t->p = NULL;
  }
  csm_plan_free(t->p);
  free(t->needed);
  free(t);
}

csm_status csm_tape_forward(csm_model *m, const csm_tensor *inputs, csm_tape **out) {
  csm_shape shapes[CSM_MODEL_MAX_INPUTS];
  csm_status st;
  *out = NULL;
  if (!m || !inputs) return csm_fail(CSM_EUSAGE, "csm_tape_forward: no model or inputs");
  const csm_graph *g = &m->g;
  if (g->n_inputs > CSM_MODEL_MAX_INPUTS)
    return csm_fail(CSM_EUNSUPPORTED, "%s: more than %d inputs", model_path(m),
                    CSM_MODEL_MAX_INPUTS);
  if (g->n_inputs < 1) return csm_fail(CSM_EUSAGE, "%s: the model has no inputs", model_path(m));
  int64_t batch = inputs[0].shape.rank > 0 ? inputs[0].shape.d[0] : 1;
  for (int i = 0; i < g->n_inputs; i++) {
    char a[128], b[128];
    csm_shape want = csm_model_input_shape(m, i);
    if (inputs[i].shape.rank != want.rank || inputs[i].dtype != g->nodes[g->inputs[i]].value.dtype)
      return csm_fail(CSM_EINPUT, "%s: input '%s' expects shape %s, got %s", model_path(m),
                      csm_model_input_name(m, i), csm_shape_str(&want, a, sizeof a),
                      csm_shape_str(&inputs[i].shape, b, sizeof b));
    if (want.rank == 0 || inputs[i].shape.d[0] != batch || batch < 1)
      return csm_fail(CSM_EINPUT, "%s: inputs disagree on the batch size", model_path(m));
    shapes[i] = inputs[i].shape;
  }
  if (batch != 1 && csm_model_fixed_batch_one(m))
    return csm_fail(CSM_EUSAGE,
                    "%s: the model hard-codes a batch of 1, so a tape takes one input at a time "
                    "(got a batch of %lld)",
                    model_path(m), (long long)batch);
  csm_tape *t = csm_calloc(1, sizeof *t);
  if (!t) return CSM_ENOMEM;
  t->m = m;
  t->needed = csm_calloc((size_t)g->n_nodes + 1, 1);
  if (!t->needed) {
    csm_tape_free(t);
    return CSM_ENOMEM;
  }
  mark_needed(g, t->needed);
  t->weights_gen = m->weights_gen;
  csm_plan *parked = m->tape_plan;
  if (parked && csm_plan_input_shapes_equal(parked, shapes)) {
    /* Made with the current weights (a change would have dropped it);
     * every value is overwritten by the run. */
    t->p = parked;
    m->tape_plan = NULL;
  } else {
    csm_plan_options opt = {.keep_all = 1};
    if ((st = csm_plan_create(g, shapes, &opt, &t->p))) {
      csm_tape_free(t);
      return st;
    }
    /* Every value stays: the arena is large and touched once; huge pages
     * make that much cheaper than faulting it in 4 KB at a time. */
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    for (int i = 0; i < g->n_nodes; i++) {
      if (!csm_plan_is_runtime(t->p, i)) continue;
      const csm_tensor *v = csm_plan_value(t->p, i);
      uintptr_t a = (uintptr_t)v->data, b = a + csm_tensor_numel(v) * 4;
      if (a < lo) lo = a;
      if (b > hi) hi = b;
    }
    if (hi > lo) hint_huge((void *)lo, hi - lo);
  }
  if ((st = csm_plan_run(t->p, inputs))) {
    csm_tape_free(t);
    return st;
  }
  *out = t;
  return CSM_OK;
}

const csm_tensor *csm_tape_value(const csm_tape *t, int node) {
  if (!t || node < 0 || node >= t->m->g.n_nodes || !t->needed[node]) return NULL;
  const csm_tensor *v = csm_plan_value(t->p, node);
  return v->data ? v : NULL;
}

bool csm_tape_computed(const csm_tape *t, int node) {
  return t && node >= 0 && node < t->m->g.n_nodes && csm_plan_is_runtime(t->p, node);
}

/* A float value computed at run time (gradients flow only through those). */
static int differentiable(const csm_tape *t, int node) {
  return csm_plan_is_runtime(t->p, node) && csm_plan_value(t->p, node)->dtype == CSM_F32;
}

/* Gradient buffers come from a small pool: a node's buffer is taken when
 * the first of its consumers passes a gradient back and returned once the
 * node has passed its own on, so only the frontier of the walk is held and
 * fresh memory (page faults dominate otherwise) is touched rarely. */
typedef struct grad_buf {
  float *p;
  size_t floats;
  int used;
} grad_buf;

typedef struct grad_pool {
  grad_buf *b;
  int n, cap;
} grad_pool;

/* Zeroes p[0, floats), in parallel for large buffers (the tape runs
 * outside parallel regions). */
static void zero_floats(float *p, size_t floats) {
  enum { CHUNK = 1 << 16 };
  const size_t chunks = (floats + CHUNK - 1) / CHUNK;
#pragma omp parallel for schedule(static) if (chunks > 8)
  for (size_t c = 0; c < chunks; c++) {
    const size_t i0 = c * CHUNK, n = floats - i0 < CHUNK ? floats - i0 : CHUNK;
    memset(p + i0, 0, n * sizeof(float));
  }
}

/* A zeroed buffer of at least `floats` floats. */
static float *pool_get(grad_pool *pl, size_t floats) {
  int best = -1;
  for (int i = 0; i < pl->n; i++)
    if (!pl->b[i].used && pl->b[i].floats >= floats &&
        (best < 0 || pl->b[i].floats < pl->b[best].floats))
      best = i;
  if (best >= 0 && pl->b[best].floats <= 2 * floats + 1024) {
    pl->b[best].used = 1;
    zero_floats(pl->b[best].p, floats);
    return pl->b[best].p;
  }
  if (pl->n == pl->cap) {
    int cap = pl->cap ? 2 * pl->cap : 16;
    grad_buf *nb = realloc(pl->b, (size_t)cap * sizeof *nb);
    if (!nb) return csm_fail(CSM_ENOMEM, "out of memory for gradients"), NULL;
    pl->b = nb;
    pl->cap = cap;
  }
  size_t bytes = (floats ? floats : 1) * sizeof(float);
  int big = bytes >= HUGE_PAGE;
  bytes = (bytes + (big ? HUGE_PAGE : 64) - 1) / (big ? HUGE_PAGE : 64) * (big ? HUGE_PAGE : 64);
  float *p = aligned_alloc(big ? HUGE_PAGE : 64, bytes);
  if (!p) return csm_fail(CSM_ENOMEM, "out of memory for gradients (%zu bytes)", bytes), NULL;
  if (big) hint_huge(p, bytes);
  zero_floats(p, floats);
  pl->b[pl->n++] = (grad_buf){p, bytes / sizeof(float), 1};
  return p;
}

static void pool_put(grad_pool *pl, const float *p) {
  for (int i = 0; i < pl->n; i++)
    if (pl->b[i].p == p) pl->b[i].used = 0;
}

/* Hands buffer p (holding `floats` values) over to the caller, who frees
 * it: 1 if done (p is not too large and still in the pool). */
static int pool_take(grad_pool *pl, const float *p, size_t floats) {
  for (int i = 0; i < pl->n; i++)
    if (pl->b[i].p == p) {
      if (pl->b[i].floats > floats + floats / 4 + HUGE_PAGE / sizeof(float)) return 0;
      pl->b[i].p = NULL;
      pl->b[i].floats = 0;
      pl->b[i].used = 1;
      return 1;
    }
  return 0;
}

static void pool_free(grad_pool *pl) {
  for (int i = 0; i < pl->n; i++)
    free(pl->b[i].p);
  free(pl->b);
}

/* A node's gradient buffer, taken from the pool on first use. */
static csm_status grad_of(const csm_tape *t, grad_pool *pl, csm_tensor *gb, int node) {
  if (gb[node].data) return CSM_OK;
  const csm_tensor *v = csm_plan_value(t->p, node);
  gb[node].dtype = CSM_F32;
  gb[node].shape = v->shape;
  gb[node].owned = 0;
  gb[node].data = pool_get(pl, csm_tensor_numel(v));
  return gb[node].data ? CSM_OK : CSM_ENOMEM;
}

csm_status csm_tape_backward(csm_tape *t, int from, const csm_tensor *seed, int n_wrt,
                             const int *wrt, csm_tensor *grads) {
  csm_status st = CSM_OK;
  if (!t || !seed || n_wrt < 0 || (n_wrt > 0 && (!wrt || !grads)))
    return csm_fail(CSM_EUSAGE, "csm_tape_backward: missing arguments");
  const csm_graph *g = &t->m->g;
  const int nn = g->n_nodes;
  char a[128], b[128];
  if (from < 0 || from >= nn)
    return csm_fail(CSM_EUSAGE, "%s: node index %d out of range", model_path(t->m), from);
  if (!t->needed[from] || !differentiable(t, from))
    return csm_fail(CSM_EUSAGE,
                    "%s: node '%s' is not a float value computed at run time (a constant, "
                    "folded, int32, or not needed by any output): nothing to differentiate",
                    model_path(t->m), g->nodes[from].name);
  const csm_tensor *fv = csm_plan_value(t->p, from);
  if (seed->dtype != CSM_F32 || !csm_shape_equal(&seed->shape, &fv->shape))
    return csm_fail(CSM_EUSAGE, "%s: the seed for node '%s' must be float32 %s, got %s",
                    model_path(t->m), g->nodes[from].name, csm_shape_str(&fv->shape, a, sizeof a),
                    csm_shape_str(&seed->shape, b, sizeof b));
  for (int k = 0; k < n_wrt; k++) {
    if (wrt[k] < 0 || wrt[k] >= nn)
      return csm_fail(CSM_EUSAGE, "%s: wrt node index %d out of range", model_path(t->m), wrt[k]);
    if (csm_plan_value(t->p, wrt[k])->dtype != CSM_F32)
      return csm_fail(CSM_EUSAGE, "%s: node '%s' is not float32: it has no gradient",
                      model_path(t->m), g->nodes[wrt[k]].name);
  }
  if (n_wrt > 0) memset(grads, 0, (size_t)n_wrt * sizeof *grads);

  grad_pool pool = {NULL, 0, 0};
  unsigned char *dep = csm_calloc((size_t)nn + 1, 1), *reach = csm_calloc((size_t)nn + 1, 1);
  unsigned char *keep = csm_calloc((size_t)nn + 1, 1);
  csm_tensor *gb = csm_calloc((size_t)nn + 1, sizeof *gb);
  csm_tensor *ops = NULL;
  int max_in = 1;
  for (int i = 0; i < nn; i++)
    if (g->nodes[i].n_in > max_in) max_in = g->nodes[i].n_in;
  ops = csm_calloc((size_t)max_in, sizeof *ops);
  if (!dep || !reach || !keep || !gb || !ops) {
    st = CSM_ENOMEM;
    goto out;
  }
  /* dep: depends (through data operands) on a wrt node; nodes are in
   * topological order. reach: `from` depends on it. */
  for (int k = 0; k < n_wrt; k++)
    if (differentiable(t, wrt[k])) dep[wrt[k]] = keep[wrt[k]] = 1;
  for (int i = 0; i < nn && i <= from; i++) {
    const csm_node *n = &g->nodes[i];
    if (dep[i] || !differentiable(t, i)) continue;
    for (int k = 0; k < n->n_in; k++)
      if (csm_backward_operand(n->op, k, n->n_in) && dep[n->in[k]]) dep[i] = 1;
  }
  reach[from] = 1;
  for (int i = from; i >= 0; i--) {
    const csm_node *n = &g->nodes[i];
    if (!reach[i]) continue;
    for (int k = 0; k < n->n_in; k++)
      if (csm_backward_operand(n->op, k, n->n_in) && differentiable(t, n->in[k]))
        reach[n->in[k]] = 1;
  }
  if (dep[from]) {
    if ((st = grad_of(t, &pool, gb, from))) goto out;
    memcpy(gb[from].data, seed->data, csm_tensor_numel(seed) * sizeof(float));
  }

  int n_steps;
  const int *steps = csm_plan_steps(t->p, &n_steps);
  int pos = n_steps - 1;
  while (pos >= 0 && steps[pos] != from)
    pos--;
  for (; pos >= 0; pos--) {
    const int i = steps[pos];
    const csm_node *n = &g->nodes[i];
    if (!gb[i].data) continue;
    csm_backward_fn fn = NULL;
    for (int k = 0; k < n->n_in; k++) {
      const int src = n->in[k];
      if (!csm_backward_operand(n->op, k, n->n_in) || !(dep[src] && reach[src])) continue;
      if (!fn && !(fn = csm_backward_get(n->op))) {
        st = csm_fail(CSM_EUNSUPPORTED, "%s: node '%s' (%s): no backward pass", model_path(t->m),
                      n->name, csm_op_name(n->op));
        goto out;
      }
      for (int q = 0; q < n->n_in; q++) {
        ops[q] = *csm_plan_value(t->p, n->in[q]);
        ops[q].owned = 0;
      }
      csm_tensor outv = *csm_plan_value(t->p, i);
      outv.owned = 0;
      if ((st = grad_of(t, &pool, gb, src))) goto out;
      csm_backward_args args = {n, ops, &outv, &gb[i], k, &gb[src]};
      if ((st = fn(&args))) {
        st = tape_node_fail(t, i, st);
        goto out;
      }
    }
    if (!keep[i]) {
      pool_put(&pool, gb[i].data);
      gb[i].data = NULL;
    }
  }
  for (int k = 0; k < n_wrt; k++) {
    const csm_tensor *v = csm_plan_value(t->p, wrt[k]);
    /* The gradient buffer itself becomes grads[k] (it is a plain aligned
     * allocation, so csm_tensor_free frees it), unless it is much larger
     * than needed or an earlier k took it. */
    if (gb[wrt[k]].data && pool_take(&pool, gb[wrt[k]].data, csm_tensor_numel(v))) {
      grads[k] = gb[wrt[k]];
      grads[k].owned = 1;
      continue;
    }
    if ((st = csm_tensor_alloc(&grads[k], CSM_F32, &v->shape))) goto out;
    if (gb[wrt[k]].data)
      memcpy(grads[k].data, gb[wrt[k]].data, csm_tensor_numel(v) * sizeof(float));
  }
out:
  if (st)
    for (int k = 0; k < n_wrt; k++)
      csm_tensor_free(&grads[k]);
  pool_free(&pool);
  free(gb);
  free(dep);
  free(reach);
  free(keep);
  free(ops);
  return st;
}
