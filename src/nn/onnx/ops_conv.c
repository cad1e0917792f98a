/* Spatial operators: Conv, ConvTranspose, MaxPool, AveragePool, the global
 * pools, BatchNormalization and Resize. They all work on the NHWC form of
 * their input and define NHWC-only outputs; filters are reordered once at
 * load time ([Co,Ci,KH,KW] -> [KH,KW,Ci,Co]). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_internal.h"

/* Windows, strides and pads beyond this are certainly corrupt. */
enum { MAX_WINDOW = 1 << 16 };

static int is_op(const csm_onnx_ctx *c, const char *name) {
  return strcmp(c->node->op_type, name) == 0;
}

/* A 2-entry attribute (h, w) with default def, each in [lo, MAX_WINDOW]. */
static csm_status pair_attr(csm_onnx_ctx *c, const char *name, int def, int lo, int out[2]) {
  int64_t v[8];
  int n;
  csm_status st = csm_onnx_attr_ints(c, name, v, 8, &n);
  if (st) return st;
  if (n < 0) {
    out[0] = out[1] = def;
    return CSM_OK;
  }
  if (n != 2)
    return csm_onnx_fail(c, CSM_EUNSUPPORTED,
                         "attribute '%s' has %d entries; only 2-D is supported", name, n);
  for (int i = 0; i < 2; i++) {
    if (v[i] < lo || v[i] > MAX_WINDOW)
      return csm_onnx_fail(c, CSM_EINPUT, "attribute '%s' entry %lld is out of range", name,
                           (long long)v[i]);
    out[i] = (int)v[i];
  }
  return CSM_OK;
}

/* pads [top, left, bottom, right] and auto_pad into a->padding / a->pads. */
static csm_status padding_attrs(csm_onnx_ctx *c, csm_attrs *a) {
  char mode[32];
  int64_t p[8];
  int n;
  csm_status st = csm_onnx_attr_string(c, "auto_pad", "NOTSET", mode, sizeof mode);
  if (st) return st;
  if (!strcmp(mode, "VALID")) {
    a->padding = CSM_PAD_VALID;
    return CSM_OK;
  }
  if (!strcmp(mode, "SAME_UPPER")) {
    a->padding = CSM_PAD_SAME;
    return CSM_OK;
  }
  if (!strcmp(mode, "SAME_LOWER")) {
    a->padding = CSM_PAD_SAME_LOWER;
    return CSM_OK;
  }
  if (strcmp(mode, "NOTSET"))
    return csm_onnx_fail(c, CSM_EUNSUPPORTED, "auto_pad '%s' is not supported", mode);
  if ((st = csm_onnx_attr_ints(c, "pads", p, 8, &n))) return st;
  a->padding = CSM_PAD_VALID;
  if (n < 0) return CSM_OK;
  if (n != 4)
    return csm_onnx_fail(c, CSM_EUNSUPPORTED, "pads has %d entries; only 2-D (4) is supported", n);
  for (int i = 0; i < 4; i++)
    if (p[i] < 0 || p[i] > MAX_WINDOW)
      return csm_onnx_fail(c, CSM_EUNSUPPORTED, "pads entry %lld is not supported",
                           (long long)p[i]);
  a->pads[0] = (int)p[0]; /* top */
  a->pads[1] = (int)p[2]; /* bottom */
  a->pads[2] = (int)p[1]; /* left */
  a->pads[3] = (int)p[3]; /* right */
  if (p[0] || p[1] || p[2] || p[3]) a->padding = CSM_PAD_EXPLICIT;
  return CSM_OK;
}

/* The constant float filter of rank 4 (input 1). */
static csm_status filter_of(csm_onnx_ctx *c, const csm_tensor **w) {
  csm_onnx_value *v;
  csm_status st = csm_onnx_input(c, 1, 0, &v);
  if (st) return st;
  *w = csm_onnx_const_of(c, v);
  if (!*w || (*w)->dtype != CSM_F32)
    return csm_onnx_fail(c, CSM_EUNSUPPORTED, "the weights ('%s') must be a float constant",
                         v->name);
  if ((*w)->shape.rank != 4)
    return csm_onnx_fail(c, CSM_EUNSUPPORTED, "weights of rank %d: only 2-D convolutions (rank 4)",
                         (*w)->shape.rank);
  for (int d = 0; d < 4; d++)
    if ((*w)->shape.d[d] < 1)
      return csm_onnx_fail(c, CSM_EINPUT, "the weights ('%s') have an empty dimension", v->name);
  return CSM_OK;
}

/* The optional bias (input 2): its node, or -1. Grouped convolutions need
 * its data (*data). */
static csm_status bias_of(csm_onnx_ctx *c, int64_t co, int *node, const float **data) {
  csm_onnx_value *v;
  csm_status st = csm_onnx_input(c, 2, 1, &v);
  *node = -1;
  *data = NULL;
  if (st || !v || csm_onnx_is_empty(c, v)) return st;
  const csm_tensor *t = csm_onnx_const_of(c, v);
  if (t && (t->dtype != CSM_F32 || t->shape.rank != 1 || t->shape.d[0] != co))
    return csm_onnx_fail(c, CSM_EINPUT, "the bias ('%s') must be a float vector of %lld", v->name,
                         (long long)co);
  if (t) *data = t->data;
  return csm_onnx_logical(c, v, node);
}

static csm_status window_attrs(csm_onnx_ctx *c, const csm_tensor *w, csm_attrs *a) {
  int k[2];
  csm_status st;
  if ((st = pair_attr(c, "strides", 1, 1, a->stride)) ||
      (st = pair_attr(c, "dilations", 1, 1, a->dilation)) ||
      (st = pair_attr(c, "kernel_shape", (int)w->shape.d[2], 1, k)))
    return st;
  if (k[0] != w->shape.d[2] || k[1] != w->shape.d[3])
    return csm_onnx_fail(c, CSM_EINPUT, "kernel_shape %dx%d differs from the weights' %lldx%lld",
                         k[0], k[1], (long long)w->shape.d[2], (long long)w->shape.d[3]);
  return padding_attrs(c, a);
}

/* Weights [Co,Cig,KH,KW], output channels [o0, o0+co) -> [KH,KW,Cig,co]. */
static float *conv_filter(const csm_tensor *w, int64_t o0, int64_t co) {
  const int64_t ci = w->shape.d[1], kh = w->shape.d[2], kw = w->shape.d[3];
  float *f = csm_malloc_array((size_t)(kh * kw * ci * co), sizeof *f);
  const float *src = w->data;
  if (!f) return NULL;
  for (int64_t o = 0; o < co; o++)
    for (int64_t i = 0; i < ci; i++)
      for (int64_t y = 0; y < kh; y++)
        for (int64_t x = 0; x < kw; x++)
          f[((y * kw + x) * ci + i) * co + o] = src[(((o0 + o) * ci + i) * kh + y) * kw + x];
  return f;
}

static csm_status add_filter(csm_onnx_ctx *c, const char *suffix, const int64_t dims[4], float *f,
                             int *node) {
  if (!f) return CSM_ENOMEM;
  csm_shape s = csm_shape_make(4, dims);
  csm_status st = csm_onnx_aux_f32(c, suffix, &s, f, node);
  free(f);
  return st;
}

/* One group of a grouped convolution: channels [g*cig, (g+1)*cig) of x. */
static csm_status conv_group(csm_onnx_ctx *c, int x, const csm_tensor *w, const float *bias,
                             int64_t g, int64_t cog, const csm_attrs *a, int *out) {
  const int64_t cig = w->shape.d[1];
  int32_t b[4] = {0, 0, 0, (int32_t)(g * cig)}, e[4] = {0, 0, 0, (int32_t)((g + 1) * cig)};
  int32_t one[4] = {1, 1, 1, 1};
  int sl[4], in[3];
  char sfx[48];
  csm_attrs sa = csm_attrs_default();
  csm_status st;
  sl[0] = x;
  snprintf(sfx, sizeof sfx, "group%lld_begin", (long long)g);
  if ((st = csm_onnx_aux_i32(c, sfx, 1, b, 4, &sl[1]))) return st;
  snprintf(sfx, sizeof sfx, "group%lld_end", (long long)g);
  if ((st = csm_onnx_aux_i32(c, sfx, 1, e, 4, &sl[2]))) return st;
  snprintf(sfx, sizeof sfx, "group%lld_strides", (long long)g);
  if ((st = csm_onnx_aux_i32(c, sfx, 1, one, 4, &sl[3]))) return st;
  sa.begin_mask = sa.end_mask = 7; /* N, H, W whole */
  snprintf(sfx, sizeof sfx, "group%lld_input", (long long)g);
  if ((st = csm_onnx_add_aux(c, sfx, CSM_OP_STRIDED_SLICE, 4, sl, &sa, &in[0]))) return st;
  const int64_t dims[4] = {w->shape.d[2], w->shape.d[3], cig, cog};
  snprintf(sfx, sizeof sfx, "group%lld_filter", (long long)g);
  if ((st = add_filter(c, sfx, dims, conv_filter(w, g * cog, cog), &in[1]))) return st;
  csm_attrs ga = *a;
  if (bias) {
    csm_shape s = {.rank = 1, .d = {cog}};
    snprintf(sfx, sizeof sfx, "group%lld_bias", (long long)g);
    if ((st = csm_onnx_aux_f32(c, sfx, &s, bias + g * cog, &in[2]))) return st;
    ga.has_bias = 1;
  }
  snprintf(sfx, sizeof sfx, "group%lld", (long long)g);
  return csm_onnx_add_aux(c, sfx, CSM_OP_CONV2D, bias ? 3 : 2, in, &ga, out);
}

csm_status csm_onnx_map_conv(csm_onnx_ctx *c) {
  csm_onnx_value *xv;
  const csm_tensor *w;
  const float *bias_data;
  int64_t group;
  int x, bias, y;
  csm_attrs a = csm_attrs_default();
  csm_status st;
  if ((st = csm_onnx_input(c, 0, 0, &xv)) || (st = filter_of(c, &w)) ||
      (st = csm_onnx_attr_int(c, "group", 1, 1, MAX_WINDOW, &group)) ||
      (st = window_attrs(c, w, &a)))
    return st;
  if (xv->rank >= 0 && xv->rank != 4)
    return csm_onnx_fail(c, CSM_EUNSUPPORTED, "input of rank %d: only 2-D convolutions (rank 4)",
                         xv->rank);
  const int64_t co = w->shape.d[0], cig = w->shape.d[1], kh = w->shape.d[2], kw = w->shape.d[3];
  if (co % group)
    return csm_onnx_fail(c, CSM_EINPUT, "%lld output channels do not split into %lld groups",
                         (long long)co, (long long)group);
  if ((st = bias_of(c, co, &bias, &bias_data)) || (st = csm_onnx_nhwc(c, xv, &x))) return st;
  const char *out = csm_onnx_output(c, 0);
  int in[3] = {x, -1, bias};
  a.has_bias = bias >= 0;
  if (group == 1) {
    const int64_t dims[4] = {kh, kw, cig, co};
    if ((st = add_filter(c, "filter", dims, conv_filter(w, 0, co), &in[1])) ||
        (st = csm_onnx_add(c, out, CSM_OP_CONV2D, a.has_bias ? 3 : 2, in, &a, &y)))
      return st;
  } else if (cig == 1) { /* depthwise: output channel c*M + m reads input channel c */
    const int64_t m = co / group, dims[4] = {kh, kw, group, m};
    float *f = csm_malloc_array((size_t)(kh * kw * co), sizeof *f);
    if (f) {
      const float *src = w->data;
      for (int64_t o = 0; o < co; o++)
        for (int64_t i = 0; i < kh * kw; i++)
          f[i * co + o] = src[o * kh * kw + i];
    }
    if ((st = add_filter(c, "filter", dims, f, &in[1])) ||
        (st = csm_onnx_add(c, out, CSM_OP_DEPTHWISE_CONV2D, a.has_bias ? 3 : 2, in, &a, &y)))
      return st;
  } else {
    if (bias >= 0 && !bias_data)
      return csm_onnx_fail(c, CSM_EUNSUPPORTED, "a grouped convolution needs a constant bias");
    if (group > 4096)
      return csm_onnx_fail(c, CSM_EUNSUPPORTED, "%lld groups are not supported", (long long)group);
    int *parts = csm_malloc_array((size_t)group + 1, sizeof *parts);
    if (!parts) return CSM_ENOMEM;
    for (int64_t g = 0; g < group && !st; g++)
      st = conv_group(c, x, w, bias_data, g, co / group, &a, &parts[g]);
    int32_t axis = 3;
    if (!st) st = csm_onnx_aux_i32(c, "concat_axis", 0, &axis, 1, &parts[group]);
    if (!st) st = csm_onnx_add(c, out, CSM_OP_CONCAT, (int)group + 1, parts, NULL, &y);
    free(parts);
    if (st) return st;
  }
  return csm_onnx_def(c, 0, -1, y, 4);
}

/* ConvTranspose (group 1): weights [Ci,Co,KH,KW] -> [Ci,KH,KW,Co]. */
csm_status csm_onnx_map_conv_transpose(csm_onnx_ctx *c) {
  csm_onnx_value *xv;
  const csm_tensor *w;
  const float *bias_data;
  int64_t group, v[8];
  int n, x, bias, y;
  char mode[32];
  csm_attrs a = csm_attrs_default();
  csm_status st;
  if ((st = csm_onnx_input(c, 0, 0, &xv)) || (st = filter_of(c, &w)) ||
      (st = csm_onnx_attr_int(c, "group", 1, 1, MAX_WINDOW, &group)) ||
      (st = csm_onnx_attr_string(c, "auto_pad", "NOTSET", mode, sizeof mode)) ||
      (st = csm_onnx_attr_ints(c, "output_shape", v, 8, &n)))
    return st;
  if (group != 1)
    return csm_onnx_fail(c, CSM_EUNSUPPORTED, "group %lld is not supported (only 1)",
                         (long long)group);
  if (n >= 0)
    return csm_onnx_fail(c, CSM_EUNSUPPORTED,
                         "the output_shape attribute is not supported (give pads instead)");
  if (strcmp(mode, "NOTSET") && strcmp(mode, "VALID"))
    return csm_onnx_fail(c, CSM_EUNSUPPORTED, "auto_pad '%s' is not supported", mode);
  if ((st = window_attrs(c, w, &a)) ||
      (st = pair_attr(c, "output_padding", 0, 0, a.output_padding)))
    return st;
  /* The IR crops explicit pads from the full output. */
  if (a.padding == CSM_PAD_VALID) memset(a.pads, 0, sizeof a.pads);
  a.padding = CSM_PAD_EXPLICIT;
  const int64_t ci = w->shape.d[0], co = w->shape.d[1], kh = w->shape.d[2], kw = w->shape.d[3];
  if ((st = bias_of(c, co, &bias, &bias_data)) || (st = csm_onnx_nhwc(c, xv, &x))) return st;
  float *f = csm_malloc_array((size_t)(ci * kh * kw * co), sizeof *f);
  if (f) {
    const float *src = w->data;
    for (int64_t i = 0; i < ci; i++)
      for (int64_t o = 0; o < co; o++)
        for (int64_t k = 0; k < kh * kw; k++)
          f[(i * kh * kw + k) * co + o] = src[(i * co + o) * kh * kw + k];
  }
  const int64_t dims[4] = {ci, kh, kw, co};
  int in[3] = {x, -1, bias};
  a.has_bias = bias >= 0;
  if ((st = add_filter(c, "filter", dims, f, &in[1])) ||
      (st = csm_onnx_add(c, csm_onnx_output(c, 0), CSM_OP_CONV2D_TRANSPOSE, a.has_bias ? 3 : 2, in,
                         &a, &y)))
    return st;
  return csm_onnx_def(c, 0, -1, y, 4);
}

/* MaxPool and AveragePool. */
csm_status csm_onnx_map_pool(csm_onnx_ctx *c) {
  const int avg = is_op(c, "AveragePool");
  csm_onnx_value *xv;
  int64_t ceil_mode, cip, order;
  int dil[2], x, y;
  csm_attrs a = csm_attrs_default();
  csm_status st;
  if ((st = csm_onnx_input(c, 0, 0, &xv)) || (st = csm_onnx_unused_outputs(c, 1))) return st;
  if (!csm_onnx_attr(c, "kernel_shape"))
    return csm_onnx_fail(c, CSM_EINPUT, "required attribute 'kernel_shape' is missing");
  if ((st = pair_attr(c, "kernel_shape", 1, 1, a.ksize)) ||
      (st = pair_attr(c, "strides", 1, 1, a.stride)) ||
      (st = pair_attr(c, "dilations", 1, 1, dil)) || (st = padding_attrs(c, &a)) ||
      (st = csm_onnx_attr_int(c, "ceil_mode", 0, 0, 1, &ceil_mode)) ||
      (st = csm_onnx_attr_int(c, "count_include_pad", 0, 0, 1, &cip)) ||
      (st = csm_onnx_attr_int(c, "storage_order", 0, 0, 1, &order)))
    return st;
  if (dil[0] != 1 || dil[1] != 1)
    return csm_onnx_fail(c, CSM_EUNSUPPORTED, "dilations %dx%d are not supported (only 1)", dil[0],
                         dil[1]);
  if (xv->rank >= 0 && xv->rank != 4)
    return csm_onnx_fail(c, CSM_EUNSUPPORTED, "input of rank %d: only 2-D pooling (rank 4)",
                         xv->rank);
  a.ceil_mode = (int)ceil_mode;
  a.count_include_pad = avg ? (int)cip : 0;
  if ((st = csm_onnx_nhwc(c, xv, &x)) ||
      (st = csm_onnx_add(c, csm_onnx_output(c, 0), avg ? CSM_OP_AVGPOOL : CSM_OP_MAXPOOL, 1, &x, &a,
                         &y)))
    return st;
  return csm_onnx_def(c, 0, -1, y, 4);
}

/* GlobalAveragePool / GlobalMaxPool: a reduction over NHWC axes 1 and 2. */
csm_status csm_onnx_map_global_pool(csm_onnx_ctx *c) {
  csm_onnx_value *xv;
  const int32_t axes[2] = {1, 2};
  int in[2], y;
  csm_attrs a = csm_attrs_default();
  csm_status st;
  if ((st = csm_onnx_input(c, 0, 0, &xv))) return st;
  if (xv->rank >= 0 && xv->rank != 4)
    return csm_onnx_fail(c, CSM_EUNSUPPORTED, "input of rank %d: only 2-D pooling (rank 4)",
                         xv->rank);
  a.keep_dims = 1;
  if ((st = csm_onnx_nhwc(c, xv, &in[0])) || (st = csm_onnx_aux_i32(c, "axes", 1, axes, 2, &in[1])))
    return st;
  const csm_op_kind op = is_op(c, "GlobalMaxPool") ? CSM_OP_REDUCE_MAX : CSM_OP_REDUCE_MEAN;
  if ((st = csm_onnx_add(c, csm_onnx_output(c, 0), op, 2, in, &a, &y))) return st;
  return csm_onnx_def(c, 0, -1, y, 4);
}

/* ---- BatchNormalization ---------------------------------------------------- */

/* The per-channel constant input k (scale, B, mean, var) with C entries. */
static csm_status bn_param(csm_onnx_ctx *c, int k, int64_t *ch, const float **out) {
  static const char *what[5] = {"", "scale", "B", "mean", "var"};
  csm_onnx_value *v;
  csm_status st = csm_onnx_input(c, k, 0, &v);
  if (st) return st;
  const csm_tensor *t = csm_onnx_const_of(c, v);
  if (!t || t->dtype != CSM_F32 || t->shape.rank != 1)
    return csm_onnx_fail(c, CSM_EUNSUPPORTED, "%s ('%s') must be a constant float vector", what[k],
                         v->name);
  if (*ch >= 0 && t->shape.d[0] != *ch)
    return csm_onnx_fail(c, CSM_EINPUT, "%s ('%s') has %lld entries, expected %lld", what[k],
                         v->name, (long long)t->shape.d[0], (long long)*ch);
  *ch = t->shape.d[0];
  *out = t->data;
  return CSM_OK;
}

/* Folds y = x*s + t into the node producing x when x has no other reader
 * and that node is a CONV2D / DEPTHWISE_CONV2D / MATMUL (rank 2) with
 * constant weights: a new node with scaled copies of the weights (the
 * constants may be shared) and a bias. *y = -1 when it does not apply. */
static csm_status bn_fold(csm_onnx_ctx *c, const csm_onnx_value *xv, const float *s, const float *t,
                          int64_t ch, int *y) {
  *y = -1;
  const int rank4 = xv->rank == 4;
  if (xv->uses != 1 || !(rank4 || xv->rank == 2)) return CSM_OK;
  const int p = rank4 ? xv->nhwc : xv->logical;
  if (p < 0 || (rank4 ? xv->logical : xv->nhwc) >= 0) return CSM_OK;
  const csm_node *n = &c->g->nodes[p];
  if (n->op != (rank4 ? CSM_OP_CONV2D : CSM_OP_MATMUL) &&
      !(rank4 && n->op == CSM_OP_DEPTHWISE_CONV2D))
    return CSM_OK;
  if (n->a.act != CSM_ACT_NONE || n->n_in != (n->a.has_bias ? 3 : 2)) return CSM_OK;
  const csm_node *fn = &c->g->nodes[n->in[1]];
  const csm_node *bn = n->a.has_bias ? &c->g->nodes[n->in[2]] : NULL;
  if (fn->op != CSM_OP_CONST || fn->value.dtype != CSM_F32 || fn->value.shape.rank < 2 ||
      (bn && (bn->op != CSM_OP_CONST || bn->value.dtype != CSM_F32 ||
              (int64_t)csm_tensor_numel(&bn->value) != ch)))
    return CSM_OK;
  const csm_shape *fs = &fn->value.shape;
  const int tb = n->op == CSM_OP_MATMUL && n->a.transpose_b;
  const int64_t channels = n->op == CSM_OP_DEPTHWISE_CONV2D ? fs->d[2] * fs->d[3]
                           : tb                             ? fs->d[0]
                                                            : fs->d[fs->rank - 1];
  if (channels != ch) return CSM_OK;
  const size_t numel = csm_tensor_numel(&fn->value);
  const int64_t inner = tb ? (int64_t)numel / ch : 1;
  float *f = csm_malloc_array(numel ? numel : 1, sizeof *f);
  float *b = csm_malloc_array((size_t)ch, sizeof *b);
  csm_status st = CSM_ENOMEM;
  if (f && b) {
    const float *src = fn->value.data;
    for (size_t i = 0; i < numel; i++)
      f[i] = src[i] * s[tb ? (int64_t)i / inner : (int64_t)i % ch];
    for (int64_t o = 0; o < ch; o++)
      b[o] = (bn ? ((const float *)bn->value.data)[o] : 0.0f) * s[o] + t[o];
    /* Copy what is needed: adding nodes may move c->g->nodes. */
    const csm_op_kind op = n->op;
    const csm_shape shape = *fs;
    csm_attrs a = n->a;
    int in[3] = {n->in[0], -1, -1};
    csm_shape bs = {.rank = 1, .d = {ch}};
    a.has_bias = 1;
    if (!(st = csm_onnx_aux_f32(c, "folded_weights", &shape, f, &in[1])) &&
        !(st = csm_onnx_aux_f32(c, "folded_bias", &bs, b, &in[2])))
      st = csm_onnx_add(c, csm_onnx_output(c, 0), op, 3, in, &a, y);
  }
  free(f);
  free(b);
  return st;
}

csm_status csm_onnx_map_batch_norm(csm_onnx_ctx *c) {
  csm_onnx_value *xv;
  const float *scale = NULL, *bias = NULL, *mean = NULL, *var = NULL;
  int64_t ch = -1, training;
  float eps;
  int x, y;
  csm_status st;
  if ((st = csm_onnx_input(c, 0, 0, &xv)) || (st = bn_param(c, 1, &ch, &scale)) ||
      (st = bn_param(c, 2, &ch, &bias)) || (st = bn_param(c, 3, &ch, &mean)) ||
      (st = bn_param(c, 4, &ch, &var)) || (st = csm_onnx_attr_float(c, "epsilon", 1e-5f, &eps)) ||
      (st = csm_onnx_attr_int(c, "training_mode", 0, 0, 1, &training)) ||
      (st = csm_onnx_unused_outputs(c, 1)))
    return st;
  if (training)
    return csm_onnx_fail(c, CSM_EUNSUPPORTED, "training_mode 1 is not supported (inference only)");
  if (xv->rank < 2)
    return csm_onnx_fail(c, CSM_EUNSUPPORTED, "the input's rank (%d) must be known and >= 2",
                         xv->rank);
  float *s = csm_malloc_array((size_t)ch, sizeof *s), *t = csm_malloc_array((size_t)ch, sizeof *t);
  if (!s || !t) {
    free(s);
    free(t);
    return CSM_ENOMEM;
  }
  for (int64_t i = 0; i < ch; i++) {
    const double k = (double)scale[i] / sqrt((double)var[i] + (double)eps);
    s[i] = (float)k;
    t[i] = (float)((double)bias[i] - (double)mean[i] * k);
  }
  st = bn_fold(c, xv, s, t, ch, &y);
  const int nhwc = xv->rank == 4;
  if (!st && y < 0) {
    /* x * s + t with [C] constants (NHWC) or [C,1,...] (ONNX's layout). */
    csm_shape cs = {.rank = nhwc ? 1 : xv->rank - 1};
    int ks, kt, pair[2];
    for (int d = 0; d < cs.rank; d++)
      cs.d[d] = d ? 1 : ch;
    if (!(st = nhwc ? csm_onnx_nhwc(c, xv, &x) : csm_onnx_logical(c, xv, &x)) &&
        !(st = csm_onnx_aux_f32(c, "scale", &cs, s, &ks)) &&
        !(st = csm_onnx_aux_f32(c, "shift", &cs, t, &kt))) {
      pair[0] = x;
      pair[1] = ks;
      if (!(st = csm_onnx_add_aux(c, "scaled", CSM_OP_MUL, 2, pair, NULL, &y))) {
        pair[0] = y;
        pair[1] = kt;
        st = csm_onnx_add(c, csm_onnx_output(c, 0), CSM_OP_ADD, 2, pair, NULL, &y);
      }
    }
  }
  free(s);
  free(t);
  if (st) return st;
  return csm_onnx_def(c, 0, nhwc ? -1 : y, nhwc ? y : -1, xv->rank);
}

/* ---- Resize ---------------------------------------------------------------- */

/* Resize (opset 11/13): X, roi, scales, sizes. Nearest or (bi)linear over H
 * and W only; constant scales give the one-operand form with attrs.scale,
 * sizes (constant or computed) give the [H,W] size operand. */
csm_status csm_onnx_map_resize(csm_onnx_ctx *c) {
  csm_onnx_value *xv, *scales, *sizes;
  char mode[32], ctm[32], nm[32];
  int64_t exclude;
  int in[2], n_in = 1, y;
  csm_attrs a = csm_attrs_default();
  csm_status st;
  if ((st = csm_onnx_input(c, 0, 0, &xv)) || (st = csm_onnx_input(c, 2, 1, &scales)) ||
      (st = csm_onnx_input(c, 3, 1, &sizes)) ||
      (st = csm_onnx_attr_string(c, "mode", "nearest", mode, sizeof mode)) ||
      (st = csm_onnx_attr_string(c, "coordinate_transformation_mode", "half_pixel", ctm,
                                 sizeof ctm)) ||
      (st = csm_onnx_attr_string(c, "nearest_mode", "round_prefer_floor", nm, sizeof nm)) ||
      (st = csm_onnx_attr_int(c, "exclude_outside", 0, 0, 0, &exclude)))
    return st;
  if (xv->rank >= 0 && xv->rank != 4)
    return csm_onnx_fail(c, CSM_EUNSUPPORTED, "input of rank %d: only 4-D (NCHW) resizing",
                         xv->rank);
  csm_op_kind op;
  if (!strcmp(mode, "nearest"))
    op = CSM_OP_RESIZE_NEAREST;
  else if (!strcmp(mode, "linear"))
    op = CSM_OP_RESIZE_BILINEAR;
  else
    return csm_onnx_fail(c, CSM_EUNSUPPORTED, "mode '%s' is not supported (nearest, linear)", mode);
  /* pytorch_half_pixel differs from half_pixel only for an output size of 1. */
  if (!strcmp(ctm, "half_pixel") || !strcmp(ctm, "pytorch_half_pixel"))
    a.half_pixel_centers = 1;
  else if (!strcmp(ctm, "align_corners"))
    a.align_corners = 1;
  else if (strcmp(ctm, "asymmetric"))
    return csm_onnx_fail(c, CSM_EUNSUPPORTED,
                         "coordinate_transformation_mode '%s' is not supported", ctm);
  if (op == CSM_OP_RESIZE_NEAREST) {
    static const char *modes[4] = {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"};
    static const csm_nearest_mode ids[4] = {CSM_NEAREST_ROUND_PREFER_FLOOR,
                                            CSM_NEAREST_ROUND_PREFER_CEIL, CSM_NEAREST_FLOOR,
                                            CSM_NEAREST_CEIL};
    int k = 0;
    while (k < 4 && strcmp(nm, modes[k]))
      k++;
    if (k == 4) return csm_onnx_fail(c, CSM_EUNSUPPORTED, "nearest_mode '%s' is not supported", nm);
    a.nearest_mode = ids[k];
  }
  if ((st = csm_onnx_nhwc(c, xv, &in[0]))) return st;
  if (sizes && !csm_onnx_is_empty(c, sizes)) {
    const csm_tensor *t = csm_onnx_const_of(c, sizes);
    if (t) {
      int64_t v[4];
      int n;
      if ((st = csm_onnx_const_ints(c, sizes, "sizes", v, 4, &n))) return st;
      if (n != 4)
        return csm_onnx_fail(c, CSM_EUNSUPPORTED, "sizes has %d entries, expected 4 (N,C,H,W)", n);
      int32_t hw[2] = {(int32_t)v[2], (int32_t)v[3]};
      if ((st = csm_onnx_aux_i32(c, "size", 1, hw, 2, &in[1]))) return st;
    } else { /* computed (from Shape): its H and W entries, folded at plan time */
      int32_t b = 2, e = 4, one = 1;
      int sl[4];
      csm_attrs sa = csm_attrs_default();
      if ((st = csm_onnx_logical(c, sizes, &sl[0])) ||
          (st = csm_onnx_aux_i32(c, "size_begin", 1, &b, 1, &sl[1])) ||
          (st = csm_onnx_aux_i32(c, "size_end", 1, &e, 1, &sl[2])) ||
          (st = csm_onnx_aux_i32(c, "size_strides", 1, &one, 1, &sl[3])) ||
          (st = csm_onnx_add_aux(c, "size", CSM_OP_STRIDED_SLICE, 4, sl, &sa, &in[1])))
        return st;
    }
    n_in = 2;
  } else if (scales && !csm_onnx_is_empty(c, scales)) {
    const csm_tensor *t = csm_onnx_const_of(c, scales);
    if (!t || t->dtype != CSM_F32 || csm_tensor_numel(t) != 4)
      return csm_onnx_fail(c, CSM_EUNSUPPORTED,
                           "scales ('%s') must be a constant of 4 floats (N,C,H,W)", scales->name);
    const float *s = t->data;
    if (s[0] != 1.0f || s[1] != 1.0f)
      return csm_onnx_fail(c, CSM_EUNSUPPORTED,
                           "only H and W can be resized (scales for N and C are %g, %g)",
                           (double)s[0], (double)s[1]);
    if (!(s[2] > 0.0f) || !(s[3] > 0.0f))
      return csm_onnx_fail(c, CSM_EINPUT, "scales must be positive");
    a.scale[0] = s[2];
    a.scale[1] = s[3];
  } else {
    return csm_onnx_fail(c, CSM_EINPUT, "neither scales nor sizes is given");
  }
  if ((st = csm_onnx_add(c, csm_onnx_output(c, 0), op, n_in, in, &a, &y))) return st;
  return csm_onnx_def(c, 0, -1, y, 4);
}
