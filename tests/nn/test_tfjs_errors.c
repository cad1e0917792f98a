/* The TF.js graph-model loader's errors: one hand-made model per error class
 * (files, shards, weights, topology, ops); each load fails with the right
 * status and a one-line message naming the file, and leaves the graph
 * empty. */
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
      cmocka_unit_test_setup_teardown(test_err_weights, setup, teardown),
      cmocka_unit_test_setup_teardown(test_err_topology, setup, teardown),
      cmocka_unit_test_setup_teardown(test_err_ops, setup, teardown),
  };
  return cmocka_run_group_tests_name("tfjs_loader_errors", tests, NULL, NULL);
}
