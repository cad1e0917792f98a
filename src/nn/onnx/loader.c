/* Placeholder until the ONNX loader lands. */
#include "nn/graph.h"

csm_status csm_onnx_load(const char *path, csm_graph *g) {
  (void)g;
  return csm_fail(CSM_EUNSUPPORTED, "%s: ONNX loading is not built yet", path);
}
