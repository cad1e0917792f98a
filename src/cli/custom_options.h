/* The flags that describe a model file as a custom task (--model and its
 * preprocessing and output flags), shared by csm classify and the
 * explaining commands (cis, cms, compare, eval, sanity). */
#ifndef CSM_CLI_CUSTOM_OPTIONS_H
#define CSM_CLI_CUSTOM_OPTIONS_H

#include "cli.h"

typedef struct custom_args {
  const char *model; /* --model PATH (a TF.js model.json or an .onnx file) */
  csm_task_info info;
  char *classes_buf; /* --classes, split in place */
  const char *labels[CSM_TASK_MAX_CLASSES];
  int n_mean, n_std; /* values given to --mean, --std (0, 1 or 3) */
  int gray;          /* --channels gray given */
} custom_args;

/* Defaults: the model's size and channels, RGB in [0, 1], no mean/std,
 * crop 1.4x upright, probabilities. */
void custom_args_init(custom_args *c);
void custom_args_free(custom_args *c);
/* Takes option o with value v (may be NULL): 1 taken (the value used),
 * 0 not ours, -1 usage error printed for `cmd`. */
int custom_option(const char *cmd, const char *o, const char *v, custom_args *c);
/* Checks the combination after parsing (prints a usage error, returns 1). */
int custom_args_check(const char *cmd, custom_args *c);
/* csm_task_load_custom on the flags. */
csm_status custom_task_load(const custom_args *c, csm_task **out);

/* The flags' help lines (a literal, for help texts put together at
 * compile time). */
#define CUSTOM_OPTIONS_HELP                                                                        \
  "  --model PATH         a TF.js model.json or an ONNX .onnx file (channels-first\n"              \
  "                       [N,C,H,W] inputs are fed channels-last, exactly); its input\n"           \
  "                       is the face crop\n"                                                      \
  "  --input-size N       input N x N (default: the model's)\n"                                    \
  "  --channels C         rgb, bgr or gray (default: rgb, or gray for a 1-channel\n"               \
  "                       model)\n"                                                                \
  "  --range LO,HI        input values of black and white (default 0,1)\n"                         \
  "  --mean M[,M,M]       per-channel mean subtracted after --range, in the model's\n"             \
  "                       channel order (default 0)\n"                                             \
  "  --std S[,S,S]        per-channel divisor after --mean (default 1): a channel\n"               \
  "                       value is ((p / 255) (HI - LO) + LO - mean) / std; torchvision\n"         \
  "                       models: --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225\n"              \
  "  --output NAME        output node (default: the first)\n"                                      \
  "  --confidence K       probs (default), softmax (logits in), sigmoid, logit,\n"                 \
  "                       value, embedding (with --task verify or identify)\n"                     \
  "  --crop-scale S       crop side / face box side (default 1.4)\n"                               \
  "  --classes A,B,...    class names (default: 0, 1, ...)\n"
extern const char *custom_options_help;

#endif
