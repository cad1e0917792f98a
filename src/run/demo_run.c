/* csm demo as a library call: the main job on a folder of sample photos.
 * For each task the CMS run (csm_cms_run, resumed when an earlier demo left
 * its run.json), the CMS reprojected onto every photo
 * (csm_reproject_run), the reprojections noted in run.json for the report;
 * then the tasks' CMS side by side and the HTML report. */
#include <dirent.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run_internal.h"

/* The task list is copied to split it: longer lists are refused. */
#define TASK_LIST_MAX 256
/* Tasks drawn side by side in cms.png (more would make a picture too wide
 * to look at; the report still shows every task). */
#define SIDE_BY_SIDE_MAX 16

void csm_demo_options_init(csm_demo_options *o) {
  memset(o, 0, sizeof *o);
  o->samples_dir = "data/samples";
  o->out_dir = "demo-out";
  o->tasks = "gender,expression,age";
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_list(char **p, int n) {
  for (int i = 0; i < n; i++)
    free(p[i]);
  free(p);
}

/* The sample photos (.jpg, .png), sorted by name: the same order, inputs
 * and resume key on every machine. *paths malloc'ed strings. */
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
    if (np) p = np;
    if (!np || !s) {
      free(s);
      st = csm_fail(CSM_ENOMEM, "out of memory");
      break;
    }
    sprintf(s, "%s/%s", dir, e->d_name);
    p[count++] = s;
  }
  closedir(d);
  if (!st && count == 0) st = csm_fail(CSM_EINPUT, "%s: no .jpg or .png photos", dir);
  if (st) {
    free_list(p, count);
    return st;
  }
  qsort(p, (size_t)count, sizeof *p, by_name);
  *paths = p;
  *n = count;
  return CSM_OK;
}

static void stage(const csm_demo_options *o, csm_demo_stage *s) {
  if (o->stage) o->stage(o->stage_ctx, s);
}

/* One task: its CMS over the photos into out/<task>, the CMS reprojected
 * onto them into out/<task>/reproject, and run.json told about those. */
static csm_status one_task(const csm_demo_options *o, const char *task, char **photos, int n) {
  char tdir[PATH_MAX - 32], rdir[PATH_MAX], cms[PATH_MAX], runjson[PATH_MAX];
  if (snprintf(tdir, sizeof tdir, "%s/%s", o->out_dir, task) >= (int)sizeof tdir)
    return csm_fail(CSM_EUSAGE, "output folder path too long");
  snprintf(rdir, sizeof rdir, "%s/reproject", tdir);
  snprintf(cms, sizeof cms, "%s/cms.npy", tdir);
  snprintf(runjson, sizeof runjson, "%s/run.json", tdir);
  csm_demo_stage s = {.step = CSM_DEMO_CMS, .task = task, .out = tdir, .photos = n};
  stage(o, &s);
  /* The CMS as `csm cms --task TASK` makes it: the default options. */
  csm_explain_options eo;
  csm_explain_options_init(&eo);
  eo.task = task;
  csm_input *in = NULL;
  char *list_buf = NULL;
  int n_in = 0;
  csm_status st = csm_explain_options_resolve(&eo);
  if (!st)
    st = csm_inputs_parse(eo.mode, (const char *const *)photos, n, NULL, &in, &n_in, &list_buf);
  csm_cms_run_options r = csm_cms_run_options_default();
  r.out_dir = tdir;
  r.progress = o->progress, r.progress_ctx = o->progress_ctx;
  /* An earlier demo's run continues (or, finished, is only rewritten). */
  r.resume = access(runjson, R_OK) == 0;
  csm_run_summary sum;
  if (!st) st = csm_cms_run(&eo, in, n_in, &r, &sum);
  free(in);
  free(list_buf);
  if (st) return st;
  s = (csm_demo_stage){
      .step = CSM_DEMO_CMS_DONE, .task = task, .out = tdir, .photos = n, .cms = &sum};
  stage(o, &s);
  s = (csm_demo_stage){
      .step = CSM_DEMO_REPROJECT, .task = task, .out = rdir, .photos = n, .in = cms};
  stage(o, &s);
  csm_reproject_options ro;
  csm_reproject_options_init(&ro);
  ro.cms = cms, ro.out_dir = rdir, ro.png_only = 1;
  csm_reproject_report *rep = NULL;
  st = csm_reproject_run(&ro, (const char *const *)photos, n, &rep);
  if (st) return st;
  s = (csm_demo_stage){.step = CSM_DEMO_REPROJECT_DONE,
                       .task = task,
                       .out = rdir,
                       .photos = n,
                       .in = cms,
                       .faces = csm_reproject_report_faces(rep)};
  csm_reproject_report_free(rep);
  stage(o, &s);
  return csm_run_folder_note_reprojections(tdir, photos, n);
}

/* The tasks' CMS pictures side by side: the picture of the run. */
static csm_status side_by_side(const char *out_dir, char *task_list) {
  csm_image imgs[SIDE_BY_SIDE_MAX], row = {0};
  int n_img = 0;
  char *save = NULL;
  csm_status st = CSM_OK;
  for (char *t = strtok_r(task_list, ",", &save); !st && t && n_img < SIDE_BY_SIDE_MAX;
       t = strtok_r(NULL, ",", &save)) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s/cms.png", out_dir, t);
    st = csm_image_load(path, &imgs[n_img]);
    if (!st) n_img++;
  }
  if (!st) st = csm_image_hstack(imgs, n_img, 8, &row);
  char path[PATH_MAX];
  if (!st) st = csm_run_path(path, sizeof path, out_dir, "cms.png");
  if (!st) st = csm_image_write_png(path, &row);
  for (int i = 0; i < n_img; i++)
    csm_image_free(&imgs[i]);
  csm_image_free(&row);
  return st;
}

csm_status csm_demo_run(const csm_demo_options *o) {
  const char *tasks = o->tasks ? o->tasks : "gender,expression,age";
  if (!o->out_dir || !o->samples_dir)
    return csm_fail(CSM_EUSAGE, "csm_demo_run: no output or samples folder");
  char task_list[TASK_LIST_MAX];
  if (snprintf(task_list, sizeof task_list, "%s", tasks) >= (int)sizeof task_list)
    return csm_fail(CSM_EUSAGE, "--tasks list too long");
  char *save = NULL;
  for (char *t = strtok_r(task_list, ",", &save); t; t = strtok_r(NULL, ",", &save))
    if (!csm_task_find(t)) return csm_fail(CSM_EUSAGE, "unknown task '%s'", t);
  char **photos = NULL;
  int n = 0;
  csm_status st = list_samples(o->samples_dir, &photos, &n);
  if (st) return st;
  st = csm_make_dirs(o->out_dir);
  snprintf(task_list, sizeof task_list, "%s", tasks);
  save = NULL;
  for (char *t = strtok_r(task_list, ",", &save); !st && t; t = strtok_r(NULL, ",", &save))
    st = one_task(o, t, photos, n);
  snprintf(task_list, sizeof task_list, "%s", tasks);
  if (!st) st = side_by_side(o->out_dir, task_list);
  char report[PATH_MAX];
  if (!st) st = csm_run_path(report, sizeof report, o->out_dir, "report.html");
  if (!st) {
    csm_demo_stage s = {.step = CSM_DEMO_REPORT, .in = o->out_dir, .out = report};
    stage(o, &s);
    st = csm_report_html(o->out_dir, report);
  }
  free_list(photos, n);
  return st;
}
