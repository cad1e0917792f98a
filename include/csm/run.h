/* csm run: the whole job as library calls. An explainer is opened once from
 * options (the task or a model file, how faces are occluded and mapped, the
 * canonical face, the detector) and applied to image after image; dataset
 * runs (the CMS of a model, the comparison with the baselines, the
 * faithfulness evaluation, the sanity check) write a run folder that a
 * killed run resumes. Every CLI command that explains is its options parsed,
 * one call below, and its result printed.
 *
 * A whole CMS (examples/cms.c):
 *
 *   csm_explain_options o;
 *   csm_explain_options_init(&o);
 *   o.task = "gender";
 *   csm_input in[2] = {{.path = "a.jpg", .truth = -1}, {.path = "b.jpg", .truth = -1}};
 *   csm_cms_run_options r = csm_cms_run_options_default();
 *   r.out_dir = "out";
 *   csm_cms_summary s;
 *   if (csm_explain_options_resolve(&o) || csm_cms_run(&o, in, 2, &r, &s))
 *     fprintf(stderr, "%s\n", csm_last_error());
 *   // out/cms.npy, out/cms.png, out/run.json, ... (docs/formats.md)
 *
 * One image's faces:
 *
 *   csm_explainer *x;
 *   csm_face_result *faces; int n;
 *   csm_explainer_open(&o, &x);
 *   csm_explainer_explain(x, &in[0], &faces, &n);   // faces[k].cis: the CIS map
 *   csm_face_results_free(faces, n);
 *   csm_explainer_free(x);
 *
 * Thread safety: one explainer per thread; different explainers may run at
 * once (csm_cms_run_options.jobs does that). */
#ifndef CSM_RUN_H
#define CSM_RUN_H

#include <stdio.h>

#include "csm/eval.h"
#include "csm/explain.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Explainer options (src/run/explain_options.c) -------------------------- */

typedef enum csm_explain_mode {
  CSM_EXPLAIN_CLASSIFY, /* a class (or value) of a classification task */
  CSM_EXPLAIN_VERIFY,   /* a verification pair (Eq. 8) */
  CSM_EXPLAIN_IDENTIFY  /* zero-shot identification against a gallery (Eq. 7) */
} csm_explain_mode;

typedef struct csm_input csm_input; /* below: one input of a run */

typedef struct csm_explain_options {
  const char *task; /* zoo task, "verify", "identify"; NULL with model: "custom" */
  const char *cls;  /* the class explained, by name or index; NULL: the predicted one */
  /* A model file explained as a custom task (NULL: the zoo's): a TF.js
   * model.json or an .onnx file, described by model_info (its crop,
   * preprocessing, output and confidence; size and channels 0: the model's). */
  const char *model;
  csm_task_info model_info;
  int grid_stride; /* > 0: grid centres with this spacing; 0: the canonical mesh points */
  int size;        /* canonical raster (0: 256 FaceMesh, 224 PRNet) */
  int batch;       /* occluded inputs per model call (0: the engine's default) */
  /* The reference implementation's mode: PRNet meshes, no detection. */
  int prnet;
  const char *meshes;          /* <meshes>/<stem>_mesh.mat per image */
  const char *canonical_mesh;  /* frontal_mesh.mat; frontal.jpg beside it is drawn under maps */
  const char *canonical_photo; /* draw canonical maps over this photo's face (NULL: shaded) */
  csm_occlusion_options occ;   /* patch < 0, footprint < 0, space < 0: the mode's default */
  csm_detect_options det;
  int det_detector_given, det_min_score_given; /* else the task's own detector settings */
  /* verify and identify */
  const char *embedding; /* the embedding task (default embed-faceres) */
  double threshold;      /* verify: NAN until given or calibrated */
  const char *calibrate; /* verify: a pair list to calibrate the threshold on */
  int truth;             /* verify: 1 the pairs are the same person, 0 not, -1 the model decides */
  const char *gallery;   /* identify: one sub-folder of face photos per identity */
  const char *identity;  /* identify: the identity explained (NULL: the nearest) */
  int threads;           /* threads of this explainer's models (0: csm_threads()) */
  /* Where an input's pixels come from when csm_input.image is NULL: fills
   * img (pixels malloc'ed; the explainer frees them with csm_image_free)
   * for in->path (which 0) or in->path2 (1), or returns an error with a
   * message. NULL: the image file at that path. Inputs need not be files:
   * a path may name a database row or a frame. With jobs > 1 it is called
   * from several threads at once. */
  csm_status (*load_image)(void *ctx, const csm_input *in, int which, csm_image *img);
  void *load_image_ctx;
  /* Set by csm_explain_options_resolve. */
  csm_explain_mode mode;
} csm_explain_options;

/* Defaults for every field (the paper's method on the FaceMesh alignment). */
void csm_explain_options_init(csm_explain_options *o);
/* Checks the combination (CSM_EUSAGE and a message naming the option) and
 * fills the mode's defaults: the PRNet reference's 15 px image squares at
 * 224, canonical squares of 20 px at 256 otherwise; the task's detector. */
csm_status csm_explain_options_resolve(csm_explain_options *o);
/* The "parameters" object of run.json (a JSON object, docs/formats.md). */
void csm_explain_options_write_json(FILE *fp, const csm_explain_options *o, int canon_size);

/* ---- Inputs (src/run/inputs.c) ---------------------------------------------- */

/* One input of a run: an image (each of its faces is a sample) or, for
 * verify, a pair of images whose largest faces form one sample. The
 * pixels may be given (image, image2): then path only names the input. */
typedef struct csm_input {
  const char *path, *path2;
  int truth;            /* verify: 1 same person, 0 different, -1 the model decides */
  const char *identity; /* identify: the true identity (NULL: the nearest) */
  const csm_image *image, *image2;
} csm_input;

/* A run's inputs from paths (verify: taken two by two) and an optional list
 * file: one input per line ("IMAGE", "IMAGE IDENTITY" for identify,
 * "IMAGE1 IMAGE2 [same|different]" for verify; blank lines and # comments
 * ignored). *buf keeps the list's text
 * (free it after the inputs). */
csm_status csm_inputs_parse(csm_explain_mode mode, const char *const *paths, int n_paths,
                            const char *list, csm_input **out, int *n, char **buf);
/* Output file stems: base names without extension ("a__b" for a pair), made
 * unique in input order ("a", "a-2", ...). Free with csm_input_stems_free. */
csm_status csm_input_stems(const csm_input *inputs, int n, char ***stems);
void csm_input_stems_free(char **stems, int n);
/* A path's base name without its extension. */
void csm_path_stem(const char *path, char *buf, size_t len);

/* ---- The explainer (src/run/explainer.c, explain_face.c) --------------------- */

typedef struct csm_explainer csm_explainer;

/* One face's (one sample's) result. */
typedef struct csm_face_result {
  csm_face face;
  int face_index; /* 1-based within its image, largest first */
  int label;      /* the class explained (-1: a value task) */
  char label_name[128];
  char what[64];   /* the confidence explained, e.g. "P(female)" */
  char extra[160]; /* more JSON members for run.json (", \"k\": v"), or "" */
  csm_occlusion occ;
  csm_map cis;     /* the CIS on the canonical raster; count 0 where never covered */
  csm_image crop;  /* the model's input crop as RGB */
  csm_image crop2; /* a verify pair's second crop */
  void *result;    /* a dataset run's per-sample result (freed with result_free) */
  void (*result_free)(void *result);
} csm_face_result;

/* Loads the task (or model), the detector, the canonical face and, for
 * verify and identify, the gallery or the calibration. o must be resolved. */
csm_status csm_explainer_open(const csm_explain_options *o, csm_explainer **out);
void csm_explainer_free(csm_explainer *x);

/* Every sample of one input: each face FaceMesh could fit (largest first),
 * the image's PRNet mesh, or a verify pair's one sample. *faces malloc'ed;
 * *n may be 0 (no face). The explainer's task and canonical raster are
 * shared by the results. */
csm_status csm_explainer_explain(csm_explainer *x, const csm_input *in, csm_face_result **faces,
                                 int *n);
void csm_face_result_free(csm_face_result *f);
void csm_face_results_free(csm_face_result *faces, int n);

csm_task *csm_explainer_task(const csm_explainer *x);
int csm_explainer_canon_size(const csm_explainer *x);
/* The picture canonical maps are drawn over (rgb NULL: none). */
const csm_image *csm_explainer_background(const csm_explainer *x);
const csm_explain_options *csm_explainer_options(const csm_explainer *x);
/* verify: the threshold in use (given or calibrated). */
float csm_explainer_threshold(const csm_explainer *x);
/* verify with calibrate: the threshold found, its accuracy on the pairs and
 * their number (CSM_EUSAGE when not calibrated). */
csm_status csm_explainer_calibration(const csm_explainer *x, float *threshold, float *accuracy,
                                     int *pairs);

/* Progress of a run, reported after each occlusion batch and each input. */
typedef struct csm_progress {
  int input, n_inputs;      /* 1-based: the input being explained */
  int face, n_faces;        /* 1-based, within the input (0 between inputs) */
  int occluded, occlusions; /* of the current face */
  int faces_done;           /* in the whole run */
  double seconds;           /* since the run started */
  double rate;              /* faces per second */
  double eta;               /* seconds left (estimated: a face per unseen input) */
} csm_progress;
/* Returns nonzero to cancel: the run stops after the current input with
 * CSM_EUSAGE "cancelled", having saved what finished. */
typedef int (*csm_progress_fn)(void *ctx, const csm_progress *p);
void csm_explainer_set_progress(csm_explainer *x, csm_progress_fn fn, void *ctx);

/* ---- The files of one face (src/run/face_files.c) --------------------------- */

/* Writes <dir>/<stem>_face<k>.npy/.png and _input.npy/.png (docs/formats.md)
 * and the face's run.json entry into json (an object, no trailing comma).
 * dir NULL: no files, and the entry names none. */
csm_status csm_face_result_write(const csm_explainer *x, const char *dir, const csm_input *in,
                                 const char *stem, const csm_face_result *f, FILE *json);
/* dir/canonical.png (the background), when there is one. */
csm_status csm_explainer_write_canonical(const csm_explainer *x, const char *dir);

/* ---- Runs over inputs ------------------------------------------------------- */

/* csm cis: every face of every input; nothing is written unless all inputs
 * have a face. Writes dir/run.json, canonical.png and the faces' files. */
typedef struct csm_run_summary {
  int inputs, faces, failures;
  double seconds;
  /* verify with calibrate: the threshold found, its accuracy, the pairs. */
  float threshold, calibration_accuracy;
  int calibration_pairs;
} csm_run_summary;

typedef struct csm_run_options {
  const char *out_dir;
  csm_progress_fn progress; /* may be NULL */
  void *progress_ctx;
} csm_run_options;

csm_status csm_cis_run(const csm_explain_options *o, const csm_input *in, int n,
                       const csm_run_options *r, csm_run_summary *summary);

/* csm cms (src/run/cms_run.c): the CMS over the inputs, checkpointed after
 * every input. Inputs that cannot be read or hold no face are recorded in
 * failures.csv and the run goes on; other faults stop it and --resume goes
 * on from the last checkpoint. The CMS accumulates in input order, so any
 * number of jobs and any resume give the same bits. */
typedef struct csm_cms_run_options {
  const char *out_dir;
  int resume;    /* continue the run in out_dir (same inputs and options) */
  int write_cis; /* the per-face CIS files (default 1) */
  int jobs;      /* inputs computed at once, each with its own models (default 1) */
  csm_progress_fn progress;
  void *progress_ctx;
} csm_cms_run_options;

csm_cms_run_options csm_cms_run_options_default(void);
csm_status csm_cms_run(const csm_explain_options *o, const csm_input *in, int n,
                       const csm_cms_run_options *r, csm_run_summary *summary);

/* ---- Methods side by side: compare, eval, sanity (src/run/methods*.c) ------- */

enum { CSM_RUN_METHOD_CIS = -1, CSM_RUN_METHOD_CMS = -2, CSM_RUN_METHODS_MAX = 16 };

typedef struct csm_method_list {
  int n;
  int code[CSM_RUN_METHODS_MAX]; /* csm_method values, or CSM_RUN_METHOD_CIS/CMS */
} csm_method_list;

/* "cis", "cms", or csm_method_name. */
const char *csm_run_method_label(int code);
/* A comma-separated list ("all" or NULL: cis, then every generic method;
 * with_cms puts "cms" first). Duplicates and unknown names: CSM_EUSAGE. */
csm_status csm_method_list_parse(const char *s, int with_cms, csm_method_list *out);
int csm_method_list_has(const csm_method_list *ml, int code);

typedef struct csm_methods_options {
  const char *methods;    /* the list (NULL: all) */
  const char *layer;      /* the CAM layer by name (NULL: the default) */
  csm_method_options opt; /* window, stride, SmoothGrad */
  const char *cms;        /* a CMS map (.npy at the canonical raster) or NULL */
  int steps;              /* sanity: randomization steps (0: 8) */
} csm_methods_options;

void csm_methods_options_init(csm_methods_options *m);

/* A finished run of methods over inputs: its samples' results, kept for the
 * tables and files below. */
typedef struct csm_methods_report csm_methods_report;
void csm_methods_report_free(csm_methods_report *r);

/* csm compare: every method's map of every face; writes the maps, the
 * pictures and compare.json into out_dir (required). */
csm_status csm_compare_run(const csm_explain_options *o, const csm_input *in, int n,
                           const csm_methods_options *m, const csm_run_options *r,
                           csm_methods_report **report);
/* csm eval: the faithfulness metrics (Eq. 9-13) and deletion/insertion AUCs.
 * out_dir (may be NULL) gets eval.json and the explanation images. */
csm_status csm_eval_run(const csm_explain_options *o, const csm_input *in, int n,
                        const csm_methods_options *m, const csm_run_options *r,
                        csm_methods_report **report);
/* csm sanity: cascading randomization; out_dir (may be NULL) gets
 * sanity.json and the maps at every step. */
csm_status csm_sanity_check_run(const csm_explain_options *o, const csm_input *in, int n,
                                const csm_methods_options *m, const csm_run_options *r,
                                csm_methods_report **report);
/* The report as JSON (what eval.json / sanity.json hold; with_faces: eval's
 * per-face values too) or as the table the CLI prints; malloc'ed text. */
csm_status csm_methods_report_json(const csm_methods_report *r, int with_faces, char **text);
csm_status csm_methods_report_table(const csm_methods_report *r, char **text);
/* The CAM layer used (NULL when no CAM method ran). */
const char *csm_methods_report_layer(const csm_methods_report *r);
double csm_methods_report_seconds(const csm_methods_report *r);
int csm_methods_report_faces(const csm_methods_report *r);
const csm_method_list *csm_methods_report_methods(const csm_methods_report *r);

/* ---- Reprojection runs (src/run/reproject_run.c) ---------------------------- */

/* csm reproject: a canonical map (a CMS or CIS .npy; a count.npy beside it
 * marks count-0 pixels as having no value) pulled back onto every face of
 * the images (DESIGN.md step 5). Writes per face <out_dir>/<stem>_face<k>.npy
 * (image-size float32, NaN off the face; k from 1, largest face first)
 * unless png_only, and per image <out_dir>/<stem>.png (the faces' maps over
 * the photo). Every image is computed first: an unreadable map or image, or
 * an image with no face, is an error naming it and nothing is written. */
typedef struct csm_reproject_options {
  const char *cms;        /* the canonical map: 2-D [n, n] float32, finite */
  const char *out_dir;    /* created if missing */
  double alpha;           /* opacity of the map over the photo, [0, 1] */
  int png_only;           /* no per-face .npy */
  csm_detect_options det; /* the mesh is always fitted */
} csm_reproject_options;

/* Defaults: the map style's alpha, the detector's defaults. */
void csm_reproject_options_init(csm_reproject_options *o);

/* The faces reprojected, kept for the JSON summary. The strings of the
 * options and paths stay the caller's and must outlive the report. */
typedef struct csm_reproject_report csm_reproject_report;
csm_status csm_reproject_run(const csm_reproject_options *o, const char *const *paths, int n,
                             csm_reproject_report **report);
/* {"cms", "size", "images": [{"path", "png", "faces": [{"box", "yaw", "npy",
 * "pixels", "min", "max", "mean"}]}]} and a newline (docs/cli.md);
 * malloc'ed text. */
csm_status csm_reproject_report_json(const csm_reproject_report *r, char **text);
int csm_reproject_report_images(const csm_reproject_report *r);
int csm_reproject_report_faces(const csm_reproject_report *r);
void csm_reproject_report_free(csm_reproject_report *r);

/* ---- Classification runs (src/run/classify_run.c, task_list.c) ------------- */

/* csm classify: a task on every face of each image (BlazeFace, largest
 * first; or each image as one face crop), with every class score. */
typedef struct csm_classify_options {
  const char *task; /* a zoo task; NULL with model: "custom" */
  /* A model file as a custom task, described by model_info (as in
   * csm_explain_options; size and channels 0: the model's). */
  const char *model;
  csm_task_info model_info;
  int no_detect; /* each image is one face crop */
  csm_detect_options det;
  int det_detector_given, det_min_score_given; /* else the task's own settings */
  /* Every face's model input, in output order, as one float32 .npy
   * [faces, size, size, channels] (NULL: none). */
  const char *save_input;
  csm_progress_fn progress; /* after each image (input, n_inputs, faces_done); may be NULL */
  void *progress_ctx;
} csm_classify_options;

void csm_classify_options_init(csm_classify_options *o);
/* Checks the task (CSM_EUSAGE and a message naming the option) and fills
 * the task's detector settings. */
csm_status csm_classify_options_resolve(csm_classify_options *o);

/* The faces and their results. The paths stay the caller's. */
typedef struct csm_classify_report csm_classify_report;
/* Every image before anything is written: an error names the image, and
 * no save_input file is written. o must be resolved. */
csm_status csm_classify_run(const csm_classify_options *o, const char *const *paths, int n,
                            csm_classify_report **report);
/* {"task", "images": [{"path", "faces": [{"box", "label", "confidence",
 * "scores", "value"}]}]} or the lines csm classify prints; malloc'ed. */
csm_status csm_classify_report_json(const csm_classify_report *r, char **text);
csm_status csm_classify_report_text(const csm_classify_report *r, char **text);
void csm_classify_report_free(csm_classify_report *r);

/* csm tasks: the zoo (name, model, input, classes or the embedding's
 * dimension, from the installed model) and what the explaining runs offer
 * beyond it, as JSON or as the printed table; malloc'ed text. */
csm_status csm_task_zoo_json(char **text);
csm_status csm_task_zoo_table(char **text);

/* ---- The demo (src/run/demo_run.c) ------------------------------------------ */

/* csm demo: for each task, the CMS of the sample photos into
 * <out_dir>/<task>/ (resumed when an earlier demo left its run.json), the
 * CMS reprojected onto every photo into <out_dir>/<task>/reproject/ and
 * noted in run.json; the tasks' CMS side by side in <out_dir>/cms.png and
 * the report in <out_dir>/report.html (csm_report_html). */
typedef enum csm_demo_step {
  CSM_DEMO_CMS,            /* a task's CMS starts */
  CSM_DEMO_CMS_DONE,       /* ... finished: cms holds its summary */
  CSM_DEMO_REPROJECT,      /* the CMS (in) onto the photos (into out) */
  CSM_DEMO_REPROJECT_DONE, /* ... finished: faces reprojected */
  CSM_DEMO_REPORT          /* the report of the folder in into out */
} csm_demo_step;

typedef struct csm_demo_stage {
  csm_demo_step step;
  const char *task; /* NULL for the report */
  const char *in;   /* what the stage reads (NULL: the photos) */
  const char *out;  /* the folder or file it writes */
  int photos, faces;
  const csm_run_summary *cms;
} csm_demo_stage;
typedef void (*csm_demo_stage_fn)(void *ctx, const csm_demo_stage *s);

typedef struct csm_demo_options {
  const char *samples_dir; /* the photos: every .jpg and .png, by name */
  const char *out_dir;
  const char *tasks;        /* comma-separated zoo tasks */
  csm_progress_fn progress; /* each CMS run's progress; may be NULL */
  void *progress_ctx;
  csm_demo_stage_fn stage; /* before and after each stage; may be NULL */
  void *stage_ctx;
} csm_demo_options;

/* Defaults: data/samples, demo-out, gender,expression,age. */
void csm_demo_options_init(csm_demo_options *o);
/* An unknown task or a task list over 255 characters: CSM_EUSAGE before
 * anything runs. */
csm_status csm_demo_run(const csm_demo_options *o);

/* ---- Model inference (src/run/infer_run.c) ---------------------------------- */

/* csm infer: one model on a .npy tensor (in the model's declared layout) or
 * on images resized to its input as one NHWC batch (a channels-first model
 * is switched to NHWC input), and if asked the gradient of one output value
 * of every batch item with respect to the input (reverse-mode autodiff).
 * The files are written only after the whole run succeeded. */
typedef struct csm_infer_options {
  const char *model;         /* an installed model's name, or a model.json / .onnx path */
  const char *npy;           /* the input tensor; NULL: images */
  int nhwc;                  /* the npy tensor is NHWC even if the model declares NCHW */
  const char *const *images; /* JPEG or PNG, no face detection */
  int n_images;
  int has_crop;
  double crop[4];         /* x, y, w, h cropped from every image first */
  double range[2];        /* pixel values 0..255 map to range[0]..range[1] */
  int n_mean, n_std;      /* 0, 1 or 3 values: then (x - mean) / std per channel */
  float mean[3], std[3];  /* std: 1 when n_std is 0 */
  const char *save_input; /* the input tensor as the model got it, .npy (NULL: none) */
  const char *out;        /* output k as <out>_<k>.npy, the gradient as <out>_grad.npy */
  int grad;               /* the gradient of value grad_value of output grad_output */
  long grad_output, grad_value;
} csm_infer_options;

/* Defaults: range 0..1, no crop, mean or std. */
void csm_infer_options_init(csm_infer_options *o);

/* The model's outputs. The strings of the options stay the caller's. */
typedef struct csm_infer_report csm_infer_report;
csm_status csm_infer_run(const csm_infer_options *o, csm_infer_report **report);
/* {"model", "outputs": [{"name", "shape", "data"}]} or per output its name,
 * shape and first 8 values, one line each; malloc'ed text. */
csm_status csm_infer_report_json(const csm_infer_report *r, char **text);
csm_status csm_infer_report_text(const csm_infer_report *r, char **text);
void csm_infer_report_free(csm_infer_report *r);

/* ---- Installed models (src/run/model_info.c) -------------------------------- */

/* The file of a model: name_or_path itself when it holds a '/' or ends in
 * .json or .onnx, else <csm_models_dir()>/<name>.json. */
const char *csm_model_file(const char *name_or_path, char *buf, size_t len);
/* csm models: every installed model (models NULL, n 0; the *.json files of
 * csm_models_dir(), by name) or the ones given, with its input shape and
 * layout as declared, outputs at batch 1, parameters and FLOPs per image;
 * as JSON or as the printed table. Nothing when one of them fails. */
csm_status csm_model_list(const char *const *models, int n, int json, char **text);
/* A model's feature maps (rank-4 nodes at batch 1, as the explaining runs
 * see the model: NHWC) with the default CAM layer and the weighted layers
 * counted from the output (what csm sanity randomizes); JSON or table. */
csm_status csm_model_layer_list(const char *model, int json, char **text);

/* ---- Frontalized faces (src/run/warp_run.c) --------------------------------- */

/* csm warp: every face of the images (with its mesh) warped into the
 * canonical frame, <out_dir>/<stem>_face<k>_warp.png (k from 1, largest
 * first); prnet: one PRNet mesh per image, <out_dir>/<stem>_warp.png. Every
 * image is computed before any file is written. */
typedef struct csm_warp_options {
  const char *out_dir;        /* created if missing */
  int size;                   /* the canonical raster (0: the canonical face's; prnet 256) */
  const char *canonical;      /* hidden parts from this photo (prnet: the frontal image) */
  int prnet;                  /* frontalize through PRNet meshes instead of FaceMesh */
  const char *mesh;           /* prnet: the mesh .mat, or a folder of <stem>_mesh.mat */
  const char *canonical_mesh; /* prnet: frontal_mesh.mat */
  csm_detect_options det;
} csm_warp_options;

void csm_warp_options_init(csm_warp_options *o);
/* *faces: the pictures written. */
csm_status csm_warp_run(const csm_warp_options *o, const char *const *paths, int n, int *faces);

/* ---- Face detection runs (src/run/detect_run.c) ----------------------------- */

/* csm detect: every face of the images (largest first) with its mesh and
 * head pose; out_dir (may be NULL) gets an overlay <stem>_faces.png per
 * image, written after every image was read. */
typedef struct csm_detect_run_options {
  const char *out_dir;
  csm_detect_options det;
  csm_progress_fn progress; /* after each image (input, n_inputs); may be NULL */
  void *progress_ctx;
} csm_detect_run_options;

void csm_detect_run_options_init(csm_detect_run_options *o);
/* The faces found. The paths stay the caller's. */
typedef struct csm_detect_report csm_detect_report;
csm_status csm_detect_run(const csm_detect_run_options *o, const char *const *paths, int n,
                          csm_detect_report **report);
/* {"images": [{"path", "faces": [{"box", "score", "roll", "keypoints",
 * "mesh_score", "mesh", "pose"}]}]} or the printed summary; malloc'ed. */
csm_status csm_detect_report_json(const csm_detect_report *r, char **text);
csm_status csm_detect_report_text(const csm_detect_report *r, char **text);
void csm_detect_report_free(csm_detect_report *r);

/* ---- The canonical face from photos (src/run/canon_build_run.c) ------------- */

/* csm canon-build: the mesh fitted to every face of the photos; the sure,
 * large, near-frontal ones (mesh score >= 0.9) make the canonical face
 * (csm_canon_build), saved as <out_dir>/facemesh_canonical.json (with each
 * face's source) and drawn shaded as <out_dir>/canonical_face.png. */
typedef struct csm_canon_build_options {
  const char *out_dir; /* created if missing */
  int size;            /* the canonical raster (default 256) */
  double margin;       /* border around the face, fraction of size (default 0.08) */
  double max_angle;    /* keep faces with |yaw| and |pitch| below, degrees (default 15) */
  int min_face;        /* keep faces whose box is at least this wide, pixels (default 80) */
} csm_canon_build_options;

void csm_canon_build_options_init(csm_canon_build_options *o);
/* *faces: the frontal faces used; *triangles: the canonical face's. */
csm_status csm_canon_build_run(const csm_canon_build_options *o, const char *const *photos, int n,
                               int *faces, int *triangles);

/* ---- The HTML report of run folders (src/run/report_html.c) ------------- */

/* A self-contained static HTML page (no network: images inline as data:
 * URIs, the stability plot as inline SVG) from a run folder (one with a
 * run.json, docs/formats.md) or from a folder whose sub-folders are run
 * folders (shown side by side, e.g. one CMS per task). Written atomically. */
csm_status csm_report_html(const char *dir, const char *out_path);

#ifdef __cplusplus
}
#endif
#endif
