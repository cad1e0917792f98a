/* csm classify: a zoo task (gender, expression, age, race) on every face of
 * each image; csm tasks: the zoo. The options, one run/ call
 * (csm_classify_run, csm_task_zoo_*), the text printed. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "custom_options.h"
#include "options.h"

static const char *help =
    "usage: csm classify --task TASK IMAGE... [options]\n"
    "       csm classify --model PATH [custom-task flags] IMAGE... [options]\n\n"
    "Finds every face (BlazeFace, largest first), crops it the way the task's\n"
    "model expects (docs/tasks.md) and reports the predicted class, its\n"
    "confidence and every class score. 'csm tasks' lists the tasks.\n\n"
    "";

static const char *tasks_help =
    "usage: csm tasks [--json]\n\n"
    "Lists the task zoo: name, model, model input and classes (or\n"
    "the embedding's dimension). --json adds each task's output\n"
    "kind: probs, sigmoid, value, logits, logit, pose or embedding.\n\n";

typedef struct classify_args {
  csm_classify_options o;
  custom_args custom;
  const char **images;
  int n_images, json;
} classify_args;

#define ARG(field) offsetof(classify_args, field)

/* --detector and --min-score given on the command line win over the task's. */
static int take_detect(const char *cmd, const cli_option *o, void *args, const char *v) {
  classify_args *a = args;
  if (cli_take_detect(cmd, o, args, v)) return -1;
  if (!strcmp(o->name, "--detector")) a->o.det_detector_given = 1;
  if (!strcmp(o->name, "--min-score")) a->o.det_min_score_given = 1;
  return 0;
}

static const cli_option options[] = {
    {"--task", NULL, "TASK",
     "gender, gender-64, gender-ssrnet, expression, age, race,\npose (9 head-pose bins), ... "
     "(embedding tasks\nembed-* give no classes: they are for verify/identify)",
     CLI_STRING, ARG(o.task)},
    {"--json", NULL, NULL,
     "{\"task\", \"images\": [{\"path\", \"faces\": [{\"box\": [x, y, w, h],\n\"label\", "
     "\"confidence\", \"scores\": {label: p}, \"value\"}]}]}\non stdout (value: age in years for "
     "age tasks)",
     CLI_FLAG, ARG(json)},
    {"--detector", NULL, "D", "auto (default), front (close-ups) or back (group photos)", CLI_CALL,
     ARG(o.det), .call = take_detect},
    {"--min-score", NULL, "S", "detector score threshold in [0, 1) (default 0.5)", CLI_CALL,
     ARG(o.det), .call = take_detect},
    {"--no-detect", NULL, NULL, "each image is one face crop (no detection)", CLI_FLAG,
     ARG(o.no_detect)},
    {"--save-input", NULL, "FILE",
     "also write every face's model input, in output order, as\none float32 .npy [faces, size, "
     "size, channels] (NHWC,\npreprocessed: what the model's input received)",
     CLI_STRING, ARG(o.save_input)},
    {"--threads", NULL, "N", "threads (default: all cores)", CLI_CALL, ARG(o.det),
     .call = cli_take_detect},
    {NULL, NULL, NULL, "Any model (a custom task, instead of --task):"},
    CUSTOM_OPTIONS(ARG(custom)),
    {0}};

static int parse(int argc, char **argv, classify_args *a) {
  const cli_option *tables[] = {options};
  cli_spec spec = {"classify", help, NULL, tables, 1, -1};
  int rc = cli_parse(&spec, a, argc, argv, a->images, &a->n_images);
  if (rc >= 0) return rc;
  if (custom_args_check("classify", &a->custom)) return CSM_EXIT_USAGE;
  if (a->custom.model) a->o.model = a->custom.model, a->o.model_info = a->custom.info;
  if (csm_classify_options_resolve(&a->o))
    return csm_cli_usage_error("classify", "%s", csm_last_error());
  if (!a->n_images) return csm_cli_usage_error("classify", "no images given");
  return -1;
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
  if (rc >= 0) {
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

static const cli_option tasks_options[] = {{"--json", NULL, NULL, "the zoo as JSON", CLI_FLAG, 0},
                                           {0}};

int csm_cli_tasks(int argc, char **argv) {
  int json = 0;
  const cli_option *tables[] = {tasks_options};
  cli_spec spec = {"tasks", tasks_help, NULL, tables, 1, 0};
  int n_pos = 0;
  int rc = cli_parse(&spec, &json, argc, argv, NULL, &n_pos);
  if (rc >= 0) return rc;
  char *text = NULL;
  csm_status st = json ? csm_task_zoo_json(&text) : csm_task_zoo_table(&text);
  if (!st) fputs(text, stdout);
  free(text);
  return st ? csm_cli_fail(st) : CSM_EXIT_OK;
}
