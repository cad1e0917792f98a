/* The ONNX loader on models built here with protobuf-c (initializers:
 * test_onnx_tensors.c): graph inputs with symbolic dimensions, opset
 * checks, and every error the issue names, each a one-line message naming the file and the fault.
 * The last cases run small NCHW models through the operator mappers and check them against values
 * computed here by hand. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csm_test.h"
#include "nn/graph.h"
#include "nn/model_internal.h"
#include "nn/onnx/onnx_internal.h"
#include "onnx_builder.h"

static int setup(void **state) {
  (void)state;
  ob_test_dir("onnx_loader");
  return 0;
}

/* ---- Inputs, opsets, structure ----------------------------------------- */

static void test_inputs_symbolic_batch(void **state) {
  (void)state;
  ob b;
  ob_init(&b, 17);
  int64_t img[4] = {-1, 3, 8, 6}, vec[2] = {-2, 5};
  ob_input(&b, "image", 4, img);
  ob_input(&b, "vec", 2, vec);
  int64_t hwc[4] = {-1, 8, 6, 3}; /* a tf2onnx-style NHWC image */
  ob_input(&b, "nhwc", 4, hwc);
  int64_t wd[1] = {1};
  float w = 1;
  ob_init_f32(&b, "w", 1, wd, &w);
  /* IR < 4 style: the initializer listed among the inputs stays constant. */
  ob_input(&b, "w", 1, wd);
  ob_output(&b, "image");
  ob_output(&b, "vec");
  ob_output(&b, "nhwc");
  ob_output(&b, "w");
  const char *path = tmp_path("inputs.onnx");
  ob_write(&b, path);
  ob_free(&b);
  csm_graph g;
  CSM_ASSERT_OK(load(path, &g));
  assert_int_equal(g.n_inputs, 3);
  const csm_node *in = &g.nodes[g.inputs[0]];
  assert_string_equal(in->name, "image");
  assert_int_equal(in->op, CSM_OP_INPUT);
  int64_t want[4] = {-1, 3, 8, 6};
  assert_int_equal(in->value.shape.rank, 4);
  for (int k = 0; k < 4; k++)
    assert_int_equal(in->value.shape.d[k], want[k]);
  assert_int_equal(g.input_channels_first[0], 1);
  in = &g.nodes[g.inputs[1]];
  assert_int_equal(in->value.shape.d[0], -1); /* no dim_value: run-time */
  assert_int_equal(in->value.shape.d[1], 5);
  assert_int_equal(g.input_channels_first[1], 0);
  assert_string_equal(g.nodes[g.inputs[2]].name, "nhwc");
  assert_int_equal(g.input_channels_first[2], 0); /* channels-last as declared */
  int w_node = csm_graph_find(&g, "w");
  assert_true(w_node >= 0);
  assert_int_equal(g.nodes[w_node].op, CSM_OP_CONST);
  csm_graph_free(&g);
}

static void opset_model(const char *file, int opset) {
  ob b;
  init_model(&b);
  b.opset.version = opset;
  ob_output(&b, "x");
  ob_write(&b, tmp_path(file));
  ob_free(&b);
}

static void test_opsets(void **state) {
  (void)state;
  csm_graph g;
  opset_model("opset11.onnx", 11);
  CSM_ASSERT_OK(load(tmp_path("opset11.onnx"), &g));
  csm_graph_free(&g);
  opset_model("opset17.onnx", 17);
  CSM_ASSERT_OK(load(tmp_path("opset17.onnx"), &g));
  csm_graph_free(&g);
  opset_model("opset10.onnx", 10);
  expect_error(tmp_path("opset10.onnx"), CSM_EUNSUPPORTED,
               "opset 10 of the default domain is not supported (csm supports 11-17)");
  opset_model("opset18.onnx", 18);
  expect_error(tmp_path("opset18.onnx"), CSM_EUNSUPPORTED, "opset 18");
  /* "ai.onnx" names the default domain too; another domain alone is none. */
  ob b;
  init_model(&b);
  b.opset.domain = ob_str(&b, "ai.onnx");
  ob_output(&b, "x");
  ob_write(&b, tmp_path("aionnx.onnx"));
  ob_free(&b);
  CSM_ASSERT_OK(load(tmp_path("aionnx.onnx"), &g));
  csm_graph_free(&g);
  init_model(&b);
  b.opset.domain = ob_str(&b, "com.microsoft");
  ob_output(&b, "x");
  ob_write(&b, tmp_path("nodefault.onnx"));
  ob_free(&b);
  expect_error(tmp_path("nodefault.onnx"), CSM_EINPUT, "no opset_import for the default");
}

static void test_malformed_files(void **state) {
  (void)state;
  const char junk[] = "this is not a protobuf \xff\xff\xff\xff\xff";
  write_bytes(tmp_path("junk.onnx"), junk, sizeof junk);
  expect_error(tmp_path("junk.onnx"), CSM_EINPUT, "not an ONNX model (protobuf parse failed)");
  write_bytes(tmp_path("empty.onnx"), "", 0);
  expect_error(tmp_path("empty.onnx"), CSM_EINPUT, "not an ONNX model (empty file)");
  expect_error(tmp_path("does-not-exist.onnx"), CSM_EIO, "cannot open");
  expect_error(g_dir, CSM_EIO, "not a regular file");

  /* A real model cut at every length: an error or (rarely, at a field
   * boundary) a load, never a crash; the message names the file. */
  ob b;
  init_model(&b);
  int64_t d[2] = {4, 4};
  float w[16] = {0};
  ob_init_f32(&b, "w", 2, d, w);
  ob_output(&b, "w");
  size_t len;
  uint8_t *buf = ob_pack(&b, &len);
  ob_free(&b);
  const char *path = tmp_path("cut.onnx");
  int failures = 0;
  for (size_t n = 1; n < len; n++) {
    csm_graph g;
    write_bytes(path, buf, n);
    failures += load(path, &g) != CSM_OK;
    csm_graph_free(&g);
  }
  /* Cut in the middle of the graph: a parse failure. */
  write_bytes(path, buf, len / 2);
  expect_error(path, CSM_EINPUT, "not an ONNX model");
  free(buf);
  assert_true(failures > (int)len / 2);

  /* A model with no graph. */
  init_model(&b);
  b.model.graph = NULL;
  ob_write(&b, tmp_path("nograph.onnx"));
  ob_free(&b);
  expect_error(tmp_path("nograph.onnx"), CSM_EINPUT, "not an ONNX model (no graph)");
}

static void test_unknown_values(void **state) {
  (void)state;
  ob b;
  int64_t xd[2] = {1, 3};
  const char *in[] = {"x", "missing_w", NULL};
  ob_init(&b, 13);
  ob_input(&b, "x", 2, xd);
  ob_node(&b, "Add", "add_node", in, "y");
  ob_output(&b, "y");
  ob_write(&b, tmp_path("missing_init.onnx"));
  ob_free(&b);
  expect_error(tmp_path("missing_init.onnx"), CSM_EINPUT,
               "node 'add_node' (Add): input 'missing_w' is not produced by any node or "
               "initializer");

  init_model(&b);
  ob_output(&b, "nowhere");
  ob_write(&b, tmp_path("missing_out.onnx"));
  ob_free(&b);
  expect_error(tmp_path("missing_out.onnx"), CSM_EINPUT,
               "graph output 'nowhere' is not produced by any node or initializer");

  init_model(&b);
  ob_write(&b, tmp_path("no_out.onnx"));
  ob_free(&b);
  expect_error(tmp_path("no_out.onnx"), CSM_EINPUT, "the model has no outputs");

  /* Integer graph inputs are not supported. */
  ob_init(&b, 13);
  b.inputs[b.graph.n_input++] =
      ob_value_info(&b, "ids", ONNX__TENSOR_PROTO__DATA_TYPE__INT64, 2, xd);
  ob_output(&b, "ids");
  ob_write(&b, tmp_path("int_input.onnx"));
  ob_free(&b);
  expect_error(tmp_path("int_input.onnx"), CSM_EUNSUPPORTED,
               "graph input 'ids' has element type 7");
}

static void test_unsupported_operator(void **state) {
  (void)state;
  ob b;
  int64_t xd[2] = {1, 3};
  const char *in[] = {"x", NULL};
  ob_init(&b, 13);
  ob_input(&b, "x", 2, xd);
  ob_node(&b, "FancyOp", "fancy_1", in, "y");
  ob_output(&b, "y");
  ob_write(&b, tmp_path("fancy.onnx"));
  ob_free(&b);
  expect_error(tmp_path("fancy.onnx"), CSM_EUNSUPPORTED,
               "fancy.onnx: node 'fancy_1' (FancyOp): unsupported operator");

  /* Unnamed: named by its first output. */
  ob_init(&b, 13);
  ob_input(&b, "x", 2, xd);
  ob_node(&b, "FancyOp", NULL, in, "fancy_out");
  ob_output(&b, "fancy_out");
  ob_write(&b, tmp_path("fancy_unnamed.onnx"));
  ob_free(&b);
  expect_error(tmp_path("fancy_unnamed.onnx"), CSM_EUNSUPPORTED,
               "node 'fancy_out' (FancyOp): unsupported operator");

  /* A newline in a name does not break the line (load() checks). */
  ob_init(&b, 13);
  ob_input(&b, "x", 2, xd);
  ob_node(&b, "FancyOp", "two\nlines", in, "y");
  ob_output(&b, "y");
  ob_write(&b, tmp_path("fancy_newline.onnx"));
  ob_free(&b);
  expect_error(tmp_path("fancy_newline.onnx"), CSM_EUNSUPPORTED,
               "lines' (FancyOp): unsupported operator");

  /* A known op name in another domain is another operator. */
  ob_init(&b, 13);
  ob_input(&b, "x", 2, xd);
  Onnx__NodeProto *n = ob_node(&b, "Relu", "ms_relu", in, "y");
  n->domain = ob_str(&b, "com.microsoft");
  ob_output(&b, "y");
  ob_write(&b, tmp_path("domain.onnx"));
  ob_free(&b);
  expect_error(tmp_path("domain.onnx"), CSM_EUNSUPPORTED,
               "node 'ms_relu' (Relu): unsupported operator (domain 'com.microsoft')");
}

/* ---- With the operator mappers ------------------------------------------ */

static int have_mappers(const char *const *ops) {
  for (int i = 0; ops[i]; i++)
    if (!csm_onnx_find_mapper(ops[i])) {
      print_message("operator mapper for %s not available yet: case skipped\n", ops[i]);
      return 0;
    }
  return 1;
}

static void test_inconsistent_shapes(void **state) {
  (void)state;
  const char *ops[] = {"Add", NULL};
  if (!have_mappers(ops)) skip();
  ob b;
  int64_t ad[2] = {1, 3}, bd[2] = {1, 4};
  const char *in[] = {"a", "b", NULL};
  ob_init(&b, 13);
  ob_input(&b, "a", 2, ad);
  ob_input(&b, "b", 2, bd);
  ob_node(&b, "Add", "bad_add", in, "y");
  ob_output(&b, "y");
  ob_write(&b, tmp_path("shapes.onnx"));
  ob_free(&b);
  csm_graph g;
  csm_status st = load(tmp_path("shapes.onnx"), &g);
  csm_graph_free(&g);
  assert_int_equal(st, CSM_EINPUT);
  /* The planner's message names the IR node (the ONNX output name). */
  if (!strstr(csm_last_error(), "'y'") && !strstr(csm_last_error(), "bad_add"))
    fail_msg("message does not name the node: %s", csm_last_error());
}

enum { CI = 2, CO = 3, IH = 3, IW = 4, KH = 2, KW = 2, OH = IH - KH + 1, OW = IW - KW + 1 };

/* X[1,CI,IH,IW] -> Conv(W[CO,CI,KH,KW], B[CO]) -> Relu -> Y (NCHW). */
static void conv_model(const char *path, const float *wt, const float *bias) {
  ob b;
  int64_t xd[4] = {-1, CI, IH, IW}, wd[4] = {CO, CI, KH, KW}, bd[1] = {CO}, k[2] = {KH, KW};
  const char *cin[] = {"X", "W", "B", NULL}, *rin[] = {"conv_out", NULL};
  ob_init(&b, 13);
  ob_input(&b, "X", 4, xd);
  ob_init_f32(&b, "W", 4, wd, wt);
  ob_init_f32(&b, "B", 1, bd, bias);
  Onnx__NodeProto *conv = ob_node(&b, "Conv", "conv_0", cin, "conv_out");
  ob_attr_ints(&b, conv, "kernel_shape", 2, k);
  ob_node(&b, "Relu", "relu_0", rin, "Y");
  ob_output(&b, "Y");
  ob_write(&b, path);
  ob_free(&b);
}

static void test_nchw_conv_relu(void **state) {
  (void)state;
  const char *ops[] = {"Conv", "Relu", NULL};
  if (!have_mappers(ops)) skip();
  float wt[CO * CI * KH * KW], bias[CO], x[CI * IH * IW], want[CO * OH * OW];
  csm_test_fill_uniform(wt, CO * CI * KH * KW, 11, -1, 1);
  csm_test_fill_uniform(bias, CO, 12, -0.5f, 0.5f);
  csm_test_fill_uniform(x, CI * IH * IW, 13, -1, 1);
  /* By hand, in NCHW / OIHW as ONNX defines Conv. */
  for (int o = 0; o < CO; o++)
    for (int h = 0; h < OH; h++)
      for (int w = 0; w < OW; w++) {
        double s = bias[o];
        for (int c = 0; c < CI; c++)
          for (int i = 0; i < KH; i++)
            for (int j = 0; j < KW; j++)
              s += (double)wt[((o * CI + c) * KH + i) * KW + j] * x[(c * IH + h + i) * IW + w + j];
        want[(o * OH + h) * OW + w] = s > 0 ? (float)s : 0.0f;
      }
  const char *path = tmp_path("conv.onnx");
  conv_model(path, wt, bias);

  csm_model *m;
  CSM_ASSERT_OK(csm_model_load(path, &m));
  assert_int_equal(csm_model_input_channels_first(m, 0), 1);
  assert_string_equal(csm_model_output_name(m, 0), "Y");
  /* The relu's ONNX name still finds its value (fused into the conv). */
  assert_true(csm_model_find_node(m, "Y") >= 0);
  int64_t xd[4] = {1, CI, IH, IW}, yd[4] = {1, CO, OH, OW};
  csm_tensor in = csm_test_tensor_f32(4, xd, x), out;
  CSM_ASSERT_OK(csm_model_run(m, &in, &out));
  csm_test_assert_shape(&out, 4, yd);
  csm_test_assert_tensor_close(&out, want, CO * OH * OW, 1e-5f, 1e-5f);
  csm_tensor_free(&out);

  /* Channels-last: same outputs (still NCHW) from NHWC data. */
  float xl[CI * IH * IW];
  for (int c = 0; c < CI; c++)
    for (int h = 0; h < IH; h++)
      for (int w = 0; w < IW; w++)
        xl[(h * IW + w) * CI + c] = x[(c * IH + h) * IW + w];
  CSM_ASSERT_OK(csm_model_use_channels_last(m));
  assert_int_equal(csm_model_input_channels_first(m, 0), 0);
  csm_shape s = csm_model_input_shape(m, 0);
  int64_t want_in[4] = {-1, IH, IW, CI};
  assert_int_equal(s.rank, 4);
  for (int k = 0; k < 4; k++)
    assert_int_equal(s.d[k], want_in[k]);
  int64_t xld[4] = {1, IH, IW, CI};
  csm_tensor inl = csm_test_tensor_f32(4, xld, xl);
  CSM_ASSERT_OK(csm_model_run(m, &inl, &out));
  csm_test_assert_shape(&out, 4, yd);
  csm_test_assert_tensor_close(&out, want, CO * OH * OW, 1e-5f, 1e-5f);
  csm_tensor_free(&out);
  /* The input's transpose is gone: nothing transposes the input itself. */
  const csm_graph *g = &m->g;
  for (int i = 0; i < g->n_nodes; i++) {
    int src = g->nodes[i].n_in > 0 ? g->nodes[i].in[0] : -1;
    while (src >= 0 && g->nodes[src].op == CSM_OP_IDENTITY)
      src = g->nodes[src].in[0];
    if (g->nodes[i].op == CSM_OP_TRANSPOSE && src == g->inputs[0])
      fail_msg("node '%s' still transposes the input", g->nodes[i].name);
  }
  csm_model_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_inputs_symbolic_batch), cmocka_unit_test(test_opsets),
      cmocka_unit_test(test_malformed_files),       cmocka_unit_test(test_unknown_values),
      cmocka_unit_test(test_unsupported_operator),  cmocka_unit_test(test_inconsistent_shapes),
      cmocka_unit_test(test_nchw_conv_relu),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
