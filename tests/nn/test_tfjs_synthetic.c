/* The TF.js graph-model loader on hand-made models: weight decoding
 * (float16 and quantized weights, shards), attributes, and TF.js's choice
 * and order of inputs and outputs. Error classes are in test_tfjs_errors.c,
 * the real models in test_tfjs_loader.c. */
#include "tfjs_fixture.h"

#include <math.h>

/* ---- Weight decoding ------------------------------------------------------ */

static void test_half_exhaustive(void **state) {
  (void)state;
  for (uint32_t h = 0; h < 65536; h++) {
    uint32_t got = f32_bits(csm_tfjs_half_to_float((uint16_t)h));
    if (got != tfjs_half_bits((uint16_t)h))
      fail_msg("half 0x%04x -> 0x%08x, TF.js 0x%08x", h, got, tfjs_half_bits((uint16_t)h));
  }
}

static void test_weight_values(void **state) {
  fixture *f = *state;
  unsigned char g0[40], g1[14];
  /* Group 0, split over two shards inside f16: f32[2], skip[1], f16[8], i32[3]. */
  put_f32(g0 + 0, 1.5f);
  put_f32(g0 + 4, -2.25f);
  put_f32(g0 + 8, 99.0f);
  /* Non-finite halves (0x7C00, 0xFE00) are refused at load since weights
   * must be finite (test_tfjs_errors.c); -0 and -1 stand in for them. */
  const uint16_t halves[8] = {0x3C00, 0xC000, 0x0001, 0x8200, 0x7BFF, 0x0400, 0x8000, 0xBC00};
  for (int i = 0; i < 8; i++)
    put_u16(g0 + 12 + 2 * i, halves[i]);
  put_u32(g0 + 28, 7);
  put_u32(g0 + 32, (uint32_t)-8);
  put_u32(g0 + 36, 2147483647u);
  write_file(f, "a.bin", g0, 14);
  write_file(f, "b.bin", g0 + 14, 26);
  /* Group 1: u8[4] (0.5, -1), u8b[1] (0.1, -0.3), u16[2] (0.25, 10), iq int32[5] (0.5, -1.5). */
  const unsigned char u8[4] = {0, 3, 255, 7};
  memcpy(g1, u8, 4);
  g1[4] = 7;
  put_u16(g1 + 5, 1);
  put_u16(g1 + 7, 65535);
  for (int i = 0; i < 5; i++)
    g1[9 + i] = (unsigned char)i;
  write_file(f, "c.bin", g1, 14);
  // clang-format off
  write_json(f,
    TOPO(PH("x") ","
         CONST("f32", "{'size':'2'}") ","
         CONST("f16", "{'size':'2'},{'size':'4'}") ","
         CONSTD("i32", "DT_INT32", "{'size':'3'}") ","
         CONST("u8", "{'size':'4'}") ","
         CONST("u8b", "{'size':'1'}") ","
         CONST("u16", "{'size':'2'}") ","
         CONSTD("iq", "DT_INT32", "{'size':'5'}") ","
         NODE("y", "Identity", "'x'", ""))
    ",'signature':{'outputs':{'y':{'name':'y:0'}}},"
    "'weightsManifest':["
    "{'paths':['a.bin','b.bin'],'weights':["
      F32("f32", "2") "," F32("skip", "1") ","
      "{'name':'f16','shape':[2,4],'dtype':'float32','quantization':{'dtype':'float16'}},"
      "{'name':'i32','shape':[3],'dtype':'int32'}]},"
    "{'paths':['c.bin'],'weights':["
      "{'name':'u8','shape':[4],'dtype':'float32',"
        "'quantization':{'dtype':'uint8','scale':0.5,'min':-1}},"
      "{'name':'u8b','shape':[1],'dtype':'float32',"
        "'quantization':{'dtype':'uint8','scale':0.1,'min':-0.3}},"
      "{'name':'u16','shape':[2],'dtype':'float32',"
        "'quantization':{'dtype':'uint16','scale':0.25,'min':10}},"
      "{'name':'iq','shape':[5],'dtype':'int32',"
        "'quantization':{'dtype':'uint8','scale':0.5,'min':-1.5}}]}]}");
  // clang-format on
  csm_graph g;
  load_ok(f, &g);
  assert_int_equal(g.n_nodes, 9);
  const csm_tensor *t = &g.nodes[csm_graph_find(&g, "f32")].value;
  assert_int_equal(t->dtype, CSM_F32);
  assert_int_equal(t->shape.rank, 1);
  assert_true(((float *)t->data)[0] == 1.5f && ((float *)t->data)[1] == -2.25f);

  t = &g.nodes[csm_graph_find(&g, "f16")].value;
  assert_int_equal(t->shape.rank, 2);
  assert_int_equal(t->shape.d[1], 4);
  const float *h = t->data;
  assert_true(h[0] == 1.0f);
  assert_true(h[1] == -2.0f);
  assert_true(h[2] == 5.9604644775390625e-08f); /* 2^-24, the smallest subnormal */
  assert_true(h[3] == -3.0517578125e-05f);      /* -2^-15, a negative subnormal */
  assert_true(h[4] == 65504.0f);
  assert_true(h[5] == 6.103515625e-05f);      /* 2^-14 */
  assert_true(h[6] == 0.0f && signbit(h[6])); /* -0 */
  assert_true(h[7] == -1.0f);

  t = &g.nodes[csm_graph_find(&g, "i32")].value;
  assert_int_equal(t->dtype, CSM_I32);
  const int32_t *iv = t->data;
  assert_true(iv[0] == 7 && iv[1] == -8 && iv[2] == 2147483647);

  const float *u = g.nodes[csm_graph_find(&g, "u8")].value.data;
  assert_true(u[0] == -1.0f && u[1] == 0.5f && u[2] == 126.5f && u[3] == 2.5f);
  /* 7 * 0.1 - 0.3 in double is 0.39999999999999997, rounded once to float;
   * float arithmetic would give a different last bit. */
  u = g.nodes[csm_graph_find(&g, "u8b")].value.data;
  assert_int_equal(f32_bits(u[0]), f32_bits((float)(7.0 * 0.1 + -0.3)));
  assert_int_equal(f32_bits(u[0]), 0x3ECCCCCDu);
  u = g.nodes[csm_graph_find(&g, "u16")].value.data;
  assert_true(u[0] == 10.25f && u[1] == 16393.75f);
  /* JavaScript's Math.round: ties toward +infinity. */
  iv = g.nodes[csm_graph_find(&g, "iq")].value.data;
  assert_int_equal(g.nodes[csm_graph_find(&g, "iq")].value.dtype, CSM_I32);
  assert_true(iv[0] == -1 && iv[1] == -1 && iv[2] == 0 && iv[3] == 0 && iv[4] == 1);

  assert_int_equal(g.n_outputs, 1);
  assert_string_equal(g.output_names[0], "y");
  assert_string_equal(g.path, f->model);
  csm_graph_free(&g);
}

static void test_attrs(void **state) {
  fixture *f = *state;
  // clang-format off
  write_json(f, TOPO(PH("x") ","
    NODE("conv", "Conv2D", "'x','x'",
         "'strides':" IL("'1','2','3','1'") ",'padding':" S("RVhQTElDSVQ=")
         ",'explicit_paddings':" IL("0,0,1,2,3,4,0,0")
         ",'dilations':" IL("'1','2','2','1'") ",'data_format':" S("TkhXQw==")) ","
    NODE("fconv", "_FusedConv2D", "'x','x','x'",
         "'strides':" IL("'1','1','1','1'") ",'padding':" S("U0FNRQ==")
         ",'num_args':{'i':'1'},'leakyrelu_alpha':{'f':0.3}"
         ",'fused_ops':" SL("'Qmlhc0FkZA==','TGVha3lSZWx1'")) ","
    NODE("dw", "FusedDepthwiseConv2dNative", "'x','x','x','x'",
         "'strides':" IL("'1','1','1','1'") ",'padding':" S("VkFMSUQ=")
         ",'num_args':{'i':'2'},'fused_ops':" SL("'Qmlhc0FkZA==','UHJlbHU='")) ","
    NODE("mm", "_FusedMatMul", "'x','x','x'",
         "'transpose_b':{'b':true},'transpose_a':{'b':false},'num_args':{'i':'1'}"
         ",'fused_ops':" SL("'Qmlhc0FkZA==','UmVsdTY='")) ","
    NODE("pool", "MaxPool", "'x'",
         "'ksize':" IL("'1','3','3','1'") ",'strides':" IL("'1','2','2','1'")
         ",'padding':" S("U0FNRQ==")) ","
    NODE("lrelu", "LeakyRelu", "'x'", "'alpha':{'f':0.1}") ","
    NODE("lrelu2", "LeakyRelu", "'x'", "") ","
    NODE("sq", "Squeeze", "'x'", "'squeeze_dims':" IL("'1','-1'")) ","
    NODE("ss", "StridedSlice", "'x','x','x','x'",
         "'begin_mask':{'i':'1'},'end_mask':{'i':'2'},'new_axis_mask':{'i':'4'}"
         ",'shrink_axis_mask':{'i':'8'}") ","
    NODE("pk", "Pack", "'x','x'", "'axis':{'i':'-1'},'N':{'i':'2'}") ","
    NODE("mean", "Mean", "'x','x'", "'keep_dims':{'b':true}") ","
    NODE("rs", "ResizeBilinear", "'x','x'",
         "'half_pixel_centers':{'b':true},'align_corners':{'b':false}") ","
    NODE("d2s", "DepthToSpace", "'x'", "'block_size':{'i':'2'},'data_format':" S("TkhXQw==")) ","
    NODE("ctl", "Relu", "'x','^pool'", "") ","
    NODE("cat", "ConcatV2", "'x','x:0','x'", "")) "}");
  // clang-format on
  csm_graph g;
  load_ok(f, &g);
  const csm_node *n = &g.nodes[csm_graph_find(&g, "conv")];
  assert_int_equal(n->op, CSM_OP_CONV2D);
  assert_int_equal(n->a.padding, CSM_PAD_EXPLICIT);
  assert_true(n->a.pads[0] == 1 && n->a.pads[1] == 2 && n->a.pads[2] == 3 && n->a.pads[3] == 4);
  assert_true(n->a.stride[0] == 2 && n->a.stride[1] == 3);
  assert_true(n->a.dilation[0] == 2 && n->a.dilation[1] == 2);
  assert_false(n->a.has_bias);
  n = &g.nodes[csm_graph_find(&g, "fconv")];
  assert_int_equal(n->n_in, 3);
  assert_true(n->a.has_bias && n->a.act == CSM_ACT_LEAKY_RELU && n->a.alpha == 0.3f);
  assert_int_equal(n->a.padding, CSM_PAD_SAME);
  n = &g.nodes[csm_graph_find(&g, "dw")];
  assert_int_equal(n->op, CSM_OP_DEPTHWISE_CONV2D);
  assert_int_equal(n->n_in, 4);
  assert_true(n->a.has_bias && n->a.act == CSM_ACT_PRELU && n->a.padding == CSM_PAD_VALID);
  n = &g.nodes[csm_graph_find(&g, "mm")];
  assert_int_equal(n->op, CSM_OP_MATMUL);
  assert_true(n->a.has_bias && n->a.act == CSM_ACT_RELU6 && n->a.transpose_b && !n->a.transpose_a);
  n = &g.nodes[csm_graph_find(&g, "pool")];
  assert_int_equal(n->op, CSM_OP_MAXPOOL);
  assert_true(n->a.ksize[0] == 3 && n->a.ksize[1] == 3 && n->a.stride[0] == 2);
  assert_int_equal(n->a.padding, CSM_PAD_SAME);
  assert_true(g.nodes[csm_graph_find(&g, "lrelu")].a.alpha == 0.1f);
  assert_true(g.nodes[csm_graph_find(&g, "lrelu2")].a.alpha == 0.2f);
  n = &g.nodes[csm_graph_find(&g, "sq")];
  assert_true(n->a.n_squeeze == 2 && n->a.squeeze_dims[0] == 1 && n->a.squeeze_dims[1] == -1);
  n = &g.nodes[csm_graph_find(&g, "ss")];
  assert_true(n->a.begin_mask == 1 && n->a.end_mask == 2 && n->a.ellipsis_mask == 0 &&
              n->a.new_axis_mask == 4 && n->a.shrink_axis_mask == 8);
  assert_int_equal(g.nodes[csm_graph_find(&g, "pk")].a.axis, -1);
  assert_true(g.nodes[csm_graph_find(&g, "mean")].a.keep_dims);
  n = &g.nodes[csm_graph_find(&g, "rs")];
  assert_true(n->a.half_pixel_centers && !n->a.align_corners);
  assert_int_equal(g.nodes[csm_graph_find(&g, "d2s")].a.block_size, 2);
  n = &g.nodes[csm_graph_find(&g, "ctl")];
  assert_int_equal(n->n_in, 1); /* the control input is dropped */
  n = &g.nodes[csm_graph_find(&g, "cat")];
  assert_int_equal(n->n_in, 3);
  for (int k = 0; k < 3; k++)
    assert_int_equal(n->in[k], csm_graph_find(&g, "x"));
  /* Leaves are outputs; 'pool' feeds 'ctl' through a control edge only. */
  assert_int_equal(g.n_outputs, 14);
  for (int i = 0; i < g.n_outputs; i++)
    assert_string_not_equal(g.output_names[i], "pool");
  assert_int_equal(g.n_inputs, 1);
  assert_int_equal(g.nodes[g.inputs[0]].value.shape.d[0], -1);
  csm_graph_free(&g);
}

/* ---- TF.js's input and output choice --------------------------------------- */

/* Expected values come from running TF.js 4.22 (GraphModel.inputNodes and
 * outputNodes) on these very models. */
// clang-format off
#define ORDER_NODES                                                                          \
  "{'name':'b','op':'Const','attr':{'dtype':{'type':'DT_FLOAT'},"                            \
  "'value':{'tensor':{'dtype':'DT_FLOAT','tensorShape':{}}}}},"                              \
  "{'name':'x','op':'Placeholder','attr':{'dtype':{'type':'DT_FLOAT'},"                      \
  "'shape':{'shape':{'dim':[{'size':'-1'},{'size':'2'}]}}}},"                                \
  NODE("zz", "Relu", "'x'", "") "," NODE("10", "Relu", "'x'", "") ","                        \
  NODE("2", "Neg", "'x'", "") "," NODE("a", "AddV2", "'x','b'", "") ","                      \
  NODE("c", "Relu", "'x','^zz'", "")
// clang-format on
#define ORDER_WEIGHTS WEIGHTS("'o.bin'", "{'name':'b','shape':[],'dtype':'float32'}")

static void check_outputs(const csm_graph *g, int n, const char *const *names,
                          const char *const *nodes) {
  assert_int_equal(g->n_outputs, n);
  for (int i = 0; i < n; i++) {
    assert_string_equal(g->output_names[i], names[i]);
    assert_string_equal(g->nodes[g->outputs[i]].name, nodes[i]);
  }
}

static void test_output_order(void **state) {
  fixture *f = *state;
  unsigned char one[4];
  csm_graph g;
  put_f32(one, 1.0f);
  write_file(f, "o.bin", one, 4);

  /* No signature: unconsumed nodes, integer-like names first (JS key order). */
  write_json(f, TOPO(ORDER_NODES) ORDER_WEIGHTS "}");
  load_ok(f, &g);
  const char *leaves[] = {"2", "10", "a", "c"};
  check_outputs(&g, 4, leaves, leaves);
  assert_int_equal(g.n_inputs, 1);
  csm_graph_free(&g);

  /* Signature inputs only: same outputs. */
  write_json(f, TOPO(ORDER_NODES) ORDER_WEIGHTS ",'signature':{'inputs':{'k1':{'name':'x:0'}}}}");
  load_ok(f, &g);
  check_outputs(&g, 4, leaves, leaves);
  csm_graph_free(&g);

  /* Signature outputs: key order, then tensor-name order, duplicates keep
   * their first place and last key; a missing tensor is dropped. */
  write_json(f, TOPO(ORDER_NODES) ORDER_WEIGHTS
             ",'signature':{'outputs':{'o2':{'name':'a:0'},'7':{'name':'2'},'o1':{'name':'10:0'},"
             "'dup':{'name':'a:0'},'gone':{'name':'missing:0'}}}}");
  load_ok(f, &g);
  const char *keys[] = {"7", "dup", "o1"}, *nodes[] = {"2", "a", "10"};
  check_outputs(&g, 3, keys, nodes);
  csm_graph_free(&g);

  /* userDefinedMetadata.signature replaces the top-level one. */
  write_json(f, TOPO(ORDER_NODES) ORDER_WEIGHTS
             ",'signature':{'outputs':{'top':{'name':'a'}}},"
             "'userDefinedMetadata':{'signature':{'outputs':{'meta':{'name':'c:0'}}}}}");
  load_ok(f, &g);
  const char *meta[] = {"meta"}, *meta_node[] = {"c"};
  check_outputs(&g, 1, meta, meta_node);
  csm_graph_free(&g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_half_exhaustive),
      cmocka_unit_test_setup_teardown(test_weight_values, setup, teardown),
      cmocka_unit_test_setup_teardown(test_attrs, setup, teardown),
      cmocka_unit_test_setup_teardown(test_output_order, setup, teardown),
  };
  return cmocka_run_group_tests_name("tfjs_loader_synthetic", tests, NULL, NULL);
}
