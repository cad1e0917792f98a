/* Cascading weight randomization (Adebayo et al. 2018, "Sanity checks for
 * saliency maps").
 *
 * Random numbers: layer i (its index in csm_model_layers' order, counted
 * from the bottom) draws from its own splitmix64 stream (Steele et al.
 * 2014; increment 0x9E3779B97F4A7C15 and the standard finalizer) started at
 * key = mix(mix(seed) ^ mix(i + 1)), mix being that finalizer. Gaussians
 * come from Box-Muller on pairs of 53-bit uniforms, u1 in (0, 1] and u2 in
 * [0, 1): sqrt(-2 ln u1) (cos 2 pi u2, sin 2 pi u2), both used in turn.
 * Layer i's noise thus depends only on (seed, i), not on how many layers
 * are randomized: randomizing the top 3 and then the top 4 layers keeps
 * the values of the top 3.
 *
 * Scale: the noise z is standardized to mean 0 and (population) standard
 * deviation exactly 1 over the filter, then multiplied by the filter's
 * current standard deviation s (population std over all its values; if s is
 * 0, 1 / sqrt(fan_in), fan_in = KH * KW * Ci for Conv2D, KH * KW for
 * DepthwiseConv2D, K for MatMul, the filter's size otherwise). The new filter therefore has
 * standard deviation s again (up to float rounding), so randomizing an already randomized layer
 * again (a cascade run progressively on one model) reproduces its values up to rounding. A filter
 * with a single value cannot be standardized and gets s * z as drawn.
 *
 * Biases (in[2] when has_bias) are set to 0; PReLU alphas are kept.
 *
 * Shared constants: a constant node is changed at most once per call. The
 * layers are visited from the top down and the first (topmost) layer that
 * uses a constant randomizes it with its own stream; later layers that
 * share it find it done and leave it. Because the topmost user is always
 * in the randomized range when any user is, a shared constant gets the same
 * values however far the cascade goes. A constant shared with a layer (or
 * any op) below the range changes for it too: it is one tensor. */
#include <math.h>
#include <stdlib.h>

#include "model_internal.h"
#include "ops/op.h"

static int is_layer(const csm_graph *g, int i) {
  const csm_node *n = &g->nodes[i];
  if (!(csm_op_flags(n->op) & CSM_OP_WEIGHTED)) return 0;
  if (n->n_in < 2) return 0;
  const csm_node *f = &g->nodes[n->in[1]];
  return f->op == CSM_OP_CONST && f->value.dtype == CSM_F32 && f->value.data;
}

/* dep[i] = 1 for every node that node `of` depends on (itself included);
 * all 1 when of < 0. */
static void depends(const csm_graph *g, int of, unsigned char *dep) {
  for (int i = 0; i < g->n_nodes; i++)
    dep[i] = of < 0;
  if (of < 0 || of >= g->n_nodes) return;
  dep[of] = 1;
  for (int i = of; i >= 0; i--) /* topological order: inputs come first */
    if (dep[i])
      for (int k = 0; k < g->nodes[i].n_in; k++)
        dep[g->nodes[i].in[k]] = 1;
}

int csm_model_layers_of(const csm_model *m, int of, int *nodes, int max) {
  if (!m) return 0;
  unsigned char *dep = csm_calloc((size_t)m->g.n_nodes + 1, 1);
  if (!dep) return 0;
  depends(&m->g, of, dep);
  int count = 0;
  for (int i = 0; i < m->g.n_nodes; i++) {
    if (!dep[i] || !is_layer(&m->g, i)) continue;
    if (nodes && count < max) nodes[count] = i;
    count++;
  }
  free(dep);
  return count;
}

int csm_model_layers(const csm_model *m, int *nodes, int max) {
  return csm_model_layers_of(m, -1, nodes, max);
}

static uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

typedef struct gauss_rng {
  uint64_t state;
  int has_spare;
  double spare;
} gauss_rng;

static uint64_t splitmix64(gauss_rng *r) {
  r->state += 0x9E3779B97F4A7C15ull;
  return mix64(r->state);
}

static double gauss(gauss_rng *r) {
  if (r->has_spare) {
    r->has_spare = 0;
    return r->spare;
  }
  const double u1 = (double)((splitmix64(r) >> 11) + 1) * 0x1p-53; /* (0, 1] */
  const double u2 = (double)(splitmix64(r) >> 11) * 0x1p-53;       /* [0, 1) */
  const double rad = sqrt(-2.0 * log(u1)), th = 6.283185307179586 * u2;
  r->spare = rad * sin(th);
  r->has_spare = 1;
  return rad * cos(th);
}

static double fan_in(const csm_node *layer, const csm_tensor *f) {
  const csm_shape *s = &f->shape;
  double fi = 1;
  if (layer->op == CSM_OP_MATMUL && s->rank == 2) {
    fi = (double)(layer->a.transpose_b ? s->d[1] : s->d[0]);
  } else if (layer->op == CSM_OP_CONV2D && s->rank == 4) {
    fi = (double)s->d[0] * (double)s->d[1] * (double)s->d[2];
  } else if (layer->op == CSM_OP_DEPTHWISE_CONV2D && s->rank == 4) {
    fi = (double)s->d[0] * (double)s->d[1];
  } else {
    fi = (double)csm_tensor_numel(f);
  }
  return fi > 0 ? fi : 1;
}

/* Refills layer `layer` (node index) of m's filter; `index` is its layer
 * index (the stream). z: scratch of at least numel doubles. */
static void randomize_filter(csm_model *m, int layer, int index, uint64_t seed, double *z) {
  const csm_node *n = &m->g.nodes[layer];
  csm_tensor *f = &m->g.nodes[n->in[1]].value;
  float *w = f->data;
  const size_t numel = csm_tensor_numel(f);
  if (numel == 0) return;
  double mean = 0, var = 0;
  for (size_t k = 0; k < numel; k++)
    mean += w[k];
  mean /= (double)numel;
  for (size_t k = 0; k < numel; k++)
    var += ((double)w[k] - mean) * ((double)w[k] - mean);
  double sd = sqrt(var / (double)numel);
  if (!(sd > 0) || !isfinite(sd)) sd = 1.0 / sqrt(fan_in(n, f));

  gauss_rng r = {mix64(mix64(seed) ^ mix64((uint64_t)index + 1)), 0, 0};
  double zm = 0, zv = 0;
  for (size_t k = 0; k < numel; k++) {
    z[k] = gauss(&r);
    zm += z[k];
  }
  zm /= (double)numel;
  for (size_t k = 0; k < numel; k++)
    zv += (z[k] - zm) * (z[k] - zm);
  const double zsd = sqrt(zv / (double)numel);
  if (numel >= 2 && zsd > 0) {
    for (size_t k = 0; k < numel; k++)
      w[k] = (float)(sd * (z[k] - zm) / zsd);
  } else {
    for (size_t k = 0; k < numel; k++)
      w[k] = (float)(sd * z[k]);
  }
}

csm_status csm_model_randomize_layers_of(csm_model *m, int of, int count, uint64_t seed) {
  if (!m) return csm_fail(CSM_EUSAGE, "randomize: no model");
  if (count < 0) return csm_fail(CSM_EUSAGE, "randomize: layer count %d is negative", count);
  if (of >= m->g.n_nodes) return csm_fail(CSM_EUSAGE, "randomize: node %d out of range", of);
  const int total = csm_model_layers(m, NULL, 0);
  const int mine = csm_model_layers_of(m, of, NULL, 0);
  if (count > mine) count = mine;
  if (count == 0) return CSM_OK;
  int *layers = csm_malloc_array((size_t)total, sizeof *layers);
  unsigned char *done = csm_calloc((size_t)m->g.n_nodes, 1);
  unsigned char *dep = csm_calloc((size_t)m->g.n_nodes + 1, 1);
  size_t most = 0;
  for (int i = 0; layers && i < m->g.n_nodes; i++)
    if (m->g.nodes[i].op == CSM_OP_CONST && csm_tensor_numel(&m->g.nodes[i].value) > most)
      most = csm_tensor_numel(&m->g.nodes[i].value);
  double *z = layers && done ? csm_malloc_array(most ? most : 1, sizeof *z) : NULL;
  if (!layers || !done || !z || !dep) {
    free(layers);
    free(done);
    free(z);
    free(dep);
    return CSM_ENOMEM;
  }
  csm_model_layers(m, layers, total);
  depends(&m->g, of, dep);
  /* From the top, the first `count` layers `of` depends on; each keeps its
   * index li among all layers, so its values do not depend on `of`. */
  for (int li = total - 1, left = count; li >= 0 && left > 0; li--) {
    if (!dep[layers[li]]) continue;
    left--;
    const csm_node *n = &m->g.nodes[layers[li]];
    const int fi = n->in[1];
    if (!done[fi]) {
      randomize_filter(m, layers[li], li, seed, z);
      done[fi] = 1;
    }
    if (n->a.has_bias && n->n_in >= 3) {
      csm_node *b = &m->g.nodes[n->in[2]];
      if (b->op == CSM_OP_CONST && b->value.dtype == CSM_F32 && b->value.data && !done[n->in[2]]) {
        float *bv = b->value.data;
        for (size_t k = 0, nb = csm_tensor_numel(&b->value); k < nb; k++)
          bv[k] = 0.0f;
        done[n->in[2]] = 1;
      }
    }
  }
  free(layers);
  free(done);
  free(z);
  free(dep);
  csm_model_drop_plans(m);
  return CSM_OK;
}

csm_status csm_model_randomize_layers(csm_model *m, int count, uint64_t seed) {
  return csm_model_randomize_layers_of(m, -1, count, seed);
}
