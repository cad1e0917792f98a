/* bench_occlusion TASK IMAGE [--face K] [--dump FILE.npy] [--threads N] [--repeat R]
 *                 [--batch B] [--pin]
 *
 * Occlusion saliency speed of csm on one face: the face is found and aligned
 * as `csm cis` does (src/run/explain_options.c: the task's detector settings
 * with the mesh, the canonical face's 468 mesh points as centres on a 256 x 256
 * canonical raster, the engine's default patch, fill and batch), then
 * csm_occlusion_run + csm_cis_compute run once to warm up and R times (default
 * 3) timed; the median is reported. Prints one JSON line:
 *   {task, model, input: [H, W, C], centres, evaluated, seconds_per_cis,
 *    occluded_per_s, inference_only_per_s, threads, batch, ...}
 * occluded_per_s = evaluated / seconds_per_cis (building the occluded inputs,
 * the model runs and the CIS); inference_only_per_s counts only the time spent
 * inside the task's scorer on the occluded inputs.
 *
 * --dump FILE.npy writes the occluded inputs the scorer received in the
 * warm-up run, [N, H, W, C] float32 in evaluation order, and beside it
 * STEM.conf.npy (the N confidences csm computed) and STEM.json (output node,
 * how it maps to the confidence, class, batch), STEM being FILE without
 * ".npy": bench/tfjs_occlusion_bench.mjs runs the same set through TF.js.
 *
 * Threads: csm_set_threads(N) lets libgomp give parallel regions fewer than N
 * threads (dynamic adjustment), and libgomp takes N minus the 15-minute load
 * average: on a 2-core machine one thread once that average reaches 0.9.
 * "team" in the JSON is the team a parallel region got just before the timed
 * runs (with "load15"); --pin turns the adjustment off, so that csm runs on N
 * threads like a fixed thread pool (TF.js-wasm's). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "csm/csm.h"

#define CANON_SIZE 256

static void usage(void) {
  fprintf(stderr, "usage: bench_occlusion TASK IMAGE [--face K] [--dump FILE.npy] [--threads N] "
                  "[--repeat R] [--batch B] [--pin]\n");
}

/* The threads a parallel region gets now. */
static int team_size(void) {
  int n = 1;
#ifdef _OPENMP
#pragma omp parallel
  {
#pragma omp single
    n = omp_get_num_threads();
  }
#endif
  return n;
}

/* ---- A scorer that forwards to the task's and times (and keeps) what it sees */

typedef struct wrap_ctx {
  const csm_scorer *real;
  size_t numel;     /* floats per input */
  int calls;        /* in this run */
  int max_batch;    /* largest batch seen */
  double inference; /* seconds inside the real scorer on occluded inputs, this run */
  int dumping;      /* keep the occluded inputs and their confidences */
  float *inputs;    /* n_kept x numel */
  float *conf;      /* n_kept */
  size_t n_kept, cap;
} wrap_ctx;

static csm_status wrap_score(void *vctx, const float *inputs, int n, float *conf) {
  wrap_ctx *w = vctx;
  double t0 = csm_now();
  csm_status st = w->real->score(w->real->ctx, inputs, n, conf);
  double t = csm_now() - t0;
  if (st) return st;
  w->calls++;
  w->inference += t;
  if (n > w->max_batch) w->max_batch = n;
  if (!w->dumping) return CSM_OK;
  if (w->n_kept + (size_t)n > w->cap) {
    size_t cap = w->cap ? w->cap : 64;
    while (cap < w->n_kept + (size_t)n)
      cap *= 2;
    float *in = realloc(w->inputs, cap * w->numel * sizeof(float));
    if (!in) return csm_fail(CSM_ENOMEM, "out of memory (%zu dumped inputs)", cap);
    w->inputs = in;
    float *c = realloc(w->conf, cap * sizeof(float));
    if (!c) return csm_fail(CSM_ENOMEM, "out of memory (%zu dumped inputs)", cap);
    w->conf = c;
    w->cap = cap;
  }
  memcpy(w->inputs + w->n_kept * w->numel, inputs, (size_t)n * w->numel * sizeof(float));
  memcpy(w->conf + w->n_kept, conf, (size_t)n * sizeof(float));
  w->n_kept += (size_t)n;
  return CSM_OK;
}

/* ---- Helpers ---------------------------------------------------------------- */

static const char *models_dir(void) {
  static char dir[PATH_MAX];
  const char *env = getenv("CSM_MODELS_DIR");
  if (env && *env) return env;
  /* BUILD/bench/bench_occlusion -> BUILD/../models */
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash) {
      *slash = '\0';
      if (snprintf(dir, sizeof dir, "%s/../../models", exe) < (int)sizeof dir &&
          access(dir, R_OK) == 0)
        return dir;
    }
  }
  return "models";
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static int parse_int(const char *s, int lo, int hi, int *out) {
  char *end;
  long v = strtol(s, &end, 10);
  if (end == s || *end || v < lo || v > hi) return -1;
  *out = (int)v;
  return 0;
}

/* The dump's side files: STEM.conf.npy and STEM.json, STEM = path without ".npy". */
static csm_status dump_write(const char *path, const csm_task_info *info, int cls, int batch,
                             float base, const wrap_ctx *w) {
  char stem[PATH_MAX], file[PATH_MAX];
  snprintf(stem, sizeof stem, "%s", path);
  size_t len = strlen(stem);
  if (len > 4 && !strcmp(stem + len - 4, ".npy")) stem[len - 4] = 0;
  int64_t dims[4] = {(int64_t)w->n_kept, info->size, info->size, info->channels};
  csm_tensor t = {CSM_F32, csm_shape_make(4, dims), w->inputs, 0};
  csm_status st = csm_npy_write(path, &t);
  if (st) return st;
  if (snprintf(file, sizeof file, "%s.conf.npy", stem) >= (int)sizeof file)
    return csm_fail(CSM_EUSAGE, "dump path too long: %s", path);
  int64_t n = (int64_t)w->n_kept;
  csm_tensor c = {CSM_F32, csm_shape_make(1, &n), w->conf, 0};
  if ((st = csm_npy_write(file, &c))) return st;
  if (snprintf(file, sizeof file, "%s.json", stem) >= (int)sizeof file)
    return csm_fail(CSM_EUSAGE, "dump path too long: %s", path);
  FILE *fp = fopen(file, "w");
  if (!fp) return csm_fail(CSM_EIO, "%s: cannot write", file);
  /* The output node without a trailing ":0". */
  char output[256];
  snprintf(output, sizeof output, "%s", info->output ? info->output : "");
  len = strlen(output);
  if (len > 2 && !strcmp(output + len - 2, ":0")) output[len - 2] = 0;
  fprintf(fp,
          "{\"task\": \"%s\", \"model\": \"%s\", \"output\": \"%s\", \"kind\": \"%s\", "
          "\"class\": %d, \"n_classes\": %d, \"input\": [%d, %d, %d], \"n\": %zu, "
          "\"batch\": %d, \"base\": %.9g}\n",
          info->name, info->model, output, csm_task_output_name(info->kind), cls, info->n_classes,
          info->size, info->size, info->channels, w->n_kept, batch, (double)base);
  if (fclose(fp)) return csm_fail(CSM_EIO, "%s: write failed", file);
  return CSM_OK;
}

/* ---- main ------------------------------------------------------------------- */

int main(int argc, char **argv) {
  const char *task_name = NULL, *image_path = NULL, *dump = NULL;
  int face_k = 1, repeat = 3, batch = 0, pin = 0;
  int threads = 2;
  const char *env = getenv("CSM_THREADS");
  if (env && *env && parse_int(env, 1, 1024, &threads)) threads = 2;
  int npos = 0;
  for (int i = 1; i < argc; i++) {
    const char *o = argv[i];
    int has = i + 1 < argc;
    if (!strcmp(o, "--face") && has) {
      if (parse_int(argv[++i], 1, 1000, &face_k)) return usage(), 1;
    } else if (!strcmp(o, "--dump") && has) {
      dump = argv[++i];
    } else if (!strcmp(o, "--threads") && has) {
      if (parse_int(argv[++i], 1, 1024, &threads)) return usage(), 1;
    } else if (!strcmp(o, "--repeat") && has) {
      if (parse_int(argv[++i], 1, 1000, &repeat)) return usage(), 1;
    } else if (!strcmp(o, "--batch") && has) {
      if (parse_int(argv[++i], 1, 4096, &batch)) return usage(), 1;
    } else if (!strcmp(o, "--pin")) {
      pin = 1;
    } else if (o[0] == '-' && o[1]) {
      return usage(), 1;
    } else if (npos == 0) {
      task_name = o, npos++;
    } else if (npos == 1) {
      image_path = o, npos++;
    } else {
      return usage(), 1;
    }
  }
  if (npos != 2) return usage(), 1;
  const csm_task_info *want = csm_task_find(task_name);
  if (!want) {
    fprintf(stderr, "bench_occlusion: unknown task '%s'\n", task_name);
    return 1;
  }
  if (want->kind == CSM_TASK_EMBEDDING) {
    fprintf(stderr, "bench_occlusion: task '%s' gives embeddings: not supported\n", task_name);
    return 1;
  }
  csm_set_threads(threads);
#ifdef _OPENMP
  if (pin) omp_set_dynamic(0);
#endif

  csm_task *task = NULL;
  csm_face_detector *det = NULL;
  csm_canon *canon = NULL;
  csm_image img = {0};
  csm_face *faces = NULL;
  csm_corr *corr = NULL;
  float *centres = NULL, *input = NULL;
  unsigned char *mask = NULL, *valid = NULL;
  csm_scorer sc;
  memset(&sc, 0, sizeof sc);
  wrap_ctx w;
  memset(&w, 0, sizeof w);
  csm_occlusion occ;
  memset(&occ, 0, sizeof occ);
  csm_map cis;
  memset(&cis, 0, sizeof cis);
  double *secs = NULL, *infer = NULL;
  int n_centres = 0, n_faces = 0, rc = 2;
  const int S = CANON_SIZE;

  csm_status st = csm_task_load(models_dir(), task_name, &task);
  const csm_task_info *info = st ? NULL : csm_task_get_info(task);
  /* How csm cis finds faces (explain_args_check): the task's detector, with the mesh. */
  if (!st) {
    csm_detect_options d = csm_detect_options_default();
    csm_detect_options t = csm_task_detect_options(info);
    d.detector = t.detector;
    d.min_score = t.min_score;
    d.hard_nms = t.hard_nms;
    d.mesh = 1;
    d.refine = info->human_grid ? t.refine : 1;
    st = csm_face_detector_create(models_dir(), &d, &det);
  }
  if (!st) st = csm_image_load(image_path, &img);
  if (!st) st = csm_face_detect(det, &img, &faces, &n_faces);
  if (!st) {
    int kept = 0; /* faces FaceMesh could not fit cannot be aligned */
    for (int k = 0; k < n_faces; k++)
      if (faces[k].has_mesh) faces[kept++] = faces[k];
    n_faces = kept;
    if (face_k > n_faces)
      st = csm_fail(CSM_EINPUT, "%s: face %d asked, %d found", image_path, face_k, n_faces);
  }
  /* The canonical face, its mask at the raster's size and the mesh centres. */
  if (!st) st = csm_canon_default(&canon);
  if (!st) {
    mask = csm_malloc((size_t)S * S);
    valid = csm_malloc((size_t)S * S);
    if (!mask || !valid) st = CSM_ENOMEM;
  }
  if (!st) {
    const unsigned char *m = csm_canon_mask(canon);
    int cw = csm_canon_width(canon), ch = csm_canon_height(canon);
    for (int j = 0; j < S; j++)
      for (int i = 0; i < S; i++) {
        int si = (int)((i + 0.5) * cw / S), sj = (int)((j + 0.5) * ch / S);
        mask[(size_t)j * S + i] = m[(size_t)sj * cw + si];
      }
    st = csm_centres_mesh(canon, S, &centres, &n_centres);
  }
  /* The face: crop, correspondence, input, predicted class, scorer. */
  double m[6];
  const csm_face *face = faces ? &faces[face_k - 1] : NULL;
  if (!st) st = csm_task_crop_matrix_image(info, face, img.w, img.h, m);
  if (!st) st = csm_canon_corr(canon, face, img.w, img.h, S, &corr);
  size_t numel = info ? csm_task_input_numel(info) : 0;
  if (!st && !(input = csm_malloc_array(numel, sizeof(float)))) st = CSM_ENOMEM;
  if (!st) st = csm_task_preprocess_matrix(info, &img, m, input);
  csm_task_result res;
  int cls = 0;
  if (!st) st = csm_task_run(task, input, 1, &res);
  if (!st) {
    cls = info->n_classes > 0 ? res.label : 0;
    st = csm_scorer_class(task, cls, &sc);
  }
  csm_occlusion_options opt = csm_occlusion_options_default();
  if (batch) opt.max_batch = batch;
  double footprint = opt.footprint > 0 ? opt.footprint : 20;
  csm_scorer wrapped = sc;
  wrapped.score = wrap_score;
  wrapped.ctx = &w;
  wrapped.free_ctx = NULL;
  w.real = &sc;
  w.numel = numel;
  csm_view view = {input, {m[0], m[1], m[2], m[3], m[4], m[5]}, corr, NULL};
  if (!st) {
    secs = calloc((size_t)repeat, sizeof *secs);
    infer = calloc((size_t)repeat, sizeof *infer);
    if (!secs || !infer) st = CSM_ENOMEM;
  }
  /* Run 0 warms up (and dumps); runs 1..R are timed. */
  int team = 0;
  double load[3] = {-1, -1, -1};
  for (int r = 0; !st && r <= repeat; r++) {
    if (r == 1) {
      team = team_size();
      if (getloadavg(load, 3) != 3) load[2] = -1;
    }
    w.calls = 0, w.inference = 0, w.dumping = r == 0 && dump;
    csm_occlusion_free(&occ);
    csm_map_free(&cis);
    double t0 = csm_now();
    st = csm_occlusion_run(&wrapped, &view, centres, n_centres, S, S, &opt, &occ);
    if (!st) {
      csm_cis_valid(mask, &view, 1, S, S, valid);
      st = csm_cis_compute(&occ, footprint, valid, S, S, &cis);
    }
    double t = csm_now() - t0;
    if (r > 0) secs[r - 1] = t, infer[r - 1] = w.inference;
  }
  if (!st && dump) {
    /* The engine's first sample is the unoccluded input and its last batch
     * is padded with copies of it: keep the occluded ones. */
    if (w.n_kept < (size_t)occ.n_evaluated + 1) {
      st = csm_fail(CSM_EINPUT, "dumped %zu inputs, %d evaluated", w.n_kept, occ.n_evaluated);
    } else {
      memmove(w.inputs, w.inputs + w.numel, (size_t)occ.n_evaluated * w.numel * sizeof(float));
      memmove(w.conf, w.conf + 1, (size_t)occ.n_evaluated * sizeof(float));
      w.n_kept = (size_t)occ.n_evaluated;
      st = dump_write(dump, info, cls, w.max_batch, occ.base, &w);
    }
  }
  if (!st) {
    double s = median(secs, repeat), si = median(infer, repeat);
    printf("{\"task\": \"%s\", \"model\": \"%s\", \"input\": [%d, %d, %d], \"centres\": %d, "
           "\"evaluated\": %d, \"seconds_per_cis\": %.4f, \"occluded_per_s\": %.2f, "
           "\"inference_only_per_s\": %.2f, \"threads\": %d, \"pinned\": %s, \"team\": %d, "
           "\"load15\": %.2f, \"batch\": %d, \"repeat\": %d, "
           "\"label\": \"%s\", \"confidence\": \"%s\", \"base\": %.6f}\n",
           info->name, info->model, info->size, info->size, info->channels, occ.n_centres,
           occ.n_evaluated, s, s > 0 ? occ.n_evaluated / s : 0, si > 0 ? occ.n_evaluated / si : 0,
           threads, pin ? "true" : "false", team, load[2], w.max_batch, repeat,
           info->n_classes > 0 && info->labels ? info->labels[cls] : "value", sc.what,
           (double)occ.base);
    rc = 0;
  } else {
    fprintf(stderr, "bench_occlusion: %s\n", csm_last_error());
  }
  free(secs);
  free(infer);
  free(w.inputs);
  free(w.conf);
  csm_map_free(&cis);
  csm_occlusion_free(&occ);
  csm_scorer_free(&sc);
  free(input);
  free(centres);
  free(mask);
  free(valid);
  csm_corr_free(corr);
  free(faces);
  csm_image_free(&img);
  csm_canon_free(canon);
  csm_face_detector_free(det);
  csm_task_free(task);
  return rc;
}
