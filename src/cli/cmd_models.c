/* csm models: what each installed model takes and gives, and what it costs
 * (csm_model_list, csm_model_layer_list). */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "options.h"

static const char *help =
    "usage: csm models [--json] [--model NAME|PATH]...\n"
    "       csm models --layers --model NAME|PATH [--json]\n\n"
    "Lists every installed model (or the ones given) with its input shape as the\n"
    "file declares it and its layout (NHWC; NCHW for ONNX models from PyTorch),\n"
    "outputs (name and shape at batch 1), parameter count and FLOPs per image.\n\n";

typedef struct models_args {
  int json, layers;
  const char **given; /* the --model values, in order */
  int n_given;
} models_args;

#define ARG(field) offsetof(models_args, field)

/* --model may be given several times: each one is listed. */
static int take_model(const char *cmd, const cli_option *opt, void *args, const char *v) {
  (void)cmd, (void)opt;
  models_args *a = args;
  a->given[a->n_given++] = v;
  return 0;
}

static const cli_option options[] = {
    {"--model", NULL, "M",
     "a model name from the models folder, or a path to a TF.js\nmodel.json or an ONNX .onnx "
     "file (repeatable)",
     CLI_CALL, .call = take_model},
    {"--json", NULL, NULL,
     "JSON array of {name, input, layout, outputs: [{name, shape}],\nparams, flops}", CLI_FLAG,
     ARG(json)},
    {"--layers", NULL, NULL,
     "the model's feature maps (values [1, H, W, C] at batch 1, as\nthe explaining commands see "
     "the model: NHWC) for --layer:\nname (the file's node names), op, shape; 'cam' marks the\n"
     "default CAM layer, 'w N' the N-th weighted layer from the\noutput (what csm sanity "
     "randomizes) (--json: [{name, op,\nshape, cam, weighted}])",
     CLI_FLAG, ARG(layers)},
    {0}};

int csm_cli_models(int argc, char **argv) {
  models_args a = {0};
  /* At most one --model per two arguments; argc bounds both lists. */
  a.given = calloc((size_t)argc, sizeof(char *));
  const char **pos = calloc((size_t)argc, sizeof(char *));
  if (!a.given || !pos) {
    free(a.given), free(pos);
    return csm_cli_fail(CSM_ENOMEM);
  }
  const cli_option *tables[] = {options};
  cli_spec spec = {"models", help, NULL, tables, 1, 0};
  int n_pos = 0, rc = cli_parse(&spec, &a, argc, argv, pos, &n_pos);
  if (rc < 0 && a.layers && a.n_given != 1)
    rc = csm_cli_usage_error("models", "--layers wants exactly one --model");
  if (rc < 0) {
    char *text = NULL;
    csm_status st = a.layers ? csm_model_layer_list(a.given[0], a.json, &text)
                             : csm_model_list(a.given, a.n_given, a.json, &text);
    if (!st) fputs(text, stdout);
    free(text);
    rc = st ? csm_cli_fail(st) : CSM_EXIT_OK;
  }
  free(a.given);
  free(pos);
  return rc;
}
