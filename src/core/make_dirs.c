/* Output folders: created with their missing parents ("-o out/cis" on a
 * fresh checkout). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "csm/core.h"

csm_status csm_make_dirs(const char *dir) {
  char path[PATH_MAX];
  if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path)
    return csm_fail(CSM_EUSAGE, "output folder path too long: %s", dir);
  for (char *p = path + 1; *p; p++)
    if (*p == '/') {
      *p = '\0';
      if (mkdir(path, 0777) != 0 && errno != EEXIST) break;
      *p = '/';
    }
  if (mkdir(dir, 0777) == 0 || errno == EEXIST) {
    struct stat s;
    if (stat(dir, &s) == 0 && S_ISDIR(s.st_mode)) return CSM_OK;
    errno = ENOTDIR;
  }
  return csm_fail(CSM_EIO, "%s: cannot create output folder (%s)", dir, strerror(errno));
}
