/* External alignments: N x 3 matrices and triangle lists from MATLAB .mat
 * files (PRNet's `vertices` / `triangles`), read with libmatio. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <matio.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "csm/core.h"
#include "csm/face.h"

/* matio logs to stderr by default; the library never prints, and every
 * failure is reported through csm_fail instead. */
static void silent_log(int level, char *message) {
  (void)level;
  (void)message;
}
static pthread_once_t log_once = PTHREAD_ONCE_INIT;
static void install_silent_log(void) { Mat_LogInitFunc("csm", silent_log); }

static uint32_t rd32(const unsigned char *p, int swap) {
  uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
  if (swap) v = (v >> 24) | ((v >> 8) & 0xff00u) | ((v << 8) & 0xff0000u) | (v << 24);
  return v;
}

/* The array flags, dimensions and name sub-elements of an uncompressed
 * miMATRIX must fit inside it: matio allocates what their tags claim. */
static csm_status check_matrix_element(FILE *f, const char *path, uint64_t off, uint32_t nbytes,
                                       int swap) {
  uint64_t pos = 0;
  for (int k = 0; k < 3 && pos < nbytes; k++) {
    unsigned char tag[8];
    if (nbytes - pos < 8 || fseek(f, (long)(off + 8 + pos), SEEK_SET) != 0 ||
        fread(tag, 1, 8, f) != 8)
      return csm_fail(CSM_EINPUT, "%s: corrupt matrix header at byte %llu", path,
                      (unsigned long long)off);
    uint32_t w = rd32(tag, swap), size = rd32(tag + 4, swap);
    /* matio reads the array flags as a full 16-byte element whatever the
     * tag says: a small-element tag there shifts every later tag, and the
     * one matio then takes as the name can claim gigabytes. MATLAB and
     * scipy always write miUINT32 (6) of 8 bytes. */
    if (k == 0 && (w != 6 || size != 8))
      return csm_fail(CSM_EINPUT, "%s: corrupt matrix header at byte %llu (array flags)", path,
                      (unsigned long long)off);
    if (w >> 16) { /* small element */
      pos += 8;
      continue;
    }
    if (size > nbytes - pos - 8)
      return csm_fail(CSM_EINPUT,
                      "%s: corrupt matrix header at byte %llu (sub-element of %u bytes)", path,
                      (unsigned long long)off, size);
    pos += 8 + (((uint64_t)size + 7) & ~(uint64_t)7);
  }
  return CSM_OK;
}

/* Checks the v5 container before matio parses it: matio trusts element
 * sizes, so a truncated file is caught here with a clear message. v7.3 files
 * are HDF5, whose library is not hardened against hostile files (fuzzing
 * found a heap overflow and leaks in it: fuzz/crashes/mat): refused. */
static csm_status check_container(const char *path) {
  /* matio opens the file again itself; this open, through the library's one
   * reader, is what refuses folders and FIFOs (matio would block on one). */
  FILE *f;
  uint64_t file_size;
  csm_status s = csm_file_open_read(path, &f, &file_size);
  if (s) return s;
  unsigned char hdr[128];
  if (file_size < 128 || fread(hdr, 1, 128, f) != 128) {
    s = csm_fail(CSM_EINPUT, "%s: not a MATLAB .mat file (shorter than the 128-byte header)", path);
    goto done;
  }
  int swap;
  if (hdr[126] == 'I' && hdr[127] == 'M')
    swap = 0;
  else if (hdr[126] == 'M' && hdr[127] == 'I')
    swap = 1;
  else {
    s = csm_fail(CSM_EINPUT, "%s: not a MATLAB v5/v7.3 .mat file (no endian mark)", path);
    goto done;
  }
  unsigned version = swap ? (unsigned)hdr[124] << 8 | hdr[125] : (unsigned)hdr[125] << 8 | hdr[124];
  if (version == 0x0200) {
    s = csm_fail(CSM_EUNSUPPORTED,
                 "%s: MATLAB v7.3 (HDF5) .mat files are not read (HDF5 is not safe on untrusted "
                 "files): save it as v7 (MATLAB save -v7, scipy.io.savemat)",
                 path);
    goto done;
  }
  if (version != 0x0100) {
    s = csm_fail(CSM_EUNSUPPORTED, "%s: unsupported .mat version 0x%04x", path, version);
    goto done;
  }
  /* Walk the top-level data elements; each must lie inside the file. */
  uint64_t size = file_size, off = 128;
  while (off < size) {
    unsigned char tag[8];
    if (size - off < 8 || fseek(f, (long)off, SEEK_SET) != 0 || fread(tag, 1, 8, f) != 8) {
      s = csm_fail(CSM_EINPUT, "%s: truncated (partial element tag at byte %llu)", path,
                   (unsigned long long)off);
      goto done;
    }
    uint32_t type = rd32(tag, swap), nbytes = rd32(tag + 4, swap);
    if (type >> 16) { /* small data element: at most 4 bytes, inside the tag */
      off += 8;
      continue;
    }
    uint64_t end = off + 8 + nbytes;
    if (end > size) {
      s = csm_fail(CSM_EINPUT, "%s: truncated (element at byte %llu needs %u bytes, %llu left)",
                   path, (unsigned long long)off, nbytes, (unsigned long long)(size - off - 8));
      goto done;
    }
    if (type == 14 && (s = check_matrix_element(f, path, off, nbytes, swap)) != CSM_OK) goto done;
    if (type != 15 /* miCOMPRESSED is not padded */) end = (end + 7) & ~(uint64_t)7;
    off = end;
  }
done:
  fclose(f);
  return s;
}

/* Reads `var` as a real numeric rank-2 rows x 3 matrix, converted to double
 * and row-major. */
static csm_status read_rows3(const char *path, const char *var, double **out, int *rows_out) {
  *out = NULL;
  *rows_out = 0;
  if (!path || !var) return csm_fail(CSM_EUSAGE, "mat: NULL path or variable name");
  pthread_once(&log_once, install_silent_log);
  csm_status s = check_container(path);
  if (s) return s;
  mat_t *mat = Mat_Open(path, MAT_ACC_RDONLY);
  if (!mat) return csm_fail(CSM_EINPUT, "%s: not a readable MATLAB .mat file", path);
  matvar_t *mv = Mat_VarReadInfo(mat, var);
  double *data = NULL;
  if (!mv) {
    s = csm_fail(CSM_EINPUT, "%s: no variable '%s' (or it cannot be read)", path, var);
    goto done;
  }
  if (mv->isComplex || mv->class_type == MAT_C_SPARSE || mv->class_type == MAT_C_CELL ||
      mv->class_type == MAT_C_STRUCT || mv->class_type == MAT_C_CHAR) {
    s = csm_fail(CSM_EINPUT, "%s: variable '%s' is not a real numeric matrix", path, var);
    goto done;
  }
  if (mv->rank != 2 || !mv->dims || mv->dims[1] != 3 || mv->dims[0] == 0 ||
      mv->dims[0] > (size_t)INT_MAX / 3) {
    if (mv->rank == 2 && mv->dims)
      s = csm_fail(CSM_EINPUT, "%s: variable '%s' has shape %zu x %zu, expected N x 3", path, var,
                   mv->dims[0], mv->dims[1]);
    else
      s = csm_fail(CSM_EINPUT, "%s: variable '%s' has rank %d, expected an N x 3 matrix", path, var,
                   mv->rank);
    goto done;
  }
  size_t rows = mv->dims[0], n;
  if (!csm_size_mul(rows, 3, &n)) {
    s = csm_fail(CSM_EINPUT, "%s: variable '%s' is too large", path, var);
    goto done;
  }
  /* A corrupt header must not make matio allocate more than the file can
   * hold: v5 stores at least 1 byte per element, zlib inflates at most
   * ~1032:1. */
  struct stat st;
  if (stat(path, &st) == 0 &&
      n > (size_t)st.st_size * (mv->compression == MAT_COMPRESSION_NONE ? 1 : 1100)) {
    s = csm_fail(CSM_EINPUT, "%s: variable '%s' claims %zu x 3 values, more than the file holds",
                 path, var, rows);
    goto done;
  }
  /* What reading it allocates: matio's copy (at most 8 bytes a value),
   * the doubles here and a caller's float copy. */
  char what[1100];
  snprintf(what, sizeof what, "%s: variable '%s' (%zu x 3)", path, var, rows);
  if ((s = csm_memory_check_product(n, 8 + sizeof(double) + sizeof(float), what))) goto done;
  Mat_VarFree(mv);
  mv = Mat_VarRead(mat, var);
  size_t need;
  if (!mv || !mv->data || mv->rank != 2 || !mv->dims || mv->dims[0] != rows || mv->dims[1] != 3 ||
      mv->data_size <= 0 || !csm_size_mul(n, (size_t)mv->data_size, &need) || mv->nbytes < need) {
    s = csm_fail(CSM_EINPUT, "%s: variable '%s' is truncated or corrupt", path, var);
    goto done;
  }
  data = csm_malloc_array(n, sizeof(double));
  if (!data) {
    s = CSM_ENOMEM;
    goto done;
  }
  for (size_t c = 0; c < 3; c++)
    for (size_t r = 0; r < rows; r++) {
      size_t k = c * rows + r; /* MATLAB is column-major */
      double v;
      switch (mv->class_type) {
      case MAT_C_DOUBLE: v = ((const double *)mv->data)[k]; break;
      case MAT_C_SINGLE: v = ((const float *)mv->data)[k]; break;
      case MAT_C_INT8: v = ((const int8_t *)mv->data)[k]; break;
      case MAT_C_UINT8: v = ((const uint8_t *)mv->data)[k]; break;
      case MAT_C_INT16: v = ((const int16_t *)mv->data)[k]; break;
      case MAT_C_UINT16: v = ((const uint16_t *)mv->data)[k]; break;
      case MAT_C_INT32: v = ((const int32_t *)mv->data)[k]; break;
      case MAT_C_UINT32: v = ((const uint32_t *)mv->data)[k]; break;
      case MAT_C_INT64: v = (double)((const int64_t *)mv->data)[k]; break;
      case MAT_C_UINT64: v = (double)((const uint64_t *)mv->data)[k]; break;
      default:
        s = csm_fail(CSM_EINPUT, "%s: variable '%s' has unsupported class %d", path, var,
                     (int)mv->class_type);
        goto done;
      }
      data[r * 3 + c] = v;
    }
  /* NaN or infinite coordinates would poison every fit and map downstream. */
  for (size_t r = 0; r < rows; r++)
    if (!isfinite(data[r * 3]) || !isfinite(data[r * 3 + 1]) || !isfinite(data[r * 3 + 2])) {
      s = csm_fail(CSM_EINPUT, "%s: %s row %zu is not finite (%g, %g, %g)", path, var, r,
                   data[r * 3], data[r * 3 + 1], data[r * 3 + 2]);
      goto done;
    }
  *out = data;
  *rows_out = (int)rows;
  data = NULL;
done:
  free(data);
  if (mv) Mat_VarFree(mv);
  Mat_Close(mat);
  return s;
}

csm_status csm_mat_read_matrix(const char *path, const char *var, float **data, int *rows,
                               int *cols) {
  if (!data || !rows || !cols) return csm_fail(CSM_EUSAGE, "csm_mat_read_matrix: NULL output");
  *data = NULL;
  *rows = *cols = 0;
  double *d;
  int n;
  csm_status s = read_rows3(path, var, &d, &n);
  if (s) return s;
  float *f = csm_malloc_array((size_t)n * 3, sizeof(float));
  if (!f) {
    free(d);
    return CSM_ENOMEM;
  }
  for (size_t i = 0; i < (size_t)n * 3; i++)
    f[i] = (float)d[i];
  free(d);
  *data = f;
  *rows = n;
  *cols = 3;
  return CSM_OK;
}

csm_status csm_mat_read_matrix_f64(const char *path, const char *var, double **data, int *rows,
                                   int *cols) {
  if (!data || !rows || !cols) return csm_fail(CSM_EUSAGE, "csm_mat_read_matrix_f64: NULL output");
  *data = NULL;
  *rows = *cols = 0;
  int n;
  csm_status s = read_rows3(path, var, data, &n);
  if (s) return s;
  *rows = n;
  *cols = 3;
  return CSM_OK;
}

/* Mean 3-D edge length of the triangles under index offset `base`. */
static double mean_edge(const double *tri, size_t t, const double *v, int base) {
  double sum = 0;
  for (size_t i = 0; i < t; i++)
    for (int k = 0; k < 3; k++) {
      size_t a = (size_t)tri[i * 3 + k] - (size_t)base,
             b = (size_t)tri[i * 3 + (k + 1) % 3] - (size_t)base;
      double dx = v[a * 3] - v[b * 3], dy = v[a * 3 + 1] - v[b * 3 + 1],
             dz = v[a * 3 + 2] - v[b * 3 + 2];
      sum += sqrt(dx * dx + dy * dy + dz * dz);
    }
  return sum / (double)t;
}

/* The index base. min 0 means 0-based and max == N (the `vertices` count in
 * the same file) means 1-based. When neither decides (1 <= min, max <= N-1,
 * e.g. PRNet's frontal_mesh.mat whose 0-based triangles never use vertex 0),
 * both readings are valid indices, and the one with the shorter mean edge is
 * the mesh: shifting every index by one scatters triangles across the face.
 * Without `vertices`, min >= 1 is read as MATLAB's 1-based convention. */
static csm_status detect_base(const char *path, const char *var, const double *tri, size_t t,
                              double lo, double hi, int *base) {
  if (lo < 0) return csm_fail(CSM_EINPUT, "%s: '%s' has a negative index %.0f", path, var, lo);
  double *v = NULL;
  int nv = 0;
  if (strcmp(var, "vertices") != 0 && read_rows3(path, "vertices", &v, &nv) != CSM_OK) {
    csm_clear_error();
    v = NULL;
  }
  csm_status s = CSM_OK;
  if (!v) {
    *base = lo >= 1 ? 1 : 0;
  } else if (lo == 0 && hi <= nv - 1) {
    *base = 0;
  } else if (lo >= 1 && hi == nv) {
    *base = 1;
  } else if (lo >= 1 && hi <= nv - 1) {
    *base = mean_edge(tri, t, v, 1) < mean_edge(tri, t, v, 0) ? 1 : 0;
  } else {
    s = csm_fail(CSM_EINPUT, "%s: '%s' indices %.0f..%.0f fit neither base for %d vertices", path,
                 var, lo, hi, nv);
  }
  free(v);
  return s;
}

csm_status csm_mat_read_triangles(const char *path, const char *var, int32_t **tri, int *n) {
  if (!tri || !n) return csm_fail(CSM_EUSAGE, "csm_mat_read_triangles: NULL output");
  *tri = NULL;
  *n = 0;
  double *d;
  int t;
  csm_status s = read_rows3(path, var, &d, &t);
  if (s) return s;
  double lo = INFINITY, hi = -INFINITY;
  for (size_t i = 0; i < (size_t)t * 3; i++) {
    if (!(d[i] == floor(d[i])) || fabs(d[i]) > (double)INT32_MAX) {
      free(d);
      return csm_fail(CSM_EINPUT, "%s: '%s' has a non-integer or out-of-range index", path, var);
    }
    lo = fmin(lo, d[i]);
    hi = fmax(hi, d[i]);
  }
  int base = 0;
  s = detect_base(path, var, d, (size_t)t, lo, hi, &base);
  int32_t *out = s ? NULL : csm_malloc_array((size_t)t * 3, sizeof(int32_t));
  if (!s && !out) s = CSM_ENOMEM;
  if (!s) {
    for (size_t i = 0; i < (size_t)t * 3; i++)
      out[i] = (int32_t)d[i] - base;
    *tri = out;
    *n = t;
  }
  free(d);
  return s;
}
