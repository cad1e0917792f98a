/* csm cms as a library call: the CMS over a dataset, checkpointed after
 * every input so that a killed run resumes with the same bits. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cms_pool.h"

csm_cms_run_options csm_cms_run_options_default(void) {
  csm_cms_run_options r;
  memset(&r, 0, sizeof r);
  r.write_cis = 1;
  r.jobs = 1;
  return r;
}

/* Failures that concern the input (unreadable, no face, bad mesh file) are
 * recorded and the run goes on; others (out of memory, write errors) stop
 * it, and a resume picks up from the last checkpoint. */
static int is_input_fault(csm_status st) { return st == CSM_EINPUT || st == CSM_EIO; }

/* One input's faces into the CMS and the files, in input order. */
static csm_status consume(const csm_cms_job *a, const csm_explainer *x, csm_cms *cms,
                          csm_cms_state *s, int i, const char *stem, csm_input_result *r) {
  csm_status st = CSM_OK;
  if (r->st) {
    if (!is_input_fault(r->st)) return csm_fail(r->st, "%s", r->error ? r->error : "failed");
    return csm_cms_add_failure(s, a->in[i].path, r->error ? r->error : "failed");
  }
  if (r->n == 0) st = csm_cms_add_failure(s, a->in[i].path, "no face found");
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
    st = csm_face_result_write(x, a->no_cis ? NULL : a->out_dir, &a->in[i], stem, &r->faces[k], fp);
    fclose(fp);
    if (!st) st = csm_run_append_json(&s->faces, &s->faces_len, buf);
    free(buf);
    s->n_faces++;
  }
  return st;
}

void csm_input_result_free(csm_input_result *r) {
  csm_face_results_free(r->faces, r->n);
  free(r->error);
  memset(r, 0, sizeof *r);
}

static csm_status check_fresh(const csm_cms_job *a) {
  /* A fresh run in a folder that holds one would mix the two. */
  char path[PATH_MAX];
  csm_status st = csm_run_path(path, sizeof path, a->out_dir, "run.json");
  if (!st && access(path, F_OK) == 0)
    st = csm_fail(CSM_EUSAGE, "%s exists: continue it with --resume or use a new folder", path);
  return st;
}

static csm_status run(const csm_cms_job *a, const csm_cms_run_options *ro, csm_run_summary *sum) {
  double t0 = csm_now();
  csm_explainer *x = NULL;
  csm_cms_state s;
  memset(&s, 0, sizeof s);
  csm_cms *cms = NULL;
  char **stems = NULL;
  int lock = -1;
  csm_status st = csm_input_stems(a->in, a->n_images, &stems);
  /* The folder first: locked for this run, and refused before any work
   * when it holds another run; then the models; then, resuming, the saved
   * state, checked to be this run's before anything is written. */
  if (!st) st = csm_run_folder_lock(a->out_dir, &lock);
  if (!st && !a->resume) st = check_fresh(a);
  if (!st) st = csm_explainer_open(a->o, &x);
  if (!st && !(s.params = csm_cms_params_json(a, x->size)))
    st = csm_fail(CSM_ENOMEM, "out of memory");
  if (!st && a->resume) st = csm_cms_load_state(a, x->size, &s, &cms);
  if (!st && !cms) st = csm_cms_create(x->size, x->size, &cms);
  if (!st) csm_cms_set_identity(cms, csm_cms_run_identity(s.params));
  if (!st) st = csm_explainer_write_canonical(x, a->out_dir);
  /* run.json before any work: a run killed before its first checkpoint
   * still resumes (done = 0, no checkpoint yet). */
  if (!st) st = csm_cms_write_run_json(a, x, &s, s.seconds, 0, cms);
  int start = s.done;
  csm_cms_pool *pool = NULL;
  if (!st) {
    csm_explainer_set_progress(x, ro->progress, ro->progress_ctx);
    csm_run_progress_start(x, a->n_images);
    x->pr.faces_done = 0;
  }
  if (!st && a->jobs > 1 && start < a->n_images)
    st = csm_cms_pool_start(a->o, a->in, start, a->n_images, a->jobs, &pool);
  for (int i = start; !st && i < a->n_images; i++) {
    csm_run_progress_input(x, i);
    csm_input_result r;
    memset(&r, 0, sizeof r);
    if (pool) {
      csm_cms_pool_take(pool, i, &r);
      x->pr.faces_done += r.n;
    } else {
      r.st = csm_explainer_explain(x, &a->in[i], &r.faces, &r.n);
      if (r.st) r.error = strdup(csm_last_error());
      /* A cancel during the input: nothing of it is kept. */
      if (r.st && x->cancelled) {
        csm_input_result_free(&r);
        st = csm_fail(CSM_EUSAGE, "cancelled");
        break;
      }
    }
    st = consume(a, x, cms, &s, i, stems[i], &r);
    csm_input_result_free(&r);
    if (st) break;
    /* Checkpoint: the new state first, then run.json naming it, then the
     * old state goes; a kill at any point leaves a consistent pair. */
    char ck[PATH_MAX], old[PATH_MAX];
    s.done = i + 1;
    if ((st = csm_cms_checkpoint_path(a->out_dir, s.done, ck, sizeof ck))) break;
    if ((st = csm_cms_save(cms, ck))) break;
    if ((st = csm_cms_write_run_json(a, x, &s, s.seconds + csm_now() - t0, 0, cms))) break;
    if (!csm_cms_checkpoint_path(a->out_dir, i, old, sizeof old)) unlink(old);
    x->pr.occluded = x->pr.occlusions = 0;
    x->pr.face = x->pr.n_faces = 0;
    if (csm_run_report_progress(x)) st = csm_fail(CSM_EUSAGE, "cancelled");
  }
  csm_cms_pool_stop(pool);
  if (!st && csm_cms_images(cms) == 0)
    st = csm_fail(CSM_EINPUT, "no face in any of the %d images: no CMS (see %s/run.json)",
                  a->n_images, a->out_dir);
  if (!st) st = csm_cms_write_results(a, x, cms, &s, NULL);
  if (!st) st = csm_cms_write_run_json(a, x, &s, s.seconds + csm_now() - t0, 1, cms);
  if (!st) {
    sum->inputs = a->n_images;
    sum->faces = csm_cms_images(cms);
    sum->failures = s.n_failures;
    sum->seconds = s.seconds + csm_now() - t0;
    csm_run_summary_calibration(x, sum);
  }
  csm_cms_free(cms);
  csm_cms_state_free(&s);
  csm_input_stems_free(stems, a->n_images);
  csm_explainer_free(x);
  csm_run_folder_unlock(lock);
  return st;
}

csm_status csm_cms_run(const csm_explain_options *o, const csm_input *in, int n,
                       const csm_cms_run_options *r, csm_run_summary *summary) {
  memset(summary, 0, sizeof *summary);
  if (!r->out_dir) return csm_fail(CSM_EUSAGE, "csm_cms_run: no output folder");
  if (n <= 0) return csm_fail(CSM_EUSAGE, "no inputs given");
  if (r->jobs < 0 || r->jobs > 64) return csm_fail(CSM_EUSAGE, "--jobs takes an integer in 1..64");
  csm_cms_job a = {o, in, n, r->out_dir, r->resume, !r->write_cis, r->jobs};
  return run(&a, r, summary);
}
