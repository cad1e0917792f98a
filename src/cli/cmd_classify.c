/* csm classify: a zoo task (gender, expression, age, race) on every face of
 * each image; csm tasks: the zoo. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "custom_options.h"

static const char *help =
    "usage: csm classify --task TASK IMAGE... [options]\n"
    "       csm classify --model PATH [custom-task flags] IMAGE... [options]\n\n"
    "Finds every face (BlazeFace, largest first), crops it the way the task's\n"
    "model expects (docs/tasks.md) and reports the predicted class, its\n"
    "confidence and every class score. 'csm tasks' lists the tasks.\n\n"
    "  --task TASK          gender, gender-64, gender-ssrnet, expression, age, race,\n"
    "                       pose (9 head-pose bins), ... (embedding tasks\n"
    "                       embed-* give no classes: they are for verify/identify)\n"
    "  --json               {\"task\", \"images\": [{\"path\", \"faces\": [{\"box\": [x, y, w, "
    "h],\n"
    "                       \"label\", \"confidence\", \"scores\": {label: p}, \"value\"}]}]}\n"
    "                       on stdout (value: age in years for age tasks)\n"
    "  --detector D         auto (default), front (close-ups) or back (group photos)\n"
    "  --min-score S        detector score threshold in [0, 1) (default 0.5)\n"
    "  --no-detect          each image is one face crop (no detection)\n"
    "  --save-input FILE    also write every face's model input, in output order, as\n"
    "                       one float32 .npy [faces, size, size, channels] (NHWC,\n"
    "                       preprocessed: what the model's input received)\n"
    "  --threads N          threads (default: all cores)\n\n"
    "Any model (a custom task, instead of --task):\n" CUSTOM_OPTIONS_HELP;

static const char *tasks_help = "usage: csm tasks [--json]\n\n"
                                "Lists the task zoo: name, model, model input and classes (or\n"
                                "the embedding's dimension). --json adds each task's output\n"
                                "kind: probs, sigmoid, value, logits, logit, pose or embedding.\n";

typedef struct classify_args {
  const char *task, *save_input;
  custom_args custom;
  const char **images;
  int n_images, json, no_detect;
  csm_detect_options opt;
} classify_args;

typedef struct image_result {
  csm_face *faces;
  csm_task_result *res;
  float *inputs; /* --save-input: the faces' model inputs */
  int n;
} image_result;

static int parse(int argc, char **argv, classify_args *a) {
  int common;
  for (int i = 1; i < argc; i++) {
    const char *o = argv[i];
    int has_val = i + 1 < argc;
    if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
      fputs(help, stdout);
      exit(CSM_EXIT_OK);
    } else if (!strcmp(o, "--json")) {
      a->json = 1;
    } else if (!strcmp(o, "--no-detect")) {
      a->no_detect = 1;
    } else if (!strcmp(o, "--task") && has_val) {
      a->task = argv[++i];
    } else if (!strcmp(o, "--save-input") && has_val) {
      a->save_input = argv[++i];
    } else if ((common = custom_option("classify", o, has_val ? argv[i + 1] : NULL, &a->custom)) !=
               0) {
      if (common < 0) return CSM_EXIT_USAGE;
      i++;
    } else if ((common = csm_cli_common_option("classify", argc, argv, &i, &a->opt)) != 0) {
      if (common < 0) return CSM_EXIT_USAGE;
    } else if (o[0] == '-' && o[1]) {
      return csm_cli_usage_error("classify", "unknown option '%s' (or missing value)", o);
    } else {
      a->images[a->n_images++] = o;
    }
  }
  if (custom_args_check("classify", &a->custom)) return CSM_EXIT_USAGE;
  if (a->custom.model) {
    if (a->task && strcmp(a->task, "custom"))
      return csm_cli_usage_error("classify", "--model makes a custom task: drop --task %s",
                                 a->task);
    a->task = "custom";
    if (a->custom.info.kind == CSM_TASK_EMBEDDING)
      return csm_cli_usage_error("classify", "--confidence embedding gives no classes");
  } else {
    if (!a->task)
      return csm_cli_usage_error("classify", "--task (or --model) is required (see 'csm tasks')");
    if (!csm_task_find(a->task) || !strcmp(a->task, "custom"))
      return csm_cli_usage_error("classify", "unknown task '%s' (see 'csm tasks')", a->task);
  }
  if (!a->n_images) return csm_cli_usage_error("classify", "no images given");
  return CSM_EXIT_OK;
}

/* One image: detect, crop every face into one batch, run it. */
static csm_status classify_image(const classify_args *a, csm_face_detector *det, csm_task *task,
                                 const char *path, image_result *r) {
  const csm_task_info *info = csm_task_get_info(task);
  csm_image img;
  csm_status st = csm_image_load(path, &img);
  if (st) return st;
  if (a->no_detect) {
    r->faces = malloc(sizeof *r->faces);
    if (r->faces)
      *r->faces = csm_task_whole_image_face(info, &img), r->n = 1;
    else
      st = csm_fail(CSM_ENOMEM, "out of memory");
  } else {
    st = csm_face_detect(det, &img, &r->faces, &r->n);
  }
  float *batch = NULL;
  size_t per = csm_task_input_numel(info);
  if (!st && r->n > 0) {
    batch = malloc((size_t)r->n * per * sizeof(float));
    r->res = calloc((size_t)r->n, sizeof *r->res);
    if (!batch || !r->res) st = csm_fail(CSM_ENOMEM, "out of memory");
  }
  for (int i = 0; !st && i < r->n; i++)
    st = csm_task_preprocess(info, &img, &r->faces[i], batch + (size_t)i * per);
  if (!st && r->n > 0) st = csm_task_run(task, batch, r->n, r->res);
  if (!st && a->save_input)
    r->inputs = batch; /* kept for the file */
  else
    free(batch);
  csm_image_free(&img);
  if (st) st = csm_fail_context(st, "%s: ", path);
  return st;
}

static void print_face_json(const csm_task_info *info, const csm_face *f,
                            const csm_task_result *r) {
  printf("{\"box\": [");
  for (int k = 0; k < 4; k++) {
    if (k) printf(", ");
    csm_json_float(stdout, f->box[k]);
  }
  printf("], \"label\": ");
  if (r->label >= 0)
    csm_json_string(stdout, info->labels[r->label]);
  else
    printf("null");
  printf(", \"confidence\": ");
  csm_json_float(stdout, r->confidence);
  printf(", \"scores\": {");
  for (int k = 0; k < info->n_classes; k++) {
    printf("%s", k ? ", " : "");
    csm_json_string(stdout, info->labels[k]);
    printf(": ");
    csm_json_float(stdout, r->scores[k]);
  }
  printf("}");
  if (!isnan(r->value)) {
    printf(", \"value\": ");
    csm_json_float(stdout, r->value);
  }
  printf("}");
}

static void print_json(const classify_args *a, const csm_task_info *info, const image_result *r) {
  printf("{\"task\": ");
  csm_json_string(stdout, info->name);
  printf(", \"images\": [");
  for (int i = 0; i < a->n_images; i++) {
    printf("%s\n  {\"path\": ", i ? "," : "");
    csm_json_string(stdout, a->images[i]);
    printf(", \"faces\": [");
    for (int j = 0; j < r[i].n; j++) {
      printf("%s\n    ", j ? "," : "");
      print_face_json(info, &r[i].faces[j], &r[i].res[j]);
    }
    printf("%s]}", r[i].n ? "\n  " : "");
  }
  printf("\n]}\n");
}

static void print_text(const classify_args *a, const csm_task_info *info, const image_result *r) {
  for (int i = 0; i < a->n_images; i++) {
    printf("%s: %d face%s\n", a->images[i], r[i].n, r[i].n == 1 ? "" : "s");
    for (int j = 0; j < r[i].n; j++) {
      const float *b = r[i].faces[j].box;
      const csm_task_result *res = &r[i].res[j];
      printf("  face %d [%.0f,%.0f,%.0f,%.0f]:", j + 1, b[0], b[1], b[2], b[3]);
      if (res->label >= 0) printf(" %s %.3f", info->labels[res->label], res->confidence);
      if (!isnan(res->value)) printf(" (%.1f years)", res->value);
      /* The classes by score, at most five: a 100-class head would drown the line. */
      int shown[5], n_shown = info->n_classes < 5 ? info->n_classes : 5;
      for (int s = 0; s < n_shown; s++) {
        int best = -1;
        for (int k = 0; k < info->n_classes; k++) {
          int used = 0;
          for (int u = 0; u < s; u++)
            used |= shown[u] == k;
          if (!used && (best < 0 || res->scores[k] > res->scores[best])) best = k;
        }
        shown[s] = best;
        printf("%s%s %.3f", s ? ", " : "  [", info->labels[best], res->scores[best]);
      }
      printf("%s\n", n_shown ? (n_shown < info->n_classes ? ", ...]" : "]") : "");
    }
  }
}

/* --save-input: every face's input, in output order, as one NHWC batch. */
static csm_status save_inputs(const classify_args *a, const csm_task_info *info,
                              const image_result *r) {
  size_t per = csm_task_input_numel(info), n = 0;
  for (int i = 0; i < a->n_images; i++)
    n += (size_t)r[i].n;
  int64_t dims[4] = {(int64_t)n, info->size, info->size, info->channels};
  csm_tensor t = {0};
  csm_shape sh = csm_shape_make(4, dims);
  csm_status st = csm_tensor_alloc(&t, CSM_F32, &sh);
  if (st) return st;
  float *p = t.data;
  for (int i = 0; i < a->n_images; i++)
    if (r[i].n) {
      memcpy(p, r[i].inputs, (size_t)r[i].n * per * sizeof(float));
      p += (size_t)r[i].n * per;
    }
  st = csm_npy_write(a->save_input, &t);
  csm_tensor_free(&t);
  return st;
}

/* The task decides how faces are found (a task that replicates its model's
 * own pipeline finds them as that pipeline does); --detector and
 * --min-score given on the command line still win. */
static void apply_task_detection(classify_args *a, int argc, char **argv) {
  csm_detect_options want =
      csm_task_detect_options(a->custom.model ? &a->custom.info : csm_task_find(a->task));
  int user_detector = 0, user_score = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--detector")) user_detector = 1;
    if (!strcmp(argv[i], "--min-score")) user_score = 1;
  }
  if (!user_detector) a->opt.detector = want.detector;
  if (!user_score) a->opt.min_score = want.min_score;
  a->opt.hard_nms = want.hard_nms;
  a->opt.refine = want.refine;
  a->opt.mesh = want.mesh;
}

int csm_cli_classify(int argc, char **argv) {
  classify_args a;
  memset(&a, 0, sizeof a);
  a.opt = csm_detect_options_default();
  custom_args_init(&a.custom);
  a.images = calloc((size_t)argc, sizeof(char *));
  if (!a.images) return csm_cli_fail(CSM_ENOMEM);
  int rc = parse(argc, argv, &a);
  if (rc) {
    free(a.images);
    return rc;
  }
  apply_task_detection(&a, argc, argv);
  image_result *res = calloc((size_t)a.n_images, sizeof *res);
  csm_face_detector *det = NULL;
  csm_task *task = NULL;
  csm_status st = res ? CSM_OK : csm_fail(CSM_ENOMEM, "out of memory");
  if (!st)
    st = a.custom.model ? custom_task_load(&a.custom, &task)
                        : csm_task_load(csm_cli_models_dir(), a.task, &task);
  if (!st && !a.no_detect) st = csm_face_detector_create(csm_cli_models_dir(), &a.opt, &det);
  int progress = a.n_images >= 4 && isatty(STDERR_FILENO);
  for (int i = 0; !st && i < a.n_images; i++) {
    st = classify_image(&a, det, task, a.images[i], &res[i]);
    if (progress) fprintf(stderr, "\rcsm classify: %d/%d images", i + 1, a.n_images);
  }
  if (progress) fprintf(stderr, "\n");
  if (!st && a.save_input) st = save_inputs(&a, csm_task_get_info(task), res);
  /* Printed only once every image succeeded: no partial output. */
  if (!st) {
    if (a.json)
      print_json(&a, csm_task_get_info(task), res);
    else
      print_text(&a, csm_task_get_info(task), res);
  }
  rc = st ? csm_cli_fail(st) : CSM_EXIT_OK;
  for (int i = 0; res && i < a.n_images; i++) {
    free(res[i].faces);
    free(res[i].res);
    free(res[i].inputs);
  }
  custom_args_free(&a.custom);
  free(res);
  csm_task_free(task);
  csm_face_detector_free(det);
  free(a.images);
  return rc;
}

static const char *kind_name(csm_task_output k) {
  switch (k) {
  case CSM_TASK_PROBS: return "probs";
  case CSM_TASK_SIGMOID: return "sigmoid";
  case CSM_TASK_VALUE: return "value";
  case CSM_TASK_LOGITS: return "logits";
  case CSM_TASK_LOGIT: return "logit";
  case CSM_TASK_POSE: return "pose";
  case CSM_TASK_EMBEDDING: return "embedding";
  }
  return "?";
}

/* An embedding's dimension is the model's: load it to ask (0 when the
 * model is not installed). */
static int embedding_dim(const csm_task_info *info) {
  csm_task *t = NULL;
  if (csm_task_load(csm_cli_models_dir(), info->name, &t)) return 0;
  int dim = csm_task_embedding_dim(t);
  csm_task_free(t);
  return dim;
}

int csm_cli_tasks(int argc, char **argv) {
  int json = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      fputs(tasks_help, stdout);
      return CSM_EXIT_OK;
    } else if (!strcmp(argv[i], "--json")) {
      json = 1;
    } else {
      return csm_cli_usage_error("tasks", "unexpected argument '%s'", argv[i]);
    }
  }
  if (json) printf("{\"tasks\": [");
  for (int t = 0; t < csm_task_count(); t++) {
    const csm_task_info *info = csm_task_at(t);
    int dim = info->kind == CSM_TASK_EMBEDDING ? embedding_dim(info) : 0;
    if (json) {
      printf("%s\n  {\"name\": ", t ? "," : "");
      csm_json_string(stdout, info->name);
      printf(", \"model\": ");
      csm_json_string(stdout, info->model);
      printf(", \"output\": ");
      csm_json_string(stdout, info->output);
      printf(", \"kind\": ");
      csm_json_string(stdout, kind_name(info->kind));
      printf(", \"input\": [%d, %d, %d], \"classes\": [", info->size, info->size, info->channels);
      for (int k = 0; k < info->n_classes; k++) {
        if (k) printf(", ");
        csm_json_string(stdout, info->labels[k]);
      }
      printf("]");
      if (info->kind == CSM_TASK_EMBEDDING) {
        printf(", \"dim\": ");
        if (dim > 0)
          printf("%d", dim);
        else
          printf("null");
      }
      printf(", \"description\": ");
      csm_json_string(stdout, info->description);
      printf("}");
      continue;
    }
    if (t == 0) printf("%-16s %-19s %-12s classes\n", "task", "model", "input");
    char in[32];
    snprintf(in, sizeof in, "%dx%dx%d", info->size, info->size, info->channels);
    printf("%-16s %-19s %-12s ", info->name, info->model, in);
    if (info->kind == CSM_TASK_VALUE) printf("(value: years)");
    if (info->kind == CSM_TASK_EMBEDDING) {
      if (dim > 0)
        printf("(embedding, dim %d)", dim);
      else
        printf("(embedding; model not installed)");
    }
    /* Pose bins are few and all worth seeing. */
    int shown = info->kind == CSM_TASK_POSE ? info->n_classes : 7;
    for (int k = 0; k < info->n_classes && k < shown; k++)
      printf("%s%s", k ? ", " : "", info->labels[k]);
    if (info->n_classes > shown) printf(", ... (%d)", info->n_classes);
    printf("\n");
  }
  /* What csm cis / csm cms explain beyond the zoo's classes. */
  static const char *const explain[][2] = {
      {"verify", "a pair of faces: s - t for a genuine pair, t - s for an impostor (Eq. 8); "
                 "--threshold or --calibrate, --embedding (default embed-faceres)"},
      {"identify", "cosine similarity to the closest gallery embedding of the face's identity "
                   "(Eq. 7); --gallery DIR, --identity"},
      {"custom", "any TF.js or ONNX model: --model PATH with --input-size, --channels, "
                 "--range, --mean, --std, --output, --confidence, --classes"}};
  if (json) {
    printf("\n],\n\"explain\": [");
    for (int k = 0; k < 3; k++) {
      printf("%s\n  {\"name\": ", k ? "," : "");
      csm_json_string(stdout, explain[k][0]);
      printf(", \"description\": ");
      csm_json_string(stdout, explain[k][1]);
      printf("}");
    }
    printf("\n]}\n");
    return CSM_EXIT_OK;
  }
  printf("\nBeyond the classes above, csm cis and csm cms explain (--task):\n");
  for (int k = 0; k < 3; k++)
    printf("%-16s %s\n", explain[k][0], explain[k][1]);
  return CSM_EXIT_OK;
}
