/* Shared pieces of the generic saliency methods (src/explain/methods.c):
 * argument checks, white-box passes through the scorer's model, layer
 * activations, CAM maps and bilinear upsampling. Private to src/explain. */
#ifndef CSM_EXPLAIN_METHODS_H
#define CSM_EXPLAIN_METHODS_H

#include "csm/explain.h"

/* The model's name for messages (its path, or "the model"). */
const char *csm_method_model_name(const csm_model *m);

/* Checks that s->model takes one [batch, size, size, channels] input. */
csm_status csm_method_check_model(const csm_scorer *s);

/* Bilinear upsampling of an h x w map (row-major) to size x size with
 * half-pixel centres (align_corners = false, as TF's half_pixel_centers and
 * PyTorch's default): output pixel i reads the source at
 * y = (i + 0.5) * h / size - 0.5, clamped to [0, h - 1] (the same for x),
 * and interpolates its two neighbours floor(y) and min(floor(y) + 1, h - 1).
 * h == size and w == size copy the map. */
void csm_method_upsample(const float *map, int h, int w, int size, float *out);

/* A CAM map of one view: ReLU(sum_k weights[k] A[i, j, k]) for the h x w x c
 * activations A (NHWC without the batch), upsampled to size x size into out.
 * Sums are in double. */
csm_status csm_method_cam_map(const float *A, int h, int w, int c, const double *weights, int size,
                              float *out);

/* One white-box pass: the n samples of inputs (n * s->views rows) go
 * through s->model (one tape, or one per row for fixed-batch-one models),
 * s->conf_grad gives conf[0..n-1] and its gradient at s->node, and the
 * backward pass gives d conf / d (value of node wrt) for every row. *value
 * (may be NULL) and *grad (may be NULL: no backward pass) get malloc'ed
 * rows x per-row floats of wrt's value and gradient; *shape (may be NULL)
 * gets wrt's value shape with the batch set to the number of rows. */
csm_status csm_method_white_box(const csm_scorer *s, const float *inputs, int n, int wrt,
                                float *conf, float **value, float **grad, csm_shape *shape);

/* The value of node `node` for `rows` inputs (a plain forward run that keeps
 * every value; batch 1 for fixed-batch-one models): *value malloc'ed,
 * rows x per-row floats; *shape its shape with the batch set to rows. */
csm_status csm_method_activations(const csm_scorer *s, const float *inputs, int rows, int node,
                                  float **value, csm_shape *shape);

/* Checks that shape is a feature map [rows, H, W, C]; names the node. */
csm_status csm_method_check_layer(const csm_scorer *s, int node, const csm_shape *shape);

/* The methods (cam.c, scorecam.c, gradient.c, window_occlusion.c); the
 * arguments are checked and opt complete. */
csm_status csm_gradcam_run(const csm_scorer *s, const float *inputs, const csm_method_options *opt,
                           int plus_plus, float *out);
csm_status csm_scorecam_run(const csm_scorer *s, const float *inputs, const csm_method_options *opt,
                            float *out);
csm_status csm_gradient_run(const csm_scorer *s, const float *inputs, const csm_method_options *opt,
                            int smooth, float *out);
csm_status csm_window_occlusion_run(const csm_scorer *s, const float *inputs,
                                    const csm_method_options *opt, float *out);

#endif
