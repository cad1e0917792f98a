/* csm infer: run one model on a .npy tensor or on images: the options, one
 * csm_infer_run call, the outputs printed. */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "options.h"

static const char *help =
    "usage: csm infer --model NAME|PATH (--npy FILE.npy | IMAGE...) [options]\n\n"
    "Runs a model. --npy takes a float32 array matching the model input, batch\n"
    "included, in the layout the model declares (NCHW for an ONNX model from\n"
    "PyTorch, NHWC for TF.js; --nhwc: NHWC for both). Each IMAGE (JPEG or PNG) is\n"
    "resized to the model input (bilinear; no face detection here) and the images\n"
    "form one NHWC batch (a channels-first model is switched to NHWC input).\n\n";

typedef struct infer_args {
  int json;
  csm_infer_options o;
  csm_detect_options threads; /* --threads only */
} infer_args;

#define ARG(field) offsetof(infer_args, field)

static int take_mean_std(const char *cmd, const cli_option *opt, void *args, const char *v) {
  csm_infer_options *a = &((infer_args *)args)->o;
  int is_std = opt->name[2] == 's';
  float *x = is_std ? a->std : a->mean;
  double d[3];
  int n = !csm_cli_parse_doubles(v, d, 1) ? 1 : !csm_cli_parse_doubles(v, d, 3) ? 3 : 0;
  for (int k = 0; k < 3; k++)
    x[k] = (float)d[n == 1 ? 0 : k];
  if (!n || (is_std && !(x[0] > 0 && x[1] > 0 && x[2] > 0)))
    return csm_cli_usage_error(cmd, "%s takes one %snumber or three", opt->name,
                               is_std ? "positive " : ""),
           -1;
  *(is_std ? &a->n_std : &a->n_mean) = n;
  return 0;
}

static int take_grad(const char *cmd, const cli_option *opt, void *args, const char *v) {
  csm_infer_options *a = &((infer_args *)args)->o;
  (void)opt;
  char *end;
  errno = 0;
  a->grad_output = strtol(v, &end, 10);
  int ok = !errno && end != v && *end == ':' && a->grad_output >= 0 && a->grad_output < INT_MAX &&
           end[1] >= '0' && end[1] <= '9';
  if (ok) {
    const char *w = end + 1;
    a->grad_value = strtol(w, &end, 10);
    ok = !errno && end != w && !*end && a->grad_value >= 0 && a->grad_value < LONG_MAX;
  }
  if (!ok || !(v[0] >= '0' && v[0] <= '9'))
    return csm_cli_usage_error(cmd, "--grad takes OUTPUT_INDEX:VALUE_INDEX (integers >= 0)"), -1;
  a->grad = 1;
  return 0;
}

static int take_crop_range(const char *cmd, const cli_option *opt, void *args, const char *v) {
  csm_infer_options *a = &((infer_args *)args)->o;
  if (opt->name[2] == 'r')
    return csm_cli_parse_doubles(v, a->range, 2)
               ? (csm_cli_usage_error(cmd, "--range takes LO,HI"), -1)
               : 0;
  if (csm_cli_parse_doubles(v, a->crop, 4) || a->crop[2] <= 0 || a->crop[3] <= 0)
    return csm_cli_usage_error(cmd, "--crop takes X,Y,W,H with W, H > 0"), -1;
  a->has_crop = 1;
  return 0;
}

static const cli_option options[] = {
    {"--model", NULL, "M",
     "installed model name, or a path to a TF.js model.json or\nan ONNX .onnx file", CLI_STRING,
     ARG(o.model)},
    {"--npy", NULL, "FILE", "input tensor (.npy, float32, the model's declared layout)", CLI_STRING,
     ARG(o.npy)},
    {"--nhwc", NULL, NULL, "the --npy tensor is NHWC even if the model declares NCHW", CLI_FLAG,
     ARG(o.nhwc)},
    {"--crop", NULL, "X,Y,W,H", "crop this box of every image first (pixels)", CLI_CALL, 0,
     .call = take_crop_range},
    {"--range", NULL, "LO,HI", "pixel values 0..255 map to LO..HI (default 0,1)", CLI_CALL, 0,
     .call = take_crop_range},
    {"--mean", NULL, "M[,M,M]", "then subtract a per-channel mean (images; default 0)", CLI_CALL, 0,
     .call = take_mean_std},
    {"--std", NULL, "S[,S,S]", "then divide by a per-channel std (images; default 1)", CLI_CALL, 0,
     .call = take_mean_std},
    {"--save-input", NULL, "FILE",
     "also write the input tensor as .npy (as the model got\nit: NHWC for images)", CLI_STRING,
     ARG(o.save_input)},
    {"--out", NULL, "PREFIX", "write output k as PREFIX_k.npy", CLI_STRING, ARG(o.out)},
    {"--grad", NULL, "K:J",
     "also write PREFIX_grad.npy (needs --out): the gradient\nof value J of output K (0-based, "
     "flattened per batch\nitem) with respect to the input, for every batch item;\nsame shape as "
     "the input (reverse-mode autodiff)",
     CLI_CALL, 0, .call = take_grad},
    {"--json", NULL, NULL, "{\"model\", \"outputs\": [{\"name\", \"shape\", \"data\"}]} on stdout",
     CLI_FLAG, ARG(json)},
    {"--threads", NULL, "N", "threads (default: all cores)", CLI_CALL, ARG(threads),
     .call = cli_take_detect},
    {0}};

static int parse(int argc, char **argv, infer_args *a, const char **images) {
  const cli_option *tables[] = {options};
  cli_spec spec = {"infer", help, NULL, tables, 1, -1};
  int rc = cli_parse(&spec, a, argc, argv, images, &a->o.n_images);
  if (rc >= 0) return rc;
  const csm_infer_options *o = &a->o;
  if (!o->model) return csm_cli_usage_error("infer", "--model is required");
  if (!o->npy == !o->n_images)
    return csm_cli_usage_error("infer", "give either --npy FILE or images");
  if (o->grad && !o->out) return csm_cli_usage_error("infer", "--grad needs --out PREFIX");
  if (o->npy && (o->n_mean || o->n_std || o->has_crop))
    return csm_cli_usage_error("infer", "--crop, --mean and --std are for images, not --npy");
  if (o->nhwc && !o->npy) return csm_cli_usage_error("infer", "--nhwc is for --npy");
  return -1;
}

int csm_cli_infer(int argc, char **argv) {
  infer_args a = {0};
  csm_infer_options_init(&a.o);
  a.threads = csm_detect_options_default();
  const char **images = calloc((size_t)argc, sizeof(char *));
  if (!images) return csm_cli_fail(CSM_ENOMEM);
  a.o.images = images;
  int rc = parse(argc, argv, &a, images);
  csm_infer_report *r = NULL;
  char *text = NULL;
  csm_status st = rc >= 0 ? CSM_OK : csm_infer_run(&a.o, &r);
  if (rc < 0 && !st)
    st = a.json ? csm_infer_report_json(r, &text) : csm_infer_report_text(r, &text);
  if (rc < 0 && !st) fputs(text, stdout);
  if (rc < 0) rc = st ? csm_cli_fail(st) : CSM_EXIT_OK;
  free(text);
  csm_infer_report_free(r);
  free(images);
  return rc;
}
