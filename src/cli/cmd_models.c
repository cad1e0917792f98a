/* csm models: what each installed model takes and gives, and what it costs. */
#include <dirent.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "csm/explain.h"

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

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names of the *.json files in the models folder, sorted. */
static int list_installed(char ***names, int *count) {
  const char *dir = csm_cli_models_dir();
  DIR *d = opendir(dir);
  int n = 0, cap = 0;
  *names = NULL;
  if (!d) {
    csm_fail(CSM_EIO, "%s: cannot open the models folder (run 'make setup')", dir);
    return -1;
  }
  struct dirent *e;
  while ((e = readdir(d))) {
    size_t len = strlen(e->d_name);
    if (len <= 5 || strcmp(e->d_name + len - 5, ".json") != 0) continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 32;
      char **grown = realloc(*names, (size_t)cap * sizeof(char *));
      if (!grown) break;
      *names = grown;
    }
    (*names)[n++] = strndup(e->d_name, len - 5);
  }
  closedir(d);
  qsort(*names, (size_t)n, sizeof(char *), cmp_str);
  *count = n;
  return 0;
}

static csm_status describe(FILE *out, const char *name, int json, int first) {
  char path[PATH_MAX];
  csm_model *m;
  csm_status st = csm_model_load(csm_cli_model_path(name, path, sizeof path), &m);
  if (st) return st;
  double flops = 0;
  if ((st = csm_model_flops(m, &flops))) goto done;
  csm_shape in = csm_model_input_shape(m, 0);
  /* The layout as declared: channels-first inputs are ONNX's NCHW. */
  const char *layout = csm_model_input_channels_first(m, 0) ? "NCHW" : in.rank == 4 ? "NHWC" : "";
  if (json) {
    fprintf(out, "%s\n  {\"name\": ", first ? "" : ",");
    csm_json_string(out, name);
    fprintf(out, ", \"input\": ");
    csm_json_shape(out, &in);
    fprintf(out, ", \"layout\": ");
    if (*layout)
      csm_json_string(out, layout);
    else
      fputs("null", out);
    fprintf(out, ", \"outputs\": [");
  } else {
    char buf[128], shape[160];
    snprintf(shape, sizeof shape, "%s%s%s", csm_shape_str(&in, buf, sizeof buf), *layout ? " " : "",
             layout);
    fprintf(out, "%-26s %-23s %10zu %8.1f MFLOP  ", name, shape, csm_model_params(m), flops / 1e6);
  }
  for (int o = 0; o < csm_model_num_outputs(m); o++) {
    csm_shape s;
    if ((st = csm_model_output_shape(m, o, 1, &s))) goto done;
    if (json) {
      fprintf(out, "%s{\"name\": ", o ? ", " : "");
      csm_json_string(out, csm_model_output_name(m, o));
      fprintf(out, ", \"shape\": ");
      csm_json_shape(out, &s);
      fprintf(out, "}");
    } else {
      char buf[128];
      fprintf(out, "%s%s%s", o ? ", " : "", csm_model_output_name(m, o),
              csm_shape_str(&s, buf, sizeof buf));
    }
  }
  if (json) {
    fprintf(out, "], \"params\": %zu, \"flops\": ", csm_model_params(m));
    csm_json_float(out, flops);
    fprintf(out, "}");
  } else {
    fprintf(out, "\n");
  }
done:
  csm_model_free(m);
  return st;
}

/* The feature maps of one model, for choosing a CAM layer. */
static csm_status describe_layers(FILE *out, const char *name, int json) {
  char path[PATH_MAX];
  csm_model *m;
  csm_status st = csm_model_load(csm_cli_model_path(name, path, sizeof path), &m);
  if (st) return st;
  /* The model as csm cis/compare/sanity see it (channels-last input), so
   * that the names and shapes listed are the ones --layer takes. */
  if (csm_model_input_channels_first(m, 0) && (st = csm_model_use_channels_last(m))) {
    csm_model_free(m);
    return csm_fail_context(st, "%s: ", path);
  }
  int cam = -1, n_layers = csm_model_layers(m, NULL, 0);
  int *layers = calloc((size_t)n_layers + 1, sizeof *layers);
  if (!layers) {
    csm_model_free(m);
    return csm_fail(CSM_ENOMEM, "out of memory");
  }
  csm_model_layers(m, layers, n_layers);
  if (csm_cam_default_layer(m, &cam)) cam = -1;
  if (json)
    fprintf(out, "[");
  else
    fprintf(out, "%-48s %-18s %-18s\n", "layer", "op", "shape (batch 1)");
  int first = 1;
  for (int i = 0; i < csm_model_node_count(m); i++) {
    csm_shape s;
    if (csm_model_node_shape(m, i, 1, &s) || s.rank != 4) continue;
    int w = 0;
    for (int k = 0; k < n_layers; k++)
      if (layers[k] == i) w = n_layers - k;
    char buf[128];
    if (json) {
      fprintf(out, "%s\n  {\"name\": ", first ? "" : ",");
      csm_json_string(out, csm_model_node_name(m, i));
      fprintf(out, ", \"op\": \"%s\", \"shape\": ", csm_model_node_op(m, i));
      csm_json_shape(out, &s);
      fprintf(out, ", \"cam\": %s, \"weighted\": %d}", i == cam ? "true" : "false", w);
    } else {
      fprintf(out, "%-48s %-18s %-18s", csm_model_node_name(m, i), csm_model_node_op(m, i),
              csm_shape_str(&s, buf, sizeof buf));
      if (i == cam) fprintf(out, " cam");
      if (w) fprintf(out, " w %d", w);
      fprintf(out, "\n");
    }
    first = 0;
  }
  if (json) fprintf(out, "\n]\n");
  free(layers);
  csm_model_free(m);
  return CSM_OK;
}

int csm_cli_models(int argc, char **argv) {
  int json = 0, n = 0, n_given = 0, layers = 0;
  char **names = NULL;
  const char **given = calloc((size_t)argc, sizeof(char *));
  int rc = CSM_EXIT_OK;
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
  if (layers) {
    csm_status st =
        n_given == 1 ? CSM_OK : csm_fail(CSM_EUSAGE, "--layers wants exactly one --model");
    char *text = NULL;
    size_t len = 0;
    FILE *out = st ? NULL : open_memstream(&text, &len);
    if (!st && !out) st = csm_fail(CSM_ENOMEM, "out of memory");
    if (out) {
      st = describe_layers(out, given[0], json);
      fclose(out);
    }
    if (!st) fwrite(text, 1, len, stdout);
    free(text);
    free(given);
    return st == CSM_EUSAGE ? csm_cli_usage_error("models", "--layers wants exactly one --model")
           : st             ? csm_cli_fail(st)
                            : CSM_EXIT_OK;
  }
  if (!n_given && list_installed(&names, &n)) {
    free(given);
    return csm_cli_fail(CSM_EIO);
  }
  int count = n_given ? n_given : n;
  /* Buffered so that a failure prints an error and no partial listing. */
  char *text = NULL;
  size_t text_len = 0;
  FILE *out = open_memstream(&text, &text_len);
  if (!out) return csm_cli_fail(csm_fail(CSM_ENOMEM, "out of memory"));
  if (json)
    fputs("[", out);
  else
    fprintf(out, "%-26s %-23s %10s %14s  outputs\n", "model", "input", "params", "flops/image");
  for (int i = 0; i < count && rc == CSM_EXIT_OK; i++) {
    csm_status st = describe(out, n_given ? given[i] : names[i], json, i == 0);
    if (st) rc = csm_cli_fail(st);
  }
  if (json) fputs("\n]\n", out);
  fclose(out);
  if (rc == CSM_EXIT_OK) fwrite(text, 1, text_len, stdout);
  free(text);
  for (int i = 0; i < n; i++)
    free(names[i]);
  free(names);
  free(given);
  return rc;
}
