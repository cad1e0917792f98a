/* Shape ops: Reshape, Squeeze, ExpandDims, Identity, Shape, StridedSlice.
 * Expected values are written out by hand from TensorFlow's semantics. */
#include "csm_test.h"

#include <string.h>

#include "nn/ops/op.h"

#define DIMS(...) ((const int64_t[]){__VA_ARGS__})
#define F32(...) ((const float[]){__VA_ARGS__})
#define I32(...) ((const int32_t[]){__VA_ARGS__})
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static const float iota20[20] = {0,  1,  2,  3,  4,  5,  6,  7,  8,  9,
                                 10, 11, 12, 13, 14, 15, 16, 17, 18, 19};
static const float iota24[24] = {0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11,
                                 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23};

static void test_alias_flags(void **state) {
  (void)state;
  csm_op_kind ops[] = {CSM_OP_RESHAPE, CSM_OP_SQUEEZE, CSM_OP_EXPAND_DIMS, CSM_OP_IDENTITY};
  for (size_t i = 0; i < NELEM(ops); i++)
    assert_int_equal(csm_op_def_get(ops[i])->alias, 1);
  assert_int_equal(csm_op_def_get(CSM_OP_SHAPE)->alias, 0);
  assert_int_equal(csm_op_def_get(CSM_OP_STRIDED_SLICE)->alias, 0);
}

static void test_reshape(void **state) {
  (void)state;
  csm_node n = csm_test_node(CSM_OP_RESHAPE, 2);
  csm_tensor out, in[2] = {csm_test_tensor_f32(2, DIMS(2, 3), iota20),
                           csm_test_tensor_i32(1, DIMS(2), I32(3, -1))};
  CSM_ASSERT_OK(csm_test_run_op(&n, in, &out));
  csm_test_assert_shape(&out, 2, DIMS(3, 2));
  csm_test_assert_tensor_close(&out, iota20, 6, 0, 0);
  csm_tensor_free(&out);
  /* int32 data, -1 first, to rank 3 */
  in[0] = csm_test_tensor_i32(1, DIMS(4), I32(7, 8, 9, 10));
  in[1] = csm_test_tensor_i32(1, DIMS(3), I32(-1, 1, 2));
  CSM_ASSERT_OK(csm_test_run_op(&n, in, &out));
  csm_test_assert_shape(&out, 3, DIMS(2, 1, 2));
  csm_test_assert_tensor_i32(&out, I32(7, 8, 9, 10), 4);
  csm_tensor_free(&out);
  /* to a scalar */
  in[0] = csm_test_tensor_f32(2, DIMS(1, 1), F32(5));
  in[1] = csm_test_tensor_i32(1, DIMS(0), I32(0));
  CSM_ASSERT_OK(csm_test_run_op(&n, in, &out));
  csm_test_assert_shape(&out, 0, DIMS(0));
  csm_tensor_free(&out);
}

static void test_reshape_errors(void **state) {
  (void)state;
  csm_node n = csm_test_node(CSM_OP_RESHAPE, 2);
  csm_tensor out, in[2] = {csm_test_tensor_f32(2, DIMS(2, 3), iota20),
                           csm_test_tensor_i32(1, DIMS(2), I32(4, 2))};
  csm_test_expect_error(&n, in, CSM_EINPUT, "cannot reshape");
  in[1] = csm_test_tensor_i32(1, DIMS(2), I32(4, -1));
  csm_test_expect_error(&n, in, CSM_EINPUT, "-1");
  in[1] = csm_test_tensor_i32(1, DIMS(2), I32(-1, -1));
  csm_test_expect_error(&n, in, CSM_EINPUT, "more than one -1");
  in[1] = csm_test_tensor_i32(1, DIMS(2), I32(0, -1));
  csm_test_expect_error(&n, in, CSM_EINPUT, "-1");
  in[1] = csm_test_tensor_i32(1, DIMS(2), I32(-2, -3));
  csm_test_expect_error(&n, in, CSM_EINPUT, "shape entry 0");
  in[1] = csm_test_tensor_f32(1, DIMS(2), F32(3, 2));
  csm_test_expect_error(&n, in, CSM_EINPUT, "int32");
  in[1] = csm_test_tensor_i32(2, DIMS(1, 2), I32(3, 2));
  csm_test_expect_error(&n, in, CSM_EINPUT, "vector");
  /* A shape that is not a constant at plan time. */
  in[1] = csm_test_tensor_i32(1, DIMS(2), NULL);
  memset(&out, 0, sizeof out);
  assert_int_equal(csm_op_def_get(CSM_OP_RESHAPE)->infer(&n, in, &out), CSM_EUNSUPPORTED);
  assert_non_null(strstr(csm_last_error(), "constant"));
  n.n_in = 1;
  csm_test_expect_error(&n, in, CSM_EINPUT, "2 inputs");
}

static void test_squeeze(void **state) {
  (void)state;
  csm_node n = csm_test_node(CSM_OP_SQUEEZE, 1);
  csm_tensor out, in[1] = {csm_test_tensor_f32(4, DIMS(1, 3, 1, 2), iota20)};
  CSM_ASSERT_OK(csm_test_run_op(&n, in, &out)); /* all size-1 dims */
  csm_test_assert_shape(&out, 2, DIMS(3, 2));
  csm_test_assert_tensor_close(&out, iota20, 6, 0, 0);
  csm_tensor_free(&out);
  n.a.n_squeeze = 1;
  n.a.squeeze_dims[0] = 0;
  CSM_ASSERT_OK(csm_test_run_op(&n, in, &out));
  csm_test_assert_shape(&out, 3, DIMS(3, 1, 2));
  csm_tensor_free(&out);
  n.a.squeeze_dims[0] = -2;
  CSM_ASSERT_OK(csm_test_run_op(&n, in, &out));
  csm_test_assert_shape(&out, 3, DIMS(1, 3, 2));
  csm_tensor_free(&out);
  n.a.n_squeeze = 2;
  n.a.squeeze_dims[0] = 2;
  n.a.squeeze_dims[1] = -4;
  CSM_ASSERT_OK(csm_test_run_op(&n, in, &out));
  csm_test_assert_shape(&out, 2, DIMS(3, 2));
  csm_tensor_free(&out);
  n.a.n_squeeze = 1;
  n.a.squeeze_dims[0] = 1;
  csm_test_expect_error(&n, in, CSM_EINPUT, "size 3");
  n.a.squeeze_dims[0] = 4;
  csm_test_expect_error(&n, in, CSM_EINPUT, "out of range");
  n.a.squeeze_dims[0] = -5;
  csm_test_expect_error(&n, in, CSM_EINPUT, "out of range");
}

static void test_expand_dims(void **state) {
  (void)state;
  csm_node n = csm_test_node(CSM_OP_EXPAND_DIMS, 2);
  csm_tensor out, in[2] = {csm_test_tensor_f32(2, DIMS(2, 3), iota20),
                           csm_test_tensor_i32(0, DIMS(0), I32(-1))};
  CSM_ASSERT_OK(csm_test_run_op(&n, in, &out));
  csm_test_assert_shape(&out, 3, DIMS(2, 3, 1));
  csm_test_assert_tensor_close(&out, iota20, 6, 0, 0);
  csm_tensor_free(&out);
  in[1] = csm_test_tensor_i32(0, DIMS(0), I32(-3));
  CSM_ASSERT_OK(csm_test_run_op(&n, in, &out));
  csm_test_assert_shape(&out, 3, DIMS(1, 2, 3));
  csm_tensor_free(&out);
  in[1] = csm_test_tensor_i32(1, DIMS(1), I32(1));
  CSM_ASSERT_OK(csm_test_run_op(&n, in, &out));
  csm_test_assert_shape(&out, 3, DIMS(2, 1, 3));
  csm_tensor_free(&out);
  in[1] = csm_test_tensor_i32(0, DIMS(0), I32(3));
  csm_test_expect_error(&n, in, CSM_EINPUT, "axis 3 out of range");
  in[1] = csm_test_tensor_i32(0, DIMS(0), I32(-4));
  csm_test_expect_error(&n, in, CSM_EINPUT, "axis -4 out of range");
  in[1] = csm_test_tensor_i32(1, DIMS(2), I32(0, 1));
  csm_test_expect_error(&n, in, CSM_EINPUT, "at most 1");
}

static void test_identity_and_shape(void **state) {
  (void)state;
  csm_node n = csm_test_node(CSM_OP_IDENTITY, 1);
  csm_tensor out, in[1] = {csm_test_tensor_i32(1, DIMS(3), I32(4, 5, 6))};
  CSM_ASSERT_OK(csm_test_run_op(&n, in, &out));
  csm_test_assert_shape(&out, 1, DIMS(3));
  csm_test_assert_tensor_i32(&out, I32(4, 5, 6), 3);
  csm_tensor_free(&out);
  n = csm_test_node(CSM_OP_SHAPE, 1);
  in[0] = csm_test_tensor_f32(4, DIMS(2, 5, 1, 3), iota20);
  CSM_ASSERT_OK(csm_test_run_op(&n, in, &out));
  csm_test_assert_shape(&out, 1, DIMS(4));
  csm_test_assert_tensor_i32(&out, I32(2, 5, 1, 3), 4);
  csm_tensor_free(&out);
  in[0] = csm_test_tensor_f32(0, DIMS(0), iota20); /* a scalar has an empty shape */
  CSM_ASSERT_OK(csm_test_run_op(&n, in, &out));
  csm_test_assert_shape(&out, 1, DIMS(0));
  csm_tensor_free(&out);
  assert_true(csm_op_def_get(CSM_OP_SHAPE)->flops(&n, in, &out) == 0.0);
}

/* ---- StridedSlice -------------------------------------------------------- */

typedef struct slice_case {
  int begin_mask, end_mask, ellipsis_mask, new_axis_mask, shrink_axis_mask;
} slice_case;

static csm_status run_slice(csm_tensor x, int k, const int32_t *b, const int32_t *e,
                            const int32_t *s, slice_case m, csm_tensor *out) {
  csm_node n = csm_test_node(CSM_OP_STRIDED_SLICE, 4);
  csm_tensor in[4] = {x, csm_test_tensor_i32(1, DIMS(k), b), csm_test_tensor_i32(1, DIMS(k), e),
                      csm_test_tensor_i32(1, DIMS(k), s)};
  n.a.begin_mask = m.begin_mask;
  n.a.end_mask = m.end_mask;
  n.a.ellipsis_mask = m.ellipsis_mask;
  n.a.new_axis_mask = m.new_axis_mask;
  n.a.shrink_axis_mask = m.shrink_axis_mask;
  memset(out, 0, sizeof *out);
  return csm_test_run_op(&n, in, out);
}

static void test_slice_face_model_patterns(void **state) {
  (void)state;
  csm_tensor out;
  /* shape[0] of an NHWC shape vector -> scalar N */
  csm_tensor shp = csm_test_tensor_i32(1, DIMS(4), I32(2, 224, 224, 3));
  CSM_ASSERT_OK(
      run_slice(shp, 1, I32(0), I32(1), I32(1), (slice_case){.shrink_axis_mask = 1}, &out));
  csm_test_assert_shape(&out, 0, DIMS(0));
  csm_test_assert_tensor_i32(&out, I32(2), 1);
  csm_tensor_free(&out);
  /* shape[1:3] -> [H, W] */
  CSM_ASSERT_OK(run_slice(shp, 1, I32(1), I32(3), I32(1), (slice_case){0}, &out));
  csm_test_assert_shape(&out, 1, DIMS(2));
  csm_test_assert_tensor_i32(&out, I32(224, 224), 2);
  csm_tensor_free(&out);
  /* x[:, 2] on x[4,5] = 0..19 */
  csm_tensor x = csm_test_tensor_f32(2, DIMS(4, 5), iota20);
  CSM_ASSERT_OK(run_slice(x, 2, I32(0, 2), I32(0, 3), I32(1, 1),
                          (slice_case){.begin_mask = 1, .end_mask = 1, .shrink_axis_mask = 2},
                          &out));
  csm_test_assert_shape(&out, 1, DIMS(4));
  csm_test_assert_tensor_close(&out, F32(2, 7, 12, 17), 4, 0, 0);
  csm_tensor_free(&out);
  /* x[-1] -> last row, the case where end must be recreated as begin+1 */
  CSM_ASSERT_OK(
      run_slice(x, 1, I32(-1), I32(0), I32(1), (slice_case){.shrink_axis_mask = 1}, &out));
  csm_test_assert_shape(&out, 1, DIMS(5));
  csm_test_assert_tensor_close(&out, F32(15, 16, 17, 18, 19), 5, 0, 0);
  csm_tensor_free(&out);
}

static void test_slice_ranges(void **state) {
  (void)state;
  csm_tensor out, x = csm_test_tensor_f32(2, DIMS(4, 5), iota20);
  csm_tensor v = csm_test_tensor_f32(1, DIMS(10), iota20);
  /* x[1:3, 1:4]: contiguous runs with an outer stride */
  CSM_ASSERT_OK(run_slice(x, 2, I32(1, 1), I32(3, 4), I32(1, 1), (slice_case){0}, &out));
  csm_test_assert_shape(&out, 2, DIMS(2, 3));
  csm_test_assert_tensor_close(&out, F32(6, 7, 8, 11, 12, 13), 6, 0, 0);
  csm_tensor_free(&out);
  /* x[:, ::2]: element-wise strided copy */
  CSM_ASSERT_OK(run_slice(x, 2, I32(0, 0), I32(0, 0), I32(1, 2),
                          (slice_case){.begin_mask = 3, .end_mask = 3}, &out));
  csm_test_assert_shape(&out, 2, DIMS(4, 3));
  csm_test_assert_tensor_close(&out, F32(0, 2, 4, 5, 7, 9, 10, 12, 14, 15, 17, 19), 12, 0, 0);
  csm_tensor_free(&out);
  /* v[-2:1:-3] = 8, 5, 2 */
  CSM_ASSERT_OK(run_slice(v, 1, I32(-2), I32(1), I32(-3), (slice_case){0}, &out));
  csm_test_assert_shape(&out, 1, DIMS(3));
  csm_test_assert_tensor_close(&out, F32(8, 5, 2), 3, 0, 0);
  csm_tensor_free(&out);
  /* x[::-1, 3:0:-2] */
  CSM_ASSERT_OK(run_slice(x, 2, I32(0, 3), I32(0, 0), I32(-1, -2),
                          (slice_case){.begin_mask = 1, .end_mask = 1}, &out));
  csm_test_assert_shape(&out, 2, DIMS(4, 2));
  csm_test_assert_tensor_close(&out, F32(18, 16, 13, 11, 8, 6, 3, 1), 8, 0, 0);
  csm_tensor_free(&out);
  /* v[::-1] */
  CSM_ASSERT_OK(
      run_slice(v, 1, I32(0), I32(0), I32(-1), (slice_case){.begin_mask = 1, .end_mask = 1}, &out));
  csm_test_assert_tensor_close(&out, F32(9, 8, 7, 6, 5, 4, 3, 2, 1, 0), 10, 0, 0);
  csm_tensor_free(&out);
  /* x[-3:-1, -2:] */
  CSM_ASSERT_OK(
      run_slice(x, 2, I32(-3, -2), I32(-1, 0), I32(1, 1), (slice_case){.end_mask = 2}, &out));
  csm_test_assert_shape(&out, 2, DIMS(2, 2));
  csm_test_assert_tensor_close(&out, F32(8, 9, 13, 14), 4, 0, 0);
  csm_tensor_free(&out);
  /* clamping: v[-100:100:4] = 0, 4, 8; v[100:-100:-4] = 9, 5, 1 */
  CSM_ASSERT_OK(run_slice(v, 1, I32(-100), I32(100), I32(4), (slice_case){0}, &out));
  csm_test_assert_tensor_close(&out, F32(0, 4, 8), 3, 0, 0);
  csm_tensor_free(&out);
  CSM_ASSERT_OK(run_slice(v, 1, I32(100), I32(-100), I32(-4), (slice_case){0}, &out));
  csm_test_assert_tensor_close(&out, F32(9, 5, 1), 3, 0, 0);
  csm_tensor_free(&out);
  /* empty: v[5:2] */
  CSM_ASSERT_OK(run_slice(v, 1, I32(5), I32(2), I32(1), (slice_case){0}, &out));
  csm_test_assert_shape(&out, 1, DIMS(0));
  csm_tensor_free(&out);
}

static void test_slice_ellipsis_new_axis(void **state) {
  (void)state;
  csm_tensor out, x = csm_test_tensor_f32(3, DIMS(2, 3, 4), iota24);
  csm_tensor y = csm_test_tensor_f32(2, DIMS(2, 3), iota24);
  /* x[..., 1] */
  CSM_ASSERT_OK(run_slice(x, 2, I32(0, 1), I32(0, 2), I32(1, 1),
                          (slice_case){.ellipsis_mask = 1, .shrink_axis_mask = 2}, &out));
  csm_test_assert_shape(&out, 2, DIMS(2, 3));
  csm_test_assert_tensor_close(&out, F32(1, 5, 9, 13, 17, 21), 6, 0, 0);
  csm_tensor_free(&out);
  /* x[1, ..., 2:] */
  CSM_ASSERT_OK(run_slice(x, 3, I32(1, 0, 2), I32(2, 0, 4), I32(1, 1, 1),
                          (slice_case){.ellipsis_mask = 2, .shrink_axis_mask = 1}, &out));
  csm_test_assert_shape(&out, 2, DIMS(3, 2));
  csm_test_assert_tensor_close(&out, F32(14, 15, 18, 19, 22, 23), 6, 0, 0);
  csm_tensor_free(&out);
  /* y[:, newaxis, 1:] */
  CSM_ASSERT_OK(run_slice(y, 3, I32(0, 0, 1), I32(0, 0, 3), I32(1, 1, 1),
                          (slice_case){.begin_mask = 1, .end_mask = 1, .new_axis_mask = 2}, &out));
  csm_test_assert_shape(&out, 3, DIMS(2, 1, 2));
  csm_test_assert_tensor_close(&out, F32(1, 2, 4, 5), 4, 0, 0);
  csm_tensor_free(&out);
  /* y[..., newaxis] and y[newaxis] */
  CSM_ASSERT_OK(run_slice(y, 2, I32(0, 0), I32(0, 0), I32(1, 1),
                          (slice_case){.ellipsis_mask = 1, .new_axis_mask = 2}, &out));
  csm_test_assert_shape(&out, 3, DIMS(2, 3, 1));
  csm_test_assert_tensor_close(&out, iota24, 6, 0, 0);
  csm_tensor_free(&out);
  CSM_ASSERT_OK(run_slice(y, 1, I32(0), I32(0), I32(1), (slice_case){.new_axis_mask = 1}, &out));
  csm_test_assert_shape(&out, 3, DIMS(1, 2, 3));
  csm_tensor_free(&out);
  /* an empty spec takes everything */
  CSM_ASSERT_OK(run_slice(y, 0, I32(0), I32(0), I32(0), (slice_case){0}, &out));
  csm_test_assert_shape(&out, 2, DIMS(2, 3));
  csm_test_assert_tensor_close(&out, iota24, 6, 0, 0);
  csm_tensor_free(&out);
}

static void test_slice_errors(void **state) {
  (void)state;
  csm_tensor out, x = csm_test_tensor_f32(2, DIMS(4, 5), iota20);
  csm_node n = csm_test_node(CSM_OP_STRIDED_SLICE, 4);
  assert_int_equal(run_slice(x, 2, I32(0, 0), I32(1, 1), I32(1, 0), (slice_case){0}, &out),
                   CSM_EINPUT);
  assert_non_null(strstr(csm_last_error(), "strides[1] is zero"));
  assert_int_equal(
      run_slice(x, 1, I32(4), I32(5), I32(1), (slice_case){.shrink_axis_mask = 1}, &out),
      CSM_EINPUT);
  assert_non_null(strstr(csm_last_error(), "out of range"));
  assert_int_equal(
      run_slice(x, 1, I32(-5), I32(0), I32(1), (slice_case){.shrink_axis_mask = 1}, &out),
      CSM_EINPUT);
  assert_int_equal(
      run_slice(x, 1, I32(1), I32(2), I32(-1), (slice_case){.shrink_axis_mask = 1}, &out),
      CSM_EINPUT);
  assert_non_null(strstr(csm_last_error(), "positive stride"));
  assert_int_equal(
      run_slice(x, 2, I32(0, 0), I32(1, 1), I32(1, 1), (slice_case){.ellipsis_mask = 3}, &out),
      CSM_EINPUT);
  assert_non_null(strstr(csm_last_error(), "ellipsis"));
  assert_int_equal(run_slice(x, 3, I32(0, 0, 0), I32(1, 1, 1), I32(1, 1, 1), (slice_case){0}, &out),
                   CSM_EINPUT);
  assert_non_null(strstr(csm_last_error(), "more than the 2 input dims"));
  assert_int_equal(run_slice(csm_test_tensor_f32(0, DIMS(0), iota20), 1, I32(0), I32(1), I32(1),
                             (slice_case){0}, &out),
                   CSM_EINPUT);
  assert_non_null(strstr(csm_last_error(), "scalar"));
  /* begin/end/strides of different lengths, wrong dtype, not constant */
  csm_tensor in[4] = {x, csm_test_tensor_i32(1, DIMS(2), I32(0, 0)),
                      csm_test_tensor_i32(1, DIMS(1), I32(1)),
                      csm_test_tensor_i32(1, DIMS(2), I32(1, 1))};
  csm_test_expect_error(&n, in, CSM_EINPUT, "entries");
  in[2] = csm_test_tensor_f32(1, DIMS(2), F32(1, 1));
  csm_test_expect_error(&n, in, CSM_EINPUT, "int32");
  in[2] = csm_test_tensor_i32(1, DIMS(2), NULL);
  memset(&out, 0, sizeof out);
  assert_int_equal(csm_op_def_get(CSM_OP_STRIDED_SLICE)->infer(&n, in, &out), CSM_EUNSUPPORTED);
  assert_non_null(strstr(csm_last_error(), "end must be a constant"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_alias_flags),
      cmocka_unit_test(test_reshape),
      cmocka_unit_test(test_reshape_errors),
      cmocka_unit_test(test_squeeze),
      cmocka_unit_test(test_expand_dims),
      cmocka_unit_test(test_identity_and_shape),
      cmocka_unit_test(test_slice_face_model_patterns),
      cmocka_unit_test(test_slice_ranges),
      cmocka_unit_test(test_slice_ellipsis_new_axis),
      cmocka_unit_test(test_slice_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
