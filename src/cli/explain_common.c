/* Shared by csm cis, csm cms and csm demo: options, resources, one face's
 * CIS and its files. */
#include "explain_common.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FACEMESH_CANON_SIZE 256
/* The reference implementation's frame: 224-pixel inputs, 15 px squares. */
#define PRNET_SIZE 224
#define PRNET_PATCH 15
#define PRNET_STRIDE 20

const char *explain_options_help =
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
    "Any model (a custom task):\n"
    "  --model PATH         a TF.js model.json; its input is the face crop\n"
    "  --input-size N       input N x N (default: the model's)\n"
    "  --channels C         rgb (default), bgr or gray\n"
    "  --range LO,HI        input values of black and white (default 0,1)\n"
    "  --output NAME        output node (default: the first)\n"
    "  --confidence K       probs (default), softmax (logits in), sigmoid, logit,\n"
    "                       value, embedding (with --task verify or identify)\n"
    "  --crop-scale S       crop side / face box side (default 1.4)\n"
    "  --classes A,B,...    class names (default: 0, 1, ...)\n\n"
    "The reference implementation's mode (PRNet alignments, no detection):\n"
    "  --align prnet        align with a PRNet mesh per image: the whole image is the\n"
    "                       model's input; centres are the canonical vertices[::20];\n"
    "                       15 px squares at 224 px, a 224 x 224 canonical frame\n"
    "  --meshes DIR         <DIR>/<stem>_mesh.mat per image (`vertices` N x 3)\n"
    "  --canonical-mesh M   PRNet's frontal mesh (frontal_mesh.mat); frontal.jpg beside\n"
    "                       it is drawn under the maps\n";

void explain_args_init(explain_args *a) {
  memset(a, 0, sizeof *a);
  a->occ = csm_occlusion_options_default();
  a->occ.patch = -1, a->occ.footprint = -1, a->occ.space = (csm_patch_space)-1;
  a->det = csm_detect_options_default();
  a->threshold = NAN;
  a->truth = -1;
  a->custom.crop_scale = 1.4f;
  a->custom.upright = 1;
  a->custom.scale = 1;
  a->custom.kind = CSM_TASK_PROBS;
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
  int k;
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
  } else if (!strcmp(o, "--model")) {
    a->model = v;
  } else if (!strcmp(o, "--input-size")) {
    if (csm_cli_parse_int(v, &a->custom.size) || a->custom.size > 4096)
      return csm_cli_usage_error(cmd, "--input-size takes an integer in 1..4096"), -1;
  } else if (!strcmp(o, "--channels")) {
    static const char *const n[] = {"rgb", "bgr", "gray"};
    if ((k = parse_choice(cmd, o, v, n, 3)) < 0) return -1;
    a->custom.channels = k == 2 ? 1 : 3;
    a->custom.bgr = k == 1;
  } else if (!strcmp(o, "--range")) {
    double r[2];
    if (csm_cli_parse_doubles(v, r, 2) || r[0] == r[1])
      return csm_cli_usage_error(cmd, "--range takes LO,HI (two different numbers)"), -1;
    a->custom.offset = (float)r[0], a->custom.scale = (float)(r[1] - r[0]);
  } else if (!strcmp(o, "--output")) {
    a->custom.output = v;
  } else if (!strcmp(o, "--confidence")) {
    static const char *const n[] = {"probs", "softmax", "sigmoid", "logit", "value", "embedding"};
    static const csm_task_output kinds[] = {CSM_TASK_PROBS, CSM_TASK_LOGITS, CSM_TASK_SIGMOID,
                                            CSM_TASK_LOGIT, CSM_TASK_VALUE,  CSM_TASK_EMBEDDING};
    if ((k = parse_choice(cmd, o, v, n, 6)) < 0) return -1;
    a->custom.kind = kinds[k];
  } else if (!strcmp(o, "--crop-scale")) {
    double d;
    if (parse_pos(cmd, o, v, &d)) return -1;
    a->custom.crop_scale = (float)d;
  } else if (!strcmp(o, "--classes")) {
    free(a->classes_buf);
    a->classes_buf = strdup(v);
    if (!a->classes_buf) return csm_cli_usage_error(cmd, "out of memory"), -1;
    int n = 0;
    for (char *t = strtok(a->classes_buf, ","); t; t = strtok(NULL, ",")) {
      if (n == CSM_TASK_MAX_CLASSES)
        return csm_cli_usage_error(cmd, "--classes: at most %d", CSM_TASK_MAX_CLASSES), -1;
      a->custom_labels[n++] = t;
    }
    a->custom.n_classes = n;
    a->custom.labels = a->custom_labels;
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
  if (a->model) return &a->custom;
  if (a->mode != EXPLAIN_CLASSIFY) return csm_task_find(a->embedding);
  return csm_task_find(a->task);
}

int explain_args_check(const char *cmd, explain_args *a) {
  if (!a->task && !a->model)
    return csm_cli_usage_error(cmd, "--task (or --model) is required (see 'csm tasks')");
  if (!a->task) a->task = "custom";
  a->mode = !strcmp(a->task, "verify")     ? EXPLAIN_VERIFY
            : !strcmp(a->task, "identify") ? EXPLAIN_IDENTIFY
                                           : EXPLAIN_CLASSIFY;
  if (a->mode != EXPLAIN_CLASSIFY && !a->embedding && !a->model) a->embedding = "embed-faceres";
  if (a->model && a->mode == EXPLAIN_CLASSIFY && strcmp(a->task, "custom"))
    return csm_cli_usage_error(cmd, "--model makes a custom task: drop --task %s", a->task);
  if (a->model && a->mode != EXPLAIN_CLASSIFY) a->custom.kind = CSM_TASK_EMBEDDING;
  if (!a->model && !strcmp(a->task, "custom"))
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
  if (a->model && a->custom.channels == 0 && a->custom.size) a->custom.channels = 3;
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

/* ---- Resources ------------------------------------------------------------ */

static csm_status largest_face(csm_face_detector *det, const csm_image *img, const char *path,
                               csm_face *out) {
  csm_face *faces = NULL;
  int n = 0;
  csm_status st = csm_face_detect(det, img, &faces, &n);
  if (!st && (n == 0 || !faces[0].has_mesh)) st = csm_fail(CSM_EINPUT, "%s: no face found", path);
  if (!st) *out = faces[0];
  free(faces);
  return st;
}

static csm_status open_background(explain_ctx *x, const explain_args *a) {
  if (x->pc) {
    /* frontal.jpg beside frontal_mesh.mat, as in the reference's data. */
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s", a->canonical_mesh);
    char *slash = strrchr(path, '/');
    size_t at = slash ? (size_t)(slash - path + 1) : 0;
    snprintf(path + at, sizeof path - at, "frontal.jpg");
    csm_image photo = {0};
    if (access(path, R_OK) != 0) return CSM_OK; /* no picture: maps on grey */
    csm_status st = csm_image_load(path, &photo);
    if (!st) st = csm_prnet_canon_background(x->pc, &photo, &x->background);
    csm_image_free(&photo);
    return st;
  }
  if (!a->canonical_photo) return csm_canon_render(x->canon, x->size, &x->background);
  csm_image photo = {0};
  csm_face face;
  csm_status st = csm_image_load(a->canonical_photo, &photo);
  if (!st) st = largest_face(x->det, &photo, a->canonical_photo, &face);
  if (!st) st = csm_canon_from_photo(x->canon, &photo, &face, x->size, &x->background);
  csm_image_free(&photo);
  return st;
}

/* A custom model: input size and channels default to the model's own. */
static csm_status load_custom(const explain_args *a, csm_task **out) {
  csm_task_info info = a->custom;
  if (!info.size || !a->custom.channels) {
    csm_model *m = NULL;
    csm_status st = csm_model_load(a->model, &m);
    if (st) return st;
    csm_shape in = csm_model_input_shape(m, 0);
    csm_model_free(m);
    if (in.rank != 4 || in.d[1] <= 0 || in.d[1] != in.d[2] || in.d[1] > 4096)
      return csm_fail(CSM_EINPUT, "%s: input is not a square NHWC image: give --input-size",
                      a->model);
    if (!info.size) info.size = (int)in.d[1];
    if (!info.channels) info.channels = in.d[3] == 1 ? 1 : 3;
  }
  info.name = "custom";
  return csm_task_load_custom(a->model, &info, out);
}

/* The largest face of an image and its model input. */
static csm_status face_input(explain_ctx *x, const char *path, float *input) {
  csm_image img = {0};
  csm_face face;
  const csm_task_info *info = csm_task_get_info(x->task);
  csm_status st = csm_image_load(path, &img);
  if (!st) st = largest_face(x->det, &img, path, &face);
  if (!st) st = csm_task_preprocess(info, &img, &face, input);
  csm_image_free(&img);
  return st;
}

static float cosine(const float *a, const float *b, int n) {
  double s = 0, na = 0, nb = 0;
  for (int k = 0; k < n; k++)
    s += (double)a[k] * b[k], na += (double)a[k] * a[k], nb += (double)b[k] * b[k];
  return na > 0 && nb > 0 ? (float)(s / sqrt(na * nb)) : 0;
}

/* --calibrate PAIRS: the threshold with the best accuracy on the pairs. */
static csm_status calibrate(explain_ctx *x, const explain_args *a) {
  explain_input *in = NULL;
  int n = 0;
  char *buf = NULL;
  csm_status st = explain_inputs(a, NULL, 0, a->calibrate, &in, &n, &buf);
  int dim = csm_task_embedding_dim(x->task);
  size_t numel = csm_task_input_numel(csm_task_get_info(x->task));
  float *inputs = csm_malloc_array(2 * numel, sizeof(float));
  float *emb = csm_malloc_array(2 * (size_t)(dim > 0 ? dim : 1), sizeof(float));
  float *sims = csm_malloc_array((size_t)(n > 0 ? n : 1), sizeof(float));
  int *same = csm_malloc_array((size_t)(n > 0 ? n : 1), sizeof(int));
  if (!st && (!inputs || !emb || !sims || !same)) st = CSM_ENOMEM;
  for (int i = 0; !st && i < n; i++) {
    if (in[i].truth < 0)
      st = csm_fail(CSM_EINPUT, "%s: line for %s %s: say same or different", a->calibrate,
                    in[i].path, in[i].path2);
    if (!st) st = face_input(x, in[i].path, inputs);
    if (!st) st = face_input(x, in[i].path2, inputs + numel);
    if (!st) st = csm_task_embed(x->task, inputs, 2, emb);
    if (!st) sims[i] = cosine(emb, emb + dim, dim), same[i] = in[i].truth;
  }
  float acc = 0;
  if (!st) st = csm_verify_calibrate(sims, same, n, &x->threshold, &acc);
  if (!st)
    fprintf(stderr, "csm: verification threshold %.4f (accuracy %.3f on %d pairs of %s)\n",
            x->threshold, acc, n, a->calibrate);
  free(inputs);
  free(emb);
  free(sims);
  free(same);
  free(in);
  free(buf);
  return st ? csm_fail_context(st, "--calibrate: ") : CSM_OK;
}

csm_status explain_open(const explain_args *a, explain_ctx *x) {
  memset(x, 0, sizeof *x);
  x->size = a->size;
  x->cls = -1;
  x->threshold = (float)a->threshold;
  csm_status st =
      a->model ? load_custom(a, &x->task)
               : csm_task_load(csm_cli_models_dir(),
                               a->mode == EXPLAIN_CLASSIFY ? a->task : a->embedding, &x->task);
  if (st) return st;
  const csm_task_info *info = csm_task_get_info(x->task);
  if (a->cls) x->cls = csm_task_class_index(info, a->cls);
  if (a->prnet) {
    st = csm_prnet_canon_load(a->canonical_mesh, PRNET_STRIDE, x->size, &x->pc);
    if (st) return csm_fail_context(st, "%s: ", a->canonical_mesh);
  } else {
    if ((st = csm_canon_default(&x->canon))) return st;
    if ((st = csm_face_detector_create(csm_cli_models_dir(), &a->det, &x->det))) return st;
  }
  if (a->mode == EXPLAIN_IDENTIFY) {
    if ((st = csm_gallery_load_dir(&x->gallery, x->task, x->det, a->gallery))) return st;
    if (a->identity && csm_gallery_find(x->gallery, a->identity) < 0)
      return csm_fail(CSM_EUSAGE, "--identity %s: not in the gallery %s", a->identity, a->gallery);
  }
  if (a->mode == EXPLAIN_VERIFY && a->calibrate && (st = calibrate(x, a))) return st;
  size_t npx = (size_t)x->size * x->size;
  x->mask = csm_malloc(npx);
  if (!x->mask) return CSM_ENOMEM;
  if (x->canon) {
    /* The canonical mask at the raster's size (nearest pixel). */
    const unsigned char *m = csm_canon_mask(x->canon);
    int cw = csm_canon_width(x->canon), ch = csm_canon_height(x->canon);
    for (int j = 0; j < x->size; j++)
      for (int i = 0; i < x->size; i++) {
        int si = (int)((i + 0.5) * cw / x->size), sj = (int)((j + 0.5) * ch / x->size);
        x->mask[(size_t)j * x->size + i] = m[(size_t)sj * cw + si];
      }
  } else {
    memset(x->mask, 1, npx);
  }
  if (a->grid_stride > 0) {
    st = csm_centres_grid(x->mask, x->size, x->size, a->grid_stride, &x->centres, &x->n_centres);
  } else if (x->canon) {
    st = csm_centres_mesh(x->canon, x->size, &x->centres, &x->n_centres);
  } else {
    int n = csm_prnet_canon_num_vertices(x->pc);
    x->centres = csm_malloc_array((size_t)n, 2 * sizeof(float));
    if (!x->centres) return CSM_ENOMEM;
    memcpy(x->centres, csm_prnet_canon_xy(x->pc), (size_t)n * 2 * sizeof(float));
    x->n_centres = n;
  }
  if (st) return st;
  return open_background(x, a);
}

void explain_close(explain_ctx *x) {
  csm_gallery_free(x->gallery);
  csm_task_free(x->task);
  csm_face_detector_free(x->det);
  csm_canon_free(x->canon);
  csm_prnet_canon_free(x->pc);
  free(x->centres);
  free(x->mask);
  csm_image_free(&x->background);
  memset(x, 0, sizeof *x);
}

void face_cis_free(face_cis *f) {
  if (!f) return;
  csm_occlusion_free(&f->occ);
  csm_map_free(&f->cis);
  csm_image_free(&f->crop);
}

/* ---- One image ------------------------------------------------------------ */

void explain_stem(const char *path, char *buf, size_t len) {
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  snprintf(buf, len, "%s", base);
  char *dot = strrchr(buf, '.');
  if (dot && dot != buf) *dot = 0;
}

static void print_progress(void *ctx, int done, int total) {
  explain_progress *p = ctx;
  if (!p->enabled) return;
  double el = csm_now() - p->t_start;
  double faces = p->faces_done + (total ? (double)done / total : 1);
  double rate = el > 0 ? faces / el : 0;
  double left =
      rate > 0 && p->faces_total_estimate > faces ? (p->faces_total_estimate - faces) / rate : 0;
  fprintf(stderr, "\r%s: image %d/%d, face %d/%d: %d/%d occlusions | %.2f faces/s, ETA %d:%02d   ",
          p->cmd, p->image, p->n_images, p->face, p->n_faces, done, total, rate, (int)(left / 60),
          (int)left % 60);
}

static csm_status prnet_mesh_path(const explain_args *a, const char *image, char *buf, size_t len) {
  char stem[PATH_MAX];
  explain_stem(image, stem, sizeof stem);
  if (snprintf(buf, len, "%s/%s_mesh.mat", a->meshes, stem) >= (int)len)
    return csm_fail(CSM_EUSAGE, "mesh path too long for %s", image);
  return CSM_OK;
}

/* The face's correspondence and crop matrix; PRNet: the whole image
 * stretched to the input, as the reference feeds its aligned photos. */
static csm_status face_geometry(explain_ctx *x, const explain_args *a, const char *path,
                                const csm_image *img, const csm_face *face, double m[6],
                                csm_corr **corr) {
  const csm_task_info *info = csm_task_get_info(x->task);
  if (!x->pc) {
    csm_status st = csm_task_crop_matrix_image(info, face, img->w, img->h, m);
    if (!st) st = csm_canon_corr(x->canon, face, img->w, img->h, x->size, corr);
    return st;
  }
  m[0] = (double)img->w / info->size, m[1] = 0, m[2] = 0;
  m[3] = 0, m[4] = (double)img->h / info->size, m[5] = 0;
  char mesh[PATH_MAX];
  float *v = NULL;
  int rows = 0, cols = 0;
  csm_status st = prnet_mesh_path(a, path, mesh, sizeof mesh);
  if (!st) st = csm_mat_read_matrix(mesh, "vertices", &v, &rows, &cols);
  if (!st && cols != 3) st = csm_fail(CSM_EINPUT, "%s: vertices has %d columns, not 3", mesh, cols);
  if (!st) {
    st = csm_prnet_corr(x->pc, v, rows, img->w, img->h, corr);
    if (st) st = csm_fail_context(st, "%s: ", mesh);
  }
  free(v);
  return st;
}

/* The scorer for a sample and what it explains: the class (classify), the
 * identity (identify), or the pair's truth at the threshold (verify). */
static csm_status sample_scorer(explain_ctx *x, const explain_args *a, const explain_input *in,
                                const float *inputs, int views, face_cis *f, csm_scorer *sc) {
  const csm_task_info *info = csm_task_get_info(x->task);
  csm_status st;
  f->extra[0] = 0;
  if (a->mode == EXPLAIN_CLASSIFY) {
    csm_task_result res;
    if ((st = csm_task_run(x->task, inputs, 1, &res))) return st;
    f->label = info->n_classes > 0 ? (x->cls >= 0 ? x->cls : res.label) : -1;
    snprintf(f->label_name, sizeof f->label_name, "%s",
             f->label >= 0 ? info->labels[f->label] : "value");
    return csm_scorer_class(x->task, f->label < 0 ? 0 : f->label, sc);
  }
  int dim = csm_task_embedding_dim(x->task);
  float *emb = csm_malloc_array((size_t)views * (dim > 0 ? dim : 1), sizeof(float));
  if (!emb) return CSM_ENOMEM;
  st = csm_task_embed(x->task, inputs, views, emb);
  if (!st && a->mode == EXPLAIN_IDENTIFY) {
    const char *want = in->identity ? in->identity : a->identity;
    float sim = 0;
    int id = want ? csm_gallery_find(x->gallery, want) : -1;
    if (want && id < 0)
      st = csm_fail(CSM_EINPUT, "identity %s is not in the gallery", want);
    else if (!want)
      st = csm_gallery_nearest(x->gallery, emb, &id, &sim);
    if (!st) {
      sim = csm_gallery_similarity(x->gallery, id, emb);
      f->label = id;
      snprintf(f->label_name, sizeof f->label_name, "%s", csm_gallery_name(x->gallery, id));
      snprintf(f->extra, sizeof f->extra, ", \"similarity\": %.6g", sim);
      st = csm_scorer_identify(x->task, x->gallery, id, sc);
    }
  } else if (!st) {
    float sim = cosine(emb, emb + dim, dim);
    int genuine = in->truth >= 0 ? in->truth : a->truth >= 0 ? a->truth : sim > x->threshold;
    f->label = genuine;
    snprintf(f->label_name, sizeof f->label_name, "%s", genuine ? "genuine" : "impostor");
    snprintf(f->extra, sizeof f->extra,
             ", \"similarity\": %.6g, \"threshold\": %.6g, \"truth\": %s", sim, x->threshold,
             in->truth >= 0 || a->truth >= 0 ? "\"given\"" : "\"model\"");
    st = csm_scorer_verify(x->task, x->threshold, genuine, sc);
  }
  free(emb);
  return st;
}

/* One sample: `views` faces (1; 2 for a verify pair) occluded together. */
static csm_status explain_sample(explain_ctx *x, const explain_args *a, const explain_input *in,
                                 const csm_image *const *imgs, const csm_face *faces, int views,
                                 explain_progress *pr, face_cis *f) {
  const csm_task_info *info = csm_task_get_info(x->task);
  size_t numel = csm_task_input_numel(info);
  float *inputs = csm_malloc_array(numel * views, sizeof(float));
  float *rgb = csm_malloc_array((size_t)info->size * info->size * 3, sizeof(float));
  unsigned char *valid = csm_malloc((size_t)x->size * x->size);
  csm_corr *corr[2] = {NULL, NULL};
  csm_view view[2];
  csm_scorer sc;
  memset(&sc, 0, sizeof sc);
  memset(view, 0, sizeof view);
  csm_status st = inputs && rgb && valid ? CSM_OK : CSM_ENOMEM;
  const char *paths[2] = {in->path, in->path2};
  for (int v = 0; !st && v < views; v++) {
    double *m = view[v].crop;
    st = face_geometry(x, a, paths[v], imgs[v], &faces[v], m, &corr[v]);
    if (!st) st = csm_task_preprocess_matrix(info, imgs[v], m, inputs + numel * v);
    if (st && views > 1) st = csm_fail_context(st, "%s: ", paths[v]);
    view[v].input = inputs + numel * v;
    view[v].corr = corr[v];
  }
  if (!st) st = sample_scorer(x, a, in, inputs, views, f, &sc);
  if (!st) {
    snprintf(f->what, sizeof f->what, "%s", sc.what);
    csm_occlusion_options opt = a->occ;
    opt.progress = print_progress;
    opt.progress_ctx = pr;
    st = csm_occlusion_run(&sc, view, x->centres, x->n_centres, x->size, x->size, &opt, &f->occ);
    if (!st) {
      csm_cis_valid(x->mask, view, views, x->size, x->size, valid);
      st = csm_cis_compute(&f->occ, a->occ.footprint, valid, x->size, x->size, &f->cis);
    }
  }
  /* The first face's crop as the model sees it, in colour, for the
   * input-space picture. */
  if (!st)
    st = csm_image_warp_affine(imgs[0], view[0].crop, info->size, info->size, 3, 0, 255, rgb);
  if (!st) {
    size_t n = (size_t)info->size * info->size * 3;
    f->crop.w = f->crop.h = info->size;
    f->crop.rgb = malloc(n);
    if (!f->crop.rgb) st = csm_fail(CSM_ENOMEM, "out of memory");
    for (size_t k = 0; !st && k < n; k++)
      f->crop.rgb[k] = (unsigned char)lrintf(fminf(fmaxf(rgb[k], 0), 255));
  }
  csm_scorer_free(&sc);
  csm_corr_free(corr[0]);
  csm_corr_free(corr[1]);
  free(inputs);
  free(rgb);
  free(valid);
  return st;
}

/* A verify pair: the largest face of each image, one sample. */
static csm_status explain_pair(explain_ctx *x, const explain_args *a, const explain_input *in,
                               explain_progress *pr, face_cis **faces_out, int *n_out) {
  csm_image img[2] = {{0}, {0}};
  csm_face face[2];
  csm_status st = csm_image_load(in->path, &img[0]);
  if (!st) st = csm_image_load(in->path2, &img[1]);
  if (!st) st = largest_face(x->det, &img[0], in->path, &face[0]);
  if (!st) st = largest_face(x->det, &img[1], in->path2, &face[1]);
  face_cis *f = st ? NULL : calloc(1, sizeof *f);
  if (!st && !f) st = csm_fail(CSM_ENOMEM, "out of memory");
  if (!st) {
    const csm_image *imgs[2] = {&img[0], &img[1]};
    f->face = face[0];
    f->face_index = 1;
    pr->face = pr->n_faces = 1;
    st = explain_sample(x, a, in, imgs, face, 2, pr, f);
    pr->faces_done++;
    if (st) {
      face_cis_free(f);
      free(f);
      f = NULL;
    }
  }
  csm_image_free(&img[0]);
  csm_image_free(&img[1]);
  *faces_out = f;
  *n_out = f ? 1 : 0;
  return st;
}

csm_status explain_input_run(explain_ctx *x, const explain_args *a, const explain_input *in,
                             explain_progress *pr, face_cis **faces_out, int *n_out) {
  *faces_out = NULL;
  *n_out = 0;
  if (in->path2) return explain_pair(x, a, in, pr, faces_out, n_out);
  const char *path = in->path;
  csm_image img = {0};
  csm_status st = csm_image_load(path, &img);
  if (st) return st;
  csm_face *found = NULL;
  int n = 0;
  if (x->pc) {
    found = calloc(1, sizeof *found);
    if (!found) st = csm_fail(CSM_ENOMEM, "out of memory");
    if (!st) {
      found->box[2] = (float)img.w, found->box[3] = (float)img.h, found->score = 1;
      n = 1;
    }
  } else {
    st = csm_face_detect(x->det, &img, &found, &n);
  }
  /* Faces FaceMesh could not fit cannot be aligned: left out. */
  int kept = 0;
  for (int k = 0; !st && k < n; k++)
    if (x->pc || found[k].has_mesh) found[kept++] = found[k];
  face_cis *faces = kept ? calloc((size_t)kept, sizeof *faces) : NULL;
  if (!st && kept && !faces) st = csm_fail(CSM_ENOMEM, "out of memory");
  int done = 0;
  const csm_image *imgs[1] = {&img};
  for (int k = 0; !st && k < kept; k++) {
    faces[k].face = found[k];
    faces[k].face_index = k + 1;
    pr->face = k + 1, pr->n_faces = kept;
    st = explain_sample(x, a, in, imgs, &found[k], 1, pr, &faces[k]);
    done = k + 1;
    pr->faces_done++;
  }
  if (st) {
    for (int k = 0; k < done; k++)
      face_cis_free(&faces[k]);
    free(faces);
    st = csm_fail_context(st, "%s: ", path);
  } else {
    *faces_out = faces;
    *n_out = kept;
  }
  free(found);
  csm_image_free(&img);
  return st;
}

/* ---- Inputs ------------------------------------------------------------ */

static int parse_truth(const char *s) {
  if (!strcmp(s, "same") || !strcmp(s, "1") || !strcmp(s, "genuine")) return 1;
  if (!strcmp(s, "different") || !strcmp(s, "0") || !strcmp(s, "impostor")) return 0;
  return -2;
}

csm_status explain_inputs(const explain_args *a, const char *const *pos, int n_pos,
                          const char *list, explain_input **out, int *n_out, char **buf_out) {
  *out = NULL, *n_out = 0, *buf_out = NULL;
  int pairs = a->mode == EXPLAIN_VERIFY;
  if (pairs && n_pos % 2)
    return csm_fail(CSM_EUSAGE, "--task verify takes images in pairs: %d given", n_pos);
  char *buf = NULL;
  size_t len = 0, lines = 0;
  if (list) {
    csm_status rst = csm_read_file(list, (size_t)1 << 30, &buf, &len);
    if (rst) return rst;
    lines = 1;
    for (size_t k = 0; k < len; k++)
      lines += buf[k] == '\n';
  }
  size_t cap = (size_t)(pairs ? n_pos / 2 : n_pos) + lines;
  explain_input *in = calloc(cap ? cap : 1, sizeof *in);
  if (!in) {
    free(buf);
    return csm_fail(CSM_ENOMEM, "out of memory");
  }
  int n = 0;
  for (int i = 0; i < n_pos; i += pairs ? 2 : 1) {
    in[n].path = pos[i];
    in[n].path2 = pairs ? pos[i + 1] : NULL;
    in[n].truth = -1;
    n++;
  }
  csm_status st = CSM_OK;
  int line_no = 0;
  for (char *line = buf, *next; !st && line && *line; line = next) {
    next = strchr(line, '\n');
    if (next) *next++ = 0;
    line_no++;
    char *f[4];
    int nf = 0;
    for (char *t = strtok(line, " \t\r,"); t && nf < 4; t = strtok(NULL, " \t\r,"))
      f[nf++] = t;
    if (nf == 0 || f[0][0] == '#') continue;
    in[n].truth = -1;
    if (pairs) {
      if (nf < 2 || nf > 3 || (nf == 3 && parse_truth(f[2]) < -1))
        st =
            csm_fail(CSM_EINPUT, "%s: line %d: want IMAGE1 IMAGE2 [same|different]", list, line_no);
      else
        in[n].path = f[0], in[n].path2 = f[1], in[n].truth = nf == 3 ? parse_truth(f[2]) : -1;
    } else if (a->mode == EXPLAIN_IDENTIFY) {
      if (nf > 2)
        st = csm_fail(CSM_EINPUT, "%s: line %d: want IMAGE [IDENTITY]", list, line_no);
      else
        in[n].path = f[0], in[n].identity = nf == 2 ? f[1] : NULL;
    } else if (nf > 1) {
      st = csm_fail(CSM_EINPUT, "%s: line %d: want one image path (no spaces)", list, line_no);
    } else {
      in[n].path = f[0];
    }
    if (!st) n++;
  }
  if (!st && n == 0) st = csm_fail(CSM_EUSAGE, "no inputs given");
  if (st) {
    free(in);
    free(buf);
    return st;
  }
  *out = in, *n_out = n, *buf_out = buf;
  return CSM_OK;
}

/* ---- Files ------------------------------------------------------------- */

csm_status explain_write_npy(const char *path, const float *v, int w, int h) {
  int64_t dims[2] = {h, w};
  csm_tensor t = {CSM_F32, csm_shape_make(2, dims), (void *)v, 0};
  return csm_npy_write(path, &t);
}

static csm_status write_map_png(const char *path, const float *v, const float *count, int w, int h,
                                const csm_image *bg, const char *title) {
  unsigned char *valid = csm_malloc((size_t)w * h);
  if (!valid) return CSM_ENOMEM;
  for (size_t p = 0; p < (size_t)w * h; p++)
    valid[p] = count[p] > 0;
  csm_map_style style = csm_map_style_default();
  style.title = title;
  style.scale = w < 192 ? (192 + w - 1) / w : 1;
  csm_image out = {0};
  csm_status st = csm_map_render(v, valid, w, h, bg && bg->rgb ? bg : NULL, &style, &out);
  if (!st) st = csm_image_write_png(path, &out);
  csm_image_free(&out);
  free(valid);
  return st;
}

csm_status explain_write_canonical(const explain_ctx *x, const char *dir) {
  if (!x->background.rgb) return CSM_OK;
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/canonical.png", dir);
  return csm_image_write_png(path, &x->background);
}

/* dir/name+suffix, or an error when the path does not fit. */
static csm_status join(char *buf, size_t len, const char *dir, const char *name,
                       const char *suffix) {
  int k = dir ? snprintf(buf, len, "%s/%s%s", dir, name, suffix)
              : snprintf(buf, len, "%s%s", name, suffix);
  if (k < 0 || (size_t)k >= len) return csm_fail(CSM_EUSAGE, "output path too long: %s", name);
  return CSM_OK;
}

static void json_file(FILE *json, const char *key, const char *name, const char *suffix) {
  char buf[PATH_MAX];
  fprintf(json, ", \"%s\": ", key);
  if (join(buf, sizeof buf, NULL, name, suffix)) buf[0] = 0;
  csm_json_string(json, buf);
}

csm_status explain_write_face(const explain_ctx *x, const explain_args *a, const char *dir,
                              const explain_input *in, const char *stem, const face_cis *f,
                              FILE *json) {
  char name[1024], path[PATH_MAX], title[160];
  const char *label = f->label_name;
  if (snprintf(name, sizeof name, "%s_face%d", stem, f->face_index) >= (int)sizeof name)
    return csm_fail(CSM_EUSAGE, "file name too long: %s", stem);
  snprintf(title, sizeof title, "%s: %s %.3f", a->task, f->what, f->occ.base);
  int n = f->occ.size;
  csm_status st;
  if (dir &&
      ((st = join(path, sizeof path, dir, name, ".npy")) ||
       (st = explain_write_npy(path, f->cis.value, f->cis.w, f->cis.h)) ||
       (st = join(path, sizeof path, dir, name, ".png")) ||
       (st = write_map_png(path, f->cis.value, f->cis.count, f->cis.w, f->cis.h, &x->background,
                           title)) ||
       (st = join(path, sizeof path, dir, name, "_input.npy")) ||
       (st = explain_write_npy(path, f->occ.input_map, n, n)) ||
       (st = join(path, sizeof path, dir, name, "_input.png")) ||
       (st = write_map_png(path, f->occ.input_map, f->occ.input_count, n, n, &f->crop, title))))
    return st;
  fprintf(json, "{\"image\": ");
  csm_json_string(json, in->path);
  if (in->path2) {
    fprintf(json, ", \"image2\": ");
    csm_json_string(json, in->path2);
  }
  fprintf(json, ", \"face\": %d, \"box\": [", f->face_index);
  for (int k = 0; k < 4; k++) {
    if (k) fprintf(json, ", ");
    csm_json_float(json, f->face.box[k]);
  }
  fprintf(json, "], \"label\": ");
  csm_json_string(json, label);
  fprintf(json, ", \"confidence\": ");
  csm_json_string(json, f->what);
  fprintf(json, ", \"base\": ");
  csm_json_float(json, f->occ.base);
  fputs(f->extra, json);
  fprintf(json, ", \"centres\": %d, \"evaluated\": %d, \"seconds\": ", f->occ.n_centres,
          f->occ.n_evaluated);
  csm_json_float(json, f->occ.seconds);
  if (!dir) {
    fprintf(json, "}");
    return CSM_OK;
  }
  json_file(json, "cis", name, ".npy");
  json_file(json, "cis_png", name, ".png");
  json_file(json, "input", name, "_input.npy");
  json_file(json, "input_png", name, "_input.png");
  fprintf(json, "}");
  return CSM_OK;
}

char **explain_stems(const explain_input *inputs, int n) {
  char **s = calloc((size_t)(n > 0 ? n : 1), sizeof *s);
  if (!s) return NULL;
  for (int i = 0; i < n; i++) {
    char base[1024], base2[512], buf[1100];
    explain_stem(inputs[i].path, base, sizeof base);
    if (inputs[i].path2) {
      explain_stem(inputs[i].path2, base2, sizeof base2);
      size_t l = strlen(base);
      snprintf(base + l, sizeof base - l, "__%s", base2);
    }
    snprintf(buf, sizeof buf, "%s", base);
    for (int k = 2;; k++) {
      int clash = 0;
      for (int j = 0; j < i && !clash; j++)
        clash = !strcmp(s[j], buf);
      if (!clash) break;
      snprintf(buf, sizeof buf, "%s-%d", base, k);
    }
    s[i] = strdup(buf);
    if (!s[i]) {
      explain_stems_free(s, i);
      return NULL;
    }
  }
  return s;
}

void explain_stems_free(char **stems, int n) {
  for (int i = 0; stems && i < n; i++)
    free(stems[i]);
  free(stems);
}

int explain_progress_wanted(const explain_args *a) {
  if (a->quiet) return 0;
  const char *env = getenv("CSM_PROGRESS");
  if (env && *env) return strcmp(env, "0") != 0;
  return isatty(STDERR_FILENO);
}
