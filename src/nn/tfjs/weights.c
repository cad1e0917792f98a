/* The weights manifest: shards, byte layout and dequantization.
 *
 * As in tfjs-core's io_utils.decodeWeights, the shards of a group are one
 * byte stream holding the group's weights back to back, each
 * numel x (bytes per stored value) long. Every length comes from the
 * manifest and is checked against the files before anything is read. */
#include "tfjs.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Far above any face model; stops a corrupt manifest from asking for
 * memory the machine does not have. */
#define CSM_TFJS_MAX_WEIGHT_BYTES ((size_t)4 << 30)
/* Quantized values are decoded through a buffer this size (a multiple of
 * every stored value size). */
#define CSM_TFJS_CHUNK ((size_t)1 << 16)

typedef enum wdtype { W_F32, W_I32, W_BOOL, W_C64 } wdtype;
typedef enum wquant { Q_NONE, Q_F16, Q_U8, Q_U16 } wquant;

typedef struct wspec {
  const char *name;
  const char *dtype_name;
  wdtype dtype;
  wquant quant;
  double scale, min;
  csm_shape shape;
  size_t numel, bpv, bytes; /* bpv: bytes per stored value */
} wspec;

float csm_tfjs_half_to_float(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t man = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (man << 13); /* inf, or NaN keeping its payload */
  } else if (exp != 0) {
    bits = sign | ((exp + 112u) << 23) | (man << 13); /* rebias 15 -> 127 */
  } else if (man == 0) {
    bits = sign;
  } else {
    /* Subnormal m * 2^-24: normalize so that the leading 1 is implicit. */
    uint32_t e = 113;
    while (!(man & 0x400u)) {
      man <<= 1;
      e--;
    }
    bits = sign | (e << 23) | ((man & 0x3ffu) << 13);
  }
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}

/* JavaScript's Math.round (ties toward +infinity) then the Int32Array store
 * (ToInt32: truncate, wrap modulo 2^32), as io_utils does for int32 weights. */
static int32_t js_round_int32(double x) {
  double r = floor(x);
  if (x - r >= 0.5) r += 1.0;
  if (!isfinite(r)) return 0;
  double m = fmod(r, 4294967296.0);
  if (m < 0) m += 4294967296.0;
  uint32_t u = (uint32_t)m;
  return (int32_t)((int64_t)u - (u >= 0x80000000u ? (int64_t)4294967296 : 0));
}

static csm_status parse_spec(const char *path, int gi, int wi, const cJSON *j, wspec *s,
                             size_t *decoded_total) {
  memset(s, 0, sizeof *s);
  const cJSON *name = csm_tfjs_get(j, "name");
  if (!cJSON_IsObject(j) || !cJSON_IsString(name))
    return csm_fail(CSM_EINPUT, "%s: weightsManifest group %d entry %d has no name", path, gi, wi);
  s->name = name->valuestring;
  const cJSON *shape = csm_tfjs_get(j, "shape");
  if (!cJSON_IsArray(shape))
    return csm_fail(CSM_EINPUT, "%s: weight '%s' has no shape list", path, s->name);
  int rank = cJSON_GetArraySize(shape);
  if (rank > CSM_MAX_RANK)
    return csm_fail(CSM_EUNSUPPORTED, "%s: weight '%s' has rank %d (at most %d supported)", path,
                    s->name, rank, CSM_MAX_RANK);
  const cJSON *d;
  cJSON_ArrayForEach(d, shape) {
    int64_t v;
    if (csm_tfjs_json_int(d, &v))
      return csm_fail(CSM_EINPUT, "%s: weight '%s' has a non-integer dimension", path, s->name);
    if (v < 0)
      return csm_fail(CSM_EINPUT, "%s: weight '%s' has negative dimension %lld", path, s->name,
                      (long long)v);
    s->shape.d[s->shape.rank++] = v;
  }
  if (csm_shape_numel(&s->shape, &s->numel))
    return csm_fail_context(CSM_EINPUT, "%s: weight '%s': ", path, s->name);

  const cJSON *dtype = csm_tfjs_get(j, "dtype");
  if (!cJSON_IsString(dtype))
    return csm_fail(CSM_EINPUT, "%s: weight '%s' has no dtype", path, s->name);
  s->dtype_name = dtype->valuestring;
  size_t bpv;
  if (strcmp(s->dtype_name, "float32") == 0) {
    s->dtype = W_F32, bpv = 4;
  } else if (strcmp(s->dtype_name, "int32") == 0) {
    s->dtype = W_I32, bpv = 4;
  } else if (strcmp(s->dtype_name, "bool") == 0) {
    s->dtype = W_BOOL, bpv = 1;
  } else if (strcmp(s->dtype_name, "complex64") == 0) {
    s->dtype = W_C64, bpv = 8;
  } else if (strcmp(s->dtype_name, "string") == 0) {
    /* Variable length: the layout of everything after it is unknowable. */
    return csm_fail(CSM_EUNSUPPORTED, "%s: weight '%s' has unsupported dtype 'string'", path,
                    s->name);
  } else {
    return csm_fail(CSM_EINPUT, "%s: weight '%s' has unknown dtype '%s'", path, s->name,
                    s->dtype_name);
  }

  const cJSON *q = csm_tfjs_get(j, "quantization");
  if (q && !cJSON_IsNull(q)) {
    const cJSON *qd = csm_tfjs_get(q, "dtype");
    if (!cJSON_IsObject(q) || !cJSON_IsString(qd))
      return csm_fail(CSM_EINPUT, "%s: weight '%s' has a malformed quantization", path, s->name);
    if (strcmp(qd->valuestring, "float16") == 0) {
      if (s->dtype != W_F32)
        return csm_fail(CSM_EINPUT, "%s: weight '%s' is float16-quantized but has dtype '%s'", path,
                        s->name, s->dtype_name);
      s->quant = Q_F16, bpv = 2;
    } else if (strcmp(qd->valuestring, "uint8") == 0 || strcmp(qd->valuestring, "uint16") == 0) {
      const cJSON *scale = csm_tfjs_get(q, "scale");
      const cJSON *min = csm_tfjs_get(q, "min");
      if (!cJSON_IsNumber(scale) || !cJSON_IsNumber(min))
        return csm_fail(CSM_EINPUT, "%s: weight '%s' quantized to %s lacks scale and min", path,
                        s->name, qd->valuestring);
      s->scale = scale->valuedouble;
      s->min = min->valuedouble;
      s->quant = qd->valuestring[4] == '8' ? Q_U8 : Q_U16;
      bpv = s->quant == Q_U8 ? 1 : 2;
    } else {
      return csm_fail(CSM_EUNSUPPORTED, "%s: weight '%s' has unsupported quantization '%s'", path,
                      s->name, qd->valuestring);
    }
  }
  size_t decoded;
  s->bpv = bpv;
  if (!csm_size_mul(s->numel, bpv, &s->bytes) || !csm_size_mul(s->numel, 4, &decoded) ||
      !csm_size_add(*decoded_total, decoded, decoded_total) ||
      *decoded_total > CSM_TFJS_MAX_WEIGHT_BYTES)
    return csm_fail(CSM_EINPUT, "%s: weights too large (more than %zu bytes at weight '%s')", path,
                    CSM_TFJS_MAX_WEIGHT_BYTES, s->name);
  char what[512];
  snprintf(what, sizeof what, "%s: weights (up to '%s')", path, s->name);
  return csm_memory_check(*decoded_total, what);
}

/* The shards of one group read as a single byte stream. Sizes were checked
 * with stat() beforehand; a file that changes meanwhile is an I/O error. */
typedef struct shard_stream {
  const char *path;
  char **files;
  const size_t *sizes;
  int n_files, cur;
  FILE *fp;
  size_t left; /* bytes of files[cur] not yet consumed */
} shard_stream;

static csm_status stream_close(shard_stream *s) {
  csm_status st = CSM_OK;
  if (!s->fp) return CSM_OK;
  if (s->left == 0 && fgetc(s->fp) != EOF)
    st =
        csm_fail(CSM_EIO, "%s: weight shard '%s' grew while being read", s->path, s->files[s->cur]);
  if (!st && ferror(s->fp))
    st = csm_fail(CSM_EIO, "%s: cannot read weight shard '%s'", s->path, s->files[s->cur]);
  fclose(s->fp);
  s->fp = NULL;
  return st;
}

static csm_status stream_next(shard_stream *s) {
  csm_status st = stream_close(s);
  if (st) return st;
  if (s->cur + 1 >= s->n_files) return csm_fail(CSM_EIO, "%s: weight shards ended early", s->path);
  s->cur++;
  if ((st = csm_file_open_read(s->files[s->cur], &s->fp, NULL)))
    return csm_fail_context(st, "%s: weight shard: ", s->path);
  s->left = s->sizes[s->cur];
  return CSM_OK;
}

/* Reads n bytes into dst, or skips them when dst is NULL. */
static csm_status stream_read(shard_stream *s, unsigned char *dst, size_t n) {
  while (n > 0) {
    if (!s->fp || s->left == 0) {
      csm_status st = stream_next(s);
      if (st) return st;
      continue;
    }
    size_t k = n < s->left ? n : s->left;
    int ok = dst ? fread(dst, 1, k, s->fp) == k : fseeko(s->fp, (off_t)k, SEEK_CUR) == 0;
    if (!ok)
      return csm_fail(CSM_EIO, "%s: weight shard '%s' is shorter than when it was opened", s->path,
                      s->files[s->cur]);
    s->left -= k;
    n -= k;
    if (dst) dst += k;
  }
  return CSM_OK;
}

/* Decodes n stored values at p into element k0 onwards of t. */
static void decode_values(const wspec *s, const unsigned char *p, size_t n, csm_tensor *t,
                          size_t k0) {
  float *f = (float *)t->data + k0;
  int32_t *i32 = (int32_t *)t->data + k0;
  switch (s->quant) {
  case Q_NONE:
    for (size_t k = 0; k < n; k++) {
      uint32_t u = (uint32_t)p[4 * k] | (uint32_t)p[4 * k + 1] << 8 | (uint32_t)p[4 * k + 2] << 16 |
                   (uint32_t)p[4 * k + 3] << 24;
      memcpy(&i32[k], &u, 4);
    }
    break;
  case Q_F16:
    for (size_t k = 0; k < n; k++)
      f[k] = csm_tfjs_half_to_float((uint16_t)(p[2 * k] | p[2 * k + 1] << 8));
    break;
  case Q_U8:
  case Q_U16:
    for (size_t k = 0; k < n; k++) {
      unsigned q = s->quant == Q_U8 ? p[k] : (unsigned)(p[2 * k] | p[2 * k + 1] << 8);
      /* In double, then rounded once, exactly as JavaScript computes it. */
      double v = (double)q * s->scale + s->min;
      if (s->dtype == W_F32)
        f[k] = (float)v;
      else
        i32[k] = js_round_int32(v);
    }
    break;
  }
}

/* Faults in a large fresh buffer with one system call rather than one trap
 * per page, which is most of the load time of a large model on virtual
 * machines. Only whole pages inside the buffer are touched; failure (an
 * older kernel) just means the pages fault in lazily as usual. */
static void prefault(void *p, size_t n) {
#ifdef MADV_POPULATE_WRITE
  long page = sysconf(_SC_PAGESIZE);
  if (page <= 0 || n < ((size_t)1 << 18)) return;
  uintptr_t a = ((uintptr_t)p + (uintptr_t)page - 1) & ~((uintptr_t)page - 1);
  uintptr_t b = ((uintptr_t)p + n) & ~((uintptr_t)page - 1);
  if (b > a) (void)madvise((void *)a, b - a, MADV_POPULATE_WRITE);
#else
  (void)p, (void)n;
#endif
}

/* The stored values of one weight into its allocated tensor. */
static csm_status read_values(shard_stream *in, const wspec *s, csm_tensor *t,
                              unsigned char *chunk) {
  csm_status st = CSM_OK;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  if (s->quant == Q_NONE) return stream_read(in, t->data, s->bytes);
#endif
  size_t per = CSM_TFJS_CHUNK / s->bpv;
  for (size_t k0 = 0; k0 < s->numel && !st; k0 += per) {
    size_t m = s->numel - k0 < per ? s->numel - k0 : per;
    st = stream_read(in, chunk, m * s->bpv);
    if (!st) decode_values(s, chunk, m, t, k0);
  }
  return st;
}

/* Reads one weight straight into its tensor (quantized ones through a small
 * chunk buffer): decoded values are written once and nothing else large is
 * touched, which matters because first touches of fresh memory dominate the
 * load time of large models. A NaN or infinity (float16 has them too) is
 * refused (csm_weight_check_finite). */
static csm_status read_weight(shard_stream *in, const wspec *s, csm_tensor *t,
                              unsigned char *chunk) {
  if (s->dtype != W_F32 && s->dtype != W_I32)
    return csm_fail(CSM_EUNSUPPORTED, "%s: weight '%s' has unsupported dtype '%s'", in->path,
                    s->name, s->dtype_name);
  csm_status st = csm_tensor_alloc(t, s->dtype == W_F32 ? CSM_F32 : CSM_I32, &s->shape);
  if (st) return csm_fail_context(st, "%s: weight '%s': ", in->path, s->name);
  prefault(t->data, s->numel * 4);
  st = read_values(in, s, t, chunk);
  if (!st && (st = csm_weight_check_finite(s->name, t))) csm_fail_context(st, "%s: ", in->path);
  return st;
}

/* Resolves the group's shard paths (inside the model's folder) and checks
 * that their sizes add up to what the manifest describes, before anything
 * is allocated or read. */
static csm_status size_shards(const char *path, const char *dir, int gi, const cJSON *paths,
                              char **files, size_t *sizes, size_t need) {
  size_t have = 0;
  int i = 0;
  const cJSON *p;
  cJSON_ArrayForEach(p, paths) {
    if (!cJSON_IsString(p) || !*p->valuestring)
      return csm_fail(CSM_EINPUT, "%s: weightsManifest group %d has an invalid path", path, gi);
    csm_status st = csm_model_folder_file(dir, p->valuestring, &files[i]);
    if (st)
      return csm_fail_context(
          st, st == CSM_EIO ? "%s: cannot open weight shard " : "%s: weight shard ", path);
    struct stat sb;
    if (stat(files[i], &sb) != 0)
      return csm_fail(CSM_EIO, "%s: cannot open weight shard '%s': %s", path, files[i],
                      strerror(errno));
    if (!S_ISREG(sb.st_mode))
      return csm_fail(CSM_EIO, "%s: cannot open weight shard '%s': not a regular file", path,
                      files[i]);
    sizes[i] = (size_t)sb.st_size;
    if (!csm_size_add(have, sizes[i], &have))
      return csm_fail(CSM_EINPUT, "%s: weight shards too large", path);
    i++;
  }
  if (have != need)
    return csm_fail(CSM_EINPUT,
                    "%s: weight shards of group %d hold %zu bytes but the manifest describes %zu "
                    "(shard too %s, or a weight's shape or dtype is wrong)",
                    path, gi, have, need, have < need ? "short" : "long");
  return CSM_OK;
}

static csm_status load_group(const char *path, const char *dir, int gi, const cJSON *group,
                             csm_graph *g, const csm_tfjs_names *names, size_t *decoded_total) {
  csm_status st = CSM_OK;
  const cJSON *paths = csm_tfjs_get(group, "paths");
  const cJSON *weights = csm_tfjs_get(group, "weights");
  if (!cJSON_IsObject(group) || !cJSON_IsArray(paths) || !cJSON_IsArray(weights))
    return csm_fail(CSM_EINPUT, "%s: weightsManifest group %d lacks paths or weights", path, gi);
  int n_files = cJSON_GetArraySize(paths), n_specs = cJSON_GetArraySize(weights);
  char **files = csm_calloc((size_t)n_files + 1, sizeof *files);
  size_t *sizes = csm_calloc((size_t)n_files + 1, sizeof *sizes);
  wspec *specs = csm_calloc((size_t)n_specs + 1, sizeof *specs);
  unsigned char *chunk = csm_malloc(CSM_TFJS_CHUNK);
  size_t need = 0;
  shard_stream in = {path, files, sizes, n_files, -1, NULL, 0};
  if (!files || !sizes || !specs || !chunk) {
    st = CSM_ENOMEM;
    goto out;
  }
  int i = 0;
  const cJSON *w;
  cJSON_ArrayForEach(w, weights) {
    st = parse_spec(path, gi, i, w, &specs[i], decoded_total);
    if (!st && !csm_size_add(need, specs[i].bytes, &need))
      st = csm_fail(CSM_EINPUT, "%s: weightsManifest group %d is too large", path, gi);
    if (st) goto out;
    i++;
  }
  st = size_shards(path, dir, gi, paths, files, sizes, need);
  for (int k = 0; k < n_specs && !st; k++) {
    const wspec *s = &specs[k];
    int idx = csm_tfjs_names_find(names, s->name, strlen(s->name));
    /* Weights that no Const uses are skipped, as TF.js leaves them unused;
     * a repeated name replaces the earlier value, as its weight map does. */
    if (idx >= 0 && g->nodes[idx].op == CSM_OP_CONST) {
      csm_tensor_free(&g->nodes[idx].value);
      st = read_weight(&in, s, &g->nodes[idx].value, chunk);
    } else {
      st = stream_read(&in, NULL, s->bytes);
    }
  }
  /* Trailing empty shards are opened too, so that a vanished one is noticed
   * and the last one is checked for growth. */
  while (!st && in.cur + 1 < n_files)
    st = stream_next(&in);
  if (!st) st = stream_close(&in);
out:
  if (in.fp) fclose(in.fp);
  for (int k = 0; files && k < n_files; k++)
    free(files[k]);
  free(files);
  free(sizes);
  free(specs);
  free(chunk);
  return st;
}

csm_status csm_tfjs_load_weights(const char *path, const char *dir, const cJSON *manifest,
                                 csm_graph *g, const csm_tfjs_names *names) {
  size_t decoded_total = 0;
  const cJSON *group;
  int gi = 0;
  if (!manifest || cJSON_IsNull(manifest)) return CSM_OK;
  if (!cJSON_IsArray(manifest))
    return csm_fail(CSM_EINPUT, "%s: weightsManifest is not a list", path);
  cJSON_ArrayForEach(group, manifest) {
    csm_status st = load_group(path, dir, gi++, group, g, names, &decoded_total);
    if (st) return st;
  }
  return CSM_OK;
}
