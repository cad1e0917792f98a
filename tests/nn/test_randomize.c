/* Cascading weight randomization (csm_model_layers,
 * csm_model_randomize_layers) on a graph built here with three weighted
 * layers, a graph whose two layers share one filter, and the installed
 * gender model when present. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "csm_test.h"
#include "nn/model_internal.h"

static int add(csm_graph *g, const char *name, csm_op_kind op, int n, const int *in) {
  return csm_test_graph_add(g, name, op, n, in);
}

static int add_const(csm_graph *g, const char *name, int rank, const int64_t *dims, uint32_t seed,
                     float lo, float hi) {
  int idx = csm_test_graph_const(g, name, CSM_F32, rank, dims, NULL);
  csm_test_fill_uniform(g->nodes[idx].value.data, csm_tensor_numel(&g->nodes[idx].value), seed, lo,
                        hi);
  return idx;
}

static void set_io(csm_graph *g, int x, int y) {
  g->inputs = malloc(sizeof(int));
  g->inputs[0] = x;
  g->n_inputs = 1;
  g->outputs = malloc(sizeof(int));
  g->output_names = malloc(sizeof(char *));
  g->outputs[0] = y;
  g->output_names[0] = strdup("y");
  g->n_outputs = 1;
  g->path = strdup("randomize-test");
}

static int add_input(csm_graph *g) {
  int64_t dims[4] = {-1, 4, 4, 2};
  int x = add(g, "x", CSM_OP_INPUT, 0, NULL);
  g->nodes[x].value.dtype = CSM_F32;
  g->nodes[x].value.shape = csm_shape_make(4, dims);
  return x;
}

enum { MM_OUT = 32 };
/* The constants of the test model, by name. */
static const char *const CONSTS[] = {"f1", "b1", "f2", "b2", "shape", "f3", "b3", "alpha"};
enum { N_CONSTS = 8 };
/* Layer k's filter and bias names. */
static const char *const FILTER[3] = {"f1", "f2", "f3"};
static const char *const BIAS[3] = {"b1", "b2", "b3"};

/* x [N,4,4,2] -> Conv2D 3x3 (f1 [3,3,2,4], b1, ReLU, SAME) -> DepthwiseConv2D
 * 3x3 (f2 [3,3,4,1], b2, SAME) -> reshape [-1,64] -> MatMul (f3 [64,32], b3,
 * PReLU alpha) -> y [N,32]. Ops are added out of order to exercise the sort.
 * zero_f2: the depthwise filter is all 0. */
static csm_model *build_model(int zero_f2) {
  csm_graph g;
  memset(&g, 0, sizeof g);
  int x = add_input(&g);
  int64_t d1[4] = {3, 3, 2, 4}, d4 = 4, d2[4] = {3, 3, 4, 1}, d3[2] = {64, MM_OUT}, dm = MM_OUT;
  int f1 = add_const(&g, "f1", 4, d1, 1, -0.5f, 0.5f);
  int b1 = add_const(&g, "b1", 1, &d4, 2, 0.1f, 0.5f);
  int f2 = add_const(&g, "f2", 4, d2, 3, -1.0f, 1.0f);
  if (zero_f2) memset(g.nodes[f2].value.data, 0, 36 * sizeof(float));
  int b2 = add_const(&g, "b2", 1, &d4, 4, 0.1f, 0.5f);
  int f3 = add_const(&g, "f3", 2, d3, 5, -0.5f, 0.5f);
  int b3 = add_const(&g, "b3", 1, &dm, 6, 0.1f, 0.5f);
  int alpha = add_const(&g, "alpha", 1, &dm, 7, 0.1f, 0.3f);
  int shp = add(&g, "shape", CSM_OP_CONST, 0, NULL);
  int64_t two = 2;
  csm_shape ss = csm_shape_make(1, &two);
  CSM_ASSERT_OK(csm_tensor_alloc(&g.nodes[shp].value, CSM_I32, &ss));
  ((int32_t *)g.nodes[shp].value.data)[0] = -1;
  ((int32_t *)g.nodes[shp].value.data)[1] = 64;
  /* Forward references are fine: csm_model_from_graph sorts. */
  int n0 = g.n_nodes;
  int mm_in[4] = {n0 + 3, f3, b3, alpha};
  int mm = add(&g, "mm", CSM_OP_MATMUL, 4, mm_in);
  g.nodes[mm].a.has_bias = 1;
  g.nodes[mm].a.act = CSM_ACT_PRELU;
  int c_in[3] = {x, f1, b1};
  int conv = add(&g, "conv", CSM_OP_CONV2D, 3, c_in);
  g.nodes[conv].a.has_bias = 1;
  g.nodes[conv].a.padding = CSM_PAD_SAME;
  g.nodes[conv].a.act = CSM_ACT_RELU;
  int d_in[3] = {conv, f2, b2};
  int dw = add(&g, "dw", CSM_OP_DEPTHWISE_CONV2D, 3, d_in);
  g.nodes[dw].a.has_bias = 1;
  g.nodes[dw].a.padding = CSM_PAD_SAME;
  int r_in[2] = {dw, shp};
  int rs = add(&g, "reshape", CSM_OP_RESHAPE, 2, r_in);
  assert_int_equal(rs, n0 + 3);
  set_io(&g, x, mm);
  csm_model *m;
  CSM_ASSERT_OK(csm_model_from_graph(&g, &m));
  return m;
}

static csm_tensor *value(csm_model *m, const char *name) {
  int i = csm_model_find_node(m, name);
  assert_true(i >= 0);
  return &m->g.nodes[i].value;
}

/* Byte copies of every constant. */
typedef struct snapshot {
  void *data[N_CONSTS];
  size_t bytes[N_CONSTS];
} snapshot;

static snapshot take(csm_model *m) {
  snapshot s;
  for (int k = 0; k < N_CONSTS; k++) {
    csm_tensor *t = value(m, CONSTS[k]);
    s.bytes[k] = csm_tensor_numel(t) * 4;
    s.data[k] = malloc(s.bytes[k]);
    memcpy(s.data[k], t->data, s.bytes[k]);
  }
  return s;
}

static void drop(snapshot *s) {
  for (int k = 0; k < N_CONSTS; k++)
    free(s->data[k]);
}

static int same_bytes(csm_model *m, const snapshot *s, const char *name) {
  for (int k = 0; k < N_CONSTS; k++)
    if (strcmp(CONSTS[k], name) == 0)
      return memcmp(value(m, name)->data, s->data[k], s->bytes[k]) == 0;
  fail_msg("no constant %s", name);
  return 0;
}

static double stddev(const float *v, size_t n) {
  double mean = 0, var = 0;
  for (size_t i = 0; i < n; i++)
    mean += v[i];
  mean /= (double)n;
  for (size_t i = 0; i < n; i++)
    var += (v[i] - mean) * (v[i] - mean);
  return sqrt(var / (double)n);
}

/* y for a fixed batch of two inputs (numel 2 x MM_OUT) into out. */
static void run(csm_model *m, float *out) {
  int64_t dims[4] = {2, 4, 4, 2};
  csm_shape s = csm_shape_make(4, dims);
  csm_tensor x, y;
  CSM_ASSERT_OK(csm_tensor_alloc(&x, CSM_F32, &s));
  csm_test_fill_uniform(x.data, 64, 99, -1.0f, 1.0f);
  CSM_ASSERT_OK(csm_model_run(m, &x, &y));
  assert_int_equal(csm_tensor_numel(&y), 2 * MM_OUT);
  memcpy(out, y.data, 2 * MM_OUT * sizeof(float));
  csm_tensor_free(&x);
  csm_tensor_free(&y);
}

static void test_layers_in_order(void **state) {
  (void)state;
  csm_model *m = build_model(0);
  int nodes[8];
  assert_int_equal(csm_model_layers(m, nodes, 8), 3);
  assert_string_equal(csm_model_node_name(m, nodes[0]), "conv");
  assert_string_equal(csm_model_node_name(m, nodes[1]), "dw");
  assert_string_equal(csm_model_node_name(m, nodes[2]), "mm");
  assert_true(nodes[0] < nodes[1] && nodes[1] < nodes[2]);
  /* A short array gets the first ones; the count is still all of them. */
  int one[1] = {-1};
  assert_int_equal(csm_model_layers(m, one, 1), 3);
  assert_int_equal(one[0], nodes[0]);
  assert_int_equal(csm_model_layers(m, NULL, 0), 3);
  csm_model_free(m);
}

static void test_top_k_changes_exactly_those(void **state) {
  (void)state;
  for (int k = 0; k <= 3; k++) {
    csm_model *m = build_model(0);
    snapshot s = take(m);
    CSM_ASSERT_OK(csm_model_randomize_layers(m, k, 42));
    for (int l = 0; l < 3; l++) {
      const int randomized = l >= 3 - k;
      if (!randomized) {
        assert_true(same_bytes(m, &s, FILTER[l]));
        assert_true(same_bytes(m, &s, BIAS[l]));
        continue;
      }
      /* Every filter value new; biases 0. */
      csm_tensor *f = value(m, FILTER[l]);
      const float *old = NULL;
      for (int c = 0; c < N_CONSTS; c++)
        if (strcmp(CONSTS[c], FILTER[l]) == 0) old = s.data[c];
      size_t n = csm_tensor_numel(f), changed = 0;
      for (size_t i = 0; i < n; i++)
        changed += ((float *)f->data)[i] != old[i];
      assert_int_equal(changed, n);
      csm_tensor *b = value(m, BIAS[l]);
      for (size_t i = 0; i < csm_tensor_numel(b); i++)
        assert_true(((float *)b->data)[i] == 0.0f);
    }
    /* PReLU alphas and non-weight constants are kept. */
    assert_true(same_bytes(m, &s, "alpha"));
    assert_true(same_bytes(m, &s, "shape"));
    drop(&s);
    csm_model_free(m);
  }
}

static void test_std_and_distribution(void **state) {
  (void)state;
  csm_model *m = build_model(0);
  csm_tensor *f = value(m, "f3");
  const size_t n = csm_tensor_numel(f); /* 2048 */
  /* Uniform on [-0.5, 0.5]: std about 1 / sqrt(12). */
  const double sd0 = stddev(f->data, n);
  assert_float_equal(sd0, 1.0 / sqrt(12.0), 0.02);
  CSM_ASSERT_OK(csm_model_randomize_layers(m, 1, 5));
  const float *w = f->data;
  const double sd1 = stddev(w, n);
  assert_true(fabs(sd1 / sd0 - 1.0) < 0.03);
  /* Gaussian, not uniform: about 68.3 % within one sd (uniform: 57.7 %),
   * about 4.6 % beyond two (uniform: none beyond 1.73 sd). */
  size_t in1 = 0, out2 = 0;
  double mean = 0;
  for (size_t i = 0; i < n; i++) {
    in1 += fabs(w[i]) < sd1;
    out2 += fabs(w[i]) > 2 * sd1;
    mean += w[i];
  }
  assert_float_equal((double)in1 / n, 0.683, 0.04);
  assert_float_equal((double)out2 / n, 0.0455, 0.02);
  assert_float_equal(mean / n, 0.0, 0.05 * sd0);
  csm_model_free(m);

  /* A zero filter: std 1 / sqrt(fan_in), fan_in = 3 x 3 for depthwise. */
  m = build_model(1);
  CSM_ASSERT_OK(csm_model_randomize_layers(m, 2, 5));
  csm_tensor *f2 = value(m, "f2");
  assert_float_equal(stddev(f2->data, csm_tensor_numel(f2)), 1.0 / 3.0, 0.01);
  csm_model_free(m);
}

static void test_cascade_and_seed(void **state) {
  (void)state;
  csm_model *a = build_model(0), *b = build_model(0), *c = build_model(0), *d = build_model(0);
  CSM_ASSERT_OK(csm_model_randomize_layers(a, 2, 7));
  CSM_ASSERT_OK(csm_model_randomize_layers(b, 3, 7));
  /* Fresh models: the top two layers get bit-identical values whether two
   * or three layers are randomized. */
  for (int l = 1; l < 3; l++) {
    csm_tensor *fa = value(a, FILTER[l]), *fb = value(b, FILTER[l]);
    assert_memory_equal(fa->data, fb->data, csm_tensor_numel(fa) * 4);
  }
  /* Progressively on one model (top 2, then top 3): layer 0 as in b, bit
   * for bit; the re-randomized top layers as before up to rounding. */
  CSM_ASSERT_OK(csm_model_randomize_layers(a, 3, 7));
  for (int l = 0; l < 3; l++) {
    csm_tensor *fa = value(a, FILTER[l]), *fb = value(b, FILTER[l]);
    if (l == 0) assert_memory_equal(fa->data, fb->data, csm_tensor_numel(fa) * 4);
    for (size_t i = 0; i < csm_tensor_numel(fa); i++)
      assert_float_equal(((float *)fa->data)[i], ((float *)fb->data)[i],
                         1e-5 * (1 + fabs(((float *)fb->data)[i])));
  }
  /* Same seed: the same values; another seed: different ones. */
  CSM_ASSERT_OK(csm_model_randomize_layers(c, 3, 7));
  CSM_ASSERT_OK(csm_model_randomize_layers(d, 3, 8));
  for (int l = 0; l < 3; l++) {
    csm_tensor *fb = value(b, FILTER[l]), *fc = value(c, FILTER[l]), *fd = value(d, FILTER[l]);
    const size_t n = csm_tensor_numel(fb);
    assert_memory_equal(fb->data, fc->data, n * 4);
    size_t same = 0;
    for (size_t i = 0; i < n; i++)
      same += ((float *)fb->data)[i] == ((float *)fd->data)[i];
    assert_int_equal(same, 0);
  }
  /* Layers differ from each other: f1 and f2 (both 3 x 3 x ...) do not
   * start with the same noise. */
  assert_true(((float *)value(b, "f1")->data)[0] / stddev(value(b, "f1")->data, 72) !=
              ((float *)value(b, "f2")->data)[0] / stddev(value(b, "f2")->data, 36));
  csm_model_free(a);
  csm_model_free(b);
  csm_model_free(c);
  csm_model_free(d);
}

static void test_counts(void **state) {
  (void)state;
  csm_model *a = build_model(0), *b = build_model(0);
  snapshot s = take(a);
  assert_int_equal(csm_model_randomize_layers(a, -1, 1), CSM_EUSAGE);
  assert_int_equal(csm_model_randomize_layers(NULL, 1, 1), CSM_EUSAGE);
  for (int k = 0; k < N_CONSTS; k++)
    assert_true(same_bytes(a, &s, CONSTS[k]));
  /* More than there are: all of them. */
  CSM_ASSERT_OK(csm_model_randomize_layers(a, 1000, 3));
  CSM_ASSERT_OK(csm_model_randomize_layers(b, 3, 3));
  for (int k = 0; k < N_CONSTS; k++) {
    csm_tensor *ta = value(a, CONSTS[k]), *tb = value(b, CONSTS[k]);
    assert_memory_equal(ta->data, tb->data, csm_tensor_numel(ta) * 4);
  }
  drop(&s);
  csm_model_free(a);
  csm_model_free(b);
}

static void test_output_changes_plans_dropped(void **state) {
  (void)state;
  csm_model *a = build_model(0), *b = build_model(0);
  float y0[2 * MM_OUT], y1[2 * MM_OUT], yb[2 * MM_OUT];
  run(a, y0); /* a now has a plan cached */
  CSM_ASSERT_OK(csm_model_randomize_layers(a, 1, 11));
  run(a, y1);
  /* b is randomized before its first run, so its plan sees the new weights
   * for sure; a must give the same. */
  CSM_ASSERT_OK(csm_model_randomize_layers(b, 1, 11));
  run(b, yb);
  csm_test_assert_close(y1, yb, 2 * MM_OUT, 0, 0);
  size_t changed = 0;
  for (int i = 0; i < 2 * MM_OUT; i++)
    changed += fabsf(y1[i] - y0[i]) > 1e-4f;
  assert_true(changed > MM_OUT);
  csm_model_free(a);
  csm_model_free(b);
}

/* conv a and conv b both use filter f [3,3,2,2] (no bias): randomized once,
 * by the topmost layer using it, so top 1 and top 2 give the same values. */
static void test_shared_filter(void **state) {
  (void)state;
  csm_model *m[2];
  for (int t = 0; t < 2; t++) {
    csm_graph g;
    memset(&g, 0, sizeof g);
    int x = add_input(&g);
    int64_t df[4] = {3, 3, 2, 2};
    int f = add_const(&g, "f", 4, df, 21, -0.5f, 0.5f);
    int a_in[2] = {x, f};
    int a = add(&g, "a", CSM_OP_CONV2D, 2, a_in);
    g.nodes[a].a.padding = CSM_PAD_SAME;
    int b_in[2] = {a, f};
    int b = add(&g, "b", CSM_OP_CONV2D, 2, b_in);
    g.nodes[b].a.padding = CSM_PAD_SAME;
    set_io(&g, x, b);
    CSM_ASSERT_OK(csm_model_from_graph(&g, &m[t]));
    assert_int_equal(csm_model_layers(m[t], NULL, 0), 2);
  }
  float orig[36];
  memcpy(orig, value(m[0], "f")->data, sizeof orig);
  const double sd0 = stddev(orig, 36);
  CSM_ASSERT_OK(csm_model_randomize_layers(m[0], 1, 3));
  CSM_ASSERT_OK(csm_model_randomize_layers(m[1], 2, 3));
  const float *f0 = value(m[0], "f")->data, *f1 = value(m[1], "f")->data;
  assert_memory_equal(f0, f1, sizeof orig);
  assert_true(memcmp(f0, orig, sizeof orig) != 0);
  /* Randomized once: std of the original, not rescaled twice. */
  assert_float_equal(stddev(f1, 36), sd0, 1e-5);
  csm_model_free(m[0]);
  csm_model_free(m[1]);
}

static void test_gender_model(void **state) {
  (void)state;
  char buf[4096];
  const char *path = csm_test_model_path("gender", buf, sizeof buf);
  if (!path) {
    skip();
    return;
  }
  csm_model *m;
  CSM_ASSERT_OK(csm_model_load(path, &m));
  const int layers = csm_model_layers(m, NULL, 0);
  assert_true(layers > 3);
  csm_shape s = csm_model_input_shape(m, 0);
  for (int k = 0; k < s.rank; k++)
    if (s.d[k] < 0) s.d[k] = 1;
  csm_tensor x, y0, y1;
  CSM_ASSERT_OK(csm_tensor_alloc(&x, CSM_F32, &s));
  csm_test_fill_uniform(x.data, csm_tensor_numel(&x), 5, 0.0f, 1.0f);
  CSM_ASSERT_OK(csm_model_run(m, &x, &y0));
  CSM_ASSERT_OK(csm_model_randomize_layers(m, layers, 2024));
  CSM_ASSERT_OK(csm_model_run(m, &x, &y1));
  assert_int_equal(csm_tensor_numel(&y0), csm_tensor_numel(&y1));
  size_t changed = 0;
  for (size_t i = 0; i < csm_tensor_numel(&y0); i++) {
    const float a = ((float *)y0.data)[i], b = ((float *)y1.data)[i];
    assert_true(isfinite(b));
    changed += fabsf(a - b) > 1e-5f;
  }
  assert_true(changed > 0);
  csm_tensor_free(&x);
  csm_tensor_free(&y0);
  csm_tensor_free(&y1);
  csm_model_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_layers_in_order),
      cmocka_unit_test(test_top_k_changes_exactly_those),
      cmocka_unit_test(test_std_and_distribution),
      cmocka_unit_test(test_cascade_and_seed),
      cmocka_unit_test(test_counts),
      cmocka_unit_test(test_output_changes_plans_dropped),
      cmocka_unit_test(test_shared_filter),
      cmocka_unit_test(test_gender_model),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
