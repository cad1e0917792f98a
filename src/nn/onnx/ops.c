/* ONNX operator names -> mappers, and the helpers the mappers share.
 *
 * The mappers follow opsets 11..17 of the default domain: where an operator
 * moved an attribute into an input across those opsets (Split, Squeeze,
 * Unsqueeze, ReduceSum, Clip, Resize...) both forms are read. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_internal.h"

typedef struct onnx_op {
  const char *name;
  csm_onnx_mapper map;
} onnx_op;

static const onnx_op onnx_ops[] = {
    /* ops_conv.c */
    {"Conv", csm_onnx_map_conv},
    {"ConvTranspose", csm_onnx_map_conv_transpose},
    {"MaxPool", csm_onnx_map_pool},
    {"AveragePool", csm_onnx_map_pool},
    {"GlobalAveragePool", csm_onnx_map_global_pool},
    {"GlobalMaxPool", csm_onnx_map_global_pool},
    {"BatchNormalization", csm_onnx_map_batch_norm},
    {"Resize", csm_onnx_map_resize},
    /* ops_math.c */
    {"Add", csm_onnx_map_binary},
    {"Sub", csm_onnx_map_binary},
    {"Mul", csm_onnx_map_binary},
    {"Div", csm_onnx_map_binary},
    {"Max", csm_onnx_map_binary},
    {"Min", csm_onnx_map_binary},
    {"Sum", csm_onnx_map_binary},
    {"PRelu", csm_onnx_map_binary},
    {"Pow", csm_onnx_map_unary},
    {"Relu", csm_onnx_map_unary},
    {"LeakyRelu", csm_onnx_map_unary},
    {"Sigmoid", csm_onnx_map_unary},
    {"Tanh", csm_onnx_map_unary},
    {"HardSigmoid", csm_onnx_map_unary},
    {"HardSwish", csm_onnx_map_unary},
    {"Exp", csm_onnx_map_unary},
    {"Sqrt", csm_onnx_map_unary},
    {"Abs", csm_onnx_map_unary},
    {"Neg", csm_onnx_map_unary},
    {"Reciprocal", csm_onnx_map_unary},
    {"Clip", csm_onnx_map_clip},
    {"Softmax", csm_onnx_map_softmax},
    {"LogSoftmax", csm_onnx_map_softmax},
    {"Gemm", csm_onnx_map_gemm},
    {"MatMul", csm_onnx_map_matmul},
    {"ReduceMean", csm_onnx_map_reduce},
    {"ReduceSum", csm_onnx_map_reduce},
    {"ReduceMax", csm_onnx_map_reduce},
    {"ReduceL2", csm_onnx_map_reduce},
    /* ops_shape.c */
    {"Flatten", csm_onnx_map_flatten},
    {"Reshape", csm_onnx_map_reshape},
    {"Transpose", csm_onnx_map_transpose},
    {"Concat", csm_onnx_map_concat},
    {"Split", csm_onnx_map_split},
    {"Slice", csm_onnx_map_slice},
    {"Squeeze", csm_onnx_map_squeeze},
    {"Unsqueeze", csm_onnx_map_unsqueeze},
    {"Pad", csm_onnx_map_pad},
    {"Identity", csm_onnx_map_identity},
    {"Dropout", csm_onnx_map_identity},
    {"Constant", csm_onnx_map_constant},
    {"Shape", csm_onnx_map_shape},
    {"Gather", csm_onnx_map_gather},
    {"Expand", csm_onnx_map_expand},
    {"Cast", csm_onnx_map_cast},
    {"ConstantOfShape", csm_onnx_map_constant_of_shape},
};

csm_onnx_mapper csm_onnx_find_mapper(const char *op_type) {
  if (!op_type) return NULL;
  for (size_t i = 0; i < sizeof onnx_ops / sizeof onnx_ops[0]; i++)
    if (strcmp(onnx_ops[i].name, op_type) == 0) return onnx_ops[i].map;
  return NULL;
}

/* ---- Helpers shared by the mappers ---------------------------------------- */

const char *csm_onnx_output(const csm_onnx_ctx *c, int k) {
  const Onnx__NodeProto *n = c->node;
  if (!n || k < 0 || (size_t)k >= n->n_output || !n->output[k] || !n->output[k][0]) return NULL;
  return n->output[k];
}

/* "<output 0>/<suffix>" (or "<op>/<suffix>" for a node without outputs). */
static char *aux_name(const csm_onnx_ctx *c, const char *suffix) {
  const char *base = csm_onnx_output(c, 0);
  if (!base) base = c->node && c->node->op_type ? c->node->op_type : "onnx";
  size_t len = strlen(base) + strlen(suffix) + 2;
  char *name = csm_malloc(len);
  if (name) snprintf(name, len, "%s/%s", base, suffix);
  return name;
}

csm_status csm_onnx_add_aux(csm_onnx_ctx *c, const char *suffix, csm_op_kind op, int n_in,
                            const int *in, const csm_attrs *a, int *index) {
  char *name = aux_name(c, suffix);
  if (!name) return CSM_ENOMEM;
  csm_status st = csm_onnx_add(c, name, op, n_in, in, a, index);
  free(name);
  return st;
}

csm_status csm_onnx_aux_i32(csm_onnx_ctx *c, const char *suffix, int rank, const int32_t *v, int n,
                            int *index) {
  csm_shape s = {.rank = rank ? 1 : 0, .d = {n}};
  char *name = aux_name(c, suffix);
  if (!name) return CSM_ENOMEM;
  csm_status st = csm_onnx_const_i32(c, name, &s, v, index);
  free(name);
  return st;
}

csm_status csm_onnx_aux_f32(csm_onnx_ctx *c, const char *suffix, const csm_shape *shape,
                            const float *v, int *index) {
  char *name = aux_name(c, suffix);
  if (!name) return CSM_ENOMEM;
  csm_status st = csm_onnx_const_f32(c, name, shape, v, index);
  free(name);
  return st;
}

csm_status csm_onnx_axis(csm_onnx_ctx *c, int64_t axis, int rank, const char *what, int *out) {
  if (rank < 0)
    return csm_onnx_fail(c, CSM_EUNSUPPORTED, "%s %lld needs the input's rank, which is unknown",
                         what, (long long)axis);
  if (axis < -rank || axis >= rank)
    return csm_onnx_fail(c, CSM_EINPUT, "%s %lld is out of range for rank %d", what,
                         (long long)axis, rank);
  *out = (int)(axis < 0 ? axis + rank : axis);
  return CSM_OK;
}

static int info_rank(const Onnx__ValueInfoProto *vi) {
  if (!vi || !vi->type || vi->type->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE ||
      !vi->type->tensor_type || !vi->type->tensor_type->shape)
    return -1;
  size_t n = vi->type->tensor_type->shape->n_dim;
  return n <= CSM_MAX_RANK ? (int)n : -1;
}

int csm_onnx_declared_rank(const csm_onnx_ctx *c, const char *name) {
  const Onnx__GraphProto *g = c->model ? c->model->graph : NULL;
  if (!g || !name) return -1;
  for (size_t i = 0; i < g->n_value_info; i++)
    if (g->value_info[i] && g->value_info[i]->name && !strcmp(g->value_info[i]->name, name))
      return info_rank(g->value_info[i]);
  for (size_t i = 0; i < g->n_output; i++)
    if (g->output[i] && g->output[i]->name && !strcmp(g->output[i]->name, name))
      return info_rank(g->output[i]);
  return -1;
}

int csm_onnx_is_read(const csm_onnx_ctx *c, const char *name) {
  const Onnx__GraphProto *g = c->model ? c->model->graph : NULL;
  if (!g || !name || !*name) return 0;
  for (size_t i = 0; i < g->n_output; i++)
    if (g->output[i] && g->output[i]->name && !strcmp(g->output[i]->name, name)) return 1;
  for (size_t i = 0; i < g->n_node; i++)
    for (size_t k = 0; g->node[i] && k < g->node[i]->n_input; k++)
      if (g->node[i]->input[k] && !strcmp(g->node[i]->input[k], name)) return 1;
  return 0;
}

csm_status csm_onnx_def(csm_onnx_ctx *c, int k, int logical, int nhwc, int rank) {
  const char *name = csm_onnx_output(c, k);
  if (!name) return csm_onnx_fail(c, CSM_EINPUT, "output %d has no name", k);
  if (rank < 0 && nhwc < 0) rank = csm_onnx_declared_rank(c, name);
  return csm_onnx_define(c, name, logical, nhwc, rank);
}

int csm_onnx_is_empty(csm_onnx_ctx *c, const csm_onnx_value *v) {
  if (!v) return 1;
  if (v->logical < 0 || v->logical >= c->g->n_nodes) return 0;
  const csm_node *n = &c->g->nodes[v->logical];
  return n->op == CSM_OP_CONST && csm_tensor_numel(&n->value) == 0;
}

csm_status csm_onnx_const_to_nhwc(csm_onnx_ctx *c, const csm_tensor *t, const char *suffix,
                                  int *index) {
  int64_t d[4] = {1, 1, 1, 1};
  const int r = t->shape.rank;
  if (r > 4)
    return csm_onnx_fail(c, CSM_EINTERNAL, "constant of rank %d used as an NHWC operand", r);
  for (int i = 0; i < r; i++)
    d[4 - r + i] = t->shape.d[i];
  const int64_t N = d[0], C = d[1], H = d[2], W = d[3];
  const size_t total = csm_tensor_numel(t);
  uint32_t *buf = csm_malloc_array(total ? total : 1, 4);
  if (!buf) return CSM_ENOMEM;
  const uint32_t *src = t->data;
  for (int64_t n = 0; n < N; n++)
    for (int64_t ch = 0; ch < C; ch++)
      for (int64_t h = 0; h < H; h++)
        for (int64_t w = 0; w < W; w++)
          buf[((n * H + h) * W + w) * C + ch] = src[((n * C + ch) * H + h) * W + w];
  /* Leading 1s are dropped: the other operand has rank 4, so broadcasting
   * gives the same result, and a [C] bias or slope stays foldable. */
  int64_t nd[4] = {N, H, W, C};
  int skip = 0;
  while (skip < 4 && nd[skip] == 1)
    skip++;
  csm_shape s = csm_shape_make(4 - skip, nd + skip);
  char *name = aux_name(c, suffix);
  csm_status st = CSM_ENOMEM;
  if (name)
    st = t->dtype == CSM_I32 ? csm_onnx_const_i32(c, name, &s, (const int32_t *)buf, index)
                             : csm_onnx_const_f32(c, name, &s, (const float *)buf, index);
  free(name);
  free(buf);
  return st;
}

csm_status csm_onnx_map_elementwise1(csm_onnx_ctx *c, csm_op_kind op, const csm_attrs *a) {
  csm_onnx_value *x;
  int in, out;
  csm_status st = csm_onnx_input(c, 0, 0, &x);
  if (st) return st;
  const int nhwc = csm_onnx_has_nhwc(x);
  if ((st = nhwc ? csm_onnx_nhwc(c, x, &in) : csm_onnx_logical(c, x, &in))) return st;
  if ((st = csm_onnx_add(c, csm_onnx_output(c, 0), op, 1, &in, a, &out))) return st;
  return csm_onnx_def(c, 0, nhwc ? -1 : out, nhwc ? out : -1, x->rank);
}

csm_status csm_onnx_unused_outputs(csm_onnx_ctx *c, int from) {
  for (int k = from; c->node && (size_t)k < c->node->n_output; k++) {
    const char *name = csm_onnx_output(c, k);
    if (name && csm_onnx_is_read(c, name))
      return csm_onnx_fail(c, CSM_EUNSUPPORTED, "output %d ('%s') is not supported", k, name);
  }
  return CSM_OK;
}
