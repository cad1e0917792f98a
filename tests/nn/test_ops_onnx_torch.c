/* The compute ops added for ONNX models against PyTorch 1.13 (forward and
 * input gradient): conv_transpose2d (stride, padding, output_padding,
 * dilation), avg_pool2d / max_pool2d with ceil_mode and count_include_pad,
 * F.interpolate nearest (scale_factor and size) and bilinear (align_corners
 * False/True, size and scale_factor), hardswish, hardsigmoid, reciprocal and
 * log_softmax.
 *
 * tests/nn/onnx_ops_torch.py writes the fixtures (inputs, PyTorch's outputs,
 * a random output gradient and PyTorch's input gradient, all NHWC) and a
 * manifest of csm attributes; this test runs it into $CSM_TEST_TMP (or reads
 * $CSM_TORCH_FIXTURES if set), then runs each op and its backward pass.
 * Skipped (77) when no python with torch is found ($CSM_PYTHON, default
 * /usr/bin/python3); a fixture script that fails otherwise fails the test. */
#include "csm_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "csm/report.h"
#include "nn/grad/backward.h"
#include "nn/ops/op.h"

static char g_dir[1024];

static int parse_ints(const char *v, int *out, int max) {
  int n = 0;
  while (*v && n < max) {
    out[n++] = (int)strtol(v, (char **)&v, 10);
    if (*v == ',') v++;
  }
  return n;
}

static void load(const char *name, const char *key, csm_tensor *t) {
  char path[1400];
  snprintf(path, sizeof path, "%s/%s_%s.npy", g_dir, name, key);
  CSM_ASSERT_OK(csm_npy_read(path, t));
}

/* Builds the node for one manifest line (op and key=value attributes). */
static int build_node(char *line, char *name, csm_node *nd, int32_t size[2], int *has_size) {
  char op[64];
  int used = 0;
  if (sscanf(line, "%255s %63s%n", name, op, &used) != 2) return -1;
  static const struct {
    const char *name;
    int op;
  } ops[] = {{"tconv", CSM_OP_CONV2D_TRANSPOSE},   {"avgpool", CSM_OP_AVGPOOL},
             {"maxpool", CSM_OP_MAXPOOL},          {"nearest", CSM_OP_RESIZE_NEAREST},
             {"bilinear", CSM_OP_RESIZE_BILINEAR}, {"hardswish", CSM_OP_HARD_SWISH},
             {"hardsigmoid", CSM_OP_HARD_SIGMOID}, {"reciprocal", CSM_OP_RECIPROCAL},
             {"log_softmax", CSM_OP_LOG_SOFTMAX}};
  int kind = -1;
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
    if (!strcmp(op, ops[i].name)) kind = ops[i].op;
  if (kind < 0) fail_msg("%s: unknown op %s", name, op);
  *nd = csm_test_node(kind, 1);
  *has_size = 0;
  char *p = line + used;
  char tok[128];
  int n;
  while (sscanf(p, "%127s%n", tok, &n) == 1) {
    p += n;
    char *eq = strchr(tok, '=');
    if (!eq) fail_msg("%s: bad attribute %s", name, tok);
    *eq = 0;
    const char *k = tok, *v = eq + 1;
    csm_attrs *a = &nd->a;
    if (!strcmp(k, "s"))
      parse_ints(v, a->stride, 2);
    else if (!strcmp(k, "d"))
      parse_ints(v, a->dilation, 2);
    else if (!strcmp(k, "k"))
      parse_ints(v, a->ksize, 2);
    else if (!strcmp(k, "pads")) {
      parse_ints(v, a->pads, 4);
      a->padding = CSM_PAD_EXPLICIT;
    } else if (!strcmp(k, "opad"))
      parse_ints(v, a->output_padding, 2);
    else if (!strcmp(k, "bias"))
      a->has_bias = atoi(v);
    else if (!strcmp(k, "ceil"))
      a->ceil_mode = atoi(v);
    else if (!strcmp(k, "cip"))
      a->count_include_pad = atoi(v);
    else if (!strcmp(k, "align"))
      a->align_corners = atoi(v);
    else if (!strcmp(k, "half"))
      a->half_pixel_centers = atoi(v);
    else if (!strcmp(k, "alpha"))
      a->alpha = strtof(v, NULL);
    else if (!strcmp(k, "beta"))
      a->beta = strtof(v, NULL);
    else if (!strcmp(k, "mode") && !strcmp(v, "floor"))
      a->nearest_mode = CSM_NEAREST_FLOOR;
    else if (!strcmp(k, "scale")) {
      a->scale[0] = strtof(v, (char **)&v);
      a->scale[1] = strtof(v + 1, NULL);
    } else if (!strcmp(k, "size")) {
      int s[2];
      parse_ints(v, s, 2);
      size[0] = s[0];
      size[1] = s[1];
      *has_size = 1;
    } else
      fail_msg("%s: unknown attribute %s", name, k);
  }
  return kind;
}

static void run_case(char *line) {
  char name[256];
  csm_node nd;
  int32_t size[2];
  int has_size;
  const int kind = build_node(line, name, &nd, size, &has_size);
  if (kind < 0) return;
  csm_test_context = name;
  csm_tensor in[3], y, dy, dx, out;
  int n_in = 1;
  load(name, "x", &in[0]);
  if (kind == CSM_OP_CONV2D_TRANSPOSE) {
    load(name, "f", &in[1]);
    n_in = 2;
    if (nd.a.has_bias) load(name, "b", &in[n_in++]);
  } else if (has_size) {
    in[1] = csm_test_tensor_i32(1, (int64_t[]){2}, size);
    n_in = 2;
  }
  nd.n_in = n_in;
  load(name, "y", &y);
  load(name, "dy", &dy);
  load(name, "dx", &dx);
  CSM_ASSERT_OK(csm_test_run_op(&nd, in, &out));
  assert_int_equal(out.shape.rank, y.shape.rank);
  for (int d = 0; d < y.shape.rank; d++)
    if (out.shape.d[d] != y.shape.d[d])
      fail_msg("%s: output dim %d is %lld, PyTorch %lld", name, d, (long long)out.shape.d[d],
               (long long)y.shape.d[d]);
  csm_test_assert_tensor_close(&out, y.data, csm_tensor_numel(&y), 2e-5f, 1e-4f);

  csm_tensor din;
  CSM_ASSERT_OK(csm_tensor_alloc(&din, CSM_F32, &in[0].shape));
  memset(din.data, 0, csm_tensor_numel(&din) * sizeof(float));
  csm_backward_args a = {&nd, in, &out, &dy, 0, &din};
  CSM_ASSERT_OK(csm_backward_get(nd.op)(&a));
  csm_test_assert_tensor_close(&din, dx.data, csm_tensor_numel(&dx), 5e-5f, 1e-4f);
  csm_tensor_free(&din);
  csm_tensor_free(&out);
  csm_tensor_free(&y);
  csm_tensor_free(&dy);
  csm_tensor_free(&dx);
  for (int i = 0; i < n_in; i++)
    csm_tensor_free(&in[i]);
  csm_test_context = "";
}

static void test_against_torch(void **state) {
  (void)state;
  char path[1400];
  snprintf(path, sizeof path, "%s/manifest.txt", g_dir);
  FILE *f = fopen(path, "r");
  if (!f) fail_msg("no manifest at %s", path);
  char line[1024];
  int cases = 0;
  while (fgets(line, sizeof line, f)) {
    if (line[0] == '\n' || line[0] == 0) continue;
    run_case(line);
    cases++;
  }
  fclose(f);
  assert_true(cases >= 20);
  print_message("%d cases match PyTorch\n", cases);
}

int main(void) {
  const char *fixtures = getenv("CSM_TORCH_FIXTURES");
  if (fixtures && *fixtures) {
    snprintf(g_dir, sizeof g_dir, "%s", fixtures);
  } else {
    const char *src = csm_test_env("CSM_SOURCE_DIR", NULL);
    const char *tmp = csm_test_env("CSM_TEST_TMP", "/tmp");
    const char *py = csm_test_env("CSM_PYTHON", "/usr/bin/python3");
    if (!src) {
      printf("SKIP: CSM_SOURCE_DIR is not set\n");
      return CSM_TEST_SKIP;
    }
    if (access(py, X_OK) != 0) {
      printf("SKIP: no python at %s\n", py);
      return CSM_TEST_SKIP;
    }
    mkdir(tmp, 0777);
    snprintf(g_dir, sizeof g_dir, "%s/onnx_ops_torch", tmp);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' '%s/tests/nn/onnx_ops_torch.py' '%s'", py, src, g_dir);
    int rc = system(cmd);
    if (rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) == 77) {
      printf("SKIP: %s has no torch or numpy\n", py);
      return CSM_TEST_SKIP;
    }
    if (rc == -1 || !WIFEXITED(rc) || WEXITSTATUS(rc) != 0) {
      printf("FAIL: %s could not make the PyTorch fixtures\n", cmd);
      return 1;
    }
  }
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_against_torch)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
