/* csm: the command-line entry point; one file per subcommand. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void usage(FILE *fp) {
  fprintf(fp,
          "csm %s: Canonical Saliency Maps for face models\n\n"
          "usage: csm [--threads N] [--max-memory SIZE] <command> [options] [inputs...]\n\n"
          "commands:\n"
          "  models   list the installed models (input, outputs, parameters, FLOPs)\n"
          "  infer    run a model on images or a .npy tensor\n"
          "  detect   find faces, their 468-point meshes and head pose\n"
          "  warp     faces frontalized onto the canonical face (correspondence check)\n"
          "  classify gender, expression, age or race of every face\n"
          "  tasks    list the tasks (the model zoo and the explainable confidences)\n"
          "  cis      canonical saliency map of every face (occlusion on the canonical face)\n"
          "  cms      canonical model saliency: the mean CIS over a dataset (resumable)\n"
          "  reproject  a canonical map (e.g. a CMS) drawn onto every face of images\n"
          "  report   a static HTML page from cis/cms output folders\n"
          "  demo     CIS, CMS, reprojections and the report on the built-in photos\n"
          "  compare  every method's map of every face side by side (CIS, CMS, Grad-CAM...)\n"
          "  eval     faithfulness of the methods: Average Drop, %% Increase, Win %%, AUCs\n"
          "  sanity   cascading weight randomization: do the maps depend on the model?\n\n"
          "'csm <command> --help' describes a command. Threads: --threads N or CSM_THREADS\n"
          "(default: all cores). --max-memory SIZE or CSM_MAX_MEMORY (e.g. 4G; default:\n"
          "half the RAM): the most one allocation driven by a file may take; more is\n"
          "refused with exit 2. Exit codes: 0 ok, 1 bad usage, 2 bad input, 3 internal\n"
          "or system failure (out of memory, disk full).\n",
          CSM_VERSION);
}

int main(int argc, char **argv) {
  int threads = 0;
  const char *env = getenv("CSM_THREADS");
  if (env && csm_cli_parse_int(env, &threads)) {
    fprintf(stderr, "csm: CSM_THREADS must be a positive integer, got '%s'\n", env);
    return CSM_EXIT_USAGE;
  }
  int i = 1;
  for (; i < argc && argv[i][0] == '-'; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      usage(stdout);
      return CSM_EXIT_OK;
    } else if (!strcmp(argv[i], "--version")) {
      printf("csm %s\n", CSM_VERSION);
      return CSM_EXIT_OK;
    } else if (!strcmp(argv[i], "--max-memory") && i + 1 < argc) {
      size_t bytes;
      if (csm_parse_bytes(argv[++i], &bytes)) {
        fprintf(stderr, "csm: --max-memory takes a size such as 512M or 4G, not '%s'\n", argv[i]);
        return CSM_EXIT_USAGE;
      }
      csm_set_memory_limit(bytes);
    } else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
      if (csm_cli_parse_int(argv[++i], &threads)) {
        fprintf(stderr, "csm: --threads must be a positive integer\n");
        return CSM_EXIT_USAGE;
      }
    } else {
      fprintf(stderr, "csm: unknown option '%s' (see 'csm --help')\n", argv[i]);
      return CSM_EXIT_USAGE;
    }
  }
  if (i >= argc) {
    fprintf(stderr, "csm: no command given (see 'csm --help')\n");
    return CSM_EXIT_USAGE;
  }
  csm_set_threads(threads);
  const char *cmd = argv[i];
  int sub_argc = argc - i;
  char **sub_argv = argv + i;
  if (!strcmp(cmd, "models")) return csm_cli_models(sub_argc, sub_argv);
  if (!strcmp(cmd, "infer")) return csm_cli_infer(sub_argc, sub_argv);
  if (!strcmp(cmd, "detect")) return csm_cli_detect(sub_argc, sub_argv);
  if (!strcmp(cmd, "warp")) return csm_cli_warp(sub_argc, sub_argv);
  if (!strcmp(cmd, "canon-build")) return csm_cli_canon_build(sub_argc, sub_argv);
  if (!strcmp(cmd, "classify")) return csm_cli_classify(sub_argc, sub_argv);
  if (!strcmp(cmd, "tasks")) return csm_cli_tasks(sub_argc, sub_argv);
  if (!strcmp(cmd, "cis")) return csm_cli_cis(sub_argc, sub_argv);
  if (!strcmp(cmd, "cms")) return csm_cli_cms(sub_argc, sub_argv);
  if (!strcmp(cmd, "reproject")) return csm_cli_reproject(sub_argc, sub_argv);
  if (!strcmp(cmd, "report")) return csm_cli_report(sub_argc, sub_argv);
  if (!strcmp(cmd, "demo")) return csm_cli_demo(sub_argc, sub_argv);
  if (!strcmp(cmd, "compare")) return csm_cli_compare(sub_argc, sub_argv);
  if (!strcmp(cmd, "eval")) return csm_cli_eval(sub_argc, sub_argv);
  if (!strcmp(cmd, "sanity")) return csm_cli_sanity(sub_argc, sub_argv);
  fprintf(stderr, "csm: unknown command '%s' (see 'csm --help')\n", cmd);
  return CSM_EXIT_USAGE;
}
