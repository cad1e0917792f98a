/* ONNX initializers into IR constants: raw_data and the typed fields,
 * float16, double, int64 (with Slice's INT64 max/min clamped), 8-bit
 * types, scalars, external data files (offset, length, subfolders) and
 * every way they can be wrong: short data, huge or negative dims,
 * unsupported types, locations outside the model's folder (.., absolute,
 * a symbolic link out), truncated files. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "csm_test.h"
#include "onnx_builder.h"

static int setup(void **state) {
  (void)state;
  ob_test_dir("onnx_tensors");
  return 0;
}

/* ---- Initializers ---------------------------------------------------- */

static void test_initializer_encodings(void **state) {
  (void)state;
  ob b;
  init_model(&b);
  int64_t d23[2] = {2, 3}, d4[1] = {4}, d3[1] = {3};
  float raw[6] = {1.5f, -2, 3, 4, 5.25f, -6};
  ob_init_f32(&b, "raw", 2, d23, raw);
  ob_output(&b, "raw");

  Onnx__TensorProto *t = ob_tensor(&b, "typed", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 1, d3);
  float typed[3] = {0.5f, 0.25f, -8};
  t->n_float_data = 3;
  t->float_data = typed;
  ob_init_tensor(&b, t);
  ob_output(&b, "typed");

  /* int64: INT64_MAX / INT64_MIN clamp to the int32 range (Slice ends). */
  int64_t d5[1] = {5};
  t = ob_tensor(&b, "i64", ONNX__TENSOR_PROTO__DATA_TYPE__INT64, 1, d5);
  /* -INT64_MAX: PyTorch's start of a reversed Slice. */
  int64_t i64[5] = {-7, 123456, INT64_MAX, INT64_MIN, -INT64_MAX};
  t->n_int64_data = 5;
  t->int64_data = i64;
  ob_init_tensor(&b, t);
  ob_output(&b, "i64");

  /* int64 as raw little-endian bytes. */
  t = ob_tensor(&b, "i64raw", ONNX__TENSOR_PROTO__DATA_TYPE__INT64, 1, d3);
  int64_t i64r[3] = {1, -2, 2147483647};
  ob_raw(&b, t, i64r, sizeof i64r);
  ob_init_tensor(&b, t);
  ob_output(&b, "i64raw");

  /* float16: 1.0 = 0x3c00, -2.0 = 0xc000, 0.5 = 0x3800, 65504 = 0x7bff. */
  uint16_t half[4] = {0x3c00, 0xc000, 0x3800, 0x7bff};
  t = ob_tensor(&b, "f16raw", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16, 1, d4);
  ob_raw(&b, t, half, sizeof half);
  ob_init_tensor(&b, t);
  ob_output(&b, "f16raw");
  int32_t half32[4] = {0x3c00, 0xc000, 0x3800, 0x7bff};
  t = ob_tensor(&b, "f16typed", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16, 1, d4);
  t->n_int32_data = 4;
  t->int32_data = half32;
  ob_init_tensor(&b, t);
  ob_output(&b, "f16typed");

  double dbl[3] = {0.1, -1e3, 2.5};
  t = ob_tensor(&b, "dbl", ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE, 1, d3);
  t->n_double_data = 3;
  t->double_data = dbl;
  ob_init_tensor(&b, t);
  ob_output(&b, "dbl");

  uint8_t u8[3] = {0, 200, 255};
  t = ob_tensor(&b, "u8", ONNX__TENSOR_PROTO__DATA_TYPE__UINT8, 1, d3);
  ob_raw(&b, t, u8, 3);
  ob_init_tensor(&b, t);
  ob_output(&b, "u8");
  int8_t s8[3] = {-128, 5, 127};
  t = ob_tensor(&b, "i8", ONNX__TENSOR_PROTO__DATA_TYPE__INT8, 1, d3);
  ob_raw(&b, t, s8, 3);
  ob_init_tensor(&b, t);
  ob_output(&b, "i8");

  /* A scalar (rank 0) from raw data. */
  float one = 42.0f;
  t = ob_tensor(&b, "scalar", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 0, NULL);
  ob_raw(&b, t, &one, 4);
  ob_init_tensor(&b, t);
  ob_output(&b, "scalar");

  const char *path = tmp_path("encodings.onnx");
  ob_write(&b, path);
  ob_free(&b);

  csm_graph g;
  CSM_ASSERT_OK(load(path, &g));
  const csm_tensor *v = const_value(&g, "raw");
  csm_test_assert_shape(v, 2, d23);
  csm_test_assert_tensor_close(v, raw, 6, 0, 0);
  csm_test_assert_tensor_close(const_value(&g, "typed"), typed, 3, 0, 0);
  int32_t want_i64[5] = {-7, 123456, INT32_MAX, INT32_MIN, INT32_MIN};
  csm_test_assert_tensor_i32(const_value(&g, "i64"), want_i64, 5);
  int32_t want_i64r[3] = {1, -2, 2147483647};
  csm_test_assert_tensor_i32(const_value(&g, "i64raw"), want_i64r, 3);
  float want_half[4] = {1.0f, -2.0f, 0.5f, 65504.0f};
  csm_test_assert_tensor_close(const_value(&g, "f16raw"), want_half, 4, 0, 0);
  csm_test_assert_tensor_close(const_value(&g, "f16typed"), want_half, 4, 0, 0);
  float want_dbl[3] = {0.1f, -1e3f, 2.5f};
  csm_test_assert_tensor_close(const_value(&g, "dbl"), want_dbl, 3, 0, 0);
  int32_t want_u8[3] = {0, 200, 255}, want_i8[3] = {-128, 5, 127};
  csm_test_assert_tensor_i32(const_value(&g, "u8"), want_u8, 3);
  csm_test_assert_tensor_i32(const_value(&g, "i8"), want_i8, 3);
  v = const_value(&g, "scalar");
  assert_int_equal(v->shape.rank, 0);
  assert_true(((float *)v->data)[0] == 42.0f);
  /* Outputs are the initializers, by their ONNX names, in order. */
  assert_int_equal(g.n_outputs, 10);
  assert_string_equal(g.output_names[0], "raw");
  assert_string_equal(g.nodes[g.outputs[3]].name, "i64raw");
  csm_graph_free(&g);
}

/* Empty initializers (PyTorch exports Resize's unused roi as a float
 * tensor of shape [0]): protobuf-c gives their raw_data a NULL pointer, and
 * copying 0 bytes from it aborted sanitizer builds (issue 15). They load as
 * empty constants, and the Resize runs. */
static void test_empty_initializers(void **state) {
  (void)state;
  ob b;
  int64_t xd[4] = {1, 1, 2, 2}, d0[1] = {0}, d4[1] = {4};
  ob_init(&b, 13);
  ob_input(&b, "x", 4, xd);
  Onnx__TensorProto *t = ob_tensor(&b, "roi", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 1, d0);
  ob_raw(&b, t, NULL, 0);
  ob_init_tensor(&b, t);
  t = ob_tensor(&b, "empty_i64", ONNX__TENSOR_PROTO__DATA_TYPE__INT64, 1, d0);
  ob_raw(&b, t, NULL, 0);
  ob_init_tensor(&b, t);
  t = ob_tensor(&b, "empty_i32", ONNX__TENSOR_PROTO__DATA_TYPE__INT32, 1, d0);
  ob_raw(&b, t, NULL, 0);
  ob_init_tensor(&b, t);
  float scales[4] = {1, 1, 2, 2};
  ob_init_f32(&b, "scales", 1, d4, scales);
  const char *in[] = {"x", "roi", "scales", NULL};
  Onnx__NodeProto *n = ob_node(&b, "Resize", "up", in, "y");
  Onnx__AttributeProto *a = ob_attr(&b, n, "mode", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
  a->s.data = (uint8_t *)ob_str(&b, "nearest");
  a->s.len = 7;
  a->has_s = 1;
  ob_output(&b, "y");
  ob_output(&b, "empty_i64");
  ob_output(&b, "empty_i32");
  const char *path = tmp_path("empty.onnx");
  ob_write(&b, path);
  ob_free(&b);

  csm_graph g;
  CSM_ASSERT_OK(load(path, &g));
  assert_int_equal(const_value(&g, "empty_i64")->shape.d[0], 0);
  assert_int_equal(const_value(&g, "empty_i32")->shape.d[0], 0);
  csm_graph_free(&g);
  csm_model *m;
  CSM_ASSERT_OK(csm_model_load(path, &m));
  float xv[4] = {1, 2, 3, 4};
  csm_tensor x = {CSM_F32, csm_shape_make(4, xd), xv, 0}, out[3];
  CSM_ASSERT_OK(csm_model_run(m, &x, out));
  int64_t yd[4] = {1, 1, 4, 4};
  csm_test_assert_shape(&out[0], 4, yd);
  assert_true(((float *)out[0].data)[0] == 1 && ((float *)out[0].data)[15] == 4);
  assert_int_equal(csm_tensor_numel(&out[1]), 0);
  for (int i = 0; i < 3; i++)
    csm_tensor_free(&out[i]);
  csm_model_free(m);
}

/* Weights that are NaN or infinite turned every output into NaN with exit 0
 * (issue 15). A tensor of more than one element may hold neither; a single
 * value may be an infinity (Clip's bounds, mask fills), never NaN. */
static void nonfinite_model(const char *file, int type, int rank, const int64_t *dims,
                            const void *raw, size_t bytes) {
  ob b;
  init_model(&b);
  Onnx__TensorProto *t = ob_tensor(&b, "w", type, rank, dims);
  ob_raw(&b, t, raw, bytes);
  ob_init_tensor(&b, t);
  ob_output(&b, "w");
  ob_write(&b, tmp_path(file));
  ob_free(&b);
}

static void test_nonfinite_weights(void **state) {
  (void)state;
  const int F32 = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
  int64_t d4[1] = {4}, d1[1] = {1}, d3[1] = {3};
  float nan4[4] = {1, 2, NAN, 4}, inf4[4] = {1, -INFINITY, 3, 4}, ninf = -INFINITY, inf = INFINITY;
  float nan1 = NAN;
  nonfinite_model("nan.onnx", F32, 1, d4, nan4, sizeof nan4);
  expect_error(tmp_path("nan.onnx"), CSM_EINPUT,
               "nan.onnx: weight 'w' has a non-finite value at index 2 (NaN)");
  nonfinite_model("inf.onnx", F32, 1, d4, inf4, sizeof inf4);
  expect_error(tmp_path("inf.onnx"), CSM_EINPUT,
               "weight 'w' has a non-finite value at index 1 (-Inf)");
  nonfinite_model("nan_scalar.onnx", F32, 0, NULL, &nan1, 4);
  expect_error(tmp_path("nan_scalar.onnx"), CSM_EINPUT, "at index 0 (NaN)");
  /* float16 and double carry them too. */
  uint16_t half[3] = {0x3c00, 0x7c00, 0x3c00};
  nonfinite_model("inf16.onnx", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16, 1, d3, half, sizeof half);
  expect_error(tmp_path("inf16.onnx"), CSM_EINPUT, "at index 1 (+Inf)");
  double dnan[3] = {0, 0, NAN};
  nonfinite_model("nan64.onnx", ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE, 1, d3, dnan, sizeof dnan);
  expect_error(tmp_path("nan64.onnx"), CSM_EINPUT, "at index 2 (NaN)");
  /* One infinite value loads, as a scalar or of shape [1]. */
  csm_graph g;
  nonfinite_model("inf_scalar.onnx", F32, 0, NULL, &ninf, 4);
  CSM_ASSERT_OK(load(tmp_path("inf_scalar.onnx"), &g));
  assert_true(isinf(((float *)const_value(&g, "w")->data)[0]));
  csm_graph_free(&g);
  nonfinite_model("inf_one.onnx", F32, 1, d1, &inf, 4);
  CSM_ASSERT_OK(load(tmp_path("inf_one.onnx"), &g));
  csm_graph_free(&g);
  /* A Constant node's value_floats, named with the node. */
  ob b;
  init_model(&b);
  Onnx__NodeProto *n = ob_node(&b, "Constant", "c", NULL, "cv");
  Onnx__AttributeProto *a =
      ob_attr(&b, n, "value_floats", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS);
  a->n_floats = 4;
  a->floats = nan4;
  ob_output(&b, "cv");
  ob_write(&b, tmp_path("const_nan.onnx"));
  ob_free(&b);
  expect_error(tmp_path("const_nan.onnx"), CSM_EINPUT,
               "node 'c' (Constant): weight 'cv' has a non-finite value at index 2 (NaN)");
}

static void write_one_tensor_model(const char *file, Onnx__TensorProto *(*make)(ob *b)) {
  ob b;
  init_model(&b);
  ob_init_tensor(&b, make(&b));
  ob_output(&b, "w");
  ob_write(&b, tmp_path(file));
  ob_free(&b);
}

static Onnx__TensorProto *short_raw(ob *b) {
  int64_t d[1] = {4};
  float v[3] = {1, 2, 3};
  Onnx__TensorProto *t = ob_tensor(b, "w", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 1, d);
  ob_raw(b, t, v, sizeof v);
  return t;
}
static Onnx__TensorProto *short_typed(ob *b) {
  int64_t d[2] = {2, 2};
  static float v[3] = {1, 2, 3};
  Onnx__TensorProto *t = ob_tensor(b, "w", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 2, d);
  t->n_float_data = 3;
  t->float_data = v;
  return t;
}
static Onnx__TensorProto *huge_dims(ob *b) {
  int64_t d[3] = {1 << 30, 1 << 30, 1 << 30};
  return ob_tensor(b, "w", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 3, d);
}
static Onnx__TensorProto *negative_dim(ob *b) {
  int64_t d[2] = {2, -3};
  return ob_tensor(b, "w", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 2, d);
}
static Onnx__TensorProto *string_type(ob *b) {
  int64_t d[1] = {1};
  return ob_tensor(b, "w", ONNX__TENSOR_PROTO__DATA_TYPE__STRING, 1, d);
}
static Onnx__TensorProto *int64_range(ob *b) {
  int64_t d[1] = {2};
  static int64_t v[2] = {1, (int64_t)1 << 40};
  Onnx__TensorProto *t = ob_tensor(b, "w", ONNX__TENSOR_PROTO__DATA_TYPE__INT64, 1, d);
  t->n_int64_data = 2;
  t->int64_data = v;
  return t;
}

static void test_initializer_errors(void **state) {
  (void)state;
  write_one_tensor_model("short_raw.onnx", short_raw);
  expect_error(tmp_path("short_raw.onnx"), CSM_EINPUT,
               "initializer 'w': raw_data has 12 bytes but shape [4] of FLOAT needs 16");
  write_one_tensor_model("short_typed.onnx", short_typed);
  expect_error(tmp_path("short_typed.onnx"), CSM_EINPUT, "initializer 'w' has 3 values");
  write_one_tensor_model("huge.onnx", huge_dims);
  expect_error(tmp_path("huge.onnx"), CSM_EINPUT, "too large");
  write_one_tensor_model("negdim.onnx", negative_dim);
  expect_error(tmp_path("negdim.onnx"), CSM_EINPUT, "negative dimension");
  write_one_tensor_model("string.onnx", string_type);
  expect_error(tmp_path("string.onnx"), CSM_EUNSUPPORTED, "unsupported data type STRING");
  write_one_tensor_model("i64range.onnx", int64_range);
  expect_error(tmp_path("i64range.onnx"), CSM_EUNSUPPORTED, "outside the int32 range");
}

/* ---- External data ---------------------------------------------------- */

static const char *g_loc, *g_off, *g_len;
static Onnx__TensorProto *external(ob *b) {
  int64_t d[2] = {1, 3};
  Onnx__TensorProto *t = ob_tensor(b, "w", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 2, d);
  ob_external(b, t, g_loc, g_off, g_len);
  return t;
}

static void external_case(const char *file, const char *loc, const char *off, const char *len) {
  g_loc = loc;
  g_off = off;
  g_len = len;
  write_one_tensor_model(file, external);
}

static void test_external_data(void **state) {
  (void)state;
  /* 8 bytes of header, then the 3 floats. */
  float data[5] = {99, 99, 1.5f, -2.5f, 4};
  write_bytes(tmp_path("weights.bin"), data, sizeof data);
  external_case("ext_good.onnx", "weights.bin", "8", "12");
  csm_graph g;
  CSM_ASSERT_OK(load(tmp_path("ext_good.onnx"), &g));
  csm_test_assert_tensor_close(const_value(&g, "w"), data + 2, 3, 0, 0);
  csm_graph_free(&g);
  /* No length: the shape's bytes from the offset. */
  external_case("ext_nolen.onnx", "weights.bin", "8", NULL);
  CSM_ASSERT_OK(load(tmp_path("ext_nolen.onnx"), &g));
  csm_test_assert_tensor_close(const_value(&g, "w"), data + 2, 3, 0, 0);
  csm_graph_free(&g);
  /* In a subfolder ("./sub/w.bin" is inside). */
  mkdir(tmp_path("sub"), 0777);
  write_bytes(tmp_path("sub/w.bin"), data + 2, 12);
  external_case("ext_sub.onnx", "./sub/w.bin", NULL, NULL);
  CSM_ASSERT_OK(load(tmp_path("ext_sub.onnx"), &g));
  csm_test_assert_tensor_close(const_value(&g, "w"), data + 2, 3, 0, 0);
  csm_graph_free(&g);

  external_case("ext_dotdot.onnx", "../outside.bin", NULL, NULL);
  expect_error(tmp_path("ext_dotdot.onnx"), CSM_EINPUT,
               "initializer 'w': external data location '../outside.bin' leaves the model's "
               "folder");
  external_case("ext_dotdot2.onnx", "sub/../../outside.bin", NULL, NULL);
  expect_error(tmp_path("ext_dotdot2.onnx"), CSM_EINPUT, "leaves the model's folder");
  external_case("ext_abs.onnx", "/etc/passwd", NULL, NULL);
  expect_error(tmp_path("ext_abs.onnx"), CSM_EINPUT, "is an absolute path");
  /* A symbolic link inside the folder that points out of it. */
  unlink(tmp_path("link.bin"));
  assert_int_equal(symlink("/etc/passwd", tmp_path("link.bin")), 0);
  external_case("ext_link.onnx", "link.bin", NULL, NULL);
  expect_error(tmp_path("ext_link.onnx"), CSM_EINPUT, "resolves outside the model's folder");
  /* Truncated: the file ends before offset + length. */
  external_case("ext_trunc.onnx", "weights.bin", "12", "12");
  expect_error(tmp_path("ext_trunc.onnx"), CSM_EINPUT, "reach past its end");
  external_case("ext_bigoff.onnx", "weights.bin", "18446744073709551615", "12");
  expect_error(tmp_path("ext_bigoff.onnx"), CSM_EINPUT, "reach past its end");
  external_case("ext_len.onnx", "weights.bin", "0", "16");
  expect_error(tmp_path("ext_len.onnx"), CSM_EINPUT, "length is 16 bytes but its shape needs 12");
  external_case("ext_badoff.onnx", "weights.bin", "-4", NULL);
  expect_error(tmp_path("ext_badoff.onnx"), CSM_EINPUT, "offset '-4' is not a number");
  external_case("ext_missing.onnx", "nothere.bin", NULL, NULL);
  expect_error(tmp_path("ext_missing.onnx"), CSM_EIO, "nothere.bin");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_initializer_encodings), cmocka_unit_test(test_initializer_errors),
      cmocka_unit_test(test_empty_initializers),    cmocka_unit_test(test_nonfinite_weights),
      cmocka_unit_test(test_external_data),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
