/* Backward passes of MaxPool, AvgPool, Pad and ResizeBilinear against
 * central finite differences (grad_check.h).
 *
 * MaxPool data are distinct multiples of 0.05 (a permutation), so that a
 * finite-difference step (1e-2) never changes which pixel is a window's
 * maximum. The other ops are linear in x: any data will do. */
#include "csm_test.h"
#include "grad_check.h"

#include <stdio.h>
#include <stdlib.h>

static csm_tensor make4(int64_t n, int64_t h, int64_t w, int64_t c) {
  csm_tensor t;
  csm_shape s = csm_shape_make(4, (int64_t[]){n, h, w, c});
  CSM_ASSERT_OK(csm_tensor_alloc(&t, CSM_F32, &s));
  return t;
}

/* Distinct values 0.05 apart, in a scrambled order. */
static void fill_distinct(csm_tensor *t) {
  float *x = t->data;
  size_t n = csm_tensor_numel(t);
  const size_t step = 7919; /* a prime: coprime with every size used here */
  for (size_t i = 0; i < n; i++)
    x[i] = (float)((i * step) % n) * 0.05f - 1.0f;
}

static void check_pool(int op, csm_padding pad, int k, int s, int64_t h, int64_t w,
                       const char *ctx) {
  csm_node nd = csm_test_node(op, 1);
  nd.a.padding = pad;
  nd.a.ksize[0] = nd.a.ksize[1] = k;
  nd.a.stride[0] = nd.a.stride[1] = s;
  if (pad == CSM_PAD_EXPLICIT) {
    nd.a.pads[0] = 1;
    nd.a.pads[1] = 0;
    nd.a.pads[2] = 0;
    nd.a.pads[3] = 2;
  }
  csm_tensor x = make4(2, h, w, 3);
  if (op == CSM_OP_MAXPOOL)
    fill_distinct(&x);
  else
    csm_test_fill_uniform(x.data, csm_tensor_numel(&x), 17, -1.0f, 1.0f);
  csm_test_context = ctx;
  csm_grad_check_operand(&nd, &x, 0, NULL);
  csm_test_context = "";
  csm_tensor_free(&x);
}

static void test_maxpool(void **state) {
  (void)state;
  check_pool(CSM_OP_MAXPOOL, CSM_PAD_VALID, 2, 2, 6, 7, "max valid 2/2");
  check_pool(CSM_OP_MAXPOOL, CSM_PAD_SAME, 3, 2, 7, 6, "max same 3/2 (overlapping)");
  check_pool(CSM_OP_MAXPOOL, CSM_PAD_SAME, 2, 2, 5, 5, "max same 2/2 odd");
  check_pool(CSM_OP_MAXPOOL, CSM_PAD_VALID, 3, 1, 5, 6, "max valid 3/1");
  check_pool(CSM_OP_MAXPOOL, CSM_PAD_EXPLICIT, 3, 2, 6, 5, "max explicit");
}

static void test_avgpool(void **state) {
  (void)state;
  check_pool(CSM_OP_AVGPOOL, CSM_PAD_VALID, 2, 2, 6, 7, "avg valid 2/2");
  check_pool(CSM_OP_AVGPOOL, CSM_PAD_SAME, 3, 2, 7, 6, "avg same 3/2 (border windows)");
  check_pool(CSM_OP_AVGPOOL, CSM_PAD_SAME, 2, 2, 5, 5, "avg same 2/2 odd");
  check_pool(CSM_OP_AVGPOOL, CSM_PAD_VALID, 3, 1, 5, 6, "avg valid 3/1");
  check_pool(CSM_OP_AVGPOOL, CSM_PAD_EXPLICIT, 3, 2, 6, 5, "avg explicit");
}

/* Ties: the gradient goes to the first maximum in window order only. */
static void test_maxpool_ties(void **state) {
  (void)state;
  csm_node nd = csm_test_node(CSM_OP_MAXPOOL, 1);
  nd.a.ksize[0] = nd.a.ksize[1] = 2;
  nd.a.stride[0] = nd.a.stride[1] = 2;
  float xv[4] = {1, 3, 3, 3}, dy = 2.0f, dxv[4] = {0, 0, 0, 0}, outv;
  csm_tensor x = csm_test_tensor_f32(4, (int64_t[]){1, 2, 2, 1}, xv);
  csm_tensor out = csm_test_tensor_f32(4, (int64_t[]){1, 1, 1, 1}, &outv);
  csm_tensor dout = csm_test_tensor_f32(4, (int64_t[]){1, 1, 1, 1}, &dy);
  csm_tensor din = csm_test_tensor_f32(4, (int64_t[]){1, 2, 2, 1}, dxv);
  outv = 3;
  csm_backward_args a = {&nd, &x, &out, &dout, 0, &din};
  CSM_ASSERT_OK(csm_backward_get(CSM_OP_MAXPOOL)(&a));
  csm_test_assert_close(dxv, (float[]){0, 2, 0, 0}, 4, 0, 0);
}

static void test_pad(void **state) {
  (void)state;
  int32_t pads[8] = {0, 1, 2, 0, 1, 3, 0, 2};
  float value = 4.5f;
  csm_node nd = csm_test_node(CSM_OP_PAD, 3);
  csm_tensor in[3];
  in[0] = make4(2, 3, 4, 3);
  csm_test_fill_uniform(in[0].data, csm_tensor_numel(&in[0]), 5, -1.0f, 1.0f);
  in[1] = csm_test_tensor_i32(2, (int64_t[]){4, 2}, pads);
  in[2] = csm_test_tensor_f32(0, NULL, &value);
  csm_test_context = "pad with value";
  csm_grad_check_operand(&nd, in, 0, NULL);
  /* Without a value operand, rank 2. */
  csm_node n2 = csm_test_node(CSM_OP_PAD, 2);
  csm_tensor in2[2];
  int32_t pads2[4] = {2, 1, 0, 3};
  csm_shape s2 = csm_shape_make(2, (int64_t[]){3, 5});
  CSM_ASSERT_OK(csm_tensor_alloc(&in2[0], CSM_F32, &s2));
  csm_test_fill_uniform(in2[0].data, 15, 6, -1.0f, 1.0f);
  in2[1] = csm_test_tensor_i32(2, (int64_t[]){2, 2}, pads2);
  csm_test_context = "pad rank 2";
  csm_grad_check_operand(&n2, in2, 0, NULL);
  csm_test_context = "";
  csm_tensor_free(&in[0]);
  csm_tensor_free(&in2[0]);
}

static void check_resize(int align, int half, int64_t h, int64_t w, int32_t oh, int32_t ow) {
  char ctx[96];
  csm_node nd = csm_test_node(CSM_OP_RESIZE_BILINEAR, 2);
  nd.a.align_corners = align;
  nd.a.half_pixel_centers = half;
  int32_t size[2] = {oh, ow};
  csm_tensor in[2];
  in[0] = make4(2, h, w, 3);
  csm_test_fill_uniform(in[0].data, csm_tensor_numel(&in[0]), 9, -1.0f, 1.0f);
  in[1] = csm_test_tensor_i32(1, (int64_t[]){2}, size);
  snprintf(ctx, sizeof ctx, "resize align=%d half=%d %lldx%lld -> %dx%d", align, half, (long long)h,
           (long long)w, oh, ow);
  csm_test_context = ctx;
  csm_grad_check_operand(&nd, in, 0, NULL);
  csm_test_context = "";
  csm_tensor_free(&in[0]);
}

static void test_resize(void **state) {
  (void)state;
  for (int mode = 0; mode < 3; mode++) {
    int align = mode == 1, half = mode == 2;
    check_resize(align, half, 4, 5, 7, 9);  /* up */
    check_resize(align, half, 7, 6, 3, 4);  /* down */
    check_resize(align, half, 3, 4, 1, 1);  /* to one pixel */
    check_resize(align, half, 5, 5, 10, 3); /* mixed */
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_maxpool),      cmocka_unit_test(test_avgpool),
      cmocka_unit_test(test_maxpool_ties), cmocka_unit_test(test_pad),
      cmocka_unit_test(test_resize),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
