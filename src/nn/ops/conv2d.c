/* Conv2D (NHWC input, HWIO filter) as a GEMM: out[rows, Co] = patches[rows,
 * KH*KW*Ci] x filter[KH*KW*Ci, Co], one row per output pixel, with bias and
 * activation fused into the GEMM's last pass.
 *
 * The patch matrix is not built (implicit GEMM): a patch is KH runs of KW*Ci
 * contiguous floats of the input, one per filter row, so the GEMM reads it in
 * place as KH segments (csm_gemm_rows). Padding is written once into a
 * padded copy of a band of the input (about 4 MB at a time), not into every
 * patch. A 1x1, stride-1 convolution is thus the GEMM on the input itself.
 * Only dilated convolutions, and filters whose rows are too short for
 * segments to pay (KW*Ci < 16), gather patches into a matrix (im2col), in
 * blocks of rows so that scratch stays bounded whatever the batch.
 *
 * Both paths feed the GEMM the same numbers in the same order, and the GEMM
 * computes each row independently of the others (gemm.h), so the path, the
 * banding, the batch size and the thread count never change a result.
 *
 * 3x3, stride-1 convolutions with enough channels (csm_winograd_applies) take
 * neither path: they run as Winograd F(2x2, 3x3) (conv_winograd.h), 2.25x
 * fewer multiplies, with rounding that differs from direct summation but
 * that is as independent of the batch and the threads. */
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "conv_reference.h"
#include "conv_winograd.h"
#include "gemm.h"
#include "../grad/backward.h"

enum {
  COL_FLOATS = 1 << 20,  /* im2col block target: 4 MB */
  COL_MIN_ROWS = 96,     /* but never fewer rows than a GEMM task */
  BAND_FLOATS = 1 << 20, /* padded input band target: 4 MB */
  MIN_SEGMENT = 16       /* shorter filter rows go through im2col */
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

/* ---- implicit GEMM ------------------------------------------------------ */

/* Whether patches are read in place (implicit GEMM) rather than gathered. */
static int conv_implicit(const csm_conv_geom *g) {
  return g->dh == 1 && g->dw == 1 && g->kw * g->c >= MIN_SEGMENT;
}

/* Zero rows and columns the windows reach past the bottom and right edges. */
static int64_t pad_after(int64_t size, int64_t out, int64_t k, int64_t stride, int64_t pad_before) {
  const int64_t last = (out - 1) * stride - pad_before + k;
  return last > size ? last - size : 0;
}

/* How the input is cut into padded bands: `images` whole images per band,
 * or (images == 0) `rows` output rows of one image per band. */
typedef struct conv_bands {
  int64_t wp, hp;   /* padded width and height */
  int padded;       /* any padding at all; if not, the input is read as is */
  int64_t images;   /* whole padded images per band, or 0 */
  int64_t rows;     /* output rows per band when images == 0 */
  int64_t capacity; /* floats of band scratch */
} conv_bands;

/* batch < 0: not known yet, size for the largest band. */
static conv_bands conv_bands_of(const csm_conv_geom *g, int64_t batch) {
  conv_bands bd;
  memset(&bd, 0, sizeof bd);
  const int64_t pb = pad_after(g->h, g->oh, g->kh, g->sh, g->pad_top);
  const int64_t pr = pad_after(g->w, g->ow, g->kw, g->sw, g->pad_left);
  bd.wp = g->pad_left + g->w + pr;
  bd.hp = g->pad_top + g->h + pb;
  bd.padded = g->pad_top > 0 || g->pad_left > 0 || pb > 0 || pr > 0;
  if (!bd.padded) return bd;
  const int64_t row = bd.wp * g->c, image = bd.hp * row;
  if (image <= BAND_FLOATS) {
    bd.images = BAND_FLOATS / image;
    if (batch >= 0 && bd.images > batch) bd.images = batch > 0 ? batch : 1;
    bd.capacity = bd.images * image;
    return bd;
  }
  bd.rows = (BAND_FLOATS / row - g->kh) / g->sh + 1;
  if (bd.rows < 1) bd.rows = 1;
  if (bd.rows > g->oh) bd.rows = g->oh;
  bd.capacity = ((bd.rows - 1) * g->sh + g->kh) * row;
  return bd;
}

/* Where output pixel r of a band finds its patch: image r / (oh * ow), then
 * output row and column, each window starting stride steps further. */
typedef struct band_rows {
  const float *base;
  int64_t oh, ow, image, row, sh, sw, c;
} band_rows;

static const float *band_row(const void *ctx, int64_t r) {
  const band_rows *b = ctx;
  const int64_t per_image = b->oh * b->ow, q = r % per_image;
  return b->base + r / per_image * b->image + q / b->ow * b->sh * b->row + q % b->ow * b->sw * b->c;
}

/* Input rows [ih0, ih0 + count) of image b, padded left and right, zero
 * outside the image, into d. */
static void pad_rows(const csm_conv_geom *g, const conv_bands *bd, const float *x, int64_t b,
                     int64_t ih0, int64_t count, float *d) {
  const int64_t c = g->c, row = bd->wp * c, right = (bd->wp - g->pad_left - g->w) * c;
#pragma omp parallel for schedule(static) if (count * row > 65536)
  for (int64_t i = 0; i < count; i++) {
    const int64_t ih = ih0 + i;
    float *di = d + i * row;
    if (ih < 0 || ih >= g->h) {
      memset(di, 0, (size_t)row * sizeof(float));
      continue;
    }
    memset(di, 0, (size_t)(g->pad_left * c) * sizeof(float));
    memcpy(di + g->pad_left * c, x + (b * g->h + ih) * g->w * c,
           (size_t)(g->w * c) * sizeof(float));
    memset(di + (g->pad_left + g->w) * c, 0, (size_t)right * sizeof(float));
  }
}

/* The convolution of output rows [oh0, oh0 + noh) of images [b0, b0 + nb),
 * read from `base` laid out as images of `hp` rows of `wp` pixels whose
 * first row is the top of the first window. */
static void conv_band_gemm(const csm_conv_geom *g, const float *base, int64_t hp, int64_t wp,
                           int64_t nb, int64_t noh, const float *packed, float *y,
                           const csm_epilogue *e) {
  const band_rows br = {base, noh, g->ow, hp * wp * g->c, wp * g->c, g->sh, g->sw, g->c};
  const csm_gemm_rows rows = {band_row, &br, g->kh, g->kw * g->c, wp * g->c};
  csm_gemm_rows_run(nb * noh * g->ow, g->co, &rows, packed, y, g->co, e);
}

static void conv_implicit_run(const csm_conv_geom *g, const float *x, const float *packed,
                              float *band, float *y, const csm_epilogue *e) {
  const conv_bands bd = conv_bands_of(g, g->n);
  const int64_t out_image = g->oh * g->ow * g->co;
  if (!bd.padded) {
    conv_band_gemm(g, x, g->h, g->w, g->n, g->oh, packed, y, e);
    return;
  }
  const int64_t row = bd.wp * g->c;
  if (bd.images > 0) {
    for (int64_t b0 = 0; b0 < g->n; b0 += bd.images) {
      const int64_t nb = g->n - b0 < bd.images ? g->n - b0 : bd.images;
      for (int64_t b = 0; b < nb; b++)
        pad_rows(g, &bd, x, b0 + b, -g->pad_top, bd.hp, band + b * bd.hp * row);
      conv_band_gemm(g, band, bd.hp, bd.wp, nb, g->oh, packed, y + b0 * out_image, e);
    }
    return;
  }
  for (int64_t b = 0; b < g->n; b++)
    for (int64_t oh0 = 0; oh0 < g->oh; oh0 += bd.rows) {
      const int64_t noh = g->oh - oh0 < bd.rows ? g->oh - oh0 : bd.rows;
      const int64_t in_rows = (noh - 1) * g->sh + g->kh;
      pad_rows(g, &bd, x, b, oh0 * g->sh - g->pad_top, in_rows, band);
      conv_band_gemm(g, band, in_rows, bd.wp, 1, noh, packed,
                     y + b * out_image + oh0 * g->ow * g->co, e);
    }
}

/* ---- im2col ------------------------------------------------------------- */

/* Rows of patches gathered per block. rows < 0: the batch is not known yet,
 * size for the largest block. */
static int64_t conv_block_rows(const csm_conv_geom *g, int64_t rows) {
  const int64_t k = g->kh * g->kw * g->c;
  int64_t rb;
  if (k == 0) return 0;
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

/* The filter as the convolution uses it, prepared once per plan when it is
 * constant: Winograd-transformed (conv_winograd.h) or packed for the GEMM. */
static size_t conv_filter_floats(const csm_conv_geom *g) {
  if (csm_winograd_applies(g)) return csm_winograd_filter_floats(g->c, g->co);
  return csm_gemm_packed_floats(g->kh * g->kw * g->c, g->co);
}

static void conv_filter_prepare(const csm_conv_geom *g, const float *filter, float *out) {
  const int64_t k = g->kh * g->kw * g->c;
  if (csm_winograd_applies(g))
    csm_winograd_filter(filter, g->c, g->co, out);
  else if (k > 0 && g->co > 0)
    csm_gemm_pack_b(filter, g->co, 0, k, g->co, out);
}

/* Working memory past the filter's room: Winograd tiles, a padded band, or
 * an im2col block. */
static size_t conv_work_floats(const csm_conv_geom *g) {
  if (csm_winograd_applies(g)) return csm_winograd_scratch_floats(g);
  if (conv_implicit(g)) return (size_t)conv_bands_of(g, g->n).capacity;
  return (size_t)conv_block_rows(g, g->n < 0 ? -1 : g->n * g->oh * g->ow) *
         (size_t)(g->kh * g->kw * g->c);
}

/* The scratch holds room for the filter (used when it is not prepared),
 * then the working memory. */
static size_t conv_scratch(const csm_node *n, const csm_tensor *in, const csm_tensor *out) {
  csm_conv_geom g;
  (void)out;
  if (csm_conv_geom_get(n, in, &g)) return 0;
  return (round16(conv_filter_floats(&g)) + conv_work_floats(&g)) * sizeof(float);
}

/* y = epilogue(conv(x)) with the filter prepared; `work` as conv_work_floats. */
static void conv_run(const csm_conv_geom *g, const csm_epilogue *e, const float *x,
                     const float *filter, float *work, float *y) {
  const int64_t k = g->kh * g->kw * g->c, rows = g->n * g->oh * g->ow;
  if (rows <= 0 || g->co == 0) return;
  if (csm_winograd_applies(g)) {
    csm_winograd_run(g, x, filter, work, y, e);
    return;
  }
  if (k == 0) {
    csm_gemm(rows, g->co, 0, x, 0, filter, y, g->co, e);
    return;
  }
  if (conv_implicit(g)) {
    conv_implicit_run(g, x, filter, work, y, e);
    return;
  }
  const int64_t rb = conv_block_rows(g, rows);
  for (int64_t r0 = 0; r0 < rows; r0 += rb) {
    const int64_t count = rows - r0 < rb ? rows - r0 : rb;
    im2col(g, x, r0, count, work);
    csm_gemm(count, g->co, k, work, k, filter, y + r0 * g->co, g->co, e);
  }
}

/* forward and forward_prepared: `prepared` NULL prepares the filter into
 * the scratch first. */
static csm_status conv_forward_with(const csm_node *n, const csm_tensor *in, csm_tensor *out,
                                    void *scratch, const float *prepared) {
  csm_conv_geom g;
  csm_epilogue e;
  csm_status st = csm_conv_geom_get(n, in, &g);
  if (st) return st;
  csm_epilogue_from_node(n, in, &e);
  float *room = scratch, *work = room + round16(conv_filter_floats(&g));
  if (!prepared) {
    conv_filter_prepare(&g, in[1].data, room);
    prepared = room;
  }
  conv_run(&g, &e, in[0].data, prepared, work, out->data);
  return CSM_OK;
}

static csm_status conv_forward(const csm_node *n, const csm_tensor *in, csm_tensor *out,
                               void *scratch) {
  return conv_forward_with(n, in, out, scratch, NULL);
}

/* A constant filter is prepared once per plan. */
static size_t conv_prepared_size(const csm_node *n, const csm_tensor *in) {
  csm_conv_geom g;
  if (!in[1].data || csm_conv_geom_get(n, in, &g)) return 0;
  return conv_filter_floats(&g) * sizeof(float);
}

static void conv_prepare(const csm_node *n, const csm_tensor *in, void *prepared) {
  csm_conv_geom g;
  if (!csm_conv_geom_get(n, in, &g)) conv_filter_prepare(&g, in[1].data, prepared);
}

static csm_status conv_forward_prepared(const csm_node *n, const csm_tensor *in, csm_tensor *out,
                                        void *scratch, const void *prepared) {
  return conv_forward_with(n, in, out, scratch, prepared);
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
                                  .forward_prepared = conv_forward_prepared,
                                  .backward = csm_backward_conv2d,
                                  .flags = CSM_OP_CONV | CSM_OP_WEIGHTED};

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
