/* csm classify: a zoo task (gender, expression, age, race) on every face of
 * each image; csm tasks: the zoo. The options, one run/ call
 * (csm_classify_run, csm_task_zoo_*), the text printed. */
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
  csm_classify_options o;
  custom_args custom;
  const char **images;
  int n_images, json;
} classify_args;

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
      a->o.no_detect = 1;
    } else if (!strcmp(o, "--task") && has_val) {
      a->o.task = argv[++i];
    } else if (!strcmp(o, "--save-input") && has_val) {
      a->o.save_input = argv[++i];
    } else if ((common = custom_option("classify", o, has_val ? argv[i + 1] : NULL, &a->custom)) !=
               0) {
      if (common < 0) return CSM_EXIT_USAGE;
      i++;
    } else if ((common = csm_cli_common_option("classify", argc, argv, &i, &a->o.det)) != 0) {
      if (common < 0) return CSM_EXIT_USAGE;
      /* Given on the command line, they win over the task's own. */
      if (!strcmp(o, "--detector")) a->o.det_detector_given = 1;
      if (!strcmp(o, "--min-score")) a->o.det_min_score_given = 1;
    } else if (o[0] == '-' && o[1]) {
      return csm_cli_usage_error("classify", "unknown option '%s' (or missing value)", o);
    } else {
      a->images[a->n_images++] = o;
    }
  }
  if (custom_args_check("classify", &a->custom)) return CSM_EXIT_USAGE;
  if (a->custom.model) a->o.model = a->custom.model, a->o.model_info = a->custom.info;
  if (csm_classify_options_resolve(&a->o))
    return csm_cli_usage_error("classify", "%s", csm_last_error());
  if (!a->n_images) return csm_cli_usage_error("classify", "no images given");
  return CSM_EXIT_OK;
}

static int print_progress(void *ctx, const csm_progress *p) {
  (void)ctx;
  fprintf(stderr, "\rcsm classify: %d/%d images", p->input, p->n_inputs);
  return 0;
}

int csm_cli_classify(int argc, char **argv) {
  classify_args a;
  memset(&a, 0, sizeof a);
  csm_classify_options_init(&a.o);
  custom_args_init(&a.custom);
  a.images = calloc((size_t)argc, sizeof(char *));
  if (!a.images) return csm_cli_fail(CSM_ENOMEM);
  int rc = parse(argc, argv, &a);
  if (rc) {
    custom_args_free(&a.custom);
    free(a.images);
    return rc;
  }
  int progress = a.n_images >= 4 && isatty(STDERR_FILENO);
  if (progress) a.o.progress = print_progress;
  csm_classify_report *r = NULL;
  char *text = NULL;
  csm_status st = csm_classify_run(&a.o, a.images, a.n_images, &r);
  if (progress) fprintf(stderr, "\n");
  /* Printed only once every image succeeded: no partial output. */
  if (!st) st = a.json ? csm_classify_report_json(r, &text) : csm_classify_report_text(r, &text);
  if (!st) fputs(text, stdout);
  rc = st ? csm_cli_fail(st) : CSM_EXIT_OK;
  free(text);
  csm_classify_report_free(r);
  custom_args_free(&a.custom);
  free(a.images);
  return rc;
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
  char *text = NULL;
  csm_status st = json ? csm_task_zoo_json(&text) : csm_task_zoo_table(&text);
  if (!st) fputs(text, stdout);
  free(text);
  return st ? csm_cli_fail(st) : CSM_EXIT_OK;
}
