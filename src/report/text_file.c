/* Whole files written atomically: a temporary file next to the target,
 * renamed over it only once complete, so that readers never see half a
 * file and a failure leaves nothing behind. */
#include "csm/report.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

csm_status csm_write_file_atomic(const char *path, const char *data, size_t len) {
  if (!path || !*path || (!data && len))
    return csm_fail(CSM_EUSAGE, "%s: nothing to write", path ? path : "(null)");
  size_t n = strlen(path) + 32;
  char *tmp = csm_malloc(n);
  if (!tmp) return CSM_ENOMEM;
  snprintf(tmp, n, "%s.tmp.%ld", path, (long)getpid());
  FILE *fp = fopen(tmp, "wb");
  if (!fp) {
    csm_status st =
        csm_fail(CSM_EIO, "%s: cannot create temporary file %s: %s", path, tmp, strerror(errno));
    free(tmp);
    return st;
  }
  int err = 0;
  errno = 0;
  if (len && fwrite(data, 1, len, fp) != len) err = errno ? errno : EIO;
  if (fflush(fp) != 0 && !err) err = errno ? errno : EIO;
  if (fclose(fp) != 0 && !err) err = errno ? errno : EIO;
  if (err) {
    remove(tmp);
    free(tmp);
    return csm_fail(CSM_EIO, "%s: write failed: %s", path, strerror(err));
  }
  if (rename(tmp, path) != 0) {
    csm_status st = csm_fail(CSM_EIO, "%s: cannot rename into place: %s", path, strerror(errno));
    remove(tmp);
    free(tmp);
    return st;
  }
  free(tmp);
  return CSM_OK;
}

csm_status csm_read_file(const char *path, size_t max, char **data, size_t *len) {
  *data = NULL, *len = 0;
  FILE *fp = fopen(path, "rb");
  if (!fp) return csm_fail(CSM_EINPUT, "%s: cannot read: %s", path, strerror(errno));
  csm_status st = CSM_OK;
  size_t cap = 0;
  char *buf = NULL;
  for (;;) {
    if (*len == cap) {
      if (cap >= max) {
        st = csm_fail(CSM_EINPUT, "%s: larger than %zu MiB", path, max >> 20);
        break;
      }
      cap = cap ? cap * 2 : 65536;
      char *p = realloc(buf, cap + 1);
      if (!p) {
        st = csm_fail(CSM_ENOMEM, "%s: out of memory", path);
        break;
      }
      buf = p;
    }
    size_t got = fread(buf + *len, 1, cap - *len, fp);
    *len += got;
    if (got == 0) {
      if (ferror(fp)) st = csm_fail(CSM_EIO, "%s: read error", path);
      break;
    }
  }
  fclose(fp);
  if (st) {
    free(buf);
    *len = 0;
    return st;
  }
  if (!buf && !(buf = malloc(1))) return csm_fail(CSM_ENOMEM, "%s: out of memory", path);
  buf[*len] = '\0';
  *data = buf;
  return CSM_OK;
}
