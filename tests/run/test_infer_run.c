/* csm_infer_run (include/csm/run.h) on a model whose answer is known in
 * closed form: an ONNX graph y = 2 x built in the test (tests/nn/
 * onnx_builder.h). From a .npy: every output value is twice its input, and
 * the gradient of output value J of each batch item is 2 at J and 0
 * elsewhere. From images (PNG written by the test): the input is ((p / 255)
 * - mean) / std per channel, exactly; the outputs are twice those values.
 * A missing image among good ones fails naming it, with no file written. */
#include "../nn/onnx_builder.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <unistd.h>

/* y = x * 2 with x [N, 3, 2, 2] (NCHW, as PyTorch exports). */
static void write_model(const char *path) {
  ob b;
  ob_init(&b, 13);
  int64_t xd[4] = {-1, 3, 2, 2}, one[1] = {1};
  const float two = 2;
  ob_input(&b, "x", 4, xd);
  ob_init_f32(&b, "two", 1, one, &two);
  ob_node(&b, "Mul", "mul", (const char *[]){"x", "two", NULL}, "y");
  ob_output(&b, "y");
  ob_write(&b, path);
  ob_free(&b);
}

static void write_npy(const char *path, const float *x, int n) {
  int64_t dims[4] = {n, 3, 2, 2};
  csm_tensor t = csm_test_tensor_f32(4, dims, x);
  CSM_ASSERT_OK(csm_npy_write(path, &t));
}

static void read_npy(const char *path, csm_tensor *t) { CSM_ASSERT_OK(csm_npy_read(path, t)); }

static void test_npy_and_gradient(void **state) {
  (void)state;
  write_model(tmp_path("double.onnx"));
  float x[24];
  for (int k = 0; k < 24; k++)
    x[k] = (float)(k * 0.37 - 4.1);
  write_npy(tmp_path("x.npy"), x, 2);
  csm_infer_options o;
  csm_infer_options_init(&o);
  o.model = tmp_path("double.onnx");
  o.npy = tmp_path("x.npy");
  o.out = tmp_path("npy_out");
  o.grad = 1, o.grad_output = 0, o.grad_value = 5;
  csm_infer_report *r;
  CSM_ASSERT_OK(csm_infer_run(&o, &r));
  csm_infer_report_free(r);
  csm_tensor y, g;
  read_npy(tmp_path("npy_out_0.npy"), &y);
  assert_int_equal(csm_tensor_numel(&y), 24);
  for (int k = 0; k < 24; k++)
    assert_float_equal(((float *)y.data)[k], 2 * x[k], 0);
  read_npy(tmp_path("npy_out_grad.npy"), &g);
  assert_int_equal(csm_tensor_numel(&g), 24);
  for (int b = 0; b < 2; b++)
    for (int k = 0; k < 12; k++)
      assert_float_equal(((float *)g.data)[b * 12 + k], k == 5 ? 2 : 0, 0);
  csm_tensor_free(&y);
  csm_tensor_free(&g);
}

/* A 2 x 2 PNG whose pixel values are base + 10 k. */
static void write_png(const char *path, int base) {
  unsigned char px[12];
  for (int k = 0; k < 12; k++)
    px[k] = (unsigned char)(base + 10 * k);
  csm_image img = {2, 2, px};
  CSM_ASSERT_OK(csm_image_write_png(path, &img));
}

static void test_images(void **state) {
  (void)state;
  write_model(tmp_path("double.onnx"));
  write_png(tmp_path("a.png"), 5);
  write_png(tmp_path("b.png"), 100);
  const char *images[2] = {tmp_path("a.png"), tmp_path("b.png")};
  csm_infer_options o;
  csm_infer_options_init(&o);
  o.model = tmp_path("double.onnx");
  o.images = images, o.n_images = 2;
  o.n_mean = 3, o.n_std = 3;
  const float mean[3] = {0.5f, 0.25f, 0.125f}, sd[3] = {0.25f, 0.5f, 2.0f};
  memcpy(o.mean, mean, sizeof mean);
  memcpy(o.std, sd, sizeof sd);
  o.save_input = tmp_path("input.npy");
  csm_infer_report *r;
  CSM_ASSERT_OK(csm_infer_run(&o, &r));
  char *json;
  CSM_ASSERT_OK(csm_infer_report_json(r, &json));
  csm_infer_report_free(r);
  /* The input the model got: NHWC, [2, 2, 2, 3], exactly the formula. */
  csm_tensor in;
  read_npy(tmp_path("input.npy"), &in);
  assert_int_equal(csm_tensor_numel(&in), 24);
  const float *v = in.data;
  double sum_in = 0;
  for (int b = 0; b < 2; b++)
    for (int k = 0; k < 12; k++) {
      int c = k % 3;
      double p = (b ? 100 : 5) + 10 * k;
      double want = (p / 255 - mean[c]) / sd[c];
      assert_float_equal(v[b * 12 + k], want, 1e-6);
      sum_in += v[b * 12 + k];
    }
  /* The outputs: twice the inputs (compared as sums and extremes, which do
   * not depend on the output's layout). */
  cJSON *root = cJSON_Parse(json);
  cJSON *data =
      cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(root, "outputs"), 0), "data");
  assert_int_equal(cJSON_GetArraySize(data), 24);
  double sum_out = 0, max_out = -1e9, max_in = -1e9;
  cJSON *it;
  cJSON_ArrayForEach(it, data) sum_out += it->valuedouble, max_out = fmax(max_out, it->valuedouble);
  for (int k = 0; k < 24; k++)
    max_in = fmax(max_in, v[k]);
  assert_float_equal(sum_out, 2 * sum_in, 1e-4);
  assert_float_equal(max_out, 2 * max_in, 1e-5);
  cJSON_Delete(root);
  free(json);
  csm_tensor_free(&in);
}

static void test_missing_image_writes_nothing(void **state) {
  (void)state;
  write_model(tmp_path("double.onnx"));
  write_png(tmp_path("a.png"), 5);
  unlink(tmp_path("none.npy"));
  unlink(tmp_path("none_0.npy"));
  const char *images[2] = {tmp_path("a.png"), tmp_path("missing.png")};
  csm_infer_options o;
  csm_infer_options_init(&o);
  o.model = tmp_path("double.onnx");
  o.images = images, o.n_images = 2;
  o.save_input = tmp_path("none.npy");
  o.out = tmp_path("none");
  csm_infer_report *r = NULL;
  assert_int_not_equal(csm_infer_run(&o, &r), CSM_OK);
  assert_null(r);
  assert_non_null(strstr(csm_last_error(), "missing.png"));
  assert_int_not_equal(access(tmp_path("none.npy"), F_OK), 0);
  assert_int_not_equal(access(tmp_path("none_0.npy"), F_OK), 0);
}

int main(void) {
  ob_test_dir("infer_run");
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_npy_and_gradient),
      cmocka_unit_test(test_images),
      cmocka_unit_test(test_missing_image_writes_nothing),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
