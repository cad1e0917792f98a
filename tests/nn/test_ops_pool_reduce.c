/* Reductions (Mean, Sum, Max) and pooling (MaxPool, AvgPool): hand-computed
 * cases, references with the same summation order, errors, and bit equality
 * across batch sizes and thread counts. */
#include "csm_test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/ops/op.h"

/* ---- Reductions ---------------------------------------------------------- */

/* axes: n_axes int32 values; n_axes < 0 makes a scalar axes operand. */
static csm_tensor reduce(csm_op_kind op, csm_tensor x, const int32_t *axes, int n_axes, int keep) {
  csm_node n = csm_test_node(op, 2);
  csm_tensor in[2], out;
  int64_t len = n_axes;
  n.a.keep_dims = keep;
  in[0] = x;
  in[1] = n_axes < 0 ? csm_test_tensor_i32(0, NULL, axes) : csm_test_tensor_i32(1, &len, axes);
  CSM_ASSERT_OK(csm_test_run_op(&n, in, &out));
  return out;
}

static float iota24[24];

static int setup_iota(void **state) {
  (void)state;
  for (int i = 0; i < 24; i++)
    iota24[i] = (float)i;
  return 0;
}

static void test_reduce_hand(void **state) {
  (void)state;
  csm_tensor x = csm_test_tensor_f32(3, (int64_t[]){2, 3, 4}, iota24), out;
  out = reduce(CSM_OP_REDUCE_SUM, x, (int32_t[]){1}, 1, 0);
  csm_test_assert_shape(&out, 2, (int64_t[]){2, 4});
  csm_test_assert_tensor_close(&out, (float[]){12, 15, 18, 21, 48, 51, 54, 57}, 8, 0, 0);
  csm_tensor_free(&out);
  out = reduce(CSM_OP_REDUCE_SUM, x, (int32_t[]){-1}, 1, 0);
  csm_test_assert_shape(&out, 2, (int64_t[]){2, 3});
  csm_test_assert_tensor_close(&out, (float[]){6, 22, 38, 54, 70, 86}, 6, 0, 0);
  csm_tensor_free(&out);
  out = reduce(CSM_OP_REDUCE_SUM, x, (int32_t[]){-1}, 1, 1);
  csm_test_assert_shape(&out, 3, (int64_t[]){2, 3, 1});
  csm_tensor_free(&out);
  out = reduce(CSM_OP_REDUCE_MEAN, x, (int32_t[]){0, 2}, 2, 1);
  csm_test_assert_shape(&out, 3, (int64_t[]){1, 3, 1});
  csm_test_assert_tensor_close(&out, (float[]){7.5f, 11.5f, 15.5f}, 3, 0, 0);
  csm_tensor_free(&out);
  out = reduce(CSM_OP_REDUCE_MEAN, x, (int32_t[]){-3, 2}, 2, 0);
  csm_test_assert_shape(&out, 1, (int64_t[]){3});
  csm_test_assert_tensor_close(&out, (float[]){7.5f, 11.5f, 15.5f}, 3, 0, 0);
  csm_tensor_free(&out);
  out = reduce(CSM_OP_REDUCE_MAX, x, (int32_t[]){1}, -1, 0); /* scalar axis */
  csm_test_assert_shape(&out, 2, (int64_t[]){2, 4});
  csm_test_assert_tensor_close(&out, (float[]){8, 9, 10, 11, 20, 21, 22, 23}, 8, 0, 0);
  csm_tensor_free(&out);
  out = reduce(CSM_OP_REDUCE_MAX, x, (int32_t[]){0, 1, 2}, 3, 0);
  csm_test_assert_shape(&out, 0, NULL);
  csm_test_assert_tensor_close(&out, (float[]){23}, 1, 0, 0);
  csm_tensor_free(&out);
  out = reduce(CSM_OP_REDUCE_MEAN, x, (int32_t[]){2, 0, 1}, 3, 1);
  csm_test_assert_shape(&out, 3, (int64_t[]){1, 1, 1});
  csm_test_assert_tensor_close(&out, (float[]){11.5f}, 1, 0, 0);
  csm_tensor_free(&out);
  /* No axes: the input unchanged. */
  out = reduce(CSM_OP_REDUCE_SUM, x, NULL, 0, 0);
  csm_test_assert_shape(&out, 3, (int64_t[]){2, 3, 4});
  csm_test_assert_tensor_close(&out, iota24, 24, 0, 0);
  csm_tensor_free(&out);
}

static void test_reduce_nan_and_mean_order(void **state) {
  (void)state;
  const float x[6] = {1, NAN, 3, -5, -2, -9};
  csm_tensor out =
      reduce(CSM_OP_REDUCE_MAX, csm_test_tensor_f32(2, (int64_t[]){2, 3}, x), (int32_t[]){1}, 1, 0);
  csm_test_assert_tensor_close(&out, (float[]){NAN, -2}, 2, 0, 0);
  csm_tensor_free(&out);
  /* Mean divides each element in float32 first, then sums in double (TF.js). */
  const float y[3] = {0.1f, 0.2f, 0.7f};
  out = reduce(CSM_OP_REDUCE_MEAN, csm_test_tensor_f32(1, (int64_t[]){3}, y), (int32_t[]){0}, 1, 0);
  float want = (float)((double)(y[0] / 3.0f) + (double)(y[1] / 3.0f) + (double)(y[2] / 3.0f));
  csm_test_assert_tensor_close(&out, &want, 1, 0, 0);
  csm_tensor_free(&out);
}

/* Sum over any axes in row-major order of the reduced dims, in double. */
static void ref_reduce(const float *x, const int64_t *d, int rank, const int *red, int mean,
                       float *out) {
  int64_t idx[8], outn = 1, rn = 1;
  for (int i = 0; i < rank; i++) {
    if (red[i])
      rn *= d[i];
    else
      outn *= d[i];
  }
  for (int64_t o = 0; o < outn; o++) {
    double acc = 0;
    for (int64_t r = 0; r < rn; r++) {
      int64_t oo = o, rr = r, off = 0, stride = 1;
      for (int i = rank - 1; i >= 0; i--) {
        if (red[i]) {
          idx[i] = rr % d[i];
          rr /= d[i];
        } else {
          idx[i] = oo % d[i];
          oo /= d[i];
        }
      }
      for (int i = rank - 1; i >= 0; i--) {
        off += idx[i] * stride;
        stride *= d[i];
      }
      acc += mean ? (double)(x[off] / (float)rn) : (double)x[off];
    }
    out[o] = (float)acc;
  }
}

static void test_reduce_general(void **state) {
  (void)state;
  static const int64_t d[4] = {4, 10, 13, 70};
  static const struct {
    int n;
    int32_t axes[4];
  } cases[] = {{1, {1}}, {2, {1, 2}},    {2, {0, 2}}, {2, {1, 3}},
               {1, {3}}, {3, {0, 1, 3}}, {1, {0}},    {4, {0, 1, 2, 3}}};
  size_t total = 4 * 10 * 13 * 70;
  float *x = malloc(total * 4), *want = malloc(total * 4);
  csm_test_fill_uniform(x, total, 21, -10, 10);
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    int red[4] = {0};
    for (int i = 0; i < cases[k].n; i++)
      red[cases[k].axes[i]] = 1;
    for (int mean = 0; mean < 2; mean++) {
      csm_op_kind op = mean ? CSM_OP_REDUCE_MEAN : CSM_OP_REDUCE_SUM;
      csm_tensor out = reduce(op, csm_test_tensor_f32(4, d, x), cases[k].axes, cases[k].n, 1);
      ref_reduce(x, d, 4, red, mean, want);
      csm_test_assert_tensor_close(&out, want, csm_tensor_numel(&out), 0, 0);
      csm_tensor_free(&out);
    }
  }
  free(x);
  free(want);
}

static void test_reduce_errors(void **state) {
  (void)state;
  csm_tensor in[2], out;
  csm_node n = csm_test_node(CSM_OP_REDUCE_SUM, 2);
  const csm_op_def *def = csm_op_def_get(CSM_OP_REDUCE_SUM);
  int32_t ax[4] = {3, 0, 0, 0};
  in[0] = csm_test_tensor_f32(3, (int64_t[]){2, 3, 4}, iota24);
  in[1] = csm_test_tensor_i32(1, (int64_t[]){1}, ax);
  assert_int_equal(def->infer(&n, in, &out), CSM_EINPUT);
  assert_non_null(strstr(csm_last_error(), "axis 3"));
  ax[0] = -4;
  assert_int_equal(def->infer(&n, in, &out), CSM_EINPUT);
  in[1] = csm_test_tensor_i32(2, (int64_t[]){2, 2}, ax);
  assert_int_equal(def->infer(&n, in, &out), CSM_EINPUT);
  in[1] = csm_test_tensor_i32(1, (int64_t[]){1}, NULL); /* not a constant */
  assert_int_equal(def->infer(&n, in, &out), CSM_EUNSUPPORTED);
  in[1] = csm_test_tensor_f32(1, (int64_t[]){1}, iota24);
  assert_int_equal(def->infer(&n, in, &out), CSM_EINPUT);
}

/* ---- Pooling ------------------------------------------------------------- */

static csm_tensor pool(csm_op_kind op, csm_tensor x, int k, int s, csm_padding pad) {
  csm_node n = csm_test_node(op, 1);
  csm_tensor out;
  n.a.ksize[0] = n.a.ksize[1] = k;
  n.a.stride[0] = n.a.stride[1] = s;
  n.a.padding = pad;
  CSM_ASSERT_OK(csm_test_run_op(&n, &x, &out));
  return out;
}

static void test_pool_5x5(void **state) {
  (void)state;
  float x[25];
  for (int i = 0; i < 25; i++)
    x[i] = (float)(i + 1);
  csm_tensor t = csm_test_tensor_f32(4, (int64_t[]){1, 5, 5, 1}, x), out;
  out = pool(CSM_OP_MAXPOOL, t, 2, 2, CSM_PAD_VALID);
  csm_test_assert_shape(&out, 4, (int64_t[]){1, 2, 2, 1});
  csm_test_assert_tensor_close(&out, (float[]){7, 9, 17, 19}, 4, 0, 0);
  csm_tensor_free(&out);
  out = pool(CSM_OP_MAXPOOL, t, 2, 2, CSM_PAD_SAME);
  csm_test_assert_shape(&out, 4, (int64_t[]){1, 3, 3, 1});
  csm_test_assert_tensor_close(&out, (float[]){7, 9, 10, 17, 19, 20, 22, 24, 25}, 9, 0, 0);
  csm_tensor_free(&out);
  out = pool(CSM_OP_AVGPOOL, t, 2, 2, CSM_PAD_SAME);
  csm_test_assert_tensor_close(&out, (float[]){4, 6, 7.5f, 14, 16, 17.5f, 21.5f, 23.5f, 25}, 9, 0,
                               0);
  csm_tensor_free(&out);
  out = pool(CSM_OP_AVGPOOL, t, 3, 2, CSM_PAD_SAME); /* one pixel of padding before */
  csm_test_assert_shape(&out, 4, (int64_t[]){1, 3, 3, 1});
  csm_test_assert_tensor_close(&out, (float[]){4, 5.5f, 7, 11.5f, 13, 14.5f, 19, 20.5f, 22}, 9, 0,
                               0);
  csm_tensor_free(&out);
  out = pool(CSM_OP_MAXPOOL, t, 3, 2, CSM_PAD_SAME);
  csm_test_assert_tensor_close(&out, (float[]){7, 9, 10, 17, 19, 20, 22, 24, 25}, 9, 0, 0);
  csm_tensor_free(&out);
  out = pool(CSM_OP_MAXPOOL, t, 3, 2, CSM_PAD_VALID);
  csm_test_assert_shape(&out, 4, (int64_t[]){1, 2, 2, 1});
  csm_test_assert_tensor_close(&out, (float[]){13, 15, 23, 25}, 4, 0, 0);
  csm_tensor_free(&out);
  out = pool(CSM_OP_AVGPOOL, t, 3, 2, CSM_PAD_VALID);
  csm_test_assert_tensor_close(&out, (float[]){7, 9, 17, 19}, 4, 0, 0);
  csm_tensor_free(&out);
}

static void test_pool_4x4(void **state) {
  (void)state;
  float x[16];
  for (int i = 0; i < 16; i++)
    x[i] = (float)(i + 1);
  csm_tensor t = csm_test_tensor_f32(4, (int64_t[]){1, 4, 4, 1}, x), out;
  for (int same = 0; same < 2; same++) {
    out = pool(CSM_OP_MAXPOOL, t, 2, 2, same ? CSM_PAD_SAME : CSM_PAD_VALID);
    csm_test_assert_shape(&out, 4, (int64_t[]){1, 2, 2, 1});
    csm_test_assert_tensor_close(&out, (float[]){6, 8, 14, 16}, 4, 0, 0);
    csm_tensor_free(&out);
    out = pool(CSM_OP_AVGPOOL, t, 2, 2, same ? CSM_PAD_SAME : CSM_PAD_VALID);
    csm_test_assert_tensor_close(&out, (float[]){3.5f, 5.5f, 11.5f, 13.5f}, 4, 0, 0);
    csm_tensor_free(&out);
  }
  out = pool(CSM_OP_AVGPOOL, t, 3, 2, CSM_PAD_SAME); /* one pixel of padding after */
  csm_test_assert_shape(&out, 4, (int64_t[]){1, 2, 2, 1});
  csm_test_assert_tensor_close(&out, (float[]){6, 7.5f, 12, 13.5f}, 4, 0, 0);
  csm_tensor_free(&out);
  out = pool(CSM_OP_MAXPOOL, t, 3, 2, CSM_PAD_SAME);
  csm_test_assert_tensor_close(&out, (float[]){11, 12, 15, 16}, 4, 0, 0);
  csm_tensor_free(&out);
  out = pool(CSM_OP_MAXPOOL, t, 3, 2, CSM_PAD_VALID);
  csm_test_assert_shape(&out, 4, (int64_t[]){1, 1, 1, 1});
  csm_test_assert_tensor_close(&out, (float[]){11}, 1, 0, 0);
  csm_tensor_free(&out);
  out = pool(CSM_OP_AVGPOOL, t, 3, 2, CSM_PAD_VALID);
  csm_test_assert_tensor_close(&out, (float[]){6}, 1, 0, 0);
  csm_tensor_free(&out);
}

/* MaxPool never sees padding: all-negative inputs stay negative at the
 * border. Explicit pads behave like SAME for in-bounds counting. */
static void test_pool_padding_semantics(void **state) {
  (void)state;
  float x[50];
  for (int i = 0; i < 25; i++) {
    x[2 * i] = (float)(i + 1);
    x[2 * i + 1] = -(float)(i + 1);
  }
  csm_tensor t = csm_test_tensor_f32(4, (int64_t[]){1, 5, 5, 2}, x), out;
  out = pool(CSM_OP_MAXPOOL, t, 2, 2, CSM_PAD_SAME);
  csm_test_assert_tensor_close(
      &out, (float[]){7, -1, 9, -3, 10, -5, 17, -11, 19, -13, 20, -15, 22, -21, 24, -23, 25, -25},
      18, 0, 0);
  csm_tensor_free(&out);
  csm_node n = csm_test_node(CSM_OP_AVGPOOL, 1);
  n.a.ksize[0] = n.a.ksize[1] = 3;
  n.a.padding = CSM_PAD_EXPLICIT;
  n.a.pads[0] = n.a.pads[1] = n.a.pads[2] = n.a.pads[3] = 1;
  CSM_ASSERT_OK(csm_test_run_op(&n, &t, &out));
  csm_test_assert_shape(&out, 4, (int64_t[]){1, 5, 5, 2});
  const float *o = out.data;
  assert_true(o[0] == 4.0f && o[1] == -4.0f);       /* (1+2+6+7)/4 */
  assert_true(o[2 * 12] == 13.0f);                  /* centre: 3x3 mean */
  assert_true(o[2 * 4] == (4 + 5 + 9 + 10) / 4.0f); /* top-right corner */
  csm_tensor_free(&out);
}

static void test_pool_errors(void **state) {
  (void)state;
  float x[25] = {0};
  csm_tensor out, t = csm_test_tensor_f32(3, (int64_t[]){5, 5, 1}, x);
  csm_node n = csm_test_node(CSM_OP_MAXPOOL, 1);
  const csm_op_def *def = csm_op_def_get(CSM_OP_MAXPOOL);
  n.a.ksize[0] = n.a.ksize[1] = 2;
  n.a.stride[0] = n.a.stride[1] = 2;
  assert_int_equal(def->infer(&n, &t, &out), CSM_EINPUT); /* rank 3 */
  t = csm_test_tensor_f32(4, (int64_t[]){1, 5, 5, 1}, x);
  n.a.ksize[0] = 6;
  assert_int_equal(def->infer(&n, &t, &out), CSM_EINPUT); /* window larger than VALID input */
  n.a.ksize[0] = 2;
  n.a.stride[1] = 0;
  assert_int_equal(def->infer(&n, &t, &out), CSM_EINPUT);
  n.a.stride[1] = 2;
  assert_int_equal(def->infer(&n, &t, &out), CSM_OK);
}

/* Naive average pool in the documented order, for the multi-block channel
 * case (C > 64) and the parallel path. */
static void ref_avgpool(const float *x, int N, int H, int W, int C, int k, int s, int pt, int pl,
                        int OH, int OW, float *out) {
  for (int b = 0; b < N; b++)
    for (int oy = 0; oy < OH; oy++)
      for (int ox = 0; ox < OW; ox++)
        for (int c = 0; c < C; c++) {
          double acc = 0;
          int cnt = 0;
          for (int iy = oy * s - pt; iy < oy * s - pt + k; iy++)
            for (int ix = ox * s - pl; ix < ox * s - pl + k; ix++)
              if (iy >= 0 && iy < H && ix >= 0 && ix < W) {
                acc += x[((b * H + iy) * W + ix) * C + c];
                cnt++;
              }
          out[((b * OH + oy) * OW + ox) * C + c] = (float)(acc / cnt);
        }
}

static void test_pool_batch_threads(void **state) {
  (void)state;
  enum { N = 3, H = 17, W = 19, C = 70 };
  size_t img = (size_t)H * W * C;
  float *x = malloc(N * img * 4), *want = malloc(N * 9 * 10 * C * 4);
  csm_test_fill_uniform(x, N * img, 31, -5, 5);
  csm_tensor all = csm_test_tensor_f32(4, (int64_t[]){N, H, W, C}, x);
  for (int max = 0; max < 2; max++) {
    csm_op_kind op = max ? CSM_OP_MAXPOOL : CSM_OP_AVGPOOL;
    csm_set_threads(2);
    csm_tensor ref = pool(op, all, 3, 2, CSM_PAD_SAME);
    csm_test_assert_shape(&ref, 4, (int64_t[]){N, 9, 10, C});
    if (!max) {
      ref_avgpool(x, N, H, W, C, 3, 2, 1, 1, 9, 10, want);
      csm_test_assert_tensor_close(&ref, want, csm_tensor_numel(&ref), 0, 0);
    }
    size_t oimg = csm_tensor_numel(&ref) / N;
    csm_tensor o1;
    for (int t = 1; t <= 5; t += 2) {
      csm_set_threads(t);
      o1 = pool(op, all, 3, 2, CSM_PAD_SAME);
      assert_memory_equal(ref.data, o1.data, N * oimg * 4);
      csm_tensor_free(&o1);
    }
    csm_set_threads(2);
    for (int b = 0; b < N; b++) {
      o1 = pool(op, csm_test_tensor_f32(4, (int64_t[]){1, H, W, C}, x + b * img), 3, 2,
                CSM_PAD_SAME);
      assert_memory_equal((float *)ref.data + b * oimg, o1.data, oimg * 4);
      csm_tensor_free(&o1);
    }
    csm_tensor_free(&ref);
  }
  /* Global mean over H, W (the usual head of a face model), a per-pixel
   * sum over channels (the run case) and a max over everything but N. */
  static const struct {
    csm_op_kind op;
    int n;
    int32_t axes[3];
  } red[] = {{CSM_OP_REDUCE_MEAN, 2, {1, 2}},
             {CSM_OP_REDUCE_SUM, 1, {-1}},
             {CSM_OP_REDUCE_MAX, 3, {1, 2, 3}}};
  for (size_t k = 0; k < sizeof red / sizeof red[0]; k++) {
    csm_set_threads(2);
    csm_tensor ref = reduce(red[k].op, all, red[k].axes, red[k].n, 1), o1;
    size_t oimg = csm_tensor_numel(&ref) / N;
    for (int t = 1; t <= 5; t += 2) {
      csm_set_threads(t);
      o1 = reduce(red[k].op, all, red[k].axes, red[k].n, 1);
      assert_memory_equal(ref.data, o1.data, N * oimg * 4);
      csm_tensor_free(&o1);
    }
    for (int b = 0; b < N; b++) {
      o1 = reduce(red[k].op, csm_test_tensor_f32(4, (int64_t[]){1, H, W, C}, x + b * img),
                  red[k].axes, red[k].n, 1);
      assert_memory_equal((float *)ref.data + b * oimg, o1.data, oimg * 4);
      csm_tensor_free(&o1);
    }
    csm_tensor_free(&ref);
  }
  csm_set_threads(2);
  free(x);
  free(want);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_reduce_hand, setup_iota),
      cmocka_unit_test(test_reduce_nan_and_mean_order),
      cmocka_unit_test(test_reduce_general),
      cmocka_unit_test_setup(test_reduce_errors, setup_iota),
      cmocka_unit_test(test_pool_5x5),
      cmocka_unit_test(test_pool_4x4),
      cmocka_unit_test(test_pool_padding_semantics),
      cmocka_unit_test(test_pool_errors),
      cmocka_unit_test(test_pool_batch_threads),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
