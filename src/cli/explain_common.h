/* What csm cis, csm cms and csm demo share: the options that say how faces
 * are occluded and mapped, the resources they need (task, detector,
 * canonical face), one face's CIS and the files written for it. */
#ifndef CSM_CLI_EXPLAIN_COMMON_H
#define CSM_CLI_EXPLAIN_COMMON_H

#include "cli.h"
#include "custom_options.h"

typedef struct explain_args {
  const char *task;
  const char *cls; /* --class; NULL: each face's predicted class */
  const char *out_dir;
  int grid_stride; /* > 0: grid centres; 0: the canonical mesh points */
  int size;        /* canonical raster (0: 256 FaceMesh, 224 PRNet) */
  int batch;       /* --batch (0: the engine's default) */
  int prnet;       /* --align prnet */
  const char *meshes, *canonical_mesh, *canonical_photo;
  csm_occlusion_options occ;
  csm_detect_options det;
  int det_user_detector, det_user_score; /* given on the command line */
  int quiet;                             /* no progress lines */
  /* A custom model (--model): its task description, from the flags. */
  custom_args custom;
  /* verify and identify */
  int mode;              /* EXPLAIN_CLASSIFY, EXPLAIN_VERIFY, EXPLAIN_IDENTIFY */
  const char *embedding; /* the embedding task (default embed-faceres) */
  double threshold;      /* verify: NAN until given or calibrated */
  const char *calibrate; /* verify: a pair list to calibrate the threshold on */
  int truth;             /* verify: 1 --same, 0 --different, -1 the model decides */
  const char *gallery, *identity;
} explain_args;

enum { EXPLAIN_CLASSIFY, EXPLAIN_VERIFY, EXPLAIN_IDENTIFY };

/* One input of a run: an image (each of its faces is a sample) or, for
 * verify, a pair of images whose largest faces form one sample. */
typedef struct explain_input {
  const char *path, *path2;
  int truth;            /* verify: 1 same person, 0 different, -1 the model decides */
  const char *identity; /* identify: the true identity (NULL: the nearest) */
} explain_input;

/* The run's inputs from the positional arguments (verify: taken two by
 * two) and an optional list file: one input per line, "IMAGE" ("IMAGE
 * IDENTITY" for identify; "IMAGE1 IMAGE2 [same|different]" for verify),
 * blank lines and # comments ignored. *buf keeps the file's text. */
csm_status explain_inputs(const explain_args *a, const char *const *pos, int n_pos,
                          const char *list, explain_input **out, int *n, char **buf);

/* Defaults for every field. */
void explain_args_init(explain_args *a);
/* Takes argv[*i] when it is an explain option (advancing *i past its value):
 * 1 taken, 0 not ours, -1 usage error printed for `cmd`. */
int explain_option(const char *cmd, int argc, char **argv, int *i, explain_args *a);
/* Checks the combination after parsing; prints a usage error (returns 1). */
int explain_args_check(const char *cmd, explain_args *a);
/* The "parameters" object of run.json. */
void explain_write_parameters(FILE *fp, const explain_args *a, int canon_size);
/* The options' help lines. */
void explain_options_print_help(FILE *fp);

/* Loaded once per run. */
typedef struct face_cis face_cis;

typedef struct explain_ctx {
  csm_task *task;
  csm_face_detector *det;
  csm_canon *canon;
  csm_prnet_canon *pc;
  float *centres;
  int n_centres, size;
  unsigned char *mask; /* size x size: the canonical face */
  csm_image background;
  int cls; /* the --class index, -1: predicted per face */
  csm_gallery *gallery;
  float threshold;
  /* csm compare, eval and sanity: called for every sample after its CIS
   * (none when skip_cis), while its scorer and views are alive; it may
   * hang its own results on f->result. */
  csm_status (*sample_hook)(void *ctx, const csm_scorer *sc, const csm_view *views, int n_views,
                            face_cis *f);
  void *hook_ctx;
  int skip_cis;
} explain_ctx;

csm_status explain_open(const explain_args *a, explain_ctx *x);
void explain_close(explain_ctx *x);

/* One face's result. */
struct face_cis {
  csm_face face;
  int face_index; /* 1-based within its image */
  int label;      /* the class explained (-1: a value task) */
  char label_name[128];
  char what[64];
  char extra[160]; /* more JSON members for the face's entry (", \"k\": v"), or "" */
  csm_occlusion occ;
  csm_map cis;
  csm_image crop;  /* the model's input crop as RGB, for the input-space picture */
  csm_image crop2; /* a verify pair's second crop */
  void *result;    /* the sample hook's (freed with result_free) */
  void (*result_free)(void *result);
};

void face_cis_free(face_cis *f);

/* Progress of one image's faces, on stderr. */
typedef struct explain_progress {
  const char *cmd;
  int image, n_images; /* 1-based */
  int face, n_faces;
  double t_start; /* of the whole run */
  int faces_done; /* before this face, in the whole run */
  int faces_total_estimate;
  int enabled;
} explain_progress;

/* Every sample of one input (an image: every face, FaceMesh mode: detected,
 * largest first; PRNet mode: the image's one PRNet mesh; a verify pair: one
 * sample): *faces malloc'ed, *n may be 0. */
csm_status explain_input_run(explain_ctx *x, const explain_args *a, const explain_input *in,
                             explain_progress *pr, face_cis **faces, int *n);

/* File stem for an input image: its base name without extension. */
void explain_stem(const char *path, char *buf, size_t len);

/* Output stems for n inputs: base names without extension ("a__b" for a
 * pair), made unique in input order ("a", "a-2", ...). malloc'ed array of
 * malloc'ed strings; free with explain_stems_free. NULL when out of memory. */
char **explain_stems(const explain_input *inputs, int n);
void explain_stems_free(char **stems, int n);

/* Writes <dir>/<stem>_face<k>.npy/.png and _input.npy/_input.png, and the
 * face's run.json entry into fp (a JSON object, no trailing comma). dir
 * NULL: no files, and the entry names none. */
csm_status explain_write_face(const explain_ctx *x, const explain_args *a, const char *dir,
                              const explain_input *in, const char *stem, const face_cis *f,
                              FILE *json);

/* The canonical face picture (run.json's canonical_png). */
csm_status explain_write_canonical(const explain_ctx *x, const char *dir);

/* A .npy of a w x h float map. */
csm_status explain_write_npy(const char *path, const float *v, int w, int h);

/* Progress lines go to stderr when it is a terminal or CSM_PROGRESS=1. */
int explain_progress_wanted(const explain_args *a);

#endif
