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
  CSM_FILL_BLUR  /* a blurred copy of the input (box blur, radius = patch / 2) */
} csm_fill;

typedef struct csm_occlusion_options {
  csm_patch_space space; /* default CSM_PATCH_CANONICAL */
  double patch;          /* default 20 (canonical) or 15 (image) */
  double footprint;      /* CIS square side in canonical pixels (default: 20) */
  csm_fill fill;         /* default CSM_FILL_ZERO */
  size_t memory_budget;  /* bytes of occluded inputs per batch (default 256 MiB) */
  int max_batch;         /* default 64 */
  /* Called after every batch (may be NULL). */
  void (*progress)(void *ctx, int done, int total);
  void *progress_ctx;
} csm_occlusion_options;

csm_occlusion_options csm_occlusion_options_default(void);

/* The result of occluding one sample at every centre. */
typedef struct csm_occlusion {
  int n_centres;
  float *centres;     /* n x 2 canonical points (a copy) */
  float *drop;        /* n: f(I) - f(I occluded at the centre); NAN where not evaluated */
  int n_evaluated;    /* centres visible in every view and inside every input */
  float base;         /* f(I) */
  int views, size;    /* input_map is views x size x size */
  float *input_map;   /* mean drop of the occlusions covering each input pixel, 0 where none */
  float *input_count; /* how many occlusions covered each input pixel */
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
 * footprint x footprint canonical square around it in H and 1 in N;
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
csm_status csm_cms_save(const csm_cms *c, const char *path);
csm_status csm_cms_load(const char *path, csm_cms **out);

/* ---- Reprojection (src/explain/reproject.c) ----------------------------- */

/* A canonical map (w x h, the corr's raster; valid may be NULL) read
 * bilinearly at each image pixel's canonical point. out: image_w x image_h
 * floats, NAN where the pixel is not on the visible face or reads only
 * invalid canonical pixels. */
csm_status csm_reproject(const float *map, const unsigned char *valid, int w, int h,
                         const csm_corr *corr, int image_w, int image_h, float *out);

#ifdef __cplusplus
}
#endif
#endif
