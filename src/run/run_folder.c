/* The run folder: every run.json is written here (csm cis's; csm cms's,
 * rewritten after every input so that it always names the checkpoint that
 * matches it; the demo's note of its reprojections), with csm cms's
 * checkpoints, failures.csv, stability.csv and final maps, and read back
 * here for --resume. docs/formats.md describes the files. */
#include <cjson/cJSON.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run_internal.h"

/* ---- The run's state: what run.json records --------------------------------- */

void csm_cms_state_free(csm_cms_state *s) {
  free(s->faces);
  free(s->failures);
  free(s->params);
  memset(s, 0, sizeof *s);
}

csm_status csm_run_append_json(char **buf, size_t *len, const char *text) {
  size_t n = strlen(text);
  char *nb = realloc(*buf, *len + n + 3);
  if (!nb) return csm_fail(CSM_ENOMEM, "out of memory");
  if (*len) nb[(*len)++] = ',', nb[(*len)++] = '\n';
  memcpy(nb + *len, text, n + 1);
  *len += n;
  *buf = nb;
  return CSM_OK;
}

char *csm_cms_params_json(const csm_cms_job *a, int size) {
  char *buf = NULL;
  size_t len = 0;
  FILE *fp = open_memstream(&buf, &len);
  if (!fp) return NULL;
  fprintf(fp, "{\"task\": ");
  csm_json_string(fp, a->o->task);
  fprintf(fp, ", \"class\": ");
  if (a->o->cls)
    csm_json_string(fp, a->o->cls);
  else
    fprintf(fp, "null");
  /* The inputs themselves, by a hash of their paths in order. */
  uint64_t h = 1469598103934665603ULL;
  for (int i = 0; i < a->n_images; i++) {
    const csm_input *in = &a->in[i];
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
  csm_explain_options_write_json(fp, a->o, size);
  fprintf(fp, "}");
  fclose(fp);
  return buf;
}

csm_status csm_cms_checkpoint_path(const char *dir, int done, char *buf, size_t len) {
  if (snprintf(buf, len, "%s/checkpoint-%06d.cms", dir, done) >= (int)len)
    return csm_fail(CSM_EUSAGE, "output folder path too long: %s", dir);
  return CSM_OK;
}

/* run.json, whole: rewritten after every image, so that it always matches
 * the checkpoint it names. */
/* What every run.json starts with: the version, the command, what was
 * explained, the parameters and the canonical picture (ends with a comma). */
static void write_head(FILE *fp, const char *command, const csm_explainer *x) {
  fprintf(fp, "{\"csm_version\": \"%s\", \"command\": \"%s\", \"task\": ", CSM_VERSION, command);
  csm_json_string(fp, x->o.task);
  fprintf(fp, ", \"model\": ");
  csm_json_string(fp, csm_model_path(csm_task_model(x->task)));
  fprintf(fp, ", \"class\": ");
  if (x->o.cls)
    csm_json_string(fp, x->o.cls);
  else
    fprintf(fp, "null");
  fprintf(fp, ",\n \"parameters\": ");
  csm_explain_options_write_json(fp, &x->o, x->size);
  fprintf(fp, ",\n \"canonical_png\": %s,", x->background.rgb ? "\"canonical.png\"" : "null");
}

csm_status csm_run_folder_write_cis(const csm_explainer *x, const csm_input *in, int n,
                                    char *const *stems, csm_face_result *const *faces,
                                    const int *n_faces, const char *dir, double seconds) {
  char *json = NULL;
  size_t json_len = 0;
  FILE *fp = open_memstream(&json, &json_len);
  if (!fp) return csm_fail(CSM_ENOMEM, "out of memory");
  write_head(fp, "cis", x);
  fprintf(fp, "\n \"faces\": [");
  csm_status st = CSM_OK;
  int first = 1;
  for (int i = 0; !st && i < n; i++)
    for (int k = 0; !st && k < n_faces[i]; k++) {
      fprintf(fp, "%s\n  ", first ? "" : ",");
      first = 0;
      st = csm_face_result_write(x, dir, &in[i], stems[i], &faces[i][k], fp);
    }
  fprintf(fp, "\n ],\n \"failures\": [],\n \"seconds\": %.3f\n}\n", seconds);
  fclose(fp);
  char path[PATH_MAX];
  if (!st) st = csm_run_path(path, sizeof path, dir, "run.json");
  if (!st) st = csm_write_file_atomic(path, json, json_len);
  free(json);
  return st;
}

csm_status csm_cms_write_run_json(const csm_cms_job *a, const csm_explainer *x,
                                  const csm_cms_state *s, double seconds, int complete,
                                  const csm_cms *cms) {
  char *buf = NULL;
  size_t len = 0;
  FILE *fp = open_memstream(&buf, &len);
  if (!fp) return csm_fail(CSM_ENOMEM, "out of memory");
  write_head(fp, "cms", x);
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
  snprintf(path, sizeof path, "%s/run.json", a->out_dir);
  csm_status st = csm_write_file_atomic(path, buf, len);
  free(buf);
  return st;
}

/* dir/run.json parsed: a JSON object, or an error naming the file. The one
 * place run.json is read (resume, the demo's note, the HTML report). */
csm_status csm_run_folder_read(const char *dir, char *path, size_t path_len, cJSON **root) {
  *root = NULL;
  csm_status st = csm_run_path(path, path_len, dir, "run.json");
  char *text = NULL;
  size_t len = 0;
  if (!st) st = csm_read_file(path, (size_t)1 << 30, &text, &len);
  if (st) return st;
  cJSON *j = cJSON_ParseWithLength(text, len);
  free(text);
  if (!cJSON_IsObject(j)) {
    cJSON_Delete(j);
    return csm_fail(CSM_EINPUT, "%s: not a JSON object (docs/formats.md)", path);
  }
  *root = j;
  return CSM_OK;
}

uint64_t csm_cms_run_identity(const char *params_json) {
  cJSON *j = cJSON_Parse(params_json);
  char *compact = j ? cJSON_PrintUnformatted(j) : NULL;
  const char *text = compact ? compact : params_json;
  uint64_t h = 1469598103934665603ULL;
  for (const char *c = text; *c; c++)
    h = (h ^ (unsigned char)*c) * 1099511628211ULL;
  free(compact);
  cJSON_Delete(j);
  return h ? h : 1; /* 0 means "none" in a checkpoint */
}

/* The checkpoint is this run's: its identity, raster and map count agree
 * with the run.json that names it. */
static csm_status check_checkpoint(const char *ck, const csm_cms *cms, const csm_cms_state *s,
                                   int size) {
  uint64_t want = csm_cms_run_identity(s->params), have = csm_cms_identity(cms);
  if (have != want)
    return csm_fail(CSM_EINPUT,
                    "--resume: %s belongs to another run (identity %016llx, this run %016llx); "
                    "use a new folder",
                    ck, (unsigned long long)have, (unsigned long long)want);
  if (csm_cms_width(cms) != size || csm_cms_height(cms) != size)
    return csm_fail(CSM_EINPUT, "--resume: %s is %d x %d, this run's maps %d x %d", ck,
                    csm_cms_width(cms), csm_cms_height(cms), size, size);
  if (csm_cms_images(cms) != s->n_faces)
    return csm_fail(CSM_EINPUT, "--resume: %s holds %d maps, run.json lists %d faces", ck,
                    csm_cms_images(cms), s->n_faces);
  return CSM_OK;
}

/* Reads DIR/run.json and the checkpoint it names, for --resume. */
csm_status csm_cms_load_state(const csm_cms_job *a, int size, csm_cms_state *s, csm_cms **cms) {
  char path[PATH_MAX];
  cJSON *root = NULL;
  csm_status rst = csm_run_folder_read(a->out_dir, path, sizeof path, &root);
  if (rst) return csm_fail_context(rst, "--resume: ");
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
    st = t ? csm_run_append_json(&s->faces, &s->faces_len, t)
           : csm_fail(CSM_ENOMEM, "out of memory");
    free(t);
    s->n_faces++;
  }
  cJSON_ArrayForEach(it, fails) {
    if (st) break;
    char *t = cJSON_PrintUnformatted(it);
    st = t ? csm_run_append_json(&s->failures, &s->failures_len, t)
           : csm_fail(CSM_ENOMEM, "out of memory");
    free(t);
    s->n_failures++;
  }
  s->seconds = cJSON_IsNumber(secs) ? secs->valuedouble : 0;
  cJSON_Delete(root);
  if (st) return st;
  char ck[PATH_MAX];
  if ((st = csm_cms_checkpoint_path(a->out_dir, s->done, ck, sizeof ck))) return st;
  if (s->done == 0 && access(ck, F_OK) != 0) return CSM_OK; /* killed before the first image */
  if ((st = csm_cms_load(ck, cms))) return csm_fail_context(st, "--resume: ");
  if ((st = check_checkpoint(ck, *cms, s, size))) {
    csm_cms_free(*cms);
    *cms = NULL;
  }
  return st;
}

/* ---- Final files ------------------------------------------------------------ */

csm_status csm_cms_write_results(const csm_cms_job *a, const csm_explainer *x, const csm_cms *cms,
                                 const csm_cms_state *s, const char *const *reasons_csv) {
  (void)reasons_csv;
  int w = csm_cms_width(cms), h = csm_cms_height(cms);
  size_t npx = (size_t)w * h;
  float *mean = csm_malloc_array(npx, sizeof(float)), *count = csm_malloc_array(npx, sizeof(float));
  float *se = csm_malloc_array(npx, sizeof(float));
  char path[PATH_MAX];
  csm_status st = mean && count && se ? CSM_OK : CSM_ENOMEM;
  const char *dir = a->out_dir;
  if (!st) {
    csm_cms_result(cms, mean, count, se);
    snprintf(path, sizeof path, "%s/cms.npy", dir);
    st = csm_run_write_npy(path, mean, w, h);
  }
  if (!st) {
    snprintf(path, sizeof path, "%s/count.npy", dir);
    st = csm_run_write_npy(path, count, w, h);
  }
  if (!st) {
    snprintf(path, sizeof path, "%s/stderr.npy", dir);
    st = csm_run_write_npy(path, se, w, h);
  }
  if (!st) {
    unsigned char *valid = csm_malloc(npx);
    csm_image img = {0};
    if (!valid) st = CSM_ENOMEM;
    for (size_t p = 0; !st && p < npx; p++)
      valid[p] = count[p] > 0;
    char title[128];
    snprintf(title, sizeof title, "CMS %s%s%s, %d faces", a->o->task, a->o->cls ? " " : "",
             a->o->cls ? a->o->cls : "", csm_cms_images(cms));
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

csm_status csm_cms_add_failure(csm_cms_state *s, const char *image, const char *reason) {
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
  csm_status st = csm_run_append_json(&s->failures, &s->failures_len, buf);
  free(buf);
  s->n_failures++;
  return st;
}

/* Adds "reprojections": [{"image", "png"}] to a run folder's run.json, so
 * that the report shows the CMS on the photos. */
csm_status csm_run_folder_note_reprojections(const char *tdir, char *const *photos, int n) {
  char path[PATH_MAX];
  cJSON *root = NULL;
  csm_status rst = csm_run_folder_read(tdir, path, sizeof path, &root);
  if (rst) return rst;
  cJSON_DeleteItemFromObject(root, "reprojections");
  cJSON *list = cJSON_AddArrayToObject(root, "reprojections");
  for (int i = 0; list && i < n; i++) {
    char stem[1024], rel[1100], full[PATH_MAX + 1200];
    csm_path_stem(photos[i], stem, sizeof stem);
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
