/* The white-box half of every scorer: conf_grad's confidence equals the
 * scorer's own (black-box) confidence on the same inputs, and its
 * derivative d conf / d raw predicts how the confidence moves along random
 * directions of the raw model output: (conf(raw + h v) - conf(raw - h v)) /
 * 2h, with conf computed independently (csm_task_scores for classes, a
 * cosine written here for embeddings), must equal draw . v. Kinds: PROBS
 * (gender, expression), VALUE (age-ssrnet), POSE (pose), LOGITS and SIGMOID
 * and LOGIT (custom tasks), verify and identify (embed-faceres). Needs the
 * installed models; exits 77 without them. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "csm_test.h"
#include "task/task_private.h"

static const char *models_dir(void) { return csm_test_env("CSM_MODELS_DIR", "models"); }

static int have_models(void) {
  char buf[1024];
  return csm_test_model_path("faceres", buf, sizeof buf) != NULL;
}

/* conf of class cls (or the value) from one raw row, independently of the
 * scorer: csm_task_scores. */
static double class_conf(csm_task *t, int cls, const float *raw) {
  csm_task_result r;
  CSM_ASSERT_OK(csm_task_scores(csm_task_get_info(t), raw, csm_task_output_numel(t), &r));
  return csm_task_get_info(t)->n_classes > 0 ? r.scores[cls] : r.confidence;
}

static double cosine(const float *a, const float *b, size_t n) {
  double ab = 0, aa = 0, bb = 0;
  for (size_t k = 0; k < n; k++)
    ab += (double)a[k] * b[k], aa += (double)a[k] * a[k], bb += (double)b[k] * b[k];
  return ab / sqrt(aa * bb);
}

typedef double (*conf_of_rows)(void *ctx, const float *rows);

/* Runs the scorer on inputs (n = 1 sample), checks conf against s->score,
 * then the directional derivative along 3 random directions. */
static void check_scorer(const csm_scorer *s, const float *inputs, conf_of_rows f, void *fctx,
                         double h, double tol) {
  size_t rows = (size_t)s->views, m = s->raw_numel;
  assert_non_null(s->model);
  assert_non_null(s->conf_grad);
  float *raw = malloc(sizeof(float) * rows * m), *draw = malloc(sizeof(float) * rows * m);
  float *x = malloc(sizeof(float) * rows * m), *v = malloc(sizeof(float) * rows * m);
  /* The raw rows as the scorer's model gives them: run it here. */
  int64_t dims[4] = {(int64_t)rows, s->size, s->size, s->channels};
  csm_tensor in = {CSM_F32, csm_shape_make(4, dims), (void *)inputs, 0};
  csm_tensor out[8];
  int n_out = csm_model_num_outputs(s->model), found = 0;
  CSM_ASSERT_OK(csm_model_run(s->model, &in, out));
  for (int o = 0; o < n_out; o++) {
    if (csm_model_output_node(s->model, o) == s->node) {
      assert_int_equal(csm_tensor_numel(&out[o]), rows * m);
      memcpy(raw, out[o].data, sizeof(float) * rows * m);
      found = 1;
    }
    csm_tensor_free(&out[o]);
  }
  assert_true(found);
  float conf = NAN, black_box = NAN;
  CSM_ASSERT_OK(s->conf_grad(s->ctx, raw, 1, &conf, draw));
  CSM_ASSERT_OK(s->score(s->ctx, inputs, 1, &black_box));
  if (fabsf(conf - black_box) > 1e-4f + 1e-4f * fabsf(black_box))
    fail_msg("%s: conf_grad's conf %g, score %g", s->what, conf, black_box);
  assert_true(fabs(f(fctx, raw) - conf) < 1e-4);
  for (uint32_t dir = 0; dir < 3; dir++) {
    csm_test_fill_uniform(v, rows * m, 100 + dir, -1, 1);
    double dd = 0;
    for (size_t k = 0; k < rows * m; k++)
      dd += (double)draw[k] * v[k];
    for (size_t k = 0; k < rows * m; k++)
      x[k] = (float)(raw[k] + h * v[k]);
    double up = f(fctx, x);
    for (size_t k = 0; k < rows * m; k++)
      x[k] = (float)(raw[k] - h * v[k]);
    double fd = (up - f(fctx, x)) / (2 * h);
    if (fabs(fd - dd) > tol * (1 + fabs(fd)))
      fail_msg("%s, direction %u: draw . v = %.6g, finite difference %.6g", s->what, dir, dd, fd);
  }
  free(raw), free(draw), free(x), free(v);
}

typedef struct class_fn_ctx {
  csm_task *t;
  int cls;
} class_fn_ctx;

static double class_fn(void *vctx, const float *rows) {
  class_fn_ctx *c = vctx;
  return class_conf(c->t, c->cls, rows);
}

static float *random_inputs(const csm_task_info *info, int n, uint32_t seed) {
  size_t per = csm_task_input_numel(info);
  float *x = malloc(sizeof(float) * per * (size_t)n);
  csm_test_fill_uniform(x, per * (size_t)n, seed, info->offset, info->offset + info->scale);
  return x;
}

static void check_class_task(csm_task *t, int cls, double h, double tol) {
  csm_scorer s;
  CSM_ASSERT_OK(csm_scorer_class(t, cls, &s));
  float *x = random_inputs(csm_task_get_info(t), 1, 11);
  class_fn_ctx c = {t, cls};
  check_scorer(&s, x, class_fn, &c, h, tol);
  free(x);
  csm_scorer_free(&s);
}

static void test_zoo_classes(void **state) {
  (void)state;
  const char *names[] = {"gender", "expression", "age-ssrnet", "pose"};
  const int cls[] = {1, 3, 0, 4};
  for (int i = 0; i < 4; i++) {
    csm_task *t = NULL;
    CSM_ASSERT_OK(csm_task_load(models_dir(), names[i], &t));
    csm_test_context = names[i];
    /* Pose: landmarks in input pixels, where a step of 0.05 px is small. */
    check_class_task(t, cls[i], i == 3 ? 0.05 : 1e-3, i == 3 ? 3e-2 : 2e-3);
    csm_task_free(t);
  }
  csm_test_context = "";
}

/* The gear model's heads, read as the three other kinds of class output. */
static void test_custom_kinds(void **state) {
  (void)state;
  char path[1024];
  assert_non_null(csm_test_model_path("gear", path, sizeof path));
  csm_task_info info;
  const csm_task_output kinds[2] = {CSM_TASK_LOGITS, CSM_TASK_LOGIT};
  for (int k = 0; k < 2; k++) {
    memset(&info, 0, sizeof info);
    info.crop_scale = 1.4f, info.size = 198, info.channels = 3, info.scale = 1;
    info.kind = kinds[k];
    info.output = "age_output";
    csm_task *t = NULL;
    CSM_ASSERT_OK(csm_task_load_custom(path, &info, &t));
    check_class_task(t, 2, 1e-3, 2e-3);
    csm_task_free(t);
  }
  /* SIGMOID on age-ssrnet's single output value. */
  assert_non_null(csm_test_model_path("age", path, sizeof path));
  memset(&info, 0, sizeof info);
  info.crop_scale = 1.4f, info.size = 64, info.channels = 3, info.scale = 1;
  info.kind = CSM_TASK_SIGMOID;
  csm_task *t = NULL;
  CSM_ASSERT_OK(csm_task_load_custom(path, &info, &t));
  check_class_task(t, 0, 1e-3, 2e-3);
  check_class_task(t, 1, 1e-3, 2e-3);
  csm_task_free(t);
}

typedef struct verify_fn_ctx {
  size_t dim;
  float threshold;
  int genuine;
} verify_fn_ctx;

static double verify_fn(void *vctx, const float *rows) {
  verify_fn_ctx *c = vctx;
  double s = cosine(rows, rows + c->dim, c->dim);
  return c->genuine ? s - c->threshold : c->threshold - s;
}

typedef struct identify_fn_ctx {
  size_t dim;
  const float *gallery; /* 2 embeddings of the identity */
} identify_fn_ctx;

static double identify_fn(void *vctx, const float *rows) {
  identify_fn_ctx *c = vctx;
  double a = cosine(rows, c->gallery, c->dim), b = cosine(rows, c->gallery + c->dim, c->dim);
  return a > b ? a : b;
}

static void test_embeddings(void **state) {
  (void)state;
  csm_task *t = NULL;
  CSM_ASSERT_OK(csm_task_load(models_dir(), "embed-faceres", &t));
  const csm_task_info *info = csm_task_get_info(t);
  size_t dim = (size_t)csm_task_embedding_dim(t);
  float *x = random_inputs(info, 2, 21);
  for (int genuine = 0; genuine < 2; genuine++) {
    csm_scorer s;
    CSM_ASSERT_OK(csm_scorer_verify(t, 0.4f, genuine, &s));
    verify_fn_ctx c = {dim, 0.4f, genuine};
    check_scorer(&s, x, verify_fn, &c, 1e-2, 2e-3);
    csm_scorer_free(&s);
  }
  /* A gallery of random embeddings: two for "a", one for "b". */
  csm_gallery *g = NULL;
  CSM_ASSERT_OK(csm_gallery_create((int)dim, &g));
  float *e = malloc(sizeof(float) * dim * 3);
  csm_test_fill_uniform(e, dim * 3, 5, -1, 1);
  CSM_ASSERT_OK(csm_gallery_add(g, "a", e));
  CSM_ASSERT_OK(csm_gallery_add(g, "a", e + dim));
  CSM_ASSERT_OK(csm_gallery_add(g, "b", e + 2 * dim));
  csm_scorer s;
  CSM_ASSERT_OK(csm_scorer_identify(t, g, csm_gallery_find(g, "a"), &s));
  identify_fn_ctx c = {dim, e};
  check_scorer(&s, x, identify_fn, &c, 1e-2, 2e-3);
  csm_scorer_free(&s);
  csm_gallery_free(g);
  free(e);
  free(x);
  csm_task_free(t);
}

int main(void) {
  if (!have_models()) return 77;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_zoo_classes),
      cmocka_unit_test(test_custom_kinds),
      cmocka_unit_test(test_embeddings),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
