/* Files that a model names (TF.js weight shards, ONNX external data) must lie
 * in the model's own folder: a model.json whose manifest lists
 * "../../../../etc/networks" must not turn that file's bytes into weights,
 * nor an .onnx file read /etc/shadow or ../../secret as external data. One
 * check for both loaders. A name is refused when it is absolute, when any of
 * its components is "..", or when its real path (symbolic links resolved)
 * does not lie under the folder's real path. */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph.h"

csm_status csm_model_folder(const char *model_path, char **dir) {
  char *copy = strdup(model_path);
  if (!copy) return csm_fail(CSM_ENOMEM, "out of memory");
  *dir = realpath(dirname(copy), NULL);
  free(copy);
  if (!*dir)
    return csm_fail(CSM_EIO, "%s: cannot resolve its folder: %s", model_path, strerror(errno));
  return CSM_OK;
}

csm_status csm_model_folder_file(const char *dir, const char *name, char **real) {
  *real = NULL;
  if (!*name) return csm_fail(CSM_EINPUT, "'' is an empty path");
  if (name[0] == '/')
    return csm_fail(CSM_EINPUT, "'%s' is an absolute path (it must lie in the model's folder)",
                    name);
  for (const char *p = name; *p;) {
    size_t len = strcspn(p, "/\\");
    if (len == 2 && p[0] == '.' && p[1] == '.')
      return csm_fail(CSM_EINPUT, "'%s' leaves the model's folder ('..')", name);
    p += len;
    if (*p) p++;
  }
  size_t n = strlen(dir) + strlen(name) + 2;
  char *joined = csm_malloc(n);
  if (!joined) return CSM_ENOMEM;
  snprintf(joined, n, "%s/%s", dir, name);
  char *resolved = realpath(joined, NULL);
  free(joined);
  if (!resolved) return csm_fail(CSM_EIO, "'%s': %s", name, strerror(errno));
  size_t dl = strlen(dir);
  int root = strcmp(dir, "/") == 0;
  if (!root && (strncmp(resolved, dir, dl) != 0 || resolved[dl] != '/')) {
    free(resolved);
    return csm_fail(CSM_EINPUT, "'%s' resolves outside the model's folder", name);
  }
  *real = resolved;
  return CSM_OK;
}
