/* csm models as library calls: what each installed model takes and gives,
 * what it costs, and its feature maps (for choosing a CAM layer). The text
 * is built whole, so that a failure gives an error and no partial listing. */
#include <dirent.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "csm/csm.h"

const char *csm_model_file(const char *name, char *buf, size_t len) {
  size_t n = strlen(name);
  if (strchr(name, '/') || (n > 5 && strcmp(name + n - 5, ".json") == 0) ||
      (n > 5 && strcmp(name + n - 5, ".onnx") == 0)) {
    snprintf(buf, len, "%s", name);
  } else {
    snprintf(buf, len, "%s/%s.json", csm_models_dir(), name);
  }
  return buf;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names of the *.json files in the models folder, sorted. */
static csm_status list_installed(char ***names, int *count) {
  const char *dir = csm_models_dir();
  DIR *d = opendir(dir);
  int n = 0, cap = 0;
  *names = NULL;
  *count = 0;
  if (!d) return csm_fail(CSM_EIO, "%s: cannot open the models folder (run 'make setup')", dir);
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
  return CSM_OK;
}

static void json_shape(FILE *fp, const csm_shape *s) {
  fputc('[', fp);
  for (int i = 0; i < s->rank; i++)
    fprintf(fp, i ? ", %lld" : "%lld", (long long)s->d[i]);
  fputc(']', fp);
}

static csm_status describe(FILE *out, const char *name, int json, int first) {
  char path[PATH_MAX];
  csm_model *m;
  csm_status st = csm_model_load(csm_model_file(name, path, sizeof path), &m);
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
    json_shape(out, &in);
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
      json_shape(out, &s);
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
  csm_status st = csm_model_load(csm_model_file(name, path, sizeof path), &m);
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
      json_shape(out, &s);
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

csm_status csm_model_list(const char *const *models, int n_given, int json, char **text) {
  char **names = NULL;
  int n = 0;
  *text = NULL;
  csm_status st = n_given ? CSM_OK : list_installed(&names, &n);
  if (st) return st;
  int count = n_given ? n_given : n;
  size_t len = 0;
  FILE *out = open_memstream(text, &len);
  if (!out) st = csm_fail(CSM_ENOMEM, "out of memory");
  if (out && json)
    fputs("[", out);
  else if (out)
    fprintf(out, "%-26s %-23s %10s %14s  outputs\n", "model", "input", "params", "flops/image");
  for (int i = 0; out && i < count && !st; i++)
    st = describe(out, n_given ? models[i] : names[i], json, i == 0);
  if (out && json) fputs("\n]\n", out);
  if (out) fclose(out);
  for (int i = 0; i < n; i++)
    free(names[i]);
  free(names);
  if (st) {
    free(*text);
    *text = NULL;
  }
  return st;
}

csm_status csm_model_layer_list(const char *model, int json, char **text) {
  size_t len = 0;
  *text = NULL;
  FILE *out = open_memstream(text, &len);
  if (!out) return csm_fail(CSM_ENOMEM, "out of memory");
  csm_status st = describe_layers(out, model, json);
  fclose(out);
  if (st) {
    free(*text);
    *text = NULL;
  }
  return st;
}
