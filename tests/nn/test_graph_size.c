/* Large graphs (issue 15): a TF.js model.json of 200,000 nodes took more
 * than a minute to load, because the topological sort scanned every node
 * for each node it placed (and JavaScript key ordering and the signature
 * check compared every pair). Graphs above CSM_MAX_GRAPH_NODES are now
 * refused at once with one line naming the file, graphs at the limit load
 * in well under a second, and the order is the one the quadratic sort gave
 * (the lowest ready index first), checked against a copy of it on random
 * graphs. Planning such a graph is fast too (arena offsets by first fit
 * took minutes for a tape of 100,000 values). An alarm stops a test that
 * would hang (no timing assertions). */
#include <signal.h>
#include <unistd.h>

#include "nn/plan.h"
#include "tfjs_fixture.h"

/* ---- The sort's order --------------------------------------------------- */

/* The former sort, kept as the reference: repeatedly the lowest index whose
 * operands are all placed. order gets n indices; returns how many were
 * placed (< n: a cycle). */
static int reference_order(const csm_graph *g, int *order) {
  int n = g->n_nodes, count = 0;
  int *indeg = calloc((size_t)n + 1, sizeof(int));
  char *done = calloc((size_t)n + 1, 1);
  assert_non_null(indeg);
  assert_non_null(done);
  for (int i = 0; i < n; i++)
    indeg[i] = g->nodes[i].n_in;
  while (count < n) {
    int pick = -1;
    for (int i = 0; i < n && pick < 0; i++)
      if (!done[i] && indeg[i] == 0) pick = i;
    if (pick < 0) break;
    done[pick] = 1;
    order[count++] = pick;
    for (int i = 0; i < n; i++)
      for (int k = 0; !done[i] && k < g->nodes[i].n_in; k++)
        if (g->nodes[i].in[k] == pick) indeg[i]--;
  }
  free(indeg);
  free(done);
  return count;
}

static uint64_t rng_state = 0x2545f4914f6cdd1du;
static unsigned rnd(unsigned n) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (unsigned)(rng_state % n);
}

/* A random DAG of n nodes in a shuffled file order: node at rank r reads up
 * to 4 nodes of lower rank (repeats allowed, as in x * x). */
static void random_dag(csm_graph *g, int n) {
  int *rank_of = malloc((size_t)n * sizeof(int)), *at = malloc((size_t)n * sizeof(int));
  assert_non_null(rank_of);
  assert_non_null(at);
  for (int i = 0; i < n; i++)
    at[i] = i; /* at[rank] = file index */
  for (int i = n - 1; i > 0; i--) {
    int j = (int)rnd((unsigned)i + 1), t = at[i];
    at[i] = at[j];
    at[j] = t;
  }
  for (int r = 0; r < n; r++)
    rank_of[at[r]] = r;
  memset(g, 0, sizeof *g);
  for (int i = 0; i < n; i++) {
    int in[4], n_in = rank_of[i] == 0 ? 0 : (int)rnd(5), idx;
    for (int k = 0; k < n_in; k++)
      in[k] = at[rnd((unsigned)rank_of[i])];
    char name[32];
    snprintf(name, sizeof name, "n%d", i);
    CSM_ASSERT_OK(csm_graph_add(g, name, n_in ? CSM_OP_ADD : CSM_OP_INPUT, n_in, in, &idx));
  }
  g->outputs = malloc(sizeof(int));
  g->outputs[0] = at[n - 1];
  g->n_outputs = 1;
  free(rank_of);
  free(at);
}

static void test_order_matches_reference(void **state) {
  (void)state;
  for (int trial = 0; trial < 200; trial++) {
    csm_graph g;
    int n = 1 + (int)rnd(trial < 100 ? 20 : 400);
    random_dag(&g, n);
    int *want = malloc((size_t)n * sizeof(int));
    char **names = malloc((size_t)n * sizeof(char *));
    assert_int_equal(reference_order(&g, want), n);
    for (int i = 0; i < n; i++)
      names[i] = strdup(g.nodes[want[i]].name);
    const char *out_name = g.nodes[g.outputs[0]].name;
    char out_copy[32];
    snprintf(out_copy, sizeof out_copy, "%s", out_name);
    CSM_ASSERT_OK(csm_graph_toposort(&g));
    for (int i = 0; i < n; i++) {
      assert_string_equal(g.nodes[i].name, names[i]);
      for (int k = 0; k < g.nodes[i].n_in; k++)
        assert_true(g.nodes[i].in[k] < i);
      free(names[i]);
    }
    assert_string_equal(g.nodes[g.outputs[0]].name, out_copy);
    free(names);
    free(want);
    csm_graph_free(&g);
  }
}

/* A cycle names the lowest-index node that cannot be placed, as before. */
static void test_cycle_message(void **state) {
  (void)state;
  csm_graph g = {0};
  int idx, a = 2, b = 3, c = 1;
  CSM_ASSERT_OK(csm_graph_add(&g, "x", CSM_OP_INPUT, 0, NULL, &idx));
  CSM_ASSERT_OK(csm_graph_add(&g, "after", CSM_OP_RELU, 1, &a, &idx));
  CSM_ASSERT_OK(csm_graph_add(&g, "loop_a", CSM_OP_RELU, 1, &b, &idx));
  CSM_ASSERT_OK(csm_graph_add(&g, "loop_b", CSM_OP_RELU, 1, &c, &idx));
  g.nodes[3].in[0] = 2; /* loop_a <-> loop_b; after reads loop_a */
  assert_int_equal(csm_graph_toposort(&g), CSM_EINPUT);
  assert_string_equal(csm_last_error(), "graph has a cycle through node 'after'");
  csm_graph_free(&g);
}

/* ---- The node limit ------------------------------------------------------- */

/* A chain x <- n1 <- ... <- n(count-1) written last-to-first: the worst case
 * of the former sort (each pick scanned to the end of the list). */
static void test_reverse_chain_at_limit(void **state) {
  (void)state;
  const int n = CSM_MAX_GRAPH_NODES;
  csm_graph g = {0};
  g.path = strdup("chain");
  for (int i = 0; i < n; i++) {
    int in = i + 1, idx;
    char name[32];
    snprintf(name, sizeof name, "n%d", n - 1 - i);
    CSM_ASSERT_OK(csm_graph_add(&g, name, i == n - 1 ? CSM_OP_INPUT : CSM_OP_RELU,
                                i == n - 1 ? 0 : 1, &in, &idx));
  }
  /* One more is refused, naming the graph's file. */
  int idx;
  assert_int_equal(csm_graph_add(&g, "extra", CSM_OP_INPUT, 0, NULL, &idx), CSM_EINPUT);
  assert_non_null(strstr(csm_last_error(), "chain: the graph has more than 100000 nodes"));
  CSM_ASSERT_OK(csm_graph_toposort(&g));
  for (int i = 0; i < n; i++) {
    char name[32];
    snprintf(name, sizeof name, "n%d", i);
    assert_string_equal(g.nodes[i].name, name);
    if (i) assert_int_equal(g.nodes[i].in[0], i - 1);
  }
  csm_graph_free(&g);
}

/* Planning a graph at the limit: arena offsets by first fit with storages
 * that can no longer be live dropped from the search (a chain needs two
 * buffers), and a plan that keeps every value (a tape) places 100,000
 * values without comparing each with all the others (that took minutes). */
static void test_plan_chain_at_limit(void **state) {
  (void)state;
  const int n = CSM_MAX_GRAPH_NODES;
  csm_graph g = {0};
  g.path = strdup("chain");
  for (int i = 0; i < n; i++) {
    int in = i - 1, idx;
    char name[32];
    snprintf(name, sizeof name, "n%d", i);
    CSM_ASSERT_OK(csm_graph_add(&g, name, i ? CSM_OP_RELU : CSM_OP_INPUT, i ? 1 : 0, &in, &idx));
  }
  int64_t dims[2] = {1, 4};
  g.nodes[0].value.dtype = CSM_F32;
  g.nodes[0].value.shape = csm_shape_make(2, dims);
  g.inputs = malloc(sizeof(int));
  g.outputs = malloc(sizeof(int));
  g.inputs[0] = 0, g.outputs[0] = n - 1;
  g.n_inputs = g.n_outputs = 1;
  float xv[4] = {-1, 2, -3, 4};
  csm_tensor x = {CSM_F32, csm_shape_make(2, dims), xv, 0};
  for (int keep = 0; keep <= 1; keep++) {
    csm_plan_options opt = {.keep_all = keep};
    csm_plan *p;
    CSM_ASSERT_OK(csm_plan_create(&g, &x.shape, &opt, &p));
    if (keep)
      assert_int_equal(csm_plan_arena_bytes(p), (size_t)n * 64);
    else
      assert_int_equal(csm_plan_arena_bytes(p), 2 * 64);
    CSM_ASSERT_OK(csm_plan_run(p, &x));
    const float *y = csm_plan_value(p, n - 1)->data;
    assert_true(y[0] == 0 && y[1] == 2 && y[2] == 0 && y[3] == 4);
    csm_plan_free(p);
  }
  csm_graph_free(&g);
}

/* model.json of a Placeholder and n - 1 Relus in a chain, the chain written
 * last-to-first; node names "n<k>", or plain numbers when `numeric` (which
 * JavaScript orders as array indices). */
static void write_chain_json(const fixture *f, int n, int numeric) {
  size_t cap = (size_t)n * 64 + 256, len = 0;
  char *s = malloc(cap);
  assert_non_null(s);
  const char *pre = numeric ? "" : "n";
  len += (size_t)snprintf(s + len, cap - len, "{\"modelTopology\":{\"node\":[");
  for (int i = n - 1; i >= 1; i--)
    len += (size_t)snprintf(s + len, cap - len,
                            "{\"name\":\"%s%d\",\"op\":\"Relu\",\"input\":[\"%s%d\"]},", pre, i,
                            pre, i - 1);
  len += (size_t)snprintf(s + len, cap - len,
                          "{\"name\":\"%s0\",\"op\":\"Placeholder\",\"attr\":{\"dtype\":{\"type\":"
                          "\"DT_FLOAT\"},\"shape\":{\"shape\":{\"dim\":[{\"size\":\"1\"}]}}}}]}}",
                          pre);
  write_file(f, "model.json", s, len);
  free(s);
}

static void test_tfjs_over_limit(void **state) {
  fixture *f = *state;
  write_chain_json(f, 200000, 0);
  csm_graph g;
  assert_int_equal(csm_tfjs_load(f->model, &g), CSM_EINPUT);
  const char *err = csm_last_error();
  assert_non_null(strstr(err, f->model));
  assert_non_null(strstr(err, "has 200000 nodes, more than csm's limit of 100000"));
  assert_null(strchr(err, '\n'));
  csm_graph_free(&g);
}

static void test_tfjs_at_limit(void **state) {
  fixture *f = *state;
  for (int numeric = 0; numeric <= 1; numeric++) {
    write_chain_json(f, CSM_MAX_GRAPH_NODES, numeric);
    csm_graph g;
    CSM_ASSERT_OK(csm_tfjs_load(f->model, &g));
    assert_int_equal(g.n_nodes, CSM_MAX_GRAPH_NODES);
    assert_int_equal(g.n_inputs, 1);
    assert_int_equal(g.inputs[0], 0);
    assert_int_equal(g.n_outputs, 1); /* the only node nothing reads */
    assert_int_equal(g.outputs[0], CSM_MAX_GRAPH_NODES - 1);
    csm_graph_free(&g);
  }
}

/* An ONNX graph of 100,001 Relu nodes (raw protobuf: NodeProto { op_type }). */
static void test_onnx_over_limit(void **state) {
  fixture *f = *state;
  const size_t n = CSM_MAX_GRAPH_NODES + 1, node = 8; /* 0a 06 22 04 'Relu' */
  size_t graph = n * node, len = 0;
  unsigned char *b = malloc(graph + 32);
  assert_non_null(b);
  static const unsigned char head[] = {0x08, 0x08, 0x42, 0x02, 0x10, 0x0d, 0x3a};
  memcpy(b, head, sizeof head);
  len = sizeof head;
  for (size_t v = graph;; v >>= 7) { /* the graph's length, a varint */
    b[len++] = (unsigned char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
    if (v <= 0x7f) break;
  }
  for (size_t i = 0; i < n; i++, len += node)
    memcpy(b + len, "\x0a\x06\x22\x04Relu", node);
  write_file(f, "big.onnx", b, len);
  free(b);
  char path[700];
  snprintf(path, sizeof path, "%s/big.onnx", f->dir);
  csm_graph g;
  assert_int_equal(csm_onnx_load(path, &g), CSM_EINPUT);
  assert_non_null(strstr(csm_last_error(), path));
  assert_non_null(strstr(csm_last_error(), "has 100001 nodes, more than csm's limit of 100000"));
  csm_graph_free(&g);
}

int main(void) {
  alarm(120); /* a hang fails the test instead of stalling the suite */
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_order_matches_reference),
      cmocka_unit_test(test_cycle_message),
      cmocka_unit_test(test_reverse_chain_at_limit),
      cmocka_unit_test(test_plan_chain_at_limit),
      cmocka_unit_test_setup_teardown(test_tfjs_over_limit, setup, teardown),
      cmocka_unit_test_setup_teardown(test_tfjs_at_limit, setup, teardown),
      cmocka_unit_test_setup_teardown(test_onnx_over_limit, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
