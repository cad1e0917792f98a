/* Planning (shape inference, folding, liveness) and execution. */
#include "plan.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/op.h"

enum { VAL_UNUSED, VAL_CONST, VAL_FOLDED, VAL_RUN };
enum { ARENA_ALIGN = 64 };

struct csm_plan {
  const csm_graph *g;
  int n;
  csm_tensor *val;        /* per node: shape, dtype; data when available */
  unsigned char *kind;    /* VAL_* */
  int *storage;           /* VAL_RUN: storage id (shared by aliases) */
  size_t *storage_offset; /* per storage id */
  size_t *storage_bytes;
  int n_storage;
  int *steps; /* nodes computed at run time, in order */
  int n_steps;
  unsigned char *arena;
  size_t arena_bytes;
  void *scratch;
  size_t scratch_bytes;
  void **prepared;    /* per node: data from op->prepare, or NULL */
  csm_tensor *in_buf; /* operand array for one step */
  int max_in;
  csm_shape *input_shapes;
  double flops;
  size_t folded_bytes; /* constants computed at plan time */
};

const csm_tensor *csm_plan_value(const csm_plan *p, int node) { return &p->val[node]; }
double csm_plan_flops(const csm_plan *p) { return p->flops; }
const int *csm_plan_steps(const csm_plan *p, int *n) {
  *n = p->n_steps;
  return p->steps;
}
bool csm_plan_is_runtime(const csm_plan *p, int node) { return p->kind[node] == VAL_RUN; }
size_t csm_plan_arena_bytes(const csm_plan *p) { return p->arena_bytes; }

bool csm_plan_input_shapes_equal(const csm_plan *p, const csm_shape *shapes) {
  for (int i = 0; i < p->g->n_inputs; i++)
    if (!csm_shape_equal(&p->input_shapes[i], &shapes[i])) return false;
  return true;
}

void csm_plan_free(csm_plan *p) {
  if (!p) return;
  for (int i = 0; i < p->n; i++)
    if (p->kind && p->kind[i] == VAL_FOLDED) csm_tensor_free(&p->val[i]);
  free(p->val);
  free(p->kind);
  free(p->storage);
  free(p->storage_offset);
  free(p->storage_bytes);
  for (int i = 0; p->prepared && i < p->n; i++)
    free(p->prepared[i]);
  free(p->prepared);
  free(p->steps);
  free(p->arena);
  free(p->scratch);
  free(p->in_buf);
  free(p->input_shapes);
  free(p);
}

static csm_status node_fail(const csm_plan *p, int i, csm_status st) {
  const csm_node *n = &p->g->nodes[i];
  return csm_fail_context(st, "%s: node '%s' (%s): ", p->g->path ? p->g->path : "model", n->name,
                          csm_op_name(n->op));
}

/* Operands of node i as seen by its op: shapes always, data when known. */
static void gather_inputs(csm_plan *p, int i) {
  const csm_node *n = &p->g->nodes[i];
  for (int k = 0; k < n->n_in; k++) {
    p->in_buf[k] = p->val[n->in[k]];
    p->in_buf[k].owned = 0;
    if (p->kind[n->in[k]] == VAL_RUN && !p->arena) p->in_buf[k].data = NULL;
  }
}

static csm_status fold_shape(csm_plan *p, int i) {
  const csm_shape *s = &p->val[p->g->nodes[i].in[0]].shape;
  csm_shape vs = {.rank = 1, .d = {s->rank}};
  csm_status st = csm_tensor_alloc(&p->val[i], CSM_I32, &vs);
  if (st) return st;
  for (int k = 0; k < s->rank; k++)
    ((int32_t *)p->val[i].data)[k] = (int32_t)s->d[k];
  p->kind[i] = VAL_FOLDED;
  return CSM_OK;
}

/* Computes node i now because all its operands are constant. An alias op
 * (Reshape, Identity...) of a constant is a view of its data: no copy. */
static csm_status fold_node(csm_plan *p, int i, const csm_op_def *def) {
  if (def->alias) {
    csm_shape shape = p->val[i].shape;
    p->val[i] = csm_tensor_view(&p->in_buf[0], &shape);
    p->kind[i] = VAL_FOLDED;
    return CSM_OK;
  }
  csm_tensor shape_only = p->val[i];
  csm_status st = csm_tensor_alloc(&p->val[i], shape_only.dtype, &shape_only.shape);
  if (st) return st;
  p->kind[i] = VAL_FOLDED;
  void *scratch = NULL;
  size_t bytes = def->scratch ? def->scratch(&p->g->nodes[i], p->in_buf, &p->val[i]) : 0;
  if (bytes && (st = csm_memory_check(bytes, "folding a constant"))) return st;
  if (bytes && !(scratch = csm_malloc(bytes))) return CSM_ENOMEM;
  st = def->forward(&p->g->nodes[i], p->in_buf, &p->val[i], scratch);
  free(scratch);
  return st;
}

/* Folded constants of one plan, all together, within the memory limit. */
static csm_status fold_budget(csm_plan *p, size_t bytes) {
  if (!csm_size_add(p->folded_bytes, bytes, &p->folded_bytes)) p->folded_bytes = SIZE_MAX;
  return csm_memory_check(p->folded_bytes, "constant folding");
}

static csm_status infer_all(csm_plan *p, const csm_shape *input_shapes, const int *needed) {
  const csm_graph *g = p->g;
  csm_status st;
  for (int i = 0; i < p->n; i++) {
    const csm_node *n = &g->nodes[i];
    if (!needed[i]) continue;
    if (n->op == CSM_OP_CONST) {
      p->val[i] = n->value;
      p->val[i].owned = 0;
      p->kind[i] = VAL_CONST;
      continue;
    }
    if (n->op == CSM_OP_INPUT) {
      int k = 0;
      while (k < g->n_inputs && g->inputs[k] != i)
        k++;
      if (k == g->n_inputs)
        return node_fail(p, i, csm_fail(CSM_EINPUT, "input is not a graph input"));
      memset(&p->val[i], 0, sizeof p->val[i]);
      p->val[i].dtype = n->value.dtype;
      p->val[i].shape = input_shapes[k];
      p->kind[i] = VAL_RUN;
      continue;
    }
    const csm_op_def *def = csm_op_def_get(n->op);
    if (!def || !def->infer || (!def->forward && !def->alias))
      return node_fail(p, i, csm_fail(CSM_EUNSUPPORTED, "op has no implementation"));
    if (n->n_in > p->max_in) return node_fail(p, i, csm_fail(CSM_EINTERNAL, "too many operands"));
    gather_inputs(p, i);
    int all_const = 1;
    for (int k = 0; k < n->n_in; k++)
      if (p->kind[n->in[k]] == VAL_RUN) all_const = 0;
    memset(&p->val[i], 0, sizeof p->val[i]);
    st = def->infer(n, p->in_buf, &p->val[i]);
    if (st) return node_fail(p, i, st);
    size_t numel;
    if ((st = csm_shape_numel(&p->val[i].shape, &numel))) return node_fail(p, i, st);
    /* Constant results larger than CSM_MAX_FOLD_BYTES (a 200-byte
     * ConstantOfShape can ask for gigabytes) are computed at run time
     * instead, inside the plan's checked memory; the rest count toward the
     * memory limit as they are made. */
    size_t bytes = numel * 4;
    if (all_const && !def->alias && bytes > CSM_MAX_FOLD_BYTES) all_const = 0;
    if (all_const && !def->alias && (st = fold_budget(p, bytes))) return node_fail(p, i, st);
    if (n->op == CSM_OP_SHAPE) {
      if ((st = fold_shape(p, i))) return node_fail(p, i, st);
    } else if (all_const) {
      if ((st = fold_node(p, i, def))) return node_fail(p, i, st);
    } else {
      p->kind[i] = VAL_RUN;
      p->flops += def->flops ? def->flops(n, p->in_buf, &p->val[i]) : (double)numel;
    }
  }
  return CSM_OK;
}

/* Marks the nodes that some output depends on. */
static void mark_needed(const csm_graph *g, int *needed, int keep_all) {
  for (int i = 0; i < g->n_outputs; i++)
    needed[g->outputs[i]] = 1;
  for (int i = 0; i < g->n_inputs; i++)
    needed[g->inputs[i]] = 1;
  for (int i = g->n_nodes - 1; i >= 0; i--) {
    if (keep_all) needed[i] = 1;
    if (!needed[i]) continue;
    for (int k = 0; k < g->nodes[i].n_in; k++)
      needed[g->nodes[i].in[k]] = 1;
  }
}

/* Above this many storages live at once, a storage goes on top of the
 * arena instead of into the first gap: exact first fit costs
 * O(live log live) per storage, and a graph of 100,000 nodes that keeps every
 * value (a tape) would take minutes. With every value kept, the top is where
 * first fit puts it anyway. */
enum { PLAN_FIRST_FIT_MAX_LIVE = 1024 };

static size_t aligned_size(size_t bytes) {
  return (bytes + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
}

/* A min-heap of storage ids by key[id]. */
static void heap_push(int *h, int *n, const int *key, int v) {
  int i = (*n)++;
  while (i > 0 && key[h[(i - 1) / 2]] > key[v]) {
    h[i] = h[(i - 1) / 2];
    i = (i - 1) / 2;
  }
  h[i] = v;
}

static int heap_pop(int *h, int *n, const int *key) {
  int top = h[0], v = h[--*n], i = 0;
  for (;;) {
    int c = 2 * i + 1;
    if (c >= *n) break;
    if (c + 1 < *n && key[h[c + 1]] < key[h[c]]) c++;
    if (key[h[c]] >= key[v]) break;
    h[i] = h[c];
    i = c;
  }
  if (*n > 0) h[i] = v;
  return top;
}

typedef struct block {
  size_t begin, end;
} block;

static int by_begin(const void *a, const void *b) {
  const block *x = a, *y = b;
  return (x->begin > y->begin) - (x->begin < y->begin);
}

/* First-fit placement of storages by liveness: a storage is live from the
 * step that defines it to the last step that reads it (outputs: to the end).
 * Storage s tries offset 0, then the end of each placed storage live with
 * it, in placement order, and takes the first that overlaps no storage live
 * with it. Storages that no later one can be live with (their last step is
 * before every later first step) leave the search for good, so a long chain
 * costs little; a candidate is checked by binary search in the live blocks
 * sorted by offset (it collides when a block beginning before its end ends
 * after its start). */
static csm_status assign_offsets(csm_plan *p, const int *first, const int *last) {
  int ns = p->n_storage, n_heap = 0, n_live = 0, head = -1, tail = -1;
  csm_status st = CSM_OK;
  int *later_first = csm_malloc_array((size_t)ns + 1, sizeof(int)); /* min first[s..] */
  int *prev = csm_malloc_array((size_t)ns + 1, sizeof(int));
  int *next = csm_malloc_array((size_t)ns + 1, sizeof(int));
  int *heap = csm_malloc_array((size_t)ns + 1, sizeof(int));
  int *cand = csm_malloc_array((size_t)PLAN_FIRST_FIT_MAX_LIVE + 1, sizeof(int));
  block *live = csm_malloc_array((size_t)PLAN_FIRST_FIT_MAX_LIVE + 1, sizeof(block));
  size_t *reach = csm_malloc_array((size_t)PLAN_FIRST_FIT_MAX_LIVE + 1, sizeof(size_t));
  if (!later_first || !prev || !next || !heap || !cand || !live || !reach) {
    st = CSM_ENOMEM;
    goto out;
  }
  for (int s = ns - 1, m = INT32_MAX; s >= 0; s--)
    later_first[s] = m = first[s] < m ? first[s] : m;
  p->arena_bytes = 0;
  for (int s = 0; s < ns; s++) {
    while (n_heap > 0 && last[heap[0]] < later_first[s]) { /* never live again */
      int t = heap_pop(heap, &n_heap, last);
      if (prev[t] >= 0)
        next[prev[t]] = next[t];
      else
        head = next[t];
      if (next[t] >= 0)
        prev[next[t]] = prev[t];
      else
        tail = prev[t];
      n_live--;
    }
    size_t size = aligned_size(p->storage_bytes[s]), offset = 0;
    if (n_live > PLAN_FIRST_FIT_MAX_LIVE) {
      offset = p->arena_bytes;
    } else {
      int n_cand = 0;
      for (int t = head; t >= 0; t = next[t]) {
        if (last[t] < first[s] || first[t] > last[s]) continue; /* not live together */
        cand[n_cand] = t;
        live[n_cand].begin = p->storage_offset[t];
        live[n_cand].end = p->storage_offset[t] + aligned_size(p->storage_bytes[t]);
        n_cand++;
      }
      qsort(live, (size_t)n_cand, sizeof *live, by_begin);
      for (int k = 0; k < n_cand; k++) /* the furthest end of blocks 0..k */
        reach[k] = k && reach[k - 1] > live[k].end ? reach[k - 1] : live[k].end;
      for (int c = -1; c < n_cand; c++) {
        size_t at =
            c < 0 ? 0 : p->storage_offset[cand[c]] + aligned_size(p->storage_bytes[cand[c]]);
        int lo = 0, hi = n_cand; /* blocks [0, lo) begin before at + size */
        while (lo < hi) {
          int mid = (lo + hi) / 2;
          if (live[mid].begin < at + size)
            lo = mid + 1;
          else
            hi = mid;
        }
        if (lo == 0 || reach[lo - 1] <= at) {
          offset = at;
          break;
        }
      }
    }
    p->storage_offset[s] = offset;
    if (offset + size > p->arena_bytes) p->arena_bytes = offset + size;
    prev[s] = tail, next[s] = -1;
    if (tail >= 0)
      next[tail] = s;
    else
      head = s;
    tail = s;
    heap_push(heap, &n_heap, last, s);
    n_live++;
  }
out:
  free(later_first);
  free(prev);
  free(next);
  free(heap);
  free(cand);
  free(live);
  free(reach);
  return st;
}

static csm_status plan_memory(csm_plan *p, int keep_all) {
  const csm_graph *g = p->g;
  csm_status st = CSM_OK;
  int *first = NULL, *last = NULL;
  p->storage = csm_malloc_array((size_t)p->n + 1, sizeof(int));
  p->steps = csm_malloc_array((size_t)p->n + 1, sizeof(int));
  if (!p->storage || !p->steps) return CSM_ENOMEM;
  for (int i = 0; i < p->n; i++)
    p->storage[i] = -1;

  /* Inputs are copied into the arena first (step -1 => 0 here). */
  for (int i = 0; i < p->n; i++) {
    if (p->kind[i] != VAL_RUN) continue;
    const csm_node *n = &g->nodes[i];
    const csm_op_def *def = n->op == CSM_OP_INPUT ? NULL : csm_op_def_get(n->op);
    if (def && def->alias && p->kind[n->in[0]] == VAL_RUN) {
      p->storage[i] = p->storage[n->in[0]];
    } else {
      p->storage[i] = p->n_storage++;
    }
    if (n->op != CSM_OP_INPUT) p->steps[p->n_steps++] = i;
  }
  int ns = p->n_storage;
  p->storage_offset = csm_calloc((size_t)ns + 1, sizeof(size_t));
  p->storage_bytes = csm_calloc((size_t)ns + 1, sizeof(size_t));
  first = csm_malloc_array((size_t)ns + 1, sizeof(int));
  last = csm_malloc_array((size_t)ns + 1, sizeof(int));
  if (!p->storage_offset || !p->storage_bytes || !first || !last) {
    st = CSM_ENOMEM;
    goto out;
  }
  for (int s = 0; s < ns; s++)
    first[s] = last[s] = -1;
  /* Step positions: inputs at 0, step k at k+1. */
  for (int i = 0; i < p->n; i++) {
    if (p->kind[i] != VAL_RUN) continue;
    int s = p->storage[i];
    size_t numel = csm_tensor_numel(&p->val[i]);
    if (numel * 4 > p->storage_bytes[s]) p->storage_bytes[s] = numel * 4;
    if (first[s] < 0 && g->nodes[i].op == CSM_OP_INPUT) first[s] = last[s] = 0;
  }
  for (int k = 0; k < p->n_steps; k++) {
    int i = p->steps[k];
    int s = p->storage[i];
    if (first[s] < 0) first[s] = k + 1;
    if (last[s] < k + 1) last[s] = k + 1;
    for (int j = 0; j < g->nodes[i].n_in; j++) {
      int src = g->nodes[i].in[j];
      if (p->kind[src] == VAL_RUN && last[p->storage[src]] < k + 1) last[p->storage[src]] = k + 1;
    }
  }
  for (int i = 0; i < g->n_outputs; i++) {
    int o = g->outputs[i];
    if (p->kind[o] == VAL_RUN) last[p->storage[o]] = p->n_steps + 1;
  }
  if (keep_all)
    for (int s = 0; s < ns; s++)
      last[s] = p->n_steps + 1;
  if ((st = assign_offsets(p, first, last))) goto out;

  /* Scratch: the most any step asks for. */
  for (int k = 0; k < p->n_steps; k++) {
    int i = p->steps[k];
    const csm_op_def *def = csm_op_def_get(g->nodes[i].op);
    if (def->alias || !def->scratch) continue;
    gather_inputs(p, i);
    size_t b = def->scratch(&g->nodes[i], p->in_buf, &p->val[i]);
    if (b > p->scratch_bytes) p->scratch_bytes = b;
  }
out:
  free(first);
  free(last);
  return st;
}

/* Lets ops transform their constant operands once (see csm_op_def.prepare). */
static csm_status prepare_steps(csm_plan *p) {
  p->prepared = csm_calloc((size_t)p->n + 1, sizeof(void *));
  if (!p->prepared) return CSM_ENOMEM;
  for (int k = 0; k < p->n_steps; k++) {
    int i = p->steps[k];
    const csm_op_def *def = csm_op_def_get(p->g->nodes[i].op);
    if (!def->prepare || !def->prepared_size || !def->forward_prepared) continue;
    gather_inputs(p, i);
    size_t bytes = def->prepared_size(&p->g->nodes[i], p->in_buf);
    if (!bytes) continue;
    p->prepared[i] =
        aligned_alloc(ARENA_ALIGN, (bytes + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN);
    if (!p->prepared[i]) return csm_fail(CSM_ENOMEM, "out of memory for prepared weights");
    def->prepare(&p->g->nodes[i], p->in_buf, p->prepared[i]);
  }
  return CSM_OK;
}

/* What a run needs (the arena, the largest scratch, the prepared filters)
 * against the memory limit, before any of it is allocated: a model whose
 * input is [1,9000,9000,3] asks for gigabytes. */
static csm_status check_memory(csm_plan *p) {
  size_t total = p->arena_bytes;
  bool ok = csm_size_add(total, p->scratch_bytes, &total);
  for (int k = 0; ok && k < p->n_steps; k++) {
    int i = p->steps[k];
    const csm_op_def *def = csm_op_def_get(p->g->nodes[i].op);
    if (!def->prepare || !def->prepared_size || !def->forward_prepared) continue;
    gather_inputs(p, i);
    ok = csm_size_add(total, def->prepared_size(&p->g->nodes[i], p->in_buf), &total);
  }
  if (!ok) total = SIZE_MAX;
  char what[512], shape[128] = "";
  if (p->g->n_inputs > 0) csm_shape_str(&p->input_shapes[0], shape, sizeof shape);
  snprintf(what, sizeof what, "%s: a run%s%s", p->g->path ? p->g->path : "model",
           *shape ? " on input " : "", shape);
  return csm_memory_check(total, what);
}

csm_status csm_plan_create(const csm_graph *g, const csm_shape *input_shapes,
                           const csm_plan_options *opt, csm_plan **out) {
  csm_plan_options defaults = {0};
  csm_status st;
  int *needed = NULL;
  if (!opt) opt = &defaults;
  *out = NULL;
  csm_plan *p = csm_calloc(1, sizeof *p);
  if (!p) return CSM_ENOMEM;
  p->g = g;
  p->n = g->n_nodes;
  p->max_in = 1;
  for (int i = 0; i < g->n_nodes; i++)
    if (g->nodes[i].n_in > p->max_in) p->max_in = g->nodes[i].n_in;
  p->val = csm_calloc((size_t)p->n + 1, sizeof(csm_tensor));
  p->kind = csm_calloc((size_t)p->n + 1, 1);
  p->in_buf = csm_calloc((size_t)p->max_in, sizeof(csm_tensor));
  p->input_shapes = csm_malloc_array((size_t)g->n_inputs + 1, sizeof(csm_shape));
  needed = csm_calloc((size_t)p->n + 1, sizeof(int));
  if (!p->val || !p->kind || !p->in_buf || !p->input_shapes || !needed) {
    st = CSM_ENOMEM;
    goto fail;
  }
  for (int i = 0; i < g->n_inputs; i++) {
    const csm_node *in = &g->nodes[g->inputs[i]];
    const csm_shape *want = &in->value.shape, *got = &input_shapes[i];
    char a[128], b[128];
    int ok = want->rank == got->rank;
    for (int k = 0; ok && k < want->rank; k++)
      if (got->d[k] < 0 || (want->d[k] >= 0 && want->d[k] != got->d[k])) ok = 0;
    if (!ok) {
      st = csm_fail(CSM_EINPUT, "%s: input '%s' expects shape %s, got %s",
                    g->path ? g->path : "model", in->name, csm_shape_str(want, a, sizeof a),
                    csm_shape_str(got, b, sizeof b));
      goto fail;
    }
    p->input_shapes[i] = *got;
  }
  mark_needed(g, needed, opt->keep_all);
  if ((st = infer_all(p, input_shapes, needed))) goto fail;
  if (opt->shapes_only) goto done;
  if ((st = plan_memory(p, opt->keep_all))) goto fail;
  if ((st = check_memory(p))) goto fail;
  p->arena = aligned_alloc(ARENA_ALIGN, p->arena_bytes ? p->arena_bytes : ARENA_ALIGN);
  if (p->scratch_bytes)
    p->scratch = aligned_alloc(ARENA_ALIGN,
                               (p->scratch_bytes + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN);
  if (!p->arena || (p->scratch_bytes && !p->scratch)) {
    st = csm_fail(CSM_ENOMEM, "out of memory for activations (%zu bytes)", p->arena_bytes);
    goto fail;
  }
  for (int i = 0; i < p->n; i++)
    if (p->kind[i] == VAL_RUN) p->val[i].data = p->arena + p->storage_offset[p->storage[i]];
  if ((st = prepare_steps(p))) goto fail;
done:
  free(needed);
  *out = p;
  return CSM_OK;
fail:
  free(needed);
  csm_plan_free(p);
  return st;
}

csm_status csm_plan_run(csm_plan *p, const csm_tensor *inputs) {
  const csm_graph *g = p->g;
  if (!p->arena) return csm_fail(CSM_EUSAGE, "plan was created for shapes only");
  for (int k = 0; k < g->n_inputs; k++) {
    int i = g->inputs[k];
    const csm_tensor *t = &inputs[k];
    char a[128], b[128];
    if (!csm_shape_equal(&t->shape, &p->val[i].shape) || t->dtype != p->val[i].dtype)
      return csm_fail(CSM_EINPUT, "%s: input '%s' expects shape %s, got %s", g->path,
                      g->nodes[i].name, csm_shape_str(&p->val[i].shape, a, sizeof a),
                      csm_shape_str(&t->shape, b, sizeof b));
    size_t n = csm_tensor_numel(t);
    if (t->dtype == CSM_F32) {
      const float *x = t->data;
      for (size_t e = 0; e < n; e++)
        if (!isfinite(x[e]))
          return csm_fail(CSM_EINPUT, "%s: input '%s' has a non-finite value (%s) at element %zu",
                          g->path, g->nodes[i].name, isnan(x[e]) ? "NaN" : "Inf", e);
    }
    if (n) memcpy(p->val[i].data, t->data, n * 4); /* an empty input may have no data */
  }
  for (int k = 0; k < p->n_steps; k++) {
    int i = p->steps[k];
    const csm_node *n = &g->nodes[i];
    const csm_op_def *def = csm_op_def_get(n->op);
    if (def->alias) continue; /* shares its operand's storage */
    gather_inputs(p, i);
    csm_status st =
        p->prepared[i] ? def->forward_prepared(n, p->in_buf, &p->val[i], p->scratch, p->prepared[i])
                       : def->forward(n, p->in_buf, &p->val[i], p->scratch);
    if (st) return node_fail(p, i, st);
  }
  return CSM_OK;
}
