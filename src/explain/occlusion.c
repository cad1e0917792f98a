/* The occlusion engine (DESIGN.md step 2): for every canonical centre visible
 * in all of a sample's views, occlude the same facial place in every view's
 * model input, evaluate the occluded inputs in batches and record the drop
 * of the confidence. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "csm/explain.h"
#include "explain/square.h"

#define DEFAULT_PATCH_CANONICAL 20.0
#define DEFAULT_PATCH_IMAGE 15.0
/* The paper's patch size is given for 224-pixel inputs. */
#define PAPER_INPUT 224.0

csm_occlusion_options csm_occlusion_options_default(void) {
  csm_occlusion_options o;
  memset(&o, 0, sizeof o);
  o.space = CSM_PATCH_CANONICAL;
  o.patch = 0; /* 0: the space's default */
  o.footprint = DEFAULT_PATCH_CANONICAL;
  o.fill = CSM_FILL_ZERO;
  o.memory_budget = (size_t)256 << 20;
  o.max_batch = 64;
  return o;
}

void csm_occlusion_free(csm_occlusion *o) {
  if (!o) return;
  free(o->centres);
  free(o->drop);
  free(o->input_map);
  free(o->input_count);
  memset(o, 0, sizeof *o);
}

/* Per view: where each input pixel lies on the canonical face, the fill
 * values and, for image-space patches, each centre's input position. */
typedef struct view_state {
  int *cell;   /* size*size: canonical pixel index (v * W + u) or -1 */
  float *fill; /* size*size*channels */
  double *pos; /* n_centres x 2: centre in input pixels (continuous), NAN: none */
} view_state;

static int inverse_affine(const double m[6], double inv[6]) {
  double det = m[0] * m[4] - m[1] * m[3];
  if (!(fabs(det) > 1e-12)) return 0;
  inv[0] = m[4] / det, inv[1] = -m[1] / det;
  inv[3] = -m[3] / det, inv[4] = m[0] / det;
  inv[2] = -(inv[0] * m[2] + inv[1] * m[5]);
  inv[5] = -(inv[3] * m[2] + inv[4] * m[5]);
  return 1;
}

/* Box blur of radius r (edge pixels repeated), separable, per channel. */
static csm_status box_blur(const float *src, int n, int ch, int r, float *dst) {
  float *tmp = csm_malloc_array((size_t)n * n * ch, sizeof(float));
  if (!tmp) return CSM_ENOMEM;
  for (int pass = 0; pass < 2; pass++) {
    const float *in = pass ? tmp : src;
    float *out = pass ? dst : tmp;
    for (int a = 0; a < n; a++)
      for (int b = 0; b < n; b++)
        for (int c = 0; c < ch; c++) {
          double s = 0;
          for (int k = -r; k <= r; k++) {
            int t = b + k < 0 ? 0 : b + k >= n ? n - 1 : b + k;
            /* pass 0 blurs along x (rows a, columns t), pass 1 along y. */
            size_t idx = pass ? ((size_t)t * n + a) * ch + c : ((size_t)a * n + t) * ch + c;
            s += in[idx];
          }
          size_t o = pass ? ((size_t)b * n + a) * ch + c : ((size_t)a * n + b) * ch + c;
          out[o] = (float)(s / (2 * r + 1));
        }
  }
  free(tmp);
  return CSM_OK;
}

static csm_status view_prepare(const csm_scorer *s, const csm_view *v, const float *centres,
                               int n_centres, int W, int H, const csm_occlusion_options *opt,
                               double patch, view_state *vs) {
  int n = s->size, ch = s->channels;
  size_t npx = (size_t)n * n;
  vs->cell = csm_malloc_array(npx, sizeof(int));
  vs->fill = csm_malloc_array(npx * ch, sizeof(float));
  vs->pos = csm_malloc_array((size_t)n_centres, 2 * sizeof(double));
  if (!vs->cell || !vs->fill || !vs->pos) return CSM_ENOMEM;
  const unsigned char *vis = csm_corr_canon_visible(v->corr);
  double inv[6];
  if (!inverse_affine(v->crop, inv))
    return csm_fail(CSM_EINPUT, "the face's crop matrix is singular");
  size_t n_valid = 0;
  for (int j = 0; j < n; j++)
    for (int i = 0; i < n; i++) {
      double x = v->crop[0] * (i + 0.5) + v->crop[1] * (j + 0.5) + v->crop[2];
      double y = v->crop[3] * (i + 0.5) + v->crop[4] * (j + 0.5) + v->crop[5];
      double u, w;
      int cell = -1;
      if (csm_corr_to_canon(v->corr, x, y, &u, &w)) {
        int iu = (int)floor(u), iv = (int)floor(w);
        if (iu >= 0 && iu < W && iv >= 0 && iv < H) cell = iv * W + iu, n_valid++;
      }
      vs->cell[(size_t)j * n + i] = cell;
    }
  for (int c = 0; c < n_centres; c++) {
    double x, y;
    vs->pos[2 * c] = vs->pos[2 * c + 1] = NAN;
    if (v->centre_pos) {
      /* Given by the alignment: taken as it is, inside the input or not. */
      if (isfinite(v->centre_pos[2 * c]) && isfinite(v->centre_pos[2 * c + 1]) &&
          fabs(v->centre_pos[2 * c]) < 1e9 && fabs(v->centre_pos[2 * c + 1]) < 1e9)
        vs->pos[2 * c] = v->centre_pos[2 * c], vs->pos[2 * c + 1] = v->centre_pos[2 * c + 1];
      continue;
    }
    if (!csm_corr_to_image(v->corr, centres[2 * c], centres[2 * c + 1], &x, &y)) continue;
    double i = inv[0] * x + inv[1] * y + inv[2], j = inv[3] * x + inv[4] * y + inv[5];
    if (i >= 0 && i < n && j >= 0 && j < n) vs->pos[2 * c] = i, vs->pos[2 * c + 1] = j;
  }
  /* Fill values. */
  if (opt->fill == CSM_FILL_INPUT_ZERO) {
    memset(vs->fill, 0, npx * ch * sizeof(float));
  } else if (opt->fill == CSM_FILL_ZERO) {
    for (size_t p = 0; p < npx; p++)
      for (int c = 0; c < ch; c++)
        vs->fill[p * ch + c] = s->black[c < 3 ? c : 2];
  } else if (opt->fill == CSM_FILL_MEAN) {
    for (int c = 0; c < ch; c++) {
      double sum = 0;
      for (size_t p = 0; p < npx; p++)
        sum += v->input[p * ch + c];
      for (size_t p = 0; p < npx; p++)
        vs->fill[p * ch + c] = (float)(sum / npx);
    }
  } else {
    /* Radius: half the patch in input pixels. A canonical patch's input
     * size follows from how many input pixels the visible face covers
     * per canonical pixel. */
    double side = patch * n / PAPER_INPUT;
    if (opt->space == CSM_PATCH_CANONICAL) {
      size_t n_canon = 0;
      for (size_t p = 0; p < (size_t)W * H; p++)
        n_canon += vis[p] != 0;
      side = n_canon ? patch * sqrt((double)n_valid / (double)n_canon) : patch;
    }
    int r = (int)lround(side / 2);
    if (r < 1) r = 1;
    if (r > n) r = n;
    csm_status st = box_blur(v->input, n, ch, r, vs->fill);
    if (st) return st;
  }
  return CSM_OK;
}

static void view_state_free(view_state *vs) {
  free(vs->cell);
  free(vs->fill);
  free(vs->pos);
}

/* Calls fn(ctx, pixel) for every input pixel that the patch at centre c
 * covers in view vs; returns how many. */
typedef struct cover {
  const view_state *vs;
  int n, W, H; /* input side; canonical raster W x H */
  csm_patch_space space;
  csm_square_rule rule;
  double patch;
} cover;

static int cover_pixels(const cover *cv, const float *centre, int c, int *out) {
  int count = 0, n = cv->n;
  if (cv->space == CSM_PATCH_CANONICAL) {
    int u0, u1, v0, v1;
    csm_square_span(centre[0], cv->patch, cv->rule, cv->W, &u0, &u1);
    csm_square_span(centre[1], cv->patch, cv->rule, cv->H, &v0, &v1);
    for (int p = 0; p < n * n; p++) {
      int cell = cv->vs->cell[p];
      if (cell < 0) continue;
      int u = cell % cv->W, v = cell / cv->W;
      if (u >= u0 && u <= u1 && v >= v0 && v <= v1) out[count++] = p;
    }
  } else {
    double side = cv->patch * n / PAPER_INPUT;
    int i0, i1, j0, j1;
    csm_square_span(cv->vs->pos[2 * c], side, cv->rule, n, &i0, &i1);
    csm_square_span(cv->vs->pos[2 * c + 1], side, cv->rule, n, &j0, &j1);
    for (int j = j0; j <= j1; j++)
      for (int i = i0; i <= i1; i++)
        out[count++] = j * n + i;
  }
  return count;
}

csm_status csm_occlusion_run(const csm_scorer *s, const csm_view *views, const float *centres,
                             int n_centres, int W, int H, const csm_occlusion_options *opt_in,
                             csm_occlusion *out) {
  if (!s || !views || !centres || !out || n_centres <= 0 || W < 1 || H < 1 || !s->score ||
      s->views < 1 || s->views > 8 || s->size < 1 || s->channels < 1)
    return csm_fail(CSM_EUSAGE, "csm_occlusion_run: bad arguments");
  memset(out, 0, sizeof *out);
  csm_occlusion_options opt = opt_in ? *opt_in : csm_occlusion_options_default();
  double patch = opt.patch > 0                  ? opt.patch
                 : opt.space == CSM_PATCH_IMAGE ? DEFAULT_PATCH_IMAGE
                                                : DEFAULT_PATCH_CANONICAL;
  if (!(patch < 1e6)) return csm_fail(CSM_EUSAGE, "occlusion patch %g is too large", patch);
  for (int v = 0; v < s->views; v++)
    if (!views[v].input || !views[v].corr)
      return csm_fail(CSM_EUSAGE, "csm_occlusion_run: view %d has no input or correspondence", v);
  double t0 = csm_now();
  int V = s->views, n = s->size, ch = s->channels;
  size_t numel = (size_t)n * n * ch, npx = (size_t)n * n;
  csm_status st = CSM_OK;
  view_state vs[8];
  memset(vs, 0, sizeof vs);
  int *pix = NULL, *chosen = NULL;
  float *batch = NULL, *conf = NULL;
  out->n_centres = n_centres;
  out->views = V, out->size = n;
  out->centres = csm_malloc_array((size_t)n_centres, 2 * sizeof(float));
  out->drop = csm_malloc_array((size_t)n_centres, sizeof(float));
  out->input_map = csm_calloc(npx * V, sizeof(float));
  out->input_count = csm_calloc(npx * V, sizeof(float));
  pix = csm_malloc_array(npx, sizeof(int));
  chosen = csm_malloc_array((size_t)n_centres, sizeof(int));
  if (!out->centres || !out->drop || !out->input_map || !out->input_count || !pix || !chosen) {
    st = CSM_ENOMEM;
    goto done;
  }
  memcpy(out->centres, centres, (size_t)n_centres * 2 * sizeof(float));
  out->square = opt.square;
  for (int v = 0; !st && v < V; v++)
    st = view_prepare(s, &views[v], centres, n_centres, W, H, &opt, patch, &vs[v]);
  if (st) goto done;
  /* A centre is evaluated when it is visible and inside the input in every
   * view and its patch covers at least one input pixel of each. Where the
   * alignment gives the positions (centre_pos), a patch that covers nothing
   * leaves the input as it is: its drop is 0, as the reference code finds
   * by running the model on the unchanged input. */
  int n_chosen = 0, n_unchanged = 0;
  for (int c = 0; c < n_centres; c++) {
    out->drop[c] = NAN;
    int ok = 1, empty = 1;
    for (int v = 0; ok && v < V; v++) {
      cover cv = {&vs[v], n, W, H, opt.space, opt.square, patch};
      ok = !isnan(vs[v].pos[2 * c]);
      int np = ok ? cover_pixels(&cv, centres + 2 * c, c, pix) : 0;
      if (np > 0) empty = 0;
      if (np == 0 && !views[v].centre_pos) ok = 0;
    }
    if (ok && empty)
      out->drop[c] = 0, n_unchanged++;
    else if (ok)
      chosen[n_chosen++] = c;
  }
  out->n_evaluated = n_chosen + n_unchanged;
  /* Sample 0 is the unoccluded input (the base confidence), then one per
   * centre, in batches of one size: the model plans a batch shape once, and
   * a changing size (1 for the base, 64s, a remainder) would re-plan it at
   * every call. The last batch is padded with copies of the input, whose
   * results are ignored. Batches and single runs give the same bits
   * (docs/engine.md), so the base and the drops compare like with like. */
  int total = n_chosen + 1;
  size_t per_sample = numel * V * sizeof(float);
  size_t bsz = opt.memory_budget / (per_sample ? per_sample : 1);
  int bmax = (int)(bsz < 1 ? 1 : bsz > (size_t)opt.max_batch ? (size_t)opt.max_batch : bsz);
  if (bmax < 1) bmax = 1;
  int n_batches = (total + bmax - 1) / bmax;
  int B = (total + n_batches - 1) / n_batches;
  batch = csm_malloc_array((size_t)B, per_sample);
  conf = csm_malloc_array((size_t)B, sizeof(float));
  if (!batch || !conf) {
    st = CSM_ENOMEM;
    goto done;
  }
  for (int s0 = 0; s0 < total; s0 += B) {
    int nb = total - s0 < B ? total - s0 : B;
    for (int b = 0; b < B; b++) {
      int sample = s0 + b;
      for (int v = 0; v < V; v++) {
        float *dst = batch + numel * ((size_t)b * V + v);
        memcpy(dst, views[v].input, numel * sizeof(float));
        if (sample == 0 || b >= nb) continue; /* the base, or padding */
        int c = chosen[sample - 1];
        cover cv = {&vs[v], n, W, H, opt.space, opt.square, patch};
        int np = cover_pixels(&cv, centres + 2 * c, c, pix);
        for (int k = 0; k < np; k++)
          memcpy(dst + (size_t)pix[k] * ch, vs[v].fill + (size_t)pix[k] * ch, ch * sizeof(float));
      }
    }
    if ((st = s->score(s->ctx, batch, B, conf))) goto done;
    for (int b = 0; b < nb; b++) {
      int sample = s0 + b;
      if (!isfinite(conf[b])) {
        st = csm_fail(CSM_EINPUT, "the confidence of %s face is not finite",
                      sample ? "an occluded" : "the unoccluded");
        goto done;
      }
      if (sample == 0)
        out->base = conf[b];
      else
        out->drop[chosen[sample - 1]] = out->base - conf[b];
    }
    if (opt.progress) opt.progress(opt.progress_ctx, s0 + nb - 1, n_chosen);
  }
  /* The input-space map: each input pixel's mean drop over the patches
   * that covered it. */
  for (int t = 0; t < n_chosen; t++) {
    int c = chosen[t];
    for (int v = 0; v < V; v++) {
      cover cv = {&vs[v], n, W, H, opt.space, opt.square, patch};
      int np = cover_pixels(&cv, centres + 2 * c, c, pix);
      float *hm = out->input_map + npx * v, *cnt = out->input_count + npx * v;
      for (int k = 0; k < np; k++)
        hm[pix[k]] += out->drop[c], cnt[pix[k]] += 1;
    }
  }
  for (size_t p = 0; p < npx * V; p++)
    if (out->input_count[p] > 0) out->input_map[p] /= out->input_count[p];
done:
  for (int v = 0; v < V; v++)
    view_state_free(&vs[v]);
  free(pix);
  free(chosen);
  free(batch);
  free(conf);
  out->seconds = csm_now() - t0;
  if (st) csm_occlusion_free(out);
  return st;
}
