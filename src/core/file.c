/* Files in and out, once for the whole library: every loader reads through
 * csm_file_open_read / csm_read_file and every writer goes through the
 * atomic writer below, so the checks (regular files only, bounded sizes,
 * errors that name the file) and the durability policy live in one place.
 *
 * Durability: a file is written to a temporary name in the same folder,
 * flushed and fsync'ed, renamed over the target, and then the folder is
 * fsync'ed so that the rename itself survives a crash. Readers see either
 * the old file or the whole new one, never a part; a failure removes the
 * temporary file. The cost is two fsyncs per output file, which is small
 * next to the work that produces one (a map, a checkpoint, a report). */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csm/core.h"

/* Opens with O_NONBLOCK so that a FIFO without a writer cannot block the
 * open; the descriptor is then checked to be a regular file before any
 * read. O_NONBLOCK has no effect on regular files, but it is cleared all
 * the same. */
static csm_status open_regular(const char *path, int *fd_out, uint64_t *size) {
  *fd_out = -1;
  if (!path || !*path) return csm_fail(CSM_EUSAGE, "no file name given");
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return csm_fail(CSM_EIO, "%s: cannot open: %s", path, strerror(errno));
  struct stat sb;
  if (fstat(fd, &sb) != 0) {
    int e = errno;
    close(fd);
    return csm_fail(CSM_EIO, "%s: cannot stat: %s", path, strerror(e));
  }
  if (!S_ISREG(sb.st_mode)) {
    close(fd);
    return csm_fail(CSM_EIO, "%s: not a regular file", path);
  }
  int fl = fcntl(fd, F_GETFL);
  if (fl >= 0) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
  *fd_out = fd;
  if (size) *size = (uint64_t)sb.st_size;
  return CSM_OK;
}

csm_status csm_check_regular_file(const char *path) {
  int fd;
  csm_status st = open_regular(path, &fd, NULL);
  if (!st) close(fd);
  return st;
}

csm_status csm_file_open_read(const char *path, FILE **fp, uint64_t *size) {
  if (!fp) return csm_fail(CSM_EUSAGE, "csm_file_open_read: NULL argument");
  *fp = NULL;
  int fd;
  csm_status st = open_regular(path, &fd, size);
  if (st) return st;
  if (!(*fp = fdopen(fd, "rb"))) {
    int e = errno;
    close(fd);
    return csm_fail(CSM_EIO, "%s: cannot open: %s", path, strerror(e));
  }
  return CSM_OK;
}

/* The size from fstat is a hint: the loop reads to the end of the file and
 * enforces `max` on what it actually got (a file may change under us). */
csm_status csm_read_file(const char *path, size_t max, char **data, size_t *len) {
  if (!data || !len) return csm_fail(CSM_EUSAGE, "csm_read_file: NULL argument");
  *data = NULL, *len = 0;
  int fd;
  uint64_t size;
  csm_status st = open_regular(path, &fd, &size);
  if (st) return st;
  if (size > max) {
    close(fd);
    return csm_fail(CSM_EINPUT, "%s: %llu bytes, more than the %zu allowed", path,
                    (unsigned long long)size, max);
  }
  /* One byte beyond the expected size: a file that grew is noticed. */
  size_t cap = (size_t)size + 1, n = 0;
  char *buf = malloc(cap + 1);
  if (!buf) {
    close(fd);
    return csm_fail(CSM_ENOMEM, "%s: out of memory for %zu bytes", path, cap);
  }
  for (;;) {
    if (n == cap) {
      if (cap > max) {
        st = csm_fail(CSM_EINPUT, "%s: more than the %zu bytes allowed", path, max);
        break;
      }
      size_t grow = cap < max - cap ? cap : max - cap + 1;
      char *p = realloc(buf, cap + grow + 1);
      if (!p) {
        st = csm_fail(CSM_ENOMEM, "%s: out of memory", path);
        break;
      }
      buf = p, cap += grow;
    }
    ssize_t got = read(fd, buf + n, cap - n);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      st = csm_fail(CSM_EIO, "%s: read error: %s", path, strerror(errno));
      break;
    }
    if (got == 0) break;
    n += (size_t)got;
  }
  close(fd);
  if (!st && n > max) st = csm_fail(CSM_EINPUT, "%s: more than the %zu bytes allowed", path, max);
  if (st) {
    free(buf);
    return st;
  }
  buf[n] = '\0';
  *data = buf, *len = n;
  return CSM_OK;
}

/* ---- Atomic writing ---------------------------------------------------------- */

struct csm_atomic_file {
  FILE *fp;
  char *path; /* the target */
  char *tmp;  /* the temporary file beside it */
};

/* Temporary names: pid and a process-wide counter, so that threads writing
 * the same target never share a temporary file. O_EXCL makes a stale file
 * of a crashed run with the same pid a retry, not an overwrite. */
static atomic_uint tmp_counter;

/* The folder of path ("." when it has none), malloc'ed. */
static char *folder_of(const char *path) {
  const char *slash = strrchr(path, '/');
  if (!slash) return strdup(".");
  if (slash == path) return strdup("/");
  size_t n = (size_t)(slash - path);
  char *d = malloc(n + 1);
  if (d) memcpy(d, path, n), d[n] = '\0';
  return d;
}

/* fsync of the folder makes the rename durable. Some file systems cannot
 * sync a directory (EINVAL): nothing more can be done there, and the data
 * itself is already synced, so that is not an error. */
static csm_status sync_folder(const char *path) {
  char *dir = folder_of(path);
  if (!dir) return csm_fail(CSM_ENOMEM, "%s: out of memory", path);
  csm_status st = CSM_OK;
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    st = csm_fail(CSM_EIO, "%s: cannot open its folder %s to sync it: %s", path, dir,
                  strerror(errno));
  } else {
    if (fsync(fd) != 0 && errno != EINVAL && errno != EROFS)
      st = csm_fail(CSM_EIO, "%s: cannot sync its folder %s: %s", path, dir, strerror(errno));
    close(fd);
  }
  free(dir);
  return st;
}

/* Whose fault a failed write is: the folder's (missing, read-only, no
 * access: CSM_EIO, like an unreadable input) or the system's (disk full,
 * file too large, quota, device error: CSM_ESYSTEM, a failure of the
 * machine that a rerun elsewhere fixes). */
static csm_status write_status(int err) {
  switch (err) {
  case EACCES:
  case EPERM:
  case EROFS:
  case ENOENT:
  case ENOTDIR:
  case EISDIR:
  case ENAMETOOLONG:
  case ELOOP: return CSM_EIO;
  default: return CSM_ESYSTEM;
  }
}

static void atomic_free(csm_atomic_file *f) {
  free(f->path);
  free(f->tmp);
  free(f);
}

csm_status csm_atomic_file_open(const char *path, csm_atomic_file **out) {
  if (!out) return csm_fail(CSM_EUSAGE, "csm_atomic_file_open: NULL argument");
  *out = NULL;
  if (!path || !*path) return csm_fail(CSM_EUSAGE, "no output file name given");
  csm_atomic_file *f = calloc(1, sizeof *f);
  size_t n = strlen(path) + 48;
  if (!f || !(f->path = strdup(path)) || !(f->tmp = malloc(n))) {
    if (f) atomic_free(f);
    return csm_fail(CSM_ENOMEM, "%s: out of memory", path);
  }
  int fd = -1;
  for (int tries = 0; fd < 0 && tries < 100; tries++) {
    snprintf(f->tmp, n, "%s.tmp.%ld.%u", path, (long)getpid(), atomic_fetch_add(&tmp_counter, 1u));
    fd = open(f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST) break;
  }
  if (fd < 0) {
    int e = errno;
    csm_status st = csm_fail(write_status(e), "%s: cannot create a temporary file beside it: %s",
                             path, strerror(e));
    atomic_free(f);
    return st;
  }
  if (!(f->fp = fdopen(fd, "wb"))) {
    csm_status st = csm_fail(CSM_EIO, "%s: cannot open: %s", path, strerror(errno));
    close(fd);
    unlink(f->tmp);
    atomic_free(f);
    return st;
  }
  *out = f;
  return CSM_OK;
}

FILE *csm_atomic_file_stream(csm_atomic_file *f) { return f ? f->fp : NULL; }

void csm_atomic_file_abort(csm_atomic_file *f) {
  if (!f) return;
  if (f->fp) fclose(f->fp);
  unlink(f->tmp);
  atomic_free(f);
}

csm_status csm_atomic_file_commit(csm_atomic_file *f) {
  if (!f) return csm_fail(CSM_EUSAGE, "csm_atomic_file_commit: NULL argument");
  /* A stream error set by an earlier write has lost its errno; fflush
   * retries what is buffered and usually reports the cause again. */
  int err = 0, had_error = ferror(f->fp);
  errno = 0;
  if (fflush(f->fp) != 0) err = errno ? errno : EIO;
  if (!err && had_error) err = EIO;
  if (!err && fsync(fileno(f->fp)) != 0 && errno != EINVAL) err = errno;
  if (fclose(f->fp) != 0 && !err) err = errno ? errno : EIO;
  f->fp = NULL;
  if (err) {
    csm_status st = csm_fail(write_status(err), "%s: write failed: %s", f->path, strerror(err));
    csm_atomic_file_abort(f);
    return st;
  }
  if (rename(f->tmp, f->path) != 0) {
    int e = errno;
    csm_status st =
        csm_fail(write_status(e), "%s: cannot rename into place: %s", f->path, strerror(e));
    csm_atomic_file_abort(f);
    return st;
  }
  csm_status st = sync_folder(f->path);
  atomic_free(f);
  return st;
}

csm_status csm_write_file_atomic(const char *path, const char *data, size_t len) {
  if (!path || !*path || (!data && len))
    return csm_fail(CSM_EUSAGE, "%s: nothing to write", path ? path : "(null)");
  csm_atomic_file *f;
  csm_status st = csm_atomic_file_open(path, &f);
  if (st) return st;
  errno = 0;
  if (len && fwrite(data, 1, len, f->fp) != len) {
    int e = errno ? errno : EIO;
    st = csm_fail(write_status(e), "%s: write failed: %s", path, strerror(e));
    csm_atomic_file_abort(f);
    return st;
  }
  return csm_atomic_file_commit(f);
}
