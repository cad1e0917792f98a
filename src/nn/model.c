/* The public model API: a loaded graph plus a plan cached per input shape. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "model_internal.h"
#include "ops/op.h"

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && strcmp(s + n - m, suffix) == 0;
}

static void count_params(csm_model *m) {
  m->params = 0;
  for (int i = 0; i < m->g.n_nodes; i++) {
    const csm_node *n = &m->g.nodes[i];
    if (n->op == CSM_OP_CONST && n->value.dtype == CSM_F32)
      m->params += csm_tensor_numel(&n->value);
  }
}

csm_status csm_model_load(const char *path, csm_model **out) {
  csm_status st;
  *out = NULL;
  if (!path || !*path) return csm_fail(CSM_EUSAGE, "no model path given");
  csm_model *m = csm_calloc(1, sizeof *m);
  if (!m) return CSM_ENOMEM;
  if (ends_with(path, ".json")) {
    st = csm_tfjs_load(path, &m->g);
  } else if (ends_with(path, ".onnx")) {
    st = csm_onnx_load(path, &m->g);
  } else {
    st = csm_fail(CSM_EUNSUPPORTED,
                  "%s: unknown model format (expected a TF.js model.json or an .onnx file)", path);
  }
  if (st) {
    csm_graph_free(&m->g);
    free(m);
    return st;
  }
  count_params(m);
  *out = m;
  return CSM_OK;
}

csm_status csm_model_from_graph(csm_graph *g, csm_model **out) {
  *out = NULL;
  csm_model *m = csm_calloc(1, sizeof *m);
  if (!m) return CSM_ENOMEM;
  csm_status st = csm_graph_toposort(g);
  if (st) {
    free(m);
    return st;
  }
  m->g = *g;
  memset(g, 0, sizeof *g);
  count_params(m);
  *out = m;
  return CSM_OK;
}

int csm_model_input_channels_first(const csm_model *m, int i) {
  return m && i >= 0 && i < m->g.n_inputs && m->g.input_channels_first &&
         m->g.input_channels_first[i];
}

csm_status csm_model_use_channels_last(csm_model *m) {
  if (!m) return csm_fail(CSM_EUSAGE, "csm_model_use_channels_last: NULL model");
  int any = 0;
  for (int i = 0; i < m->g.n_inputs; i++)
    any |= csm_model_input_channels_first(m, i);
  if (!any) return CSM_OK;
  csm_status st = csm_graph_inputs_channels_last(&m->g);
  csm_model_drop_plans(m);
  return st;
}

void csm_model_drop_plans(csm_model *m) {
  for (int i = 0; i < CSM_MODEL_MAX_WORKERS; i++) {
    csm_plan_free(m->plans[i]);
    m->plans[i] = NULL;
  }
  csm_plan_free(m->tape_plan);
  m->tape_plan = NULL;
  m->weights_gen++;
}

void csm_model_free(csm_model *m) {
  if (!m) return;
  for (int i = 0; i < CSM_MODEL_MAX_WORKERS; i++)
    csm_plan_free(m->plans[i]);
  csm_plan_free(m->tape_plan);
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

int csm_model_node_count(const csm_model *m) { return m->g.n_nodes; }
const char *csm_model_node_name(const csm_model *m, int node) { return m->g.nodes[node].name; }
const char *csm_model_node_op(const csm_model *m, int node) {
  csm_op_kind op = m->g.nodes[node].op;
  return op == CSM_OP_INPUT ? "Input" : op == CSM_OP_CONST ? "Const" : csm_op_name(op);
}
int csm_model_output_node(const csm_model *m, int i) { return m->g.outputs[i]; }
int csm_model_input_node(const csm_model *m, int i) { return m->g.inputs[i]; }

int csm_model_find_node(const csm_model *m, const char *name) {
  size_t len = strlen(name);
  if (len > 2 && strcmp(name + len - 2, ":0") == 0) len -= 2;
  for (int i = 0; i < m->g.n_nodes; i++)
    if (strlen(m->g.nodes[i].name) == len && strncmp(m->g.nodes[i].name, name, len) == 0) return i;
  return -1;
}

/* Declared input shapes with run-time dimensions set to `batch`. */
static csm_status concrete_inputs(const csm_model *m, int64_t batch, csm_shape *shapes) {
  if (m->g.n_inputs > CSM_MODEL_MAX_INPUTS)
    return csm_fail(CSM_EUNSUPPORTED, "%s: more than %d inputs", m->g.path, CSM_MODEL_MAX_INPUTS);
  for (int i = 0; i < m->g.n_inputs; i++) {
    shapes[i] = csm_model_input_shape(m, i);
    for (int k = 0; k < shapes[i].rank; k++)
      if (shapes[i].d[k] < 0) shapes[i].d[k] = k == 0 ? batch : 1;
  }
  return CSM_OK;
}

static csm_status shapes_plan(csm_model *m, int64_t batch, csm_plan **p) {
  csm_shape shapes[CSM_MODEL_MAX_INPUTS];
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

csm_status csm_model_node_shape(csm_model *m, int node, int64_t batch, csm_shape *out) {
  csm_plan *p;
  if (node < 0 || node >= m->g.n_nodes)
    return csm_fail(CSM_EUSAGE, "node index %d out of range", node);
  csm_status st = shapes_plan(m, batch, &p);
  if (st) return st;
  const csm_tensor *v = csm_plan_value(p, node);
  if (!csm_plan_is_runtime(p, node))
    st = csm_fail(CSM_EINPUT,
                  "%s: node '%s' is not computed at run time (a constant, folded, or not needed by "
                  "any output)",
                  m->g.path, m->g.nodes[node].name);
  else
    *out = v->shape;
  csm_plan_free(p);
  return st;
}

unsigned csm_model_node_flags(const csm_model *m, int node) {
  if (!m || node < 0 || node >= m->g.n_nodes) return 0;
  return csm_op_flags(m->g.nodes[node].op);
}

int csm_model_node_inputs(const csm_model *m, int node, int *inputs, int max) {
  if (!m || node < 0 || node >= m->g.n_nodes) return -1;
  const csm_node *n = &m->g.nodes[node];
  for (int k = 0; inputs && k < n->n_in && k < max; k++)
    inputs[k] = n->in[k];
  return n->n_in;
}

csm_status csm_model_infer_values(csm_model *m, int64_t batch, csm_node_value *values) {
  csm_plan *p;
  if (!m || !values) return csm_fail(CSM_EUSAGE, "csm_model_infer_values: bad arguments");
  csm_status st = shapes_plan(m, batch, &p);
  if (st) return st;
  for (int i = 0; i < m->g.n_nodes; i++) {
    const csm_tensor *v = csm_plan_value(p, i);
    values[i] = (csm_node_value){v->dtype, v->shape, csm_plan_is_runtime(p, i)};
  }
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
int csm_model_fixed_batch_one(const csm_model *m) {
  for (int i = 0; i < m->g.n_inputs; i++) {
    csm_shape s = csm_model_input_shape(m, i);
    if (s.rank == 0 || s.d[0] != 1) return 0;
  }
  return m->g.n_inputs > 0;
}

/* Makes the plan in `slot` fit the shapes of inputs (already sliced). */
static csm_status ensure_plan(csm_model *m, int slot, const csm_tensor *inputs) {
  csm_shape shapes[CSM_MODEL_MAX_INPUTS];
  for (int i = 0; i < m->g.n_inputs; i++)
    shapes[i] = inputs[i].shape;
  if (m->plans[slot] && csm_plan_input_shapes_equal(m->plans[slot], shapes)) return CSM_OK;
  csm_plan_free(m->plans[slot]);
  m->plans[slot] = NULL;
  return csm_plan_create(&m->g, shapes, NULL, &m->plans[slot]);
}

/* Views of batch rows [b0, b0+n) of every input. */
static void slice_inputs(const csm_model *m, const csm_tensor *inputs, int64_t batch, int64_t b0,
                         int64_t n, csm_tensor *views) {
  for (int i = 0; i < m->g.n_inputs; i++) {
    csm_shape s = inputs[i].shape;
    size_t per = csm_tensor_numel(&inputs[i]) / (size_t)batch;
    s.d[0] = n;
    views[i] = csm_tensor_view(&inputs[i], &s);
    views[i].data = (char *)inputs[i].data + (size_t)b0 * per * 4;
  }
}

/* Copies the outputs of the plan in `slot` (rows rows) into rows [b0, b0+rows)
 * of outputs. */
static void gather_outputs(csm_model *m, int slot, int64_t b0, int64_t rows, csm_tensor *outputs) {
  for (int o = 0; o < m->g.n_outputs; o++) {
    const csm_tensor *v = csm_plan_value(m->plans[slot], m->g.outputs[o]);
    size_t n = csm_tensor_numel(v), per_item = n / (size_t)rows;
    memcpy((char *)outputs[o].data + (size_t)b0 * per_item * 4, v->data, n * 4);
  }
}

typedef struct batch_job {
  csm_model *m;
  const csm_tensor *inputs;
  csm_tensor *outputs;
  int64_t batch, slice, n_slices;
  int workers;
  csm_status *status;
  char (*error)[256];
} batch_job;

static void run_worker(const batch_job *j, int w) {
  csm_tensor views[CSM_MODEL_MAX_INPUTS];
  for (int64_t k = w; k < j->n_slices && j->status[w] == CSM_OK; k += j->workers) {
    int64_t b0 = k * j->slice, rows = j->batch - b0 < j->slice ? j->batch - b0 : j->slice;
    slice_inputs(j->m, j->inputs, j->batch, b0, rows, views);
    csm_status st = ensure_plan(j->m, w, views);
    if (!st) st = csm_plan_run(j->m->plans[w], views);
    if (st) {
      j->status[w] = st;
      snprintf(j->error[w], sizeof j->error[w], "%s", csm_last_error());
    } else {
      gather_outputs(j->m, w, b0, rows, j->outputs);
    }
  }
}

/* The batch is cut into slices; `workers` threads each run whole slices on a
 * plan of their own with single-threaded ops. For small graphs at batch >=
 * threads this scales far better than parallelism inside each op (no barrier
 * per op), and since every op computes an item the same way whatever the
 * batch, the bits do not change. Otherwise one slice runs with parallel ops. */
csm_status csm_model_run(csm_model *m, const csm_tensor *inputs, csm_tensor *outputs) {
  int n_out = m->g.n_outputs;
  csm_status st = CSM_OK;
  if (m->g.n_inputs > CSM_MODEL_MAX_INPUTS)
    return csm_fail(CSM_EUNSUPPORTED, "%s: more than %d inputs", m->g.path, CSM_MODEL_MAX_INPUTS);
  int64_t batch = inputs[0].shape.rank > 0 ? inputs[0].shape.d[0] : 1;
  for (int i = 0; i < m->g.n_inputs; i++) {
    char a[128], b[128];
    csm_shape want = csm_model_input_shape(m, i);
    if (inputs[i].shape.rank != want.rank ||
        inputs[i].dtype != m->g.nodes[m->g.inputs[i]].value.dtype)
      return csm_fail(CSM_EINPUT, "%s: input '%s' expects shape %s, got %s", m->g.path,
                      csm_model_input_name(m, i), csm_shape_str(&want, a, sizeof a),
                      csm_shape_str(&inputs[i].shape, b, sizeof b));
    if (want.rank == 0 || inputs[i].shape.d[0] != batch || batch < 1)
      return csm_fail(CSM_EINPUT, "%s: inputs disagree on the batch size", m->g.path);
  }
  int threads = csm_threads();
  int64_t slice = batch;
  if (csm_model_fixed_batch_one(m))
    slice = 1;
  else if (threads > 1 && batch >= threads)
    slice = (batch + threads - 1) / threads;
  int64_t n_slices = (batch + slice - 1) / slice;
  int workers = n_slices < threads ? (int)n_slices : threads;
  if (workers > CSM_MODEL_MAX_WORKERS) workers = CSM_MODEL_MAX_WORKERS;

  /* Plans first (serially: they allocate), which also gives output shapes. */
  csm_tensor views[CSM_MODEL_MAX_INPUTS];
  for (int w = 0; w < workers; w++) {
    int64_t b0 = w * slice, rows = batch - b0 < slice ? batch - b0 : slice;
    slice_inputs(m, inputs, batch, b0, rows, views);
    if ((st = ensure_plan(m, w, views))) return st;
  }
  memset(outputs, 0, (size_t)n_out * sizeof *outputs);
  for (int o = 0; o < n_out; o++) {
    const csm_tensor *v = csm_plan_value(m->plans[0], m->g.outputs[o]);
    csm_shape s = v->shape;
    if (n_slices > 1) {
      if (s.rank == 0 || s.d[0] != slice) {
        st = csm_fail(CSM_EUNSUPPORTED, "%s: output '%s' has no batch axis", m->g.path,
                      csm_model_output_name(m, o));
        goto fail;
      }
      s.d[0] = batch;
    }
    if ((st = csm_tensor_alloc(&outputs[o], v->dtype, &s))) goto fail;
  }

  /* Worker w runs slices w, w + workers, ... on plan slot w. A single
   * worker runs here, outside any parallel region, so ops keep their own
   * threads. */
  csm_status worker_status[CSM_MODEL_MAX_WORKERS] = {CSM_OK};
  char worker_error[CSM_MODEL_MAX_WORKERS][256];
  batch_job job = {m,        inputs,  outputs,       batch,       slice,
                   n_slices, workers, worker_status, worker_error};
  if (workers == 1) {
    run_worker(&job, 0);
  } else {
#pragma omp parallel num_threads(workers)
    {
#ifdef _OPENMP
      /* The team can be smaller than asked (dynamic threads on a busy
       * machine): each thread then runs several workers' slices. */
      for (int w = omp_get_thread_num(); w < workers; w += omp_get_num_threads())
        run_worker(&job, w);
#endif
    }
  }
  for (int w = 0; w < workers; w++)
    if (worker_status[w]) {
      st = csm_fail(worker_status[w], "%s", worker_error[w]);
      goto fail;
    }
  return CSM_OK;
fail:
  for (int o = 0; o < n_out; o++)
    csm_tensor_free(&outputs[o]);
  return st;
}
