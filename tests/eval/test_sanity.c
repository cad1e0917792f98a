/* The cascading randomization check (csm_sanity_run) on a model built
 * here: x [N,8,8,1] -> Conv2D 3x3 (1->8, ReLU) -> Conv2D 3x3 (8->8, ReLU)
 * -> Conv2D 1x1 (8->1) -> mean over H, W -> conf. A map that depends on the
 * model (the vanilla gradient) must drift away from the original and pass;
 * a map that ignores the model (the input itself) must keep a Spearman
 * correlation of exactly 1 and fail. The weights must be restored. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csm/eval.h"
#include "csm/explain.h"
#include "csm_test.h"
#include "nn/model_internal.h"

enum { S = 8 };

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

static int add_conv(csm_graph *g, const char *name, int x, int k, int ci, int co, int relu,
                    uint32_t seed) {
  int64_t fd[4] = {k, k, ci, co}, bd = co;
  char fn[32], bn[32];
  snprintf(fn, sizeof fn, "%s/filter", name);
  snprintf(bn, sizeof bn, "%s/bias", name);
  int f = add_const(g, fn, 4, fd, seed, -0.6f, 0.6f);
  int b = add_const(g, bn, 1, &bd, seed + 100, 0.0f, 0.2f);
  int in[3] = {x, f, b};
  int c = add(g, name, CSM_OP_CONV2D, 3, in);
  g->nodes[c].a.has_bias = 1;
  g->nodes[c].a.padding = CSM_PAD_SAME;
  g->nodes[c].a.act = relu ? CSM_ACT_RELU : CSM_ACT_NONE;
  return c;
}

static csm_model *build_model_side(int side_head) {
  csm_graph g;
  memset(&g, 0, sizeof g);
  int64_t xd[4] = {-1, S, S, 1};
  int x = add(&g, "x", CSM_OP_INPUT, 0, NULL);
  g.nodes[x].value.dtype = CSM_F32;
  g.nodes[x].value.shape = csm_shape_make(4, xd);
  int c1 = add_conv(&g, "conv1", x, 3, 1, 8, 1, 1);
  int c2 = add_conv(&g, "conv2", c1, 3, 8, 8, 1, 2);
  int c3 = add_conv(&g, "conv3", c2, 1, 8, 1, 0, 3);
  int axes = add(&g, "axes", CSM_OP_CONST, 0, NULL);
  int64_t two = 2;
  csm_shape as = csm_shape_make(1, &two);
  CSM_ASSERT_OK(csm_tensor_alloc(&g.nodes[axes].value, CSM_I32, &as));
  ((int32_t *)g.nodes[axes].value.data)[0] = 1;
  ((int32_t *)g.nodes[axes].value.data)[1] = 2;
  int r_in[2] = {c3, axes};
  int y = add(&g, "mean", CSM_OP_REDUCE_MEAN, 2, r_in); /* [N, 1] */
  g.inputs = malloc(sizeof(int));
  g.inputs[0] = x;
  g.n_inputs = 1;
  g.outputs = malloc(2 * sizeof(int));
  g.outputs[0] = y;
  g.output_names = malloc(2 * sizeof(char *));
  g.output_names[0] = strdup("y");
  g.n_outputs = 1;
  if (side_head) {
    /* Another head on conv2 that y does not use, last in the graph. */
    g.outputs[1] = add_conv(&g, "side", c2, 1, 8, 2, 0, 4);
    g.output_names[1] = strdup("side");
    g.n_outputs = 2;
  }
  g.path = strdup("sanity-test");
  csm_model *m;
  CSM_ASSERT_OK(csm_model_from_graph(&g, &m));
  return m;
}

static csm_model *build_model(void) { return build_model_side(0); }

static csm_status score(void *ctx, const float *inputs, int n, float *conf) {
  csm_model *m = ctx;
  int64_t d[4] = {n, S, S, 1};
  csm_tensor in = {CSM_F32, csm_shape_make(4, d), (void *)inputs, 0}, out;
  csm_status st = csm_model_run(m, &in, &out);
  if (st) return st;
  memcpy(conf, out.data, sizeof(float) * (size_t)n);
  csm_tensor_free(&out);
  return CSM_OK;
}

static csm_status conf_grad(void *ctx, const float *raw, int n, float *conf, float *draw) {
  (void)ctx;
  for (int i = 0; i < n; i++)
    conf[i] = raw[i], draw[i] = 1;
  return CSM_OK;
}

typedef struct maps_ctx {
  csm_scorer *s;
  const float *input;
  int calls;
} maps_ctx;

/* Map 0: the vanilla gradient; map 1: the input itself (no model). */
static csm_status maps_fn(void *vctx, float **maps) {
  maps_ctx *c = vctx;
  c->calls++;
  for (int k = 0; k < 2; k++)
    if (!(maps[k] = malloc(sizeof(float) * S * S))) return CSM_ENOMEM;
  csm_method_options opt = csm_method_options_default();
  csm_status st = csm_method_run(c->s, CSM_METHOD_GRADIENT, c->input, &opt, maps[0]);
  memcpy(maps[1], c->input, sizeof(float) * S * S);
  return st;
}

static void test_cascade(void **state) {
  (void)state;
  csm_model *m = build_model();
  assert_int_equal(csm_model_layers(m, NULL, 0), 3);
  csm_scorer s;
  memset(&s, 0, sizeof s);
  s.views = 1, s.size = S, s.channels = 1;
  s.score = score, s.ctx = m;
  s.model = m, s.node = csm_model_output_node(m, 0), s.raw_numel = 1, s.conf_grad = conf_grad;
  float input[S * S], before, after;
  csm_test_fill_uniform(input, S * S, 9, 0, 1);
  CSM_ASSERT_OK(score(m, input, 1, &before));

  maps_ctx c = {&s, input, 0};
  csm_sanity san;
  CSM_ASSERT_OK(csm_sanity_run(m, -1, 3, 1, 2, 1, S, maps_fn, &c, 1, &san));
  assert_int_equal(c.calls, 4); /* the original and 3 steps */
  assert_int_equal(san.n_layers, 3);
  assert_int_equal(san.n_steps, 3);
  for (int t = 1; t <= 3; t++)
    assert_int_equal(san.counts[t], t); /* top 1, top 2, all 3 */
  /* The model-independent map never moves. */
  for (int t = 1; t <= 3; t++) {
    assert_true(fabs(san.spearman[t * 2 + 1] - 1) < 1e-12);
    assert_true(fabs(san.ssim[t * 2 + 1] - 1) < 1e-9);
  }
  assert_false(csm_sanity_pass(&san, 1));
  /* The gradient drifts away once the layers are noise. */
  double last = san.spearman[3 * 2 + 0];
  if (!(last < 0.5)) fail_msg("gradient map Spearman after full randomization %.3f", last);
  assert_true(csm_sanity_pass(&san, 0));
  /* Kept maps: step 0 is the original map. */
  float orig[S * S];
  csm_method_options opt = csm_method_options_default();
  CSM_ASSERT_OK(csm_method_run(&s, CSM_METHOD_GRADIENT, input, &opt, orig));
  csm_test_assert_close(san.step_maps[0], orig, S * S, 0, 0);
  csm_sanity_free(&san);

  /* Weights restored: the same output, bit for bit. */
  CSM_ASSERT_OK(score(m, input, 1, &after));
  assert_true(memcmp(&before, &after, sizeof before) == 0);

  /* More steps than layers: as many steps as layers. */
  c.calls = 0;
  CSM_ASSERT_OK(csm_sanity_run(m, -1, 10, 1, 2, 1, S, maps_fn, &c, 0, &san));
  assert_int_equal(san.n_steps, 3);
  assert_null(san.step_maps);
  csm_sanity_free(&san);
  assert_int_equal(csm_sanity_run(m, -1, 0, 1, 2, 1, S, maps_fn, &c, 0, &san), CSM_EUSAGE);
  csm_model_free(m);
}

static const float *filter(csm_model *m, const char *name) {
  int i = csm_model_find_node(m, name);
  assert_true(i >= 0);
  return m->g.nodes[i].value.data;
}

/* The cascade of an output runs over its own layers only (a head it does
 * not use is left alone), with the same values a layer gets in the
 * cascade over every layer. */
static void test_layers_of_output(void **state) {
  (void)state;
  csm_model *a = build_model_side(1), *b = build_model_side(1);
  int y = csm_model_output_node(a, 0), side = csm_model_output_node(a, 1);
  assert_int_equal(csm_model_layers(a, NULL, 0), 4);
  assert_int_equal(csm_model_layers_of(a, y, NULL, 0), 3);
  assert_int_equal(csm_model_layers_of(a, side, NULL, 0), 3); /* conv1, conv2, side */
  float side_before[16];
  memcpy(side_before, filter(a, "side/filter"), sizeof side_before);
  CSM_ASSERT_OK(csm_model_randomize_layers_of(a, y, 1, 5)); /* conv3 */
  CSM_ASSERT_OK(csm_model_randomize_layers(b, 2, 5));       /* side and conv3 */
  assert_memory_equal(filter(a, "side/filter"), side_before, sizeof side_before);
  assert_memory_not_equal(filter(b, "side/filter"), side_before, sizeof side_before);
  assert_memory_equal(filter(a, "conv3/filter"), filter(b, "conv3/filter"), 8 * sizeof(float));
  csm_model_free(a);
  csm_model_free(b);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_cascade),
                                     cmocka_unit_test(test_layers_of_output)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
