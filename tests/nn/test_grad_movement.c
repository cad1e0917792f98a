/* Backward passes of the data-movement ops (reshape family, strided slice,
 * pack, concat, depth-to-space), checked against central finite differences
 * (support/grad_check.h) for every differentiated operand. These ops are
 * linear, so the differences are exact up to float rounding and the
 * tolerances are tight. Every case also checks the forward output shape, so
 * that each spec slices what it says it does. */
#include "csm_test.h"
#include "grad_check.h"

#include <stdio.h>
#include <string.h>

#include "nn/ops/op.h"

/* Linear ops: the only error is rounding x +- eps to float. */
static const csm_grad_check k_tight = {1e-2, 1e-4, 1e-3, 0, 7};

static void check_shape(const csm_node *n, const csm_tensor *in, int rank, const int64_t *dims) {
  csm_tensor out;
  CSM_ASSERT_OK(csm_test_run_op(n, in, &out));
  csm_test_assert_shape(&out, rank, dims);
  csm_tensor_free(&out);
}

/* ---- Reshape, Squeeze, ExpandDims, Identity ---- */

static void test_reshape_family(void **state) {
  (void)state;
  float x[24];
  csm_test_fill_uniform(x, 24, 1, -1.0f, 1.0f);

  const int32_t shape[2] = {4, -1};
  csm_node n = csm_test_node(CSM_OP_RESHAPE, 2);
  csm_tensor in[2] = {csm_test_tensor_f32(3, (int64_t[]){2, 3, 4}, x),
                      csm_test_tensor_i32(1, (int64_t[]){2}, shape)};
  csm_test_context = "reshape";
  check_shape(&n, in, 2, (int64_t[]){4, 6});
  csm_grad_check_operand(&n, in, 0, &k_tight);

  n = csm_test_node(CSM_OP_SQUEEZE, 1);
  in[0] = csm_test_tensor_f32(4, (int64_t[]){2, 1, 12, 1}, x);
  csm_test_context = "squeeze all";
  check_shape(&n, in, 2, (int64_t[]){2, 12});
  csm_grad_check_operand(&n, in, 0, &k_tight);
  n.a.n_squeeze = 1;
  n.a.squeeze_dims[0] = -1;
  csm_test_context = "squeeze -1";
  check_shape(&n, in, 3, (int64_t[]){2, 1, 12});
  csm_grad_check_operand(&n, in, 0, &k_tight);

  const int32_t axes[2] = {-1, 0};
  for (int i = 0; i < 2; i++) {
    n = csm_test_node(CSM_OP_EXPAND_DIMS, 2);
    in[0] = csm_test_tensor_f32(2, (int64_t[]){4, 6}, x);
    in[1] = csm_test_tensor_i32(0, NULL, &axes[i]);
    csm_test_context = i ? "expand_dims 0" : "expand_dims -1";
    check_shape(&n, in, 3, i ? (int64_t[]){1, 4, 6} : (int64_t[]){4, 6, 1});
    csm_grad_check_operand(&n, in, 0, &k_tight);
  }

  n = csm_test_node(CSM_OP_IDENTITY, 1);
  in[0] = csm_test_tensor_f32(2, (int64_t[]){3, 8}, x);
  csm_test_context = "identity";
  csm_grad_check_operand(&n, in, 0, &k_tight);
  csm_test_context = "";
}

/* ---- StridedSlice ---- */

typedef struct slice_case {
  const char *what;
  int n;
  int32_t begin[4], end[4], strides[4];
  int begin_mask, end_mask, ellipsis_mask, new_axis_mask, shrink_axis_mask;
  int out_rank;
  int64_t out[4];
} slice_case;

static void test_strided_slice(void **state) {
  (void)state;
  /* x is [4, 5, 6]. */
  const slice_case cases[] = {
      {"stride 1 and 2", 3, {1, 0, 2}, {3, 5, 6}, {1, 2, 1}, 0, 0, 0, 0, 0, 3, {2, 3, 4}},
      {"stride 2 everywhere", 3, {0, 1, 0}, {4, 5, 5}, {2, 2, 2}, 0, 0, 0, 0, 0, 3, {2, 2, 3}},
      {"stride -1", 3, {3, 4, 5}, {0, 0, 1}, {-1, -1, -1}, 0, 0, 0, 0, 0, 3, {3, 4, 4}},
      /* dim 0 reversed through index 0 (end_mask), dim 2 every other, backwards. */
      {"negative strides, end mask",
       3,
       {-1, 1, 5},
       {0, 4, 0},
       {-1, 1, -2},
       0,
       1 | 4,
       0,
       0,
       0,
       3,
       {4, 3, 3}},
      {"begin and end masks", 3, {2, 1, 3}, {4, 4, 1}, {1, 1, 1}, 1, 4, 0, 0, 0, 3, {4, 3, 3}},
      {"shrink dim 0", 3, {2, 0, 1}, {3, 5, 4}, {1, 1, 1}, 0, 0, 0, 0, 1, 2, {5, 3}},
      {"shrink dim 2 at -1", 3, {0, 1, -1}, {4, 5, 0}, {1, 2, 1}, 0, 0, 0, 0, 4, 2, {4, 2}},
      {"new axis first",
       4,
       {0, 1, 0, 2},
       {0, 3, 5, 6},
       {1, 1, 2, 1},
       0,
       0,
       0,
       1,
       0,
       4,
       {1, 2, 3, 4}},
      {"new axis in the middle and shrink",
       4,
       {1, 0, 0, 0},
       {2, 0, 5, 6},
       {1, 1, 1, 2},
       0,
       0,
       0,
       2,
       1,
       3,
       {1, 5, 3}},
      {"ellipsis", 2, {0, 1}, {0, 3}, {1, 1}, 0, 0, 1, 0, 0, 3, {4, 5, 2}},
  };
  float x[120];
  char ctx[160];
  csm_test_fill_uniform(x, 120, 3, -1.0f, 1.0f);
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    const slice_case *sc = &cases[c];
    int64_t nspec = sc->n;
    csm_node n = csm_test_node(CSM_OP_STRIDED_SLICE, 4);
    n.a.begin_mask = sc->begin_mask;
    n.a.end_mask = sc->end_mask;
    n.a.ellipsis_mask = sc->ellipsis_mask;
    n.a.new_axis_mask = sc->new_axis_mask;
    n.a.shrink_axis_mask = sc->shrink_axis_mask;
    csm_tensor in[4] = {
        csm_test_tensor_f32(3, (int64_t[]){4, 5, 6}, x), csm_test_tensor_i32(1, &nspec, sc->begin),
        csm_test_tensor_i32(1, &nspec, sc->end), csm_test_tensor_i32(1, &nspec, sc->strides)};
    snprintf(ctx, sizeof ctx, "strided slice: %s", sc->what);
    csm_test_context = ctx;
    check_shape(&n, in, sc->out_rank, sc->out);
    csm_grad_check_operand(&n, in, 0, &k_tight);
  }
  csm_test_context = "";
}

/* ---- Pack ---- */

static void test_pack(void **state) {
  (void)state;
  float t[3][6];
  const int axes[3] = {0, 2, -1};
  const int64_t want[3][3] = {{3, 2, 3}, {2, 3, 3}, {2, 3, 3}};
  char ctx[64];
  for (int i = 0; i < 3; i++)
    csm_test_fill_uniform(t[i], 6, 10 + (uint32_t)i, -1.0f, 1.0f);
  for (int c = 0; c < 3; c++) {
    csm_node n = csm_test_node(CSM_OP_PACK, 3);
    n.a.axis = axes[c];
    csm_tensor in[3];
    for (int i = 0; i < 3; i++)
      in[i] = csm_test_tensor_f32(2, (int64_t[]){2, 3}, t[i]);
    snprintf(ctx, sizeof ctx, "pack axis %d", axes[c]);
    csm_test_context = ctx;
    check_shape(&n, in, 3, want[c]);
    for (int k = 0; k < 3; k++)
      csm_grad_check_operand(&n, in, k, &k_tight);
  }
  csm_test_context = "";
}

/* ---- Concat ---- */

static void test_concat(void **state) {
  (void)state;
  const struct {
    int32_t axis;
    int64_t d[3][3];
    int64_t out[3];
  } cases[] = {
      {1, {{2, 1, 4}, {2, 3, 4}, {2, 2, 4}}, {2, 6, 4}},
      {-1, {{2, 3, 1}, {2, 3, 2}, {2, 3, 3}}, {2, 3, 6}},
      {0, {{1, 2, 2}, {3, 2, 2}, {2, 2, 2}}, {6, 2, 2}},
  };
  float t[3][24];
  char ctx[64];
  for (int i = 0; i < 3; i++)
    csm_test_fill_uniform(t[i], 24, 20 + (uint32_t)i, -1.0f, 1.0f);
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    csm_node n = csm_test_node(CSM_OP_CONCAT, 4);
    csm_tensor in[4];
    for (int i = 0; i < 3; i++)
      in[i] = csm_test_tensor_f32(3, cases[c].d[i], t[i]);
    in[3] = csm_test_tensor_i32(0, NULL, &cases[c].axis);
    snprintf(ctx, sizeof ctx, "concat axis %d", (int)cases[c].axis);
    csm_test_context = ctx;
    check_shape(&n, in, 3, cases[c].out);
    for (int k = 0; k < 3; k++)
      csm_grad_check_operand(&n, in, k, &k_tight);
  }
  csm_test_context = "";
}

/* ---- DepthToSpace ---- */

static void test_depth_to_space(void **state) {
  (void)state;
  const struct {
    int64_t in[4], out[4];
    int block;
  } cases[] = {
      {{2, 2, 3, 8}, {2, 4, 6, 2}, 2},
      {{1, 2, 2, 12}, {1, 4, 4, 3}, 2},
      {{1, 1, 2, 9}, {1, 3, 6, 1}, 3},
  };
  float x[96];
  char ctx[64];
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    csm_test_fill_uniform(x, 96, 30 + (uint32_t)c, -1.0f, 1.0f);
    csm_node n = csm_test_node(CSM_OP_DEPTH_TO_SPACE, 1);
    n.a.block_size = cases[c].block;
    csm_tensor in = csm_test_tensor_f32(4, cases[c].in, x);
    snprintf(ctx, sizeof ctx, "depth_to_space case %zu", c);
    csm_test_context = ctx;
    check_shape(&n, &in, 4, cases[c].out);
    csm_grad_check_operand(&n, &in, 0, &k_tight);
  }
  csm_test_context = "";
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reshape_family), cmocka_unit_test(test_strided_slice),
      cmocka_unit_test(test_pack),           cmocka_unit_test(test_concat),
      cmocka_unit_test(test_depth_to_space),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
