/* CMS: the streaming mean, count and standard error against a direct
 * two-pass computation, the stability curve against a direct Pearson
 * correlation, bit-exact resume from a checkpoint, and hostile checkpoints. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csm_test.h"

static char dir[512];

static const char *tmp_path(const char *name) {
  static char buf[1024];
  snprintf(buf, sizeof buf, "%s/%s", dir, name);
  return buf;
}

static uint32_t rng_next(uint32_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 17;
  *s ^= *s << 5;
  return *s;
}

static double rng_unit(uint32_t *s) { return (rng_next(s) >> 8) * (1.0 / 16777216.0); }

/* n maps of w x h: values around a large offset (the case where a naive
 * sum-of-squares loses everything), covered with probability 0.6; pixel 0
 * never covered, pixel 1 covered once (map 3), pixel 2 always. Values where
 * the count is 0 are NaN: the CMS must not read them. */
static csm_map *random_maps(int w, int h, int n, uint32_t seed) {
  csm_map *m = calloc((size_t)n, sizeof *m);
  assert_non_null(m);
  uint32_t s = seed | 1;
  for (int k = 0; k < n; k++) {
    CSM_ASSERT_OK(csm_map_alloc(&m[k], w, h));
    for (int i = 0; i < w * h; i++) {
      int on = rng_unit(&s) < 0.6;
      if (i == 0) on = 0;
      if (i == 1) on = k == 3;
      if (i == 2) on = 1;
      double x = 1000.0 + 0.01 * i + (rng_unit(&s) - 0.5) * (1 + i % 7);
      m[k].count[i] = on ? (float)(1 + rng_next(&s) % 5) : 0.0f;
      m[k].value[i] = on ? (float)x : NAN;
    }
  }
  return m;
}

static void free_maps(csm_map *m, int n) {
  for (int k = 0; k < n; k++)
    csm_map_free(&m[k]);
  free(m);
}

/* numpy-style: mean = sum / n, var = sum((x - mean)^2) / (n - 1). */
static void two_pass(const csm_map *m, int n_maps, int npix, double *mean, int *count, double *se) {
  for (int i = 0; i < npix; i++) {
    double sum = 0;
    int n = 0;
    for (int k = 0; k < n_maps; k++)
      if (m[k].count[i] > 0) sum += m[k].value[i], n++;
    double mu = n ? sum / n : 0, ss = 0;
    for (int k = 0; k < n_maps; k++)
      if (m[k].count[i] > 0) ss += (m[k].value[i] - mu) * (m[k].value[i] - mu);
    mean[i] = mu;
    count[i] = n;
    if (se) se[i] = n >= 2 ? sqrt(ss / (n - 1) / n) : 0;
  }
}

static void test_mean_matches_two_pass(void **state) {
  (void)state;
  const int w = 17, h = 13, n = 60, npix = w * h;
  csm_map *m = random_maps(w, h, n, 12345);
  csm_cms *c;
  CSM_ASSERT_OK(csm_cms_create(w, h, &c));
  assert_int_equal(csm_cms_width(c), w);
  assert_int_equal(csm_cms_height(c), h);
  for (int k = 0; k < n; k++)
    CSM_ASSERT_OK(csm_cms_add(c, &m[k]));
  assert_int_equal(csm_cms_images(c), n);
  float *mean = malloc(npix * sizeof *mean), *count = malloc(npix * sizeof *count),
        *se = malloc(npix * sizeof *se);
  csm_cms_result(c, mean, count, se);
  double *wm = malloc(npix * sizeof *wm), *wse = malloc(npix * sizeof *wse);
  int *wc = malloc(npix * sizeof *wc);
  two_pass(m, n, npix, wm, wc, wse);
  for (int i = 0; i < npix; i++) {
    assert_int_equal((int)count[i], wc[i]);
    if (fabs(mean[i] - wm[i]) > 1e-7 * fabs(wm[i]) + 1e-6)
      fail_msg("mean[%d] = %.9g, want %.9g", i, mean[i], wm[i]);
    if (fabs(se[i] - wse[i]) > 1e-5 * wse[i] + 1e-7)
      fail_msg("std_err[%d] = %.9g, want %.9g", i, se[i], wse[i]);
  }
  /* never covered, covered once, always covered */
  assert_true(count[0] == 0 && mean[0] == 0 && se[0] == 0);
  assert_true(count[1] == 1 && mean[1] == m[3].value[1] && se[1] == 0);
  assert_true(count[2] == n && se[2] > 0);
  /* any output may be NULL */
  csm_cms_result(c, NULL, count, NULL);
  csm_cms_result(c, NULL, NULL, NULL);
  free(mean), free(count), free(se), free(wm), free(wse), free(wc);
  csm_cms_free(c);
  free_maps(m, n);
}

static double pearson(const float *a, const double *b, const unsigned char *mask, int n) {
  double sa = 0, sb = 0;
  int m = 0;
  for (int i = 0; i < n; i++)
    if (mask[i]) sa += a[i], sb += b[i], m++;
  if (m < 2) return NAN;
  double ma = sa / m, mb = sb / m, xx = 0, yy = 0, xy = 0;
  for (int i = 0; i < n; i++)
    if (mask[i]) {
      xx += (a[i] - ma) * (a[i] - ma);
      yy += (b[i] - mb) * (b[i] - mb);
      xy += (a[i] - ma) * (b[i] - mb);
    }
  return xx > 0 && yy > 0 ? xy / sqrt(xx * yy) : NAN;
}

static void test_stability(void **state) {
  (void)state;
  const int w = 11, h = 9, n = 60, npix = w * h;
  csm_map *m = random_maps(w, h, n, 777);
  csm_cms *c;
  CSM_ASSERT_OK(csm_cms_create(w, h, &c));
  for (int k = 0; k < n; k++)
    CSM_ASSERT_OK(csm_cms_add(c, &m[k]));
  int images[16];
  double corr[16];
  assert_int_equal(csm_cms_stability(c, images, corr, 16), 6);
  const int want_images[6] = {1, 2, 5, 10, 20, 50};
  assert_memory_equal(images, want_images, sizeof want_images);
  double *final_mean = malloc(npix * sizeof(double)), *snap_mean = malloc(npix * sizeof(double));
  int *final_count = malloc(npix * sizeof(int)), *snap_count = malloc(npix * sizeof(int));
  float *snap_f = malloc(npix * sizeof(float));
  unsigned char *both = malloc(npix);
  two_pass(m, n, npix, final_mean, final_count, NULL);
  for (int s = 0; s < 6; s++) {
    two_pass(m, want_images[s], npix, snap_mean, snap_count, NULL);
    for (int i = 0; i < npix; i++) {
      snap_f[i] = (float)snap_mean[i];
      both[i] = snap_count[i] > 0 && final_count[i] > 0;
    }
    double want = pearson(snap_f, final_mean, both, npix);
    if (!(fabs(corr[s] - want) <= 1e-6))
      fail_msg("snapshot %d (%d images): corr %.12g, want %.12g", s, images[s], corr[s], want);
  }
  /* max limits the entries; NULL outputs are allowed. */
  assert_int_equal(csm_cms_stability(c, images, NULL, 3), 3);
  assert_int_equal(csm_cms_stability(c, NULL, NULL, 0), 0);
  csm_cms_free(c);

  /* First map covers one pixel: fewer than 2 pixels -> NAN; constant -> NAN. */
  CSM_ASSERT_OK(csm_cms_create(w, h, &c));
  csm_map one;
  CSM_ASSERT_OK(csm_map_alloc(&one, w, h));
  one.count[5] = 1;
  one.value[5] = 3;
  CSM_ASSERT_OK(csm_cms_add(c, &one));
  for (int i = 0; i < npix; i++)
    one.count[i] = 1, one.value[i] = 2;
  CSM_ASSERT_OK(csm_cms_add(c, &one));
  assert_int_equal(csm_cms_stability(c, images, corr, 16), 2);
  assert_true(isnan(corr[0]));
  assert_true(fabs(corr[1] - 1) < 1e-12); /* the current mean itself: 2 everywhere, 2.5 at 5 */
  csm_cms_free(c);
  CSM_ASSERT_OK(csm_cms_create(w, h, &c));
  CSM_ASSERT_OK(csm_cms_add(c, &one)); /* constant: zero variance */
  assert_int_equal(csm_cms_stability(c, images, corr, 16), 1);
  assert_true(isnan(corr[0]));
  csm_map_free(&one);
  csm_cms_free(c);
  free(final_mean), free(snap_mean), free(final_count), free(snap_count), free(snap_f), free(both);
  free_maps(m, n);
}

static unsigned char *read_all(const char *path, size_t *n) {
  FILE *fp = fopen(path, "rb");
  assert_non_null(fp);
  fseek(fp, 0, SEEK_END);
  long len = ftell(fp);
  fseek(fp, 0, SEEK_SET);
  unsigned char *b = malloc(len ? (size_t)len : 1);
  assert_int_equal(fread(b, 1, (size_t)len, fp), (size_t)len);
  fclose(fp);
  *n = (size_t)len;
  return b;
}

static void write_bytes(const char *path, const void *data, size_t n) {
  FILE *fp = fopen(path, "wb");
  assert_non_null(fp);
  if (n) assert_int_equal(fwrite(data, 1, n, fp), n);
  fclose(fp);
}

/* Everything observable about a CMS, for bit-for-bit comparison. */
static void assert_same(const csm_cms *a, const csm_cms *b) {
  assert_int_equal(csm_cms_images(a), csm_cms_images(b));
  int npix = csm_cms_width(a) * csm_cms_height(a);
  assert_int_equal(npix, csm_cms_width(b) * csm_cms_height(b));
  float *ra = malloc(3 * npix * sizeof(float)), *rb = malloc(3 * npix * sizeof(float));
  csm_cms_result(a, ra, ra + npix, ra + 2 * npix);
  csm_cms_result(b, rb, rb + npix, rb + 2 * npix);
  assert_memory_equal(ra, rb, 3 * npix * sizeof(float));
  int ia[32], ib[32];
  double ca[32], cb[32];
  int na = csm_cms_stability(a, ia, ca, 32), nb = csm_cms_stability(b, ib, cb, 32);
  assert_int_equal(na, nb);
  assert_memory_equal(ia, ib, na * sizeof(int));
  assert_memory_equal(ca, cb, na * sizeof(double));
  free(ra), free(rb);
}

static void test_resume_bit_exact(void **state) {
  (void)state;
  const int w = 23, h = 19, n = 57;
  csm_map *m = random_maps(w, h, n, 4242);
  csm_cms *full;
  CSM_ASSERT_OK(csm_cms_create(w, h, &full));
  for (int k = 0; k < n; k++)
    CSM_ASSERT_OK(csm_cms_add(full, &m[k]));
  CSM_ASSERT_OK(csm_cms_save(full, tmp_path("full.cms")));
  const int stops[] = {0, 1, 7, 20, 23, 56};
  for (size_t t = 0; t < sizeof stops / sizeof *stops; t++) {
    csm_cms *c;
    CSM_ASSERT_OK(csm_cms_create(w, h, &c));
    for (int k = 0; k < stops[t]; k++)
      CSM_ASSERT_OK(csm_cms_add(c, &m[k]));
    CSM_ASSERT_OK(csm_cms_save(c, tmp_path("part.cms")));
    csm_cms *r;
    CSM_ASSERT_OK(csm_cms_load(tmp_path("part.cms"), &r));
    assert_same(c, r);
    csm_cms_free(c);
    for (int k = stops[t]; k < n; k++)
      CSM_ASSERT_OK(csm_cms_add(r, &m[k]));
    assert_same(full, r);
    /* The whole state, not only what the API shows: identical files. */
    CSM_ASSERT_OK(csm_cms_save(r, tmp_path("resumed.cms")));
    size_t na, nb;
    unsigned char *a = read_all(tmp_path("full.cms"), &na),
                  *b = read_all(tmp_path("resumed.cms"), &nb);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, na);
    free(a), free(b);
    csm_cms_free(r);
  }
  /* no temporary files left behind */
  char tmp[1100];
  snprintf(tmp, sizeof tmp, "%s.tmp.%ld", tmp_path("part.cms"), (long)getpid());
  struct stat sb;
  assert_int_not_equal(stat(tmp, &sb), 0);
  csm_cms_free(full);
  free_maps(m, n);
}

static void test_bad_arguments(void **state) {
  (void)state;
  csm_cms *c = (csm_cms *)1;
  assert_int_equal(csm_cms_create(0, 5, &c), CSM_EUSAGE);
  assert_null(c);
  assert_int_equal(csm_cms_create(5, 8193, &c), CSM_EUSAGE);
  assert_int_equal(csm_cms_create(-1, 5, &c), CSM_EUSAGE);
  assert_int_equal(csm_cms_create(5, 5, NULL), CSM_EUSAGE);
  CSM_ASSERT_OK(csm_cms_create(4, 3, &c));
  csm_map m;
  CSM_ASSERT_OK(csm_map_alloc(&m, 3, 4));
  assert_int_equal(csm_cms_add(c, &m), CSM_EUSAGE);
  assert_int_equal(csm_cms_add(c, NULL), CSM_EUSAGE);
  csm_map_free(&m);
  assert_null(m.value);
  csm_map_free(&m); /* twice: zeroed, harmless */
  csm_map_free(NULL);
  assert_int_equal(csm_map_alloc(&m, 0, 4), CSM_EUSAGE);
  CSM_ASSERT_OK(csm_map_alloc(&m, 4, 3));
  for (int i = 0; i < 12; i++)
    assert_true(m.value[i] == 0 && m.count[i] == 0);
  m.count[4] = 1;
  m.value[4] = INFINITY;
  assert_int_equal(csm_cms_add(c, &m), CSM_EINPUT);
  m.value[4] = NAN;
  assert_int_equal(csm_cms_add(c, &m), CSM_EINPUT);
  assert_int_equal(csm_cms_images(c), 0); /* a failed add changes nothing */
  m.value[4] = 1;
  CSM_ASSERT_OK(csm_cms_add(c, &m));
  assert_int_equal(csm_cms_images(c), 1);
  assert_int_equal(csm_cms_save(NULL, tmp_path("x.cms")), CSM_EUSAGE);
  assert_int_equal(csm_cms_save(c, "/nonexistent-dir/x.cms"), CSM_EIO);
  assert_non_null(strstr(csm_last_error(), "/nonexistent-dir/x.cms"));
  csm_cms *r;
  assert_int_equal(csm_cms_load(tmp_path("missing.cms"), &r), CSM_EIO);
  assert_int_equal(csm_cms_load(dir, &r), CSM_EIO);
  csm_map_free(&m);
  csm_cms_free(c);
  csm_cms_free(NULL);
}

static void expect_input_error(const char *name, const void *bytes, size_t n) {
  write_bytes(tmp_path(name), bytes, n);
  csm_cms *c = (csm_cms *)1;
  csm_status st = csm_cms_load(tmp_path(name), &c);
  if (st != CSM_EINPUT) fail_msg("%s: status %d (%s), want CSM_EINPUT", name, st, csm_last_error());
  assert_null(c);
  if (!strstr(csm_last_error(), name)) fail_msg("'%s' does not name %s", csm_last_error(), name);
}

static void put32(unsigned char *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (unsigned char)(v >> (8 * i));
}

static void test_corrupt_checkpoints(void **state) {
  (void)state;
  const int w = 5, h = 4, n = 12;
  csm_map *m = random_maps(w, h, n, 99);
  csm_cms *c;
  CSM_ASSERT_OK(csm_cms_create(w, h, &c));
  for (int k = 0; k < n; k++)
    CSM_ASSERT_OK(csm_cms_add(c, &m[k]));
  CSM_ASSERT_OK(csm_cms_save(c, tmp_path("good.cms")));
  csm_cms_free(c);
  free_maps(m, n);
  size_t len;
  unsigned char *good = read_all(tmp_path("good.cms"), &len);
  /* 48 header + 20 pixels * 20 + 4 snapshots (1, 2, 5, 10) * (8 + 20 * 5) + 8 */
  assert_int_equal(len, 48 + 400 + 4 * 108 + 8);
  /* every truncation */
  for (size_t k = 0; k < len; k++)
    expect_input_error("trunc.cms", good, k);
  /* every single-byte corruption */
  unsigned char *bad = malloc(len + 16);
  for (size_t k = 0; k < len; k++) {
    memcpy(bad, good, len);
    bad[k] ^= (unsigned char)(1u << (k % 8));
    expect_input_error("flip.cms", bad, len);
  }
  /* trailing garbage */
  memcpy(bad, good, len);
  memset(bad + len, 0xab, 16);
  expect_input_error("long.cms", bad, len + 16);
  /* garbage */
  uint32_t s = 5;
  for (size_t k = 0; k < len; k++)
    bad[k] = (unsigned char)rng_next(&s);
  expect_input_error("garbage.cms", bad, len);
  expect_input_error("text.cms", "hello, world\n", 13);
  free(bad);
  free(good);
}

/* The run identity goes through a save and a load unchanged. */
static void test_identity(void **state) {
  (void)state;
  csm_cms *c, *back;
  CSM_ASSERT_OK(csm_cms_create(3, 2, &c));
  assert_true(csm_cms_identity(c) == 0);
  const uint64_t id = 0xfedcba9876543210ULL;
  csm_cms_set_identity(c, id);
  CSM_ASSERT_OK(csm_cms_save(c, tmp_path("id.cms")));
  CSM_ASSERT_OK(csm_cms_load(tmp_path("id.cms"), &back));
  assert_true(csm_cms_identity(back) == id);
  csm_cms_free(back);
  csm_cms_free(c);
}

static void test_huge_header(void **state) {
  (void)state;
  /* Headers claiming huge sizes, with only the header and trailer present:
   * rejected from the header and the file length, before any allocation. */
  unsigned char hdr[56] = {'C', 'S', 'M', '-', 'C', 'M', 'S', 0};
  struct {
    uint32_t w, h, images, snaps;
    const char *name;
  } cases[] = {
      {8192, 8192, 1000000000, 28, "big.cms"},      /* in range, ~11 GB claimed */
      {0xffffffffu, 0xffffffffu, 1, 1, "wrap.cms"}, /* w * h overflows 32 bits */
      {65536, 65536, 0, 0, "side.cms"},             /* w * h = 2^32 */
      {8192, 8192, 10, 0xffffffffu, "snaps.cms"},   /* huge snapshot count */
      {8192, 8192, 0xffffffffu, 33, "images.cms"},  /* image count over INT_MAX */
  };
  for (size_t t = 0; t < sizeof cases / sizeof *cases; t++) {
    memset(hdr + 8, 0, sizeof hdr - 8);
    put32(hdr + 8, 2);
    put32(hdr + 12, cases[t].w);
    put32(hdr + 16, cases[t].h);
    put32(hdr + 20, cases[t].images);
    put32(hdr + 24, cases[t].snaps);
    /* payload bytes: the true size for the big case, so only the file length disagrees */
    uint64_t payload = (uint64_t)cases[t].w * cases[t].h * 20 +
                       (uint64_t)cases[t].snaps * (8 + (uint64_t)cases[t].w * cases[t].h * 5);
    for (int i = 0; i < 8; i++)
      hdr[32 + i] = (unsigned char)(payload >> (8 * i));
    expect_input_error(cases[t].name, hdr, sizeof hdr);
  }
  /* a wrong version: 3, and 1 (before checkpoints carried the run's identity) */
  for (uint32_t v = 1; v <= 3; v += 2) {
    memset(hdr + 8, 0, sizeof hdr - 8);
    put32(hdr + 8, v);
    put32(hdr + 12, 1);
    put32(hdr + 16, 1);
    expect_input_error("version.cms", hdr, sizeof hdr);
  }
}

int main(void) {
  const char *base = csm_test_env("CSM_TEST_TMP", "/tmp");
  mkdir(base, 0777);
  snprintf(dir, sizeof dir, "%s/cmsXXXXXX", base);
  if (!mkdtemp(dir)) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_mean_matches_two_pass),
      cmocka_unit_test(test_stability),
      cmocka_unit_test(test_resume_bit_exact),
      cmocka_unit_test(test_bad_arguments),
      cmocka_unit_test(test_corrupt_checkpoints),
      cmocka_unit_test(test_huge_header),
      cmocka_unit_test(test_identity),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  char cmd[700];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd)) rc = rc ? rc : 1;
  return rc;
}
