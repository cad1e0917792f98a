/* Data-movement ops: Pack, Concat, Pad, ResizeBilinear, DepthToSpace.
 * Expected values are written out by hand from TensorFlow's formulas. */
#include "csm_test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/ops/op.h"

#define DIMS(...) ((const int64_t[]){__VA_ARGS__})
#define F32(...) ((const float[]){__VA_ARGS__})
#define I32(...) ((const int32_t[]){__VA_ARGS__})

/* ---- Pack and Concat ----------------------------------------------------- */

static void test_pack(void **state) {
  (void)state;
  csm_node n = csm_test_node(CSM_OP_PACK, 2);
  csm_tensor out, in[2] = {csm_test_tensor_f32(2, DIMS(2, 2), F32(1, 2, 3, 4)),
                           csm_test_tensor_f32(2, DIMS(2, 2), F32(5, 6, 7, 8))};
  CSM_ASSERT_OK(csm_test_run_op(&n, in, &out));
  csm_test_assert_shape(&out, 3, DIMS(2, 2, 2));
  csm_test_assert_tensor_close(&out, F32(1, 2, 3, 4, 5, 6, 7, 8), 8, 0, 0);
  csm_tensor_free(&out);
  n.a.axis = -1;
  CSM_ASSERT_OK(csm_test_run_op(&n, in, &out));
  csm_test_assert_shape(&out, 3, DIMS(2, 2, 2));
  csm_test_assert_tensor_close(&out, F32(1, 5, 2, 6, 3, 7, 4, 8), 8, 0, 0);
  csm_tensor_free(&out);
  n.a.axis = 1;
  CSM_ASSERT_OK(csm_test_run_op(&n, in, &out));
  csm_test_assert_tensor_close(&out, F32(1, 2, 5, 6, 3, 4, 7, 8), 8, 0, 0);
  csm_tensor_free(&out);
  /* scalars, as models build shape vectors: pack(N, 7, 7) */
  csm_tensor s[3] = {csm_test_tensor_i32(0, DIMS(0), I32(2)),
                     csm_test_tensor_i32(0, DIMS(0), I32(7)),
                     csm_test_tensor_i32(0, DIMS(0), I32(9))};
  n = csm_test_node(CSM_OP_PACK, 3);
  CSM_ASSERT_OK(csm_test_run_op(&n, s, &out));
  csm_test_assert_shape(&out, 1, DIMS(3));
  csm_test_assert_tensor_i32(&out, I32(2, 7, 9), 3);
  csm_tensor_free(&out);
}

static void test_pack_errors(void **state) {
  (void)state;
  csm_node n = csm_test_node(CSM_OP_PACK, 2);
  csm_tensor in[2] = {csm_test_tensor_f32(2, DIMS(2, 2), F32(1, 2, 3, 4)),
                      csm_test_tensor_f32(2, DIMS(1, 4), F32(5, 6, 7, 8))};
  csm_test_expect_error(&n, in, CSM_EINPUT, "differs from input 0 shape");
  in[1] = csm_test_tensor_i32(2, DIMS(2, 2), I32(5, 6, 7, 8));
  csm_test_expect_error(&n, in, CSM_EINPUT, "dtype");
  in[1] = in[0];
  n.a.axis = 3;
  csm_test_expect_error(&n, in, CSM_EINPUT, "axis 3 out of range");
  n.a.axis = -4;
  csm_test_expect_error(&n, in, CSM_EINPUT, "axis -4 out of range");
}

static void test_concat(void **state) {
  (void)state;
  csm_node n = csm_test_node(CSM_OP_CONCAT, 4);
  csm_tensor out, in[4] = {csm_test_tensor_f32(2, DIMS(2, 1), F32(1, 2)),
                           csm_test_tensor_f32(2, DIMS(2, 2), F32(3, 4, 5, 6)),
                           csm_test_tensor_f32(2, DIMS(2, 3), F32(7, 8, 9, 10, 11, 12)),
                           csm_test_tensor_i32(0, DIMS(0), I32(-1))};
  CSM_ASSERT_OK(csm_test_run_op(&n, in, &out));
  csm_test_assert_shape(&out, 2, DIMS(2, 6));
  csm_test_assert_tensor_close(&out, F32(1, 3, 4, 7, 8, 9, 2, 5, 6, 10, 11, 12), 12, 0, 0);
  csm_tensor_free(&out);
  /* the last axis named positively gives the same */
  in[3] = csm_test_tensor_i32(0, DIMS(0), I32(1));
  CSM_ASSERT_OK(csm_test_run_op(&n, in, &out));
  csm_test_assert_tensor_close(&out, F32(1, 3, 4, 7, 8, 9, 2, 5, 6, 10, 11, 12), 12, 0, 0);
  csm_tensor_free(&out);
  /* axis 1 of rank-3 tensors */
  in[0] = csm_test_tensor_f32(3, DIMS(2, 1, 2), F32(1, 2, 3, 4));
  in[1] = csm_test_tensor_f32(3, DIMS(2, 2, 2), F32(5, 6, 7, 8, 9, 10, 11, 12));
  in[2] = csm_test_tensor_f32(3, DIMS(2, 1, 2), F32(13, 14, 15, 16));
  CSM_ASSERT_OK(csm_test_run_op(&n, in, &out));
  csm_test_assert_shape(&out, 3, DIMS(2, 4, 2));
  csm_test_assert_tensor_close(&out, F32(1, 2, 5, 6, 7, 8, 13, 14, 3, 4, 9, 10, 11, 12, 15, 16), 16,
                               0, 0);
  csm_tensor_free(&out);
  /* int32 vectors on axis 0, one of them empty */
  csm_tensor v[3] = {csm_test_tensor_i32(1, DIMS(2), I32(1, 2)),
                     csm_test_tensor_i32(1, DIMS(0), I32(0)),
                     csm_test_tensor_i32(0, DIMS(0), I32(0))};
  n = csm_test_node(CSM_OP_CONCAT, 3);
  CSM_ASSERT_OK(csm_test_run_op(&n, v, &out));
  csm_test_assert_tensor_i32(&out, I32(1, 2), 2);
  csm_tensor_free(&out);
}

static void test_concat_errors(void **state) {
  (void)state;
  csm_node n = csm_test_node(CSM_OP_CONCAT, 3);
  csm_tensor out, in[3] = {csm_test_tensor_f32(2, DIMS(2, 1), F32(1, 2)),
                           csm_test_tensor_f32(2, DIMS(3, 2), F32(3, 4, 5, 6, 7, 8)),
                           csm_test_tensor_i32(0, DIMS(0), I32(1))};
  csm_test_expect_error(&n, in, CSM_EINPUT, "does not match");
  in[1] = csm_test_tensor_i32(2, DIMS(2, 2), I32(3, 4, 5, 6));
  csm_test_expect_error(&n, in, CSM_EINPUT, "dtype");
  in[1] = csm_test_tensor_f32(2, DIMS(2, 2), F32(3, 4, 5, 6));
  in[2] = csm_test_tensor_i32(0, DIMS(0), I32(2));
  csm_test_expect_error(&n, in, CSM_EINPUT, "axis 2 out of range");
  in[2] = csm_test_tensor_i32(0, DIMS(0), I32(-3));
  csm_test_expect_error(&n, in, CSM_EINPUT, "axis -3 out of range");
  in[2] = csm_test_tensor_f32(0, DIMS(0), F32(1));
  csm_test_expect_error(&n, in, CSM_EINPUT, "int32");
  in[2] = csm_test_tensor_i32(0, DIMS(0), NULL);
  memset(&out, 0, sizeof out);
  assert_int_equal(csm_op_def_get(CSM_OP_CONCAT)->infer(&n, in, &out), CSM_EUNSUPPORTED);
  n.n_in = 1;
  csm_test_expect_error(&n, in, CSM_EINPUT, "at least one");
}

/* ---- Pad ----------------------------------------------------------------- */

static void test_pad(void **state) {
  (void)state;
  csm_node n = csm_test_node(CSM_OP_PAD, 3);
  csm_tensor out, in[3] = {csm_test_tensor_f32(2, DIMS(2, 3), F32(1, 2, 3, 4, 5, 6)),
                           csm_test_tensor_i32(2, DIMS(2, 2), I32(1, 0, 2, 1)),
                           csm_test_tensor_f32(0, DIMS(0), F32(9))};
  CSM_ASSERT_OK(csm_test_run_op(&n, in, &out));
  csm_test_assert_shape(&out, 2, DIMS(3, 6));
  csm_test_assert_tensor_close(&out, F32(9, 9, 9, 9, 9, 9, 9, 9, 1, 2, 3, 9, 9, 9, 4, 5, 6, 9), 18,
                               0, 0);
  csm_tensor_free(&out);
  /* int32, no value (zeros), rank 3 */
  n.n_in = 2;
  in[0] = csm_test_tensor_i32(3, DIMS(1, 2, 2), I32(1, 2, 3, 4));
  in[1] = csm_test_tensor_i32(2, DIMS(3, 2), I32(0, 1, 1, 0, 0, 1));
  CSM_ASSERT_OK(csm_test_run_op(&n, in, &out));
  csm_test_assert_shape(&out, 3, DIMS(2, 3, 3));
  csm_test_assert_tensor_i32(&out, I32(0, 0, 0, 1, 2, 0, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), 18);
  csm_tensor_free(&out);
  /* NHWC spatial padding, as before a VALID conv, with 2 channels */
  in[0] = csm_test_tensor_f32(4, DIMS(1, 1, 2, 2), F32(1, 2, 3, 4));
  in[1] = csm_test_tensor_i32(2, DIMS(4, 2), I32(0, 0, 1, 1, 1, 0, 0, 0));
  CSM_ASSERT_OK(csm_test_run_op(&n, in, &out));
  csm_test_assert_shape(&out, 4, DIMS(1, 3, 3, 2));
  csm_test_assert_tensor_close(&out, F32(0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 0, 0, 0, 0, 0, 0), 18,
                               0, 0);
  csm_tensor_free(&out);
}

static void test_pad_errors(void **state) {
  (void)state;
  csm_node n = csm_test_node(CSM_OP_PAD, 3);
  csm_tensor in[3] = {csm_test_tensor_f32(2, DIMS(2, 3), F32(1, 2, 3, 4, 5, 6)),
                      csm_test_tensor_i32(2, DIMS(2, 2), I32(1, -1, 0, 0)),
                      csm_test_tensor_f32(0, DIMS(0), F32(9))};
  csm_test_expect_error(&n, in, CSM_EINPUT, "negative");
  in[1] = csm_test_tensor_i32(2, DIMS(3, 2), I32(0, 0, 0, 0, 0, 0));
  csm_test_expect_error(&n, in, CSM_EINPUT, "paddings must have shape [2,2]");
  in[1] = csm_test_tensor_i32(2, DIMS(2, 2), I32(0, 0, 0, 0));
  in[2] = csm_test_tensor_i32(0, DIMS(0), I32(9));
  csm_test_expect_error(&n, in, CSM_EINPUT, "pad value dtype");
  in[2] = csm_test_tensor_f32(1, DIMS(2), F32(9, 9));
  csm_test_expect_error(&n, in, CSM_EINPUT, "scalar");
  n.n_in = 4;
  csm_test_expect_error(&n, in, CSM_EINPUT, "2 or 3 inputs");
}

/* ---- ResizeBilinear ------------------------------------------------------ */

static csm_status run_resize(csm_tensor x, int oh, int ow, int align, int half, csm_tensor *out) {
  csm_node n = csm_test_node(CSM_OP_RESIZE_BILINEAR, 2);
  int32_t size[2] = {oh, ow};
  csm_tensor in[2] = {x, csm_test_tensor_i32(1, DIMS(2), size)};
  n.a.align_corners = align;
  n.a.half_pixel_centers = half;
  memset(out, 0, sizeof *out);
  return csm_test_run_op(&n, in, out);
}

/* 2x2 -> 4x4 on [[1,2],[3,4]] (channel 1 = 10x channel 0). The result is
 * 1 + 2R + C where R, C are the clamped source coordinates:
 *   default:            ratio 2/4,  src = i/2           -> 0, .5, 1, 1
 *   align_corners:      ratio 1/3,  src = i/3           -> 0, 1/3, 2/3, 1
 *   half_pixel_centers: ratio 2/4,  src = (i+.5)/2 - .5 -> 0, .25, .75, 1
 * (the first and last half-pixel sources, -0.25 and 1.25, read one row). */
static void check_resize_up(int align, int half, const float *want16) {
  static const float x[8] = {1, 10, 2, 20, 3, 30, 4, 40};
  float want[32];
  csm_tensor out;
  for (int i = 0; i < 16; i++)
    want[2 * i] = want16[i], want[2 * i + 1] = 10 * want16[i];
  CSM_ASSERT_OK(run_resize(csm_test_tensor_f32(4, DIMS(1, 2, 2, 2), x), 4, 4, align, half, &out));
  csm_test_assert_shape(&out, 4, DIMS(1, 4, 4, 2));
  csm_test_assert_tensor_close(&out, want, 32, 2e-6f, 0);
  csm_tensor_free(&out);
}

static void test_resize_up(void **state) {
  (void)state;
  check_resize_up(0, 0, F32(1, 1.5f, 2, 2, 2, 2.5f, 3, 3, 3, 3.5f, 4, 4, 3, 3.5f, 4, 4));
  check_resize_up(1, 0,
                  F32(1, 4 / 3.f, 5 / 3.f, 2, 5 / 3.f, 2, 7 / 3.f, 8 / 3.f, 7 / 3.f, 8 / 3.f, 3,
                      10 / 3.f, 3, 10 / 3.f, 11 / 3.f, 4));
  check_resize_up(0, 1,
                  F32(1, 1.25f, 1.75f, 2, 1.5f, 1.75f, 2.25f, 2.5f, 2.5f, 2.75f, 3.25f, 3.5f, 3,
                      3.25f, 3.75f, 4));
}

/* 4x4 -> 3x3 on x[r][c] = 4r + c + rc, which bilinear interpolation
 * reproduces exactly, so the result is 4R + C + RC:
 *   default:            ratio 4/3, src = 4i/3            -> 0, 4/3, 8/3
 *   align_corners:      ratio 3/2, src = 3i/2            -> 0, 3/2, 3
 *   half_pixel_centers: ratio 4/3, src = 4(i+.5)/3 - .5  -> 1/6, 3/2, 17/6 */
static void check_resize_down(int align, int half, const float *want) {
  float x[16];
  csm_tensor out;
  for (int r = 0; r < 4; r++)
    for (int c = 0; c < 4; c++)
      x[4 * r + c] = (float)(4 * r + c + r * c);
  CSM_ASSERT_OK(run_resize(csm_test_tensor_f32(4, DIMS(1, 4, 4, 1), x), 3, 3, align, half, &out));
  csm_test_assert_shape(&out, 4, DIMS(1, 3, 3, 1));
  csm_test_assert_tensor_close(&out, want, 9, 1e-5f, 0);
  csm_tensor_free(&out);
}

static void test_resize_down(void **state) {
  (void)state;
  check_resize_down(
      0, 0,
      F32(0, 4 / 3.f, 8 / 3.f, 16 / 3.f, 76 / 9.f, 104 / 9.f, 32 / 3.f, 140 / 9.f, 184 / 9.f));
  check_resize_down(1, 0, F32(0, 1.5f, 3, 6, 9.75f, 13.5f, 12, 18, 24));
  check_resize_down(0, 1,
                    F32(31 / 36.f, 29 / 12.f, 143 / 36.f, 77 / 12.f, 9.75f, 157 / 12.f, 431 / 36.f,
                        205 / 12.f, 799 / 36.f));
}

/* TF.js's loop, transcribed (double arithmetic), for a size that takes the
 * threaded path; outputs must match bit for bit. */
static void test_resize_large_matches_reference(void **state) {
  (void)state;
  const int B = 2, H = 37, W = 53, C = 5, OH = 96, OW = 80;
  float *x = malloc(sizeof(float) * B * H * W * C), *ref = malloc(sizeof(float) * B * OH * OW * C);
  csm_tensor out;
  assert_non_null(x);
  assert_non_null(ref);
  csm_test_fill_uniform(x, (size_t)B * H * W * C, 7, -3, 3);
  for (int mode = 0; mode < 3; mode++) {
    int align = mode == 1, half = mode == 2;
    double rr = (align && OH > 1) ? (double)(H - 1) / (OH - 1) : (double)H / OH;
    double cr = (align && OW > 1) ? (double)(W - 1) / (OW - 1) : (double)W / OW;
    size_t k = 0;
    for (int b = 0; b < B; b++)
      for (int r = 0; r < OH; r++) {
        double sr = half ? rr * (r + 0.5) - 0.5 : rr * r;
        int r0 = (int)fmax(0, floor(sr)), r1 = (int)fmin(H - 1, ceil(sr));
        double rf = sr - r0;
        for (int c = 0; c < OW; c++) {
          double sc = half ? cr * (c + 0.5) - 0.5 : cr * c;
          int c0 = (int)fmax(0, floor(sc)), c1 = (int)fmin(W - 1, ceil(sc));
          double cf = sc - c0;
          for (int d = 0; d < C; d++) {
            double tl = x[((b * H + r0) * W + c0) * C + d], tr = x[((b * H + r0) * W + c1) * C + d];
            double bl = x[((b * H + r1) * W + c0) * C + d], br = x[((b * H + r1) * W + c1) * C + d];
            double top = tl + (tr - tl) * cf, bot = bl + (br - bl) * cf;
            ref[k++] = (float)(top + (bot - top) * rf);
          }
        }
      }
    CSM_ASSERT_OK(
        run_resize(csm_test_tensor_f32(4, DIMS(B, H, W, C), x), OH, OW, align, half, &out));
    csm_test_assert_tensor_close(&out, ref, k, 0, 0);
    csm_tensor_free(&out);
  }
  free(x);
  free(ref);
}

static void test_resize_errors(void **state) {
  (void)state;
  csm_tensor out, x = csm_test_tensor_f32(4, DIMS(1, 2, 2, 1), F32(1, 2, 3, 4));
  assert_int_equal(run_resize(x, 4, 4, 1, 1, &out), CSM_EINPUT);
  assert_non_null(strstr(csm_last_error(), "align_corners and half_pixel_centers"));
  assert_int_equal(run_resize(x, 0, 4, 0, 0, &out), CSM_EINPUT);
  assert_non_null(strstr(csm_last_error(), "positive"));
  assert_int_equal(
      run_resize(csm_test_tensor_f32(3, DIMS(2, 2, 1), F32(1, 2, 3, 4)), 4, 4, 0, 0, &out),
      CSM_EINPUT);
  assert_non_null(strstr(csm_last_error(), "rank 4"));
  assert_int_equal(
      run_resize(csm_test_tensor_i32(4, DIMS(1, 2, 2, 1), I32(1, 2, 3, 4)), 4, 4, 0, 0, &out),
      CSM_EINPUT);
  assert_non_null(strstr(csm_last_error(), "float32"));
  assert_int_equal(run_resize(csm_test_tensor_f32(4, DIMS(1, 0, 2, 1), F32(0)), 4, 4, 0, 0, &out),
                   CSM_EINPUT);
}

/* ---- DepthToSpace -------------------------------------------------------- */

static void test_depth_to_space(void **state) {
  (void)state;
  csm_node n = csm_test_node(CSM_OP_DEPTH_TO_SPACE, 1);
  csm_tensor out, in[1] = {csm_test_tensor_f32(4, DIMS(1, 1, 1, 8), F32(0, 1, 2, 3, 4, 5, 6, 7))};
  n.a.block_size = 2;
  /* out[0, i, j, c] = in[(2i + j) * 2 + c]: the same order */
  CSM_ASSERT_OK(csm_test_run_op(&n, in, &out));
  csm_test_assert_shape(&out, 4, DIMS(1, 2, 2, 2));
  csm_test_assert_tensor_close(&out, F32(0, 1, 2, 3, 4, 5, 6, 7), 8, 0, 0);
  csm_tensor_free(&out);
  /* TensorFlow's documented example */
  in[0] = csm_test_tensor_f32(4, DIMS(1, 2, 2, 4),
                              F32(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16));
  CSM_ASSERT_OK(csm_test_run_op(&n, in, &out));
  csm_test_assert_shape(&out, 4, DIMS(1, 4, 4, 1));
  csm_test_assert_tensor_close(&out, F32(1, 2, 5, 6, 3, 4, 7, 8, 9, 10, 13, 14, 11, 12, 15, 16), 16,
                               0, 0);
  csm_tensor_free(&out);
  /* two output channels, 1x2 spatial: out[i][2w + j][c] = in[w][(2i + j) * 2 + c] */
  in[0] = csm_test_tensor_i32(4, DIMS(1, 1, 2, 8),
                              I32(0, 1, 2, 3, 4, 5, 6, 7, 10, 11, 12, 13, 14, 15, 16, 17));
  CSM_ASSERT_OK(csm_test_run_op(&n, in, &out));
  csm_test_assert_shape(&out, 4, DIMS(1, 2, 4, 2));
  csm_test_assert_tensor_i32(&out, I32(0, 1, 2, 3, 10, 11, 12, 13, 4, 5, 6, 7, 14, 15, 16, 17), 16);
  csm_tensor_free(&out);
}

/* A size that takes the threaded path, against the definition. */
static void test_depth_to_space_large(void **state) {
  (void)state;
  const int B = 2, H = 31, W = 23, b = 3, OC = 7, C = b * b * OC;
  float *x = malloc(sizeof(float) * B * H * W * C);
  csm_node n = csm_test_node(CSM_OP_DEPTH_TO_SPACE, 1);
  csm_tensor out, in[1];
  assert_non_null(x);
  csm_test_fill_uniform(x, (size_t)B * H * W * C, 3, -1, 1);
  in[0] = csm_test_tensor_f32(4, DIMS(B, H, W, C), x);
  n.a.block_size = b;
  CSM_ASSERT_OK(csm_test_run_op(&n, in, &out));
  csm_test_assert_shape(&out, 4, DIMS(B, H * b, W * b, OC));
  const float *y = out.data;
  for (int bn = 0; bn < B; bn++)
    for (int oh = 0; oh < H * b; oh++)
      for (int ow = 0; ow < W * b; ow++)
        for (int c = 0; c < OC; c++) {
          float want = x[((bn * H + oh / b) * W + ow / b) * C + ((oh % b) * b + ow % b) * OC + c];
          float got = y[((bn * H * b + oh) * W * b + ow) * OC + c];
          if (got != want) fail_msg("mismatch at %d,%d,%d,%d", bn, oh, ow, c);
        }
  csm_tensor_free(&out);
  free(x);
}

static void test_depth_to_space_errors(void **state) {
  (void)state;
  csm_node n = csm_test_node(CSM_OP_DEPTH_TO_SPACE, 1);
  csm_tensor in[1] = {csm_test_tensor_f32(4, DIMS(1, 1, 1, 6), F32(0, 1, 2, 3, 4, 5))};
  n.a.block_size = 2;
  csm_test_expect_error(&n, in, CSM_EINPUT, "not divisible");
  n.a.block_size = 1;
  csm_test_expect_error(&n, in, CSM_EINPUT, "block_size");
  n.a.block_size = 2;
  in[0] = csm_test_tensor_f32(3, DIMS(1, 1, 8), F32(0, 1, 2, 3, 4, 5, 6, 7));
  csm_test_expect_error(&n, in, CSM_EINPUT, "rank 4");
}

/* Large pad (threaded path) against the definition. */
static void test_pad_large(void **state) {
  (void)state;
  const int H = 61, W = 47, C = 9;
  float *x = malloc(sizeof(float) * H * W * C);
  csm_node n = csm_test_node(CSM_OP_PAD, 3);
  csm_tensor out, in[3];
  assert_non_null(x);
  csm_test_fill_uniform(x, (size_t)H * W * C, 5, -1, 1);
  in[0] = csm_test_tensor_f32(4, DIMS(1, H, W, C), x);
  in[1] = csm_test_tensor_i32(2, DIMS(4, 2), I32(1, 0, 3, 2, 0, 4, 1, 1));
  in[2] = csm_test_tensor_f32(0, DIMS(0), F32(-7));
  CSM_ASSERT_OK(csm_test_run_op(&n, in, &out));
  csm_test_assert_shape(&out, 4, DIMS(2, H + 5, W + 4, C + 2));
  const float *y = out.data;
  for (int b = 0; b < 2; b++)
    for (int h = 0; h < H + 5; h++)
      for (int w = 0; w < W + 4; w++)
        for (int c = 0; c < C + 2; c++) {
          int ib = b - 1, ih = h - 3, iw = w, ic = c - 1;
          int inside = ib == 0 && ih >= 0 && ih < H && iw < W && ic >= 0 && ic < C;
          float want = inside ? x[(ih * W + iw) * C + ic] : -7.f;
          if (y[((b * (H + 5) + h) * (W + 4) + w) * (C + 2) + c] != want)
            fail_msg("mismatch at %d,%d,%d,%d", b, h, w, c);
        }
  csm_tensor_free(&out);
  free(x);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pack),
      cmocka_unit_test(test_pack_errors),
      cmocka_unit_test(test_concat),
      cmocka_unit_test(test_concat_errors),
      cmocka_unit_test(test_pad),
      cmocka_unit_test(test_pad_errors),
      cmocka_unit_test(test_pad_large),
      cmocka_unit_test(test_resize_up),
      cmocka_unit_test(test_resize_down),
      cmocka_unit_test(test_resize_large_matches_reference),
      cmocka_unit_test(test_resize_errors),
      cmocka_unit_test(test_depth_to_space),
      cmocka_unit_test(test_depth_to_space_large),
      cmocka_unit_test(test_depth_to_space_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
