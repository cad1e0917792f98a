/* The data-folder lookup: where installed models and the library's data
 * (the canonical face) are. One place decides, for the library, the CLI and
 * the Python package alike: an explicit csm_set_data_dirs, else
 * $CSM_MODELS_DIR / $CSM_DATA_DIR, else the folders of the source tree baked
 * in by CMake. The library never looks at its own executable's path
 * (/proc/self/exe): a program linking libcsm lives anywhere, and Linux-only
 * tricks would make the answer depend on who asks. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "csm/core.h"

#ifndef CSM_DEFAULT_MODELS_DIR
#define CSM_DEFAULT_MODELS_DIR "models"
#endif
#ifndef CSM_DEFAULT_DATA_DIR
#define CSM_DEFAULT_DATA_DIR "data"
#endif

/* Overrides are copied and never freed: a string returned to one thread
 * must stay valid while another thread sets a new folder. They are set once
 * or a few times per process, so what is kept is a few short strings; the
 * list keeps them reachable (no leak reports). */
struct kept {
  struct kept *next;
  char dir[];
};
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct kept *kept_list;
static const char *models_override, *data_override;

static const char *lookup(const char **override, const char *env_name, const char *fallback) {
  pthread_mutex_lock(&lock);
  const char *dir = *override;
  pthread_mutex_unlock(&lock);
  if (dir) return dir;
  const char *env = getenv(env_name);
  return env && *env ? env : fallback;
}

const char *csm_models_dir(void) {
  return lookup(&models_override, "CSM_MODELS_DIR", CSM_DEFAULT_MODELS_DIR);
}

const char *csm_data_dir(void) {
  return lookup(&data_override, "CSM_DATA_DIR", CSM_DEFAULT_DATA_DIR);
}

static struct kept *copy(const char *dir) {
  size_t n = strlen(dir) + 1;
  struct kept *k = malloc(sizeof *k + n);
  if (k) memcpy(k->dir, dir, n);
  return k;
}

csm_status csm_set_data_dirs(const char *models, const char *data) {
  struct kept *m = models && *models ? copy(models) : NULL;
  struct kept *d = data && *data ? copy(data) : NULL;
  if ((models && *models && !m) || (data && *data && !d)) {
    free(m);
    free(d);
    return csm_fail(CSM_ENOMEM, "csm_set_data_dirs: out of memory");
  }
  pthread_mutex_lock(&lock);
  if (m) m->next = kept_list, kept_list = m;
  if (d) d->next = kept_list, kept_list = d;
  models_override = m ? m->dir : NULL;
  data_override = d ? d->dir : NULL;
  pthread_mutex_unlock(&lock);
  return CSM_OK;
}
