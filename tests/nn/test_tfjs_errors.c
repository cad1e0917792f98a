/* The TF.js graph-model loader's errors: one hand-made model per error class
 * (files, shards, weights, topology, ops); each load fails with the right
 * status and a one-line message naming the file, and leaves the graph
 * empty. */
#include <math.h>

#include "tfjs_fixture.h"

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

/* Shards must lie in the model's folder (issue 15: a manifest path
 * "../../../../etc/networks" was read and its bytes became weights): no
 * absolute paths, no ".." components, no symbolic link that leads out. A
 * file outside the folder, of exactly the size the manifest asks for,
 * shows that nothing but the path stops it. */
static void test_err_shard_outside(void **state) {
  fixture *f = *state;
  char outside[700], link[700], sub[700], json[2048];
  snprintf(outside, sizeof outside, "%s/../tfjs_outside_secret.bin", f->dir);
  FILE *fp = fopen(outside, "wb");
  assert_non_null(fp);
  assert_int_equal(fwrite("SECRET!!", 1, 8, fp), 8);
  fclose(fp);
  expect_fail(f, ONE_CONST("2", "../tfjs_outside_secret.bin"), CSM_EINPUT,
              "weight shard '../tfjs_outside_secret.bin' leaves the model's folder", NULL);
  expect_fail(f, ONE_CONST("2", "sub/../../tfjs_outside_secret.bin"), CSM_EINPUT,
              "leaves the model's folder", NULL);
  expect_fail(f, ONE_CONST("2", "../../../../../../../../etc/networks"), CSM_EINPUT,
              "leaves the model's folder", NULL);
  char *real = realpath(outside, NULL);
  assert_non_null(real);
  snprintf(json, sizeof json,
           TOPO(CONST("w", "{'size':'2'}") "," NODE("y", "Relu", "'w'", ""))
               WEIGHTS("'%s'", F32("w", "2")) "}",
           real);
  expect_fail(f, json, CSM_EINPUT, "is an absolute path", NULL);
  /* A link in the folder to the file outside. */
  snprintf(link, sizeof link, "%s/link.bin", f->dir);
  assert_int_equal(symlink(real, link), 0);
  expect_fail(f, ONE_CONST("2", "link.bin"), CSM_EINPUT,
              "weight shard 'link.bin' resolves outside the model's folder", NULL);
  unlink(link);
  free(real);
  remove(outside);
  /* Inside: a subfolder, and "./". */
  snprintf(sub, sizeof sub, "%s/sub", f->dir);
  assert_int_equal(mkdir(sub, 0777), 0);
  write_file(f, "sub/w.bin", "\0\0\200?\0\0\0@", 8); /* 1.0f, 2.0f */
  csm_graph g;
  for (int k = 0; k < 2; k++) {
    write_json(f, k ? ONE_CONST("2", "./sub/w.bin") : ONE_CONST("2", "sub/w.bin"));
    load_ok(f, &g);
    const float *w = g.nodes[csm_graph_find(&g, "w")].value.data;
    assert_true(w[0] == 1.0f && w[1] == 2.0f);
    csm_graph_free(&g);
  }
  char p[800];
  snprintf(p, sizeof p, "%s/w.bin", sub);
  remove(p);
  rmdir(sub);
}

/* NaN and infinite weights are refused (issue 15), float16 ones too; a
 * single value may be infinite. */
static void test_err_nonfinite(void **state) {
  fixture *f = *state;
  unsigned char b[8];
  put_f32(b, 1.0f);
  put_f32(b + 4, NAN);
  write_file(f, "w.bin", b, 8);
  expect_fail(f, ONE_CONST("2", "w.bin"), CSM_EINPUT, "weight 'w' has a non-finite value",
              "at index 1 (NaN)");
  put_f32(b, -INFINITY);
  write_file(f, "w.bin", b, 8);
  expect_fail(f, ONE_CONST("2", "w.bin"), CSM_EINPUT, "at index 0 (-Inf)", NULL);
  put_u16(b, 0x3c00);
  put_u16(b + 2, 0x7c00); /* float16 +Inf */
  write_file(f, "w.bin", b, 4);
  expect_fail(f,
              TOPO(CONST("w", "{'size':'2'}") "," NODE("y", "Relu", "'w'", ""))
                  WEIGHTS("'w.bin'", "{'name':'w','shape':[2],'dtype':'float32','quantization':{"
                                     "'dtype':'float16'}}") "}",
              CSM_EINPUT, "weight 'w'", "at index 1 (+Inf)");
  /* One value: an infinity loads, NaN does not. */
  put_f32(b, INFINITY);
  write_file(f, "w.bin", b, 4);
  csm_graph g;
  write_json(f, TOPO(CONST("w", "{'size':'1'}") "," NODE("y", "Relu", "'w'", ""))
                    WEIGHTS("'w.bin'", F32("w", "1")) "}");
  load_ok(f, &g);
  csm_graph_free(&g);
  put_f32(b, NAN);
  write_file(f, "w.bin", b, 4);
  expect_fail(f, NULL, CSM_EINPUT, "weight 'w'", "at index 0 (NaN)");
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
int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_err_files, setup, teardown),
      cmocka_unit_test_setup_teardown(test_err_shards, setup, teardown),
      cmocka_unit_test_setup_teardown(test_err_shard_outside, setup, teardown),
      cmocka_unit_test_setup_teardown(test_err_nonfinite, setup, teardown),
      cmocka_unit_test_setup_teardown(test_err_weights, setup, teardown),
      cmocka_unit_test_setup_teardown(test_err_topology, setup, teardown),
      cmocka_unit_test_setup_teardown(test_err_ops, setup, teardown),
  };
  return cmocka_run_group_tests_name("tfjs_loader_errors", tests, NULL, NULL);
}
