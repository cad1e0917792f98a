/* Embedding tasks: L2-normalized embeddings, the verification confidence
 * (paper Eq. 8) and its threshold, a gallery of named identities and the
 * zero-shot identification confidence (Eq. 7). */
#include <ctype.h>
#include <dirent.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "task/task_private.h"

int csm_task_embedding_dim(const csm_task *t) {
  return t && t->info->kind == CSM_TASK_EMBEDDING ? (int)t->n_out : 0;
}

static void l2_normalize(float *v, int dim) {
  double s = 0;
  for (int k = 0; k < dim; k++)
    s += (double)v[k] * v[k];
  /* A zero vector stays zero: its similarity to anything is 0. */
  if (s > 0) {
    double inv = 1.0 / sqrt(s);
    for (int k = 0; k < dim; k++)
      v[k] = (float)(v[k] * inv);
  }
}

static float dot(const float *a, const float *b, int dim) {
  double s = 0;
  for (int k = 0; k < dim; k++)
    s += (double)a[k] * b[k];
  return (float)s;
}

csm_status csm_task_embed(csm_task *t, const float *inputs, int n, float *emb) {
  if (!t || !inputs || !emb || n <= 0) return csm_fail(CSM_EUSAGE, "csm_task_embed: bad arguments");
  int dim = csm_task_embedding_dim(t);
  if (!dim)
    return csm_fail(CSM_EUSAGE, "task %s does not give an embedding (kind %d)", t->info->name,
                    (int)t->info->kind);
  csm_status st = csm_task_run_raw(t, inputs, n, emb);
  if (st) return st;
  for (size_t k = 0; k < (size_t)n * (size_t)dim; k++)
    if (!isfinite(emb[k]))
      return csm_fail(CSM_EINPUT, "task %s: embedding value %zu is not finite", t->info->name, k);
  for (int i = 0; i < n; i++)
    l2_normalize(emb + (size_t)i * dim, dim);
  return CSM_OK;
}

/* ---- Scorers --------------------------------------------------------- */

typedef struct embed_ctx {
  csm_task *task;
  int dim;
  float threshold;            /* verify */
  int genuine;                /* verify */
  const csm_gallery *gallery; /* identify */
  int identity;               /* identify */
  float *emb;                 /* scratch for the largest batch seen */
  int cap;                    /* embeddings that fit in emb */
} embed_ctx;

static csm_status ctx_embed(embed_ctx *c, const float *inputs, int m) {
  if (m > c->cap) {
    float *e = csm_malloc_array((size_t)m, (size_t)c->dim * sizeof(float));
    if (!e) return CSM_ENOMEM;
    free(c->emb);
    c->emb = e, c->cap = m;
  }
  return csm_task_embed(c->task, inputs, m, c->emb);
}

static void embed_ctx_free(void *vctx) {
  embed_ctx *c = vctx;
  if (!c) return;
  free(c->emb);
  free(c);
}

static csm_status verify_score(void *vctx, const float *inputs, int n, float *conf) {
  embed_ctx *c = vctx;
  /* Pairs are laid out a0 b0 a1 b1 ...: one batch of 2n embeddings. */
  csm_status st = ctx_embed(c, inputs, 2 * n);
  if (st) return st;
  for (int i = 0; i < n; i++) {
    const float *a = c->emb + (size_t)(2 * i) * c->dim;
    float s = dot(a, a + c->dim, c->dim);
    conf[i] = c->genuine ? s - c->threshold : c->threshold - s;
  }
  return CSM_OK;
}

/* d cos(a, b) / d a for the raw (unnormalized) a: (b^ - cos a^) / |a|,
 * added to d with factor w. */
static void cos_grad(const float *a_raw, const float *b_unit, int dim, float w, float *d) {
  double na = 0, s = 0;
  for (int k = 0; k < dim; k++)
    na += (double)a_raw[k] * a_raw[k];
  na = sqrt(na);
  if (na == 0) return; /* a zero embedding: cos is 0 all around it */
  for (int k = 0; k < dim; k++)
    s += a_raw[k] / na * b_unit[k];
  for (int k = 0; k < dim; k++)
    d[k] += (float)(w * (b_unit[k] - s * a_raw[k] / na) / na);
}

static csm_status verify_conf_grad(void *vctx, const float *raw, int n, float *conf, float *draw) {
  embed_ctx *c = vctx;
  int dim = c->dim;
  float *unit = csm_malloc_array(2, (size_t)dim * sizeof(float));
  if (!unit) return CSM_ENOMEM;
  float sign = c->genuine ? 1.0f : -1.0f;
  memset(draw, 0, (size_t)n * 2 * (size_t)dim * sizeof(float));
  for (int i = 0; i < n; i++) {
    const float *a = raw + (size_t)(2 * i) * dim, *b = a + dim;
    memcpy(unit, a, (size_t)dim * sizeof(float));
    memcpy(unit + dim, b, (size_t)dim * sizeof(float));
    l2_normalize(unit, dim);
    l2_normalize(unit + dim, dim);
    float s = dot(unit, unit + dim, dim);
    conf[i] = c->genuine ? s - c->threshold : c->threshold - s;
    cos_grad(a, unit + dim, dim, sign, draw + (size_t)(2 * i) * dim);
    cos_grad(b, unit, dim, sign, draw + (size_t)(2 * i + 1) * dim);
  }
  free(unit);
  return CSM_OK;
}

static csm_status scorer_init(csm_task *t, const char *who, csm_scorer *out, embed_ctx **ctx) {
  if (!t || !out) return csm_fail(CSM_EUSAGE, "%s: NULL argument", who);
  int dim = csm_task_embedding_dim(t);
  if (!dim)
    return csm_fail(CSM_EUSAGE, "%s: task %s does not give an embedding", who, t->info->name);
  embed_ctx *c = calloc(1, sizeof *c);
  if (!c) return csm_fail(CSM_ENOMEM, "out of memory");
  c->task = t, c->dim = dim;
  const csm_task_info *info = t->info;
  memset(out, 0, sizeof *out);
  out->views = 1;
  out->size = info->size, out->channels = info->channels;
  /* A black pixel is value 0 before the task's scale, offset and norm. */
  csm_task_black(info, out->black);
  out->ctx = c;
  out->free_ctx = embed_ctx_free;
  csm_task_scorer_white_box(t, out);
  *ctx = c;
  return CSM_OK;
}

csm_status csm_scorer_verify(csm_task *t, float threshold, int genuine, csm_scorer *out) {
  if (!isfinite(threshold))
    return csm_fail(CSM_EUSAGE, "csm_scorer_verify: threshold %g is not finite", threshold);
  embed_ctx *c = NULL;
  csm_status st = scorer_init(t, "csm_scorer_verify", out, &c);
  if (st) return st;
  c->threshold = threshold, c->genuine = genuine != 0;
  out->views = 2;
  out->score = verify_score;
  out->conf_grad = verify_conf_grad;
  snprintf(out->what, sizeof out->what, genuine ? "cos - %.3f (genuine)" : "%.3f - cos (impostor)",
           threshold);
  return CSM_OK;
}

/* ---- Threshold ----------------------------------------------------------- */

typedef struct sim_pair {
  float s;
  int same;
} sim_pair;

static int cmp_sim(const void *a, const void *b) {
  float x = ((const sim_pair *)a)->s, y = ((const sim_pair *)b)->s;
  return (x > y) - (x < y);
}

csm_status csm_verify_calibrate(const float *sims, const int *same, int n, float *threshold,
                                float *accuracy) {
  if (!sims || !same || !threshold || n <= 0)
    return csm_fail(CSM_EUSAGE, "csm_verify_calibrate: no pairs");
  sim_pair *p = csm_malloc_array((size_t)n, sizeof *p);
  if (!p) return CSM_ENOMEM;
  int pos = 0;
  for (int i = 0; i < n; i++) {
    if (!isfinite(sims[i])) {
      free(p);
      return csm_fail(CSM_EINPUT, "csm_verify_calibrate: similarity %d is not finite", i);
    }
    p[i].s = sims[i], p[i].same = same[i] != 0;
    pos += p[i].same;
  }
  if (pos == 0 || pos == n) {
    free(p);
    return csm_fail(CSM_EUSAGE, "csm_verify_calibrate: all %d pairs are %s; need both kinds", n,
                    pos ? "genuine" : "impostor");
  }
  qsort(p, (size_t)n, sizeof *p, cmp_sim);
  /* Threshold between p[i] and p[i + 1]: pairs 0..i called impostor,
   * i + 1..n-1 genuine. Ascending, so strict improvement keeps the smallest. */
  int best = -1, best_right = -1, neg_below = 0, pos_below = 0;
  for (int i = 0; i + 1 < n; i++) {
    neg_below += !p[i].same, pos_below += p[i].same;
    if (p[i].s == p[i + 1].s) continue;
    int right = neg_below + (pos - pos_below);
    if (right > best_right) best_right = right, best = i;
  }
  if (best < 0) { /* one distinct value: nothing to split */
    *threshold = p[0].s;
    best_right = n - pos;
  } else {
    *threshold = (float)(0.5 * ((double)p[best].s + p[best + 1].s));
  }
  if (accuracy) *accuracy = (float)best_right / (float)n;
  free(p);
  return CSM_OK;
}

/* ---- Gallery ------------------------------------------------------------- */

struct csm_gallery {
  int dim;
  int n_id;
  char **names;
  int n_emb, cap_emb;
  float *emb; /* n_emb x dim */
  int *owner; /* identity of each embedding */
  int cap_id;
};

csm_status csm_gallery_create(int dim, csm_gallery **out) {
  if (!out || dim <= 0) return csm_fail(CSM_EUSAGE, "csm_gallery_create: bad dimension %d", dim);
  *out = calloc(1, sizeof **out);
  if (!*out) return csm_fail(CSM_ENOMEM, "out of memory");
  (*out)->dim = dim;
  return CSM_OK;
}

void csm_gallery_free(csm_gallery *g) {
  if (!g) return;
  for (int k = 0; k < g->n_id; k++)
    free(g->names[k]);
  free(g->names);
  free(g->emb);
  free(g->owner);
  free(g);
}

int csm_gallery_dim(const csm_gallery *g) { return g ? g->dim : 0; }
int csm_gallery_identities(const csm_gallery *g) { return g ? g->n_id : 0; }
const char *csm_gallery_name(const csm_gallery *g, int k) {
  return g && k >= 0 && k < g->n_id ? g->names[k] : NULL;
}

int csm_gallery_count(const csm_gallery *g, int k) {
  if (!g) return 0;
  if (k < 0) return g->n_emb;
  int c = 0;
  for (int e = 0; e < g->n_emb; e++)
    c += g->owner[e] == k;
  return c;
}

int csm_gallery_find(const csm_gallery *g, const char *name) {
  for (int k = 0; g && name && k < g->n_id; k++)
    if (!strcmp(g->names[k], name)) return k;
  return -1;
}

csm_status csm_gallery_add(csm_gallery *g, const char *identity, const float *emb) {
  if (!g || !identity || !*identity || !emb)
    return csm_fail(CSM_EUSAGE, "csm_gallery_add: bad arguments");
  for (int k = 0; k < g->dim; k++)
    if (!isfinite(emb[k]))
      return csm_fail(CSM_EINPUT, "gallery identity %s: embedding value %d is not finite", identity,
                      k);
  int id = csm_gallery_find(g, identity);
  if (id < 0) {
    if (g->n_id == g->cap_id) {
      int cap = g->cap_id ? 2 * g->cap_id : 8;
      char **nn = realloc(g->names, (size_t)cap * sizeof *nn);
      if (!nn) return csm_fail(CSM_ENOMEM, "out of memory");
      g->names = nn, g->cap_id = cap;
    }
    size_t len = strlen(identity) + 1;
    char *name = malloc(len);
    if (!name) return csm_fail(CSM_ENOMEM, "out of memory");
    memcpy(name, identity, len);
    id = g->n_id;
    g->names[g->n_id++] = name;
  }
  if (g->n_emb == g->cap_emb) {
    int cap = g->cap_emb ? 2 * g->cap_emb : 16;
    float *e = csm_malloc_array((size_t)cap, (size_t)g->dim * sizeof(float));
    int *o = csm_malloc_array((size_t)cap, sizeof(int));
    if (!e || !o) {
      free(e), free(o);
      return CSM_ENOMEM;
    }
    if (g->n_emb) {
      memcpy(e, g->emb, (size_t)g->n_emb * (size_t)g->dim * sizeof(float));
      memcpy(o, g->owner, (size_t)g->n_emb * sizeof(int));
    }
    free(g->emb), free(g->owner);
    g->emb = e, g->owner = o, g->cap_emb = cap;
  }
  float *dst = g->emb + (size_t)g->n_emb * g->dim;
  memcpy(dst, emb, (size_t)g->dim * sizeof(float));
  l2_normalize(dst, g->dim);
  g->owner[g->n_emb++] = id;
  return CSM_OK;
}

/* emb must already be normalized. */
static float closest(const csm_gallery *g, int k, const float *emb) {
  float best = -INFINITY;
  for (int e = 0; e < g->n_emb; e++)
    if (g->owner[e] == k) {
      float s = dot(g->emb + (size_t)e * g->dim, emb, g->dim);
      if (s > best) best = s;
    }
  return best;
}

static float *normalized_copy(const csm_gallery *g, const float *emb) {
  float *v = csm_malloc_array((size_t)g->dim, sizeof(float));
  if (v) {
    memcpy(v, emb, (size_t)g->dim * sizeof(float));
    l2_normalize(v, g->dim);
  }
  return v;
}

float csm_gallery_similarity(const csm_gallery *g, int k, const float *emb) {
  if (!g || !emb || k < 0 || k >= g->n_id) return NAN;
  float *v = normalized_copy(g, emb);
  if (!v) return NAN;
  float s = closest(g, k, v);
  free(v);
  return s;
}

csm_status csm_gallery_nearest(const csm_gallery *g, const float *emb, int *identity, float *sim) {
  if (!g || !emb || !identity) return csm_fail(CSM_EUSAGE, "csm_gallery_nearest: NULL argument");
  if (g->n_emb == 0) return csm_fail(CSM_EUSAGE, "csm_gallery_nearest: the gallery is empty");
  float *v = normalized_copy(g, emb);
  if (!v) return CSM_ENOMEM;
  int best = -1;
  float best_s = -INFINITY;
  for (int e = 0; e < g->n_emb; e++) {
    float s = dot(g->emb + (size_t)e * g->dim, v, g->dim);
    if (best < 0 || s > best_s) best = g->owner[e], best_s = s;
  }
  free(v);
  *identity = best;
  if (sim) *sim = best_s;
  return CSM_OK;
}

static csm_status identify_score(void *vctx, const float *inputs, int n, float *conf) {
  embed_ctx *c = vctx;
  csm_status st = ctx_embed(c, inputs, n);
  if (st) return st;
  for (int i = 0; i < n; i++)
    conf[i] = closest(c->gallery, c->identity, c->emb + (size_t)i * c->dim);
  return CSM_OK;
}

/* conf = cos to the identity's closest gallery embedding; the gradient
 * flows to that embedding's similarity (the max picks one). */
static csm_status identify_conf_grad(void *vctx, const float *raw, int n, float *conf,
                                     float *draw) {
  embed_ctx *c = vctx;
  const csm_gallery *g = c->gallery;
  int dim = c->dim;
  float *unit = csm_malloc_array((size_t)dim, sizeof(float));
  if (!unit) return CSM_ENOMEM;
  memset(draw, 0, (size_t)n * (size_t)dim * sizeof(float));
  for (int i = 0; i < n; i++) {
    const float *a = raw + (size_t)i * dim;
    memcpy(unit, a, (size_t)dim * sizeof(float));
    l2_normalize(unit, dim);
    int best = -1;
    float best_s = -INFINITY;
    for (int e = 0; e < g->n_emb; e++)
      if (g->owner[e] == c->identity) {
        float s = dot(g->emb + (size_t)e * dim, unit, dim);
        if (s > best_s) best_s = s, best = e;
      }
    conf[i] = best_s;
    if (best >= 0) cos_grad(a, g->emb + (size_t)best * dim, dim, 1.0f, draw + (size_t)i * dim);
  }
  free(unit);
  return CSM_OK;
}

csm_status csm_scorer_identify(csm_task *t, const csm_gallery *g, int identity, csm_scorer *out) {
  if (!g) return csm_fail(CSM_EUSAGE, "csm_scorer_identify: NULL gallery");
  if (identity < 0 || identity >= g->n_id)
    return csm_fail(CSM_EUSAGE, "csm_scorer_identify: identity %d out of range 0..%d", identity,
                    g->n_id - 1);
  int dim = csm_task_embedding_dim(t);
  if (t && dim && dim != g->dim)
    return csm_fail(CSM_EUSAGE, "csm_scorer_identify: task %s embeds in %d dimensions, gallery %d",
                    t->info->name, dim, g->dim);
  embed_ctx *c = NULL;
  csm_status st = scorer_init(t, "csm_scorer_identify", out, &c);
  if (st) return st;
  c->gallery = g, c->identity = identity;
  out->score = identify_score;
  out->conf_grad = identify_conf_grad;
  snprintf(out->what, sizeof out->what, "cos to %.40s", g->names[identity]);
  return CSM_OK;
}

/* ---- Gallery from a folder ---------------------------------------------- */

csm_face csm_task_whole_image_face(const csm_task_info *info, const csm_image *img) {
  csm_face f;
  memset(&f, 0, sizeof f);
  float side = (float)(img->w > img->h ? img->w : img->h) / info->crop_scale;
  f.box[0] = (img->w - side) / 2, f.box[1] = (img->h - side) / 2;
  f.box[2] = f.box[3] = side;
  f.score = 1;
  return f;
}

static int is_image_name(const char *name) {
  const char *dot = strrchr(name, '.');
  if (!dot || dot == name) return 0;
  char ext[8] = {0};
  size_t n = strlen(dot + 1);
  if (n >= sizeof ext) return 0;
  for (size_t i = 0; i < n && i + 1 < sizeof ext; i++)
    ext[i] = (char)tolower((unsigned char)dot[1 + i]);
  return !strcmp(ext, "jpg") || !strcmp(ext, "jpeg") || !strcmp(ext, "png");
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names in dir: sub-folders (want_dirs) or image files. */
static csm_status list_dir(const char *dir, int want_dirs, char ***names, int *n) {
  *names = NULL, *n = 0;
  DIR *d = opendir(dir);
  if (!d) return csm_fail(CSM_EINPUT, "%s: cannot open folder", dir);
  int cap = 0;
  csm_status st = CSM_OK;
  struct dirent *e;
  while (!st && (e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path) continue;
    struct stat sb;
    if (stat(path, &sb)) continue;
    if (want_dirs ? !S_ISDIR(sb.st_mode) : !(S_ISREG(sb.st_mode) && is_image_name(e->d_name)))
      continue;
    if (*n == cap) {
      cap = cap ? 2 * cap : 16;
      char **nn = realloc(*names, (size_t)cap * sizeof *nn);
      if (!nn) {
        st = csm_fail(CSM_ENOMEM, "out of memory");
        break;
      }
      *names = nn;
    }
    size_t len = strlen(e->d_name) + 1;
    char *s = malloc(len);
    if (!s) {
      st = csm_fail(CSM_ENOMEM, "out of memory");
      break;
    }
    memcpy(s, e->d_name, len);
    (*names)[(*n)++] = s;
  }
  closedir(d);
  if (*n > 1) qsort(*names, (size_t)*n, sizeof **names, cmp_str);
  return st;
}

static void free_names(char **names, int n) {
  for (int i = 0; i < n; i++)
    free(names[i]);
  free(names);
}

/* One image: the largest face (or the whole image), preprocessed and embedded. */
static csm_status embed_file(csm_task *t, csm_face_detector *det, const char *path, float *x,
                             float *emb) {
  csm_image img;
  csm_status st = csm_image_load(path, &img);
  if (st) return st;
  csm_face face;
  if (det) {
    csm_face *faces = NULL;
    int nf = 0;
    st = csm_face_detect(det, &img, &faces, &nf);
    if (!st && nf == 0) st = csm_fail(CSM_EINPUT, "%s: no face found", path);
    if (!st) face = faces[0]; /* largest first */
    free(faces);
  } else {
    face = csm_task_whole_image_face(t->info, &img);
  }
  if (!st) st = csm_task_preprocess(t->info, &img, &face, x);
  if (!st) st = csm_task_embed(t, x, 1, emb);
  csm_image_free(&img);
  return st;
}

csm_status csm_gallery_load_dir(csm_gallery **out, csm_task *t, csm_face_detector *det,
                                const char *dir) {
  if (!out || !t || !dir) return csm_fail(CSM_EUSAGE, "csm_gallery_load_dir: NULL argument");
  *out = NULL;
  int dim = csm_task_embedding_dim(t);
  if (!dim) return csm_fail(CSM_EUSAGE, "task %s does not give an embedding", t->info->name);
  char **ids = NULL;
  int n_ids = 0;
  csm_status st = list_dir(dir, 1, &ids, &n_ids);
  if (!st && n_ids == 0) st = csm_fail(CSM_EINPUT, "%s: no identity sub-folders", dir);
  csm_gallery *g = NULL;
  float *x = csm_malloc_array(csm_task_input_numel(t->info), sizeof(float));
  float *emb = csm_malloc_array((size_t)dim, sizeof(float));
  if (!st && (!x || !emb)) st = CSM_ENOMEM;
  if (!st) st = csm_gallery_create(dim, &g);
  for (int i = 0; !st && i < n_ids; i++) {
    char sub[PATH_MAX];
    if (snprintf(sub, sizeof sub, "%s/%s", dir, ids[i]) >= (int)sizeof sub) {
      st = csm_fail(CSM_EUSAGE, "%s/%s: path too long", dir, ids[i]);
      break;
    }
    char **files = NULL;
    int n_files = 0;
    st = list_dir(sub, 0, &files, &n_files);
    if (!st && n_files == 0) st = csm_fail(CSM_EINPUT, "%s: no .jpg, .jpeg or .png images", sub);
    for (int f = 0; !st && f < n_files; f++) {
      char path[PATH_MAX];
      if (snprintf(path, sizeof path, "%s/%s", sub, files[f]) >= (int)sizeof path) {
        st = csm_fail(CSM_EUSAGE, "%s/%s: path too long", sub, files[f]);
        break;
      }
      st = embed_file(t, det, path, x, emb);
      if (!st) st = csm_gallery_add(g, ids[i], emb);
    }
    free_names(files, n_files);
  }
  free_names(ids, n_ids);
  free(x);
  free(emb);
  if (st) {
    csm_gallery_free(g);
    return st;
  }
  *out = g;
  return CSM_OK;
}
