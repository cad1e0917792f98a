/* The model object, for the nn files that work on it directly (autodiff,
 * randomization) and for tests that build graphs in code. */
#ifndef CSM_NN_MODEL_INTERNAL_H
#define CSM_NN_MODEL_INTERNAL_H

#include "graph.h"
#include "plan.h"

enum { CSM_MODEL_MAX_INPUTS = 8, CSM_MODEL_MAX_WORKERS = 64 };

struct csm_model {
  csm_graph g;
  /* One plan per batch worker (slot 0 also serves unsplit runs), each kept
   * while its input shapes stay the same. */
  csm_plan *plans[CSM_MODEL_MAX_WORKERS];
  /* The keep_all plan of the last freed tape, for the next tape of the same
   * input shapes (autodiff.c), and a counter that every change of the
   * weights (csm_model_drop_plans) advances, so that a tape alive across
   * such a change does not hand back a stale plan. */
  csm_plan *tape_plan;
  uint64_t weights_gen;
  size_t params;
};

/* Wraps a graph built in code (tests, synthetic models): sorts it and takes
 * it over (*g is emptied). */
csm_status csm_model_from_graph(csm_graph *g, csm_model **out);
/* Frees the cached plans and the parked tape plan, and advances
 * weights_gen (after weights changed). */
void csm_model_drop_plans(csm_model *m);

#endif
