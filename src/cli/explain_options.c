/* The explaining commands' shared options: parsing into
 * csm_explain_options (whose checks and defaults are the library's), the
 * inputs, and the progress line. */
#include "explain_common.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ARG(field) offsetof(explain_args, field)

static int take_centres(const char *cmd, const cli_option *opt, void *args, const char *v) {
  (void)cmd, (void)opt, (void)v;
  explain_args *a = args;
  /* grid without --stride: every 8 canonical pixels. */
  if (a->centres == 0) a->o.grid_stride = 0;
  if (a->centres == 1 && a->o.grid_stride == 0) a->o.grid_stride = 8;
  return 0;
}

static int take_patch_space(const char *cmd, const cli_option *opt, void *args, const char *v) {
  (void)cmd, (void)opt, (void)v;
  explain_args *a = args;
  a->o.occ.space = a->choice ? CSM_PATCH_IMAGE : CSM_PATCH_CANONICAL;
  return 0;
}

static int take_fill(const char *cmd, const cli_option *opt, void *args, const char *v) {
  (void)cmd, (void)opt, (void)v;
  explain_args *a = args;
  a->o.occ.fill = (csm_fill)a->choice;
  return 0;
}

static int take_patch(const char *cmd, const cli_option *opt, void *args, const char *v) {
  explain_args *a = args;
  int footprint = !strcmp(opt->name, "--footprint");
  double *d = footprint ? &a->o.occ.footprint : &a->o.occ.patch;
  char *end;
  *d = strtod(v, &end);
  if (end == v || *end || !(*d > 0) || !(*d <= 4096))
    return csm_cli_usage_error(cmd, "%s takes a number in (0, 4096], not '%s'", opt->name, v), -1;
  if (footprint && *d < 1) return csm_cli_usage_error(cmd, "--footprint takes a number >= 1"), -1;
  return 0;
}

static int take_common(const char *cmd, const cli_option *opt, void *args, const char *v) {
  explain_args *a = args;
  char *argv[3] = {NULL, (char *)opt->name, (char *)v};
  int i = 1;
  if (csm_cli_common_option(cmd, 3, argv, &i, &a->o.det) < 0) return -1;
  if (!strcmp(opt->name, "--detector")) a->o.det_detector_given = 1;
  if (!strcmp(opt->name, "--min-score")) a->o.det_min_score_given = 1;
  return 0;
}

static int take_truth(const char *cmd, const cli_option *opt, void *args, const char *v) {
  (void)cmd, (void)v;
  ((explain_args *)args)->o.truth = !strcmp(opt->name, "--same");
  return 0;
}

static const char *const centres_names[] = {"mesh", "grid", NULL};
static const char *const space_names[] = {"canonical", "image", NULL};
static const char *const fill_names[] = {"zero", "mean", "blur", "input-zero", NULL};
static const char *const align_names[] = {"facemesh", "prnet", NULL};

const cli_option explain_option_table[] = {
    {"--task", NULL, "TASK", "what to explain (see 'csm tasks'): gender, expression, age, ...",
     CLI_STRING, ARG(o.task)},
    {"--class", NULL, "C",
     "the class to explain, by name or index (default: each\nface's predicted class)", CLI_STRING,
     ARG(o.cls)},
    {"--out", "-o", "DIR", "output folder (created if missing)", CLI_STRING, ARG(out_dir)},
    {"--centres", "--centers", "mesh|grid",
     "occlusion centres: the canonical face's 468 mesh points\n(default, the paper) or a grid "
     "over the canonical face",
     CLI_CHOICE, ARG(centres), .choices = centres_names, .call = take_centres},
    {"--stride", NULL, "N", "grid spacing in canonical pixels (implies --centres grid; 8)", CLI_INT,
     ARG(o.grid_stride), 1, 1024},
    {"--patch-space", NULL, "S",
     "canonical (default): a square of the canonical face, applied\nin the input through the "
     "correspondence (same facial area at\nany pose); image: the paper's square in input pixels",
     CLI_CHOICE, ARG(choice), .choices = space_names, .call = take_patch_space},
    {"--patch", NULL, "P",
     "patch side: canonical pixels (default 20) or input pixels\nat a 224-pixel input, scaled "
     "to the model's (default 15)",
     CLI_CALL, .call = take_patch},
    {"--footprint", NULL, "F",
     "CIS square side in canonical pixels (default: 20; PRNet:\nthe patch on frontal.jpg, 41.45)",
     CLI_CALL, .call = take_patch},
    {"--fill", NULL, "zero|mean|blur|input-zero",
     "occluded pixels: black (default, the paper), the input's\nmean colour, a blurred copy, or 0 "
     "in the model's input\n(after normalization: the reference code's; PRNet default)",
     CLI_CHOICE, ARG(choice), .choices = fill_names, .call = take_fill},
    {"--size", NULL, "N", "canonical raster N x N (default 256; PRNet: frontal.jpg's)", CLI_INT,
     ARG(o.size), 32, 4096},
    {"--batch", NULL, "N", "occluded inputs per model call (default: up to 64, within\n256 MiB)",
     CLI_INT, ARG(o.batch), 1, 4096},
    {"--canonical", NULL, "PHOTO",
     "draw canonical maps over PHOTO's face (default: the shaded\ncanonical face)", CLI_STRING,
     ARG(o.canonical_photo)},
    {"--detector", NULL, "D", "auto, front or back (default: the task's)", CLI_CALL,
     .call = take_common},
    {"--min-score", NULL, "S", "detector score threshold in [0, 1) (default: the task's)", CLI_CALL,
     .call = take_common},
    {"--threads", NULL, "N", "threads (default: all cores)", CLI_CALL, .call = take_common},
    {"--quiet", NULL, NULL, "no progress on stderr", CLI_FLAG, ARG(quiet)},
    {NULL, NULL, NULL,
     "Verification and zero-shot identification (paper Eq. 8 and 7):\n"
     "  --task verify        inputs are image pairs (IMAGE1 IMAGE2 ...): both faces are\n"
     "                       occluded at the same canonical place; confidence s - t for\n"
     "                       a genuine pair, t - s for an impostor (s: cosine similarity)\n"
     "  --task identify      confidence = cosine similarity to the closest gallery\n"
     "                       embedding of the face's identity"},
    {"--threshold", NULL, "T", "the verification threshold t", CLI_NUMBER, ARG(o.threshold)},
    {"--calibrate", NULL, "PAIRS",
     "t maximizing accuracy on a pair list (IMAGE1 IMAGE2\nsame|different per line)", CLI_STRING,
     ARG(o.calibrate)},
    {"--same", NULL, NULL, "the pairs are the same person (default: the model decides)", CLI_CALL,
     .call = take_truth},
    {"--different", NULL, NULL, "the pairs are different people", CLI_CALL, .call = take_truth},
    {"--gallery", NULL, "DIR", "one sub-folder of face photos per identity", CLI_STRING,
     ARG(o.gallery)},
    {"--identity", NULL, "NAME", "the identity explained (default: the nearest)", CLI_STRING,
     ARG(o.identity)},
    {"--embedding", NULL, "TASK", "embed-faceres (default) or embed-mobileface", CLI_STRING,
     ARG(o.embedding)},
    {NULL, NULL, NULL, "Any model (a custom task):"},
    CUSTOM_OPTIONS(ARG(custom)),
    {NULL, NULL, NULL, "The reference implementation's mode (PRNet alignments, no detection):"},
    {"--align", NULL, "prnet",
     "align with a PRNet mesh per image, as the reference code:\nthe whole image resized to the "
     "input (Pillow bicubic);\ncentres are the canonical vertices[::20], 15 px squares\nat 224 px "
     "filled with input-zero; maps in frontal.jpg's\npixels (619 x 619)",
     CLI_CHOICE, ARG(o.prnet), .choices = align_names},
    {"--meshes", NULL, "DIR", "<DIR>/<stem>_mesh.mat per image (`vertices` N x 3)", CLI_STRING,
     ARG(o.meshes)},
    {"--canonical-mesh", NULL, "M",
     "PRNet's frontal mesh (frontal_mesh.mat); frontal.jpg beside\nit is the maps' frame and "
     "drawn under them",
     CLI_STRING, ARG(o.canonical_mesh)},
    {0}};

void explain_args_init(explain_args *a) {
  memset(a, 0, sizeof *a);
  csm_explain_options_init(&a->o);
  custom_args_init(&a->custom);
}

void explain_args_free(explain_args *a) { custom_args_free(&a->custom); }

int explain_args_check(const char *cmd, explain_args *a, int out_required) {
  if (custom_args_check(cmd, &a->custom)) return CSM_EXIT_USAGE;
  if (a->custom.model) {
    a->o.model = a->custom.model;
    a->o.model_info = a->custom.info;
  }
  if (csm_explain_options_resolve(&a->o)) return csm_cli_usage_error(cmd, "%s", csm_last_error());
  if (out_required && !a->out_dir) return csm_cli_usage_error(cmd, "-o DIR is required");
  return 0;
}

int explain_progress_wanted(const explain_args *a) {
  if (a->quiet) return 0;
  const char *env = getenv("CSM_PROGRESS");
  if (env && *env) return strcmp(env, "0") != 0;
  return isatty(STDERR_FILENO);
}

int explain_print_progress(void *ctx, const csm_progress *p) {
  double left = p->eta;
  if (p->occlusions)
    fprintf(stderr,
            "\r%s: image %d/%d, face %d/%d: %d/%d occlusions | %.2f faces/s, ETA %d:%02d   ",
            (const char *)ctx, p->input, p->n_inputs, p->face, p->n_faces, p->occluded,
            p->occlusions, p->rate, (int)(left / 60), (int)left % 60);
  else
    fprintf(stderr, "\r%s: %d/%d images, %d faces | %.2f faces/s, ETA %d:%02d   ",
            (const char *)ctx, p->input, p->n_inputs, p->faces_done, p->rate, (int)(left / 60),
            (int)left % 60);
  return 0;
}

int explain_inputs(const explain_args *a, const char *const *pos, int n_pos, const char *list,
                   csm_input **in, int *n, char **buf) {
  csm_status st = csm_inputs_parse(a->o.mode, pos, n_pos, list, in, n, buf);
  return st ? csm_cli_fail(st) : 0;
}

void explain_print_calibration(const explain_args *a, const csm_run_summary *s) {
  if (s->calibration_pairs)
    fprintf(stderr, "csm: verification threshold %.4f (accuracy %.3f on %d pairs of %s)\n",
            s->threshold, s->calibration_accuracy, s->calibration_pairs, a->o.calibrate);
}
