/* One run per output folder: two csm runs writing the same folder at once
 * would mix their files (one run's per-face maps, the other's CMS) without
 * either noticing. A run holds an exclusive flock(2) on the folder itself
 * while it writes there: the kernel drops it when the process ends, however
 * it ends, so a killed run never leaves a stale lock, and no lock file is
 * left in the folder. With the lock held, temporary files in the folder
 * are leftovers of a killed writer, and are removed. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "run_internal.h"

/* A temporary file of core's atomic writer: "<name>.tmp.<pid>.<n>"; *pid
 * is the writer's process. */
static int is_temp_name(const char *name, long *pid) {
  const char *t = strstr(name, ".tmp.");
  while (t) {
    char *end;
    long p = strtol(t + 5, &end, 10);
    if (end != t + 5 && *end == '.' && p > 0) {
      const char *n = end + 1;
      while (*n >= '0' && *n <= '9')
        n++;
      if (n != end + 1 && !*n) {
        *pid = p;
        return 1;
      }
    }
    t = strstr(t + 1, ".tmp.");
  }
  return 0;
}

/* Removes the temporary files of writers that are gone (a live process may
 * still be writing one: another command that writes into the folder, such
 * as csm report). Best effort: a file that cannot be removed stays. */
static void remove_stale_temps(int dirfd) {
  int fd = dup(dirfd);
  DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
  if (!d) {
    if (fd >= 0) close(fd);
    return;
  }
  struct dirent *e;
  while ((e = readdir(d))) {
    long pid;
    if (!is_temp_name(e->d_name, &pid)) continue;
    if (pid == (long)getpid()) continue;
    /* Alive, or not ours to ask about (EPERM): leave it. */
    if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
    unlinkat(dirfd, e->d_name, 0);
  }
  closedir(d);
}

csm_status csm_run_folder_lock(const char *dir, int *lock_fd) {
  *lock_fd = -1;
  csm_status st = csm_make_dirs(dir);
  if (st) return st;
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return csm_fail(CSM_EIO, "%s: cannot open the output folder: %s", dir, strerror(errno));
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int e = errno;
    close(fd);
    if (e == EWOULDBLOCK)
      return csm_fail(CSM_EUSAGE,
                      "%s is in use by another csm run: wait for it to end or use another folder",
                      dir);
    return csm_fail(CSM_EIO, "%s: cannot lock the output folder: %s", dir, strerror(e));
  }
  remove_stale_temps(fd);
  *lock_fd = fd;
  return CSM_OK;
}

void csm_run_folder_unlock(int lock_fd) {
  if (lock_fd >= 0) close(lock_fd); /* closing drops the flock */
}

csm_status csm_run_folder_check(const char *dir) {
  /* Before any computation: the folder (or the nearest existing folder
   * above it, where it will be made) must be a folder we may write to, so
   * that a run is not refused only after its work. Nothing is created. */
  char path[PATH_MAX];
  if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path)
    return csm_fail(CSM_EUSAGE, "output folder path too long: %s", dir);
  for (;;) {
    struct stat sb;
    if (stat(path, &sb) == 0) {
      if (!S_ISDIR(sb.st_mode))
        return csm_fail(CSM_EIO, "%s: not a folder (the output folder %s cannot be made there)",
                        path, dir);
      if (access(path, W_OK | X_OK) != 0)
        return csm_fail(CSM_EIO, "%s: cannot write there: %s", path, strerror(errno));
      return CSM_OK;
    }
    if (errno != ENOENT) return csm_fail(CSM_EIO, "%s: %s", path, strerror(errno));
    char *slash = strrchr(path, '/');
    while (slash && slash > path && slash[1] == '\0') { /* trailing slashes */
      *slash = '\0';
      slash = strrchr(path, '/');
    }
    if (!slash) {
      snprintf(path, sizeof path, ".");
    } else if (slash == path) {
      path[1] = '\0';
    } else {
      *slash = '\0';
    }
  }
}
