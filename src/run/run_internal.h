/* What the files of run/ share: the explainer's state, its per-sample hook
 * (the methods runs compute their maps while a sample's scorer and views
 * are alive), and small helpers for the run folder. */
#ifndef CSM_RUN_INTERNAL_H
#define CSM_RUN_INTERNAL_H

#include "csm/csm.h"

struct csm_explainer {
  csm_explain_options o; /* resolved; strings owned by the caller */
  csm_task *task;
  csm_face_detector *det;
  csm_canon *canon;
  csm_prnet_canon *pc;
  float *centres;
  int n_centres, size;
  unsigned char *mask; /* size x size: the canonical face */
  csm_image background;
  int cls; /* the class index asked for, -1: predicted per face */
  csm_gallery *gallery;
  float threshold;
  /* The methods runs: called for every sample after its CIS (none when
   * skip_cis), while its scorer and views are alive; it may hang its own
   * results on f->result. */
  csm_status (*sample_hook)(void *ctx, const csm_scorer *sc, const csm_view *views, int n_views,
                            csm_face_result *f);
  void *hook_ctx;
  int skip_cis;
  /* Progress of the current run (csm_explainer_set_progress). */
  csm_progress_fn progress;
  void *progress_ctx;
  csm_progress pr;
  double t_start;
  int faces_total_estimate;
  int cancelled;
  float calibrated_accuracy;
  int calibrated_pairs;
};

float csm_run_cosine(const float *a, const float *b, int n);

/* The output folder (src/run/folder_lock.c). check: before any work, that
 * the folder can be made and written (creates nothing). lock: makes it and
 * takes an exclusive lock for this run (CSM_EUSAGE when another run holds
 * it), removing temporary files that killed writers left; unlock releases
 * it (-1: nothing to release). */
csm_status csm_run_folder_check(const char *dir);
csm_status csm_run_folder_lock(const char *dir, int *lock_fd);
void csm_run_folder_unlock(int lock_fd);
/* A sample's CIS from its occlusion, on the pixels the mode keeps (valid:
 * size x size bytes of scratch). */
csm_status csm_run_cis(const csm_explainer *x, const csm_view *views, int n_views,
                       unsigned char *valid, const csm_occlusion *occ, csm_map *cis);
/* The largest face of img with its mesh, or CSM_EINPUT "path: no face found". */
csm_status csm_run_largest_face(csm_face_detector *det, const csm_image *img, const char *path,
                                csm_face *out);

/* Reports x->pr (rate and ETA filled in); returns nonzero to cancel. */
int csm_run_report_progress(csm_explainer *x);
/* Starts a run's progress: n inputs from now. */
void csm_run_progress_start(csm_explainer *x, int n_inputs);
/* Before input i (0-based) of the run. */
void csm_run_progress_input(csm_explainer *x, int i);

/* Copies the calibration (if any) into the summary. */
void csm_run_summary_calibration(const csm_explainer *x, csm_run_summary *s);

/* Applies the explainer's thread count to the calling thread. */
void csm_run_use_threads(const csm_explainer *x);

/* The input's pixels: in->image (which 0) / image2 (1), else o->load_image,
 * else the file. *owned: the caller frees img. */
csm_status csm_run_load_image(const csm_explain_options *o, const csm_input *in, int which,
                              csm_image *img, int *owned);

/* dir/name, or CSM_EUSAGE when it does not fit. */
csm_status csm_run_path(char *buf, size_t len, const char *dir, const char *name);

/* A w x h float map as .npy. */
csm_status csm_run_write_npy(const char *path, const float *v, int w, int h);

/* ---- The run folder (run_folder.c): every run.json is written here ---- */

/* dir/run.json parsed (path gets its name): a JSON object, or CSM_EIO /
 * CSM_EINPUT naming the file. */
struct cJSON;
csm_status csm_run_folder_read(const char *dir, char *path, size_t path_len, struct cJSON **root);

/* csm cis's run.json: the faces' entries (and their files, through
 * csm_face_result_write). */
csm_status csm_run_folder_write_cis(const csm_explainer *x, const csm_input *in, int n,
                                    char *const *stems, csm_face_result *const *faces,
                                    const int *n_faces, const char *dir, double seconds);
/* Adds "reprojections": [{"image", "png"}] to dir/run.json for the photos
 * whose dir/reproject/<stem>.png exists (the report shows them). */
csm_status csm_run_folder_note_reprojections(const char *dir, char *const *photos, int n);

typedef struct csm_cms_job {
  const csm_explain_options *o; /* resolved */
  const csm_input *in;
  int n_images;
  const char *out_dir;
  int resume, no_cis, jobs;
} csm_cms_job;

/* The run's state: what run.json records. */
typedef struct csm_cms_state {
  int done;    /* inputs finished, in order */
  char *faces; /* the faces' JSON objects, comma-separated */
  size_t faces_len;
  char *failures; /* JSON objects */
  size_t failures_len;
  int n_faces, n_failures;
  double seconds; /* spent in earlier sessions */
  char *params;   /* the parameters object, to check a resume against */
} csm_cms_state;

void csm_cms_state_free(csm_cms_state *s);
/* Appends a JSON text to a comma-separated list. */
csm_status csm_run_append_json(char **buf, size_t *len, const char *text);
/* The resume key: task, class, the inputs' hash and the parameters. */
char *csm_cms_params_json(const csm_cms_job *a, int size);
csm_status csm_cms_checkpoint_path(const char *dir, int done, char *buf, size_t len);
csm_status csm_cms_write_run_json(const csm_cms_job *a, const csm_explainer *x,
                                  const csm_cms_state *s, double seconds, int complete,
                                  const csm_cms *cms);
/* Reads run.json and the checkpoint it names (resume), and checks that
 * they are this run's (s->params, a size x size raster) before anything is
 * written; *cms stays NULL when the run was killed before its first input. */
csm_status csm_cms_load_state(const csm_cms_job *a, int size, csm_cms_state *s, csm_cms **cms);
/* The identity a run's checkpoints carry: FNV-1a 64 of its resume key
 * (inputs and options; csm_cms_params_json) in cJSON's compact form. */
uint64_t csm_cms_run_identity(const char *params_json);
csm_status csm_cms_write_results(const csm_cms_job *a, const csm_explainer *x, const csm_cms *cms,
                                 const csm_cms_state *s, const char *const *reasons_csv);
csm_status csm_cms_add_failure(csm_cms_state *s, const char *image, const char *reason);

#endif
