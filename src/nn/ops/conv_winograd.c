/* Winograd F(2x2, 3x3) convolution; see conv_winograd.h.
 *
 * Transforms (one dimension; the 2-D forms apply them to rows, then columns):
 *   input  B^T d:  (d0 - d2, d1 + d2, d2 - d1, d1 - d3)
 *   filter G g:    (g0, (g0 + g1 + g2) / 2, (g0 - g1 + g2) / 2, g2)
 *   output A^T m:  (m0 + m1 + m2, m1 - m2 - m3)
 * Tiles are processed in blocks: the block's 16 transformed inputs V[xi]
 * [tiles x C], the 16 GEMMs M[xi] = V[xi] x U[xi], then the output transform,
 * so working memory is bounded whatever the batch. */
#include "conv_winograd.h"

#include <string.h>

#include "gemm.h"
#include "vec.h"

enum {
  XI = 16,                        /* transformed elements per tile (4x4) */
  MIN_CHANNELS = 16,              /* fewer channels: the transforms cost more than they save */
  MIN_CHANNEL_PRODUCT_RATIO = 28, /* and C * Cout >= 28 (C + Cout); see below */
  BLOCK_FLOATS = 1 << 20,         /* target for a block's V and M together: 4 MB */
  MIN_BLOCK = 96,                 /* tiles per block, at least one GEMM task */
  MAX_BLOCK = 1536
};

/* The transforms cost about (C + Cout) per tile and element, the GEMMs save
 * about C * Cout: Winograd pays when C * Cout / (C + Cout) is large enough.
 * Measured on one thread (bench_conv): 32 -> 64 channels (21) 10 % slower than
 * the implicit GEMM, 64 -> 64 (32) 1.5x faster, 64 -> 96 1.35x, 128 -> 128
 * 1.85x. */
int csm_winograd_applies(const csm_conv_geom *g) {
  return g->kh == 3 && g->kw == 3 && g->sh == 1 && g->sw == 1 && g->dh == 1 && g->dw == 1 &&
         g->c >= MIN_CHANNELS && g->co >= MIN_CHANNELS &&
         g->c * g->co >= MIN_CHANNEL_PRODUCT_RATIO * (g->c + g->co);
}

static size_t packed_one(int64_t c, int64_t co) {
  return (csm_gemm_packed_floats(c, co) + 15) / 16 * 16;
}

size_t csm_winograd_filter_floats(int64_t c, int64_t co) { return XI * packed_one(c, co); }

/* U = G g G^T for every (input, output) channel pair, written straight into
 * the 16 packed GEMM operands. */
void csm_winograd_filter(const float *f, int64_t c, int64_t co, float *out) {
  const size_t pf = packed_one(c, co);
  memset(out, 0, XI * pf * sizeof(float));
#pragma omp parallel for schedule(static) if (c * co > 16384)
  for (int64_t ci = 0; ci < c; ci++)
    for (int64_t o = 0; o < co; o++) {
      float g[3][3], t[4][3];
      const size_t at = csm_gemm_packed_at(c, co, ci, o);
      for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
          g[i][j] = f[((i * 3 + j) * c + ci) * co + o];
      for (int j = 0; j < 3; j++) { /* rows: G g */
        t[0][j] = g[0][j];
        t[1][j] = 0.5f * (g[0][j] + g[1][j] + g[2][j]);
        t[2][j] = 0.5f * (g[0][j] - g[1][j] + g[2][j]);
        t[3][j] = g[2][j];
      }
      for (int r = 0; r < 4; r++) { /* columns: (G g) G^T */
        const float *tr = t[r];
        out[(r * 4 + 0) * pf + at] = tr[0];
        out[(r * 4 + 1) * pf + at] = 0.5f * (tr[0] + tr[1] + tr[2]);
        out[(r * 4 + 2) * pf + at] = 0.5f * (tr[0] - tr[1] + tr[2]);
        out[(r * 4 + 3) * pf + at] = tr[2];
      }
    }
}

/* Tiles per block for these channel counts. */
static int64_t block_tiles(const csm_conv_geom *g) {
  int64_t bt = BLOCK_FLOATS / (XI * (g->c + g->co));
  if (bt < MIN_BLOCK) bt = MIN_BLOCK;
  if (bt > MAX_BLOCK) bt = MAX_BLOCK;
  return bt / 12 * 12;
}

size_t csm_winograd_scratch_floats(const csm_conv_geom *g) {
  const int64_t bt = block_tiles(g);
  return (size_t)(XI * bt * (g->c + g->co) + g->c + bt * g->co);
}

typedef struct tiling {
  int64_t th, tw, per_image; /* tiles down, across, per image */
} tiling;

enum { LANES = 16 }; /* floats per v16 (vec.h) */

/* B^T d B for one channel vector (or one scalar channel: T = float). */
#define INPUT_TRANSFORM(T, d, v)                                                                   \
  do {                                                                                             \
    T t_[4][4];                                                                                    \
    for (int j = 0; j < 4; j++) { /* rows: B^T d */                                                \
      t_[0][j] = d[0][j] - d[2][j];                                                                \
      t_[1][j] = d[1][j] + d[2][j];                                                                \
      t_[2][j] = d[2][j] - d[1][j];                                                                \
      t_[3][j] = d[1][j] - d[3][j];                                                                \
    }                                                                                              \
    for (int i = 0; i < 4; i++) { /* columns: (B^T d) B */                                         \
      v[i][0] = t_[i][0] - t_[i][2];                                                               \
      v[i][1] = t_[i][1] + t_[i][2];                                                               \
      v[i][2] = t_[i][2] - t_[i][1];                                                               \
      v[i][3] = t_[i][1] - t_[i][3];                                                               \
    }                                                                                              \
  } while (0)

/* A^T m A for one channel vector (or scalar). */
#define OUTPUT_TRANSFORM(T, m, y)                                                                  \
  do {                                                                                             \
    T t_[2][4];                                                                                    \
    for (int j = 0; j < 4; j++) { /* rows: A^T m */                                                \
      t_[0][j] = m[0][j] + m[1][j] + m[2][j];                                                      \
      t_[1][j] = m[1][j] - m[2][j] - m[3][j];                                                      \
    }                                                                                              \
    for (int i = 0; i < 2; i++) { /* columns: (A^T m) A */                                         \
      y[i][0] = t_[i][0] + t_[i][1] + t_[i][2];                                                    \
      y[i][1] = t_[i][1] - t_[i][2] - t_[i][3];                                                    \
    }                                                                                              \
  } while (0)

/* V[xi][t] = (B^T d B)[xi] for the patch of tile `tile`, all channels. */
static void input_tile(const csm_conv_geom *g, const tiling *tl, const float *x, const float *zero,
                       int64_t tile, float *v, int64_t vstride) {
  const int64_t b = tile / tl->per_image, q = tile % tl->per_image, c = g->c;
  const int64_t ih0 = q / tl->tw * 2 - g->pad_top, iw0 = q % tl->tw * 2 - g->pad_left;
  const float *p[16];
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 4; j++) {
      const int64_t ih = ih0 + i, iw = iw0 + j;
      p[i * 4 + j] = ih < 0 || ih >= g->h || iw < 0 || iw >= g->w
                         ? zero
                         : x + ((b * g->h + ih) * g->w + iw) * c;
    }
  int64_t k = 0;
  for (; k + LANES <= c; k += LANES) {
    v16 d[4][4], o[4][4];
    for (int i = 0; i < 16; i++)
      d[i / 4][i % 4] = VLOAD(v16, p[i] + k);
    INPUT_TRANSFORM(v16, d, o);
    for (int i = 0; i < 16; i++)
      VSTORE(v16, v + i * vstride + k, o[i / 4][i % 4]);
  }
  for (; k < c; k++) {
    float d[4][4], o[4][4];
    for (int i = 0; i < 16; i++)
      d[i / 4][i % 4] = p[i][k];
    INPUT_TRANSFORM(float, d, o);
    for (int i = 0; i < 16; i++)
      v[i * vstride + k] = o[i / 4][i % 4];
  }
}

/* The 2x2 outputs of tile `tile` from M[xi][t], with the epilogue. Pixels
 * past the bottom or right edge (odd output sizes) are computed into `sink`
 * (co floats) and dropped, so the loops stay branch-free. */
static void output_tile(const csm_conv_geom *g, const tiling *tl, const float *m, int64_t mstride,
                        int64_t tile, float *y, float *sink, const csm_epilogue *e) {
  const int64_t b = tile / tl->per_image, q = tile % tl->per_image;
  const int64_t oh0 = q / tl->tw * 2, ow0 = q % tl->tw * 2, co = g->co;
  float *py[2][2];
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 2; j++)
      py[i][j] = oh0 + i < g->oh && ow0 + j < g->ow
                     ? y + ((b * g->oh + oh0 + i) * g->ow + ow0 + j) * co
                     : sink;
  const csm_activation act = e ? e->act : CSM_ACT_NONE;
  const v16 zero = {0}, six = zero + 6.0f, alpha = zero + (e ? e->alpha : 0.0f);
  int64_t k = 0;
  for (; k + LANES <= co; k += LANES) {
    v16 mm[4][4], o[2][2], bias = zero, slope = alpha;
    for (int i = 0; i < 16; i++)
      mm[i / 4][i % 4] = VLOAD(v16, m + i * mstride + k);
    OUTPUT_TRANSFORM(v16, mm, o);
    if (e && e->bias) bias = VLOAD(v16, e->bias + k);
    if (act == CSM_ACT_PRELU) slope = VLOAD(v16, e->prelu + k);
    for (int i = 0; i < 2; i++)
      for (int j = 0; j < 2; j++) {
        v16 v = o[i][j];
        if (e && e->bias) v += bias;
        /* the selects of csm_act_apply, lane by lane (a NaN stays NaN) */
        switch (act) {
        case CSM_ACT_NONE: break;
        case CSM_ACT_RELU: v = VSELECT16(v < zero, zero, v); break;
        case CSM_ACT_RELU6:
          v = VSELECT16(v < zero, zero, v);
          v = VSELECT16(v > six, six, v);
          break;
        case CSM_ACT_LEAKY_RELU:
        case CSM_ACT_PRELU: v = VSELECT16(v > zero, v, v * slope); break;
        }
        VSTORE(v16, py[i][j] + k, v);
      }
  }
  for (; k < co; k++) {
    float mm[4][4], o[2][2];
    for (int i = 0; i < 16; i++)
      mm[i / 4][i % 4] = m[i * mstride + k];
    OUTPUT_TRANSFORM(float, mm, o);
    for (int i = 0; i < 2; i++)
      for (int j = 0; j < 2; j++) {
        float v = o[i][j];
        if (e && e->bias) v += e->bias[k];
        py[i][j][k] = e ? csm_act_apply(v, e, k) : v;
      }
  }
}

void csm_winograd_run(const csm_conv_geom *g, const float *x, const float *filter, float *scratch,
                      float *y, const csm_epilogue *e) {
  const int64_t bt = block_tiles(g), c = g->c, co = g->co;
  const size_t pf = packed_one(c, co);
  tiling tl;
  tl.th = (g->oh + 1) / 2;
  tl.tw = (g->ow + 1) / 2;
  tl.per_image = tl.th * tl.tw;
  const int64_t tiles = g->n * tl.per_image;
  /* sinks: one row per tile of a block, so that threads never share one */
  float *v = scratch, *m = v + XI * bt * c, *zero = m + XI * bt * co, *sinks = zero + c;
  if (e && !e->bias && e->act == CSM_ACT_NONE) e = NULL;
  memset(zero, 0, (size_t)c * sizeof(float));
  for (int64_t t0 = 0; t0 < tiles; t0 += bt) {
    const int64_t nt = tiles - t0 < bt ? tiles - t0 : bt;
    /* One team per block: threads split the tiles of the transforms and
     * take whole GEMMs of the 16 (each then runs on its own thread, as ops
     * do inside the model's batch slices); 16 parallel GEMMs of a few
     * hundred rows each, with a barrier apiece, scaled badly. */
#pragma omp parallel if ((double)nt * (double)c * (double)co > 262144.0)
    {
#pragma omp for schedule(static)
      for (int64_t t = 0; t < nt; t++)
        input_tile(g, &tl, x, zero, t0 + t, v + t * c, bt * c);
#pragma omp for schedule(dynamic, 1)
      for (int xi = 0; xi < XI; xi++)
        csm_gemm(nt, co, c, v + xi * bt * c, c, filter + xi * pf, m + xi * bt * co, co, NULL);
#pragma omp for schedule(static)
      for (int64_t t = 0; t < nt; t++)
        output_tile(g, &tl, m + t * co, bt * co, t0 + t, y, sinks + t * co, e);
    }
  }
}
