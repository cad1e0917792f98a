/* Conv2DTranspose (ONNX ConvTranspose): NHWC input, filter [Ci,KH,KW,Co].
 *
 * Input pixel (ih, iw) spreads x[ih,iw,:] . f[:,i,j,:] to the full output at
 * (ih*sh + i*dh, iw*sw + j*dw); the explicit pads are then cropped from the
 * full output (top/left shift it, bottom/right cut it) and output_padding
 * adds rows/columns at the end that only get the bias.
 *
 * As a GEMM: col[rows, KH*KW*Co] = x[rows, Ci] x f[Ci, KH*KW*Co] (the filter
 * is already that matrix, row-major; packed once per plan when constant),
 * then col2im as a gather: every output row sums the col entries that land
 * on it, taps in (i, j) order, so threads never write the same pixel and the
 * sums do not depend on the thread count. col is computed for blocks of
 * whole batch items when an item fits the block target, else for blocks of
 * input rows of one item; the blocking depends on the shapes of one item
 * only, so a batch gives bit for bit the results of single runs. The bias
 * and the activation are applied once every tap has been added. */
#include <string.h>

#include "activation.h"
#include "conv_reference.h"
#include "gemm.h"
#include "../grad/backward.h"

enum { COL_FLOATS = 1 << 20 }; /* col block target: 4 MB */

typedef struct tgeom {
  int64_t n, h, w, ci, kh, kw, co, oh, ow;
  int sh, sw, dh, dw, pt, pl;
} tgeom;

static csm_status tgeom_get(const csm_node *n, const csm_tensor *in, tgeom *g) {
  const char *op = csm_op_name(n->op);
  const csm_attrs *a = &n->a;
  char b1[96];
  memset(g, 0, sizeof *g);
  csm_status st = csm_conv_check_operands(n, in, "[Cin,KH,KW,Cout]");
  if (st) return st;
  const csm_tensor *x = &in[0], *f = &in[1];
  if (x->shape.d[0] < -1 || x->shape.d[1] < 1 || x->shape.d[2] < 1 || x->shape.d[3] < 0)
    return csm_fail(CSM_EINPUT, "%s input shape %s has an unknown or empty dimension", op,
                    csm_shape_str(&x->shape, b1, sizeof b1));
  for (int d = 1; d < 4; d++)
    if (f->shape.d[d] < 1 || f->shape.d[d] > INT32_MAX)
      return csm_fail(CSM_EINPUT, "%s filter shape %s has an empty or huge dimension", op,
                      csm_shape_str(&f->shape, b1, sizeof b1));
  if (f->shape.d[0] != x->shape.d[3])
    return csm_fail(CSM_EINPUT, "%s filter has %lld input channels but input has %lld", op,
                    (long long)f->shape.d[0], (long long)x->shape.d[3]);
  if ((st = csm_conv_check_steps(n))) return st;
  if (a->padding != CSM_PAD_EXPLICIT && a->padding != CSM_PAD_VALID)
    return csm_fail(CSM_EUNSUPPORTED, "%s needs explicit pads (padding %d)", op, (int)a->padding);
  const int explicit_pads = a->padding == CSM_PAD_EXPLICIT;
  const int pt = explicit_pads ? a->pads[0] : 0, pb = explicit_pads ? a->pads[1] : 0;
  const int pl = explicit_pads ? a->pads[2] : 0, pr = explicit_pads ? a->pads[3] : 0;
  if (pt < 0 || pb < 0 || pl < 0 || pr < 0)
    return csm_fail(CSM_EINPUT, "%s pads must be >= 0, got %d,%d,%d,%d", op, pt, pb, pl, pr);
  if (a->output_padding[0] < 0 || a->output_padding[1] < 0)
    return csm_fail(CSM_EINPUT, "%s output_padding must be >= 0, got %d,%d", op,
                    a->output_padding[0], a->output_padding[1]);
  g->n = x->shape.d[0];
  g->h = x->shape.d[1];
  g->w = x->shape.d[2];
  g->ci = x->shape.d[3];
  g->kh = f->shape.d[1];
  g->kw = f->shape.d[2];
  g->co = f->shape.d[3];
  g->sh = a->stride[0];
  g->sw = a->stride[1];
  g->dh = a->dilation[0];
  g->dw = a->dilation[1];
  g->pt = pt;
  g->pl = pl;
  /* Every term is below 2^31 * 2^31: no overflow in int64. */
  g->oh = (g->h - 1) * g->sh - pt - pb + (int64_t)g->dh * (g->kh - 1) + a->output_padding[0] + 1;
  g->ow = (g->w - 1) * g->sw - pl - pr + (int64_t)g->dw * (g->kw - 1) + a->output_padding[1] + 1;
  if (g->oh < 1 || g->ow < 1)
    return csm_fail(CSM_EINPUT, "%s pads %d,%d,%d,%d crop the whole %s output", op, pt, pb, pl, pr,
                    g->oh < 1 ? "height of the" : "width of the");
  return CSM_OK;
}

static int64_t tgeom_k2(const tgeom *g) { return g->kh * g->kw * g->co; }

/* Items per col block (>= 1), or 0 when one item is split into row blocks;
 * *row_block: input rows per block in that case. */
static int64_t block_items(const tgeom *g, int64_t *row_block) {
  const int64_t per_row = g->w * tgeom_k2(g), per_item = g->h * per_row;
  *row_block = g->h;
  if (per_item <= COL_FLOATS) return per_item > 0 ? COL_FLOATS / per_item : 1;
  *row_block = COL_FLOATS / per_row > 0 ? COL_FLOATS / per_row : 1;
  return 0;
}

static int64_t col_floats(const tgeom *g, int64_t batch) {
  int64_t rb, items = block_items(g, &rb);
  if (items == 0) return rb * g->w * tgeom_k2(g);
  if (batch >= 0 && items > batch) items = batch;
  if (items < 1) items = 1;
  return items * g->h * g->w * tgeom_k2(g);
}

/* y[items from b0, output rows] += the col entries (input rows [r0, r1) of
 * each item, laid out [item][row - r0][iw][i][j][o]) that land on them. */
static void gather(const tgeom *g, const float *col, int64_t b0, int64_t items, int64_t r0,
                   int64_t r1, float *y) {
  const int64_t K2 = tgeom_k2(g), CO = g->co, item_rows = r1 - r0;
  const int64_t lines = items * g->oh;
#pragma omp parallel for schedule(static) if (lines > 1 && items * item_rows * g->w * K2 > 32768)
  for (int64_t line = 0; line < lines; line++) {
    const int64_t b = line / g->oh, oy = line % g->oh;
    const float *cb = col + b * item_rows * g->w * K2;
    float *yr = y + ((b0 + b) * g->oh + oy) * g->ow * CO;
    for (int64_t i = 0; i < g->kh; i++) {
      const int64_t t = oy + g->pt - i * g->dh;
      if (t < 0 || t % g->sh) continue;
      const int64_t ih = t / g->sh;
      if (ih < r0 || ih >= r1) continue;
      const float *cr = cb + (ih - r0) * g->w * K2 + i * g->kw * CO;
      for (int64_t ox = 0; ox < g->ow; ox++) {
        float *d = yr + ox * CO;
        for (int64_t j = 0; j < g->kw; j++) {
          const int64_t u = ox + g->pl - j * g->dw;
          if (u < 0 || u % g->sw) continue;
          const int64_t iw = u / g->sw;
          if (iw >= g->w) continue;
          const float *s = cr + iw * K2 + j * CO;
#pragma omp simd
          for (int64_t o = 0; o < CO; o++)
            d[o] += s[o];
        }
      }
    }
  }
}

static csm_status tconv_infer(const csm_node *n, const csm_tensor *in, csm_tensor *out) {
  tgeom g;
  csm_status st = tgeom_get(n, in, &g);
  if (st) return st;
  if ((st = csm_epilogue_check(n, in, g.co))) return st;
  int64_t dims[4] = {g.n, g.oh, g.ow, g.co};
  out->dtype = CSM_F32;
  out->shape = csm_shape_make(4, dims);
  return csm_shape_numel(&out->shape, &(size_t){0});
}

static size_t round16(size_t floats) { return (floats + 15) / 16 * 16; }

static size_t packed_floats(const tgeom *g) {
  return g->ci > 0 ? round16(csm_gemm_packed_floats(g->ci, tgeom_k2(g))) : 0;
}

static size_t tconv_scratch(const csm_node *n, const csm_tensor *in, const csm_tensor *out) {
  tgeom g;
  (void)out;
  if (tgeom_get(n, in, &g)) return 0;
  return (packed_floats(&g) + (size_t)col_floats(&g, g.n)) * sizeof(float);
}

static csm_status tconv_run(const csm_node *n, const csm_tensor *in, csm_tensor *out,
                            const float *packed, float *col) {
  tgeom g;
  csm_epilogue e;
  csm_status st = tgeom_get(n, in, &g);
  if (st) return st;
  csm_epilogue_from_node(n, in, &e);
  const int64_t K2 = tgeom_k2(&g), rows_out = g.n * g.oh * g.ow;
  const float *x = in[0].data;
  float *y = out->data;
  if (rows_out <= 0) return CSM_OK;
  memset(y, 0, (size_t)(rows_out * g.co) * sizeof(float));
  if (g.ci > 0) {
    int64_t rb, items = block_items(&g, &rb);
    const int64_t item_x = g.h * g.w * g.ci;
    if (items > 0) {
      for (int64_t b0 = 0; b0 < g.n; b0 += items) {
        const int64_t cnt = g.n - b0 < items ? g.n - b0 : items;
        csm_gemm(cnt * g.h * g.w, K2, g.ci, x + b0 * item_x, g.ci, packed, col, K2, NULL);
        gather(&g, col, b0, cnt, 0, g.h, y);
      }
    } else {
      for (int64_t b = 0; b < g.n; b++)
        for (int64_t r0 = 0; r0 < g.h; r0 += rb) {
          const int64_t r1 = g.h - r0 < rb ? g.h : r0 + rb;
          csm_gemm((r1 - r0) * g.w, K2, g.ci, x + b * item_x + r0 * g.w * g.ci, g.ci, packed, col,
                   K2, NULL);
          gather(&g, col, b, 1, r0, r1, y);
        }
    }
  }
  if (e.bias || e.act != CSM_ACT_NONE) {
    const int64_t chunk = 256, chunks = (rows_out + chunk - 1) / chunk;
#pragma omp parallel for schedule(static) if (rows_out * g.co > 65536)
    for (int64_t c = 0; c < chunks; c++) {
      const int64_t r0 = c * chunk, nr = rows_out - r0 < chunk ? rows_out - r0 : chunk;
      csm_epilogue_rows(y + r0 * g.co, nr, g.co, &e);
    }
  }
  return CSM_OK;
}

static csm_status tconv_forward(const csm_node *n, const csm_tensor *in, csm_tensor *out,
                                void *scratch) {
  tgeom g;
  csm_status st = tgeom_get(n, in, &g);
  if (st) return st;
  float *packed = scratch;
  if (g.ci > 0) csm_gemm_pack_b(in[1].data, tgeom_k2(&g), 0, g.ci, tgeom_k2(&g), packed);
  return tconv_run(n, in, out, packed, packed + packed_floats(&g));
}

/* A constant filter is packed once per plan. */
static size_t tconv_prepared_size(const csm_node *n, const csm_tensor *in) {
  tgeom g;
  if (!in[1].data || tgeom_get(n, in, &g) || g.ci == 0) return 0;
  return packed_floats(&g) * sizeof(float);
}

static void tconv_prepare(const csm_node *n, const csm_tensor *in, void *prepared) {
  tgeom g;
  if (tgeom_get(n, in, &g)) return;
  csm_gemm_pack_b(in[1].data, tgeom_k2(&g), 0, g.ci, tgeom_k2(&g), prepared);
}

static csm_status tconv_forward_prepared(const csm_node *n, const csm_tensor *in, csm_tensor *out,
                                         void *scratch, const void *prepared) {
  tgeom g;
  csm_status st = tgeom_get(n, in, &g);
  if (st) return st;
  return tconv_run(n, in, out, prepared, (float *)scratch + packed_floats(&g));
}

static double tconv_flops(const csm_node *n, const csm_tensor *in, const csm_tensor *out) {
  (void)n;
  (void)out;
  double px = 1.0;
  for (int d = 0; d < 3; d++)
    px *= (double)(in[0].shape.d[d] > 0 ? in[0].shape.d[d] : 1);
  return 2.0 * px * (double)in[1].shape.d[0] * (double)in[1].shape.d[1] * (double)in[1].shape.d[2] *
         (double)in[1].shape.d[3];
}

const csm_op_def csm_op_conv2d_transpose = {.infer = tconv_infer,
                                            .scratch = tconv_scratch,
                                            .forward = tconv_forward,
                                            .flops = tconv_flops,
                                            .prepared_size = tconv_prepared_size,
                                            .prepare = tconv_prepare,
                                            .forward_prepared = tconv_forward_prepared,
                                            .backward = csm_backward_conv2d_transpose,
                                            .flags = CSM_OP_CONV | CSM_OP_WEIGHTED};
