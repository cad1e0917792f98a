/* The occlusion engine on a synthetic alignment where every answer is known
 * by hand: the canonical face is a 64 x 64 raster, the "face" in the image
 * is that raster scaled 2x and shifted by (10, 20), and the model's 32 x 32
 * input covers the image at 4 image pixels per input pixel, so input pixel
 * i has canonical coordinate 2i + 1. A recording scorer keeps every input it
 * is given: the test checks which pixels each patch changed and to what. */
#include "csm_test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define N 32 /* input size */
#define C 3
#define W 64 /* canonical raster */

typedef struct recorder {
  float *seen; /* every input of every call, in order */
  int n_seen;
  float conf_of_black; /* conf = base - this * (number of black pixels) */
} recorder;

static csm_status record(void *ctx, const float *inputs, int n, float *conf) {
  recorder *r = ctx;
  size_t numel = (size_t)N * N * C;
  r->seen = realloc(r->seen, (r->n_seen + n) * numel * sizeof(float));
  memcpy(r->seen + r->n_seen * numel, inputs, n * numel * sizeof(float));
  r->n_seen += n;
  for (int s = 0; s < n; s++) {
    int black = 0;
    for (size_t k = 0; k < numel; k++)
      black += inputs[s * numel + k] == -1.0f;
    conf[s] = 1.0f - 0.01f * black;
  }
  return CSM_OK;
}

typedef struct fixture {
  float *canon, *img;
  int32_t *tri;
  int nv, nt;
  csm_corr *corr;
  float input[N * N * C];
} fixture;

/* A 7 x 7 grid of vertices over canonical [8, 56]. */
static void make(fixture *f) {
  memset(f, 0, sizeof *f);
  f->nv = 49, f->nt = 72;
  f->canon = malloc(sizeof(float) * 2 * f->nv);
  f->img = malloc(sizeof(float) * 3 * f->nv);
  f->tri = malloc(sizeof(int32_t) * 3 * f->nt);
  for (int j = 0; j < 7; j++)
    for (int i = 0; i < 7; i++) {
      int v = j * 7 + i;
      f->canon[2 * v] = 8 + 8 * i, f->canon[2 * v + 1] = 8 + 8 * j;
      f->img[3 * v] = 2 * f->canon[2 * v] + 10, f->img[3 * v + 1] = 2 * f->canon[2 * v + 1] + 20;
      f->img[3 * v + 2] = 0;
    }
  int k = 0;
  for (int j = 0; j < 6; j++)
    for (int i = 0; i < 6; i++) {
      int a = j * 7 + i, b = a + 1, c = a + 7, d = c + 1;
      int32_t t[6] = {a, b, d, a, d, c};
      memcpy(f->tri + 6 * k++, t, sizeof t);
    }
  csm_corr_mesh m = {f->nv, f->img, f->canon, f->nt, f->tri, W, W, 200, 200};
  CSM_ASSERT_OK(csm_corr_create(&m, &f->corr));
  csm_test_fill_uniform(f->input, N * N * C, 7, 0, 1);
}

static void drop_fixture(fixture *f) {
  csm_corr_free(f->corr);
  free(f->canon);
  free(f->img);
  free(f->tri);
}

/* Runs one centre (and one outside the face) with the options; returns the
 * occluded input (malloc'ed) and checks the bookkeeping. */
static float *occlude_once(fixture *f, const csm_occlusion_options *opt, csm_occlusion *o) {
  recorder r = {NULL, 0, 0};
  csm_scorer s = {.views = 1,
                  .size = N,
                  .channels = C,
                  .black = {-1, -1, -1},
                  .score = record,
                  .ctx = &r,
                  .what = "test"};
  csm_view v = {f->input, {4, 0, 10, 0, 4, 20}, f->corr, NULL};
  float centres[4] = {32.5f, 32.5f, 2.5f, 2.5f};
  CSM_ASSERT_OK(csm_occlusion_run(&s, &v, centres, 2, W, W, opt, o));
  assert_int_equal(o->n_evaluated, 1);
  assert_true(isnan(o->drop[1])); /* off the face: not evaluated */
  assert_int_equal(r.n_seen, 2);  /* the base, then the one occlusion */
  /* The base is the input untouched. */
  assert_memory_equal(r.seen, f->input, sizeof f->input);
  float *out = malloc(sizeof f->input);
  memcpy(out, r.seen + N * N * C, sizeof f->input);
  free(r.seen);
  return out;
}

/* Pixels [lo, hi]^2 of the input are the occluded ones; the rest unchanged. */
static void check_square(const fixture *f, const float *x, int lo, int hi, const float *want) {
  for (int j = 0; j < N; j++)
    for (int i = 0; i < N; i++)
      for (int c = 0; c < C; c++) {
        size_t k = ((size_t)j * N + i) * C + c;
        int in = i >= lo && i <= hi && j >= lo && j <= hi;
        if (in)
          assert_float_equal(x[k], want[k], 1e-6);
        else
          assert_float_equal(x[k], f->input[k], 0);
      }
}

static void test_canonical_zero(void **state) {
  (void)state;
  fixture f;
  make(&f);
  csm_occlusion_options opt = csm_occlusion_options_default();
  opt.patch = 8; /* canonical pixels 28..35 <-> input pixels 14..17 */
  csm_occlusion o;
  float *x = occlude_once(&f, &opt, &o);
  float black[N * N * C];
  for (int k = 0; k < N * N * C; k++)
    black[k] = -1;
  check_square(&f, x, 14, 17, black);
  /* conf = 1 - 0.01 * 48 black values: the drop is 0.48. */
  assert_float_equal(o.base, 1, 0);
  assert_float_equal(o.drop[0], 0.48, 1e-6);
  /* The input-space map: the drop on the 16 covered pixels, 0 elsewhere. */
  int covered = 0;
  for (int p = 0; p < N * N; p++) {
    covered += o.input_count[p] > 0;
    assert_float_equal(o.input_map[p], o.input_count[p] > 0 ? 0.48 : 0, 1e-6);
  }
  assert_int_equal(covered, 16);
  free(x);
  csm_occlusion_free(&o);
  drop_fixture(&f);
}

static void test_mean_and_blur(void **state) {
  (void)state;
  fixture f;
  make(&f);
  csm_occlusion_options opt = csm_occlusion_options_default();
  opt.patch = 8;
  opt.fill = CSM_FILL_MEAN;
  csm_occlusion o;
  float *x = occlude_once(&f, &opt, &o);
  float want[N * N * C];
  for (int c = 0; c < C; c++) {
    double s = 0;
    for (int p = 0; p < N * N; p++)
      s += f.input[p * C + c];
    for (int p = 0; p < N * N; p++)
      want[p * C + c] = (float)(s / (N * N));
  }
  check_square(&f, x, 14, 17, want);
  free(x);
  csm_occlusion_free(&o);
  /* Blur: a box of radius half the patch in input pixels. The face covers
   * 24 x 24 input pixels and 48 x 48 canonical ones: 0.5 input pixels per
   * canonical pixel, so the 8-pixel patch is 4 input pixels, radius 2. */
  opt.fill = CSM_FILL_BLUR;
  x = occlude_once(&f, &opt, &o);
  for (int j = 0; j < N; j++)
    for (int i = 0; i < N; i++)
      for (int c = 0; c < C; c++) {
        double s = 0;
        for (int dy = -2; dy <= 2; dy++)
          for (int dx = -2; dx <= 2; dx++) {
            int yy = j + dy < 0 ? 0 : j + dy >= N ? N - 1 : j + dy;
            int xx = i + dx < 0 ? 0 : i + dx >= N ? N - 1 : i + dx;
            s += f.input[((size_t)yy * N + xx) * C + c];
          }
        want[((size_t)j * N + i) * C + c] = (float)(s / 25);
      }
  check_square(&f, x, 14, 17, want);
  free(x);
  csm_occlusion_free(&o);
  drop_fixture(&f);
}

static void test_image_space(void **state) {
  (void)state;
  fixture f;
  make(&f);
  csm_occlusion_options opt = csm_occlusion_options_default();
  opt.space = CSM_PATCH_IMAGE;
  opt.patch = 28; /* at 224 px: 4 pixels at 32 */
  csm_occlusion o;
  float *x = occlude_once(&f, &opt, &o);
  /* Canonical (32.5, 32.5) -> image (75, 85) -> input (16.25, 16.25):
   * pixel 16, 4 pixels from 16 - 2 = 14 to 17. */
  float black[N * N * C];
  for (int k = 0; k < N * N * C; k++)
    black[k] = -1;
  check_square(&f, x, 14, 17, black);
  free(x);
  csm_occlusion_free(&o);
  drop_fixture(&f);
}

static void test_batches_and_errors(void **state) {
  (void)state;
  fixture f;
  make(&f);
  /* Every grid centre, in batches of 3 and in one batch: the same drops. */
  unsigned char mask[W * W];
  memset(mask, 1, sizeof mask);
  float *uv;
  int n;
  CSM_ASSERT_OK(csm_centres_grid(mask, W, W, 4, &uv, &n));
  recorder r = {NULL, 0, 0};
  csm_scorer s = {.views = 1,
                  .size = N,
                  .channels = C,
                  .black = {-1, -1, -1},
                  .score = record,
                  .ctx = &r,
                  .what = "test"};
  csm_view v = {f.input, {4, 0, 10, 0, 4, 20}, f.corr, NULL};
  csm_occlusion_options opt = csm_occlusion_options_default();
  opt.patch = 6;
  csm_occlusion a, b;
  opt.max_batch = 3;
  CSM_ASSERT_OK(csm_occlusion_run(&s, &v, uv, n, W, W, &opt, &a));
  opt.max_batch = 1000;
  CSM_ASSERT_OK(csm_occlusion_run(&s, &v, uv, n, W, W, &opt, &b));
  assert_int_equal(a.n_evaluated, b.n_evaluated);
  /* Centres on the face: canonical 8..56 holds 12 x 12 of the 16 x 16 grid. */
  assert_int_equal(a.n_evaluated, 144);
  for (int c = 0; c < n; c++)
    assert_true(a.drop[c] == b.drop[c] || (isnan(a.drop[c]) && isnan(b.drop[c])));
  csm_occlusion_free(&a);
  csm_occlusion_free(&b);
  free(r.seen);
  /* Bad arguments. */
  assert_int_equal(csm_occlusion_run(&s, &v, uv, 0, W, W, &opt, &a), CSM_EUSAGE);
  csm_view nov = {NULL, {4, 0, 10, 0, 4, 20}, f.corr, NULL};
  assert_int_equal(csm_occlusion_run(&s, &nov, uv, n, W, W, &opt, &a), CSM_EUSAGE);
  csm_view sing = {f.input, {0, 0, 10, 0, 0, 20}, f.corr, NULL};
  assert_int_equal(csm_occlusion_run(&s, &sing, uv, n, W, W, &opt, &a), CSM_EINPUT);
  free(uv);
  drop_fixture(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_canonical_zero),
      cmocka_unit_test(test_mean_and_blur),
      cmocka_unit_test(test_image_space),
      cmocka_unit_test(test_batches_and_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
