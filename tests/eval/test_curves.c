/* Deletion and insertion curves (csm_eval_curves) with a hand-made linear
 * scorer, conf = sum of w_t * (input value at offset idx_t), on images of a
 * few spikes, so that every curve, AUC and blurred value is worked out by
 * hand in the comments. */
#include "csm_test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct lin_ctx {
  int n_terms;
  size_t idx[4]; /* offsets into one sample (views x size x size x channels) */
  double w[4];
  size_t sample; /* floats per sample */
  int calls, max_n, total_n;
  int nan_sample; /* >= 0: that sample (counting over all calls) scores NaN */
} lin_ctx;

static csm_status lin_score(void *ctx, const float *inputs, int n, float *conf) {
  lin_ctx *c = ctx;
  c->calls++;
  if (n > c->max_n) c->max_n = n;
  for (int i = 0; i < n; i++) {
    double s = 0;
    for (int t = 0; t < c->n_terms; t++)
      s += c->w[t] * inputs[(size_t)i * c->sample + c->idx[t]];
    conf[i] = c->total_n + i == c->nan_sample ? NAN : (float)s;
  }
  c->total_n += n;
  return CSM_OK;
}

static csm_status failing_score(void *ctx, const float *inputs, int n, float *conf) {
  (void)ctx, (void)inputs, (void)n, (void)conf;
  return csm_fail(CSM_EINPUT, "scorer exploded");
}

static csm_scorer make_scorer(lin_ctx *c, int views, int size, int channels, const float *black) {
  csm_scorer s;
  memset(&s, 0, sizeof s);
  s.views = views;
  s.size = size;
  s.channels = channels;
  for (int k = 0; k < channels; k++)
    s.black[k] = black[k];
  s.score = lin_score;
  s.ctx = c;
  c->sample = (size_t)views * size * size * channels;
  c->nan_sample = -1;
  return s;
}

/* Offset of (view, y, x, channel). */
static size_t at(int size, int channels, int view, int y, int x, int c) {
  return (((size_t)view * size + y) * size + x) * channels + c;
}

/* 16 x 16 gray (box blur radius 16 / 16 = 1), black 0.5; image 0 except
 * P = (5,5) = 9; conf = x(P) + x(Q), Q = (5,6). One pixel per step (256
 * steps): 257 samples, so at most 64 per call means 5 calls. */
static void spike_16(float *img, lin_ctx *c, csm_scorer *s) {
  const float black[1] = {0.5f};
  memset(c, 0, sizeof *c);
  *s = make_scorer(c, 1, 16, 1, black);
  memset(img, 0, 256 * sizeof(float));
  img[at(16, 1, 0, 5, 5, 0)] = 9;
  c->n_terms = 2;
  c->idx[0] = at(16, 1, 0, 5, 5, 0);
  c->idx[1] = at(16, 1, 0, 5, 6, 0);
  c->w[0] = c->w[1] = 1;
}

static void test_one_pixel_steps(void **state) {
  (void)state;
  float img[256], map[256] = {0};
  lin_ctx c;
  csm_scorer s;
  spike_16(img, &c, &s);
  /* Q ranked first, P second, the rest (all 0) after them by index. */
  map[at(16, 1, 0, 5, 6, 0)] = 2;
  map[at(16, 1, 0, 5, 5, 0)] = 1;
  float del[257], ins[257];
  double dauc, iauc;
  CSM_ASSERT_OK(csm_eval_curves(&s, img, map, 256, del, ins, &dauc, &iauc));
  assert_true(c.max_n <= 64);
  assert_int_equal(c.total_n, 2 * 257);
  assert_true(c.calls <= 2 * 5);
  /* Deletion: 9 + 0; Q black: 9 + 0.5; P black: 0.5 + 0.5, then flat. */
  assert_float_equal(del[0], 9.0, 1e-6);
  assert_float_equal(del[1], 9.5, 1e-6);
  for (int k = 2; k <= 256; k++)
    assert_float_equal(del[k], 1.0, 1e-6);
  /* Trapezoids of width 1/256: (9 + 9.5)/2 + (9.5 + 1)/2 + 254 x 1. */
  assert_float_equal(dauc, (9.25 + 5.25 + 254.0) / 256.0, 1e-9);
  /* Insertion starts from the blur: P's 3 x 3 box mean 9 / 9 = 1 at both P
   * and Q -> 2; Q inserted (0): 1 + 0; P inserted: 9 + 0, then flat. */
  assert_float_equal(ins[0], 2.0, 1e-6);
  assert_float_equal(ins[1], 1.0, 1e-6);
  for (int k = 2; k <= 256; k++)
    assert_float_equal(ins[k], 9.0, 1e-6);
  assert_float_equal(iauc, (1.5 + 5.0 + 254.0 * 9.0) / 256.0, 1e-9);
}

static void test_ties_by_index(void **state) {
  (void)state;
  float img[256], map[256] = {0};
  lin_ctx c;
  csm_scorer s;
  spike_16(img, &c, &s);
  /* P (index 85) and Q (index 86) tie: the lower index, P, goes first. */
  map[at(16, 1, 0, 5, 5, 0)] = 1;
  map[at(16, 1, 0, 5, 6, 0)] = 1;
  float del[257], ins[257];
  CSM_ASSERT_OK(csm_eval_curves(&s, img, map, 256, del, ins, NULL, NULL));
  /* Deletion: 9; P black: 0.5 + 0; Q black: 0.5 + 0.5. */
  assert_float_equal(del[0], 9.0, 1e-6);
  assert_float_equal(del[1], 0.5, 1e-6);
  assert_float_equal(del[2], 1.0, 1e-6);
  /* Insertion: 1 + 1; P inserted: 9 + 1; Q inserted: 9 + 0. */
  assert_float_equal(ins[0], 2.0, 1e-6);
  assert_float_equal(ins[1], 10.0, 1e-6);
  assert_float_equal(ins[2], 9.0, 1e-6);
  /* An all-equal map: pure index order, so P (85) goes at step 86. */
  memset(map, 0, sizeof map);
  CSM_ASSERT_OK(csm_eval_curves(&s, img, map, 256, del, NULL, NULL, NULL));
  assert_float_equal(del[85], 9.0, 1e-6);
  assert_float_equal(del[86], 0.5, 1e-6);
  assert_float_equal(del[87], 1.0, 1e-6);
}

/* Two views of 16 x 16 x 3, black (0.1, 0.2, 0.3), 4 steps of 128 of the
 * 512 pixels. View 0: (5,5) = 9 in every channel; view 1: (10,10) = 18 in
 * channel 1 only. conf = x(view 0, (5,5), ch 0) + x(view 1, (10,10), ch 1).
 * map[p] = p over both views (p = view x 256 + y x 16 + x): higher p first,
 * so view 1's pixels all go before view 0's; view 1's (10,10) (p = 426,
 * rank 85) falls in step 1 and view 0's (5,5) (p = 85, rank 426) in step 4. */
static void test_two_views(void **state) {
  (void)state;
  const int n = 2 * 16 * 16 * 3;
  float *img = calloc((size_t)n, sizeof(float));
  float map[512];
  assert_non_null(img);
  const float black[3] = {0.1f, 0.2f, 0.3f};
  lin_ctx c;
  memset(&c, 0, sizeof c);
  csm_scorer s = make_scorer(&c, 2, 16, 3, black);
  for (int k = 0; k < 3; k++)
    img[at(16, 3, 0, 5, 5, k)] = 9;
  img[at(16, 3, 1, 10, 10, 1)] = 18;
  c.n_terms = 2;
  c.idx[0] = at(16, 3, 0, 5, 5, 0);
  c.idx[1] = at(16, 3, 1, 10, 10, 1);
  c.w[0] = c.w[1] = 1;
  for (int p = 0; p < 512; p++)
    map[p] = (float)p;
  float del[5], ins[5];
  double dauc, iauc;
  CSM_ASSERT_OK(csm_eval_curves(&s, img, map, 4, del, ins, &dauc, &iauc));
  /* Deletion: 27; view 1's pixel to its channel-1 black: 9 + 0.2 (steps 1-3);
   * view 0's to channel-0 black: 0.1 + 0.2. */
  const float want_del[5] = {27.0f, 9.2f, 9.2f, 9.2f, 0.3f};
  csm_test_assert_close(del, want_del, 5, 1e-5f, 0);
  /* AUC: 0.25 x ((27 + 9.2)/2 + 9.2 + 9.2 + (9.2 + 0.3)/2) = 10.3125. */
  assert_float_equal(dauc, 10.3125, 1e-5);
  /* Insertion from the blur (each view blurred on its own, radius 1): 9/9 +
   * 18/9 = 3; view 1's pixel inserted: 1 + 18; view 0's: 9 + 18. */
  const float want_ins[5] = {3.0f, 19.0f, 19.0f, 19.0f, 27.0f};
  csm_test_assert_close(ins, want_ins, 5, 1e-5f, 0);
  /* AUC: 0.25 x ((3 + 19)/2 + 19 + 19 + (19 + 27)/2) = 18. */
  assert_float_equal(iauc, 18.0, 1e-5);
  /* The AUCs alone (curves NULL) are the same. */
  double dauc2 = -1, iauc2 = -1;
  CSM_ASSERT_OK(csm_eval_curves(&s, img, map, 4, NULL, NULL, &dauc2, &iauc2));
  assert_float_equal(dauc2, dauc, 0);
  assert_float_equal(iauc2, iauc, 0);
  free(img);
}

/* steps = 1: insertion[0] is the blurred image's confidence. 32 x 32 gray,
 * blur radius 32 / 16 = 2: a spike of 25 at (10,10) gives 25 / 25 = 1 at
 * (10,12) (inside the 5 x 5 box, outside a 3 x 3 one); a spike of 50 at
 * the corner (0,0) gives 50 / 9 there (the box clipped to 3 x 3 pixels). */
static void test_blur_radius_and_border(void **state) {
  (void)state;
  float img[1024] = {0}, map[1024] = {0};
  const float black[1] = {0};
  lin_ctx c;
  memset(&c, 0, sizeof c);
  csm_scorer s = make_scorer(&c, 1, 32, 1, black);
  img[at(32, 1, 0, 10, 10, 0)] = 25;
  img[at(32, 1, 0, 0, 0, 0)] = 50;
  c.n_terms = 2;
  c.idx[0] = at(32, 1, 0, 0, 0, 0);
  c.idx[1] = at(32, 1, 0, 10, 12, 0);
  c.w[0] = 1;
  c.w[1] = 2;
  float ins[2], del[2];
  double iauc, dauc;
  CSM_ASSERT_OK(csm_eval_curves(&s, img, map, 1, del, ins, &dauc, &iauc));
  assert_float_equal(ins[0], 50.0 / 9.0 + 2.0, 1e-5);
  assert_float_equal(ins[1], 50.0, 1e-5);
  assert_float_equal(iauc, 0.5 * (50.0 / 9.0 + 2.0 + 50.0), 1e-5);
  assert_float_equal(del[0], 50.0, 1e-5);
  assert_float_equal(del[1], 0.0, 1e-6);
  assert_float_equal(dauc, 25.0, 1e-5);
  /* 16 pixels in 3 steps (counts 0, 5, 10, 16 with floor(k P / steps)),
   * size 4 (radius 0: insertion starts from the image itself). */
  float g[16], gm[16];
  for (int p = 0; p < 16; p++) {
    g[p] = 1;
    gm[p] = (float)(16 - p); /* rank = index */
  }
  lin_ctx c4;
  memset(&c4, 0, sizeof c4);
  csm_scorer s4 = make_scorer(&c4, 1, 4, 1, black);
  c4.n_terms = 2;
  c4.idx[0] = 5; /* deleted in step 2 */
  c4.idx[1] = 4; /* deleted in step 1 */
  c4.w[0] = c4.w[1] = 1;
  float d4[4], i4[4];
  CSM_ASSERT_OK(csm_eval_curves(&s4, g, gm, 3, d4, i4, &dauc, &iauc));
  const float want4[4] = {2, 1, 0, 0};
  csm_test_assert_close(d4, want4, 4, 1e-6f, 0);
  /* x = 0, 5/16, 10/16, 1: 5/16 x 1.5 + 5/16 x 0.5 + 0 = 10/16. */
  assert_float_equal(dauc, 10.0 / 16.0, 1e-9);
  const float flat[4] = {2, 2, 2, 2};
  csm_test_assert_close(i4, flat, 4, 0, 0);
  assert_float_equal(iauc, 2.0, 1e-9);
}

static void test_errors(void **state) {
  (void)state;
  float img[256], map[256] = {0};
  lin_ctx c;
  csm_scorer s;
  spike_16(img, &c, &s);
  float curve[257];
  double auc;
  assert_int_equal(csm_eval_curves(&s, img, map, 0, curve, NULL, NULL, NULL), CSM_EUSAGE);
  assert_int_equal(csm_eval_curves(&s, img, map, -3, curve, NULL, NULL, NULL), CSM_EUSAGE);
  assert_int_equal(csm_eval_curves(NULL, img, map, 4, curve, NULL, NULL, NULL), CSM_EUSAGE);
  assert_int_equal(csm_eval_curves(&s, NULL, map, 4, curve, NULL, NULL, NULL), CSM_EUSAGE);
  assert_int_equal(csm_eval_curves(&s, img, NULL, 4, curve, NULL, NULL, NULL), CSM_EUSAGE);
  csm_scorer bad = s;
  bad.channels = 4;
  assert_int_equal(csm_eval_curves(&bad, img, map, 4, curve, NULL, NULL, NULL), CSM_EUSAGE);
  bad = s;
  bad.views = 0;
  assert_int_equal(csm_eval_curves(&bad, img, map, 4, curve, NULL, NULL, NULL), CSM_EUSAGE);
  bad = s;
  bad.score = NULL;
  assert_int_equal(csm_eval_curves(&bad, img, map, 4, curve, NULL, NULL, NULL), CSM_EUSAGE);
  /* A NaN confidence in the insertion curve (sample 5 + 2 of the second
   * curve: deletion has 5 samples with 4 steps). */
  c.total_n = 0;
  c.nan_sample = 5 + 2;
  assert_int_equal(csm_eval_curves(&s, img, map, 4, curve, NULL, NULL, &auc), CSM_EINPUT);
  assert_non_null(strstr(csm_last_error(), "NaN"));
  assert_non_null(strstr(csm_last_error(), "insertion"));
  c.total_n = 0;
  c.nan_sample = 0;
  assert_int_equal(csm_eval_curves(&s, img, map, 4, curve, NULL, NULL, NULL), CSM_EINPUT);
  assert_non_null(strstr(csm_last_error(), "deletion"));
  /* A NaN map value has no rank. */
  c.nan_sample = -1;
  map[3] = NAN;
  assert_int_equal(csm_eval_curves(&s, img, map, 4, curve, NULL, NULL, NULL), CSM_EINPUT);
  map[3] = 0;
  /* The scorer's own error comes through. */
  bad = s;
  bad.score = failing_score;
  assert_int_equal(csm_eval_curves(&bad, img, map, 4, curve, NULL, NULL, NULL), CSM_EINPUT);
  assert_non_null(strstr(csm_last_error(), "scorer exploded"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_one_pixel_steps), cmocka_unit_test(test_ties_by_index),
      cmocka_unit_test(test_two_views),       cmocka_unit_test(test_blur_radius_and_border),
      cmocka_unit_test(test_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
