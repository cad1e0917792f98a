/* Execution plans: a graph specialized to concrete input shapes.
 *
 * Planning infers every shape, folds constant sub-graphs (including Shape of
 * known shapes, which is how models compute reshape targets from the batch
 * size), drops nodes that no output needs, and assigns each run-time value an
 * offset in one arena by liveness, so a run allocates nothing. */
#ifndef CSM_NN_PLAN_H
#define CSM_NN_PLAN_H

#include "graph.h"

typedef struct csm_plan csm_plan;

typedef struct csm_plan_options {
  /* Keep every value alive to the end of the run (for inspection of
   * intermediate layers); costs memory. */
  int keep_all;
  /* Infer shapes and fold constants only: no arena, cannot be run. */
  int shapes_only;
} csm_plan_options;

/* input_shapes: one per graph input, fully concrete. */
csm_status csm_plan_create(const csm_graph *g, const csm_shape *input_shapes,
                           const csm_plan_options *opt, csm_plan **out);
void csm_plan_free(csm_plan *p);

/* Runs the plan; inputs must match the planned shapes and be finite. */
csm_status csm_plan_run(csm_plan *p, const csm_tensor *inputs);

/* The value of node i after planning (shape, dtype) and after a run (data;
 * valid for outputs, constants, and every node when keep_all). */
const csm_tensor *csm_plan_value(const csm_plan *p, int node);
bool csm_plan_input_shapes_equal(const csm_plan *p, const csm_shape *shapes);
/* Nodes computed at run time, in execution order (*n of them). */
const int *csm_plan_steps(const csm_plan *p, int *n);
/* 1 if node is computed at run time (not a constant, not folded, needed). */
bool csm_plan_is_runtime(const csm_plan *p, int node);
double csm_plan_flops(const csm_plan *p);
size_t csm_plan_arena_bytes(const csm_plan *p);

#endif
