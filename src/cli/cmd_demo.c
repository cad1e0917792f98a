/* csm demo: the main job on the built-in sample photos: CIS of every face
 * for gender, expression and age, each task's CMS, the CMS reprojected onto
 * every photo, and the HTML report (what `make demo` runs). */
#include <dirent.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "explain_common.h"

static const char *help =
    "usage: csm demo [-o DIR] [--tasks LIST] [--threads N]\n\n"
    "Runs the main job on the built-in sample photos (data/samples, installed\n"
    "by the set-up; $CSM_SAMPLES_DIR overrides): for each task, 'csm cms' (the\n"
    "CIS of every face and their mean) into DIR/<task>/, 'csm reproject' of the\n"
    "CMS onto every photo into DIR/<task>/reproject/, then 'csm report' into\n"
    "DIR/report.html, with the tasks' CMS side by side in DIR/cms.png. A\n"
    "finished task is not recomputed when run again; a\n"
    "killed one continues where it stopped.\n\n"
    "  -o DIR               output folder (default demo-out)\n"
    "  --tasks LIST         comma-separated tasks (default gender,expression,age)\n"
    "  --threads N          threads (default: all cores)\n";

/* $CSM_SAMPLES_DIR, else data/samples beside the build folder, else
 * ./data/samples. */
static void samples_dir(char *buf, size_t len) {
  const char *env = getenv("CSM_SAMPLES_DIR");
  if (env && *env) {
    snprintf(buf, len, "%s", env);
    return;
  }
  char exe[PATH_MAX - 32];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (slash) {
      *slash = 0;
      snprintf(buf, len, "%s/../data/samples", exe);
      char real[PATH_MAX];
      /* A clean path for the report: build/../data/samples -> data/samples. */
      if (access(buf, R_OK) == 0) {
        if (realpath(buf, real) && strlen(real) < len) snprintf(buf, len, "%s", real);
        return;
      }
    }
  }
  snprintf(buf, len, "data/samples");
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sample photos, sorted: *paths malloc'ed strings. */
static csm_status list_samples(const char *dir, char ***paths, int *n) {
  DIR *d = opendir(dir);
  if (!d)
    return csm_fail(CSM_EIO, "%s: no sample photos (run 'make setup', or set CSM_SAMPLES_DIR)",
                    dir);
  char **p = NULL;
  int count = 0;
  struct dirent *e;
  csm_status st = CSM_OK;
  while (!st && (e = readdir(d))) {
    size_t l = strlen(e->d_name);
    if (l < 5 || (strcmp(e->d_name + l - 4, ".jpg") && strcmp(e->d_name + l - 4, ".png"))) continue;
    char **np = realloc(p, (size_t)(count + 1) * sizeof *np);
    char *s = malloc(strlen(dir) + l + 2);
    if (!np || !s) {
      free(np ? NULL : s);
      if (np) p = np;
      st = csm_fail(CSM_ENOMEM, "out of memory");
      break;
    }
    p = np;
    sprintf(s, "%s/%s", dir, e->d_name);
    p[count++] = s;
  }
  closedir(d);
  if (!st && count == 0) st = csm_fail(CSM_EINPUT, "%s: no .jpg or .png photos", dir);
  if (st) {
    for (int i = 0; i < count; i++)
      free(p[i]);
    free(p);
    return st;
  }
  qsort(p, (size_t)count, sizeof *p, by_name);
  *paths = p;
  *n = count;
  return CSM_OK;
}

/* Adds "reprojections": [{"image", "png"}] to a run folder's run.json, so
 * that the report shows the CMS on the photos. */
static csm_status note_reprojections(const char *tdir, char *const *photos, int n) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/run.json", tdir);
  char *text = NULL;
  size_t len = 0;
  csm_status rst = csm_read_file(path, (size_t)1 << 30, &text, &len);
  if (rst) return rst;
  cJSON *root = cJSON_Parse(text);
  free(text);
  if (!root) return csm_fail(CSM_EINPUT, "%s: not JSON", path);
  cJSON_DeleteItemFromObject(root, "reprojections");
  cJSON *list = cJSON_AddArrayToObject(root, "reprojections");
  for (int i = 0; list && i < n; i++) {
    char stem[1024], rel[1100], full[PATH_MAX + 1200];
    explain_stem(photos[i], stem, sizeof stem);
    snprintf(rel, sizeof rel, "reproject/%s.png", stem);
    snprintf(full, sizeof full, "%s/%s", tdir, rel);
    if (access(full, R_OK) != 0) continue;
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "image", photos[i]);
    cJSON_AddStringToObject(e, "png", rel);
    cJSON_AddItemToArray(list, e);
  }
  char *out = cJSON_Print(root);
  cJSON_Delete(root);
  if (!out) return csm_fail(CSM_ENOMEM, "out of memory");
  csm_status st = csm_write_file_atomic(path, out, strlen(out));
  free(out);
  return st;
}

/* Runs a subcommand in-process with the given arguments. */
static int sub(int (*fn)(int, char **), char **argv) {
  int argc = 0;
  while (argv[argc])
    argc++;
  return fn(argc, argv);
}

int csm_cli_demo(int argc, char **argv) {
  const char *out = "demo-out", *tasks = "gender,expression,age";
  for (int i = 1; i < argc; i++) {
    const char *o = argv[i];
    int common;
    if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
      fputs(help, stdout);
      return CSM_EXIT_OK;
    } else if (!strcmp(o, "-o") && i + 1 < argc) {
      out = argv[++i];
    } else if (!strcmp(o, "--tasks") && i + 1 < argc) {
      tasks = argv[++i];
    } else if ((common = csm_cli_common_option("demo", argc, argv, &i, NULL)) != 0) {
      if (common < 0) return CSM_EXIT_USAGE;
    } else {
      return csm_cli_usage_error("demo", "unexpected argument '%s'", o);
    }
  }
  char task_list[256];
  if (snprintf(task_list, sizeof task_list, "%s", tasks) >= (int)sizeof task_list)
    return csm_cli_usage_error("demo", "--tasks list too long");
  for (char *t = strtok(task_list, ","); t; t = strtok(NULL, ","))
    if (!csm_task_find(t)) return csm_cli_usage_error("demo", "unknown task '%s'", t);
  char dir[PATH_MAX];
  samples_dir(dir, sizeof dir);
  char **photos = NULL;
  int n = 0;
  csm_status st = list_samples(dir, &photos, &n);
  if (!st) st = csm_cli_make_dir(out);
  if (st) return csm_cli_fail(st);
  double t0 = csm_now();
  int rc = CSM_EXIT_OK;
  snprintf(task_list, sizeof task_list, "%s", tasks);
  char **args = calloc((size_t)n + 16, sizeof *args);
  if (!args) rc = csm_cli_fail(csm_fail(CSM_ENOMEM, "out of memory"));
  char *save = NULL;
  for (char *t = strtok_r(task_list, ",", &save); !rc && t; t = strtok_r(NULL, ",", &save)) {
    char tdir[PATH_MAX - 32], rdir[PATH_MAX], cms[PATH_MAX], runjson[PATH_MAX];
    if (snprintf(tdir, sizeof tdir, "%s/%s", out, t) >= (int)sizeof tdir) {
      rc = csm_cli_usage_error("demo", "output folder path too long");
      break;
    }
    snprintf(rdir, sizeof rdir, "%s/reproject", tdir);
    snprintf(cms, sizeof cms, "%s/cms.npy", tdir);
    snprintf(runjson, sizeof runjson, "%s/run.json", tdir);
    fprintf(stderr, "== csm cms --task %s (%d photos) -> %s\n", t, n, tdir);
    int k = 0;
    args[k++] = "cms", args[k++] = "--task", args[k++] = t, args[k++] = "-o", args[k++] = tdir;
    /* An earlier demo's run continues (or, finished, is only rewritten). */
    if (access(runjson, R_OK) == 0) args[k++] = "--resume";
    for (int i = 0; i < n; i++)
      args[k++] = photos[i];
    args[k] = NULL;
    if ((rc = sub(csm_cli_cms, args))) break;
    fprintf(stderr, "== csm reproject --cms %s -> %s\n", cms, rdir);
    k = 0;
    args[k++] = "reproject", args[k++] = "--png-only", args[k++] = "--cms", args[k++] = cms,
    args[k++] = "-o", args[k++] = rdir;
    for (int i = 0; i < n; i++)
      args[k++] = photos[i];
    args[k] = NULL;
    if ((rc = sub(csm_cli_reproject, args))) break;
    csm_status nst = note_reprojections(tdir, photos, n);
    if (nst) rc = csm_cli_fail(nst);
  }
  /* The tasks' CMS side by side: the picture of the run. */
  if (!rc) {
    csm_image imgs[16], row = {0};
    int n_img = 0;
    snprintf(task_list, sizeof task_list, "%s", tasks);
    save = NULL;
    csm_status ist = CSM_OK;
    for (char *t = strtok_r(task_list, ",", &save); !ist && t && n_img < 16;
         t = strtok_r(NULL, ",", &save)) {
      char path[PATH_MAX];
      snprintf(path, sizeof path, "%s/%s/cms.png", out, t);
      ist = csm_image_load(path, &imgs[n_img]);
      if (!ist) n_img++;
    }
    if (!ist) ist = csm_image_hstack(imgs, n_img, 8, &row);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/cms.png", out);
    if (!ist) ist = csm_image_write_png(path, &row);
    for (int i = 0; i < n_img; i++)
      csm_image_free(&imgs[i]);
    csm_image_free(&row);
    if (ist) rc = csm_cli_fail(ist);
  }
  if (!rc) {
    char report[PATH_MAX];
    snprintf(report, sizeof report, "%s/report.html", out);
    fprintf(stderr, "== csm report %s -> %s\n", out, report);
    st = csm_report_html(out, report);
    rc = st ? csm_cli_fail(st) : CSM_EXIT_OK;
  }
  if (!rc) fprintf(stderr, "csm demo: done in %.0f s: open %s/report.html\n", csm_now() - t0, out);
  free(args);
  for (int i = 0; i < n; i++)
    free(photos[i]);
  free(photos);
  return rc;
}
