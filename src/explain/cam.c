/* Grad-CAM (Selvaraju et al. 2017) and Grad-CAM++ (Chattopadhyay et al.
 * 2018) on a white-box scorer, and the default CAM layer. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "explain/methods.h"

/* A node is convolutional when its op is a convolution (CSM_OP_CONV), or
 * element-wise (CSM_OP_ELEMENTWISE: activations, batch-norm arithmetic,
 * residual sums, through which a feature map stays a feature map) with at
 * least one run-time operand that is convolutional (the others may be
 * constants, or anything for a residual Add). Both questions are answered
 * by nn's op table (csm_model_node_flags), so an op nn calls element-wise
 * is element-wise here too. The default layer is the last such node, in
 * the graph's topological order, whose value at batch 1 is [1, H, W, C]
 * with H > 1 and W > 1. */
csm_status csm_cam_default_layer(csm_model *m, int *node) {
  if (!m || !node) return csm_fail(CSM_EUSAGE, "csm_cam_default_layer: bad arguments");
  *node = -1;
  const int n_nodes = csm_model_node_count(m);
  if (csm_model_num_inputs(m) < 1)
    return csm_fail(CSM_EUNSUPPORTED, "%s: %d inputs", csm_method_model_name(m),
                    csm_model_num_inputs(m));
  csm_node_value *values = csm_malloc_array((size_t)n_nodes + 1, sizeof *values);
  unsigned char *conv = csm_calloc((size_t)n_nodes + 1, 1);
  int *in = NULL, max_in = 0;
  for (int i = 0; i < n_nodes; i++) {
    int c = csm_model_node_inputs(m, i, NULL, 0);
    if (c > max_in) max_in = c;
  }
  in = csm_malloc_array((size_t)max_in + 1, sizeof *in);
  csm_status st = values && conv && in ? CSM_OK : CSM_ENOMEM;
  if (!st) st = csm_model_infer_values(m, 1, values);
  for (int i = 0; !st && i < n_nodes; i++) {
    if (!values[i].runtime) continue;
    const unsigned flags = csm_model_node_flags(m, i);
    if (flags & CSM_OP_CONV)
      conv[i] = 1;
    else if (flags & CSM_OP_ELEMENTWISE) {
      const int n_in = csm_model_node_inputs(m, i, in, max_in);
      for (int k = 0; k < n_in; k++)
        if (in[k] >= 0 && in[k] < i && conv[in[k]]) conv[i] = 1;
    }
    if (!conv[i]) continue;
    const csm_node_value *v = &values[i];
    if (v->dtype == CSM_F32 && v->shape.rank == 4 && v->shape.d[1] > 1 && v->shape.d[2] > 1)
      *node = i;
  }
  free(in);
  free(conv);
  free(values);
  if (st) return st;
  if (*node < 0)
    return csm_fail(CSM_EUNSUPPORTED,
                    "%s: no convolutional feature map with a spatial size above 1x1 for a CAM "
                    "layer (choose a layer node)",
                    csm_method_model_name(m));
  return CSM_OK;
}

/* Channel weights of one view from its activations A and gradients G
 * (h x w x c each). Grad-CAM: w_k = mean_ij G_ijk. Grad-CAM++: with
 * g = G_ijk and S_k = sum_ab A_abk, a_ijk = g^2 / (2 g^2 + S_k g^3), where a
 * zero denominator is replaced by 1 as in the authors' code (so a = 0 where
 * g = 0), and w_k = sum_ij a_ijk ReLU(g). */
static void channel_weights(const float *A, const float *G, int h, int w, int c, int plus_plus,
                            double *wk) {
  size_t hw = (size_t)h * w;
  for (int k = 0; k < c; k++) {
    double sum_a = 0, sum_g = 0;
    for (size_t p = 0; p < hw; p++) {
      sum_a += A[p * c + k];
      sum_g += G[p * c + k];
    }
    if (!plus_plus) {
      wk[k] = sum_g / (double)hw;
      continue;
    }
    double acc = 0;
    for (size_t p = 0; p < hw; p++) {
      double g = G[p * c + k], g2 = g * g, g3 = g2 * g;
      double den = 2 * g2 + sum_a * g3;
      if (den == 0) den = 1;
      if (g > 0) acc += g2 / den * g;
    }
    wk[k] = acc;
  }
}

csm_status csm_gradcam_run(const csm_scorer *s, const float *inputs, const csm_method_options *opt,
                           int plus_plus, float *out) {
  int layer = opt->layer;
  csm_status st;
  if (layer < 0 && (st = csm_cam_default_layer(s->model, &layer))) return st;
  if (layer >= csm_model_node_count(s->model))
    return csm_fail(CSM_EUSAGE, "%s: layer node %d out of range", csm_method_model_name(s->model),
                    layer);
  float conf, *A = NULL, *G = NULL;
  csm_shape sh;
  if ((st = csm_method_white_box(s, inputs, 1, layer, &conf, &A, &G, &sh))) return st;
  if ((st = csm_method_check_layer(s, layer, &sh))) goto done;
  int h = (int)sh.d[1], w = (int)sh.d[2], c = (int)sh.d[3];
  size_t per = (size_t)h * w * c, npx = (size_t)s->size * s->size;
  double *wk = csm_malloc_array((size_t)c, sizeof(double));
  if (!wk) {
    st = CSM_ENOMEM;
    goto done;
  }
  for (int v = 0; !st && v < s->views; v++) {
    channel_weights(A + per * v, G + per * v, h, w, c, plus_plus, wk);
    st = csm_method_cam_map(A + per * v, h, w, c, wk, s->size, out + npx * v);
  }
  free(wk);
  if (!st && opt->progress) opt->progress(opt->progress_ctx, 1, 1);
done:
  free(A);
  free(G);
  return st;
}
