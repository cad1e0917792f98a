/* Options of csm cis / cms (shared): parsing, defaults per mode, the
 * checks of their combination and the run.json parameters. */
#include "explain_common.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FACEMESH_CANON_SIZE 256
/* The reference implementation's frame: 224-pixel inputs, 15 px squares. */
#define PRNET_SIZE 224
#define PRNET_PATCH 15

static const char *explain_options_help =
    "  --task TASK          what to explain (see 'csm tasks'): gender, expression, age, ...\n"
    "  --class C            the class to explain, by name or index (default: each\n"
    "                       face's predicted class)\n"
    "  -o DIR               output folder (created if missing)\n"
    "  --centres mesh|grid  occlusion centres: the canonical face's 468 mesh points\n"
    "                       (default, the paper) or a grid over the canonical face\n"
    "  --stride N           grid spacing in canonical pixels (implies --centres grid; 8)\n"
    "  --patch-space S      canonical (default): a square of the canonical face, applied\n"
    "                       in the input through the correspondence (same facial area at\n"
    "                       any pose); image: the paper's square in input pixels\n"
    "  --patch P            patch side: canonical pixels (default 20) or input pixels\n"
    "                       at a 224-pixel input, scaled to the model's (default 15)\n"
    "  --footprint F        CIS square side in canonical pixels (default: 20; PRNet 15)\n"
    "  --fill zero|mean|blur  occluded pixels: black (default, the paper), the input's\n"
    "                       mean colour, or a blurred copy\n"
    "  --size N             canonical raster N x N (default 256; PRNet 224)\n"
    "  --batch N            occluded inputs per model call (default: up to 64, within\n"
    "                       256 MiB)\n"
    "  --canonical PHOTO    draw canonical maps over PHOTO's face (default: the shaded\n"
    "                       canonical face)\n"
    "  --detector D         auto, front or back (default: the task's)\n"
    "  --min-score S        detector score threshold in [0, 1) (default: the task's)\n"
    "  --threads N          threads (default: all cores)\n"
    "  --quiet              no progress on stderr\n\n"
    "Verification and zero-shot identification (paper Eq. 8 and 7):\n"
    "  --task verify        inputs are image pairs (IMAGE1 IMAGE2 ...): both faces are\n"
    "                       occluded at the same canonical place; confidence s - t for\n"
    "                       a genuine pair, t - s for an impostor (s: cosine similarity)\n"
    "  --threshold T        the verification threshold t\n"
    "  --calibrate PAIRS    t maximizing accuracy on a pair list (IMAGE1 IMAGE2\n"
    "                       same|different per line)\n"
    "  --same, --different  the pairs' truth (default: the model's own decision)\n"
    "  --task identify      confidence = cosine similarity to the closest gallery\n"
    "                       embedding of the face's identity\n"
    "  --gallery DIR        one sub-folder of face photos per identity\n"
    "  --identity NAME      the identity explained (default: the nearest)\n"
    "  --embedding TASK     embed-faceres (default) or embed-mobileface\n\n"
    "Any model (a custom task):\n";

/* Printed after the custom-task flags (one literal would pass C99's
 * 4095-character limit). */
static const char *explain_options_help_tail =
    "\n"
    "The reference implementation's mode (PRNet alignments, no detection):\n"
    "  --align prnet        align with a PRNet mesh per image: the whole image is the\n"
    "                       model's input; centres are the canonical vertices[::20];\n"
    "                       15 px squares at 224 px, a 224 x 224 canonical frame\n"
    "  --meshes DIR         <DIR>/<stem>_mesh.mat per image (`vertices` N x 3)\n"
    "  --canonical-mesh M   PRNet's frontal mesh (frontal_mesh.mat); frontal.jpg beside\n"
    "                       it is drawn under the maps\n";

void explain_options_print_help(FILE *fp) {
  fputs(explain_options_help, fp);
  fputs(custom_options_help, fp);
  fputs(explain_options_help_tail, fp);
}

void explain_args_init(explain_args *a) {
  memset(a, 0, sizeof *a);
  a->occ = csm_occlusion_options_default();
  a->occ.patch = -1, a->occ.footprint = -1, a->occ.space = (csm_patch_space)-1;
  a->det = csm_detect_options_default();
  a->threshold = NAN;
  a->truth = -1;
  custom_args_init(&a->custom);
}

static int parse_choice(const char *cmd, const char *opt, const char *v, const char *const *names,
                        int n) {
  for (int k = 0; k < n; k++)
    if (!strcmp(v, names[k])) return k;
  csm_cli_usage_error(cmd, "%s does not take '%s'", opt, v);
  return -1;
}

static int parse_pos(const char *cmd, const char *opt, const char *v, double *out) {
  char *end;
  double d = strtod(v, &end);
  if (end == v || *end || !(d > 0) || !(d <= 4096)) {
    csm_cli_usage_error(cmd, "%s takes a number in (0, 4096], not '%s'", opt, v);
    return -1;
  }
  *out = d;
  return 0;
}

int explain_option(const char *cmd, int argc, char **argv, int *i, explain_args *a) {
  const char *o = argv[*i];
  int has = *i + 1 < argc;
  const char *v = has ? argv[*i + 1] : NULL;
  int common = csm_cli_common_option(cmd, argc, argv, i, &a->det);
  if (common) {
    if (!strcmp(o, "--detector")) a->det_user_detector = 1;
    if (!strcmp(o, "--min-score")) a->det_user_score = 1;
    return common;
  }
  if (!strcmp(o, "--quiet")) {
    a->quiet = 1;
    return 1;
  }
  if (!strcmp(o, "--same") || !strcmp(o, "--different")) {
    a->truth = !strcmp(o, "--same");
    return 1;
  }
  if (!has) return 0;
  int k = custom_option(cmd, o, v, &a->custom);
  if (k < 0) return -1;
  if (k) {
    (*i)++;
    return 1;
  }
  if (!strcmp(o, "--task")) {
    a->task = v;
  } else if (!strcmp(o, "--class")) {
    a->cls = v;
  } else if (!strcmp(o, "-o") || !strcmp(o, "--out")) {
    a->out_dir = v;
  } else if (!strcmp(o, "--centres") || !strcmp(o, "--centers")) {
    static const char *const n[] = {"mesh", "grid"};
    if ((k = parse_choice(cmd, o, v, n, 2)) < 0) return -1;
    if (k == 0) a->grid_stride = 0;
    if (k == 1 && a->grid_stride == 0) a->grid_stride = 8;
  } else if (!strcmp(o, "--stride")) {
    if (csm_cli_parse_int(v, &a->grid_stride) || a->grid_stride > 1024)
      return csm_cli_usage_error(cmd, "--stride takes an integer in 1..1024"), -1;
  } else if (!strcmp(o, "--patch-space")) {
    static const char *const n[] = {"canonical", "image"};
    if ((k = parse_choice(cmd, o, v, n, 2)) < 0) return -1;
    a->occ.space = k ? CSM_PATCH_IMAGE : CSM_PATCH_CANONICAL;
  } else if (!strcmp(o, "--patch")) {
    if (parse_pos(cmd, o, v, &a->occ.patch)) return -1;
  } else if (!strcmp(o, "--footprint")) {
    if (parse_pos(cmd, o, v, &a->occ.footprint) || a->occ.footprint < 1)
      return csm_cli_usage_error(cmd, "--footprint takes a number >= 1"), -1;
  } else if (!strcmp(o, "--fill")) {
    static const char *const n[] = {"zero", "mean", "blur"};
    if ((k = parse_choice(cmd, o, v, n, 3)) < 0) return -1;
    a->occ.fill = (csm_fill)k;
  } else if (!strcmp(o, "--size")) {
    if (csm_cli_parse_int(v, &a->size) || a->size < 32 || a->size > 4096)
      return csm_cli_usage_error(cmd, "--size takes an integer in 32..4096"), -1;
  } else if (!strcmp(o, "--batch")) {
    if (csm_cli_parse_int(v, &a->batch) || a->batch > 4096)
      return csm_cli_usage_error(cmd, "--batch takes an integer in 1..4096"), -1;
  } else if (!strcmp(o, "--align")) {
    static const char *const n[] = {"facemesh", "prnet"};
    if ((k = parse_choice(cmd, o, v, n, 2)) < 0) return -1;
    a->prnet = k;
  } else if (!strcmp(o, "--meshes")) {
    a->meshes = v;
  } else if (!strcmp(o, "--canonical-mesh")) {
    a->canonical_mesh = v;
  } else if (!strcmp(o, "--canonical")) {
    a->canonical_photo = v;
  } else if (!strcmp(o, "--embedding")) {
    a->embedding = v;
  } else if (!strcmp(o, "--threshold")) {
    char *end;
    a->threshold = strtod(v, &end);
    if (end == v || *end || !isfinite(a->threshold))
      return csm_cli_usage_error(cmd, "--threshold takes a number"), -1;
  } else if (!strcmp(o, "--calibrate")) {
    a->calibrate = v;
  } else if (!strcmp(o, "--gallery")) {
    a->gallery = v;
  } else if (!strcmp(o, "--identity")) {
    a->identity = v;
  } else {
    return 0;
  }
  (*i)++;
  return 1;
}

/* The task description that the run explains: a zoo entry, the embedding
 * task of verify/identify, or the custom model's flags. */
static const csm_task_info *explained_info(const explain_args *a) {
  if (a->custom.model) return &a->custom.info;
  if (a->mode != EXPLAIN_CLASSIFY) return csm_task_find(a->embedding);
  return csm_task_find(a->task);
}

int explain_args_check(const char *cmd, explain_args *a) {
  if (custom_args_check(cmd, &a->custom)) return CSM_EXIT_USAGE;
  if (!a->task && !a->custom.model)
    return csm_cli_usage_error(cmd, "--task (or --model) is required (see 'csm tasks')");
  if (!a->task) a->task = "custom";
  a->mode = !strcmp(a->task, "verify")     ? EXPLAIN_VERIFY
            : !strcmp(a->task, "identify") ? EXPLAIN_IDENTIFY
                                           : EXPLAIN_CLASSIFY;
  if (a->mode != EXPLAIN_CLASSIFY && !a->embedding && !a->custom.model)
    a->embedding = "embed-faceres";
  if (a->custom.model && a->mode == EXPLAIN_CLASSIFY && strcmp(a->task, "custom"))
    return csm_cli_usage_error(cmd, "--model makes a custom task: drop --task %s", a->task);
  if (a->custom.model && a->mode != EXPLAIN_CLASSIFY) a->custom.info.kind = CSM_TASK_EMBEDDING;
  if (!a->custom.model && !strcmp(a->task, "custom"))
    return csm_cli_usage_error(cmd, "--task custom needs --model PATH");
  const csm_task_info *info = explained_info(a);
  if (!info)
    return csm_cli_usage_error(cmd, "unknown task '%s' (see 'csm tasks')",
                               a->mode == EXPLAIN_CLASSIFY ? a->task : a->embedding);
  if (a->mode == EXPLAIN_CLASSIFY && info->kind == CSM_TASK_EMBEDDING)
    return csm_cli_usage_error(cmd, "task '%s' gives embeddings: use --task verify or identify",
                               a->task);
  if (a->mode != EXPLAIN_CLASSIFY && info->kind != CSM_TASK_EMBEDDING)
    return csm_cli_usage_error(cmd, "--embedding %s is not an embedding task", a->embedding);
  if (a->mode == EXPLAIN_VERIFY && isnan(a->threshold) && !a->calibrate)
    return csm_cli_usage_error(cmd, "--task verify needs --threshold T or --calibrate PAIRS");
  if (a->mode != EXPLAIN_VERIFY && (!isnan(a->threshold) || a->calibrate || a->truth >= 0))
    return csm_cli_usage_error(cmd, "--threshold, --calibrate, --same, --different: verify only");
  if (a->mode == EXPLAIN_IDENTIFY && !a->gallery)
    return csm_cli_usage_error(cmd, "--task identify needs --gallery DIR");
  if (a->mode != EXPLAIN_IDENTIFY && (a->gallery || a->identity))
    return csm_cli_usage_error(cmd, "--gallery and --identity are for --task identify");
  if (a->mode != EXPLAIN_CLASSIFY && a->cls)
    return csm_cli_usage_error(cmd, "--class is for classification tasks");
  if (a->mode == EXPLAIN_CLASSIFY && a->cls && info->n_classes > 0 &&
      csm_task_class_index(info, a->cls) < 0)
    return csm_cli_usage_error(cmd, "task %s has no class '%s'", a->task, a->cls);
  if (a->cls && info->kind == CSM_TASK_VALUE)
    return csm_cli_usage_error(cmd, "task %s has no classes (it regresses a value)", a->task);
  if (!a->out_dir) return csm_cli_usage_error(cmd, "-o DIR is required");
  if (a->prnet && (!a->meshes || !a->canonical_mesh))
    return csm_cli_usage_error(cmd, "--align prnet needs --meshes DIR and --canonical-mesh M");
  if (!a->prnet && (a->meshes || a->canonical_mesh))
    return csm_cli_usage_error(cmd, "--meshes and --canonical-mesh need --align prnet");
  if (a->prnet && a->mode == EXPLAIN_VERIFY)
    return csm_cli_usage_error(cmd, "--align prnet explains one image at a time, not pairs");
  if (a->prnet && a->canonical_photo)
    return csm_cli_usage_error(cmd, "--canonical is for FaceMesh alignment (PRNet draws on "
                                    "frontal.jpg)");
  /* Unset options take the mode's defaults: the reference's 15 px image
   * squares at 224 for PRNet, canonical squares of 20 px at 256 otherwise. */
  if ((int)a->occ.space < 0) a->occ.space = a->prnet ? CSM_PATCH_IMAGE : CSM_PATCH_CANONICAL;
  if (a->occ.patch < 0) a->occ.patch = a->prnet ? PRNET_PATCH : 0;
  if (a->occ.patch == 0) a->occ.patch = a->occ.space == CSM_PATCH_IMAGE ? 15 : 20;
  if (a->occ.footprint < 0) a->occ.footprint = a->prnet ? PRNET_PATCH : 20;
  if (!a->size) a->size = a->prnet ? PRNET_SIZE : FACEMESH_CANON_SIZE;
  if (a->batch) a->occ.max_batch = a->batch;
  /* How the task finds faces; the mesh is always needed here. */
  csm_detect_options want = csm_task_detect_options(info);
  if (!a->det_user_detector) a->det.detector = want.detector;
  if (!a->det_user_score) a->det.min_score = want.min_score;
  a->det.hard_nms = want.hard_nms;
  a->det.mesh = 1;
  a->det.refine = info->human_grid ? want.refine : 1;
  return 0;
}

void explain_write_parameters(FILE *fp, const explain_args *a, int canon_size) {
  static const char *const fills[] = {"zero", "mean", "blur"};
  fprintf(fp, "{\"align\": \"%s\", \"centres\": \"%s\", \"stride\": %d, ",
          a->prnet ? "prnet" : "facemesh", a->grid_stride ? "grid" : "mesh", a->grid_stride);
  fprintf(fp, "\"patch_space\": \"%s\", \"patch\": ",
          a->occ.space == CSM_PATCH_IMAGE ? "image" : "canonical");
  csm_json_float(fp, a->occ.patch);
  fprintf(fp, ", \"footprint\": ");
  csm_json_float(fp, a->occ.footprint);
  fprintf(fp, ", \"fill\": \"%s\", \"canonical_size\": %d}", fills[a->occ.fill], canon_size);
}

int explain_progress_wanted(const explain_args *a) {
  if (a->quiet) return 0;
  const char *env = getenv("CSM_PROGRESS");
  if (env && *env) return strcmp(env, "0") != 0;
  return isatty(STDERR_FILENO);
}
