/* Saving and restoring a model's float constants: the sanity check
 * randomizes weights in place and must leave the model as it found it. */
#include <stdlib.h>
#include <string.h>

#include "model_internal.h"

struct csm_weights {
  int n_nodes;    /* of the model it came from, as a consistency check */
  float **values; /* per node: a copy of a float constant's data, or NULL */
};

void csm_weights_free(csm_weights *w) {
  if (!w) return;
  for (int i = 0; i < w->n_nodes; i++)
    free(w->values[i]);
  free(w->values);
  free(w);
}

static int is_float_const(const csm_node *n) {
  return n->op == CSM_OP_CONST && n->value.dtype == CSM_F32 && n->value.data;
}

csm_status csm_model_weights_save(const csm_model *m, csm_weights **out) {
  *out = NULL;
  csm_weights *w = calloc(1, sizeof *w);
  if (!w || !(w->values = calloc((size_t)(m->g.n_nodes ? m->g.n_nodes : 1), sizeof *w->values))) {
    free(w);
    return csm_fail(CSM_ENOMEM, "out of memory");
  }
  w->n_nodes = m->g.n_nodes;
  for (int i = 0; i < m->g.n_nodes; i++) {
    const csm_node *n = &m->g.nodes[i];
    if (!is_float_const(n)) continue;
    size_t bytes = csm_tensor_numel(&n->value) * sizeof(float);
    if (!(w->values[i] = malloc(bytes ? bytes : 1))) {
      csm_weights_free(w);
      return csm_fail(CSM_ENOMEM, "out of memory (copying %s's weights)", m->g.path);
    }
    memcpy(w->values[i], n->value.data, bytes);
  }
  *out = w;
  return CSM_OK;
}

csm_status csm_model_weights_restore(csm_model *m, const csm_weights *w) {
  if (!w || w->n_nodes != m->g.n_nodes)
    return csm_fail(CSM_EUSAGE, "csm_model_weights_restore: the weights are another model's");
  for (int i = 0; i < m->g.n_nodes; i++) {
    csm_node *n = &m->g.nodes[i];
    if (!w->values[i] || !is_float_const(n)) continue;
    memcpy(n->value.data, w->values[i], csm_tensor_numel(&n->value) * sizeof(float));
  }
  csm_model_drop_plans(m);
  return CSM_OK;
}
