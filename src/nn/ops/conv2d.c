/* Conv2D (NHWC input, HWIO filter) as a GEMM: out[rows, Co] = patches[rows,
 * KH*KW*Ci] x filter[KH*KW*Ci, Co], one row per output pixel, with bias and
 * activation fused into the GEMM's last pass.
 *
 * A 1x1, stride-1, unpadded convolution is the GEMM on the input itself.
 * Otherwise patches are gathered (im2col) in blocks of rows so that scratch
 * stays bounded (about 4 MB) whatever the batch. The GEMM computes each row
 * independently of the others (gemm.h), so the blocking, the batch size and
 * the thread count never change a result. */
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "conv_reference.h"
#include "gemm.h"

enum {
  COL_FLOATS = 1 << 20, /* im2col block target: 4 MB */
  COL_MIN_ROWS = 96     /* but never fewer rows than a GEMM task */
};

csm_status csm_conv_check_operands(const csm_node *n, const csm_tensor *in,
                                   const char *filter_layout) {
  const char *op = csm_op_name(n->op);
  char b1[96];
  if (n->n_in < 2)
    return csm_fail(CSM_EINPUT, "%s needs an input and a filter, got %d inputs", op, n->n_in);
  const csm_tensor *x = &in[0], *f = &in[1];
  if (x->dtype != CSM_F32) return csm_fail(CSM_EINPUT, "%s input must be float32", op);
  if (f->dtype != CSM_F32) return csm_fail(CSM_EINPUT, "%s filter must be float32", op);
  if (x->shape.rank != 4)
    return csm_fail(CSM_EINPUT, "%s input must be NHWC (rank 4), got shape %s", op,
                    csm_shape_str(&x->shape, b1, sizeof b1));
  if (f->shape.rank != 4)
    return csm_fail(CSM_EINPUT, "%s filter must be %s (rank 4), got shape %s", op, filter_layout,
                    csm_shape_str(&f->shape, b1, sizeof b1));
  return CSM_OK;
}

csm_status csm_conv_check_steps(const csm_node *n) {
  const char *op = csm_op_name(n->op);
  const csm_attrs *a = &n->a;
  if (a->stride[0] < 1 || a->stride[1] < 1)
    return csm_fail(CSM_EINPUT, "%s strides must be positive, got %d,%d", op, a->stride[0],
                    a->stride[1]);
  if (a->dilation[0] < 1 || a->dilation[1] < 1)
    return csm_fail(CSM_EINPUT, "%s dilations must be positive, got %d,%d", op, a->dilation[0],
                    a->dilation[1]);
  return CSM_OK;
}

csm_status csm_conv_geom_get(const csm_node *n, const csm_tensor *in, csm_conv_geom *g) {
  const char *op = csm_op_name(n->op);
  const int depthwise = n->op == CSM_OP_DEPTHWISE_CONV2D;
  char b1[96];
  memset(g, 0, sizeof *g);
  csm_status st = csm_conv_check_operands(n, in, depthwise ? "[KH,KW,Cin,M]" : "[KH,KW,Cin,Cout]");
  if (st) return st;
  const csm_tensor *x = &in[0], *f = &in[1];
  if (x->shape.d[0] < -1 || x->shape.d[1] < 0 || x->shape.d[2] < 0 || x->shape.d[3] < 0)
    return csm_fail(CSM_EINPUT, "%s input shape %s has an unknown or negative dimension", op,
                    csm_shape_str(&x->shape, b1, sizeof b1));
  for (int d = 0; d < 4; d++)
    if (f->shape.d[d] < (d == 2 ? 0 : 1))
      return csm_fail(CSM_EINPUT, "%s filter shape %s has an empty dimension", op,
                      csm_shape_str(&f->shape, b1, sizeof b1));
  if (f->shape.d[2] != x->shape.d[3])
    return csm_fail(CSM_EINPUT, "%s filter has %lld input channels but input has %lld", op,
                    (long long)f->shape.d[2], (long long)x->shape.d[3]);
  const csm_attrs *a = &n->a;
  if ((st = csm_conv_check_steps(n))) return st;
  if (a->padding != CSM_PAD_VALID && a->padding != CSM_PAD_SAME &&
      a->padding != CSM_PAD_SAME_LOWER && a->padding != CSM_PAD_EXPLICIT)
    return csm_fail(CSM_EINPUT, "%s has an unknown padding (%d)", op, (int)a->padding);
  if (a->padding == CSM_PAD_EXPLICIT &&
      (a->pads[0] < 0 || a->pads[1] < 0 || a->pads[2] < 0 || a->pads[3] < 0))
    return csm_fail(CSM_EINPUT, "%s explicit paddings must be >= 0, got %d,%d,%d,%d", op,
                    a->pads[0], a->pads[1], a->pads[2], a->pads[3]);
  if (f->shape.d[0] > INT32_MAX || f->shape.d[1] > INT32_MAX)
    return csm_fail(CSM_EINPUT, "%s filter window %s is too large", op,
                    csm_shape_str(&f->shape, b1, sizeof b1));

  g->n = x->shape.d[0];
  g->h = x->shape.d[1];
  g->w = x->shape.d[2];
  g->c = x->shape.d[3];
  g->kh = f->shape.d[0];
  g->kw = f->shape.d[1];
  g->mult = depthwise ? f->shape.d[3] : 1;
  g->co = depthwise ? g->c * g->mult : f->shape.d[3];
  g->sh = a->stride[0];
  g->sw = a->stride[1];
  g->dh = a->dilation[0];
  g->dw = a->dilation[1];
  g->oh = csm_window_out(g->h, (int)g->kh, g->sh, g->dh, a->padding, a->pads[0], a->pads[1],
                         &g->pad_top);
  g->ow = csm_window_out(g->w, (int)g->kw, g->sw, g->dw, a->padding, a->pads[2], a->pads[3],
                         &g->pad_left);
  if (g->oh < 0 || g->ow < 0) {
    int vertical = g->oh < 0;
    int64_t size = vertical ? g->h : g->w, k = vertical ? g->kh : g->kw;
    int dil = vertical ? g->dh : g->dw;
    int64_t pad = a->padding != CSM_PAD_EXPLICIT ? 0
                  : vertical                     ? (int64_t)a->pads[0] + a->pads[1]
                                                 : (int64_t)a->pads[2] + a->pads[3];
    return csm_fail(CSM_EINPUT,
                    "%s input %s %lld (padded %lld) is smaller than the dilated filter %s %lld", op,
                    vertical ? "height" : "width", (long long)size, (long long)(size + pad),
                    vertical ? "height" : "width", (long long)((k - 1) * dil + 1));
  }
  return CSM_OK;
}

/* ---- im2col ------------------------------------------------------------- */

static int conv_direct(const csm_conv_geom *g) {
  return g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->pad_top == 0 &&
         g->pad_left == 0 && g->oh == g->h && g->ow == g->w;
}

/* Rows of patches gathered per block; 0 for the direct path. rows < 0: the
 * batch is not known yet, size for the largest block. */
static int64_t conv_block_rows(const csm_conv_geom *g, int64_t rows) {
  const int64_t k = g->kh * g->kw * g->c;
  int64_t rb;
  if (conv_direct(g) || k == 0) return 0;
  rb = COL_FLOATS / k;
  if (rb < COL_MIN_ROWS) rb = COL_MIN_ROWS;
  if (rows >= 0 && rb > rows) rb = rows;
  return rb;
}

/* Short runs (the first layer's 1 or 3 channels) are copied inline: a libc
 * call per few floats would dominate that layer. */
static inline void copy_run(float *d, const float *s, int64_t n) {
  if (n > 16) {
    memcpy(d, s, (size_t)n * sizeof(float));
    return;
  }
  for (int64_t i = 0; i < n; i++)
    d[i] = s[i];
}

static inline void zero_run(float *d, int64_t n) {
  if (n > 16) {
    memset(d, 0, (size_t)n * sizeof(float));
    return;
  }
  for (int64_t i = 0; i < n; i++)
    d[i] = 0.0f;
}

/* The patch of output pixel (b, oh, ow) into d[KH*KW*C]. */
static void patch(const csm_conv_geom *g, const float *x, int64_t b, int64_t oh, int64_t ow,
                  float *d) {
  const int64_t c = g->c, iw0 = ow * g->sw - g->pad_left;
  /* The whole window row is one contiguous run of the input row. */
  const int contiguous = g->dw == 1 && iw0 >= 0 && iw0 + g->kw <= g->w;
  const float *xb = x + b * g->h * g->w * c;
  for (int64_t i = 0; i < g->kh; i++) {
    const int64_t ih = oh * g->sh - g->pad_top + i * g->dh;
    float *di = d + i * g->kw * c;
    if (ih < 0 || ih >= g->h) {
      zero_run(di, g->kw * c);
      continue;
    }
    const float *xr = xb + ih * g->w * c;
    if (contiguous) {
      copy_run(di, xr + iw0 * c, g->kw * c);
      continue;
    }
    for (int64_t j = 0; j < g->kw; j++) {
      const int64_t iw = iw0 + j * g->dw;
      if (iw < 0 || iw >= g->w)
        zero_run(di + j * c, c);
      else
        copy_run(di + j * c, xr + iw * c, c);
    }
  }
}

/* Patches of output rows [r0, r0 + count) into col[count, KH*KW*C]. Each
 * thread takes a contiguous range and walks (b, oh, ow) without dividing
 * per row. */
static void im2col(const csm_conv_geom *g, const float *x, int64_t r0, int64_t count, float *col) {
  const int64_t k = g->kh * g->kw * g->c;
#pragma omp parallel if (count * k > 32768)
  {
    int64_t parts = 1, part = 0;
#ifdef _OPENMP
    parts = omp_get_num_threads();
    part = omp_get_thread_num();
#endif
    const int64_t lo = count * part / parts, hi = count * (part + 1) / parts;
    int64_t ow = (r0 + lo) % g->ow, oh = (r0 + lo) / g->ow % g->oh, b = (r0 + lo) / g->ow / g->oh;
    for (int64_t r = lo; r < hi; r++) {
      patch(g, x, b, oh, ow, col + r * k);
      if (++ow == g->ow) {
        ow = 0;
        if (++oh == g->oh) {
          oh = 0;
          b++;
        }
      }
    }
  }
}

/* ---- op ----------------------------------------------------------------- */

static csm_status conv_infer(const csm_node *n, const csm_tensor *in, csm_tensor *out) {
  csm_conv_geom g;
  csm_status st = csm_conv_geom_get(n, in, &g);
  if (st) return st;
  st = csm_epilogue_check(n, in, g.co);
  if (st) return st;
  int64_t dims[4] = {g.n, g.oh, g.ow, g.co};
  out->dtype = CSM_F32;
  out->shape = csm_shape_make(4, dims);
  return CSM_OK;
}

static size_t round16(size_t floats) { return (floats + 15) / 16 * 16; }

static size_t conv_scratch(const csm_node *n, const csm_tensor *in, const csm_tensor *out) {
  csm_conv_geom g;
  (void)out;
  if (csm_conv_geom_get(n, in, &g)) return 0;
  const int64_t k = g.kh * g.kw * g.c;
  const int64_t rows = g.n < 0 ? -1 : g.n * g.oh * g.ow;
  size_t floats = round16(csm_gemm_packed_floats(k, g.co));
  floats += (size_t)conv_block_rows(&g, rows) * (size_t)k;
  return floats * sizeof(float);
}

/* The GEMM over patches, with the filter already packed. */
static csm_status conv_run(const csm_node *n, const csm_tensor *in, csm_tensor *out,
                           const float *packed, float *col) {
  csm_conv_geom g;
  csm_epilogue e;
  csm_status st = csm_conv_geom_get(n, in, &g);
  if (st) return st;
  csm_epilogue_from_node(n, in, &e);
  const int64_t k = g.kh * g.kw * g.c, rows = g.n * g.oh * g.ow;
  const float *x = in[0].data;
  float *y = out->data;
  if (rows <= 0 || g.co == 0) return CSM_OK;
  const int64_t rb = conv_block_rows(&g, rows);
  if (rb == 0) { /* direct: the input is the patch matrix (or k == 0) */
    csm_gemm(rows, g.co, k, x, g.c, packed, y, g.co, &e);
    return CSM_OK;
  }
  for (int64_t r0 = 0; r0 < rows; r0 += rb) {
    const int64_t count = rows - r0 < rb ? rows - r0 : rb;
    im2col(&g, x, r0, count, col);
    csm_gemm(count, g.co, k, col, k, packed, y + r0 * g.co, g.co, &e);
  }
  return CSM_OK;
}

static csm_status conv_forward(const csm_node *n, const csm_tensor *in, csm_tensor *out,
                               void *scratch) {
  const int64_t k = in[1].shape.d[0] * in[1].shape.d[1] * in[1].shape.d[2];
  const int64_t co = in[1].shape.d[3];
  float *packed = scratch;
  if (k > 0 && co > 0) csm_gemm_pack_b(in[1].data, co, 0, k, co, packed);
  return conv_run(n, in, out, packed, packed + round16(csm_gemm_packed_floats(k, co)));
}

/* A constant filter is packed once per plan. */
static size_t conv_prepared_size(const csm_node *n, const csm_tensor *in) {
  (void)n;
  if (!in[1].data || in[1].shape.rank != 4) return 0;
  const int64_t k = in[1].shape.d[0] * in[1].shape.d[1] * in[1].shape.d[2];
  return k > 0 && in[1].shape.d[3] > 0 ? csm_gemm_packed_floats(k, in[1].shape.d[3]) * sizeof(float)
                                       : 0;
}

static void conv_prepare(const csm_node *n, const csm_tensor *in, void *prepared) {
  (void)n;
  const int64_t k = in[1].shape.d[0] * in[1].shape.d[1] * in[1].shape.d[2];
  csm_gemm_pack_b(in[1].data, in[1].shape.d[3], 0, k, in[1].shape.d[3], prepared);
}

static csm_status conv_forward_prepared(const csm_node *n, const csm_tensor *in, csm_tensor *out,
                                        void *scratch, const void *prepared) {
  const int64_t k = in[1].shape.d[0] * in[1].shape.d[1] * in[1].shape.d[2];
  float *col = (float *)scratch + round16(csm_gemm_packed_floats(k, in[1].shape.d[3]));
  return conv_run(n, in, out, prepared, col);
}

static double conv_flops(const csm_node *n, const csm_tensor *in, const csm_tensor *out) {
  double px = 1.0;
  (void)n;
  for (int d = 1; d < out->shape.rank; d++)
    px *= (double)out->shape.d[d];
  if (out->shape.rank > 0 && out->shape.d[0] > 0) px *= (double)out->shape.d[0];
  return 2.0 * px * (double)in[1].shape.d[0] * (double)in[1].shape.d[1] * (double)in[1].shape.d[2];
}

const csm_op_def csm_op_conv2d = {.infer = conv_infer,
                                  .scratch = conv_scratch,
                                  .forward = conv_forward,
                                  .flops = conv_flops,
                                  .prepared_size = conv_prepared_size,
                                  .prepare = conv_prepare,
                                  .forward_prepared = conv_forward_prepared};

/* ---- reference ---------------------------------------------------------- */

csm_status csm_conv2d_reference(const csm_node *n, const csm_tensor *in, csm_tensor *out) {
  csm_conv_geom g;
  csm_epilogue e;
  csm_status st = csm_conv_geom_get(n, in, &g);
  if (st) return st;
  csm_epilogue_from_node(n, in, &e);
  const float *x = in[0].data, *f = in[1].data;
  float *y = out->data;
  for (int64_t b = 0; b < g.n; b++)
    for (int64_t oh = 0; oh < g.oh; oh++)
      for (int64_t ow = 0; ow < g.ow; ow++)
        for (int64_t o = 0; o < g.co; o++) {
          double s = 0.0;
          for (int64_t i = 0; i < g.kh; i++)
            for (int64_t j = 0; j < g.kw; j++) {
              const int64_t ih = oh * g.sh - g.pad_top + i * g.dh;
              const int64_t iw = ow * g.sw - g.pad_left + j * g.dw;
              if (ih < 0 || ih >= g.h || iw < 0 || iw >= g.w) continue;
              for (int64_t c = 0; c < g.c; c++)
                s += (double)x[((b * g.h + ih) * g.w + iw) * g.c + c] *
                     (double)f[((i * g.kw + j) * g.c + c) * g.co + o];
            }
          float v = (float)s;
          if (e.bias) v += e.bias[o];
          y[((b * g.oh + oh) * g.ow + ow) * g.co + o] = csm_act_apply(v, &e, o);
        }
  return CSM_OK;
}
