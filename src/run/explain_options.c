/* The explainer's options: defaults, the checks of their combination, the
 * mode's defaults, and their record in run.json. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "run_internal.h"

#define FACEMESH_CANON_SIZE 256
/* The reference implementation's patch: 15 px squares at 224-pixel inputs
 * (its CIS footprint follows from frontal.jpg's size: csm_explainer_open). */
#define PRNET_PATCH 15

void csm_explain_options_init(csm_explain_options *o) {
  memset(o, 0, sizeof *o);
  o->occ = csm_occlusion_options_default();
  o->occ.patch = -1, o->occ.footprint = -1, o->occ.space = (csm_patch_space)-1;
  o->occ.fill = (csm_fill)-1;
  o->det = csm_detect_options_default();
  o->threshold = NAN;
  o->truth = -1;
  /* A custom model's description: RGB in [0, 1], crop 1.4x upright,
   * probabilities; size and channels the model's (as csm_task_load_custom
   * completes them). */
  o->model_info.crop_scale = 1.4f;
  o->model_info.upright = 1;
  o->model_info.scale = 1;
  o->model_info.kind = CSM_TASK_PROBS;
}

/* The task description that the run explains: a zoo entry, the embedding
 * task of verify/identify, or the model file's. */
static const csm_task_info *explained_info(const csm_explain_options *o) {
  if (o->model) return &o->model_info;
  if (o->mode != CSM_EXPLAIN_CLASSIFY) return csm_task_find(o->embedding);
  return csm_task_find(o->task);
}

csm_status csm_explain_options_resolve(csm_explain_options *o) {
  if (!o->task && !o->model)
    return csm_fail(CSM_EUSAGE, "--task (or --model) is required (see 'csm tasks')");
  if (!o->task) o->task = "custom";
  o->mode = !strcmp(o->task, "verify")     ? CSM_EXPLAIN_VERIFY
            : !strcmp(o->task, "identify") ? CSM_EXPLAIN_IDENTIFY
                                           : CSM_EXPLAIN_CLASSIFY;
  if (o->mode != CSM_EXPLAIN_CLASSIFY && !o->embedding && !o->model) o->embedding = "embed-faceres";
  if (o->model && o->mode == CSM_EXPLAIN_CLASSIFY && strcmp(o->task, "custom"))
    return csm_fail(CSM_EUSAGE, "--model makes a custom task: drop --task %s", o->task);
  if (o->model && o->mode != CSM_EXPLAIN_CLASSIFY) o->model_info.kind = CSM_TASK_EMBEDDING;
  if (!o->model && !strcmp(o->task, "custom"))
    return csm_fail(CSM_EUSAGE, "--task custom needs --model PATH");
  const csm_task_info *info = explained_info(o);
  if (!info)
    return csm_fail(CSM_EUSAGE, "unknown task '%s' (see 'csm tasks')",
                    o->mode == CSM_EXPLAIN_CLASSIFY ? o->task : o->embedding);
  if (o->mode == CSM_EXPLAIN_CLASSIFY && info->kind == CSM_TASK_EMBEDDING)
    return csm_fail(CSM_EUSAGE, "task '%s' gives embeddings: use --task verify or identify",
                    o->task);
  if (o->mode != CSM_EXPLAIN_CLASSIFY && info->kind != CSM_TASK_EMBEDDING)
    return csm_fail(CSM_EUSAGE, "--embedding %s is not an embedding task", o->embedding);
  if (o->mode == CSM_EXPLAIN_VERIFY && isnan(o->threshold) && !o->calibrate)
    return csm_fail(CSM_EUSAGE, "--task verify needs --threshold T or --calibrate PAIRS");
  if (o->mode != CSM_EXPLAIN_VERIFY && (!isnan(o->threshold) || o->calibrate || o->truth >= 0))
    return csm_fail(CSM_EUSAGE, "--threshold, --calibrate, --same, --different: verify only");
  if (o->mode == CSM_EXPLAIN_IDENTIFY && !o->gallery)
    return csm_fail(CSM_EUSAGE, "--task identify needs --gallery DIR");
  if (o->mode != CSM_EXPLAIN_IDENTIFY && (o->gallery || o->identity))
    return csm_fail(CSM_EUSAGE, "--gallery and --identity are for --task identify");
  if (o->mode != CSM_EXPLAIN_CLASSIFY && o->cls)
    return csm_fail(CSM_EUSAGE, "--class is for classification tasks");
  if (o->mode == CSM_EXPLAIN_CLASSIFY && o->cls && info->n_classes > 0 &&
      csm_task_class_index(info, o->cls) < 0)
    return csm_fail(CSM_EUSAGE, "task %s has no class '%s'", o->task, o->cls);
  if (o->cls && info->kind == CSM_TASK_VALUE)
    return csm_fail(CSM_EUSAGE, "task %s has no classes (it regresses a value)", o->task);
  if (o->prnet && (!o->meshes || !o->canonical_mesh))
    return csm_fail(CSM_EUSAGE, "--align prnet needs --meshes DIR and --canonical-mesh M");
  if (!o->prnet && (o->meshes || o->canonical_mesh))
    return csm_fail(CSM_EUSAGE, "--meshes and --canonical-mesh need --align prnet");
  if (o->prnet && o->mode == CSM_EXPLAIN_VERIFY)
    return csm_fail(CSM_EUSAGE, "--align prnet explains one image at a time, not pairs");
  if (o->prnet && o->canonical_photo)
    return csm_fail(CSM_EUSAGE, "--canonical is for FaceMesh alignment (PRNet draws on "
                                "frontal.jpg)");
  if (o->size && (o->size < 32 || o->size > 4096))
    return csm_fail(CSM_EUSAGE, "--size takes an integer in 32..4096");
  if (o->prnet && o->size)
    return csm_fail(CSM_EUSAGE, "--size: with --align prnet the maps are in frontal.jpg's "
                                "pixels, as the reference code's");
  if ((int)o->occ.fill < CSM_FILL_ZERO || o->occ.fill > CSM_FILL_INPUT_ZERO)
    o->occ.fill = o->prnet ? CSM_FILL_INPUT_ZERO : CSM_FILL_ZERO;
  /* Unset options take the mode's defaults: the reference code's 15 px
   * image squares at 224 and its rules for PRNet (the footprint then comes
   * with frontal.jpg's size, when the explainer opens), canonical squares
   * of 20 px at 256 otherwise. */
  if ((int)o->occ.space < 0) o->occ.space = o->prnet ? CSM_PATCH_IMAGE : CSM_PATCH_CANONICAL;
  if (o->occ.patch < 0) o->occ.patch = o->prnet ? PRNET_PATCH : 0;
  if (o->occ.patch == 0) o->occ.patch = o->occ.space == CSM_PATCH_IMAGE ? 15 : 20;
  if (o->occ.footprint < 0 && !o->prnet) o->occ.footprint = 20;
  o->occ.square = o->prnet ? CSM_SQUARE_REFERENCE : CSM_SQUARE_CENTRED;
  if (!o->size && !o->prnet) o->size = FACEMESH_CANON_SIZE;
  if (o->batch) o->occ.max_batch = o->batch;
  /* How the task finds faces; the mesh is always needed here. */
  csm_detect_options want = csm_task_detect_options(info);
  if (!o->det_detector_given) o->det.detector = want.detector;
  if (!o->det_min_score_given) o->det.min_score = want.min_score;
  o->det.hard_nms = want.hard_nms;
  o->det.mesh = 1;
  o->det.refine = info->human_grid ? want.refine : 1;
  return CSM_OK;
}

void csm_explain_options_write_json(FILE *fp, const csm_explain_options *o, int canon_size) {
  static const char *const fills[] = {"zero", "mean", "blur", "input-zero"};
  fprintf(fp, "{\"align\": \"%s\", \"centres\": \"%s\", \"stride\": %d, ",
          o->prnet ? "prnet" : "facemesh", o->grid_stride ? "grid" : "mesh", o->grid_stride);
  fprintf(fp, "\"patch_space\": \"%s\", \"patch\": ",
          o->occ.space == CSM_PATCH_IMAGE ? "image" : "canonical");
  csm_json_float(fp, o->occ.patch);
  fprintf(fp, ", \"footprint\": ");
  csm_json_float(fp, o->occ.footprint);
  fprintf(fp, ", \"fill\": \"%s\", \"canonical_size\": %d}", fills[o->occ.fill], canon_size);
}
