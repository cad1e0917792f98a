/* csm infer as a library call: one model on a .npy tensor or on images,
 * its outputs and, if asked, the gradient of one output value with respect
 * to the input. Files are written only after the whole run succeeded, so a
 * failure leaves no partial output. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "csm/csm.h"

struct csm_infer_report {
  const char *model;
  csm_model *m;
  csm_tensor *outs;
  int n_out;
};

void csm_infer_options_init(csm_infer_options *o) {
  memset(o, 0, sizeof *o);
  o->range[1] = 1;
  o->std[0] = o->std[1] = o->std[2] = 1;
}

/* Images -> one NHWC batch at the model's input size. */
static csm_status images_to_batch(const csm_infer_options *a, csm_shape in_shape, csm_tensor *t) {
  if (in_shape.rank != 4 || in_shape.d[1] <= 0 || in_shape.d[2] <= 0 ||
      (in_shape.d[3] != 1 && in_shape.d[3] != 3))
    return csm_fail(CSM_EUNSUPPORTED, "model input is not an NHWC image (use --npy)");
  const double *c = a->crop;
  if (a->has_crop && !(isfinite(c[0]) && isfinite(c[1]) && isfinite(c[2]) && isfinite(c[3]) &&
                       c[2] > 0 && c[3] > 0))
    return csm_fail(CSM_EUSAGE, "--crop %g,%g,%g,%g: X,Y,W,H must be finite with W, H > 0", c[0],
                    c[1], c[2], c[3]);
  in_shape.d[0] = a->n_images;
  /* The model file declares the input size: checked like every allocation
   * that a file's contents drive (a [1, 9000, 9000, 3] input is 972 MB). */
  double bytes = 4.0 * (double)a->n_images * (double)in_shape.d[1] * (double)in_shape.d[2] *
                 (double)in_shape.d[3];
  csm_status st = bytes < 1.8e19 ? csm_memory_check((size_t)bytes, "the model's input batch")
                                 : csm_fail(CSM_EINPUT, "the model's input batch is too large");
  if (st) return csm_fail_context(st, "%s: ", a->model);
  st = csm_tensor_alloc(t, CSM_F32, &in_shape);
  if (st) return st;
  size_t per = (size_t)(in_shape.d[1] * in_shape.d[2] * in_shape.d[3]);
  for (int i = 0; i < a->n_images; i++) {
    csm_image img;
    if ((st = csm_image_load(a->images[i], &img))) break;
    /* A box reaching past the border reads black there (padding); one
     * that misses the image entirely would be all black: refused. */
    if (a->has_crop && (c[0] >= img.w || c[1] >= img.h || c[0] + c[2] <= 0 || c[1] + c[3] <= 0)) {
      st = csm_fail(CSM_EINPUT, "%s: --crop %g,%g,%g,%g lies outside the %dx%d image", a->images[i],
                    c[0], c[1], c[2], c[3], img.w, img.h);
      csm_image_free(&img);
      break;
    }
    double full[4] = {0, 0, img.w, img.h};
    float *x = (float *)t->data + (size_t)i * per;
    int ch = (int)in_shape.d[3];
    st = csm_image_sample(&img, a->has_crop ? a->crop : full, (int)in_shape.d[2],
                          (int)in_shape.d[1], ch, (float)a->range[0], (float)a->range[1], x);
    csm_image_free(&img);
    if (st) break;
    /* As a custom task normalizes (src/task/preprocess.c). */
    if (a->n_mean || a->n_std)
      for (size_t k = 0; k < per; k++)
        x[k] = (x[k] - (a->n_mean ? a->mean[k % ch] : 0)) / (a->n_std ? a->std[k % ch] : 1);
  }
  if (st) csm_tensor_free(t);
  return st;
}
/* d(value a->grad_value of output a->grad_output, per batch item)/d(input),
 * into grad (same shape as input). One tape for the whole batch, or one per
 * item for models whose graph fixes the batch at 1. */
static csm_status input_gradient(csm_model *m, const csm_infer_options *a, const csm_tensor *input,
                                 csm_tensor *grad) {
  int n_out = csm_model_num_outputs(m);
  if (a->grad_output >= n_out)
    return csm_fail(CSM_EINPUT, "--grad %ld:%ld: the model has %d output(s)", a->grad_output,
                    a->grad_value, n_out);
  if (input->dtype != CSM_F32 || input->shape.rank < 1 || input->shape.d[0] < 1)
    return csm_fail(CSM_EINPUT, "--grad needs a float32 input with a batch dimension");
  int from = csm_model_output_node(m, (int)a->grad_output);
  int wrt = csm_model_input_node(m, 0);
  if (from < 0 || wrt < 0) return csm_fail(CSM_EINTERNAL, "--grad: no node for output or input");
  int64_t batch = input->shape.d[0];
  int64_t steps = csm_model_fixed_batch_one(m) ? batch : 1; /* tapes */
  int64_t per_step = batch / steps;                         /* items per tape */
  csm_status st = csm_tensor_alloc(grad, CSM_F32, &input->shape);
  if (st) return st;
  size_t in_numel = csm_tensor_numel(input), in_step = in_numel / (size_t)steps;
  for (int64_t s = 0; s < steps && !st; s++) {
    csm_shape sh = input->shape;
    sh.d[0] = per_step;
    csm_tensor x = {CSM_F32, sh, (float *)input->data + (size_t)s * in_step, 0};
    csm_tape *tape = NULL;
    csm_tensor seed = {0}, g = {0};
    if ((st = csm_tape_forward(m, &x, &tape))) break;
    const csm_tensor *y = csm_tape_value(tape, from);
    if (!y || y->dtype != CSM_F32) {
      st = csm_fail(CSM_EUNSUPPORTED, "--grad: output %ld (%s) is not a float tensor",
                    a->grad_output, csm_model_output_name(m, (int)a->grad_output));
    } else if (y->shape.rank < 1 || y->shape.d[0] != per_step) {
      st = csm_fail(CSM_EUNSUPPORTED, "--grad: output %ld (%s) has no batch dimension",
                    a->grad_output, csm_model_output_name(m, (int)a->grad_output));
    } else {
      size_t per = csm_tensor_numel(y) / (size_t)per_step;
      if ((size_t)a->grad_value >= per) {
        st = csm_fail(CSM_EINPUT, "--grad %ld:%ld: output %ld (%s) has %zu value(s) per batch item",
                      a->grad_output, a->grad_value, a->grad_output,
                      csm_model_output_name(m, (int)a->grad_output), per);
      } else if (!(st = csm_tensor_alloc(&seed, CSM_F32, &y->shape))) {
        for (int64_t b = 0; b < per_step; b++)
          ((float *)seed.data)[(size_t)b * per + (size_t)a->grad_value] = 1.0f;
        if (!(st = csm_tape_backward(tape, from, &seed, 1, &wrt, &g))) {
          if (csm_tensor_numel(&g) != in_step || g.dtype != CSM_F32)
            st = csm_fail(CSM_EINTERNAL, "--grad: gradient has the wrong size");
          else
            memcpy((float *)grad->data + (size_t)s * in_step, g.data, in_step * sizeof(float));
        }
      }
    }
    csm_tensor_free(&g);
    csm_tensor_free(&seed);
    csm_tape_free(tape);
  }
  if (st) csm_tensor_free(grad);
  return st;
}

csm_status csm_infer_run(const csm_infer_options *a, csm_infer_report **report) {
  *report = NULL;
  csm_infer_report *r = calloc(1, sizeof *r);
  if (!r) return csm_fail(CSM_ENOMEM, "out of memory");
  r->model = a->model;
  char path[PATH_MAX];
  csm_tensor input = {0}, grad = {0};
  csm_status st = csm_model_load(csm_model_file(a->model, path, sizeof path), &r->m);
  if (st) goto done;
  if (csm_model_num_inputs(r->m) != 1) {
    st = csm_fail(CSM_EUNSUPPORTED, "%s: models with %d inputs are not supported here", path,
                  csm_model_num_inputs(r->m));
    goto done;
  }
  /* Images are NHWC: a channels-first (ONNX) input takes them exactly. */
  if ((!a->npy || a->nhwc) && csm_model_input_channels_first(r->m, 0) &&
      (st = csm_model_use_channels_last(r->m))) {
    st = csm_fail_context(st, "%s: ", path);
    goto done;
  }
  st = a->npy ? csm_npy_read_float(a->npy, &input)
              : images_to_batch(a, csm_model_input_shape(r->m, 0), &input);
  if (st) goto done;
  int n_out = csm_model_num_outputs(r->m);
  r->outs = calloc((size_t)n_out + 1, sizeof(csm_tensor));
  if (!r->outs) {
    st = csm_fail(CSM_ENOMEM, "out of memory");
    goto done;
  }
  r->n_out = n_out;
  if ((st = csm_model_run(r->m, &input, r->outs))) {
    if (a->npy) st = csm_fail_context(st, "%s: ", a->npy);
    goto done;
  }
  if (a->grad && (st = input_gradient(r->m, a, &input, &grad))) goto done;
  if (a->save_input && (st = csm_npy_write(a->save_input, &input))) goto done;
  for (int o = 0; a->out && o < n_out; o++) {
    char file[PATH_MAX];
    snprintf(file, sizeof file, "%s_%d.npy", a->out, o);
    if ((st = csm_npy_write(file, &r->outs[o]))) goto done;
  }
  if (a->grad) {
    char file[PATH_MAX];
    snprintf(file, sizeof file, "%s_grad.npy", a->out);
    st = csm_npy_write(file, &grad);
  }
done:
  csm_tensor_free(&input);
  csm_tensor_free(&grad);
  if (st)
    csm_infer_report_free(r);
  else
    *report = r;
  return st;
}

static void json_shape(FILE *fp, const csm_shape *s) {
  fputc('[', fp);
  for (int i = 0; i < s->rank; i++)
    fprintf(fp, i ? ", %lld" : "%lld", (long long)s->d[i]);
  fputc(']', fp);
}

static void print_output(FILE *fp, const char *name, const csm_tensor *t, int json, int first) {
  size_t n = csm_tensor_numel(t);
  if (json) {
    fprintf(fp, "%s\n    {\"name\": ", first ? "" : ",");
    csm_json_string(fp, name);
    fprintf(fp, ", \"shape\": ");
    json_shape(fp, &t->shape);
    fprintf(fp, ", \"data\": [");
    for (size_t i = 0; i < n; i++) {
      if (i) fputs(", ", fp);
      if (t->dtype == CSM_F32)
        csm_json_float(fp, ((const float *)t->data)[i]);
      else
        fprintf(fp, "%d", ((const int32_t *)t->data)[i]);
    }
    fprintf(fp, "]}");
    return;
  }
  char buf[128];
  fprintf(fp, "%s %s:", name, csm_shape_str(&t->shape, buf, sizeof buf));
  for (size_t i = 0; i < n && i < 8; i++)
    fprintf(fp, " %.6g",
            t->dtype == CSM_F32 ? ((const float *)t->data)[i] : ((const int32_t *)t->data)[i]);
  fprintf(fp, "%s\n", n > 8 ? " ..." : "");
}

static csm_status render(const csm_infer_report *r, int json, char **text) {
  size_t len = 0;
  FILE *fp = open_memstream(text, &len);
  if (!fp) return csm_fail(CSM_ENOMEM, "out of memory");
  if (json) {
    fprintf(fp, "{\"model\": ");
    csm_json_string(fp, r->model);
    fprintf(fp, ", \"outputs\": [");
  }
  for (int o = 0; o < r->n_out; o++)
    print_output(fp, csm_model_output_name(r->m, o), &r->outs[o], json, o == 0);
  if (json) fprintf(fp, "\n  ]\n}\n");
  return fclose(fp) ? csm_fail(CSM_ENOMEM, "out of memory") : CSM_OK;
}

csm_status csm_infer_report_json(const csm_infer_report *r, char **text) {
  return render(r, 1, text);
}

csm_status csm_infer_report_text(const csm_infer_report *r, char **text) {
  return render(r, 0, text);
}

void csm_infer_report_free(csm_infer_report *r) {
  if (!r) return;
  for (int o = 0; o < r->n_out; o++)
    csm_tensor_free(&r->outs[o]);
  free(r->outs);
  csm_model_free(r->m);
  free(r);
}
