/* csm task: the model zoo, per-model preprocessing and class scores. */
#ifndef CSM_TASK_H
#define CSM_TASK_H

#include "csm/face.h"
#include "csm/image.h"
#include "csm/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The most classes a task has (FaceRes's age head: one per year, 0..99). */
#define CSM_TASK_MAX_CLASSES 100

/* How the chosen model output becomes class scores. */
typedef enum csm_task_output {
  CSM_TASK_PROBS,   /* the output already holds one probability per class */
  CSM_TASK_SIGMOID, /* one value p in [0, 1]: class 1 has p, class 0 has 1 - p */
  CSM_TASK_VALUE,   /* one regressed value (SSR-Net age); no classes */
  CSM_TASK_LOGITS,  /* one logit per class: scores are their softmax */
  CSM_TASK_LOGIT,   /* one raw value per class, used as the score as it is */
  CSM_TASK_POSE,    /* FaceMesh landmarks: scores are the 9 soft yaw/pitch bins */
  CSM_TASK_EMBEDDING /* an embedding vector; no classes (verify, identify) */
} csm_task_output;

/* One zoo entry: everything needed to turn a detected face into the model's
 * input and the model's output into scores. Matches how
 * @vladmandic/human 3.3.6 feeds each model (docs/tasks.md). */
typedef struct csm_task_info {
  const char *name;        /* "gender", "expression", ... */
  const char *model;       /* installed model name: <models_dir>/<model>.json */
  const char *output;      /* output node name (a trailing ":0" is ignored) */
  const char *description; /* one line for listings */
  /* Crop: a square of side crop_scale x max(box w, box h) around the box
   * centre, turned by the face's roll when `upright`; of that square the
   * part sub[0..3] = x0, y0, x1, y1 (fractions) is resized to the input. */
  float crop_scale;
  int upright;
  float sub[4];
  int size;     /* input is size x size */
  int channels; /* 3: RGB; 1: gray = gray_w . RGB */
  float gray_w[3];
  /* Each channel value v in [0, 1] (pixel / 255, or the gray mix) is fed
   * as v * scale + offset. */
  float scale, offset;
  csm_task_output kind;
  int n_classes; /* 0 for CSM_TASK_VALUE */
  const char *const *labels;
  /* > 0: the classes are values (FaceRes age: class k = k years) and the
   * result's value is the expectation sum_k k * p_k. */
  int expect_value;
  /* > 0: find faces and sample the crop as human does (docs/tasks.md; see
   * csm_task_detect_options):
   * the square's corners rounded to whole pixels (squarifyBox), a
   * corner-aligned 256x256 cropAndResize, then a top-left-aligned
   * resizeBilinear to size x size. Ignores sub and upright. */
  int human_grid;
} csm_task_info;

/* The detector settings a task asks for: csm_detect_options_default()
 * without the mesh (a crop needs only the box and the roll), except for
 * tasks fed on human's grid, which also find faces as human's
 * default pipeline does (back model, score 0.2, plain NMS, faces whose
 * single-pass FaceMesh score is below 0.2 dropped), so that their crops are
 * the ones the model's own pipeline feeds it. */
csm_detect_options csm_task_detect_options(const csm_task_info *info);

/* Zoo entry by name, or NULL. */
const csm_task_info *csm_task_find(const char *name);
/* Number of zoo entries; csm_task_at(i) for i < csm_task_count(). */
int csm_task_count(void);
const csm_task_info *csm_task_at(int i);

/* Floats in one preprocessed input (size * size * channels). */
size_t csm_task_input_numel(const csm_task_info *info);

/* The affine map from input pixels to image pixels for one face, in
 * csm_image_warp_affine's convention (input pixel (i, j) centre i+0.5,
 * j+0.5 -> x = m[0]*u + m[1]*v + m[2], y = m[3]*u + m[4]*v + m[5]).
 * Saliency code uses it to place input-space maps back on the image. */
csm_status csm_task_crop_matrix(const csm_task_info *info, const csm_face *face, double m[6]);
/* The same for a face of an img_w x img_h image: exact for human_grid tasks,
 * whose sample positions depend on the image size (cropAndResize maps the
 * box through (size - 1) / size); csm_task_crop_matrix leaves that factor
 * out (under a pixel of difference). */
csm_status csm_task_crop_matrix_image(const csm_task_info *info, const csm_face *face, int img_w,
                                      int img_h, double m[6]);

/* A zoo entry with its model loaded. */
typedef struct csm_task csm_task;

/* Loads <models_dir>/<model>.json for the task named `name` and checks that
 * its input is [batch, size, size, channels] and that the output exists
 * with the expected number of values. */
csm_status csm_task_load(const char *models_dir, const char *name, csm_task **out);
void csm_task_free(csm_task *t);
const csm_task_info *csm_task_get_info(const csm_task *t);
csm_model *csm_task_model(csm_task *t);

/* One face of img -> one model input in dst (csm_task_input_numel floats,
 * NHWC without the batch). Independent of the model, so callers can edit
 * (occlude) the input before running it. */
csm_status csm_task_preprocess(const csm_task_info *info, const csm_image *img,
                               const csm_face *face, float *dst);

/* The same for a crop given by its matrix m (input pixel -> image pixel, as
 * csm_task_crop_matrix_image gives): e.g. a whole aligned image stretched to
 * the input, as the reference implementation feeds PRNet-aligned photos. */
csm_status csm_task_preprocess_matrix(const csm_task_info *info, const csm_image *img,
                                      const double m[6], float *dst);

/* The result for one input. */
typedef struct csm_task_result {
  int label;                          /* best class (argmax of scores); -1 for CSM_TASK_VALUE */
  float confidence;                   /* scores[label]; the value for CSM_TASK_VALUE */
  float value;                        /* age in years for value tasks, else NAN */
  float scores[CSM_TASK_MAX_CLASSES]; /* n_classes probabilities */
} csm_task_result;

/* Runs the model on n preprocessed inputs laid out one after another
 * (n * csm_task_input_numel floats) in one batch; fills out[0..n-1]. */
csm_status csm_task_run(csm_task *t, const float *inputs, int n, csm_task_result *out);

/* Scores from the raw output values of one input (n_out values): what
 * csm_task_run does per input, for callers that run the model themselves. */
csm_status csm_task_scores(const csm_task_info *info, const float *raw, size_t n_out,
                           csm_task_result *out);

/* ---- Confidence functions (src/task/scorer*.c) --------------------------- */

/* What occlusion saliency needs from a model: a confidence for each of n
 * samples. A sample is `views` preprocessed inputs (1; 2 for a verification
 * pair, both faces occluded at the same canonical place), laid out one after
 * another. Only forward passes are needed, so any black box with such a
 * function can be explained. */
typedef csm_status (*csm_score_fn)(void *ctx, const float *inputs, int n, float *conf);

typedef struct csm_scorer {
  int views;          /* inputs per sample */
  int size, channels; /* each input is size x size x channels (NHWC) */
  float black[3];     /* a black pixel's input value per channel: the zero fill */
  csm_score_fn score; /* inputs: n * views inputs -> conf[0..n-1] */
  void *ctx;
  void (*free_ctx)(void *ctx); /* may be NULL */
  char what[64];               /* what the confidence is, e.g. "P(female)" */
} csm_scorer;

/* Frees the scorer's context; the task it uses stays. */
void csm_scorer_free(csm_scorer *s);

/* The class index for a label or a number ("female", "1"); -1 if none. */
int csm_task_class_index(const csm_task_info *info, const char *name);

/* Classification (and pose): confidence = scores[cls] of csm_task_run; for
 * CSM_TASK_VALUE tasks (cls ignored) the regressed value. */
csm_status csm_scorer_class(csm_task *t, int cls, csm_scorer *out);

#ifdef __cplusplus
}
#endif
#endif
