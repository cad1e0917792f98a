/* TensorFlow op names -> IR ops, with their attributes.
 *
 * Attribute names and defaults follow tfjs-converter's op_list tables, and
 * the fused-op rules its convolution and matrices executors enforce. */
#include "tfjs.h"

#include <limits.h>
#include <string.h>

typedef enum parse_kind {
  P_NONE,
  P_CONV,
  P_FUSED_CONV,
  P_MATMUL,
  P_FUSED_MATMUL,
  P_POOL,
  P_LEAKY,
  P_REDUCE,
  P_SQUEEZE,
  P_SLICE,
  P_PACK,
  P_PAD,
  P_RESIZE,
  P_D2S
} parse_kind;

typedef struct tf_op {
  const char *name;
  csm_op_kind kind;
  int min_in, max_in; /* data inputs; fused ops count theirs once fused_ops is known */
  parse_kind parse;
} tf_op;

static const tf_op tf_ops[] = {
    {"Placeholder", CSM_OP_INPUT, 0, 0, P_NONE},
    {"Const", CSM_OP_CONST, 0, 0, P_NONE},
    {"Conv2D", CSM_OP_CONV2D, 2, 2, P_CONV},
    {"_FusedConv2D", CSM_OP_CONV2D, 2, INT_MAX, P_FUSED_CONV},
    {"DepthwiseConv2dNative", CSM_OP_DEPTHWISE_CONV2D, 2, 2, P_CONV},
    {"FusedDepthwiseConv2dNative", CSM_OP_DEPTHWISE_CONV2D, 2, INT_MAX, P_FUSED_CONV},
    {"MatMul", CSM_OP_MATMUL, 2, 2, P_MATMUL},
    {"_FusedMatMul", CSM_OP_MATMUL, 2, INT_MAX, P_FUSED_MATMUL},
    {"MaxPool", CSM_OP_MAXPOOL, 1, 1, P_POOL},
    {"AvgPool", CSM_OP_AVGPOOL, 1, 1, P_POOL},
    {"Add", CSM_OP_ADD, 2, 2, P_NONE},
    {"AddV2", CSM_OP_ADD, 2, 2, P_NONE},
    {"Sub", CSM_OP_SUB, 2, 2, P_NONE},
    {"Mul", CSM_OP_MUL, 2, 2, P_NONE},
    {"RealDiv", CSM_OP_DIV, 2, 2, P_NONE},
    {"Div", CSM_OP_DIV, 2, 2, P_NONE},
    {"Maximum", CSM_OP_MAXIMUM, 2, 2, P_NONE},
    {"Minimum", CSM_OP_MINIMUM, 2, 2, P_NONE},
    {"Prelu", CSM_OP_PRELU, 2, 2, P_NONE},
    {"Relu", CSM_OP_RELU, 1, 1, P_NONE},
    {"Relu6", CSM_OP_RELU6, 1, 1, P_NONE},
    {"LeakyRelu", CSM_OP_LEAKY_RELU, 1, 1, P_LEAKY},
    {"Sigmoid", CSM_OP_SIGMOID, 1, 1, P_NONE},
    {"Tanh", CSM_OP_TANH, 1, 1, P_NONE},
    {"Abs", CSM_OP_ABS, 1, 1, P_NONE},
    {"Square", CSM_OP_SQUARE, 1, 1, P_NONE},
    {"Sqrt", CSM_OP_SQRT, 1, 1, P_NONE},
    {"Rsqrt", CSM_OP_RSQRT, 1, 1, P_NONE},
    {"Exp", CSM_OP_EXP, 1, 1, P_NONE},
    {"Neg", CSM_OP_NEG, 1, 1, P_NONE},
    {"Softmax", CSM_OP_SOFTMAX, 1, 1, P_NONE},
    {"Mean", CSM_OP_REDUCE_MEAN, 2, 2, P_REDUCE},
    {"Sum", CSM_OP_REDUCE_SUM, 2, 2, P_REDUCE},
    {"Max", CSM_OP_REDUCE_MAX, 2, 2, P_REDUCE},
    {"Reshape", CSM_OP_RESHAPE, 2, 2, P_NONE},
    {"Squeeze", CSM_OP_SQUEEZE, 1, 1, P_SQUEEZE},
    {"ExpandDims", CSM_OP_EXPAND_DIMS, 2, 2, P_NONE},
    {"Identity", CSM_OP_IDENTITY, 1, 1, P_NONE},
    {"Shape", CSM_OP_SHAPE, 1, 1, P_NONE},
    {"StridedSlice", CSM_OP_STRIDED_SLICE, 4, 4, P_SLICE},
    {"Pack", CSM_OP_PACK, 1, INT_MAX, P_PACK},
    {"ConcatV2", CSM_OP_CONCAT, 2, INT_MAX, P_NONE},
    {"Pad", CSM_OP_PAD, 2, 2, P_PAD},
    {"PadV2", CSM_OP_PAD, 3, 3, P_NONE},
    {"ResizeBilinear", CSM_OP_RESIZE_BILINEAR, 2, 2, P_RESIZE},
    {"DepthToSpace", CSM_OP_DEPTH_TO_SPACE, 1, 1, P_D2S},
};

/* Windows, strides and pads beyond this are certainly corrupt; the bound
 * keeps the ops' index arithmetic far from overflow. */
enum { MAX_WINDOW = 1 << 16 };

static csm_status nhwc_only(const csm_tfjs_where *w, const cJSON *node) {
  char fmt[32];
  csm_status st = csm_tfjs_attr_string(w, node, "data_format", "NHWC", fmt, sizeof fmt);
  if (st) return st;
  if (!csm_tfjs_streq(fmt, "NHWC"))
    return csm_fail(CSM_EUNSUPPORTED, "%s: node '%s': unsupported data_format '%s' (only NHWC)",
                    w->path, w->node, fmt);
  return CSM_OK;
}

/* A 4-entry NHWC list (strides, dilations, ksize): h and w into out[2].
 * Batch and channel entries must be 1. */
static csm_status nhwc_pair(const csm_tfjs_where *w, const cJSON *node, const char *name,
                            int required, int out[2]) {
  int64_t v[8];
  int n;
  csm_status st = csm_tfjs_attr_ints(w, node, name, v, 8, &n);
  if (st) return st;
  if (n <= 0) {
    if (required)
      return csm_fail(CSM_EINPUT, "%s: node '%s': attr '%s' is missing", w->path, w->node, name);
    out[0] = out[1] = 1;
    return CSM_OK;
  }
  if (n != 4)
    return csm_fail(CSM_EINPUT, "%s: node '%s': attr '%s' has %d entries, expected 4", w->path,
                    w->node, name, n);
  if (v[0] != 1 || v[3] != 1)
    return csm_fail(CSM_EUNSUPPORTED,
                    "%s: node '%s': attr '%s' must be 1 in the batch and "
                    "channel dimensions",
                    w->path, w->node, name);
  for (int i = 1; i <= 2; i++) {
    if (v[i] < 1 || v[i] > MAX_WINDOW)
      return csm_fail(CSM_EINPUT, "%s: node '%s': attr '%s' entry %lld out of range", w->path,
                      w->node, name, (long long)v[i]);
    out[i - 1] = (int)v[i];
  }
  return CSM_OK;
}

static csm_status parse_padding(const csm_tfjs_where *w, const cJSON *node, int allow_explicit,
                                csm_attrs *a) {
  char pad[32];
  csm_status st = csm_tfjs_attr_string(w, node, "padding", NULL, pad, sizeof pad);
  if (st) return st;
  if (csm_tfjs_streq(pad, "SAME")) {
    a->padding = CSM_PAD_SAME;
  } else if (csm_tfjs_streq(pad, "VALID")) {
    a->padding = CSM_PAD_VALID;
  } else if (csm_tfjs_streq(pad, "EXPLICIT") && allow_explicit) {
    int64_t v[8];
    int n;
    a->padding = CSM_PAD_EXPLICIT;
    st = csm_tfjs_attr_ints(w, node, "explicit_paddings", v, 8, &n);
    if (st) return st;
    if (n != 8)
      return csm_fail(CSM_EINPUT,
                      "%s: node '%s': EXPLICIT padding needs 8 explicit_paddings, "
                      "found %d",
                      w->path, w->node, n < 0 ? 0 : n);
    if (v[0] || v[1] || v[6] || v[7])
      return csm_fail(CSM_EUNSUPPORTED,
                      "%s: node '%s': explicit padding of the batch or channel dimension", w->path,
                      w->node);
    for (int i = 2; i < 6; i++) {
      if (v[i] < 0 || v[i] > MAX_WINDOW)
        return csm_fail(CSM_EINPUT, "%s: node '%s': explicit padding %lld out of range", w->path,
                        w->node, (long long)v[i]);
      a->pads[i - 2] = (int)v[i]; /* NHWC pairs: top, bottom, left, right */
    }
  } else {
    return csm_fail(CSM_EUNSUPPORTED, "%s: node '%s': unsupported padding '%s'", w->path, w->node,
                    pad);
  }
  return CSM_OK;
}

static csm_status parse_conv(const csm_tfjs_where *w, const cJSON *node, csm_attrs *a) {
  csm_status st = nhwc_only(w, node);
  if (!st) st = nhwc_pair(w, node, "strides", 1, a->stride);
  if (!st) st = nhwc_pair(w, node, "dilations", 0, a->dilation);
  if (!st) st = parse_padding(w, node, 1, a);
  return st;
}

static csm_status parse_pool(const csm_tfjs_where *w, const cJSON *node, csm_attrs *a) {
  csm_status st = nhwc_only(w, node);
  if (!st) st = nhwc_pair(w, node, "ksize", 1, a->ksize);
  if (!st) st = nhwc_pair(w, node, "strides", 1, a->stride);
  /* TF.js ignores explicit_paddings for pooling, so such a model cannot
   * run there either. */
  if (!st) st = parse_padding(w, node, 0, a);
  return st;
}

/* fused_ops: [], [BiasAdd], [BiasAdd, Relu|Relu6|Prelu|LeakyRelu]. The extra
 * inputs are bias then PReLU alpha, as in the IR. */
static csm_status parse_fused(const csm_tfjs_where *w, const cJSON *node, int n_in, csm_attrs *a) {
  char f[4][32];
  int nf, args = 0, num_args;
  csm_status st = csm_tfjs_attr_strings(w, node, "fused_ops", f, 4, &nf);
  if (st) return st;
  if (nf >= 1) {
    if (!csm_tfjs_streq(f[0], "BiasAdd"))
      return csm_fail(CSM_EUNSUPPORTED, "%s: node '%s': unsupported fused op '%s'", w->path,
                      w->node, f[0]);
    a->has_bias = 1;
    args = 1;
  }
  if (nf >= 2) {
    if (csm_tfjs_streq(f[1], "Relu")) {
      a->act = CSM_ACT_RELU;
    } else if (csm_tfjs_streq(f[1], "Relu6")) {
      a->act = CSM_ACT_RELU6;
    } else if (csm_tfjs_streq(f[1], "Prelu")) {
      a->act = CSM_ACT_PRELU;
      args = 2;
    } else if (csm_tfjs_streq(f[1], "LeakyRelu")) {
      a->act = CSM_ACT_LEAKY_RELU;
      st = csm_tfjs_attr_float(w, node, "leakyrelu_alpha", 0.2f, &a->alpha);
      if (st) return st;
    } else {
      return csm_fail(CSM_EUNSUPPORTED, "%s: node '%s': unsupported fused op '%s'", w->path,
                      w->node, f[1]);
    }
  }
  if (nf > 2)
    return csm_fail(CSM_EUNSUPPORTED, "%s: node '%s': unsupported fused op '%s'", w->path, w->node,
                    f[2]);
  st = csm_tfjs_attr_int(w, node, "num_args", args, 0, 2, &num_args);
  if (st) return st;
  if (num_args != args || n_in != 2 + args)
    return csm_fail(CSM_EINPUT,
                    "%s: node '%s': fused ops need %d extra inputs, found %d "
                    "(num_args %d)",
                    w->path, w->node, args, n_in - 2, num_args);
  return CSM_OK;
}

static csm_status parse_squeeze(const csm_tfjs_where *w, const cJSON *node, csm_attrs *a) {
  int64_t v[CSM_MAX_RANK];
  int n;
  /* TF.js reads 'axis' and falls back to the deprecated 'squeeze_dims'. */
  const char *name = csm_tfjs_attr(node, "axis") ? "axis" : "squeeze_dims";
  csm_status st = csm_tfjs_attr_ints(w, node, name, v, CSM_MAX_RANK, &n);
  if (st) return st;
  a->n_squeeze = n < 0 ? 0 : n;
  for (int i = 0; i < a->n_squeeze; i++) {
    if (v[i] < -CSM_MAX_RANK || v[i] >= CSM_MAX_RANK)
      return csm_fail(CSM_EINPUT, "%s: node '%s': squeeze axis %lld out of range", w->path, w->node,
                      (long long)v[i]);
    a->squeeze_dims[i] = (int)v[i];
  }
  return CSM_OK;
}

static csm_status parse_slice(const csm_tfjs_where *w, const cJSON *node, csm_attrs *a) {
  csm_status st = csm_tfjs_attr_int(w, node, "begin_mask", 0, 0, INT_MAX, &a->begin_mask);
  if (!st) st = csm_tfjs_attr_int(w, node, "end_mask", 0, 0, INT_MAX, &a->end_mask);
  if (!st) st = csm_tfjs_attr_int(w, node, "ellipsis_mask", 0, 0, INT_MAX, &a->ellipsis_mask);
  if (!st) st = csm_tfjs_attr_int(w, node, "new_axis_mask", 0, 0, INT_MAX, &a->new_axis_mask);
  if (!st) st = csm_tfjs_attr_int(w, node, "shrink_axis_mask", 0, 0, INT_MAX, &a->shrink_axis_mask);
  return st;
}

static csm_status parse_attrs(const csm_tfjs_where *w, const cJSON *node, const tf_op *op, int n_in,
                              csm_attrs *a) {
  csm_status st = CSM_OK;
  float value;
  switch (op->parse) {
  case P_NONE: break;
  case P_CONV: st = parse_conv(w, node, a); break;
  case P_FUSED_CONV:
    st = parse_conv(w, node, a);
    if (!st) st = parse_fused(w, node, n_in, a);
    break;
  case P_FUSED_MATMUL:
  case P_MATMUL:
    if (op->parse == P_FUSED_MATMUL) st = parse_fused(w, node, n_in, a);
    if (!st) st = csm_tfjs_attr_bool(w, node, "transpose_a", 0, &a->transpose_a);
    if (!st) st = csm_tfjs_attr_bool(w, node, "transpose_b", 0, &a->transpose_b);
    break;
  case P_POOL: st = parse_pool(w, node, a); break;
  case P_LEAKY: st = csm_tfjs_attr_float(w, node, "alpha", 0.2f, &a->alpha); break;
  case P_REDUCE: st = csm_tfjs_attr_bool(w, node, "keep_dims", 0, &a->keep_dims); break;
  case P_SQUEEZE: st = parse_squeeze(w, node, a); break;
  case P_SLICE: st = parse_slice(w, node, a); break;
  case P_PACK:
    st = csm_tfjs_attr_int(w, node, "axis", 0, -CSM_MAX_RANK, CSM_MAX_RANK, &a->axis);
    break;
  case P_PAD:
    /* A TF.js-only attribute; the IR's fill value is an input instead. */
    st = csm_tfjs_attr_float(w, node, "constant_value", 0.0f, &value);
    if (!st && value != 0.0f)
      st = csm_fail(CSM_EUNSUPPORTED, "%s: node '%s': Pad with a constant_value attribute", w->path,
                    w->node);
    break;
  case P_RESIZE:
    st = csm_tfjs_attr_bool(w, node, "align_corners", 0, &a->align_corners);
    if (!st) st = csm_tfjs_attr_bool(w, node, "half_pixel_centers", 0, &a->half_pixel_centers);
    break;
  case P_D2S:
    st = nhwc_only(w, node);
    if (!st) st = csm_tfjs_attr_int(w, node, "block_size", -1, 2, MAX_WINDOW, &a->block_size);
    break;
  }
  return st;
}

csm_status csm_tfjs_map_op(const csm_tfjs_where *w, const cJSON *node, const char *op, int n_in,
                           csm_op_kind *kind, csm_attrs *a) {
  const tf_op *def = NULL;
  for (size_t i = 0; i < sizeof tf_ops / sizeof tf_ops[0] && !def; i++)
    if (strcmp(tf_ops[i].name, op) == 0) def = &tf_ops[i];
  if (!def)
    return csm_fail(CSM_EUNSUPPORTED, "%s: unsupported op '%s' at node '%s'", w->path, op, w->node);
  if (n_in < def->min_in || n_in > def->max_in) {
    if (def->min_in == def->max_in)
      return csm_fail(CSM_EINPUT, "%s: node '%s' (%s) has %d inputs, expected %d", w->path, w->node,
                      op, n_in, def->min_in);
    if (def->max_in == INT_MAX)
      return csm_fail(CSM_EINPUT, "%s: node '%s' (%s) has %d inputs, expected at least %d", w->path,
                      w->node, op, n_in, def->min_in);
    return csm_fail(CSM_EINPUT, "%s: node '%s' (%s) has %d inputs, expected %d to %d", w->path,
                    w->node, op, n_in, def->min_in, def->max_in);
  }
  *kind = def->kind;
  *a = csm_attrs_default();
  return parse_attrs(w, node, def, n_in, a);
}
