/* Element-wise and matrix operators: Add, Sub, Mul, Div, Max, Min, PRelu,
 * Pow, the activations, Clip, Softmax, LogSoftmax, Gemm, MatMul and the
 * reductions.
 *
 * Element-wise ops run in the layout their operands already have: NHWC when
 * every operand is available as NHWC (rank 4) or is a constant of rank <= 4,
 * which is then transposed once at load time; otherwise in ONNX's layout. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_internal.h"

static int is_op(const csm_onnx_ctx *c, const char *name) {
  return strcmp(c->node->op_type, name) == 0;
}

/* 1 if operands v[0..n-1] can run NHWC (see the top of the file). */
static int binary_nhwc(csm_onnx_ctx *c, csm_onnx_value **v, int n) {
  int any = 0;
  for (int i = 0; i < n; i++) {
    const csm_tensor *t = csm_onnx_const_of(c, v[i]);
    if (csm_onnx_has_nhwc(v[i]) && v[i]->rank == 4)
      any = 1;
    else if (!t || t->shape.rank > 4)
      return 0;
  }
  return any;
}

/* Operand v in the chosen layout. */
static csm_status operand(csm_onnx_ctx *c, csm_onnx_value *v, int nhwc, const char *suffix,
                          int *node) {
  if (!nhwc) return csm_onnx_logical(c, v, node);
  if (csm_onnx_has_nhwc(v)) return csm_onnx_nhwc(c, v, node);
  const csm_tensor *t = csm_onnx_const_of(c, v);
  if (t && csm_tensor_numel(t) == 1 && t->shape.rank <= 1) return csm_onnx_logical(c, v, node);
  return csm_onnx_const_to_nhwc(c, t, suffix, node);
}

static int max_rank(csm_onnx_value **v, int n) {
  int r = 0;
  for (int i = 0; i < n; i++) {
    if (v[i]->rank < 0) return -1;
    if (v[i]->rank > r) r = v[i]->rank;
  }
  return r;
}

csm_status csm_onnx_map_binary(csm_onnx_ctx *c) {
  static const struct {
    const char *name;
    csm_op_kind op;
  } ops[] = {{"Add", CSM_OP_ADD},    {"Sub", CSM_OP_SUB},     {"Mul", CSM_OP_MUL},
             {"Div", CSM_OP_DIV},    {"Max", CSM_OP_MAXIMUM}, {"Min", CSM_OP_MINIMUM},
             {"PRelu", CSM_OP_PRELU}};
  csm_op_kind op = CSM_OP_ADD;
  int variadic = is_op(c, "Max") || is_op(c, "Min") || is_op(c, "Sum");
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
    if (is_op(c, ops[i].name)) op = ops[i].op;
  const int n = (int)c->node->n_input;
  if (n < 1 || n > 16 || (!variadic && n != 2))
    return csm_onnx_fail(c, CSM_EUNSUPPORTED, "%d inputs are not supported", n);
  csm_onnx_value *v[16];
  int in[16] = {0};
  csm_status st;
  for (int i = 0; i < n; i++)
    if ((st = csm_onnx_input(c, i, 0, &v[i]))) return st;
  const int nhwc = binary_nhwc(c, v, n);
  for (int i = 0; i < n; i++) {
    char suffix[16];
    snprintf(suffix, sizeof suffix, "nhwc%d", i);
    if ((st = operand(c, v[i], nhwc, suffix, &in[i]))) return st;
  }
  int acc = in[0];
  if (n == 1) {
    if ((st = csm_onnx_add(c, csm_onnx_output(c, 0), CSM_OP_IDENTITY, 1, in, NULL, &acc)))
      return st;
  }
  for (int i = 1; i < n; i++) {
    int pair[2] = {acc, in[i]};
    char suffix[16];
    snprintf(suffix, sizeof suffix, "step%d", i);
    st = i == n - 1 ? csm_onnx_add(c, csm_onnx_output(c, 0), op, 2, pair, NULL, &acc)
                    : csm_onnx_add_aux(c, suffix, op, 2, pair, NULL, &acc);
    if (st) return st;
  }
  return csm_onnx_def(c, 0, nhwc ? -1 : acc, nhwc ? acc : -1, nhwc ? 4 : max_rank(v, n));
}

/* The single value of a constant operand, or an error naming `what`. */
static csm_status const_scalar(csm_onnx_ctx *c, const csm_onnx_value *v, const char *what,
                               float *out) {
  const csm_tensor *t = csm_onnx_const_of(c, v);
  if (!t || csm_tensor_numel(t) != 1)
    return csm_onnx_fail(c, CSM_EUNSUPPORTED, "%s ('%s') must be a constant scalar", what,
                         v ? v->name : "?");
  *out = t->dtype == CSM_F32 ? ((const float *)t->data)[0] : (float)((const int32_t *)t->data)[0];
  return CSM_OK;
}

static csm_status map_pow(csm_onnx_ctx *c) {
  csm_onnx_value *e;
  float p = 0.0f;
  csm_status st = csm_onnx_input(c, 1, 0, &e);
  if (st || (st = const_scalar(c, e, "the exponent", &p))) return st;
  if (p == 2.0f) return csm_onnx_map_elementwise1(c, CSM_OP_SQUARE, NULL);
  if (p == 0.5f) return csm_onnx_map_elementwise1(c, CSM_OP_SQRT, NULL);
  if (p == 1.0f) return csm_onnx_map_elementwise1(c, CSM_OP_IDENTITY, NULL);
  if (p == -1.0f) return csm_onnx_map_elementwise1(c, CSM_OP_RECIPROCAL, NULL);
  if (p == -0.5f) return csm_onnx_map_elementwise1(c, CSM_OP_RSQRT, NULL);
  if (p == 3.0f) { /* x * x^2, in the layout x has */
    csm_onnx_value *x;
    int in[2], y;
    if ((st = csm_onnx_input(c, 0, 0, &x))) return st;
    const int nhwc = csm_onnx_has_nhwc(x);
    if ((st = nhwc ? csm_onnx_nhwc(c, x, &in[0]) : csm_onnx_logical(c, x, &in[0])) ||
        (st = csm_onnx_add_aux(c, "square", CSM_OP_SQUARE, 1, in, NULL, &in[1])) ||
        (st = csm_onnx_add(c, csm_onnx_output(c, 0), CSM_OP_MUL, 2, in, NULL, &y)))
      return st;
    return csm_onnx_def(c, 0, nhwc ? -1 : y, nhwc ? y : -1, x->rank);
  }
  return csm_onnx_fail(c, CSM_EUNSUPPORTED,
                       "exponent %g is not supported (only 2, 3, 0.5, 1, -1 and -0.5)", (double)p);
}

csm_status csm_onnx_map_unary(csm_onnx_ctx *c) {
  static const struct {
    const char *name;
    csm_op_kind op;
  } ops[] = {{"Relu", CSM_OP_RELU},
             {"Sigmoid", CSM_OP_SIGMOID},
             {"Tanh", CSM_OP_TANH},
             {"Exp", CSM_OP_EXP},
             {"Sqrt", CSM_OP_SQRT},
             {"Abs", CSM_OP_ABS},
             {"Neg", CSM_OP_NEG},
             {"Reciprocal", CSM_OP_RECIPROCAL},
             {"HardSwish", CSM_OP_HARD_SWISH}};
  csm_attrs a = csm_attrs_default();
  csm_status st;
  if (is_op(c, "Pow")) return map_pow(c);
  if (is_op(c, "LeakyRelu")) {
    if ((st = csm_onnx_attr_float(c, "alpha", 0.01f, &a.alpha))) return st;
    return csm_onnx_map_elementwise1(c, CSM_OP_LEAKY_RELU, &a);
  }
  if (is_op(c, "HardSigmoid")) {
    if ((st = csm_onnx_attr_float(c, "alpha", 0.2f, &a.alpha)) ||
        (st = csm_onnx_attr_float(c, "beta", 0.5f, &a.beta)))
      return st;
    return csm_onnx_map_elementwise1(c, CSM_OP_HARD_SIGMOID, &a);
  }
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
    if (is_op(c, ops[i].name)) return csm_onnx_map_elementwise1(c, ops[i].op, NULL);
  return csm_onnx_fail(c, CSM_EINTERNAL, "no element-wise mapping");
}

/* Clip: bounds are inputs from opset 11 (either may be absent), attributes
 * before. Constant (0, 6) is Relu6 and (0, none) is Relu. */
csm_status csm_onnx_map_clip(csm_onnx_ctx *c) {
  csm_onnx_value *x, *bv[2] = {NULL, NULL};
  float b[2] = {-INFINITY, INFINITY};
  int has[2] = {0, 0}, bconst[2] = {1, 1};
  csm_status st = csm_onnx_input(c, 0, 0, &x);
  if (st) return st;
  if (c->opset < 11) {
    const char *names[2] = {"min", "max"};
    for (int k = 0; k < 2; k++) {
      has[k] = csm_onnx_attr(c, names[k]) != NULL;
      if ((st = csm_onnx_attr_float(c, names[k], b[k], &b[k]))) return st;
    }
  } else {
    for (int k = 0; k < 2; k++) {
      if ((st = csm_onnx_input(c, k + 1, 1, &bv[k]))) return st;
      if (!bv[k] || csm_onnx_is_empty(c, bv[k])) continue;
      has[k] = 1;
      const csm_tensor *t = csm_onnx_const_of(c, bv[k]);
      bconst[k] = t != NULL;
      if (t && (st = const_scalar(c, bv[k], k ? "max" : "min", &b[k]))) return st;
    }
  }
  if (bconst[0] && bconst[1] && has[0] && b[0] == 0.0f) {
    if (has[1] && b[1] == 6.0f) return csm_onnx_map_elementwise1(c, CSM_OP_RELU6, NULL);
    if (!has[1]) return csm_onnx_map_elementwise1(c, CSM_OP_RELU, NULL);
  }
  if (!has[0] && !has[1]) return csm_onnx_map_elementwise1(c, CSM_OP_IDENTITY, NULL);
  const int nhwc = csm_onnx_has_nhwc(x);
  int acc;
  if ((st = nhwc ? csm_onnx_nhwc(c, x, &acc) : csm_onnx_logical(c, x, &acc))) return st;
  for (int k = 0; k < 2; k++) {
    if (!has[k]) continue;
    int bound, pair[2];
    if (!bconst[k]) {
      if ((st = csm_onnx_logical(c, bv[k], &bound))) return st;
    } else {
      csm_shape s = {.rank = 0};
      if ((st = csm_onnx_aux_f32(c, k ? "max" : "min", &s, &b[k], &bound))) return st;
    }
    pair[0] = acc;
    pair[1] = bound;
    const int last = k == 1 || !has[1];
    const csm_op_kind op = k ? CSM_OP_MINIMUM : CSM_OP_MAXIMUM;
    st = last ? csm_onnx_add(c, csm_onnx_output(c, 0), op, 2, pair, NULL, &acc)
              : csm_onnx_add_aux(c, "clip_min", op, 2, pair, NULL, &acc);
    if (st) return st;
  }
  return csm_onnx_def(c, 0, nhwc ? -1 : acc, nhwc ? acc : -1, x->rank);
}

/* Softmax and LogSoftmax over one axis. Before opset 13 the input is
 * coerced to 2-D at `axis` (default 1): FLATTEN, last-axis softmax, RESHAPE
 * back. From 13 (default -1): NHWC channels, the last axis, or a TRANSPOSE
 * that moves the axis last and back. */
csm_status csm_onnx_map_softmax(csm_onnx_ctx *c) {
  const csm_op_kind op = is_op(c, "LogSoftmax") ? CSM_OP_LOG_SOFTMAX : CSM_OP_SOFTMAX;
  const char *out = csm_onnx_output(c, 0);
  csm_onnx_value *x;
  int64_t axis64;
  int axis, in, y;
  csm_status st = csm_onnx_input(c, 0, 0, &x);
  if (st) return st;
  const int legacy = c->opset < 13;
  if ((st = csm_onnx_attr_int(c, "axis", legacy ? 1 : -1, -CSM_MAX_RANK, CSM_MAX_RANK - 1,
                              &axis64)) ||
      (st = csm_onnx_axis(c, axis64, x->rank, "axis", &axis)))
    return st;
  const int r = x->rank;
  if (axis == r - 1) {
    if ((st = csm_onnx_logical(c, x, &in)) || (st = csm_onnx_add(c, out, op, 1, &in, NULL, &y)))
      return st;
    return csm_onnx_def(c, 0, y, -1, r);
  }
  if (!legacy && r == 4 && axis == 1 && csm_onnx_has_nhwc(x)) {
    if ((st = csm_onnx_nhwc(c, x, &in)) || (st = csm_onnx_add(c, out, op, 1, &in, NULL, &y)))
      return st;
    return csm_onnx_def(c, 0, -1, y, 4);
  }
  if ((st = csm_onnx_logical(c, x, &in))) return st;
  csm_attrs a = csm_attrs_default();
  int t1, sm;
  if (legacy) {
    int shape, pair[2];
    a.axis = axis;
    if ((st = csm_onnx_add_aux(c, "flatten", CSM_OP_FLATTEN, 1, &in, &a, &t1)) ||
        (st = csm_onnx_add_aux(c, "softmax", op, 1, &t1, NULL, &sm)) ||
        (st = csm_onnx_add_aux(c, "shape", CSM_OP_SHAPE, 1, &in, NULL, &shape)))
      return st;
    pair[0] = sm;
    pair[1] = shape;
    if ((st = csm_onnx_add(c, out, CSM_OP_RESHAPE, 2, pair, NULL, &y))) return st;
    return csm_onnx_def(c, 0, y, -1, r);
  }
  /* Swap axis and the last axis: its own inverse. */
  a.n_perm = r;
  for (int d = 0; d < r; d++)
    a.perm[d] = d == axis ? r - 1 : d == r - 1 ? axis : d;
  if ((st = csm_onnx_add_aux(c, "to_last", CSM_OP_TRANSPOSE, 1, &in, &a, &t1)) ||
      (st = csm_onnx_add_aux(c, "softmax", op, 1, &t1, NULL, &sm)) ||
      (st = csm_onnx_add(c, out, CSM_OP_TRANSPOSE, 1, &sm, &a, &y)))
    return st;
  return csm_onnx_def(c, 0, y, -1, r);
}

/* A copy of constant t scaled by s (s == 1: t's own node). */
static csm_status scaled_const(csm_onnx_ctx *c, csm_onnx_value *v, const csm_tensor *t, float s,
                               const char *suffix, int *node) {
  if (s == 1.0f) return csm_onnx_logical(c, v, node);
  const size_t n = csm_tensor_numel(t);
  float *buf = csm_malloc_array(n ? n : 1, sizeof *buf);
  if (!buf) return CSM_ENOMEM;
  for (size_t i = 0; i < n; i++)
    buf[i] = ((const float *)t->data)[i] * s;
  csm_status st = csm_onnx_aux_f32(c, suffix, &t->shape, buf, node);
  free(buf);
  return st;
}

static csm_status scale_node(csm_onnx_ctx *c, int x, float s, const char *suffix, int last,
                             int *node) {
  csm_shape sc = {.rank = 0};
  int k, pair[2];
  char cname[32];
  snprintf(cname, sizeof cname, "%s_factor", suffix);
  csm_status st = csm_onnx_aux_f32(c, cname, &sc, &s, &k);
  if (st) return st;
  pair[0] = x;
  pair[1] = k;
  return last ? csm_onnx_add(c, csm_onnx_output(c, 0), CSM_OP_MUL, 2, pair, NULL, node)
              : csm_onnx_add_aux(c, suffix, CSM_OP_MUL, 2, pair, NULL, node);
}

/* Gemm: Y = alpha * A' B' + beta * C as MATMUL (transposes as attributes),
 * with a constant C of N entries as its bias. */
csm_status csm_onnx_map_gemm(csm_onnx_ctx *c) {
  csm_onnx_value *A, *B, *C;
  int64_t ta, tb;
  float alpha, beta;
  csm_attrs a = csm_attrs_default();
  int in[3], y;
  csm_status st;
  if ((st = csm_onnx_input(c, 0, 0, &A)) || (st = csm_onnx_input(c, 1, 0, &B)) ||
      (st = csm_onnx_input(c, 2, 1, &C)) || (st = csm_onnx_attr_int(c, "transA", 0, 0, 1, &ta)) ||
      (st = csm_onnx_attr_int(c, "transB", 0, 0, 1, &tb)) ||
      (st = csm_onnx_attr_float(c, "alpha", 1.0f, &alpha)) ||
      (st = csm_onnx_attr_float(c, "beta", 1.0f, &beta)))
    return st;
  if ((A->rank >= 0 && A->rank != 2) || (B->rank >= 0 && B->rank != 2))
    return csm_onnx_fail(c, CSM_EINPUT, "A and B must have rank 2 (got %d and %d)", A->rank,
                         B->rank);
  if (C && csm_onnx_is_empty(c, C)) C = NULL;
  a.transpose_a = (int)ta;
  a.transpose_b = (int)tb;
  const csm_tensor *bt = csm_onnx_const_of(c, B), *ct = C ? csm_onnx_const_of(c, C) : NULL;
  const int64_t n_out = bt && bt->shape.rank == 2 ? bt->shape.d[tb ? 0 : 1] : -1;
  if ((st = csm_onnx_logical(c, A, &in[0]))) return st;
  if (bt && bt->dtype == CSM_F32) {
    if ((st = scaled_const(c, B, bt, alpha, "b_scaled", &in[1]))) return st;
    alpha = 1.0f;
  } else if ((st = csm_onnx_logical(c, B, &in[1]))) {
    return st;
  }
  /* A bias: C constant, N entries (or one), nothing to scale after it. */
  const int bias = C && ct && ct->dtype == CSM_F32 && alpha == 1.0f && n_out > 0 &&
                   ct->shape.rank <= 2 && (ct->shape.rank < 2 || ct->shape.d[0] == 1) &&
                   ((int64_t)csm_tensor_numel(ct) == n_out || csm_tensor_numel(ct) == 1);
  if (bias) {
    csm_shape s = {.rank = 1, .d = {n_out}};
    float *buf = csm_malloc_array((size_t)n_out, sizeof *buf);
    if (!buf) return CSM_ENOMEM;
    const size_t cn = csm_tensor_numel(ct);
    for (int64_t i = 0; i < n_out; i++)
      buf[i] = beta * ((const float *)ct->data)[cn == 1 ? 0 : i];
    st = csm_onnx_aux_f32(c, "bias", &s, buf, &in[2]);
    free(buf);
    if (st) return st;
    a.has_bias = 1;
  }
  const int more = (alpha != 1.0f) || (C && !bias);
  st = more ? csm_onnx_add_aux(c, "matmul", CSM_OP_MATMUL, bias ? 3 : 2, in, &a, &y)
            : csm_onnx_add(c, csm_onnx_output(c, 0), CSM_OP_MATMUL, bias ? 3 : 2, in, &a, &y);
  if (st) return st;
  if (alpha != 1.0f && (st = scale_node(c, y, alpha, "alpha", !(C && !bias), &y))) return st;
  if (C && !bias) {
    int cn, pair[2];
    if ((st = csm_onnx_logical(c, C, &cn))) return st;
    if (beta != 1.0f && (st = scale_node(c, cn, beta, "beta", 0, &cn))) return st;
    pair[0] = y;
    pair[1] = cn;
    if ((st = csm_onnx_add(c, csm_onnx_output(c, 0), CSM_OP_ADD, 2, pair, NULL, &y))) return st;
  }
  return csm_onnx_def(c, 0, y, -1, 2);
}

/* MatMul: [..., M, K] x [K, N] (the IR folds leading dimensions into M). */
csm_status csm_onnx_map_matmul(csm_onnx_ctx *c) {
  csm_onnx_value *A, *B;
  int in[2], y;
  csm_status st;
  if ((st = csm_onnx_input(c, 0, 0, &A)) || (st = csm_onnx_input(c, 1, 0, &B))) return st;
  if (B->rank != 2 || A->rank < 2)
    return csm_onnx_fail(c, CSM_EUNSUPPORTED,
                         "only [..., M, K] x [K, N] is supported, got ranks %d x %d "
                         "('%s' x '%s')",
                         A->rank, B->rank, A->name, B->name);
  if ((st = csm_onnx_logical(c, A, &in[0])) || (st = csm_onnx_logical(c, B, &in[1])) ||
      (st = csm_onnx_add(c, csm_onnx_output(c, 0), CSM_OP_MATMUL, 2, in, NULL, &y)))
    return st;
  return csm_onnx_def(c, 0, y, -1, A->rank);
}

/* ReduceMean/Sum/Max/L2 (L2 = sqrt of the sum of squares). Axes are an
 * attribute, or an input for ReduceSum from opset 13; none means all axes
 * unless noop_with_empty_axes. An NHWC input is reduced in place when the
 * kept axes come out in ONNX's order. */
csm_status csm_onnx_map_reduce(csm_onnx_ctx *c) {
  const int l2 = is_op(c, "ReduceL2"), sum = is_op(c, "ReduceSum");
  const csm_op_kind op = is_op(c, "ReduceMean")  ? CSM_OP_REDUCE_MEAN
                         : is_op(c, "ReduceMax") ? CSM_OP_REDUCE_MAX
                                                 : CSM_OP_REDUCE_SUM;
  csm_onnx_value *x, *av = NULL;
  int64_t keep, noop, axes[CSM_MAX_RANK];
  int n_axes = -1, flag[CSM_MAX_RANK] = {0};
  csm_status st;
  if ((st = csm_onnx_input(c, 0, 0, &x)) ||
      (st = csm_onnx_attr_int(c, "keepdims", 1, 0, 1, &keep)) ||
      (st = csm_onnx_attr_int(c, "noop_with_empty_axes", 0, 0, 1, &noop)))
    return st;
  if (sum && c->opset >= 13) {
    if ((st = csm_onnx_input(c, 1, 1, &av))) return st;
    if (av && !csm_onnx_is_empty(c, av) &&
        (st = csm_onnx_const_ints(c, av, "axes", axes, CSM_MAX_RANK, &n_axes)))
      return st;
  } else if ((st = csm_onnx_attr_ints(c, "axes", axes, CSM_MAX_RANK, &n_axes))) {
    return st;
  }
  if (n_axes <= 0 && noop) return csm_onnx_map_elementwise1(c, CSM_OP_IDENTITY, NULL);
  const int r = x->rank;
  if (r < 0) return csm_onnx_fail(c, CSM_EUNSUPPORTED, "the input's rank is unknown");
  if (n_axes <= 0) {
    for (int d = 0; d < r; d++)
      flag[d] = 1;
  } else {
    for (int i = 0; i < n_axes; i++) {
      int ax;
      if ((st = csm_onnx_axis(c, axes[i], r, "axis", &ax))) return st;
      flag[ax] = 1;
    }
  }
  int n_red = 0;
  for (int d = 0; d < r; d++)
    n_red += flag[d];
  /* NHWC: kept axes in NHWC order must be ascending in ONNX's order. */
  int nhwc = r == 4 && csm_onnx_has_nhwc(x);
  if (nhwc && !keep) {
    static const int from_nhwc[4] = {0, 2, 3, 1};
    int prev = -1;
    for (int q = 0; q < 4 && nhwc; q++) {
      const int d = from_nhwc[q];
      if (flag[d]) continue;
      if (d < prev) nhwc = 0;
      prev = d;
    }
  }
  int32_t ir_axes[CSM_MAX_RANK];
  int n_ir = 0, in, axes_node, y;
  for (int d = 0; d < r; d++)
    if (flag[d]) ir_axes[n_ir++] = nhwc ? csm_onnx_nhwc_axis(d) : d;
  if ((st = nhwc ? csm_onnx_nhwc(c, x, &in) : csm_onnx_logical(c, x, &in)) ||
      (st = csm_onnx_aux_i32(c, "axes", 1, ir_axes, n_ir, &axes_node)))
    return st;
  csm_attrs a = csm_attrs_default();
  a.keep_dims = (int)keep;
  if (l2) {
    int sq, pair[2];
    if ((st = csm_onnx_add_aux(c, "square", CSM_OP_SQUARE, 1, &in, NULL, &sq))) return st;
    pair[0] = sq;
    pair[1] = axes_node;
    if ((st = csm_onnx_add_aux(c, "sum", CSM_OP_REDUCE_SUM, 2, pair, &a, &y)) ||
        (st = csm_onnx_add(c, csm_onnx_output(c, 0), CSM_OP_SQRT, 1, &y, NULL, &y)))
      return st;
  } else {
    int pair[2] = {in, axes_node};
    if ((st = csm_onnx_add(c, csm_onnx_output(c, 0), op, 2, pair, &a, &y))) return st;
  }
  const int out_rank = keep ? r : r - n_red;
  if (nhwc && keep) return csm_onnx_def(c, 0, -1, y, 4);
  return csm_onnx_def(c, 0, y, -1, out_rank);
}
