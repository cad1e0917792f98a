/* The task struct and helpers shared by the task sources (private). */
#ifndef CSM_TASK_PRIVATE_H
#define CSM_TASK_PRIVATE_H

#include "csm/task.h"

struct csm_task {
  const csm_task_info *info; /* a zoo entry, or &own for a custom task */
  csm_model *model;
  int output;   /* index of the task's output among the model's */
  size_t n_out; /* output values per input */
  int batch1;   /* the model's input batch is fixed at 1: run inputs one by one */
  /* The model's input as its file declares it (before any switch to
   * channels-last), for messages; channels_first: it was [N, C, H, W]. */
  csm_shape declared;
  int channels_first;
  /* Custom tasks: the task's own copy of the caller's info. */
  csm_task_info own;
  char *own_strings;   /* name, model, output, description, labels */
  const char **labels; /* n_classes pointers into own_strings */
};

/* Loads the model at path into t (t->info set) and checks its input against
 * the info; finds the output (NULL name: the first) and sets n_out:
 * csm_task_open_model, then csm_task_check_model. */
csm_status csm_task_attach_model(csm_task *t, const char *path, const char *output);
/* Loads the model into t->model, records its declared input and switches
 * a channels-first input to channels-last. */
csm_status csm_task_open_model(csm_task *t, const char *path);
/* The checks of csm_task_attach_model on the opened model. */
csm_status csm_task_check_model(csm_task *t, const char *path, const char *output);

/* Output values the task's kind expects per input; 0: any (embeddings). */
size_t csm_task_expected_numel(const csm_task_info *info);

/* CSM_TASK_POSE: 468 x 3 crop-pixel landmarks -> the 9 bin scores. */
/* Fills the scorer's white-box fields (model, node, raw_numel) for task t. */
void csm_task_scorer_white_box(csm_task *t, csm_scorer *out);

csm_status csm_pose_scores(const csm_task_info *info, const float *raw, size_t n_out,
                           csm_task_result *out);

#endif
