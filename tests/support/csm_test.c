#include "csm_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *csm_test_env(const char *name, const char *fallback) {
  const char *v = getenv(name);
  return v && *v ? v : fallback;
}

const char *csm_test_model_path(const char *name, char *buf, size_t len) {
  snprintf(buf, len, "%s/%s.json", csm_test_env("CSM_MODELS_DIR", "models"), name);
  return access(buf, R_OK) == 0 ? buf : NULL;
}

void csm_test_fill_uniform(float *x, size_t n, uint32_t seed, float lo, float hi) {
  uint32_t s = seed ? seed : 1u;
  for (size_t i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    x[i] = lo + (hi - lo) * (float)(s >> 8) / 16777216.0f;
  }
}

#include "nn/ops/op.h"

csm_status csm_test_run_op(const struct csm_node *node, const csm_tensor *in, csm_tensor *out) {
  const csm_op_def *def = csm_op_def_get(node->op);
  csm_tensor shape_only;
  csm_status st;
  void *scratch = NULL;
  if (!def || !def->infer) return csm_fail(CSM_EUNSUPPORTED, "op has no definition");
  memset(&shape_only, 0, sizeof shape_only);
  st = def->infer(node, in, &shape_only);
  if (st) return st;
  st = csm_tensor_alloc(out, shape_only.dtype, &shape_only.shape);
  if (st) return st;
  if (def->alias) {
    size_t n = csm_tensor_numel(out);
    memcpy(out->data, in[0].data, n * 4);
    return CSM_OK;
  }
  if (def->scratch) {
    size_t bytes = def->scratch(node, in, out);
    scratch = bytes ? malloc(bytes) : NULL;
  }
  st = def->forward(node, in, out, scratch);
  free(scratch);
  return st;
}
