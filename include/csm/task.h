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
  CSM_TASK_PROBS,    /* the output already holds one probability per class */
  CSM_TASK_SIGMOID,  /* one value p in [0, 1]: class 1 has p, class 0 has 1 - p */
  CSM_TASK_VALUE,    /* one regressed value (SSR-Net age); no classes */
  CSM_TASK_LOGITS,   /* one logit per class: scores are their softmax */
  CSM_TASK_LOGIT,    /* one raw value per class, used as the score as it is */
  CSM_TASK_POSE,     /* FaceMesh landmarks: scores are the 9 soft yaw/pitch bins */
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
  /* > 0: the model reads BGR (channels 0 and 2 of an RGB input swapped);
   * no effect on gray inputs. */
  int bgr;
  /* Per-channel normalization (std all 0: none, as every zoo entry): after
   * the value mapping and the channel order, input channel c (in the
   * model's order; gray: c = 0) is fed as (x - mean[c]) / std[c], x =
   * v * scale + offset. With scale 1, offset 0 this is torchvision's
   * Normalize on ToTensor's p / 255. */
  float mean[3], std[3];
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
/* "probs", "sigmoid", "value", "logits", "logit", "pose", "embedding". */
const char *csm_task_output_name(csm_task_output k);
/* Number of zoo entries; csm_task_at(i) for i < csm_task_count(). */
int csm_task_count(void);
const csm_task_info *csm_task_at(int i);

/* Floats in one preprocessed input (size * size * channels). */
size_t csm_task_input_numel(const csm_task_info *info);

/* 1 if info normalizes per channel (any std[c] != 0). */
int csm_task_has_norm(const csm_task_info *info);
/* The input value of a black pixel (pixel value 0) per channel: offset,
 * normalized by mean and std when the task has them. */
void csm_task_black(const csm_task_info *info, float black[3]);

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
 * with the expected number of values. A model whose input is declared
 * channels-first ([batch, channels, size, size], ONNX) is switched to
 * channels-last at load (csm_model_use_channels_last): csm_task_model's
 * input is NHWC for every task, and so is everything the task feeds it. */
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

/* A level face whose task crop is the whole image (inputs that are face
 * crops already: `csm classify --no-detect`, gallery images without a
 * detector). */
csm_face csm_task_whole_image_face(const csm_task_info *info, const csm_image *img);

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
  /* White-box scorers (every zoo and custom task) also give the confidence
   * as a differentiable function of one model value, for the gradient
   * methods; black boxes leave model NULL. The inputs of a sample go
   * through `model` (one model input) as one batch of n * views rows;
   * `node` is the model node whose value the confidence reads, raw_numel
   * floats per row. conf_grad gets that value (n * views rows) and writes
   * conf[0..n-1] and draw = d conf[sample] / d raw (same layout as raw; a
   * row only depends on its own sample's conf). */
  csm_model *model;
  int node;
  size_t raw_numel;
  csm_status (*conf_grad)(void *ctx, const float *raw, int n, float *conf, float *draw);
} csm_scorer;

/* Frees the scorer's context; the task it uses stays. */
void csm_scorer_free(csm_scorer *s);

/* The class index for a label or a number ("female", "1"); -1 if none. */
int csm_task_class_index(const csm_task_info *info, const char *name);

/* Classification (and pose): confidence = scores[cls] of csm_task_run; for
 * CSM_TASK_VALUE tasks (cls ignored) the regressed value. */
csm_status csm_scorer_class(csm_task *t, int cls, csm_scorer *out);

/* ---- Pose bins, embeddings, custom tasks (src/task/pose_task.c,
 * embedding.c, custom.c) ----------------------------------------------------- */

/* The 9 head-pose bins of the `pose` task, row-major: top-left, top,
 * top-right, left, frontal, right, bottom-left, bottom, bottom-right, as
 * seen in the image. Per axis a soft 3-way membership (docs/tasks.md):
 * p_low = sigmoid((-T - a) / tau), p_high = sigmoid((a - T) / tau),
 * p_mid = 1 - p_low - p_high (clamped at 0, renormalized), T = 10 degrees,
 * tau = 3 degrees; bin = p_row(pitch) * p_col(yaw). Columns: left = yaw < -T
 * (nose towards image left), right = yaw > T; rows: top = pitch > T (chin up),
 * bottom = pitch < -T (csm_face_pose's signs). The 9 values sum to 1. */
void csm_pose_bins(float yaw_deg, float pitch_deg, float probs[9]);

/* Values of the task's output per input (classes, 1404 mesh values, or the
 * embedding dimension). */
size_t csm_task_output_numel(const csm_task *t);
/* Runs the model on n inputs and copies the task's output values, n x
 * csm_task_output_numel floats, into raw (no scoring). */
csm_status csm_task_run_raw(csm_task *t, const float *inputs, int n, float *raw);

/* Embedding tasks (CSM_TASK_EMBEDDING): the embedding dimension (the
 * output's length), or 0 for other tasks. */
int csm_task_embedding_dim(const csm_task *t);
/* n inputs -> n x dim L2-normalized embeddings in emb (one batch). */
csm_status csm_task_embed(csm_task *t, const float *inputs, int n, float *emb);

/* Verification (Eq. 8): a sample is a pair (views = 2), both faces occluded
 * at the same canonical place; s = cosine similarity of their embeddings
 * (one batch of 2n), conf = s - threshold for a genuine pair, threshold - s
 * for an impostor pair. */
csm_status csm_scorer_verify(csm_task *t, float threshold, int genuine, csm_scorer *out);
/* The threshold that maximizes pair accuracy (a pair is called genuine when
 * s > threshold): candidates are the midpoints between neighbouring distinct
 * sorted similarities; ties go to the smallest. same[i] != 0: a genuine
 * pair. CSM_EUSAGE for n <= 0 or input of one class only. */
csm_status csm_verify_calibrate(const float *sims, const int *same, int n, float *threshold,
                                float *accuracy);

/* A gallery for zero-shot identification: named identities, each with one
 * or more L2-normalized embeddings of one dimension. */
typedef struct csm_gallery csm_gallery;

csm_status csm_gallery_create(int dim, csm_gallery **out);
void csm_gallery_free(csm_gallery *g);
/* Adds a copy of emb (dim floats, L2-normalized on the way in) to the
 * identity `identity`, created when new. */
csm_status csm_gallery_add(csm_gallery *g, const char *identity, const float *emb);
int csm_gallery_dim(const csm_gallery *g);
int csm_gallery_identities(const csm_gallery *g);
/* Number of embeddings of identity k (all of them for k < 0). */
int csm_gallery_count(const csm_gallery *g, int k);
const char *csm_gallery_name(const csm_gallery *g, int k);
/* Identity index by name, or -1. */
int csm_gallery_find(const csm_gallery *g, const char *name);
/* Cosine similarity of emb to identity k's closest embedding. */
float csm_gallery_similarity(const csm_gallery *g, int k, const float *emb);
/* The identity whose closest embedding is most similar to emb (dim floats,
 * normalized here), and that similarity. CSM_EUSAGE on an empty gallery. */
csm_status csm_gallery_nearest(const csm_gallery *g, const float *emb, int *identity, float *sim);
/* One sub-folder of dir per identity (sorted by name), every .jpg, .jpeg,
 * .png inside (sorted): the largest face found by det (det NULL: the whole
 * image is the face crop, as 'csm classify --no-detect'), preprocessed for
 * t and embedded. An image without a face is an error naming the file. */
csm_status csm_gallery_load_dir(csm_gallery **out, csm_task *t, csm_face_detector *det,
                                const char *dir);
/* Zero-shot identification (Eq. 7): conf = the cosine similarity of the
 * (occluded) input's embedding to the closest gallery embedding of
 * `identity`. The gallery must outlive the scorer. */
csm_status csm_scorer_identify(csm_task *t, const csm_gallery *g, int identity, csm_scorer *out);

/* A task for any model file (docs/tasks.md, "Custom tasks"): TF.js or
 * ONNX. The caller fills info: size and channels (0: the model's own;
 * gray_w all 0 with 1 channel: human's gray weights), scale and offset,
 * mean and std (std all 0: none), crop_scale, upright, sub (all 0: the
 * whole square), kind (PROBS, SIGMOID, LOGITS, LOGIT, VALUE or EMBEDDING),
 * output (NULL: the model's first output), n_classes and labels (0 and
 * NULL: one class per output value, labelled "0", "1", ...), bgr. name and
 * description may be NULL ("custom"). The task keeps its own copy of info
 * and its strings. The input must be [batch, size, size, channels] or,
 * channels-first, [batch, channels, size, size] (switched to channels-last
 * at load, as csm_task_load does); a batch fixed at 1 is run one input at
 * a time. */
csm_status csm_task_load_custom(const char *model_path, const csm_task_info *info, csm_task **out);

#ifdef __cplusplus
}
#endif
#endif
