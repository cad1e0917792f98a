/* Graph construction, lookup and topological ordering. */
#include "graph.h"

#include <stdlib.h>
#include <string.h>

csm_attrs csm_attrs_default(void) {
  csm_attrs a;
  memset(&a, 0, sizeof a);
  a.stride[0] = a.stride[1] = 1;
  a.dilation[0] = a.dilation[1] = 1;
  a.ksize[0] = a.ksize[1] = 1;
  a.padding = CSM_PAD_VALID;
  a.act = CSM_ACT_NONE;
  return a;
}

csm_status csm_graph_add(csm_graph *g, const char *name, csm_op_kind op, int n_in, const int *in,
                         int *index) {
  if (g->n_nodes == g->cap) {
    int cap = g->cap ? g->cap * 2 : 64;
    csm_node *nodes = realloc(g->nodes, (size_t)cap * sizeof *nodes);
    if (!nodes) return csm_fail(CSM_ENOMEM, "out of memory growing the graph");
    g->nodes = nodes;
    g->cap = cap;
  }
  csm_node *n = &g->nodes[g->n_nodes];
  memset(n, 0, sizeof *n);
  n->name = strdup(name ? name : "");
  n->in = csm_malloc_array((size_t)(n_in > 0 ? n_in : 1), sizeof(int));
  if (!n->name || !n->in) {
    free(n->name);
    free(n->in);
    return csm_fail(CSM_ENOMEM, "out of memory adding node");
  }
  if (n_in > 0) memcpy(n->in, in, (size_t)n_in * sizeof(int));
  n->n_in = n_in;
  n->op = op;
  n->a = csm_attrs_default();
  *index = g->n_nodes++;
  return CSM_OK;
}

int csm_graph_find(const csm_graph *g, const char *name) {
  for (int i = 0; i < g->n_nodes; i++)
    if (strcmp(g->nodes[i].name, name) == 0) return i;
  return -1;
}

/* Kahn's algorithm, taking the lowest ready index first so that the order
 * stays as close to the file's as possible (stable, reproducible). */
csm_status csm_graph_toposort(csm_graph *g) {
  int n = g->n_nodes;
  csm_status st = CSM_OK;
  int *indeg = csm_calloc((size_t)n + 1, sizeof(int));
  int *order = csm_malloc_array((size_t)n + 1, sizeof(int));
  int *newpos = csm_malloc_array((size_t)n + 1, sizeof(int));
  int *done = csm_calloc((size_t)n + 1, sizeof(int));
  csm_node *sorted = csm_malloc_array((size_t)n + 1, sizeof(csm_node));
  if (!indeg || !order || !newpos || !done || !sorted) {
    st = CSM_ENOMEM;
    goto out;
  }
  for (int i = 0; i < n; i++)
    for (int k = 0; k < g->nodes[i].n_in; k++) {
      int p = g->nodes[i].in[k];
      if (p < 0 || p >= n) {
        st = csm_fail(CSM_EINPUT, "node '%s' has an invalid input", g->nodes[i].name);
        goto out;
      }
      indeg[i]++;
    }
  /* O(n^2) in the worst case, but graphs have a few thousand nodes at most
   * and this runs once per load. */
  int count = 0;
  while (count < n) {
    int pick = -1;
    for (int i = 0; i < n; i++)
      if (!done[i] && indeg[i] == 0) {
        pick = i;
        break;
      }
    if (pick < 0) {
      for (int i = 0; i < n; i++)
        if (!done[i]) {
          st = csm_fail(CSM_EINPUT, "graph has a cycle through node '%s'", g->nodes[i].name);
          goto out;
        }
    }
    done[pick] = 1;
    order[count++] = pick;
    for (int i = 0; i < n; i++)
      if (!done[i])
        for (int k = 0; k < g->nodes[i].n_in; k++)
          if (g->nodes[i].in[k] == pick) indeg[i]--;
  }
  for (int i = 0; i < n; i++)
    newpos[order[i]] = i;
  for (int i = 0; i < n; i++) {
    sorted[i] = g->nodes[order[i]];
    for (int k = 0; k < sorted[i].n_in; k++)
      sorted[i].in[k] = newpos[sorted[i].in[k]];
  }
  memcpy(g->nodes, sorted, (size_t)n * sizeof(csm_node));
  for (int i = 0; i < g->n_inputs; i++)
    g->inputs[i] = newpos[g->inputs[i]];
  for (int i = 0; i < g->n_outputs; i++)
    g->outputs[i] = newpos[g->outputs[i]];
out:
  free(indeg);
  free(order);
  free(newpos);
  free(done);
  free(sorted);
  return st;
}

void csm_graph_free(csm_graph *g) {
  if (!g) return;
  for (int i = 0; i < g->n_nodes; i++) {
    free(g->nodes[i].name);
    free(g->nodes[i].in);
    csm_tensor_free(&g->nodes[i].value);
  }
  for (int i = 0; i < g->n_outputs; i++)
    free(g->output_names ? g->output_names[i] : NULL);
  free(g->nodes);
  free(g->inputs);
  free(g->outputs);
  free(g->output_names);
  free(g->input_channels_first);
  free(g->path);
  memset(g, 0, sizeof *g);
}
