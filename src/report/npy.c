/* NumPy .npy files: version 1.0/2.0/3.0 headers, C order, little-endian. */
#include "csm/report.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* What a reader takes: every .npy reader accepts float32 and float64 (made
 * float32); model inputs, unlike count maps, cannot be int32. */
static const char *const k_expect_float = "'<f4' (little-endian float32) or '<f8' (float64)";
static const char *const k_expect_any =
    "'<f4' (little-endian float32), '<f8' (float64) or '<i4' (int32)";

/* Header values come from the file: parse defensively, bound every length. */
static csm_status parse_header(const char *path, const char *h, int allow_int, csm_shape *shape,
                               int *dtype_size, int *is_float, int *is_f64) {
  const char *d = strstr(h, "'descr'");
  const char *f = strstr(h, "'fortran_order'");
  const char *s = strstr(h, "'shape'");
  if (!d || !f || !s) return csm_fail(CSM_EINPUT, "%s: malformed .npy header", path);
  d = strchr(d + 7, '\'');
  if (!d) return csm_fail(CSM_EINPUT, "%s: malformed .npy dtype", path);
  d++;
  if (strncmp(d, "<f4'", 4) == 0) {
    *is_float = 1, *dtype_size = 4, *is_f64 = 0;
  } else if (strncmp(d, "<f8'", 4) == 0) {
    *is_float = 1, *dtype_size = 8, *is_f64 = 1;
  } else if (strncmp(d, "<i4'", 4) == 0 && allow_int) {
    *is_float = 0, *dtype_size = 4, *is_f64 = 0;
  } else {
    /* The dtype as the file spells it, printable and short. */
    char name[24];
    size_t n = 0;
    for (; d[n] && d[n] != '\'' && n < 16; n++)
      name[n] = d[n] >= 0x20 && d[n] < 0x7F ? d[n] : '?';
    name[n] = '\0';
    return csm_fail(CSM_EUNSUPPORTED, "%s: .npy dtype '%s%s' is not supported: expected %s", path,
                    name, d[n] && d[n] != '\'' ? "..." : "",
                    allow_int ? k_expect_any : k_expect_float);
  }
  f = strchr(f + 15, ':');
  if (!f) return csm_fail(CSM_EINPUT, "%s: malformed .npy header", path);
  while (*++f == ' ') {
  }
  if (strncmp(f, "False", 5) != 0)
    return csm_fail(CSM_EUNSUPPORTED, "%s: Fortran-order .npy is not supported", path);
  s = strchr(s + 7, '(');
  if (!s) return csm_fail(CSM_EINPUT, "%s: malformed .npy shape", path);
  s++;
  memset(shape, 0, sizeof *shape);
  while (*s && *s != ')') {
    while (*s == ' ' || *s == ',')
      s++;
    if (*s == ')') break;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || errno || v < 0) return csm_fail(CSM_EINPUT, "%s: malformed .npy shape", path);
    if (shape->rank == CSM_MAX_RANK)
      return csm_fail(CSM_EUNSUPPORTED, "%s: .npy rank above %d", path, CSM_MAX_RANK);
    shape->d[shape->rank++] = v;
    s = end;
  }
  if (*s != ')') return csm_fail(CSM_EINPUT, "%s: malformed .npy shape", path);
  return CSM_OK;
}

static csm_status npy_read(const char *path, int allow_int, csm_tensor *out) {
  unsigned char pre[12];
  char *header = NULL;
  csm_status st = CSM_OK;
  memset(out, 0, sizeof *out);
  FILE *fp;
  if ((st = csm_file_open_read(path, &fp, NULL))) return st;
  if (fread(pre, 1, 10, fp) != 10 || memcmp(pre, "\x93NUMPY", 6) != 0) {
    st = csm_fail(CSM_EINPUT, "%s: not a .npy file", path);
    goto out;
  }
  size_t hlen;
  if (pre[6] == 1) {
    hlen = (size_t)pre[8] | (size_t)pre[9] << 8;
  } else if (pre[6] == 2 || pre[6] == 3) {
    if (fread(pre + 10, 1, 2, fp) != 2) {
      st = csm_fail(CSM_EINPUT, "%s: truncated .npy header", path);
      goto out;
    }
    hlen = (size_t)pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
  } else {
    st = csm_fail(CSM_EUNSUPPORTED, "%s: .npy version %d", path, pre[6]);
    goto out;
  }
  if (hlen > (1u << 20)) {
    st = csm_fail(CSM_EINPUT, "%s: .npy header too long", path);
    goto out;
  }
  header = csm_malloc(hlen + 1);
  if (!header) {
    st = CSM_ENOMEM;
    goto out;
  }
  if (fread(header, 1, hlen, fp) != hlen) {
    st = csm_fail(CSM_EINPUT, "%s: truncated .npy header", path);
    goto out;
  }
  header[hlen] = '\0';
  csm_shape shape;
  int dsize = 4, is_float = 1, is_f64 = 0;
  if ((st = parse_header(path, header, allow_int, &shape, &dsize, &is_float, &is_f64))) goto out;
  size_t numel, bytes;
  if (csm_shape_numel(&shape, &numel) || !csm_size_mul(numel, (size_t)dsize, &bytes)) {
    st = csm_fail(CSM_EINPUT, "%s: .npy shape too large", path);
    goto out;
  }
  /* Check the payload against the file before allocating for it. */
  long here = ftell(fp);
  if (fseek(fp, 0, SEEK_END) != 0 || here < 0) {
    st = csm_fail(CSM_EIO, "%s: cannot seek", path);
    goto out;
  }
  long end = ftell(fp);
  if (end < here || (size_t)(end - here) != bytes) {
    st = csm_fail(CSM_EINPUT, "%s: .npy data is %ld bytes, shape needs %zu", path,
                  end < here ? 0L : end - here, bytes);
    goto out;
  }
  fseek(fp, here, SEEK_SET);
  /* The tensor is float32 or int32: 4 bytes per element whatever the file. */
  char what[1100];
  snprintf(what, sizeof what, "%s: .npy data", path);
  if ((st = csm_memory_check_product(numel, 4, what))) goto out;
  if ((st = csm_tensor_alloc(out, is_float ? CSM_F32 : CSM_I32, &shape))) goto out;
  if (is_f64) {
    for (size_t i = 0; i < numel; i++) {
      double v;
      if (fread(&v, 8, 1, fp) != 1) {
        st = csm_fail(CSM_EINPUT, "%s: truncated .npy data", path);
        goto out;
      }
      ((float *)out->data)[i] = (float)v;
    }
  } else if (numel && fread(out->data, bytes, 1, fp) != 1) {
    st = csm_fail(CSM_EINPUT, "%s: truncated .npy data", path);
  }
out:
  if (st) csm_tensor_free(out);
  free(header);
  fclose(fp);
  return st;
}

csm_status csm_npy_read(const char *path, csm_tensor *out) { return npy_read(path, 1, out); }

csm_status csm_npy_read_float(const char *path, csm_tensor *out) { return npy_read(path, 0, out); }

csm_status csm_npy_write(const char *path, const csm_tensor *t) {
  char header[256], shape[200];
  size_t off = 0;
  /* numpy's repr of a shape tuple: (), (4,), (2, 3). */
  shape[0] = '\0';
  for (int i = 0; i < t->shape.rank; i++)
    off += (size_t)snprintf(shape + off, sizeof shape - off, i ? ", %lld" : "%lld",
                            (long long)t->shape.d[i]);
  if (t->shape.rank == 1) snprintf(shape + off, sizeof shape - off, ",");
  int n =
      snprintf(header, sizeof header, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }",
               t->dtype == CSM_F32 ? "<f4" : "<i4", shape);
  /* Pad so that magic(6)+version(2)+len(2)+header ends on a 64-byte boundary. */
  int total = 10 + n + 1;
  int pad = (64 - total % 64) % 64;
  if (n + pad + 1 >= (int)sizeof header) return csm_fail(CSM_EINTERNAL, "npy header overflow");
  memset(header + n, ' ', (size_t)pad);
  header[n + pad] = '\n';
  int hlen = n + pad + 1;
  csm_atomic_file *out;
  csm_status st = csm_atomic_file_open(path, &out);
  if (st) return st;
  FILE *fp = csm_atomic_file_stream(out);
  unsigned char pre[10] = {0x93,
                           'N',
                           'U',
                           'M',
                           'P',
                           'Y',
                           1,
                           0,
                           (unsigned char)(hlen & 0xff),
                           (unsigned char)(hlen >> 8)};
  size_t bytes = csm_tensor_numel(t) * 4;
  /* A failed fwrite leaves the stream's error flag set; commit reports it
   * and removes the temporary file. */
  fwrite(pre, 1, 10, fp);
  fwrite(header, 1, (size_t)hlen, fp);
  if (bytes) fwrite(t->data, bytes, 1, fp);
  return csm_atomic_file_commit(out);
}
