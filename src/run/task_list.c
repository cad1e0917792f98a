/* The task zoo as csm tasks lists it: every zoo entry (name, model, input,
 * classes or the embedding's dimension) and what the explaining runs offer
 * beyond the zoo (verify, identify, custom). */
#include <stdlib.h>
#include <string.h>

#include "run_internal.h"

/* An embedding's dimension is the model's: load it to ask (0 when the
 * model is not installed). */
static int embedding_dim(const csm_task_info *info) {
  csm_task *t = NULL;
  if (csm_task_load(csm_models_dir(), info->name, &t)) return 0;
  int dim = csm_task_embedding_dim(t);
  csm_task_free(t);
  return dim;
}

/* What csm cis / csm cms explain beyond the zoo's classes. */
static const char *const explain[][2] = {
    {"verify", "a pair of faces: s - t for a genuine pair, t - s for an impostor (Eq. 8); "
               "--threshold or --calibrate, --embedding (default embed-faceres)"},
    {"identify", "cosine similarity to the closest gallery embedding of the face's identity "
                 "(Eq. 7); --gallery DIR, --identity"},
    {"custom", "any TF.js or ONNX model: --model PATH with --input-size, --channels, "
               "--range, --mean, --std, --output, --confidence, --classes"}};

static void task_json(FILE *fp, const csm_task_info *info, int dim) {
  fprintf(fp, "{\"name\": ");
  csm_json_string(fp, info->name);
  fprintf(fp, ", \"model\": ");
  csm_json_string(fp, info->model);
  fprintf(fp, ", \"output\": ");
  csm_json_string(fp, info->output);
  fprintf(fp, ", \"kind\": ");
  csm_json_string(fp, csm_task_output_name(info->kind));
  fprintf(fp, ", \"input\": [%d, %d, %d], \"classes\": [", info->size, info->size, info->channels);
  for (int k = 0; k < info->n_classes; k++) {
    if (k) fprintf(fp, ", ");
    csm_json_string(fp, info->labels[k]);
  }
  fprintf(fp, "]");
  if (info->kind == CSM_TASK_EMBEDDING) {
    fprintf(fp, ", \"dim\": ");
    if (dim > 0)
      fprintf(fp, "%d", dim);
    else
      fprintf(fp, "null");
  }
  fprintf(fp, ", \"description\": ");
  csm_json_string(fp, info->description);
  fprintf(fp, "}");
}

static void task_line(FILE *fp, const csm_task_info *info, int dim) {
  char in[32];
  snprintf(in, sizeof in, "%dx%dx%d", info->size, info->size, info->channels);
  fprintf(fp, "%-16s %-19s %-12s ", info->name, info->model, in);
  if (info->kind == CSM_TASK_VALUE) fprintf(fp, "(value: years)");
  if (info->kind == CSM_TASK_EMBEDDING) {
    if (dim > 0)
      fprintf(fp, "(embedding, dim %d)", dim);
    else
      fprintf(fp, "(embedding; model not installed)");
  }
  /* Pose bins are few and all worth seeing. */
  int shown = info->kind == CSM_TASK_POSE ? info->n_classes : 7;
  for (int k = 0; k < info->n_classes && k < shown; k++)
    fprintf(fp, "%s%s", k ? ", " : "", info->labels[k]);
  if (info->n_classes > shown) fprintf(fp, ", ... (%d)", info->n_classes);
  fprintf(fp, "\n");
}

static void zoo(FILE *fp, int json) {
  if (json) fprintf(fp, "{\"tasks\": [");
  for (int t = 0; t < csm_task_count(); t++) {
    const csm_task_info *info = csm_task_at(t);
    int dim = info->kind == CSM_TASK_EMBEDDING ? embedding_dim(info) : 0;
    if (json) {
      fprintf(fp, "%s\n  ", t ? "," : "");
      task_json(fp, info, dim);
      continue;
    }
    if (t == 0) fprintf(fp, "%-16s %-19s %-12s classes\n", "task", "model", "input");
    task_line(fp, info, dim);
  }
  int n_explain = (int)(sizeof explain / sizeof explain[0]);
  if (json) {
    fprintf(fp, "\n],\n\"explain\": [");
    for (int k = 0; k < n_explain; k++) {
      fprintf(fp, "%s\n  {\"name\": ", k ? "," : "");
      csm_json_string(fp, explain[k][0]);
      fprintf(fp, ", \"description\": ");
      csm_json_string(fp, explain[k][1]);
      fprintf(fp, "}");
    }
    fprintf(fp, "\n]}\n");
    return;
  }
  fprintf(fp, "\nBeyond the classes above, csm cis and csm cms explain (--task):\n");
  for (int k = 0; k < n_explain; k++)
    fprintf(fp, "%-16s %s\n", explain[k][0], explain[k][1]);
}

static csm_status render(int json, char **text) {
  *text = NULL;
  size_t len = 0;
  FILE *fp = open_memstream(text, &len);
  if (!fp) return csm_fail(CSM_ENOMEM, "out of memory");
  zoo(fp, json);
  fclose(fp);
  return *text ? CSM_OK : csm_fail(CSM_ENOMEM, "out of memory");
}

csm_status csm_task_zoo_json(char **text) { return render(1, text); }
csm_status csm_task_zoo_table(char **text) { return render(0, text); }
