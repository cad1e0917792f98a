/* Graph rewrites run after loading (see graph.h): exact fusions of a bias
 * Add and an activation into the node before them, cancelling transpose
 * pairs, dropping nodes nothing reads, and moving a channels-first input's
 * transpose out of the graph.
 *
 * Every rewrite keeps the arithmetic: the fused epilogue (ops/activation.h)
 * adds the bias to the same sum and applies the same comparison as the
 * separate Add / Relu / PRelu ops, so fused and unfused graphs give the same
 * values. A fused chain takes the name of its LAST node, the one whose value
 * it now produces, so that a user naming that value (an ONNX output name
 * such as "relu_3") still finds it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph.h"

typedef struct rewriter {
  csm_graph *g;
  int *uses;     /* operand references + graph outputs */
  int *consumer; /* some node reading it (the only one if uses == 1) */
  unsigned char *is_output;
  unsigned char *dead;
  unsigned char *stale; /* its consumer info changed during this pass */
} rewriter;

static void rw_free(rewriter *r) {
  free(r->uses);
  free(r->consumer);
  free(r->is_output);
  free(r->dead);
  free(r->stale);
}

static csm_status rw_init(rewriter *r, csm_graph *g) {
  size_t n = (size_t)g->n_nodes + 1;
  memset(r, 0, sizeof *r);
  r->g = g;
  r->uses = csm_calloc(n, sizeof *r->uses);
  r->consumer = csm_calloc(n, sizeof *r->consumer);
  r->is_output = csm_calloc(n, 1);
  r->dead = csm_calloc(n, 1);
  r->stale = csm_calloc(n, 1);
  if (!r->uses || !r->consumer || !r->is_output || !r->dead || !r->stale) {
    rw_free(r);
    return CSM_ENOMEM;
  }
  return CSM_OK;
}

/* Recounts uses over the live nodes. */
static csm_status rw_count(rewriter *r) {
  csm_graph *g = r->g;
  memset(r->uses, 0, (size_t)g->n_nodes * sizeof *r->uses);
  memset(r->is_output, 0, (size_t)g->n_nodes);
  memset(r->stale, 0, (size_t)g->n_nodes);
  for (int i = 0; i < g->n_nodes; i++) {
    if (r->dead[i]) continue;
    for (int k = 0; k < g->nodes[i].n_in; k++) {
      int p = g->nodes[i].in[k];
      if (p < 0 || p >= g->n_nodes)
        return csm_fail(CSM_EINPUT, "node '%s' has an invalid input", g->nodes[i].name);
      r->uses[p]++;
      r->consumer[p] = i;
    }
  }
  for (int i = 0; i < g->n_outputs; i++) {
    r->uses[g->outputs[i]]++;
    r->is_output[g->outputs[i]] = 1;
  }
  return CSM_OK;
}

/* ---- Fusion into Conv2D / DepthwiseConv2D / MatMul ----------------------- */

static const csm_node *const_node(const csm_graph *g, int i) {
  const csm_node *n = &g->nodes[i];
  return n->op == CSM_OP_CONST && n->value.data ? n : NULL;
}

/* Output channels of a fusion target with a constant filter; -1 if none. */
static int64_t target_channels(const csm_graph *g, const csm_node *n) {
  if (n->op != CSM_OP_CONV2D && n->op != CSM_OP_DEPTHWISE_CONV2D && n->op != CSM_OP_MATMUL)
    return -1;
  if (n->n_in < 2 || n->a.act != CSM_ACT_NONE) return -1;
  const csm_node *f = const_node(g, n->in[1]);
  if (!f || f->value.dtype != CSM_F32) return -1;
  const csm_shape *s = &f->value.shape;
  if (n->op == CSM_OP_MATMUL) return s->rank == 2 ? s->d[n->a.transpose_b ? 0 : 1] : -1;
  if (s->rank != 4) return -1;
  return n->op == CSM_OP_CONV2D ? s->d[3] : s->d[2] * s->d[3];
}

/* The largest rank a per-channel operand may have without broadcasting the
 * target's output to more dimensions: convolutions are rank 4; MatMul is at
 * least rank 2 (its exact rank is only known when planning). */
static int target_rank(const csm_node *n) { return n->op == CSM_OP_MATMUL ? 2 : 4; }

/* 1 if node c is a float constant [co] or [1,..,1,co] of rank <= max_rank
 * (or, when `scalar_ok`, a single value), which the fused epilogue applies
 * per channel exactly as the broadcasting binary op would. */
static int per_channel(const csm_graph *g, int c, int64_t co, int max_rank, int scalar_ok) {
  const csm_node *n = const_node(g, c);
  if (!n || n->value.dtype != CSM_F32 || n->value.shape.rank > max_rank) return 0;
  const csm_shape *s = &n->value.shape;
  size_t count = csm_tensor_numel(&n->value);
  if (scalar_ok && count == 1) return 1;
  if (s->rank == 0 || s->d[s->rank - 1] != co) return 0;
  for (int d = 0; d + 1 < s->rank; d++)
    if (s->d[d] != 1) return 0;
  return 1;
}

/* Moves target i (inputs plus `extra`, if >= 0) into node j, which becomes
 * the fused node; i is left dead. */
static csm_status fuse_into(rewriter *r, int i, int j, int extra, const csm_attrs *a) {
  csm_graph *g = r->g;
  csm_node *ti = &g->nodes[i], *tj = &g->nodes[j];
  int n_in = ti->n_in + (extra >= 0);
  int *in = csm_malloc_array((size_t)n_in, sizeof *in);
  if (!in) return CSM_ENOMEM;
  memcpy(in, ti->in, (size_t)ti->n_in * sizeof *in);
  if (extra >= 0) in[n_in - 1] = extra;
  free(tj->in);
  tj->in = in;
  tj->n_in = n_in;
  tj->op = ti->op;
  tj->a = *a;
  r->dead[i] = 1;
  for (int k = 0; k < n_in; k++)
    r->stale[in[k]] = 1;
  return CSM_OK;
}

/* Tries to fuse node i's sole consumer into it; *done = 1 if it did. */
static csm_status try_fuse(rewriter *r, int i, int *done) {
  csm_graph *g = r->g;
  const csm_node *n = &g->nodes[i];
  *done = 0;
  int64_t co = target_channels(g, n);
  if (co < 1 || r->uses[i] != 1 || r->is_output[i] || r->stale[i]) return CSM_OK;
  int j = r->consumer[i];
  const csm_node *m = &g->nodes[j];
  csm_attrs a = n->a;
  int extra = -1;
  switch (m->op) {
  case CSM_OP_ADD: {
    if (m->n_in != 2 || n->a.has_bias) return CSM_OK;
    int other = m->in[0] == i ? m->in[1] : m->in[0];
    if (!per_channel(g, other, co, target_rank(n), 0)) return CSM_OK;
    a.has_bias = 1;
    extra = other;
    break;
  }
  case CSM_OP_RELU: a.act = CSM_ACT_RELU; break;
  case CSM_OP_RELU6: a.act = CSM_ACT_RELU6; break;
  case CSM_OP_LEAKY_RELU:
    a.act = CSM_ACT_LEAKY_RELU;
    a.alpha = m->a.alpha;
    break;
  case CSM_OP_PRELU:
    if (m->n_in != 2 || m->in[0] != i || !per_channel(g, m->in[1], co, target_rank(n), 1))
      return CSM_OK;
    a.act = CSM_ACT_PRELU;
    extra = m->in[1];
    break;
  default: return CSM_OK;
  }
  if (m->op != CSM_OP_ADD && m->op != CSM_OP_PRELU && m->n_in != 1) return CSM_OK;
  *done = 1;
  return fuse_into(r, i, j, extra, &a);
}

/* ---- Transposes ---------------------------------------------------------- */

/* A TRANSPOSE of a TRANSPOSE whose perms compose to the identity reads the
 * inner one's input through an IDENTITY (an alias: no copy at run time). */
static int cancel_transpose(rewriter *r, int j) {
  csm_graph *g = r->g;
  csm_node *outer = &g->nodes[j];
  if (outer->op != CSM_OP_TRANSPOSE || outer->n_in != 1) return 0;
  int i = outer->in[0];
  const csm_node *inner = &g->nodes[i];
  if (r->dead[i] || inner->op != CSM_OP_TRANSPOSE || inner->n_in != 1 ||
      inner->a.n_perm != outer->a.n_perm || outer->a.n_perm < 1 || outer->a.n_perm > CSM_MAX_RANK)
    return 0;
  /* out dim d = mid dim q[d] = in dim p[q[d]]. */
  for (int d = 0; d < outer->a.n_perm; d++) {
    int q = outer->a.perm[d];
    if (q < 0 || q >= inner->a.n_perm || inner->a.perm[q] != d) return 0;
  }
  outer->op = CSM_OP_IDENTITY;
  outer->in[0] = inner->in[0];
  outer->a = csm_attrs_default();
  r->uses[i]--;
  r->uses[outer->in[0]]++;
  /* Its consumer information is out of date until the next count. */
  r->stale[outer->in[0]] = 1;
  return 1;
}

/* ---- Dead nodes and compaction ------------------------------------------- */

/* Marks every node that nothing reads (not an output, not an INPUT, whose
 * index the signature keeps), then those only they read, and so on. */
static void mark_dead(rewriter *r) {
  csm_graph *g = r->g;
  int changed = 1;
  while (changed) {
    changed = 0;
    for (int i = g->n_nodes - 1; i >= 0; i--) {
      if (r->dead[i] || r->uses[i] > 0 || g->nodes[i].op == CSM_OP_INPUT) continue;
      r->dead[i] = 1;
      changed = 1;
      for (int k = 0; k < g->nodes[i].n_in; k++)
        r->uses[g->nodes[i].in[k]]--;
    }
  }
}

static csm_status compact(rewriter *r) {
  csm_graph *g = r->g;
  int *pos = csm_malloc_array((size_t)g->n_nodes + 1, sizeof *pos);
  if (!pos) return CSM_ENOMEM;
  int n = 0;
  for (int i = 0; i < g->n_nodes; i++) {
    if (r->dead[i]) {
      free(g->nodes[i].name);
      free(g->nodes[i].in);
      csm_tensor_free(&g->nodes[i].value);
      pos[i] = -1;
      continue;
    }
    pos[i] = n;
    g->nodes[n++] = g->nodes[i];
  }
  for (int i = 0; i < n; i++)
    for (int k = 0; k < g->nodes[i].n_in; k++)
      g->nodes[i].in[k] = pos[g->nodes[i].in[k]];
  for (int i = 0; i < g->n_inputs; i++)
    g->inputs[i] = pos[g->inputs[i]];
  for (int i = 0; i < g->n_outputs; i++)
    g->outputs[i] = pos[g->outputs[i]];
  g->n_nodes = n;
  free(pos);
  return CSM_OK;
}

csm_status csm_graph_simplify(csm_graph *g) {
  rewriter r;
  csm_status st = rw_init(&r, g);
  if (st) return st;
  for (int changed = 1; changed && !st;) {
    changed = 0;
    if ((st = rw_count(&r))) break;
    for (int i = 0; i < g->n_nodes && !st; i++) {
      int done = 0;
      if (r.dead[i]) continue;
      changed |= cancel_transpose(&r, i);
      st = try_fuse(&r, i, &done);
      changed |= done;
    }
  }
  if (!st) st = rw_count(&r);
  if (!st) {
    mark_dead(&r);
    st = compact(&r);
  }
  rw_free(&r);
  return st;
}

/* ---- Channels-last inputs ------------------------------------------------- */

/* "<base>/nchw", or with a numeric suffix when that name is taken. */
static char *free_name(const csm_graph *g, const char *base) {
  size_t len = strlen(base) + 32;
  char *name = csm_malloc(len);
  if (!name) return NULL;
  snprintf(name, len, "%s/nchw", base);
  for (int k = 1; csm_graph_find(g, name) >= 0; k++)
    snprintf(name, len, "%s/nchw_%d", base, k);
  return name;
}

csm_status csm_graph_inputs_channels_last(csm_graph *g) {
  static const int to_nchw[4] = {0, 3, 1, 2};
  csm_status st;
  if (!g->input_channels_first) return CSM_OK;
  for (int k = 0; k < g->n_inputs; k++) {
    const csm_node *in = &g->nodes[g->inputs[k]];
    if (g->input_channels_first[k] && in->value.shape.rank != 4)
      return csm_fail(CSM_EINTERNAL, "%s: input '%s' is marked channels-first but has rank %d",
                      g->path ? g->path : "model", in->name, in->value.shape.rank);
  }
  for (int k = 0; k < g->n_inputs; k++) {
    if (!g->input_channels_first[k]) continue;
    int x = g->inputs[k], t;
    char *name = free_name(g, g->nodes[x].name);
    if (!name) return CSM_ENOMEM;
    st = csm_graph_add(g, name, CSM_OP_TRANSPOSE, 1, &x, &t);
    free(name);
    if (st) return st;
    memcpy(g->nodes[t].a.perm, to_nchw, sizeof to_nchw);
    g->nodes[t].a.n_perm = 4;
    /* Everything that read the NCHW input now reads the transpose. */
    for (int i = 0; i < g->n_nodes; i++)
      for (int e = 0; i != t && e < g->nodes[i].n_in; e++)
        if (g->nodes[i].in[e] == x) g->nodes[i].in[e] = t;
    for (int o = 0; o < g->n_outputs; o++)
      if (g->outputs[o] == x) g->outputs[o] = t;
    csm_shape *s = &g->nodes[x].value.shape;
    csm_shape nchw = *s;
    s->d[1] = nchw.d[2];
    s->d[2] = nchw.d[3];
    s->d[3] = nchw.d[1];
    g->input_channels_first[k] = 0;
  }
  if ((st = csm_graph_toposort(g))) return st;
  return csm_graph_simplify(g);
}
