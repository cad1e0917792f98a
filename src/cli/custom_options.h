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

/* The flags as option-table entries (options.h) for the custom_args at
 * `offset` of the command's arguments: declared once for every command
 * that takes a model file. */
struct cli_option;
int custom_take(const char *cmd, const struct cli_option *o, void *args, const char *v);
#define CUSTOM_OPTIONS(offset)                                                                     \
  {"--model",                                                                                      \
   NULL,                                                                                           \
   "PATH",                                                                                         \
   "a TF.js model.json or an ONNX .onnx file (channels-first\n[N,C,H,W] inputs are fed "           \
   "channels-last, exactly); its input\nis the face crop",                                         \
   CLI_CALL,                                                                                       \
   offset,                                                                                         \
   .call = custom_take},                                                                           \
      {"--input-size",     NULL, "N", "input N x N (default: the model's)", CLI_CALL, offset,      \
       .call = custom_take},                                                                       \
      {"--channels",                                                                               \
       NULL,                                                                                       \
       "C",                                                                                        \
       "rgb, bgr or gray (default: rgb, or gray for a 1-channel\nmodel)",                          \
       CLI_CALL,                                                                                   \
       offset,                                                                                     \
       .call = custom_take},                                                                       \
      {"--range",                                                                                  \
       NULL,                                                                                       \
       "LO,HI",                                                                                    \
       "input values of black and white (default 0,1)",                                            \
       CLI_CALL,                                                                                   \
       offset,                                                                                     \
       .call = custom_take},                                                                       \
      {"--mean",                                                                                   \
       NULL,                                                                                       \
       "M[,M,M]",                                                                                  \
       "per-channel mean subtracted after --range, in the model's\nchannel order (default 0)",     \
       CLI_CALL,                                                                                   \
       offset,                                                                                     \
       .call = custom_take},                                                                       \
      {"--std",                                                                                    \
       NULL,                                                                                       \
       "S[,S,S]",                                                                                  \
       "per-channel divisor after --mean (default 1): a channel\nvalue is ((p / 255) (HI - LO) "   \
       "+ LO - mean) / std; torchvision\nmodels: --mean 0.485,0.456,0.406 --std "                  \
       "0.229,0.224,0.225",                                                                        \
       CLI_CALL,                                                                                   \
       offset,                                                                                     \
       .call = custom_take},                                                                       \
      {"--output",         NULL, "NAME", "output node (default: the first)", CLI_CALL, offset,     \
       .call = custom_take},                                                                       \
      {"--confidence",                                                                             \
       NULL,                                                                                       \
       "K",                                                                                        \
       "probs (default), softmax (logits in), sigmoid, logit,\nvalue, embedding (with --task "     \
       "verify or identify)",                                                                      \
       CLI_CALL,                                                                                   \
       offset,                                                                                     \
       .call = custom_take},                                                                       \
      {"--crop-scale",     NULL, "S", "crop side / face box side (default 1.4)", CLI_CALL, offset, \
       .call = custom_take},                                                                       \
  {                                                                                                \
    "--classes", NULL, "A,B,...", "class names (default: 0, 1, ...)", CLI_CALL, offset,            \
        .call = custom_take                                                                        \
  }

#endif
