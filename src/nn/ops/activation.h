/* The fused epilogue of Conv2D, DepthwiseConv2D and MatMul: bias, then the
 * activation, per output channel (the last dimension).
 *
 * The scalar helpers here define the arithmetic; the vector kernels in
 * gemm.c implement the same operations so that every path gives the same bits
 * for the same sum. NaN propagates through every activation (ReLU keeps a NaN
 * instead of turning it into 0, as TensorFlow's max(x, 0) does). */
#ifndef CSM_NN_OPS_ACTIVATION_H
#define CSM_NN_OPS_ACTIVATION_H

#include <stdint.h>

#include "op.h"

typedef struct csm_epilogue {
  const float *bias;  /* [channels], or NULL */
  csm_activation act; /* PRELU: per-channel slopes in prelu */
  float alpha;        /* LEAKY_RELU slope (PReLU with one slope is turned into this) */
  const float *prelu; /* [channels], for CSM_ACT_PRELU */
} csm_epilogue;

static inline float csm_act_apply(float v, const csm_epilogue *e, int64_t ch) {
  switch (e->act) {
  case CSM_ACT_NONE: return v;
  case CSM_ACT_RELU: return v < 0.0f ? 0.0f : v;
  case CSM_ACT_RELU6: v = v < 0.0f ? 0.0f : v; return v > 6.0f ? 6.0f : v;
  case CSM_ACT_LEAKY_RELU: return v > 0.0f ? v : v * e->alpha;
  case CSM_ACT_PRELU: return v > 0.0f ? v : v * e->prelu[ch];
  }
  return v;
}

/* Applies bias and activation to rows of `channels` values in place: the
 * same operations as csm_act_apply, one loop per activation so that each
 * vectorizes. */
static inline void csm_epilogue_rows(float *x, int64_t rows, int64_t channels,
                                     const csm_epilogue *e) {
  const float alpha = e->alpha;
  for (int64_t r = 0; r < rows; r++) {
    float *row = x + r * channels;
    if (e->bias)
      for (int64_t c = 0; c < channels; c++)
        row[c] += e->bias[c];
    switch (e->act) {
    case CSM_ACT_NONE: break;
    case CSM_ACT_RELU:
      for (int64_t c = 0; c < channels; c++)
        row[c] = row[c] < 0.0f ? 0.0f : row[c];
      break;
    case CSM_ACT_RELU6:
      for (int64_t c = 0; c < channels; c++) {
        const float v = row[c] < 0.0f ? 0.0f : row[c];
        row[c] = v > 6.0f ? 6.0f : v;
      }
      break;
    case CSM_ACT_LEAKY_RELU:
      for (int64_t c = 0; c < channels; c++)
        row[c] = row[c] > 0.0f ? row[c] : row[c] * alpha;
      break;
    case CSM_ACT_PRELU:
      for (int64_t c = 0; c < channels; c++)
        row[c] = row[c] > 0.0f ? row[c] : row[c] * e->prelu[c];
      break;
    }
  }
}

/* Reads the fused operands of a node whose inputs are (x, w, bias?, alpha?)
 * into e, for `channels` output channels. infer has validated them. */
static inline void csm_epilogue_from_node(const csm_node *n, const csm_tensor *in,
                                          csm_epilogue *e) {
  int next = 2;
  e->bias = NULL;
  e->act = n->a.act;
  e->alpha = n->a.alpha;
  e->prelu = NULL;
  if (n->a.has_bias) e->bias = (const float *)in[next++].data;
  if (n->a.act == CSM_ACT_PRELU) {
    const csm_tensor *al = &in[next];
    size_t count = 1;
    for (int i = 0; i < al->shape.rank; i++)
      count *= (size_t)al->shape.d[i];
    if (count == 1) { /* one shared slope is a leaky ReLU */
      e->act = CSM_ACT_LEAKY_RELU;
      e->alpha = ((const float *)al->data)[0];
    } else {
      e->prelu = (const float *)al->data;
    }
  }
}

/* Checks the operand count and the fused operands of a node (x, w, bias?,
 * alpha?) against the output channel count. */
static inline csm_status csm_epilogue_check(const csm_node *n, const csm_tensor *in,
                                            int64_t channels) {
  const char *op = csm_op_name(n->op);
  int want = 2 + (n->a.has_bias ? 1 : 0) + (n->a.act == CSM_ACT_PRELU ? 1 : 0);
  char buf[96];
  if (n->n_in != want)
    return csm_fail(CSM_EINPUT, "%s expects %d inputs (x, weights%s%s), got %d", op, want,
                    n->a.has_bias ? ", bias" : "", n->a.act == CSM_ACT_PRELU ? ", alpha" : "",
                    n->n_in);
  if ((int)n->a.act < CSM_ACT_NONE || n->a.act > CSM_ACT_LEAKY_RELU)
    return csm_fail(CSM_EUNSUPPORTED, "%s has an unknown fused activation (%d)", op, (int)n->a.act);
  for (int i = 2; i < want; i++) {
    const csm_tensor *t = &in[i];
    const char *what = (i == 2 && n->a.has_bias) ? "bias" : "PReLU alpha";
    size_t count;
    int per_channel = 1;
    if (t->dtype != CSM_F32) return csm_fail(CSM_EINPUT, "%s %s must be float32", op, what);
    if (csm_shape_numel(&t->shape, &count)) return CSM_EINPUT;
    for (int d = 0; d + 1 < t->shape.rank; d++)
      if (t->shape.d[d] != 1) per_channel = 0;
    if (t->shape.rank > 0 && t->shape.d[t->shape.rank - 1] != channels) per_channel = 0;
    /* A single PReLU slope is shared by all channels (a leaky ReLU). */
    if (what[0] == 'P' && count == 1) continue;
    if (!per_channel || count != (size_t)channels)
      return csm_fail(CSM_EINPUT, "%s %s has shape %s but the output has %lld channels", op, what,
                      csm_shape_str(&t->shape, buf, sizeof buf), (long long)channels);
  }
  return CSM_OK;
}

#endif
