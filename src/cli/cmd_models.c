/* csm models: what each installed model takes and gives, and what it costs
 * (csm_model_list, csm_model_layer_list). */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *help =
    "usage: csm models [--json] [--model NAME|PATH]...\n"
    "       csm models --layers --model NAME|PATH [--json]\n\n"
    "Lists every installed model (or the ones given) with its input shape as the\n"
    "file declares it and its layout (NHWC; NCHW for ONNX models from PyTorch),\n"
    "outputs (name and shape at batch 1), parameter count and FLOPs per image.\n\n"
    "  --model M   a model name from the models folder, or a path to a TF.js\n"
    "              model.json or an ONNX .onnx file\n"
    "  --json      JSON array of {name, input, layout, outputs: [{name, shape}],\n"
    "              params, flops}\n"
    "  --layers    the model's feature maps (values [1, H, W, C] at batch 1, as the\n"
    "              explaining commands see the model: NHWC) for --layer: name (the\n"
    "              file's node names), op, shape; 'cam' marks the default CAM layer,\n"
    "              'w N' the N-th weighted layer from the output (what csm sanity\n"
    "              randomizes) (--json: [{name, op, shape, cam, weighted}])\n";

int csm_cli_models(int argc, char **argv) {
  int json = 0, n_given = 0, layers = 0;
  const char **given = calloc((size_t)argc, sizeof(char *));
  if (!given) return csm_cli_fail(CSM_ENOMEM);
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      fputs(help, stdout);
      free(given);
      return CSM_EXIT_OK;
    } else if (!strcmp(argv[i], "--json")) {
      json = 1;
    } else if (!strcmp(argv[i], "--layers")) {
      layers = 1;
    } else if (!strcmp(argv[i], "--model") && i + 1 < argc) {
      given[n_given++] = argv[++i];
    } else {
      free(given);
      return csm_cli_usage_error("models", "unexpected argument '%s'", argv[i]);
    }
  }
  if (layers && n_given != 1) {
    free(given);
    return csm_cli_usage_error("models", "--layers wants exactly one --model");
  }
  char *text = NULL;
  csm_status st = layers ? csm_model_layer_list(given[0], json, &text)
                         : csm_model_list(given, n_given, json, &text);
  if (!st) fputs(text, stdout);
  free(text);
  free(given);
  return st ? csm_cli_fail(st) : CSM_EXIT_OK;
}
