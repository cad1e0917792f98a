/* The pipeline through the library API (include/csm/run.h), checked against
 * what the lower layers say independently: the faces are the detector's,
 * each face's base confidence is the task's own classification of that
 * face, pixels given in memory or by an image source explain exactly like
 * the file, and a CMS
 * run gives the same bits with any number of jobs and after a cancel and a
 * resume. Options that do not go together are refused with a message. */
#include "csm_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char photo[4096], photo2[4096];

static void options(csm_explain_options *o) {
  csm_explain_options_init(o);
  o->task = "gender";
  o->grid_stride = 16; /* coarse and small: a test, not a map to look at */
  o->size = 64;
  CSM_ASSERT_OK(csm_explain_options_resolve(o));
}

static void test_options_refused(void **state) {
  (void)state;
  csm_explain_options o;
  csm_explain_options_init(&o);
  o.task = "verify";
  assert_int_equal(csm_explain_options_resolve(&o), CSM_EUSAGE);
  assert_non_null(strstr(csm_last_error(), "--threshold"));
  csm_explain_options_init(&o);
  o.task = "no-such-task";
  assert_int_equal(csm_explain_options_resolve(&o), CSM_EUSAGE);
  csm_explain_options_init(&o);
  o.task = "gender", o.prnet = 1;
  assert_int_equal(csm_explain_options_resolve(&o), CSM_EUSAGE);
  assert_non_null(strstr(csm_last_error(), "--meshes"));
  csm_explain_options_init(&o);
  assert_int_equal(csm_explain_options_resolve(&o), CSM_EUSAGE);
  /* The paper's defaults on FaceMesh: 20 px canonical squares at 256. */
  csm_explain_options_init(&o);
  o.task = "gender";
  CSM_ASSERT_OK(csm_explain_options_resolve(&o));
  assert_int_equal(o.size, 256);
  assert_true(o.occ.patch == 20 && o.occ.footprint == 20 && o.occ.space == CSM_PATCH_CANONICAL);
  /* An explainer refuses options that were not resolved. */
  csm_explainer *x = NULL;
  csm_explain_options_init(&o);
  o.task = "gender";
  assert_int_equal(csm_explainer_open(&o, &x), CSM_EUSAGE);
  assert_null(x);
}

static void test_faces_and_confidence(void **state) {
  (void)state;
  csm_explain_options o;
  options(&o);
  csm_explainer *x;
  CSM_ASSERT_OK(csm_explainer_open(&o, &x));
  csm_input in = {.path = photo, .truth = -1};
  csm_face_result *faces;
  int n;
  CSM_ASSERT_OK(csm_explainer_explain(x, &in, &faces, &n));
  /* The faces: the detector's, with a mesh, largest first. */
  csm_image img;
  CSM_ASSERT_OK(csm_image_load(photo, &img));
  csm_face_detector *det;
  CSM_ASSERT_OK(csm_face_detector_create(csm_models_dir(), &o.det, &det));
  csm_face *found;
  int n_found;
  CSM_ASSERT_OK(csm_face_detect(det, &img, &found, &n_found));
  int with_mesh = 0;
  for (int k = 0; k < n_found; k++)
    with_mesh += found[k].has_mesh;
  assert_true(n >= 1);
  assert_int_equal(n, with_mesh);
  /* Each face's base confidence: the task's probability of the class it
   * predicts for that face's crop. */
  csm_task *task = csm_explainer_task(x);
  const csm_task_info *info = csm_task_get_info(task);
  float *input = malloc(csm_task_input_numel(info) * sizeof(float));
  assert_non_null(input);
  for (int k = 0; k < n; k++) {
    assert_memory_equal(faces[k].face.box, found[k].box, sizeof found[k].box);
    CSM_ASSERT_OK(csm_task_preprocess(info, &img, &found[k], input));
    csm_task_result res;
    CSM_ASSERT_OK(csm_task_run(task, input, 1, &res));
    assert_int_equal(faces[k].label, res.label);
    assert_true(fabsf(faces[k].occ.base - res.confidence) <= 1e-5f);
    /* The CIS: finite, on the canonical raster, covered somewhere. */
    assert_int_equal(faces[k].cis.w, 64);
    int covered = 0;
    for (int p = 0; p < 64 * 64; p++) {
      assert_true(isfinite(faces[k].cis.value[p]));
      covered += faces[k].cis.count[p] > 0;
    }
    assert_true(covered > 100);
  }
  /* The same pixels given in memory: the same bits. */
  csm_input mem = {.path = "in-memory", .truth = -1, .image = &img};
  csm_face_result *faces2;
  int n2;
  CSM_ASSERT_OK(csm_explainer_explain(x, &mem, &faces2, &n2));
  assert_int_equal(n2, n);
  for (int k = 0; k < n; k++)
    assert_memory_equal(faces2[k].cis.value, faces[k].cis.value, 64 * 64 * sizeof(float));
  csm_face_results_free(faces2, n2);
  free(input);
  free(found);
  csm_face_detector_free(det);
  csm_image_free(&img);
  csm_face_results_free(faces, n);
  csm_explainer_free(x);
}

/* An image source that is not a file system: "row:1" is the first photo,
 * anything else an error of the source's own. */
static int source_calls;
static csm_status row_source(void *ctx, const csm_input *in, int which, csm_image *img) {
  (void)ctx, (void)which;
  source_calls++;
  if (strcmp(in->path, "row:1")) return csm_fail(CSM_EINPUT, "%s: no such row", in->path);
  return csm_image_load(photo, img);
}

static void test_image_source(void **state) {
  (void)state;
  csm_explain_options o;
  options(&o);
  csm_explainer *x;
  CSM_ASSERT_OK(csm_explainer_open(&o, &x));
  csm_input file = {.path = photo, .truth = -1};
  csm_face_result *want;
  int n_want;
  CSM_ASSERT_OK(csm_explainer_explain(x, &file, &want, &n_want));
  csm_explainer_free(x);
  o.load_image = row_source;
  CSM_ASSERT_OK(csm_explainer_open(&o, &x));
  csm_input row = {.path = "row:1", .truth = -1}, bad = {.path = "row:2", .truth = -1};
  csm_face_result *got;
  int n_got;
  source_calls = 0;
  CSM_ASSERT_OK(csm_explainer_explain(x, &row, &got, &n_got));
  assert_int_equal(source_calls, 1);
  assert_int_equal(n_got, n_want);
  for (int k = 0; k < n_got; k++)
    assert_memory_equal(got[k].cis.value, want[k].cis.value, 64 * 64 * sizeof(float));
  /* The source's error is the explainer's, message and all. */
  csm_face_result *none;
  int n_none;
  assert_int_equal(csm_explainer_explain(x, &bad, &none, &n_none), CSM_EINPUT);
  assert_non_null(strstr(csm_last_error(), "row:2: no such row"));
  assert_int_equal(n_none, 0);
  csm_face_results_free(got, n_got);
  csm_face_results_free(want, n_want);
  csm_explainer_free(x);
}

static csm_status read_npy(const char *dir, const char *name, csm_tensor *t) {
  char path[4200];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  return csm_npy_read(path, t);
}

static void assert_same_cms(const char *a, const char *b) {
  csm_tensor ta, tb;
  CSM_ASSERT_OK(read_npy(a, "cms.npy", &ta));
  CSM_ASSERT_OK(read_npy(b, "cms.npy", &tb));
  size_t na = 0;
  assert_true(csm_shape_equal(&ta.shape, &tb.shape));
  CSM_ASSERT_OK(csm_shape_numel(&ta.shape, &na));
  assert_memory_equal(ta.data, tb.data, na * sizeof(float));
  csm_tensor_free(&ta);
  csm_tensor_free(&tb);
}

static int cancel_after_first(void *ctx, const csm_progress *p) {
  int *calls = ctx;
  return p->input >= 1 && p->face == 0 && ++*calls >= 1;
}

static void test_cms_jobs_cancel_resume(void **state) {
  (void)state;
  char tmpl[] = "/tmp/csm-run-test.XXXXXX";
  const char *root = mkdtemp(tmpl);
  assert_non_null(root);
  char d1[4200], d2[4200], d3[4200];
  snprintf(d1, sizeof d1, "%s/one", root);
  snprintf(d2, sizeof d2, "%s/jobs", root);
  snprintf(d3, sizeof d3, "%s/cancelled", root);
  csm_explain_options o;
  options(&o);
  csm_input in[3] = {{.path = photo, .truth = -1},
                     {.path = "/nonexistent/photo.jpg", .truth = -1},
                     {.path = photo2, .truth = -1}};
  csm_cms_run_options r = csm_cms_run_options_default();
  csm_run_summary s;
  r.out_dir = d1;
  CSM_ASSERT_OK(csm_cms_run(&o, in, 3, &r, &s));
  assert_int_equal(s.inputs, 3);
  assert_int_equal(s.failures, 1); /* the missing photo, recorded, not fatal */
  r.out_dir = d2, r.jobs = 2;
  CSM_ASSERT_OK(csm_cms_run(&o, in, 3, &r, &s));
  assert_same_cms(d1, d2);
  /* Cancelled after the first input: an error, then a resume finishes it. */
  int calls = 0;
  r.out_dir = d3, r.jobs = 1, r.progress = cancel_after_first, r.progress_ctx = &calls;
  assert_int_equal(csm_cms_run(&o, in, 3, &r, &s), CSM_EUSAGE);
  assert_non_null(strstr(csm_last_error(), "cancelled"));
  char path[4300];
  snprintf(path, sizeof path, "%s/cms.npy", d3);
  assert_int_not_equal(access(path, F_OK), 0);
  r.progress = NULL, r.resume = 1;
  CSM_ASSERT_OK(csm_cms_run(&o, in, 3, &r, &s));
  assert_same_cms(d1, d3);
  char cmd[4300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  assert_int_equal(system(cmd), 0);
}

static void test_inputs(void **state) {
  (void)state;
  const char *pos[3] = {"a.jpg", "b.jpg", "c.jpg"};
  csm_input *in;
  int n;
  char *buf;
  assert_int_equal(csm_inputs_parse(CSM_EXPLAIN_VERIFY, pos, 3, NULL, &in, &n, &buf), CSM_EUSAGE);
  CSM_ASSERT_OK(csm_inputs_parse(CSM_EXPLAIN_VERIFY, pos, 2, NULL, &in, &n, &buf));
  assert_int_equal(n, 1);
  assert_string_equal(in[0].path2, "b.jpg");
  char **stems;
  const char *same[2] = {"x/a.jpg", "y/a.png"};
  free(in);
  free(buf);
  CSM_ASSERT_OK(csm_inputs_parse(CSM_EXPLAIN_CLASSIFY, same, 2, NULL, &in, &n, &buf));
  CSM_ASSERT_OK(csm_input_stems(in, n, &stems));
  assert_string_equal(stems[0], "a");
  assert_string_equal(stems[1], "a-2");
  csm_input_stems_free(stems, n);
  free(in);
  free(buf);
}

int main(void) {
  const char *samples = csm_test_env("CSM_SAMPLES_DIR", "data/samples");
  snprintf(photo, sizeof photo, "%s/sample3.jpg", samples);
  snprintf(photo2, sizeof photo2, "%s/sample1.jpg", samples);
  csm_set_threads(2);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_options_refused),        cmocka_unit_test(test_inputs),
      cmocka_unit_test(test_faces_and_confidence),   cmocka_unit_test(test_image_source),
      cmocka_unit_test(test_cms_jobs_cancel_resume),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
