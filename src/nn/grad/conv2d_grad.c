/* Conv2D backward with respect to x, and the fused bias/activation backward
 * shared by Conv2D, DepthwiseConv2D and MatMul.
 *
 * dX: dcol[rows, KH*KW*Ci] = dpre[rows, Co] x W^T on the row-independent GEMM
 * (W packed transposed), then col2im as a gather: every input pixel sums the
 * patch entries that read it, with the forward's strides, dilations and
 * padding. Rows are processed a few whole batch items at a time so that
 * dcol stays bounded, and col2im runs in parallel over input rows (no two
 * threads write the same pixel). A 1x1 convolution with unit strides and
 * no padding skips col2im: dcol has dx's layout, so it is computed a
 * cache-sized block of rows at a time and added to dx. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "../ops/conv_reference.h"
#include "../ops/gemm.h"
#include "backward.h"

enum { DCOL_FLOATS = 1 << 22 }; /* dcol block target: 16 MB */
enum { PW_FLOATS = 1 << 18 };   /* 1x1 dcol block: 1 MB, stays in cache */

/* 1 if the derivative of the fused activation can be read off the output
 * y: for ReLU, ReLU6 and LeakyReLU/PReLU with slopes >= 0 (or NaN), y > 0
 * exactly when the pre-activation v > 0, and 0 < y < 6 exactly when
 * 0 < v < 6 (NaN stays NaN, compares false both ways; a negative v times a
 * slope >= 0 is <= 0 or NaN). A negative slope makes y > 0 for v < 0. */
static int act_from_output(const csm_epilogue *e, int64_t channels) {
  switch (e->act) {
  case CSM_ACT_RELU:
  case CSM_ACT_RELU6: return 1;
  case CSM_ACT_LEAKY_RELU: return !(e->alpha < 0.0f);
  case CSM_ACT_PRELU:
    if (!e->prelu) return 0;
    for (int64_t c = 0; c < channels; c++)
      if (e->prelu[c] < 0.0f) return 0;
    return 1;
  default: return 0;
  }
}

/* dL/d(pre-activation) of a node whose operands are (x, w, bias?, alpha?).
 * The activation's derivative is taken at the pre-activation v: where the
 * output decides it (act_from_output), from the forward output; otherwise v
 * is recomputed exactly by running the op's forward on a copy of the node
 * without the activation (same sums, same bias add). dout is then multiplied
 * by that derivative. Without an activation *dpre is dout's own data (not
 * to be freed: compare with a->dout->data); otherwise a new buffer the
 * caller frees. */
csm_status csm_grad_fused_dpre(const csm_backward_args *a, int64_t channels, float **dpre) {
  const csm_node *n = a->node;
  const size_t total = csm_tensor_numel(a->dout);
  *dpre = (float *)a->dout->data;
  if (n->a.act == CSM_ACT_NONE) return CSM_OK;
  csm_epilogue e;
  csm_epilogue_from_node(n, a->in, &e);
  float *p = csm_malloc_array(total ? total : 1, sizeof(float));
  if (!p) return CSM_ENOMEM;
  const float *v = p; /* the values the slope is read at */
  if (act_from_output(&e, channels)) {
    v = a->out->data;
  } else {
    csm_node plain = *n;
    plain.a.act = CSM_ACT_NONE;
    plain.n_in = n->a.has_bias ? 3 : 2;
    const csm_op_def *def = csm_op_def_get(n->op);
    if (!def || !def->forward) {
      free(p);
      return csm_fail(CSM_EINTERNAL, "%s has no forward pass", csm_op_name(n->op));
    }
    csm_tensor pre = *a->out;
    pre.owned = 0;
    pre.data = p;
    size_t bytes = def->scratch ? def->scratch(&plain, a->in, &pre) : 0;
    void *scratch = NULL;
    if (bytes && !(scratch = aligned_alloc(64, (bytes + 63) / 64 * 64))) {
      free(p);
      return csm_fail(CSM_ENOMEM, "out of memory for a backward pass");
    }
    csm_status st = def->forward(&plain, a->in, &pre, scratch);
    free(scratch);
    if (st) {
      free(p);
      return st;
    }
  }
  const float *g = a->dout->data;
  const int64_t rows = channels > 0 ? (int64_t)total / channels : 0;
#pragma omp parallel for schedule(static) if (total > 65536)
  for (int64_t r = 0; r < rows; r++)
    for (int64_t c = 0; c < channels; c++) {
      const size_t i = (size_t)(r * channels + c);
      const float x = v[i];
      float d;
      switch (e.act) {
      case CSM_ACT_RELU: d = x > 0.0f ? 1.0f : 0.0f; break;
      case CSM_ACT_RELU6: d = x > 0.0f && x < 6.0f ? 1.0f : 0.0f; break;
      case CSM_ACT_LEAKY_RELU: d = x > 0.0f ? 1.0f : e.alpha; break;
      case CSM_ACT_PRELU: d = x > 0.0f ? 1.0f : e.prelu[c]; break;
      default: d = 1.0f; break;
      }
      p[i] = g[i] * d;
    }
  *dpre = p;
  return CSM_OK;
}

enum { HUGE_PAGE = 2 << 20 };

/* A buffer of `bytes` (64-byte aligned). Large ones are 2 MB aligned and
 * asked to use transparent huge pages: fresh memory then faults in 2 MB at a
 * time instead of 4 KB, which is most of the cost of a temporary otherwise. */
static void *grad_alloc(size_t bytes) {
  if (bytes < HUGE_PAGE) return aligned_alloc(64, (bytes + 63) / 64 * 64 + 64);
  bytes = (bytes + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
  void *p = aligned_alloc(HUGE_PAGE, bytes);
#ifdef MADV_HUGEPAGE
  if (p) (void)madvise(p, bytes, MADV_HUGEPAGE);
#endif
  return p;
}

/* dx[items b0.., all pixels] += the patch entries of dcol (rows of those
 * items) that read each pixel. */
static void col2im(const csm_conv_geom *g, const float *dcol, int64_t items, float *dx) {
  const int64_t C = g->c, K = g->kh * g->kw * C, item_rows = g->oh * g->ow;
  const int64_t lines = items * g->h;
#pragma omp parallel for schedule(static) if (lines > 1 && items * item_rows * K > 32768)
  for (int64_t line = 0; line < lines; line++) {
    const int64_t b = line / g->h, ih = line % g->h;
    const float *db = dcol + b * item_rows * K;
    float *dxr = dx + (b * g->h + ih) * g->w * C;
    for (int64_t i = 0; i < g->kh; i++) {
      const int64_t t = ih + g->pad_top - i * g->dh;
      if (t < 0 || t % g->sh) continue;
      const int64_t oh = t / g->sh;
      if (oh >= g->oh) continue;
      for (int64_t iw = 0; iw < g->w; iw++) {
        float *d = dxr + iw * C;
        for (int64_t j = 0; j < g->kw; j++) {
          const int64_t u = iw + g->pad_left - j * g->dw;
          if (u < 0 || u % g->sw) continue;
          const int64_t ow = u / g->sw;
          if (ow >= g->ow) continue;
          const float *s = db + (oh * g->ow + ow) * K + (i * g->kw + j) * C;
          for (int64_t c = 0; c < C; c++)
            d[c] += s[c];
        }
      }
    }
  }
}

/* A 1x1 convolution with unit strides and no padding: dcol is dx's own
 * layout (pixel r of the output reads pixel r of the input), so dx gets
 * dcol added block by block of rows, the blocks small enough to stay in
 * cache. The sums are those of the general path (same GEMM rows, one term
 * per dx element). */
static csm_status pointwise(const csm_conv_geom *g, const float *dpre, const float *packed,
                            float *dx) {
  const int64_t C = g->c, rows = g->n * g->h * g->w;
  int64_t block = PW_FLOATS / C;
  if (block < 16) block = 16;
  if (block > rows) block = rows;
  float *dcol = grad_alloc((size_t)(block * C) * sizeof(float));
  if (!dcol) return csm_fail(CSM_ENOMEM, "out of memory for the Conv2D backward pass");
  for (int64_t r0 = 0; r0 < rows; r0 += block) {
    const int64_t nr = rows - r0 < block ? rows - r0 : block;
    const size_t cnt = (size_t)(nr * C);
    csm_gemm(nr, C, g->co, dpre + r0 * g->co, g->co, packed, dcol, C, NULL);
    float *d = dx + r0 * C;
#pragma omp parallel for schedule(static) if (cnt > 32768)
    for (size_t i = 0; i < cnt; i++)
      d[i] += dcol[i];
  }
  free(dcol);
  return CSM_OK;
}

csm_status csm_backward_conv2d(const csm_backward_args *a) {
  csm_conv_geom g;
  csm_status st = csm_conv_geom_get(a->node, a->in, &g);
  if (st) return st;
  if (a->k != 0)
    return csm_fail(CSM_EUNSUPPORTED,
                    "Conv2D backward only differentiates the input, not operand %d", a->k);
  const int64_t K = g.kh * g.kw * g.c, item_rows = g.oh * g.ow;
  if (g.n <= 0 || K == 0 || item_rows == 0 || g.co == 0) return CSM_OK;
  float *dpre;
  if ((st = csm_grad_fused_dpre(a, g.co, &dpre))) return st;
  const int is_pointwise = g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.pad_top == 0 &&
                           g.pad_left == 0 && g.oh == g.h && g.ow == g.w;
  int64_t per_block = item_rows * K >= DCOL_FLOATS ? 1 : DCOL_FLOATS / (item_rows * K);
  if (per_block > g.n) per_block = g.n;
  float *packed = grad_alloc(csm_gemm_packed_floats(g.co, K) * sizeof(float));
  float *dcol =
      is_pointwise ? NULL : grad_alloc((size_t)(per_block * item_rows * K) * sizeof(float));
  if (!packed || (!is_pointwise && !dcol)) {
    free(packed);
    free(dcol);
    if (dpre != a->dout->data) free(dpre);
    return csm_fail(CSM_ENOMEM, "out of memory for the Conv2D backward pass");
  }
  /* B = W^T: W is [K, Co], i.e. an [n = K, k = Co] matrix stored transposed. */
  csm_gemm_pack_b(a->in[1].data, g.co, 1, g.co, K, packed);
  float *dx = a->din->data;
  if (is_pointwise) {
    st = pointwise(&g, dpre, packed, dx);
  } else {
    const int64_t item_x = g.h * g.w * g.c;
    for (int64_t b0 = 0; b0 < g.n; b0 += per_block) {
      const int64_t items = g.n - b0 < per_block ? g.n - b0 : per_block;
      csm_gemm(items * item_rows, K, g.co, dpre + b0 * item_rows * g.co, g.co, packed, dcol, K,
               NULL);
      col2im(&g, dcol, items, dx + b0 * item_x);
    }
  }
  free(packed);
  free(dcol);
  if (dpre != a->dout->data) free(dpre);
  return st;
}
