/* csm explain: occlusion saliency measured on a face's dense alignment and
 * written onto the canonical face (CIS), the mean over a dataset (CMS), and
 * reprojection of canonical maps onto faces. DESIGN.md, steps 2-5. */
#ifndef CSM_EXPLAIN_H
#define CSM_EXPLAIN_H

#include "csm/face.h"
#include "csm/task.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Occlusion centres (src/explain/centres.c) ---------------------------- */

/* The canonical face's 468 mesh points scaled into a size x size canonical
 * raster (size <= 0: the canonical size): *uv is n x 2 (malloc'ed). */
csm_status csm_centres_mesh(const csm_canon *c, int size, float **uv, int *n);
/* A grid with the given stride (pixels) over the set pixels of a w x h mask,
 * at pixel centres (i + 0.5, j + 0.5) for i, j = stride/2, stride/2 + stride, ...;
 * *uv is n x 2 (malloc'ed). */
csm_status csm_centres_grid(const unsigned char *mask, int w, int h, int stride, float **uv,
                            int *n);

/* ---- Occlusion engine (src/explain/occlusion.c) ----------------------------- */

/* One face as the model sees it. */
typedef struct csm_view {
  const float *input;   /* the preprocessed model input: size x size x channels */
  double crop[6];       /* input pixel -> image pixel (csm_task_crop_matrix_image) */
  const csm_corr *corr; /* image <-> canonical face, rasterized at the map's size */
  /* Optional: each centre's position in this input (n_centres x 2, input
   * pixels, continuous), given by the alignment itself, as the reference
   * code takes vertex k of the image's mesh for vertex k of the canonical
   * one. Then no centre is skipped for visibility or for lying outside the
   * input: a patch that covers no input pixel drops 0 (the reference
   * code's rule). NULL: each centre is mapped through corr. */
  const double *centre_pos;
} csm_view;

typedef enum csm_patch_space {
  /* A square of `patch` canonical pixels around the centre, applied to the
   * input pixels whose canonical point falls inside it: the same facial area
   * at every pose and input size. */
  CSM_PATCH_CANONICAL,
  /* The paper's axis-aligned square of `patch` input pixels at a 224-pixel
   * input (scaled to the model's input size) around the centre's input
   * position. */
  CSM_PATCH_IMAGE
} csm_patch_space;

typedef enum csm_fill {
  CSM_FILL_ZERO, /* black pixels (the paper): the scorer's black[] values */
  CSM_FILL_MEAN, /* the input's per-channel mean */
  CSM_FILL_BLUR, /* a blurred copy of the input (box blur, radius = patch / 2) */
  /* 0 in the model's input space, after normalization: what the reference
   * code does (`pimg[:, :, y1:y2, x1:x2] = 0` on the normalized tensor),
   * i.e. the normalization mean's colour, not black. */
  CSM_FILL_INPUT_ZERO
} csm_fill;

/* Which pixels a square of side s around a point c covers on an axis of n
 * pixels (continuous coordinates: pixel k spans [k, k+1)). */
typedef enum csm_square_rule {
  /* round(s) pixels starting at floor(c) - round(s)/2, clipped to the axis:
   * centred on the point's pixel (15 px: x-7 .. x+7, as img[y-7:y+8]). */
  CSM_SQUARE_CENTRED,
  /* The reference code's: from max(0, floor(c - s/2)) for floor(s) pixels,
   * clipped at n (a square that would start before 0 is shifted inside,
   * one past the end is cut). */
  CSM_SQUARE_REFERENCE
} csm_square_rule;

typedef struct csm_occlusion_options {
  csm_patch_space space;  /* default CSM_PATCH_CANONICAL */
  double patch;           /* default 20 (canonical) or 15 (image) */
  double footprint;       /* CIS square side in canonical pixels (default: 20) */
  csm_fill fill;          /* default CSM_FILL_ZERO */
  csm_square_rule square; /* patches and footprints; default CSM_SQUARE_CENTRED */
  size_t memory_budget;   /* bytes of occluded inputs per batch (default 256 MiB) */
  int max_batch;          /* default 64 */
  /* Called after every batch (may be NULL). */
  void (*progress)(void *ctx, int done, int total);
  void *progress_ctx;
} csm_occlusion_options;

csm_occlusion_options csm_occlusion_options_default(void);

/* The result of occluding one sample at every centre. */
typedef struct csm_occlusion {
  int n_centres;
  float *centres;         /* n x 2 canonical points (a copy) */
  float *drop;            /* n: f(I) - f(I occluded at the centre); NAN where not evaluated */
  int n_evaluated;        /* centres visible in every view and inside every input */
  float base;             /* f(I) */
  csm_square_rule square; /* the options' rule, which the CIS footprints follow */
  int views, size;        /* input_map is views x size x size */
  float *input_map;       /* mean drop of the occlusions covering each input pixel, 0 where none */
  float *input_count;     /* how many occlusions covered each input pixel */
  double seconds;
} csm_occlusion;

/* Occludes the sample (s->views views) at every centre visible in all views,
 * evaluates the occluded inputs in batches and records the drops. centres
 * are points of the canon_w x canon_h canonical raster that every view's
 * corr was built at. */
csm_status csm_occlusion_run(const csm_scorer *s, const csm_view *views, const float *centres,
                             int n_centres, int canon_w, int canon_h,
                             const csm_occlusion_options *opt, csm_occlusion *out);
void csm_occlusion_free(csm_occlusion *o);

/* ---- Canonical maps (src/explain/cis.c) ------------------------------------ */

/* A w x h float map with a per-pixel count; value is 0 where count is 0. */
typedef struct csm_map {
  int w, h;
  float *value;
  float *count;
} csm_map;

csm_status csm_map_alloc(csm_map *m, int w, int h);
void csm_map_free(csm_map *m);

/* CIS (DESIGN.md step 3): every evaluated centre adds its drop to the
 * footprint x footprint canonical square around it (o->square's rule) in H
 * and 1 in N;
 * value = H / N where N > 0 and valid (may be NULL: all valid), else 0
 * (count set to 0 there too). valid is typically the canonical face mask
 * AND the pixels visible in every view. */
csm_status csm_cis_compute(const csm_occlusion *o, double footprint, const unsigned char *valid,
                           int w, int h, csm_map *out);

/* The canonical pixels to keep for a sample: the face mask (may be NULL)
 * AND every view's visible canonical pixels. out: w x h bytes. */
void csm_cis_valid(const unsigned char *mask, const csm_view *views, int n_views, int w, int h,
                   unsigned char *out);

/* ---- CMS (src/explain/cms.c) ------------------------------------------------ */

/* A streaming per-pixel mean of maps over the images where the pixel was
 * valid, with counts, the standard error and the stability snapshots
 * (running mean after 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, ... maps). */
typedef struct csm_cms csm_cms;

csm_status csm_cms_create(int w, int h, csm_cms **out);
void csm_cms_free(csm_cms *c);
/* Adds one map: pixels with map->count > 0 are counted. */
csm_status csm_cms_add(csm_cms *c, const csm_map *map);
int csm_cms_images(const csm_cms *c);
int csm_cms_width(const csm_cms *c);
int csm_cms_height(const csm_cms *c);
/* mean (0 where no image), count (images per pixel) and standard error of
 * the mean (sample standard deviation / sqrt(count); 0 where count < 2);
 * any may be NULL. w x h floats each. */
void csm_cms_result(const csm_cms *c, float *mean, float *count, float *std_err);
/* The stability curve: for each snapshot, its image count and the Pearson
 * correlation of the running mean then with the current mean, over pixels
 * covered by both. Returns the number of snapshots written (<= max). */
int csm_cms_stability(const csm_cms *c, int *images, double *corr, int max);
/* Checkpoint: the whole state, bit-exact, written atomically; load gives a
 * CMS that continues exactly as the saved one would have. */
/* The identity of the run that the state belongs to (e.g. a hash of its
 * inputs and options), saved in the checkpoint so that a resume can refuse
 * another run's checkpoint before it writes anything. 0: none. */
void csm_cms_set_identity(csm_cms *c, uint64_t identity);
uint64_t csm_cms_identity(const csm_cms *c);
csm_status csm_cms_save(const csm_cms *c, const char *path);
csm_status csm_cms_load(const char *path, csm_cms **out);

/* ---- Reprojection (src/explain/reproject.c) ----------------------------- */

/* A canonical map (w x h, the corr's raster; valid may be NULL) read
 * bilinearly at each image pixel's canonical point. out: image_w x image_h
 * floats, NAN where the pixel is not on the visible face or reads only
 * invalid canonical pixels. */
csm_status csm_reproject(const float *map, const unsigned char *valid, int w, int h,
                         const csm_corr *corr, int image_w, int image_h, float *out);
/* The same onto a face's model input: each input pixel centre of the view
 * (its crop matrix and corr) reads the map at its canonical point. out:
 * size x size floats, NAN off the visible face. The CMS and CIS as maps in
 * the input space of the generic methods. */
csm_status csm_reproject_input(const float *map, const unsigned char *valid, int w, int h,
                               const csm_view *view, int size, float *out);

/* ---- Generic saliency methods, the paper's baselines (src/explain/cam.c,
 * scorecam.c, gradient.c, window_occlusion.c, methods.c) -------------------
 * Every method explains one sample of a scorer (s->views preprocessed
 * inputs, as the occlusion engine takes them) with the same confidence as
 * CIS, so they work for every task including verify and identify. A map is
 * in input space: views x size x size floats, row-major, the method's own
 * units (not normalized). Gradient methods need a white-box scorer
 * (s->model and s->conf_grad); Score-CAM and occlusion need only
 * forward passes, but Score-CAM reads activations and so needs s->model. */
typedef enum csm_method {
  /* Grad-CAM (Selvaraju et al. 2017): w_k = spatial mean of d conf / d A_k
   * at the layer; map = ReLU(sum_k w_k A_k), bilinearly upsampled. */
  CSM_METHOD_GRADCAM,
  /* Grad-CAM++ (Chattopadhyay et al. 2018), with the exponential closed
   * form: a_ij = g^2 / (2 g^2 + sum_ab A_ab g^3), w_k = sum_ij a_ij ReLU(g_ij). */
  CSM_METHOD_GRADCAM_PP,
  /* Score-CAM (Wang et al. 2020): each channel's activation, upsampled and
   * min-max normalized to a mask M_k in [0, 1], weighs the input (pixels
   * move towards black: black + (x - black) M_k); w_k = conf(masked) -
   * conf(all black) (the channel's increase of confidence, Definition 2);
   * map = ReLU(sum_k w_k A_k) upsampled. Constant channels get w_k = 0. */
  CSM_METHOD_SCORECAM,
  /* Sliding-window occlusion (Zeiler and Fergus 2014) in input space: a
   * black square of `window` pixels every `stride` pixels; each pixel gets
   * the mean confidence drop of the windows that cover it. */
  CSM_METHOD_OCCLUSION,
  /* Vanilla gradient (Simonyan et al. 2014): max over channels of
   * |d conf / d input|. */
  CSM_METHOD_GRADIENT,
  /* SmoothGrad (Smilkov et al. 2017): the mean of the vanilla gradient map
   * over `smooth_samples` copies of the input with Gaussian noise of
   * standard deviation smooth_sigma x (input max - input min), seeded. */
  CSM_METHOD_SMOOTHGRAD,
  CSM_METHOD_COUNT
} csm_method;

/* "gradcam", "gradcam++", "scorecam", "occlusion", "gradient", "smoothgrad". */
const char *csm_method_name(csm_method m);
/* The method named name, or -1. */
int csm_method_parse(const char *name);
/* 1 if the method needs gradients (s->conf_grad), 0 if forward passes do. */
int csm_method_needs_gradients(csm_method m);

typedef struct csm_method_options {
  int layer;          /* CAM layer node; < 0: csm_cam_default_layer */
  int window, stride; /* occlusion; <= 0: size / 8 and window / 2 */
  int smooth_samples; /* default 25 */
  float smooth_sigma; /* default 0.15 */
  uint64_t seed;      /* SmoothGrad noise (default 1) */
  int max_batch; /* inputs per forward or backward batch (default 8: a tape keeps every value) */
  /* Called as work is done (may be NULL). */
  void (*progress)(void *ctx, int done, int total);
  void *progress_ctx;
} csm_method_options;

csm_method_options csm_method_options_default(void);

/* The default CAM layer: the last node (in topological order) computed at
 * run time whose value is [batch, H, W, C] with H > 1 and W > 1 and that
 * is a convolution or depends on one through element-wise ops only (its
 * activation, batch norm arithmetic, a residual Add), i.e. the last
 * convolutional feature map with spatial size > 1. CSM_EUNSUPPORTED when
 * the model has none. */
csm_status csm_cam_default_layer(csm_model *m, int *node);

/* Runs one method on one sample: inputs is s->views inputs; out gets
 * s->views x s->size x s->size floats. */
csm_status csm_method_run(const csm_scorer *s, csm_method method, const float *inputs,
                          const csm_method_options *opt, float *out);

#ifdef __cplusplus
}
#endif
#endif
