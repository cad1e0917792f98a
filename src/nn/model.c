/* The public model API: a loaded graph plus a plan cached per input shape. */
#include <stdlib.h>
#include <string.h>

#include "graph.h"
#include "plan.h"

struct csm_model {
  csm_graph g;
  csm_plan *plan; /* for the last input shapes run */
  size_t params;
};

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && strcmp(s + n - m, suffix) == 0;
}

csm_status csm_model_load(const char *path, csm_model **out) {
  csm_status st;
  *out = NULL;
  if (!path || !*path) return csm_fail(CSM_EUSAGE, "no model path given");
  csm_model *m = csm_calloc(1, sizeof *m);
  if (!m) return CSM_ENOMEM;
  if (ends_with(path, ".json")) {
    st = csm_tfjs_load(path, &m->g);
  } else {
    st = csm_fail(CSM_EUNSUPPORTED, "%s: unknown model format (expected a TF.js model.json)", path);
  }
  if (st) {
    csm_graph_free(&m->g);
    free(m);
    return st;
  }
  for (int i = 0; i < m->g.n_nodes; i++) {
    const csm_node *n = &m->g.nodes[i];
    if (n->op == CSM_OP_CONST && n->value.dtype == CSM_F32)
      m->params += csm_tensor_numel(&n->value);
  }
  *out = m;
  return CSM_OK;
}

void csm_model_free(csm_model *m) {
  if (!m) return;
  csm_plan_free(m->plan);
  csm_graph_free(&m->g);
  free(m);
}

const char *csm_model_path(const csm_model *m) { return m->g.path; }
int csm_model_num_inputs(const csm_model *m) { return m->g.n_inputs; }
const char *csm_model_input_name(const csm_model *m, int i) {
  return m->g.nodes[m->g.inputs[i]].name;
}
csm_shape csm_model_input_shape(const csm_model *m, int i) {
  return m->g.nodes[m->g.inputs[i]].value.shape;
}
int csm_model_num_outputs(const csm_model *m) { return m->g.n_outputs; }
const char *csm_model_output_name(const csm_model *m, int i) { return m->g.output_names[i]; }
size_t csm_model_params(const csm_model *m) { return m->params; }

/* Declared input shapes with run-time dimensions set to `batch`. */
static csm_status concrete_inputs(const csm_model *m, int64_t batch, csm_shape *shapes) {
  if (m->g.n_inputs > 8) return csm_fail(CSM_EUNSUPPORTED, "%s: more than 8 inputs", m->g.path);
  for (int i = 0; i < m->g.n_inputs; i++) {
    shapes[i] = csm_model_input_shape(m, i);
    for (int k = 0; k < shapes[i].rank; k++)
      if (shapes[i].d[k] < 0) shapes[i].d[k] = k == 0 ? batch : 1;
  }
  return CSM_OK;
}

static csm_status shapes_plan(csm_model *m, int64_t batch, csm_plan **p) {
  csm_shape shapes[8];
  csm_plan_options opt = {.shapes_only = 1};
  csm_status st = concrete_inputs(m, batch, shapes);
  if (st) return st;
  return csm_plan_create(&m->g, shapes, &opt, p);
}

csm_status csm_model_output_shape(csm_model *m, int i, int64_t batch, csm_shape *out) {
  csm_plan *p;
  if (i < 0 || i >= m->g.n_outputs) return csm_fail(CSM_EUSAGE, "output index %d out of range", i);
  csm_status st = shapes_plan(m, batch, &p);
  if (st) return st;
  *out = csm_plan_value(p, m->g.outputs[i])->shape;
  csm_plan_free(p);
  return CSM_OK;
}

csm_status csm_model_flops(csm_model *m, double *flops) {
  csm_plan *p;
  csm_status st = shapes_plan(m, 1, &p);
  if (st) return st;
  *flops = csm_plan_flops(p);
  csm_plan_free(p);
  return CSM_OK;
}

/* Models exported with a fixed batch of 1 (their reshapes hard-code it) run
 * larger batches one item at a time; results are the same as separate runs. */
static int fixed_batch_one(const csm_model *m) {
  for (int i = 0; i < m->g.n_inputs; i++) {
    csm_shape s = csm_model_input_shape(m, i);
    if (s.rank == 0 || s.d[0] != 1) return 0;
  }
  return m->g.n_inputs > 0;
}

static csm_status run_once(csm_model *m, const csm_tensor *inputs, csm_tensor *outputs) {
  csm_shape shapes[8];
  csm_status st;
  if (m->g.n_inputs > 8) return csm_fail(CSM_EUNSUPPORTED, "%s: more than 8 inputs", m->g.path);
  for (int i = 0; i < m->g.n_inputs; i++)
    shapes[i] = inputs[i].shape;
  if (!m->plan || !csm_plan_input_shapes_equal(m->plan, shapes)) {
    csm_plan_free(m->plan);
    m->plan = NULL;
    if ((st = csm_plan_create(&m->g, shapes, NULL, &m->plan))) return st;
  }
  if ((st = csm_plan_run(m->plan, inputs))) return st;
  for (int o = 0; o < m->g.n_outputs; o++) {
    const csm_tensor *v = csm_plan_value(m->plan, m->g.outputs[o]);
    if ((st = csm_tensor_alloc(&outputs[o], v->dtype, &v->shape))) {
      for (int k = 0; k < o; k++)
        csm_tensor_free(&outputs[k]);
      return st;
    }
    memcpy(outputs[o].data, v->data, csm_tensor_numel(v) * 4);
  }
  return CSM_OK;
}

csm_status csm_model_run(csm_model *m, const csm_tensor *inputs, csm_tensor *outputs) {
  int n_out = m->g.n_outputs;
  int64_t batch = inputs[0].shape.rank > 0 ? inputs[0].shape.d[0] : 1;
  csm_status st;
  for (int i = 0; i < m->g.n_inputs; i++) {
    char a[128], b[128];
    csm_shape want = csm_model_input_shape(m, i);
    if (inputs[i].shape.rank != want.rank ||
        inputs[i].dtype != m->g.nodes[m->g.inputs[i]].value.dtype)
      return csm_fail(CSM_EINPUT, "%s: input '%s' expects shape %s, got %s", m->g.path,
                      csm_model_input_name(m, i), csm_shape_str(&want, a, sizeof a),
                      csm_shape_str(&inputs[i].shape, b, sizeof b));
  }
  if (batch <= 1 || !fixed_batch_one(m)) return run_once(m, inputs, outputs);

  /* Item by item, then stack along the batch axis. */
  csm_tensor item_in[8], *item_out = csm_calloc((size_t)n_out + 1, sizeof(csm_tensor));
  if (!item_out) return CSM_ENOMEM;
  memset(outputs, 0, (size_t)n_out * sizeof *outputs);
  for (int64_t b = 0; b < batch; b++) {
    for (int i = 0; i < m->g.n_inputs; i++) {
      if (inputs[i].shape.d[0] != batch)
        return csm_fail(CSM_EINPUT, "%s: inputs disagree on the batch size", m->g.path);
      csm_shape s = inputs[i].shape;
      s.d[0] = 1;
      size_t per = csm_tensor_numel(&inputs[i]) / (size_t)batch;
      item_in[i] = csm_tensor_view(&inputs[i], &s);
      item_in[i].data = (char *)inputs[i].data + (size_t)b * per * 4;
    }
    if ((st = run_once(m, item_in, item_out))) goto fail;
    for (int o = 0; o < n_out; o++) {
      size_t per = csm_tensor_numel(&item_out[o]);
      if (b == 0) {
        csm_shape s = item_out[o].shape;
        if (s.rank == 0 || s.d[0] != 1) {
          st = csm_fail(CSM_EUNSUPPORTED, "%s: output '%s' has no batch axis", m->g.path,
                        csm_model_output_name(m, o));
          goto fail;
        }
        s.d[0] = batch;
        if ((st = csm_tensor_alloc(&outputs[o], item_out[o].dtype, &s))) goto fail;
      }
      memcpy((char *)outputs[o].data + (size_t)b * per * 4, item_out[o].data, per * 4);
      csm_tensor_free(&item_out[o]);
    }
  }
  free(item_out);
  return CSM_OK;
fail:
  for (int o = 0; o < n_out; o++) {
    csm_tensor_free(&item_out[o]);
    csm_tensor_free(&outputs[o]);
  }
  free(item_out);
  return st;
}
