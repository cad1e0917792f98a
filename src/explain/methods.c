/* The generic saliency methods (include/csm/explain.h, "Generic saliency
 * methods"): names, options, argument checks, the dispatch, and the pieces
 * the methods share (src/explain/methods.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "explain/methods.h"

static const char *const method_names[CSM_METHOD_COUNT] = {"gradcam",   "gradcam++", "scorecam",
                                                           "occlusion", "gradient",  "smoothgrad"};

const char *csm_method_name(csm_method m) {
  return (int)m >= 0 && m < CSM_METHOD_COUNT ? method_names[m] : "unknown";
}

int csm_method_parse(const char *name) {
  if (!name) return -1;
  for (int m = 0; m < CSM_METHOD_COUNT; m++)
    if (strcmp(name, method_names[m]) == 0) return m;
  return -1;
}

int csm_method_needs_gradients(csm_method m) {
  return m == CSM_METHOD_GRADCAM || m == CSM_METHOD_GRADCAM_PP || m == CSM_METHOD_GRADIENT ||
         m == CSM_METHOD_SMOOTHGRAD;
}

csm_method_options csm_method_options_default(void) {
  csm_method_options o;
  memset(&o, 0, sizeof o);
  o.layer = -1;
  o.window = 0;
  o.stride = 0;
  o.smooth_samples = 25;
  o.smooth_sigma = 0.15f;
  o.seed = 1;
  o.max_batch = 8; /* a tape keeps every value: 8 rows of FaceRes hold ~0.9 GB */
  return o;
}

const char *csm_method_model_name(const csm_model *m) {
  const char *p = m ? csm_model_path(m) : NULL;
  return p ? p : "the model";
}

csm_status csm_method_check_model(const csm_scorer *s) {
  const csm_model *m = s->model;
  if (csm_model_num_inputs(m) != 1)
    return csm_fail(CSM_EUNSUPPORTED, "%s: the scorer's model has %d inputs; the methods need one",
                    csm_method_model_name(m), csm_model_num_inputs(m));
  csm_shape in = csm_model_input_shape(m, 0);
  int64_t want[4] = {-1, s->size, s->size, s->channels};
  int ok = in.rank == 4;
  for (int k = 1; ok && k < 4; k++)
    ok = in.d[k] == want[k] || in.d[k] < 0;
  if (!ok) {
    char buf[128];
    return csm_fail(CSM_EINPUT, "%s: the model's input is %s, the scorer's inputs are %dx%dx%d",
                    csm_method_model_name(m), csm_shape_str(&in, buf, sizeof buf), s->size, s->size,
                    s->channels);
  }
  return CSM_OK;
}

void csm_method_upsample(const float *map, int h, int w, int size, float *out) {
  if (h == size && w == size) {
    memcpy(out, map, (size_t)size * size * sizeof(float));
    return;
  }
  for (int i = 0; i < size; i++) {
    double y = (i + 0.5) * h / size - 0.5;
    if (y < 0) y = 0;
    if (y > h - 1) y = h - 1;
    int y0 = (int)floor(y), y1 = y0 + 1 < h ? y0 + 1 : h - 1;
    double fy = y - y0;
    for (int j = 0; j < size; j++) {
      double x = (j + 0.5) * w / size - 0.5;
      if (x < 0) x = 0;
      if (x > w - 1) x = w - 1;
      int x0 = (int)floor(x), x1 = x0 + 1 < w ? x0 + 1 : w - 1;
      double fx = x - x0;
      double top = map[(size_t)y0 * w + x0] * (1 - fx) + map[(size_t)y0 * w + x1] * fx;
      double bot = map[(size_t)y1 * w + x0] * (1 - fx) + map[(size_t)y1 * w + x1] * fx;
      out[(size_t)i * size + j] = (float)(top * (1 - fy) + bot * fy);
    }
  }
}

csm_status csm_method_cam_map(const float *A, int h, int w, int c, const double *weights, int size,
                              float *out) {
  float *cam = csm_malloc_array((size_t)h * w, sizeof(float));
  if (!cam) return CSM_ENOMEM;
  for (size_t p = 0; p < (size_t)h * w; p++) {
    double sum = 0;
    for (int k = 0; k < c; k++)
      sum += weights[k] * A[p * c + k];
    cam[p] = sum > 0 ? (float)sum : 0.0f;
  }
  csm_method_upsample(cam, h, w, size, out);
  free(cam);
  return CSM_OK;
}

csm_status csm_method_check_layer(const csm_scorer *s, int node, const csm_shape *shape) {
  if (shape->rank != 4 || shape->d[1] < 1 || shape->d[2] < 1 || shape->d[3] < 1) {
    char buf[128];
    return csm_fail(CSM_EUSAGE, "%s: layer '%s' is %s, not a [batch, H, W, C] feature map",
                    csm_method_model_name(s->model), csm_model_node_name(s->model, node),
                    csm_shape_str(shape, buf, sizeof buf));
  }
  return CSM_OK;
}

/* Per-row numel of a value of `rows` rows; 0 if it does not split. */
static size_t per_row(const csm_tensor *t, int rows) {
  size_t n = csm_tensor_numel(t);
  if (t->shape.rank < 1 || t->shape.d[0] != rows || n % (size_t)rows) return 0;
  return n / (size_t)rows;
}

csm_status csm_method_white_box(const csm_scorer *s, const float *inputs, int n, int wrt,
                                float *conf, float **value, float **grad, csm_shape *shape) {
  csm_model *m = s->model;
  int V = s->views, rows = n * V;
  int fixed = csm_model_fixed_batch_one(m);
  int n_tapes = fixed ? rows : 1, tape_rows = fixed ? 1 : rows;
  size_t numel = (size_t)s->size * s->size * s->channels;
  csm_status st = CSM_OK;
  if (value) *value = NULL;
  if (grad) *grad = NULL;
  csm_tape **tapes = csm_calloc((size_t)n_tapes, sizeof *tapes);
  float *raw = csm_malloc_array((size_t)rows, s->raw_numel * sizeof(float));
  float *draw = csm_malloc_array((size_t)rows, s->raw_numel * sizeof(float));
  float *val = NULL, *g = NULL;
  size_t wrt_row = 0;
  if (!tapes || !raw || !draw) {
    st = CSM_ENOMEM;
    goto done;
  }
  for (int t = 0; t < n_tapes; t++) {
    int64_t dims[4] = {tape_rows, s->size, s->size, s->channels};
    csm_tensor in = {CSM_F32, csm_shape_make(4, dims),
                     (void *)(inputs + (size_t)t * tape_rows * numel), 0};
    if ((st = csm_tape_forward(m, &in, &tapes[t]))) goto done;
    const csm_tensor *r = csm_tape_value(tapes[t], s->node);
    if (!r || r->dtype != CSM_F32 || per_row(r, tape_rows) != s->raw_numel) {
      st = csm_fail(CSM_EINPUT, "%s: node '%s' does not give %zu values per input",
                    csm_method_model_name(m), csm_model_node_name(m, s->node), s->raw_numel);
      goto done;
    }
    memcpy(raw + (size_t)t * tape_rows * s->raw_numel, r->data,
           (size_t)tape_rows * s->raw_numel * sizeof(float));
  }
  if ((st = s->conf_grad(s->ctx, raw, n, conf, draw))) goto done;
  for (int i = 0; i < n; i++)
    if (!isfinite(conf[i])) {
      st = csm_fail(CSM_EINPUT, "the confidence is not finite");
      goto done;
    }
  if (wrt < 0) goto done;
  for (int t = 0; t < n_tapes; t++) {
    const csm_tensor *v = csm_tape_value(tapes[t], wrt);
    size_t pr = v && v->dtype == CSM_F32 ? per_row(v, tape_rows) : 0;
    if (!pr || (t > 0 && pr != wrt_row)) {
      st = csm_fail(CSM_EUSAGE, "%s: node '%s' is not a per-input value computed at run time",
                    csm_method_model_name(m), csm_model_node_name(m, wrt));
      goto done;
    }
    if (t == 0) {
      wrt_row = pr;
      if (shape) {
        *shape = v->shape;
        shape->d[0] = rows;
      }
      if ((value && !(val = csm_malloc_array((size_t)rows, pr * sizeof(float)))) ||
          (grad && !(g = csm_malloc_array((size_t)rows, pr * sizeof(float))))) {
        st = CSM_ENOMEM;
        goto done;
      }
    }
    size_t off = (size_t)t * tape_rows * pr;
    if (val) memcpy(val + off, v->data, (size_t)tape_rows * pr * sizeof(float));
    if (!g) continue;
    const csm_tensor *r = csm_tape_value(tapes[t], s->node);
    csm_tensor seed = csm_tensor_view(r, &r->shape);
    seed.data = draw + (size_t)t * tape_rows * s->raw_numel;
    csm_tensor out;
    memset(&out, 0, sizeof out);
    if ((st = csm_tape_backward(tapes[t], s->node, &seed, 1, &wrt, &out))) goto done;
    if (out.dtype != CSM_F32 || csm_tensor_numel(&out) != (size_t)tape_rows * pr) {
      csm_tensor_free(&out);
      st = csm_fail(CSM_EINTERNAL, "the gradient of node '%s' has the wrong size",
                    csm_model_node_name(m, wrt));
      goto done;
    }
    memcpy(g + off, out.data, (size_t)tape_rows * pr * sizeof(float));
    csm_tensor_free(&out);
  }
done:
  for (int t = 0; tapes && t < n_tapes; t++)
    csm_tape_free(tapes[t]);
  free(tapes);
  free(raw);
  free(draw);
  if (st) {
    free(val);
    free(g);
  } else {
    if (value) *value = val;
    if (grad) *grad = g;
  }
  return st;
}

/* A tape is the plain forward run that keeps every value: the same plan
 * (keep_all) and the same arithmetic as any other run, and the model parks
 * its plan for the next call of the same shapes (autodiff.c). */
csm_status csm_method_activations(const csm_scorer *s, const float *inputs, int rows, int node,
                                  float **value, csm_shape *shape) {
  csm_model *m = s->model;
  *value = NULL;
  if (node < 0 || node >= csm_model_node_count(m))
    return csm_fail(CSM_EUSAGE, "%s: layer node %d out of range", csm_method_model_name(m), node);
  int fixed = csm_model_fixed_batch_one(m);
  int n_runs = fixed ? rows : 1, run_rows = fixed ? 1 : rows;
  size_t numel = (size_t)s->size * s->size * s->channels;
  int64_t dims[4] = {run_rows, s->size, s->size, s->channels};
  csm_shape in_shape = csm_shape_make(4, dims);
  float *val = NULL;
  size_t pr = 0;
  csm_status st = CSM_OK;
  for (int r = 0; !st && r < n_runs; r++) {
    csm_tensor in = {CSM_F32, in_shape, (void *)(inputs + (size_t)r * run_rows * numel), 0};
    csm_tape *t = NULL;
    if ((st = csm_tape_forward(m, &in, &t))) break;
    const csm_tensor *v = csm_tape_value(t, node);
    if (r == 0) {
      pr = v && v->dtype == CSM_F32 ? per_row(v, run_rows) : 0;
      if (!csm_tape_computed(t, node))
        st = csm_fail(CSM_EUSAGE,
                      "%s: layer '%s' is not computed at run time (a constant, folded, or not "
                      "needed by any output)",
                      csm_method_model_name(m), csm_model_node_name(m, node));
      else if (!pr)
        st = csm_fail(CSM_EUSAGE, "%s: layer '%s' is not a per-input float value",
                      csm_method_model_name(m), csm_model_node_name(m, node));
      else if (!(val = csm_malloc_array((size_t)rows, pr * sizeof(float))))
        st = CSM_ENOMEM;
      else {
        *shape = v->shape;
        shape->d[0] = rows;
      }
    }
    if (!st)
      memcpy(val + (size_t)r * run_rows * pr, v->data, (size_t)run_rows * pr * sizeof(float));
    csm_tape_free(t);
  }
  if (st)
    free(val);
  else
    *value = val;
  return st;
}

csm_status csm_method_run(const csm_scorer *s, csm_method method, const float *inputs,
                          const csm_method_options *opt_in, float *out) {
  if (!s || !inputs || !out || (int)method < 0 || method >= CSM_METHOD_COUNT)
    return csm_fail(CSM_EUSAGE, "csm_method_run: bad arguments");
  if (s->views < 1 || s->views > 64 || s->size < 1 || s->channels < 1 || s->channels > 3)
    return csm_fail(CSM_EUSAGE, "csm_method_run: bad scorer (%d views of %dx%dx%d)", s->views,
                    s->size, s->size, s->channels);
  csm_method_options opt = opt_in ? *opt_in : csm_method_options_default();
  if (opt.max_batch < 1)
    return csm_fail(CSM_EUSAGE, "max_batch must be at least 1 (got %d)", opt.max_batch);
  const char *name = csm_method_name(method);
  if (csm_method_needs_gradients(method)) {
    if (!s->model || !s->conf_grad)
      return csm_fail(CSM_EUSAGE,
                      "%s needs gradients, but the scorer (%s) is a black box: it has no model or "
                      "no conf_grad",
                      name, s->what[0] ? s->what : "no description");
    if (s->node < 0 || s->node >= csm_model_node_count(s->model) || s->raw_numel < 1)
      return csm_fail(CSM_EUSAGE, "%s: the scorer's node %d (%zu values) is not a model value",
                      name, s->node, s->raw_numel);
  } else if (method == CSM_METHOD_SCORECAM && !s->model) {
    return csm_fail(CSM_EUSAGE,
                    "scorecam reads layer activations, but the scorer (%s) is a black box: it "
                    "has no model",
                    s->what[0] ? s->what : "no description");
  }
  if (!csm_method_needs_gradients(method) && !s->score)
    return csm_fail(CSM_EUSAGE, "%s: the scorer has no score function", name);
  if (method == CSM_METHOD_SMOOTHGRAD &&
      (opt.smooth_samples < 1 || !(opt.smooth_sigma >= 0) || !isfinite(opt.smooth_sigma)))
    return csm_fail(CSM_EUSAGE, "smoothgrad needs samples >= 1 and sigma >= 0 (got %d, %g)",
                    opt.smooth_samples, (double)opt.smooth_sigma);
  if (s->model) {
    csm_status st = csm_method_check_model(s);
    if (st) return st;
  }
  switch (method) {
  case CSM_METHOD_GRADCAM: return csm_gradcam_run(s, inputs, &opt, 0, out);
  case CSM_METHOD_GRADCAM_PP: return csm_gradcam_run(s, inputs, &opt, 1, out);
  case CSM_METHOD_SCORECAM: return csm_scorecam_run(s, inputs, &opt, out);
  case CSM_METHOD_OCCLUSION: return csm_window_occlusion_run(s, inputs, &opt, out);
  case CSM_METHOD_GRADIENT: return csm_gradient_run(s, inputs, &opt, 0, out);
  case CSM_METHOD_SMOOTHGRAD: return csm_gradient_run(s, inputs, &opt, 1, out);
  default: return csm_fail(CSM_EUSAGE, "csm_method_run: unknown method %d", (int)method);
  }
}
