/* csm infer: run one model on a .npy tensor or on images. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *help =
    "usage: csm infer --model NAME|PATH (--npy FILE.npy | IMAGE...) [options]\n\n"
    "Runs a model. --npy takes a float32 array matching the model input, batch\n"
    "included. Each IMAGE (JPEG or PNG) is resized to the model input (bilinear;\n"
    "no face detection here) and the images form one batch.\n\n"
    "  --model M            installed model name or path to a TF.js model.json\n"
    "  --npy FILE           input tensor (.npy, float32, NHWC)\n"
    "  --crop X,Y,W,H       crop this box of every image first (pixels)\n"
    "  --range LO,HI        pixel values 0..255 map to LO..HI (default 0,1)\n"
    "  --save-input FILE    also write the input tensor as .npy\n"
    "  --out PREFIX         write output k as PREFIX_k.npy\n"
    "  --json               {\"model\", \"outputs\": [{\"name\", \"shape\", \"data\"}]} on stdout\n"
    "  --threads N          threads (default: all cores)\n";

typedef struct infer_args {
  const char *model, *npy, *out, *save_input;
  int json, has_crop;
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
      exit(CSM_EXIT_OK);
    } else if (!strcmp(o, "--json")) {
      a->json = 1;
    } else if (!strcmp(o, "--model") && has_val) {
      a->model = argv[++i];
    } else if (!strcmp(o, "--npy") && has_val) {
      a->npy = argv[++i];
    } else if (!strcmp(o, "--out") && has_val) {
      a->out = argv[++i];
    } else if (!strcmp(o, "--save-input") && has_val) {
      a->save_input = argv[++i];
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
    st = csm_image_sample(&img, a->has_crop ? a->crop : full, (int)in_shape.d[2],
                          (int)in_shape.d[1], (int)in_shape.d[3], (float)a->range[0],
                          (float)a->range[1], (float *)t->data + (size_t)i * per);
    csm_image_free(&img);
    if (st) break;
  }
  if (st) csm_tensor_free(t);
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
    return rc;
  }
  char path[PATH_MAX];
  csm_model *m = NULL;
  csm_tensor input = {0}, *outs = NULL;
  int n_out = 0;
  csm_status st = csm_model_load(csm_cli_model_path(a.model, path, sizeof path), &m);
  if (st) goto done;
  if (csm_model_num_inputs(m) != 1) {
    st = csm_fail(CSM_EUNSUPPORTED, "%s: models with %d inputs are not supported here", path,
                  csm_model_num_inputs(m));
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
  /* Files only after the whole run succeeded: no partial output. */
  if (a.save_input && (st = csm_npy_write(a.save_input, &input))) goto done;
  for (int o = 0; a.out && o < n_out; o++) {
    char file[PATH_MAX];
    snprintf(file, sizeof file, "%s_%d.npy", a.out, o);
    if ((st = csm_npy_write(file, &outs[o]))) goto done;
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
  csm_model_free(m);
  free(a.images);
  return rc;
}
