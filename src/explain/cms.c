/* CMS (DESIGN.md step 4): the per-pixel mean of canonical maps over the
 * images where the pixel was valid, with the standard error, the stability
 * snapshots and a bit-exact checkpoint.
 *
 * Per pixel we keep Welford's running (count, mean, M2) in double: one pass,
 * no catastrophic cancellation for large offsets, and the update reads only
 * that pixel's state, so the result does not depend on the thread count.
 *
 * Checkpoint file (all integers little-endian, doubles and floats as their
 * IEEE bit patterns, little-endian):
 *   header, 48 bytes: magic "CSM-CMS\0", u32 version (2), u32 w, u32 h,
 *     u32 images, u32 snapshots, u32 reserved (0), u64 payload bytes,
 *     u64 run identity (csm_cms_set_identity; 0: none)
 *   payload: i32 count[w*h], f64 mean[w*h], f64 m2[w*h], then per snapshot
 *     u32 images, u32 reserved (0), f32 mean[w*h], u8 mask[w*h]
 *   trailer: u64 FNV-1a 64 of header and payload.
 * Every size is checked against the file length before anything is
 * allocated; the checksum and the state's invariants before it is used. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csm/explain.h"

#define CMS_MAX_SIDE 8192
#define CMS_VERSION 2u
#define CMS_HEADER_BYTES 48
#define CMS_TRAILER_BYTES 8
/* The 1-2-5 series up to INT_MAX has 29 points. */
#define CMS_MAX_SNAPSHOTS 32

static const unsigned char kMagic[8] = {'C', 'S', 'M', '-', 'C', 'M', 'S', 0};

typedef struct cms_snap {
  int images;
  float *mean;
  unsigned char *mask;
} cms_snap;

struct csm_cms {
  int w, h;
  size_t n;
  int images;
  int32_t *count;
  double *mean, *m2;
  int n_snaps;
  cms_snap snaps[CMS_MAX_SNAPSHOTS];
  uint64_t identity;
};

/* ---- Snapshot series ------------------------------------------------------ */

static int is_snapshot_point(int k) {
  if (k <= 0) return 0;
  while (k % 10 == 0)
    k /= 10;
  return k == 1 || k == 2 || k == 5;
}

/* The i-th point of 1, 2, 5, 10, 20, 50, ... (i from 0). */
static long long snapshot_point(int i) {
  static const int m[3] = {1, 2, 5};
  long long p = m[i % 3];
  for (int e = 0; e < i / 3; e++)
    p *= 10;
  return p;
}

static int snapshots_up_to(long long images) {
  int n = 0;
  while (n < CMS_MAX_SNAPSHOTS && snapshot_point(n) <= images)
    n++;
  return n;
}

/* ---- Create, add, read ---------------------------------------------------- */

static void snap_free(cms_snap *s) {
  free(s->mean);
  free(s->mask);
  memset(s, 0, sizeof *s);
}

void csm_cms_free(csm_cms *c) {
  if (!c) return;
  free(c->count);
  free(c->mean);
  free(c->m2);
  for (int i = 0; i < c->n_snaps; i++)
    snap_free(&c->snaps[i]);
  free(c);
}

static csm_status cms_new(int w, int h, csm_cms **out) {
  csm_cms *c = csm_calloc(1, sizeof *c);
  if (!c) return CSM_ENOMEM;
  c->w = w;
  c->h = h;
  c->n = (size_t)w * (size_t)h; /* <= 8192^2: no overflow */
  c->count = csm_calloc(c->n, sizeof *c->count);
  c->mean = c->count ? csm_calloc(c->n, sizeof *c->mean) : NULL;
  c->m2 = c->mean ? csm_calloc(c->n, sizeof *c->m2) : NULL;
  if (!c->m2) {
    csm_cms_free(c);
    return CSM_ENOMEM;
  }
  *out = c;
  return CSM_OK;
}

csm_status csm_cms_create(int w, int h, csm_cms **out) {
  if (!out) return csm_fail(CSM_EUSAGE, "csm_cms_create: null output");
  *out = NULL;
  if (w < 1 || h < 1 || w > CMS_MAX_SIDE || h > CMS_MAX_SIDE)
    return csm_fail(CSM_EUSAGE, "csm_cms_create: size %d x %d outside 1..%d", w, h, CMS_MAX_SIDE);
  return cms_new(w, h, out);
}

static csm_status snap_alloc(cms_snap *s, size_t n) {
  s->mean = csm_malloc_array(n, sizeof *s->mean);
  s->mask = s->mean ? csm_malloc(n) : NULL;
  if (!s->mask) {
    snap_free(s);
    return CSM_ENOMEM;
  }
  return CSM_OK;
}

csm_status csm_cms_add(csm_cms *c, const csm_map *map) {
  if (!c || !map || !map->value || !map->count)
    return csm_fail(CSM_EUSAGE, "csm_cms_add: null argument");
  if (map->w != c->w || map->h != c->h)
    return csm_fail(CSM_EUSAGE, "csm_cms_add: map is %d x %d, the CMS %d x %d", map->w, map->h,
                    c->w, c->h);
  if (c->images == INT_MAX) return csm_fail(CSM_EUSAGE, "csm_cms_add: too many images");
  const float *v = map->value, *cnt = map->count;
  const size_t n = c->n;
  /* Check everything before touching the state: a failed add changes nothing. */
  for (size_t i = 0; i < n; i++)
    if (cnt[i] > 0 && !isfinite(v[i]))
      return csm_fail(CSM_EINPUT, "csm_cms_add: map value %g at (%zu, %zu) is not finite",
                      (double)v[i], i % (size_t)c->w, i / (size_t)c->w);
  const int k = c->images + 1;
  cms_snap snap = {0};
  if (is_snapshot_point(k)) {
    if (c->n_snaps >= CMS_MAX_SNAPSHOTS)
      return csm_fail(CSM_EINTERNAL, "csm_cms_add: snapshot table full");
    csm_status st = snap_alloc(&snap, n);
    if (st) return st;
  }
  int32_t *count = c->count;
  double *mean = c->mean, *m2 = c->m2;
  /* Each pixel reads and writes only its own state: same bits at any thread count. */
#pragma omp parallel for schedule(static) if (n >= 65536)
  for (size_t i = 0; i < n; i++) {
    if (!(cnt[i] > 0)) continue;
    const double x = (double)v[i];
    const int32_t nk = count[i] + 1;
    const double d = x - mean[i];
    mean[i] += d / (double)nk;
    m2[i] += d * (x - mean[i]);
    count[i] = nk;
  }
  c->images = k;
  if (snap.mean) {
    snap.images = k;
    for (size_t i = 0; i < n; i++) {
      snap.mean[i] = (float)mean[i];
      snap.mask[i] = count[i] > 0;
    }
    c->snaps[c->n_snaps++] = snap;
  }
  return CSM_OK;
}

int csm_cms_images(const csm_cms *c) { return c ? c->images : 0; }
int csm_cms_width(const csm_cms *c) { return c ? c->w : 0; }
int csm_cms_height(const csm_cms *c) { return c ? c->h : 0; }

void csm_cms_result(const csm_cms *c, float *mean, float *count, float *std_err) {
  if (!c) return;
  const size_t n = c->n;
#pragma omp parallel for schedule(static) if (n >= 65536)
  for (size_t i = 0; i < n; i++) {
    const int32_t k = c->count[i];
    if (mean) mean[i] = k > 0 ? (float)c->mean[i] : 0.0f;
    if (count) count[i] = (float)k;
    if (std_err) {
      double se = 0;
      if (k >= 2) se = sqrt(c->m2[i] / (double)(k - 1) / (double)k);
      std_err[i] = (float)se;
    }
  }
}

/* Two-pass Pearson correlation over the pixels covered in the snapshot and
 * now. Serial, so the sums do not depend on the thread count. The caller
 * wanting the current point of the curve when the image count is not a
 * snapshot point compares csm_cms_result() against a snapshot directly. */
static double snapshot_corr(const csm_cms *c, const cms_snap *s) {
  size_t m = 0;
  double sa = 0, sb = 0;
  for (size_t i = 0; i < c->n; i++) {
    if (!s->mask[i] || c->count[i] <= 0) continue;
    sa += (double)s->mean[i];
    sb += c->mean[i];
    m++;
  }
  if (m < 2) return NAN;
  const double ma = sa / (double)m, mb = sb / (double)m;
  double sxx = 0, syy = 0, sxy = 0;
  for (size_t i = 0; i < c->n; i++) {
    if (!s->mask[i] || c->count[i] <= 0) continue;
    const double a = (double)s->mean[i] - ma, b = c->mean[i] - mb;
    sxx += a * a;
    syy += b * b;
    sxy += a * b;
  }
  if (!(sxx > 0) || !(syy > 0)) return NAN;
  return sxy / sqrt(sxx * syy);
}

int csm_cms_stability(const csm_cms *c, int *images, double *corr, int max) {
  if (!c || max <= 0) return 0;
  int n = c->n_snaps < max ? c->n_snaps : max;
  for (int i = 0; i < n; i++) {
    if (images) images[i] = c->snaps[i].images;
    if (corr) corr[i] = snapshot_corr(c, &c->snaps[i]);
  }
  return n;
}

/* ---- Checkpoint I/O ------------------------------------------------------- */

#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull
#define IO_BUF 65536

static uint64_t fnv1a(uint64_t h, const unsigned char *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= FNV_PRIME;
  }
  return h;
}

static void put_le(unsigned char *p, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; i++)
    p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le(const unsigned char *p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; i++)
    v |= (uint64_t)p[i] << (8 * i);
  return v;
}

/* Buffered writer; the checksum covers every byte put. */
typedef struct writer {
  FILE *fp;
  uint64_t hash;
  int ok, err; /* err: errno of the first failed write */
  size_t len;
  unsigned char buf[IO_BUF];
} writer;

static void wr_flush(writer *w) {
  if (w->ok && w->len && fwrite(w->buf, 1, w->len, w->fp) != w->len) {
    w->ok = 0;
    w->err = errno;
  }
  w->len = 0;
}

static void wr_bytes(writer *w, const void *data, size_t n) {
  const unsigned char *p = data;
  w->hash = fnv1a(w->hash, p, n);
  while (n) {
    if (w->len == IO_BUF) wr_flush(w);
    size_t k = IO_BUF - w->len < n ? IO_BUF - w->len : n;
    memcpy(w->buf + w->len, p, k);
    w->len += k;
    p += k;
    n -= k;
  }
}

static void wr_uint(writer *w, uint64_t v, int bytes) {
  unsigned char b[8];
  put_le(b, v, bytes);
  wr_bytes(w, b, (size_t)bytes);
}

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define CMS_HOST_LE 1
#else
#define CMS_HOST_LE 0
#endif

/* n elements of `size` bytes (4 or 8), each written little-endian. */
static void wr_array(writer *w, const void *data, size_t n, int size) {
  if (CMS_HOST_LE) {
    wr_bytes(w, data, n * (size_t)size);
    return;
  }
  const unsigned char *p = data;
  for (size_t i = 0; i < n; i++) {
    uint64_t v;
    if (size == 4) {
      uint32_t u;
      memcpy(&u, p + 4 * i, 4);
      v = u;
    } else {
      memcpy(&v, p + 8 * i, 8);
    }
    wr_uint(w, v, size);
  }
}

static size_t snapshot_bytes(size_t n) { return 8 + n * 5; }

void csm_cms_set_identity(csm_cms *c, uint64_t identity) {
  if (c) c->identity = identity;
}

uint64_t csm_cms_identity(const csm_cms *c) { return c ? c->identity : 0; }

csm_status csm_cms_save(const csm_cms *c, const char *path) {
  if (!c || !path) return csm_fail(CSM_EUSAGE, "csm_cms_save: null argument");
  writer *w = csm_malloc(sizeof *w);
  if (!w) return CSM_ENOMEM;
  csm_atomic_file *out;
  csm_status st = csm_atomic_file_open(path, &out);
  if (st) {
    free(w);
    return st;
  }
  w->fp = csm_atomic_file_stream(out);
  w->hash = FNV_OFFSET;
  w->ok = 1;
  w->err = 0;
  w->len = 0;
  const size_t n = c->n;
  const uint64_t payload = (uint64_t)n * 20 + (uint64_t)c->n_snaps * snapshot_bytes(n);
  wr_bytes(w, kMagic, sizeof kMagic);
  wr_uint(w, CMS_VERSION, 4);
  wr_uint(w, (uint32_t)c->w, 4);
  wr_uint(w, (uint32_t)c->h, 4);
  wr_uint(w, (uint32_t)c->images, 4);
  wr_uint(w, (uint32_t)c->n_snaps, 4);
  wr_uint(w, 0, 4);
  wr_uint(w, payload, 8);
  wr_uint(w, c->identity, 8);
  wr_array(w, c->count, n, 4);
  wr_array(w, c->mean, n, 8);
  wr_array(w, c->m2, n, 8);
  for (int s = 0; s < c->n_snaps; s++) {
    const cms_snap *sn = &c->snaps[s];
    wr_uint(w, (uint32_t)sn->images, 4);
    wr_uint(w, 0, 4);
    wr_array(w, sn->mean, n, 4);
    wr_bytes(w, sn->mask, n);
  }
  unsigned char trailer[8];
  put_le(trailer, w->hash, 8);
  wr_bytes(w, trailer, 8);
  wr_flush(w);
  /* The atomic file syncs the file and its folder: a checkpoint that
   * --resume finds is complete and survives a crash. */
  if (!w->ok) {
    st = csm_fail(CSM_ESYSTEM, "%s: cannot write: %s", path, strerror(w->err ? w->err : EIO));
    csm_atomic_file_abort(out);
  } else {
    st = csm_atomic_file_commit(out);
  }
  free(w);
  return st;
}

/* Buffered reader; the checksum covers every byte taken while hashing is on. */
typedef struct reader {
  FILE *fp;
  uint64_t hash;
  int hashing, ok;
  size_t pos, len;
  unsigned char buf[IO_BUF];
} reader;

static void rd_bytes(reader *r, void *dst, size_t n) {
  unsigned char *p = dst;
  while (n) {
    if (r->pos == r->len) {
      r->pos = 0;
      r->len = r->ok ? fread(r->buf, 1, IO_BUF, r->fp) : 0;
      if (r->len == 0) {
        r->ok = 0;
        memset(p, 0, n);
        return;
      }
    }
    size_t k = r->len - r->pos < n ? r->len - r->pos : n;
    memcpy(p, r->buf + r->pos, k);
    if (r->hashing) r->hash = fnv1a(r->hash, p, k);
    r->pos += k;
    p += k;
    n -= k;
  }
}

static uint64_t rd_uint(reader *r, int bytes) {
  unsigned char b[8];
  rd_bytes(r, b, (size_t)bytes);
  return get_le(b, bytes);
}

/* n elements of `size` bytes (4 or 8), stored little-endian, into host order. */
static void rd_array(reader *r, void *data, size_t n, int size) {
  rd_bytes(r, data, n * (size_t)size);
  if (CMS_HOST_LE) return;
  unsigned char *p = data;
  for (size_t i = 0; i < n; i++, p += size) {
    uint64_t v = get_le(p, size);
    if (size == 4) {
      uint32_t u = (uint32_t)v;
      memcpy(p, &u, 4);
    } else {
      memcpy(p, &v, 8);
    }
  }
}

/* The state's invariants; a file with a valid checksum that breaks them was
 * made by something other than csm_cms_save. */
static const char *check_state(const csm_cms *c) {
  for (size_t i = 0; i < c->n; i++) {
    const int32_t k = c->count[i];
    if (k < 0 || k > c->images) return "pixel count out of range";
    if (!isfinite(c->mean[i]) || !isfinite(c->m2[i]) || c->m2[i] < 0)
      return "non-finite or negative pixel state";
    if (k == 0 && (c->mean[i] != 0 || c->m2[i] != 0)) return "state at an uncovered pixel";
  }
  for (int s = 0; s < c->n_snaps; s++) {
    const cms_snap *sn = &c->snaps[s];
    if (sn->images != (int)snapshot_point(s)) return "snapshot image count";
    for (size_t i = 0; i < c->n; i++) {
      if (sn->mask[i] > 1 || !isfinite(sn->mean[i])) return "snapshot values";
      if (sn->mask[i] && c->count[i] == 0) return "snapshot covers an uncovered pixel";
    }
  }
  return NULL;
}

static csm_status load_body(reader *r, const char *path, long long file_size, csm_cms **out) {
  unsigned char hdr[CMS_HEADER_BYTES];
  size_t got = fread(hdr, 1, sizeof hdr, r->fp);
  if (got >= sizeof kMagic && memcmp(hdr, kMagic, sizeof kMagic) != 0)
    return csm_fail(CSM_EINPUT, "%s: not a CMS checkpoint (bad magic)", path);
  if (file_size < CMS_HEADER_BYTES + CMS_TRAILER_BYTES || got < sizeof hdr)
    return csm_fail(CSM_EINPUT, "%s: truncated CMS checkpoint (%lld bytes)", path, file_size);
  r->hash = fnv1a(FNV_OFFSET, hdr, sizeof hdr);
  const uint64_t version = get_le(hdr + 8, 4), w = get_le(hdr + 12, 4), h = get_le(hdr + 16, 4),
                 images = get_le(hdr + 20, 4), snaps = get_le(hdr + 24, 4),
                 reserved = get_le(hdr + 28, 4), payload = get_le(hdr + 32, 8),
                 identity = get_le(hdr + 40, 8);
  if (version != CMS_VERSION)
    return csm_fail(CSM_EINPUT, "%s: unsupported CMS checkpoint version %llu (this csm writes %u)",
                    path, (unsigned long long)version, CMS_VERSION);
  if (w < 1 || h < 1 || w > CMS_MAX_SIDE || h > CMS_MAX_SIDE)
    return csm_fail(CSM_EINPUT, "%s: bad CMS size %llu x %llu", path, (unsigned long long)w,
                    (unsigned long long)h);
  if (images > INT_MAX || reserved != 0)
    return csm_fail(CSM_EINPUT, "%s: bad CMS header (images %llu)", path,
                    (unsigned long long)images);
  if (snaps != (uint64_t)snapshots_up_to((long long)images))
    return csm_fail(CSM_EINPUT, "%s: %llu snapshots for %llu images (want %d)", path,
                    (unsigned long long)snaps, (unsigned long long)images,
                    snapshots_up_to((long long)images));
  /* w, h <= 8192 and snaps <= 32 bound these well below SIZE_MAX. */
  const size_t n = (size_t)w * (size_t)h;
  const uint64_t want = (uint64_t)n * 20 + snaps * (uint64_t)snapshot_bytes(n);
  if (payload != want || (uint64_t)file_size != CMS_HEADER_BYTES + want + CMS_TRAILER_BYTES)
    return csm_fail(CSM_EINPUT,
                    "%s: size mismatch: a %llu x %llu CMS with %llu snapshots needs %llu bytes, "
                    "the header says %llu, the file has %lld (truncated or corrupt)",
                    path, (unsigned long long)w, (unsigned long long)h, (unsigned long long)snaps,
                    (unsigned long long)(CMS_HEADER_BYTES + want + CMS_TRAILER_BYTES),
                    (unsigned long long)(CMS_HEADER_BYTES + payload + CMS_TRAILER_BYTES),
                    file_size);
  csm_cms *c;
  csm_status st = cms_new((int)w, (int)h, &c);
  if (st) return st;
  c->images = (int)images;
  c->identity = identity;
  for (uint64_t s = 0; s < snaps; s++) {
    if ((st = snap_alloc(&c->snaps[s], n)) != CSM_OK) {
      csm_cms_free(c);
      return st;
    }
    c->n_snaps++;
  }
  rd_array(r, c->count, n, 4);
  rd_array(r, c->mean, n, 8);
  rd_array(r, c->m2, n, 8);
  int bad_reserved = 0;
  for (int s = 0; s < c->n_snaps; s++) {
    cms_snap *sn = &c->snaps[s];
    sn->images = (int)(uint32_t)rd_uint(r, 4);
    bad_reserved |= rd_uint(r, 4) != 0;
    rd_array(r, sn->mean, n, 4);
    rd_bytes(r, sn->mask, n);
  }
  const uint64_t hash = r->hash;
  r->hashing = 0;
  const uint64_t stored = rd_uint(r, 8);
  const char *why = NULL;
  if (!r->ok) {
    csm_cms_free(c);
    return csm_fail(CSM_EIO, "%s: read failed", path);
  }
  if (stored != hash)
    why = "checksum mismatch";
  else if (bad_reserved)
    why = "bad snapshot header";
  else
    why = check_state(c);
  if (why) {
    csm_cms_free(c);
    return csm_fail(CSM_EINPUT, "%s: corrupt CMS checkpoint: %s", path, why);
  }
  *out = c;
  return CSM_OK;
}

csm_status csm_cms_load(const char *path, csm_cms **out) {
  if (!path || !out) return csm_fail(CSM_EUSAGE, "csm_cms_load: null argument");
  *out = NULL;
  FILE *fp;
  uint64_t size;
  csm_status st = csm_file_open_read(path, &fp, &size);
  if (st) return st;
  reader *r = csm_malloc(sizeof *r);
  if (!r) {
    fclose(fp);
    return CSM_ENOMEM;
  }
  r->fp = fp;
  r->hash = FNV_OFFSET;
  r->hashing = 1;
  r->ok = 1;
  r->pos = r->len = 0;
  st = load_body(r, path, size > LLONG_MAX ? LLONG_MAX : (long long)size, out);
  free(r);
  fclose(fp);
  return st;
}
