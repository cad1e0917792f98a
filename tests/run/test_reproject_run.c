/* csm_reproject_run (include/csm/run.h) on a sample photo with canonical
 * maps whose reprojection is known without the code under test: a
 * constant map reads that constant on every face pixel; a map that is 1 on
 * the canonical raster's left half and 0 on its right reads values in
 * [0, 1], both ends appear on the largest face, and they fall on different
 * sides of it. A missing image is one line naming it, and nothing is
 * written. */
#include "csm_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N 64 /* the canonical raster of the test maps */

static char photo[4096], tmp[4096];

static void write_map(const char *path, const float *v) {
  int64_t dims[2] = {N, N};
  csm_tensor t = {CSM_F32, csm_shape_make(2, dims), (void *)v, 0};
  CSM_ASSERT_OK(csm_npy_write(path, &t));
}

/* Writes the map into tmp/<name>/map.npy and reprojects it onto the photo
 * into tmp/<name>/out. */
static csm_reproject_report *run_map(const char *name, const float *map, char *out, size_t len) {
  char dir[4200], path[4300];
  snprintf(dir, sizeof dir, "%s/%s", tmp, name);
  CSM_ASSERT_OK(csm_make_dirs(dir));
  snprintf(path, sizeof path, "%s/map.npy", dir);
  write_map(path, map);
  snprintf(out, len, "%s/out", dir);
  csm_reproject_options o;
  csm_reproject_options_init(&o);
  o.cms = path, o.out_dir = out;
  const char *paths[1] = {photo};
  csm_reproject_report *r = NULL;
  CSM_ASSERT_OK(csm_reproject_run(&o, paths, 1, &r));
  assert_non_null(r);
  assert_int_equal(csm_reproject_report_images(r), 1);
  assert_true(csm_reproject_report_faces(r) >= 1);
  return r;
}

/* Face k's map as written: tmp/<name>/out/<stem>_face<k>.npy. */
static void read_face(const char *out, int k, csm_tensor *t) {
  char stem[256], path[4800];
  csm_path_stem(photo, stem, sizeof stem);
  snprintf(path, sizeof path, "%s/%s_face%d.npy", out, stem, k);
  memset(t, 0, sizeof *t);
  CSM_ASSERT_OK(csm_npy_read(path, t));
  assert_int_equal(t->dtype, CSM_F32);
  assert_int_equal(t->shape.rank, 2);
}

static void test_constant_map(void **state) {
  (void)state;
  const float c = 0.375f;
  float *map = malloc(sizeof(float) * N * N);
  assert_non_null(map);
  for (int k = 0; k < N * N; k++)
    map[k] = c;
  char out[4400];
  csm_reproject_report *r = run_map("const", map, out, sizeof out);
  int faces = csm_reproject_report_faces(r);
  for (int k = 1; k <= faces; k++) {
    csm_tensor t;
    read_face(out, k, &t);
    const float *v = t.data;
    size_t n = (size_t)t.shape.d[0] * t.shape.d[1], on = 0;
    for (size_t p = 0; p < n; p++) {
      if (isnan(v[p])) continue;
      on++;
      if (fabsf(v[p] - c) > 1e-6f) fail_msg("face %d pixel %zu reads %g, not %g", k, p, v[p], c);
    }
    assert_true(on > 100); /* a face, not a few stray pixels */
    csm_tensor_free(&t);
  }
  /* The JSON summary names the map and the face's values. */
  char *json = NULL;
  CSM_ASSERT_OK(csm_reproject_report_json(r, &json));
  assert_non_null(strstr(json, "\"cms\": "));
  assert_non_null(strstr(json, "\"min\": 0.37")); /* 0.375 within rounding */
  free(json);
  csm_reproject_report_free(r);
  free(map);
}

static void test_half_map(void **state) {
  (void)state;
  float *map = malloc(sizeof(float) * N * N);
  assert_non_null(map);
  for (int y = 0; y < N; y++)
    for (int x = 0; x < N; x++)
      map[y * N + x] = x < N / 2 ? 1.0f : 0.0f;
  char out[4400];
  csm_reproject_report *r = run_map("half", map, out, sizeof out);
  int faces = csm_reproject_report_faces(r);
  for (int k = 1; k <= faces; k++) {
    csm_tensor t;
    read_face(out, k, &t);
    const float *v = t.data;
    int w = (int)t.shape.d[1];
    size_t n = (size_t)t.shape.d[0] * w;
    long ones = 0, zeros = 0;
    double x1 = 0, x0 = 0;
    for (size_t p = 0; p < n; p++) {
      if (isnan(v[p])) continue;
      assert_true(v[p] >= 0 && v[p] <= 1);
      if (v[p] >= 1 - 1e-6f) ones++, x1 += (double)(p % w);
      if (v[p] <= 1e-6f) zeros++, x0 += (double)(p % w);
    }
    if (k == 1) {
      /* The largest face shows both halves of the canonical face, on
       * different sides of the image. */
      assert_true(ones > 50 && zeros > 50);
      assert_true(fabs(x1 / ones - x0 / zeros) > 2);
    }
    csm_tensor_free(&t);
  }
  csm_reproject_report_free(r);
  free(map);
}

static void test_missing_image(void **state) {
  (void)state;
  char dir[4200], path[4300], missing[4300];
  snprintf(dir, sizeof dir, "%s/missing", tmp);
  CSM_ASSERT_OK(csm_make_dirs(dir));
  float *map = calloc(N * N, sizeof(float));
  assert_non_null(map);
  snprintf(path, sizeof path, "%s/map.npy", dir);
  write_map(path, map);
  free(map);
  char out[4400];
  snprintf(out, sizeof out, "%s/out", dir);
  snprintf(missing, sizeof missing, "%s/no-such-photo.jpg", dir);
  csm_reproject_options o;
  csm_reproject_options_init(&o);
  o.cms = path, o.out_dir = out;
  /* The good photo first: its results must not be written either. */
  const char *paths[2] = {photo, missing};
  csm_reproject_report *r = (csm_reproject_report *)1;
  csm_status st = csm_reproject_run(&o, paths, 2, &r);
  assert_int_not_equal(st, CSM_OK);
  assert_null(r);
  const char *e = csm_last_error();
  if (!strstr(e, "no-such-photo.jpg")) fail_msg("the error does not name the image: %s", e);
  assert_null(strchr(e, '\n'));
  assert_int_not_equal(access(out, F_OK), 0);
}

int main(void) {
  const char *samples = csm_test_env("CSM_SAMPLES_DIR", "data/samples");
  snprintf(photo, sizeof photo, "%s/sample2.jpg", samples);
  csm_set_threads(2);
  const char *base = csm_test_env("CSM_TEST_TMP", "/tmp");
  if (csm_make_dirs(base)) return 1;
  snprintf(tmp, sizeof tmp, "%s/reproject_run.XXXXXX", base);
  if (!mkdtemp(tmp)) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_constant_map),
      cmocka_unit_test(test_half_map),
      cmocka_unit_test(test_missing_image),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
  return rc;
}
