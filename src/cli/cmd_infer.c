/* csm infer: run one model on a .npy tensor or on images. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *help =
    "usage: csm infer --model NAME|PATH (--npy FILE.npy | IMAGE...) [options]\n\n"
    "Runs a model. --npy takes a float32 array matching the model input, batch\n"
    "included, in the layout the model declares (NCHW for an ONNX model from\n"
    "PyTorch, NHWC for TF.js; --nhwc: NHWC for both). Each IMAGE (JPEG or PNG) is\n"
    "resized to the model input (bilinear; no face detection here) and the images\n"
    "form one NHWC batch (a channels-first model is switched to NHWC input).\n\n"
    "  --model M            installed model name, or a path to a TF.js model.json or\n"
    "                       an ONNX .onnx file\n"
    "  --npy FILE           input tensor (.npy, float32, the model's declared layout)\n"
    "  --nhwc               the --npy tensor is NHWC even if the model declares NCHW\n"
    "  --crop X,Y,W,H       crop this box of every image first (pixels)\n"
    "  --range LO,HI        pixel values 0..255 map to LO..HI (default 0,1)\n"
    "  --mean M[,M,M]       then subtract a per-channel mean (images; default 0)\n"
    "  --std S[,S,S]        then divide by a per-channel std (images; default 1)\n"
    "  --save-input FILE    also write the input tensor as .npy (as the model got\n"
    "                       it: NHWC for images)\n"
    "  --out PREFIX         write output k as PREFIX_k.npy\n"
    "  --grad K:J           also write PREFIX_grad.npy (needs --out): the gradient\n"
    "                       of value J of output K (0-based, flattened per batch\n"
    "                       item) with respect to the input, for every batch item;\n"
    "                       same shape as the input (reverse-mode autodiff)\n"
    "  --json               {\"model\", \"outputs\": [{\"name\", \"shape\", \"data\"}]} on stdout\n"
    "  --threads N          threads (default: all cores)\n";

typedef struct infer_args {
  const char *model, *npy, *out, *save_input;
  int json, has_crop, grad, nhwc, n_mean, n_std;
  float mean[3], std[3];
  long grad_output, grad_value;
  double crop[4], range[2];
  const char **images;
  int n_images;
} infer_args;

static int parse(int argc, char **argv, infer_args *a) {
  a->range[0] = 0, a->range[1] = 1;
  int common;
  for (int i = 1; i < argc; i++) {
    const char *o = argv[i];
    int has_val = i + 1 < argc;
    if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
      fputs(help, stdout);
      return -1; /* done: help printed */
    } else if (!strcmp(o, "--json")) {
      a->json = 1;
    } else if (!strcmp(o, "--nhwc")) {
      a->nhwc = 1;
    } else if ((!strcmp(o, "--mean") || !strcmp(o, "--std")) && has_val) {
      int is_std = o[2] == 's';
      float *v = is_std ? a->std : a->mean;
      double d[3];
      int n = !csm_cli_parse_doubles(argv[i + 1], d, 1)   ? 1
              : !csm_cli_parse_doubles(argv[i + 1], d, 3) ? 3
                                                          : 0;
      for (int k = 0; k < 3; k++)
        v[k] = (float)d[n == 1 ? 0 : k];
      if (!n || (is_std && !(v[0] > 0 && v[1] > 0 && v[2] > 0)))
        return csm_cli_usage_error("infer", "%s takes one %snumber or three", o,
                                   is_std ? "positive " : "");
      *(is_std ? &a->n_std : &a->n_mean) = n;
      i++;
    } else if (!strcmp(o, "--model") && has_val) {
      a->model = argv[++i];
    } else if (!strcmp(o, "--npy") && has_val) {
      a->npy = argv[++i];
    } else if (!strcmp(o, "--out") && has_val) {
      a->out = argv[++i];
    } else if (!strcmp(o, "--save-input") && has_val) {
      a->save_input = argv[++i];
    } else if (!strcmp(o, "--grad") && has_val) {
      const char *v = argv[++i];
      char *end;
      errno = 0;
      a->grad_output = strtol(v, &end, 10);
      int ok = !errno && end != v && *end == ':' && a->grad_output >= 0 &&
               a->grad_output < INT_MAX && end[1] >= '0' && end[1] <= '9';
      if (ok) {
        const char *w = end + 1;
        a->grad_value = strtol(w, &end, 10);
        ok = !errno && end != w && !*end && a->grad_value >= 0 && a->grad_value < LONG_MAX;
      }
      if (!ok || !(v[0] >= '0' && v[0] <= '9'))
        return csm_cli_usage_error("infer",
                                   "--grad takes OUTPUT_INDEX:VALUE_INDEX (integers >= 0)");
      a->grad = 1;
    } else if (!strcmp(o, "--crop") && has_val) {
      if (csm_cli_parse_doubles(argv[++i], a->crop, 4) || a->crop[2] <= 0 || a->crop[3] <= 0)
        return csm_cli_usage_error("infer", "--crop takes X,Y,W,H with W, H > 0");
      a->has_crop = 1;
    } else if (!strcmp(o, "--range") && has_val) {
      if (csm_cli_parse_doubles(argv[++i], a->range, 2))
        return csm_cli_usage_error("infer", "--range takes LO,HI");
    } else if ((common = csm_cli_common_option("infer", argc, argv, &i, NULL)) != 0) {
      if (common < 0) return CSM_EXIT_USAGE;
    } else if (o[0] == '-' && o[1]) {
      return csm_cli_usage_error("infer", "unknown option '%s'", o);
    } else {
      a->images[a->n_images++] = o;
    }
  }
  if (!a->model) return csm_cli_usage_error("infer", "--model is required");
  if (!a->npy == !a->n_images)
    return csm_cli_usage_error("infer", "give either --npy FILE or images");
  if (a->grad && !a->out) return csm_cli_usage_error("infer", "--grad needs --out PREFIX");
  if (a->npy && (a->n_mean || a->n_std || a->has_crop))
    return csm_cli_usage_error("infer", "--crop, --mean and --std are for images, not --npy");
  if (a->nhwc && !a->npy) return csm_cli_usage_error("infer", "--nhwc is for --npy");
  if (!a->n_std) a->std[0] = a->std[1] = a->std[2] = 1;
  return CSM_EXIT_OK;
}

/* Images -> one NHWC batch at the model's input size. */
static csm_status images_to_batch(const infer_args *a, csm_shape in_shape, csm_tensor *t) {
  if (in_shape.rank != 4 || in_shape.d[1] <= 0 || in_shape.d[2] <= 0 ||
      (in_shape.d[3] != 1 && in_shape.d[3] != 3))
    return csm_fail(CSM_EUNSUPPORTED, "model input is not an NHWC image (use --npy)");
  in_shape.d[0] = a->n_images;
  csm_status st = csm_tensor_alloc(t, CSM_F32, &in_shape);
  if (st) return st;
  size_t per = (size_t)(in_shape.d[1] * in_shape.d[2] * in_shape.d[3]);
  for (int i = 0; i < a->n_images; i++) {
    csm_image img;
    if ((st = csm_image_load(a->images[i], &img))) break;
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
        x[k] = (x[k] - a->mean[k % ch]) / a->std[k % ch];
  }
  if (st) csm_tensor_free(t);
  return st;
}

/* d(value a->grad_value of output a->grad_output, per batch item)/d(input),
 * into grad (same shape as input). One tape for the whole batch, or one per
 * item for models whose graph fixes the batch at 1. */
static csm_status input_gradient(csm_model *m, const infer_args *a, const csm_tensor *input,
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

static void print_output(FILE *fp, const char *name, const csm_tensor *t, int json, int first) {
  size_t n = csm_tensor_numel(t);
  if (json) {
    fprintf(fp, "%s\n    {\"name\": ", first ? "" : ",");
    csm_json_string(fp, name);
    fprintf(fp, ", \"shape\": ");
    csm_json_shape(fp, &t->shape);
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

int csm_cli_infer(int argc, char **argv) {
  infer_args a;
  memset(&a, 0, sizeof a);
  a.images = calloc((size_t)argc, sizeof(char *));
  if (!a.images) return csm_cli_fail(CSM_ENOMEM);
  int rc = parse(argc, argv, &a);
  if (rc) {
    free(a.images);
    return rc < 0 ? CSM_EXIT_OK : rc;
  }
  char path[PATH_MAX];
  csm_model *m = NULL;
  csm_tensor input = {0}, grad = {0}, *outs = NULL;
  int n_out = 0;
  csm_status st = csm_model_load(csm_cli_model_path(a.model, path, sizeof path), &m);
  if (st) goto done;
  if (csm_model_num_inputs(m) != 1) {
    st = csm_fail(CSM_EUNSUPPORTED, "%s: models with %d inputs are not supported here", path,
                  csm_model_num_inputs(m));
    goto done;
  }
  /* Images are NHWC: a channels-first (ONNX) input takes them exactly. */
  if ((!a.npy || a.nhwc) && csm_model_input_channels_first(m, 0) &&
      (st = csm_model_use_channels_last(m))) {
    st = csm_fail_context(st, "%s: ", path);
    goto done;
  }
  st = a.npy ? csm_npy_read(a.npy, &input)
             : images_to_batch(&a, csm_model_input_shape(m, 0), &input);
  if (st) goto done;
  n_out = csm_model_num_outputs(m);
  outs = calloc((size_t)n_out + 1, sizeof(csm_tensor));
  if (!outs) {
    st = csm_fail(CSM_ENOMEM, "out of memory");
    goto done;
  }
  if (a.npy && (st = csm_model_run(m, &input, outs))) {
    st = csm_fail_context(st, "%s: ", a.npy);
    goto done;
  }
  if (!a.npy && (st = csm_model_run(m, &input, outs))) goto done;
  if (a.grad && (st = input_gradient(m, &a, &input, &grad))) goto done;
  /* Files only after the whole run succeeded: no partial output. */
  if (a.save_input && (st = csm_npy_write(a.save_input, &input))) goto done;
  for (int o = 0; a.out && o < n_out; o++) {
    char file[PATH_MAX];
    snprintf(file, sizeof file, "%s_%d.npy", a.out, o);
    if ((st = csm_npy_write(file, &outs[o]))) goto done;
  }
  if (a.grad) {
    char file[PATH_MAX];
    snprintf(file, sizeof file, "%s_grad.npy", a.out);
    if ((st = csm_npy_write(file, &grad))) goto done;
  }
  if (a.json) {
    printf("{\"model\": ");
    csm_json_string(stdout, a.model);
    printf(", \"outputs\": [");
  }
  for (int o = 0; o < n_out; o++)
    print_output(stdout, csm_model_output_name(m, o), &outs[o], a.json, o == 0);
  if (a.json) printf("\n  ]\n}\n");
done:
  rc = st ? csm_cli_fail(st) : CSM_EXIT_OK;
  for (int o = 0; outs && o < n_out; o++)
    csm_tensor_free(&outs[o]);
  free(outs);
  csm_tensor_free(&input);
  csm_tensor_free(&grad);
  csm_model_free(m);
  free(a.images);
  return rc;
}
