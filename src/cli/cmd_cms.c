/* csm cms: the Canonical Model Saliency map of a task over a dataset: the
 * per-pixel mean of every face's CIS, checkpointed after every image. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cms_pool.h"
#include "explain_common.h"

static const char *help_head =
    "usage: csm cms --task TASK (IMAGE... | --list FILE) -o DIR [options]\n"
    "       csm cms --task verify (IMAGE1 IMAGE2 ... | --list PAIRS) -o DIR [options]\n\n"
    "The CIS map of every face (as 'csm cis') averaged per canonical pixel over\n"
    "the faces where that pixel was visible (DESIGN.md step 4). Writes to DIR:\n"
    "cms.npy, cms.png, count.npy (faces per pixel), stderr.npy (standard error\n"
    "of the mean), stability.csv (correlation of the running CMS after 1, 2, 5,\n"
    "10, 20, 50, ... images with the final one), failures.csv (inputs without a\n"
    "map, and why), the per-face CIS files unless --no-cis, and run.json.\n\n"
    "  --list FILE          inputs, one per line (# comments, blank lines ok): IMAGE;\n"
    "                       IMAGE IDENTITY for identify; IMAGE1 IMAGE2 [same|different]\n"
    "                       for verify\n"
    "  --resume             continue the run in DIR (same images and options)\n"
    "  --no-cis             do not write per-face CIS files\n"
    "  --jobs N             images computed at once, each job with its own models and\n"
    "                       threads/N threads (default 1); the results do not depend on N\n";

static const char *help_tail =
    "\nA checkpoint is written after every image: a killed run continues with\n"
    "--resume and ends with the same bits as an uninterrupted one. Images that\n"
    "cannot be read or hold no face are listed in failures.csv, not dropped.\n";

typedef struct cms_args {
  explain_args e;
  const char **images; /* positional */
  int n_pos, resume, no_cis, jobs;
  const char *list;
  char *list_buf;
  explain_input *in; /* the run's inputs: images, or pairs for verify */
  int n_images;
} cms_args;

static int parse(int argc, char **argv, cms_args *a) {
  explain_args_init(&a->e);
  a->images = calloc((size_t)argc, sizeof *a->images);
  if (!a->images) return csm_cli_fail(csm_fail(CSM_ENOMEM, "out of memory"));
  for (int i = 1; i < argc; i++) {
    const char *o = argv[i];
    if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
      fputs(help_head, stdout);
      explain_options_print_help(stdout);
      fputs(help_tail, stdout);
      exit(CSM_EXIT_OK);
    }
    int r = explain_option("cms", argc, argv, &i, &a->e);
    if (r < 0) return CSM_EXIT_USAGE;
    if (r) continue;
    if (!strcmp(o, "--resume")) {
      a->resume = 1;
    } else if (!strcmp(o, "--no-cis")) {
      a->no_cis = 1;
    } else if (!strcmp(o, "--jobs") && i + 1 < argc) {
      if (csm_cli_parse_int(argv[++i], &a->jobs) || a->jobs > 64)
        return csm_cli_usage_error("cms", "--jobs takes an integer in 1..64");
    } else if (!strcmp(o, "--list") && i + 1 < argc) {
      a->list = argv[++i];
    } else if (o[0] == '-' && o[1]) {
      return csm_cli_usage_error("cms", "unknown option '%s' (or missing value)", o);
    } else {
      a->images[a->n_pos++] = o;
    }
  }
  if (explain_args_check("cms", &a->e)) return CSM_EXIT_USAGE;
  if (!a->n_pos && !a->list)
    return csm_cli_usage_error("cms", "no images given (IMAGE... or --list)");
  csm_status st =
      explain_inputs(&a->e, a->images, a->n_pos, a->list, &a->in, &a->n_images, &a->list_buf);
  if (st) return csm_cli_fail(st);
  return CSM_EXIT_OK;
}

/* ---- The run's state: what run.json records --------------------------------- */

typedef struct run_state {
  int done;    /* inputs finished, in order */
  char *faces; /* the faces' JSON objects, comma-separated */
  size_t faces_len;
  char *failures; /* JSON objects */
  size_t failures_len;
  int n_faces, n_failures;
  double seconds; /* spent in earlier sessions */
  char *params;   /* the parameters object, to check a resume against */
} run_state;

static void state_free(run_state *s) {
  free(s->faces);
  free(s->failures);
  free(s->params);
  memset(s, 0, sizeof *s);
}

static csm_status append(char **buf, size_t *len, const char *text) {
  size_t n = strlen(text);
  char *nb = realloc(*buf, *len + n + 3);
  if (!nb) return csm_fail(CSM_ENOMEM, "out of memory");
  if (*len) nb[(*len)++] = ',', nb[(*len)++] = '\n';
  memcpy(nb + *len, text, n + 1);
  *len += n;
  *buf = nb;
  return CSM_OK;
}

static char *params_json(const cms_args *a, int size) {
  char *buf = NULL;
  size_t len = 0;
  FILE *fp = open_memstream(&buf, &len);
  if (!fp) return NULL;
  fprintf(fp, "{\"task\": ");
  csm_json_string(fp, a->e.task);
  fprintf(fp, ", \"class\": ");
  if (a->e.cls)
    csm_json_string(fp, a->e.cls);
  else
    fprintf(fp, "null");
  /* The inputs themselves, by a hash of their paths in order. */
  uint64_t h = 1469598103934665603ULL;
  for (int i = 0; i < a->n_images; i++) {
    const explain_input *in = &a->in[i];
    const char *parts[3] = {in->path, in->path2 ? in->path2 : "", in->identity ? in->identity : ""};
    for (int k = 0; k < 3; k++)
      for (const char *c = parts[k];; c++) {
        h = (h ^ (unsigned char)*c) * 1099511628211ULL;
        if (!*c) break;
      }
    h = (h ^ (unsigned char)(in->truth + 2)) * 1099511628211ULL;
  }
  fprintf(fp, ", \"images\": %d, \"inputs_fnv1a\": \"%016llx\", \"parameters\": ", a->n_images,
          (unsigned long long)h);
  explain_write_parameters(fp, &a->e, size);
  fprintf(fp, "}");
  fclose(fp);
  return buf;
}

static csm_status checkpoint_path(const char *dir, int done, char *buf, size_t len) {
  if (snprintf(buf, len, "%s/checkpoint-%06d.cms", dir, done) >= (int)len)
    return csm_fail(CSM_EUSAGE, "output folder path too long: %s", dir);
  return CSM_OK;
}

/* run.json, whole: rewritten after every image, so that it always matches
 * the checkpoint it names. */
static csm_status write_run_json(const cms_args *a, const explain_ctx *x, const run_state *s,
                                 double seconds, int complete, const csm_cms *cms) {
  char *buf = NULL;
  size_t len = 0;
  FILE *fp = open_memstream(&buf, &len);
  if (!fp) return csm_fail(CSM_ENOMEM, "out of memory");
  fprintf(fp, "{\"csm_version\": \"%s\", \"command\": \"cms\", \"task\": ", CSM_VERSION);
  csm_json_string(fp, a->e.task);
  fprintf(fp, ", \"model\": ");
  csm_json_string(fp, csm_model_path(csm_task_model(x->task)));
  fprintf(fp, ", \"class\": ");
  if (a->e.cls)
    csm_json_string(fp, a->e.cls);
  else
    fprintf(fp, "null");
  fprintf(fp, ",\n \"parameters\": ");
  explain_write_parameters(fp, &a->e, x->size);
  fprintf(fp, ",\n \"canonical_png\": %s,", x->background.rgb ? "\"canonical.png\"" : "null");
  fprintf(fp,
          "\n \"resume\": {\"key\": %s, \"done\": %d, \"inputs\": %d, \"checkpoint\": ", s->params,
          s->done, a->n_images);
  char ck[PATH_MAX];
  snprintf(ck, sizeof ck, "checkpoint-%06d.cms", s->done);
  csm_json_string(fp, ck);
  fprintf(fp, ", \"complete\": %s},", complete ? "true" : "false");
  fprintf(fp, "\n \"faces\": [%s%s%s],", s->faces_len ? "\n  " : "", s->faces ? s->faces : "",
          s->faces_len ? "\n " : "");
  fprintf(fp, "\n \"failures\": [%s%s%s],", s->failures_len ? "\n  " : "",
          s->failures ? s->failures : "", s->failures_len ? "\n " : "");
  if (complete)
    fprintf(fp,
            "\n \"cms\": {\"images\": %d, \"faces\": %d, \"npy\": \"cms.npy\", \"png\": "
            "\"cms.png\", \"count\": \"count.npy\", \"stderr\": \"stderr.npy\", "
            "\"stability\": \"stability.csv\", \"failures\": \"failures.csv\"},",
            a->n_images, csm_cms_images(cms));
  fprintf(fp, "\n \"seconds\": %.3f\n}\n", seconds);
  fclose(fp);
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/run.json", a->e.out_dir);
  csm_status st = csm_write_file_atomic(path, buf, len);
  free(buf);
  return st;
}

/* Reads DIR/run.json and the checkpoint it names, for --resume. */
static csm_status load_state(const cms_args *a, run_state *s, csm_cms **cms) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/run.json", a->e.out_dir);
  char *text = NULL;
  size_t n = 0;
  csm_status rst = csm_read_file(path, (size_t)1 << 30, &text, &n);
  if (rst) return csm_fail_context(rst, "--resume: ");
  cJSON *root = cJSON_Parse(text);
  free(text);
  csm_status st = CSM_OK;
  cJSON *resume = cJSON_GetObjectItem(root, "resume");
  cJSON *key = cJSON_GetObjectItem(resume, "key");
  cJSON *done = cJSON_GetObjectItem(resume, "done");
  cJSON *faces = cJSON_GetObjectItem(root, "faces");
  cJSON *fails = cJSON_GetObjectItem(root, "failures");
  cJSON *secs = cJSON_GetObjectItem(root, "seconds");
  if (!root || !cJSON_IsObject(key) || !cJSON_IsNumber(done) || !cJSON_IsArray(faces) ||
      !cJSON_IsArray(fails)) {
    cJSON_Delete(root);
    return csm_fail(CSM_EINPUT, "--resume: %s is not a csm cms run", path);
  }
  char *have = cJSON_PrintUnformatted(key);
  cJSON *want_json = cJSON_Parse(s->params);
  char *want = cJSON_PrintUnformatted(want_json);
  if (!have || !want || strcmp(have, want))
    st = csm_fail(CSM_EUSAGE,
                  "--resume: %s was made with other images or options (%s); use a new folder", path,
                  have ? have : "?");
  free(have);
  free(want);
  cJSON_Delete(want_json);
  s->done = done->valueint;
  if (!st && (s->done < 0 || s->done > a->n_images))
    st = csm_fail(CSM_EINPUT, "--resume: %s: done = %d of %d inputs", path, s->done, a->n_images);
  cJSON *it;
  cJSON_ArrayForEach(it, faces) {
    if (st) break;
    char *t = cJSON_PrintUnformatted(it);
    st = t ? append(&s->faces, &s->faces_len, t) : csm_fail(CSM_ENOMEM, "out of memory");
    free(t);
    s->n_faces++;
  }
  cJSON_ArrayForEach(it, fails) {
    if (st) break;
    char *t = cJSON_PrintUnformatted(it);
    st = t ? append(&s->failures, &s->failures_len, t) : csm_fail(CSM_ENOMEM, "out of memory");
    free(t);
    s->n_failures++;
  }
  s->seconds = cJSON_IsNumber(secs) ? secs->valuedouble : 0;
  cJSON_Delete(root);
  if (st) return st;
  char ck[PATH_MAX];
  if ((st = checkpoint_path(a->e.out_dir, s->done, ck, sizeof ck))) return st;
  if (s->done == 0 && access(ck, R_OK) != 0) return CSM_OK; /* killed before the first image */
  return csm_cms_load(ck, cms);
}

/* ---- Final files ------------------------------------------------------------ */

static csm_status write_results(const cms_args *a, const explain_ctx *x, const csm_cms *cms,
                                const run_state *s, const char *const *reasons_csv) {
  (void)reasons_csv;
  int w = csm_cms_width(cms), h = csm_cms_height(cms);
  size_t npx = (size_t)w * h;
  float *mean = csm_malloc_array(npx, sizeof(float)), *count = csm_malloc_array(npx, sizeof(float));
  float *se = csm_malloc_array(npx, sizeof(float));
  char path[PATH_MAX];
  csm_status st = mean && count && se ? CSM_OK : CSM_ENOMEM;
  const char *dir = a->e.out_dir;
  if (!st) {
    csm_cms_result(cms, mean, count, se);
    snprintf(path, sizeof path, "%s/cms.npy", dir);
    st = explain_write_npy(path, mean, w, h);
  }
  if (!st) {
    snprintf(path, sizeof path, "%s/count.npy", dir);
    st = explain_write_npy(path, count, w, h);
  }
  if (!st) {
    snprintf(path, sizeof path, "%s/stderr.npy", dir);
    st = explain_write_npy(path, se, w, h);
  }
  if (!st) {
    unsigned char *valid = csm_malloc(npx);
    csm_image img = {0};
    if (!valid) st = CSM_ENOMEM;
    for (size_t p = 0; !st && p < npx; p++)
      valid[p] = count[p] > 0;
    char title[128];
    snprintf(title, sizeof title, "CMS %s%s%s, %d faces", a->e.task, a->e.cls ? " " : "",
             a->e.cls ? a->e.cls : "", csm_cms_images(cms));
    csm_map_style style = csm_map_style_default();
    style.title = title;
    if (!st)
      st = csm_map_render(mean, valid, w, h, x->background.rgb ? &x->background : NULL, &style,
                          &img);
    snprintf(path, sizeof path, "%s/cms.png", dir);
    if (!st) st = csm_image_write_png(path, &img);
    csm_image_free(&img);
    free(valid);
  }
  /* stability.csv */
  if (!st) {
    int imgs[64];
    double corr[64];
    int n = csm_cms_stability(cms, imgs, corr, 64);
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    if (!fp) st = csm_fail(CSM_ENOMEM, "out of memory");
    if (fp) {
      fprintf(fp, "images,correlation\n");
      for (int k = 0; k < n; k++)
        fprintf(fp, "%d,%.6f\n", imgs[k], corr[k]);
      fclose(fp);
      snprintf(path, sizeof path, "%s/stability.csv", dir);
      st = csm_write_file_atomic(path, buf, len);
    }
    free(buf);
  }
  /* failures.csv, from the failures' JSON. */
  if (!st) {
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    if (!fp) st = csm_fail(CSM_ENOMEM, "out of memory");
    if (fp) {
      fprintf(fp, "image,reason\n");
      size_t alen = s->failures_len + 3;
      char *arr = malloc(alen);
      if (arr) snprintf(arr, alen, "[%s]", s->failures ? s->failures : "");
      cJSON *root = arr ? cJSON_Parse(arr) : NULL, *it;
      cJSON_ArrayForEach(it, root) {
        const char *fields[2] = {cJSON_GetStringValue(cJSON_GetObjectItem(it, "image")),
                                 cJSON_GetStringValue(cJSON_GetObjectItem(it, "reason"))};
        for (int f = 0; f < 2; f++) {
          /* CSV quoting: every field quoted, quotes doubled. */
          fputc('"', fp);
          for (const char *c = fields[f] ? fields[f] : ""; *c; c++) {
            if (*c == '"') fputc('"', fp);
            fputc(*c == '\n' ? ' ' : *c, fp);
          }
          fputc('"', fp);
          fputc(f ? '\n' : ',', fp);
        }
      }
      cJSON_Delete(root);
      free(arr);
      fclose(fp);
      snprintf(path, sizeof path, "%s/failures.csv", dir);
      st = csm_write_file_atomic(path, buf, len);
    }
    free(buf);
  }
  free(mean);
  free(count);
  free(se);
  return st;
}

/* ---- The run ---------------------------------------------------------------- */

static csm_status add_failure(run_state *s, const char *image, const char *reason) {
  char *buf = NULL;
  size_t len = 0;
  FILE *fp = open_memstream(&buf, &len);
  if (!fp) return csm_fail(CSM_ENOMEM, "out of memory");
  fprintf(fp, "{\"image\": ");
  csm_json_string(fp, image);
  fprintf(fp, ", \"reason\": ");
  csm_json_string(fp, reason);
  fprintf(fp, "}");
  fclose(fp);
  csm_status st = append(&s->failures, &s->failures_len, buf);
  free(buf);
  s->n_failures++;
  return st;
}

/* Failures that concern the input (unreadable, no face, bad mesh file) are
 * recorded and the run goes on; others (out of memory, write errors) stop
 * it, and --resume picks up from the last checkpoint. */
static int is_input_fault(csm_status st) { return st == CSM_EINPUT || st == CSM_EIO; }

/* One image's faces into the CMS and the files, in input order. */
static csm_status consume(cms_args *a, explain_ctx *x, csm_cms *cms, run_state *s, int i,
                          const char *stem, image_result *r) {
  csm_status st = CSM_OK;
  if (r->st) {
    if (!is_input_fault(r->st)) return csm_fail(r->st, "%s", r->error ? r->error : "failed");
    return add_failure(s, a->in[i].path, r->error ? r->error : "failed");
  }
  if (r->n == 0) st = add_failure(s, a->in[i].path, "no face found");
  for (int k = 0; !st && k < r->n; k++) {
    st = csm_cms_add(cms, &r->faces[k].cis);
    if (st) break;
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    if (!fp) {
      st = csm_fail(CSM_ENOMEM, "out of memory");
      break;
    }
    st = explain_write_face(x, &a->e, a->no_cis ? NULL : a->e.out_dir, &a->in[i], stem,
                            &r->faces[k], fp);
    fclose(fp);
    if (!st) st = append(&s->faces, &s->faces_len, buf);
    free(buf);
    s->n_faces++;
  }
  return st;
}

static void result_free(image_result *r) {
  for (int k = 0; k < r->n; k++)
    face_cis_free(&r->faces[k]);
  free(r->faces);
  free(r->error);
  memset(r, 0, sizeof *r);
}

static csm_status run(cms_args *a) {
  double t0 = csm_now();
  explain_ctx x;
  memset(&x, 0, sizeof x);
  run_state s;
  memset(&s, 0, sizeof s);
  csm_cms *cms = NULL;
  char **stems = explain_stems(a->in, a->n_images);
  csm_status st = stems ? CSM_OK : csm_fail(CSM_ENOMEM, "out of memory");
  if (!st) st = csm_cli_make_dir(a->e.out_dir);
  if (!st) st = explain_open(&a->e, &x);
  if (!st && !(s.params = params_json(a, x.size))) st = csm_fail(CSM_ENOMEM, "out of memory");
  if (!st && a->resume) st = load_state(a, &s, &cms);
  if (!st && !cms) st = csm_cms_create(x.size, x.size, &cms);
  if (!st) st = explain_write_canonical(&x, a->e.out_dir);
  if (!st && !a->resume) {
    /* A fresh run in a folder that holds one would mix the two. */
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/run.json", a->e.out_dir);
    if (access(path, F_OK) == 0)
      st = csm_fail(CSM_EUSAGE, "%s exists: continue it with --resume or use a new folder", path);
  }
  explain_progress pr = {"csm cms", 0, a->n_images, 0, 0, t0, 0, 0, explain_progress_wanted(&a->e)};
  int start = s.done;
  cms_pool *pool = NULL;
  int threads = csm_threads();
  if (!st && a->jobs > 1 && start < a->n_images)
    st = cms_pool_start(&a->e, a->in, start, a->n_images, a->jobs, &pool);
  for (int i = start; !st && i < a->n_images; i++) {
    pr.image = i + 1;
    pr.faces_total_estimate = pr.faces_done + (a->n_images - i);
    image_result r;
    memset(&r, 0, sizeof r);
    if (pool) {
      cms_pool_take(pool, i, &r);
      pr.faces_done += r.n;
      if (pr.enabled) {
        double el = csm_now() - t0, rate = el > 0 ? pr.faces_done / el : 0;
        double left = rate > 0 ? (a->n_images - i - 1) * (el / (i + 1 - start)) : 0;
        fprintf(stderr, "\rcsm cms: %d/%d images, %d faces | %.2f faces/s, ETA %d:%02d   ", i + 1,
                a->n_images, pr.faces_done, rate, (int)(left / 60), (int)left % 60);
      }
    } else {
      r.st = explain_input_run(&x, &a->e, &a->in[i], &pr, &r.faces, &r.n);
      if (r.st) r.error = strdup(csm_last_error());
    }
    st = consume(a, &x, cms, &s, i, stems[i], &r);
    result_free(&r);
    if (st) break;
    /* Checkpoint: the new state first, then run.json naming it, then the
     * old state goes; a kill at any point leaves a consistent pair. */
    char ck[PATH_MAX], old[PATH_MAX];
    s.done = i + 1;
    if ((st = checkpoint_path(a->e.out_dir, s.done, ck, sizeof ck))) break;
    if ((st = csm_cms_save(cms, ck))) break;
    if ((st = write_run_json(a, &x, &s, s.seconds + csm_now() - t0, 0, cms))) break;
    if (!checkpoint_path(a->e.out_dir, i, old, sizeof old)) unlink(old);
  }
  cms_pool_stop(pool);
  csm_set_threads(threads);
  if (pr.enabled) fprintf(stderr, "\n");
  if (!st && csm_cms_images(cms) == 0)
    st = csm_fail(CSM_EINPUT, "no face in any of the %d images: no CMS (see %s/run.json)",
                  a->n_images, a->e.out_dir);
  if (!st) st = write_results(a, &x, cms, &s, NULL);
  if (!st) st = write_run_json(a, &x, &s, s.seconds + csm_now() - t0, 1, cms);
  if (!st)
    fprintf(stderr, "csm cms: %d faces from %d images (%d failed) in %.1f s -> %s\n",
            csm_cms_images(cms), a->n_images, s.n_failures, s.seconds + csm_now() - t0,
            a->e.out_dir);
  csm_cms_free(cms);
  state_free(&s);
  explain_stems_free(stems, a->n_images);
  explain_close(&x);
  return st;
}

int csm_cli_cms(int argc, char **argv) {
  cms_args a;
  memset(&a, 0, sizeof a);
  int rc = parse(argc, argv, &a);
  if (!rc) {
    csm_status st = run(&a);
    rc = st ? csm_cli_fail(st) : CSM_EXIT_OK;
  }
  free(a.images);
  free(a.in);
  free(a.list_buf);
  custom_args_free(&a.e.custom);
  return rc;
}
