/* csm cis: the Canonical Image Saliency map of every face in the images. */
#include <stdlib.h>
#include <string.h>

#include "explain_common.h"

static const char *help_head =
    "usage: csm cis --task TASK IMAGE... -o DIR [options]\n"
    "       csm cis --task verify IMAGE1 IMAGE2 [IMAGE1 IMAGE2 ...] -o DIR [options]\n\n"
    "Occludes every face at each occlusion centre of the canonical face, records\n"
    "the drop of the task's confidence and writes it onto the canonical face\n"
    "with density normalization (DESIGN.md, steps 1-3). Per face (k from 1,\n"
    "largest first): DIR/<stem>_face<k>.npy (canonical map, float32, 0 where\n"
    "never covered) and .png (over the canonical face, with a colour bar),\n"
    "<stem>_face<k>_input.npy/.png (the raw occlusion map in the model's input\n"
    "crop), DIR/canonical.png and DIR/run.json (docs/formats.md).\n\n";

static const char *help_tail =
    "\nEvery image is processed before any file is written: an image that cannot\n"
    "be read or holds no face is a one-line error (exit 2) and nothing is written.\n";

int csm_cli_cis(int argc, char **argv) {
  explain_args a;
  explain_args_init(&a);
  const char **images = calloc((size_t)argc, sizeof *images);
  if (!images) return csm_cli_fail(csm_fail(CSM_ENOMEM, "out of memory"));
  int n_images = 0;
  for (int i = 1; i < argc; i++) {
    const char *o = argv[i];
    if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
      fputs(help_head, stdout);
      explain_options_print_help(stdout);
      fputs(help_tail, stdout);
      free(images);
      return CSM_EXIT_OK;
    }
    int r = explain_option("cis", argc, argv, &i, &a);
    if (r < 0) {
      free(images);
      return CSM_EXIT_USAGE;
    }
    if (r) continue;
    if (o[0] == '-' && o[1]) {
      free(images);
      return csm_cli_usage_error("cis", "unknown option '%s' (or missing value)", o);
    }
    images[n_images++] = o;
  }
  if (!n_images) {
    free(images);
    return csm_cli_usage_error("cis", "no images given");
  }
  if (explain_args_check("cis", &a)) {
    free(images);
    return CSM_EXIT_USAGE;
  }
  double t0 = csm_now();
  explain_ctx x;
  memset(&x, 0, sizeof x);
  explain_input *in = NULL;
  char *list_buf = NULL;
  int n_in = 0;
  csm_status st = explain_inputs(&a, images, n_images, NULL, &in, &n_in, &list_buf);
  if (st) {
    free(images);
    return csm_cli_fail(st);
  }
  n_images = n_in; /* inputs from here on: images, or pairs for verify */
  face_cis **faces = calloc((size_t)n_images, sizeof *faces);
  int *n_faces = calloc((size_t)n_images, sizeof *n_faces);
  char **stems = explain_stems(in, n_images);
  st = faces && n_faces && stems ? CSM_OK : csm_fail(CSM_ENOMEM, "out of memory");
  if (!st) st = explain_open(&a, &x);
  explain_progress pr = {"csm cis", 0, n_images, 0, 0, t0, 0, 0, explain_progress_wanted(&a)};
  for (int i = 0; !st && i < n_images; i++) {
    pr.image = i + 1;
    /* Until an image has been seen, guess one face per image. */
    pr.faces_total_estimate = pr.faces_done + (n_images - i);
    st = explain_input_run(&x, &a, &in[i], &pr, &faces[i], &n_faces[i]);
    if (!st && n_faces[i] == 0) st = csm_fail(CSM_EINPUT, "%s: no face found", in[i].path);
  }
  if (pr.enabled) fprintf(stderr, "\n");
  /* Everything computed: now the files. */
  char *json = NULL;
  size_t json_len = 0;
  FILE *fp = NULL;
  if (!st) st = csm_cli_make_dir(a.out_dir);
  if (!st) st = explain_write_canonical(&x, a.out_dir);
  if (!st && !(fp = open_memstream(&json, &json_len))) st = csm_fail(CSM_ENOMEM, "out of memory");
  if (!st) {
    fprintf(fp, "{\"csm_version\": \"%s\", \"command\": \"cis\", \"task\": ", CSM_VERSION);
    csm_json_string(fp, a.task);
    fprintf(fp, ", \"model\": ");
    csm_json_string(fp, csm_model_path(csm_task_model(x.task)));
    fprintf(fp, ", \"class\": ");
    if (a.cls)
      csm_json_string(fp, a.cls);
    else
      fprintf(fp, "null");
    fprintf(fp, ",\n \"parameters\": ");
    explain_write_parameters(fp, &a, x.size);
    fprintf(fp, ",\n \"canonical_png\": %s,\n \"faces\": [",
            x.background.rgb ? "\"canonical.png\"" : "null");
  }
  int first = 1;
  for (int i = 0; !st && i < n_images; i++)
    for (int k = 0; !st && k < n_faces[i]; k++) {
      fprintf(fp, "%s\n  ", first ? "" : ",");
      first = 0;
      st = explain_write_face(&x, &a, a.out_dir, &in[i], stems[i], &faces[i][k], fp);
    }
  if (fp) {
    fprintf(fp, "\n ],\n \"failures\": [],\n \"seconds\": %.3f\n}\n", csm_now() - t0);
    fclose(fp);
  }
  if (!st) {
    char path[4096];
    snprintf(path, sizeof path, "%s/run.json", a.out_dir);
    st = csm_write_file_atomic(path, json, json_len);
  }
  if (!st) {
    int total = 0;
    for (int i = 0; i < n_images; i++)
      total += n_faces[i];
    fprintf(stderr, "csm cis: %d face%s in %.1f s -> %s\n", total, total == 1 ? "" : "s",
            csm_now() - t0, a.out_dir);
  }
  free(json);
  for (int i = 0; faces && i < n_images; i++) {
    for (int k = 0; k < n_faces[i]; k++)
      face_cis_free(&faces[i][k]);
    free(faces[i]);
  }
  free(faces);
  free(n_faces);
  explain_stems_free(stems, n_images);
  explain_close(&x);
  free(in);
  free(list_buf);
  custom_args_free(&a.custom);
  free(images);
  return st ? csm_cli_fail(st) : CSM_EXIT_OK;
}
