/* Placeholder until the graph rewrites land. */
#include "graph.h"

csm_status csm_graph_simplify(csm_graph *g) {
  (void)g;
  return CSM_OK;
}
csm_status csm_graph_inputs_channels_last(csm_graph *g) {
  (void)g;
  return csm_fail(CSM_EUNSUPPORTED, "channels-last inputs are not built yet");
}
