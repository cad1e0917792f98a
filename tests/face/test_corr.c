/* Dense correspondence: analytic maps on synthetic grids (affine exact,
 * smooth warp within 0.5 px), round trips, back-facing and occluded
 * triangles, a turned cap and hemisphere against the analytic normal,
 * hostile meshes; the sample faces (near-frontal ones show >= 99 % of the
 * canonical face, turned ones hide their far side; skipped without the
 * models); then the real PRNet meshes against the frontal face (tests/data/celeba-prnet: three of
 * the reference's meshes). */
#include "csm_test.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static uint32_t g_rng = 2463534242u;
static double rnd(double lo, double hi) {
  g_rng ^= g_rng << 13, g_rng ^= g_rng >> 17, g_rng ^= g_rng << 5;
  return lo + (hi - lo) * (g_rng >> 8) / 16777216.0;
}

/* An nx x ny grid of canonical vertices from (x0, y0) with `step`, two
 * triangles per cell. */
typedef struct grid {
  int nv, nt;
  float *can, *img;
  int32_t *tri;
} grid;

static grid make_grid(int nx, int ny, double x0, double y0, double step) {
  grid g = {nx * ny, 2 * (nx - 1) * (ny - 1), NULL, NULL, NULL};
  g.can = malloc(sizeof(float) * 2 * g.nv);
  g.img = calloc((size_t)g.nv * 3, sizeof(float));
  g.tri = malloc(sizeof(int32_t) * 3 * g.nt);
  for (int j = 0; j < ny; j++)
    for (int i = 0; i < nx; i++) {
      g.can[(j * nx + i) * 2] = (float)(x0 + i * step);
      g.can[(j * nx + i) * 2 + 1] = (float)(y0 + j * step);
    }
  int k = 0;
  for (int j = 0; j + 1 < ny; j++)
    for (int i = 0; i + 1 < nx; i++) {
      int a = j * nx + i, b = a + 1, c = a + nx, d = c + 1;
      int32_t t[6] = {a, b, d, a, d, c};
      memcpy(g.tri + 6 * k++, t, sizeof t);
    }
  return g;
}

static void free_grid(grid *g) {
  free(g->can);
  free(g->img);
  free(g->tri);
}

static csm_corr *build(const grid *g, int cw, int ch, int iw, int ih) {
  csm_corr_mesh m = {g->nv, g->img, g->can, g->nt, g->tri, cw, ch, iw, ih};
  csm_corr *c = NULL;
  CSM_ASSERT_OK(csm_corr_create(&m, &c));
  return c;
}

static void affine(double u, double v, double *x, double *y) {
  *x = 30 + 1.7 * u + 0.4 * v;
  *y = 20 - 0.3 * u + 2.1 * v;
}

static void test_affine(void **state) {
  (void)state;
  grid g = make_grid(9, 9, 4, 4, 7); /* canonical [4, 60] */
  for (int i = 0; i < g.nv; i++) {
    double x, y;
    affine(g.can[2 * i], g.can[2 * i + 1], &x, &y);
    g.img[3 * i] = (float)x, g.img[3 * i + 1] = (float)y, g.img[3 * i + 2] = 5;
  }
  csm_corr *c = build(&g, 64, 64, 200, 200);
  double worst = 0;
  for (int k = 0; k < 5000; k++) {
    double u = rnd(4.01, 59.99), v = rnd(4.01, 59.99), x, y, ex, ey, bu, bv;
    assert_true(csm_corr_to_image(c, u, v, &x, &y));
    affine(u, v, &ex, &ey);
    worst = fmax(worst, fmax(fabs(x - ex), fabs(y - ey)));
    assert_true(csm_corr_to_canon(c, x, y, &bu, &bv));
    assert_true(fabs(bu - u) < 1e-6 && fabs(bv - v) < 1e-6);
  }
  assert_true(worst < 1e-4); /* float vertices: exact up to their rounding */
  const unsigned char *vis = csm_corr_canon_visible(c);
  for (int y = 0; y < 64; y++)
    for (int x = 0; x < 64; x++) {
      int in = x + 0.5 >= 4 && x + 0.5 <= 60 && y + 0.5 >= 4 && y + 0.5 <= 60;
      assert_int_equal(vis[y * 64 + x], in);
    }
  double x, y;
  assert_false(csm_corr_to_image(c, 2, 2, &x, &y));   /* outside the face */
  assert_false(csm_corr_to_image(c, -5, 30, &x, &y)); /* outside the raster */
  assert_false(csm_corr_to_canon(c, 5, 5, &x, &y));
  print_message("affine: max |to_image - analytic| = %.2g px\n", worst);
  csm_corr_free(c);
  free_grid(&g);
}

static void warp(double u, double v, double *x, double *y) {
  *x = 20 + 2.5 * u + 3 * sin(v / 20);
  *y = 15 + 2.5 * v + 3 * sin(u / 25) + 0.004 * u * u;
}

static void test_warp_roundtrip(void **state) {
  (void)state;
  grid g = make_grid(17, 17, 0, 0, 8); /* canonical [0, 128] */
  for (int i = 0; i < g.nv; i++) {
    double x, y;
    warp(g.can[2 * i], g.can[2 * i + 1], &x, &y);
    g.img[3 * i] = (float)x, g.img[3 * i + 1] = (float)y, g.img[3 * i + 2] = 0;
  }
  csm_corr *c = build(&g, 128, 128, 400, 420);
  double worst = 0, worst_rt = 0;
  int n_rt = 0;
  for (int k = 0; k < 5000; k++) {
    double u = rnd(0.01, 127.99), v = rnd(0.01, 127.99), x, y, ex, ey;
    assert_true(csm_corr_to_image(c, u, v, &x, &y));
    warp(u, v, &ex, &ey);
    worst = fmax(worst, hypot(x - ex, y - ey));
  }
  for (int k = 0; k < 20000; k++) {
    double x = rnd(0, 400), y = rnd(0, 420), u, v, bx, by;
    if (!csm_corr_to_canon(c, x, y, &u, &v)) continue;
    assert_true(csm_corr_to_image(c, u, v, &bx, &by));
    worst_rt = fmax(worst_rt, hypot(bx - x, by - y));
    n_rt++;
  }
  print_message(
      "warp: max |to_image - analytic| = %.3f px; round trip over %d points: max %.2g px\n", worst,
      n_rt, worst_rt);
  assert_true(worst < 0.5);
  assert_true(worst_rt < 0.5);
  assert_true(n_rt > 5000);
  csm_corr_free(c);
  free_grid(&g);
}

/* A spherical cap seen from the front, turned by `deg` about the vertical
 * axis. Returns the turned outward normal's z per vertex in nz (negative =
 * facing the camera, since larger z is farther). */
static grid make_cap(double deg, double R) {
  grid g = make_grid(41, 41, 0, 0, 3.2); /* canonical [0, 128] */
  double a = deg * M_PI / 180;
  for (int i = 0; i < g.nv; i++) {
    double X = (g.can[2 * i] - 64) / R, Y = (g.can[2 * i + 1] - 64) / R;
    double Z = -sqrt(fmax(0, 1 - X * X - Y * Y)); /* front cap: nearer than the centre */
    double Xr = X * cos(a) + Z * sin(a), Zr = -X * sin(a) + Z * cos(a);
    g.img[3 * i] = (float)(100 + 80 * Xr), g.img[3 * i + 1] = (float)(100 + 80 * Y);
    g.img[3 * i + 2] = (float)(80 * Zr);
  }
  return g;
}

static void test_turned(void **state) {
  (void)state;
  const double R = 64 * 1.5; /* the cap stays inside the hemisphere */
  grid g = make_cap(60, R);
  csm_corr *c = build(&g, 128, 128, 200, 200);
  const unsigned char *vis = csm_corr_canon_visible(c);
  int agree = 0, total = 0, near_vis = 0, near_n = 0, far_vis = 0, far_n = 0;
  double a = 60 * M_PI / 180;
  for (int y = 0; y < 128; y++)
    for (int x = 0; x < 128; x++) {
      double X = (x + 0.5 - 64) / R, Y = (y + 0.5 - 64) / R;
      double Z = -sqrt(1 - X * X - Y * Y), nz = -X * sin(a) + Z * cos(a);
      if (fabs(nz) < 0.05) continue; /* the silhouette */
      total++;
      agree += vis[y * 128 + x] == (nz < 0);
      if (X > 0.2) near_n++, near_vis += vis[y * 128 + x];
      if (X < -0.6) far_n++, far_vis += vis[y * 128 + x];
    }
  print_message(
      "turned 60 deg: visibility agrees with the normal on %.2f%% of %d pixels; near side "
      "%d/%d visible, far side %d/%d\n",
      100.0 * agree / total, total, near_vis, near_n, far_vis, far_n);
  assert_true(agree > 0.99 * total);
  assert_int_equal(near_vis, near_n);
  assert_int_equal(far_vis, 0);
  /* Round trip on the visible part. */
  double worst = 0;
  int n = 0;
  for (int k = 0; k < 20000; k++) {
    double x = rnd(0, 200), y = rnd(0, 200), u, v, bx, by;
    if (!csm_corr_to_canon(c, x, y, &u, &v)) continue;
    assert_true(csm_corr_to_image(c, u, v, &bx, &by));
    worst = fmax(worst, hypot(bx - x, by - y));
    n++;
  }
  assert_true(n > 1000 && worst < 0.5);
  csm_corr_free(c);
  free_grid(&g);
}

/* A whole hemisphere (the front half of a sphere, as a face is the front of
 * a head) turned 60 degrees: the far part is hidden, everything facing the
 * camera is visible, and the tolerances do not leak through the silhouette. */
static void test_hemisphere(void **state) {
  (void)state;
  const double R = 64, a = 60 * M_PI / 180;
  grid g = make_cap(60, R);
  /* make_cap flattens the corners outside the sphere: drop them. */
  int keep = 0;
  for (int t = 0; t < g.nt; t++) {
    int32_t *tr = g.tri + 3 * t;
    int in = 1;
    for (int k = 0; k < 3; k++)
      in &= hypot(g.can[2 * tr[k]] - 64, g.can[2 * tr[k] + 1] - 64) < 0.999 * R;
    if (in) memmove(g.tri + 3 * keep++, tr, 3 * sizeof(int32_t));
  }
  g.nt = keep;
  csm_corr *c = build(&g, 128, 128, 200, 200);
  const unsigned char *vis = csm_corr_canon_visible(c);
  int agree = 0, total = 0, far_vis = 0, far_n = 0, front_vis = 0, front_n = 0;
  for (int y = 0; y < 128; y++)
    for (int x = 0; x < 128; x++) {
      double X = (x + 0.5 - 64) / R, Y = (y + 0.5 - 64) / R;
      if (X * X + Y * Y > 0.85 * 0.85) continue; /* the rim: not all covered */
      double Z = -sqrt(1 - X * X - Y * Y), nz = -X * sin(a) + Z * cos(a);
      int v = vis[y * 128 + x];
      /* Beyond the limb (X < -0.5 faces away), past a thin strip. */
      if (X < -0.55 || nz > 0.1) far_n++, far_vis += v;
      if (nz < -0.1) front_n++, front_vis += v;
      if (fabs(nz) < 0.1) continue; /* the silhouette */
      total++;
      agree += v == (nz < 0);
    }
  print_message(
      "hemisphere turned 60 deg: visibility agrees with the normal on %.2f%% of %d px; "
      "far part (X < -0.55 or facing away) %d/%d visible; facing the camera %d/%d visible\n",
      100.0 * agree / total, total, far_vis, far_n, front_vis, front_n);
  assert_true(far_n > 800 && front_n > 3000);
  assert_int_equal(far_vis, 0);
  assert_int_equal(front_vis, front_n);
  assert_true(agree > 0.99 * total);
  csm_corr_free(c);
  free_grid(&g);
}

/* Two sheets that land on the same image region: the nearer hides the
 * farther (both face the camera, so only the z-buffer can tell). */
static void test_occlusion(void **state) {
  (void)state;
  grid g = make_grid(10, 5, 0, 0, 7); /* canonical x [0, 63], y [0, 28] */
  for (int i = 0; i < g.nv; i++) {
    double u = g.can[2 * i], v = g.can[2 * i + 1];
    int right = u > 30;
    g.img[3 * i] = (float)(50 + 2 * (right ? u - 35 : u));
    g.img[3 * i + 1] = (float)(50 + 2 * v);
    g.img[3 * i + 2] = right ? 10.0f : 0.0f;
  }
  /* Drop the cells bridging the two sheets (they would fold). */
  int keep = 0;
  for (int t = 0; t < g.nt; t++) {
    int32_t *tr = g.tri + 3 * t;
    int side = g.can[2 * tr[0]] > 30;
    if ((g.can[2 * tr[1]] > 30) != side || (g.can[2 * tr[2]] > 30) != side) continue;
    memmove(g.tri + 3 * keep++, tr, 3 * sizeof(int32_t));
  }
  g.nt = keep;
  csm_corr *c = build(&g, 64, 32, 200, 200);
  double x, y, u, v;
  assert_true(csm_corr_to_image(c, 10.3, 10.7, &x, &y));  /* near sheet */
  assert_false(csm_corr_to_image(c, 45.3, 10.7, &x, &y)); /* far sheet, same image place */
  assert_true(csm_corr_to_canon(c, 50 + 2 * 10.3, 50 + 2 * 10.7, &u, &v));
  assert_true(fabs(u - 10.3) < 1e-6 && fabs(v - 10.7) < 1e-6);
  const unsigned char *vis = csm_corr_canon_visible(c);
  assert_int_equal(vis[10 * 64 + 10], 1);
  assert_int_equal(vis[10 * 64 + 45], 0);
  csm_corr_free(c);
  free_grid(&g);
}

static void test_flipped(void **state) {
  (void)state;
  static const float can[] = {10, 10, 50, 10, 10, 50, 50, 50};
  /* Triangle 0 keeps its winding; triangle 1 is mirrored in the image. */
  static const float img[] = {10, 10, 0, 50, 10, 0, 10, 50, 0, 50, 50, 0};
  static const float img_m[] = {10, 10, 0, 50, 10, 0, 10, 50, 0, -30, 50, 0};
  static const int32_t tri[] = {0, 1, 2, 1, 3, 2};
  csm_corr_mesh m = {4, img, can, 2, tri, 64, 64, 64, 64};
  csm_corr *c;
  double x, y;
  CSM_ASSERT_OK(csm_corr_create(&m, &c));
  assert_true(csm_corr_to_image(c, 40, 40, &x, &y));
  csm_corr_free(c);
  m.image_xyz = img_m;
  CSM_ASSERT_OK(csm_corr_create(&m, &c));
  assert_true(csm_corr_to_image(c, 15, 15, &x, &y));
  assert_false(csm_corr_to_image(c, 40, 40, &x, &y)); /* back-facing */
  assert_int_equal(csm_corr_canon_visible(c)[40 * 64 + 40], 0);
  assert_int_equal(csm_corr_canon_visible(c)[15 * 64 + 15], 1);
  csm_corr_free(c);
}

static void test_hostile(void **state) {
  (void)state;
  static const float can[] = {10, 10, 50, 10, 10, 50, 50, 50};
  float img[] = {10, 10, 0, 50, 10, 0, 10, 50, 0, 50, 50, 0};
  int32_t tri[] = {0, 1, 2, 1, 3, 2, 0, 0, 1};
  csm_corr_mesh m = {4, img, can, 3, tri, 64, 64, 64, 64};
  csm_corr *c = NULL;
  double x, y;
  /* Degenerate triangle 2 is skipped. */
  CSM_ASSERT_OK(csm_corr_create(&m, &c));
  csm_corr_free(c);
  /* NaN in vertex 3: the triangle using it is skipped, the other works. */
  img[10] = NAN;
  CSM_ASSERT_OK(csm_corr_create(&m, &c));
  assert_true(csm_corr_to_image(c, 15, 15, &x, &y));
  assert_false(csm_corr_to_image(c, 40, 40, &x, &y));
  csm_corr_free(c);
  img[10] = INFINITY;
  img[9] = 1e30f;
  CSM_ASSERT_OK(csm_corr_create(&m, &c));
  csm_corr_free(c);
  img[10] = 50;
  img[9] = -1e30f; /* huge but finite: a huge triangle, clipped to the image */
  CSM_ASSERT_OK(csm_corr_create(&m, &c));
  csm_corr_free(c);
  tri[4] = 4;
  assert_int_equal(csm_corr_create(&m, &c), CSM_EINPUT);
  assert_null(c);
  tri[4] = -1;
  assert_int_equal(csm_corr_create(&m, &c), CSM_EINPUT);
  tri[4] = 3;
  m.canon_w = 0;
  assert_int_equal(csm_corr_create(&m, &c), CSM_EUSAGE);
  m.canon_w = 64, m.n_triangles = 0;
  assert_int_equal(csm_corr_create(&m, &c), CSM_EUSAGE);
  assert_int_equal(csm_corr_create(NULL, &c), CSM_EUSAGE);
  assert_false(csm_corr_to_image(NULL, 1, 1, &x, &y));
  assert_null(csm_corr_canon_visible(NULL));
  csm_corr_free(NULL);
}

/* ---- Real data ---------------------------------------------------------- */

/* Share of the canonical mask visible; *left / *right: of the outer bands
 * u < 0.34 W and u >= 0.66 W. */
static double visible_share(const csm_canon *cn, const csm_face *f, int iw, int ih, double *left,
                            double *right) {
  csm_corr *c = NULL;
  CSM_ASSERT_OK(csm_canon_corr(cn, f, iw, ih, 0, &c));
  const int W = csm_canon_width(cn), H = csm_canon_height(cn);
  const unsigned char *m = csm_canon_mask(cn), *v = csm_corr_canon_visible(c);
  int n = 0, nv = 0, nl = 0, vl = 0, nr = 0, vr = 0;
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++) {
      int k = y * W + x;
      if (!m[k]) continue;
      n++, nv += v[k];
      if (x < 0.34 * W) nl++, vl += v[k];
      if (x >= 0.66 * W) nr++, vr += v[k];
    }
  csm_corr_free(c);
  *left = (double)vl / nl, *right = (double)vr / nr;
  return (double)nv / n;
}

/* The sample faces: every near-frontal face (|yaw| < 10 degrees) shows at
 * least 99 % of the canonical face (FaceMesh folds the lips and nostrils a
 * little; those must not punch holes: before the facing tolerance, sample2's
 * first face showed 95.7 %). The same mesh turned about the vertical axis
 * to a yaw of 55+ degrees hides its far side (the outer third of the
 * canonical face: <= 35 %, <= 15 % from 62 degrees) and keeps its near
 * side (>= 99 %). */
static void test_sample_faces(void **state) {
  (void)state;
  char p[1024], m[1024];
  snprintf(p, sizeof p, "%s/data/canonical/facemesh_canonical.json",
           csm_test_env("CSM_SOURCE_DIR", "."));
  struct stat st;
  if (stat(p, &st) != 0 || !csm_test_model_path("facemesh", m, sizeof m) ||
      !csm_test_model_path("blazeface-back", m, sizeof m))
    skip();
  csm_canon *cn = NULL;
  CSM_ASSERT_OK(csm_canon_load(p, &cn));
  csm_detect_options opt = csm_detect_options_default();
  csm_face_detector *det = NULL;
  CSM_ASSERT_OK(csm_face_detector_create(csm_test_env("CSM_MODELS_DIR", "models"), &opt, &det));
  static const char *const names[] = {"sample1.jpg", "sample2.jpg", "sample5.jpg", "sample6.jpg"};
  int n_frontal = 0, n_turned = 0;
  for (int s = 0; s < 4; s++) {
    snprintf(p, sizeof p, "%s/%s", csm_test_env("CSM_SAMPLES_DIR", "data/samples"), names[s]);
    csm_image img;
    CSM_ASSERT_OK(csm_image_load(p, &img));
    csm_face *faces = NULL;
    int n = 0;
    CSM_ASSERT_OK(csm_face_detect(det, &img, &faces, &n));
    for (int i = 0; i < n; i++) {
      if (!faces[i].has_mesh || fabs(faces[i].yaw_deg) >= 10) continue;
      double l, r, share = visible_share(cn, &faces[i], img.w, img.h, &l, &r);
      print_message("%s face %d (yaw %.1f): %.2f%% of the canonical face visible\n", names[s],
                    i + 1, faces[i].yaw_deg, 100 * share);
      assert_true(share >= 0.99);
      n_frontal++;
      /* Turned by +-60 and +-75 degrees about the vertical axis through the
       * mesh's centroid. */
      for (int k = 0; k < 4; k++) {
        double deg = (k & 1 ? -1 : 1) * (k < 2 ? 60 : 75), t = deg * M_PI / 180;
        csm_face g = faces[i];
        double cx = 0, cz = 0;
        for (int q = 0; q < CSM_MESH_POINTS; q++)
          cx += g.mesh[q][0], cz += g.mesh[q][2];
        cx /= CSM_MESH_POINTS, cz /= CSM_MESH_POINTS;
        for (int q = 0; q < CSM_MESH_POINTS; q++) {
          double X = g.mesh[q][0] - cx, Z = g.mesh[q][2] - cz;
          g.mesh[q][0] = (float)(cx + X * cos(t) + Z * sin(t));
          g.mesh[q][2] = (float)(cz - X * sin(t) + Z * cos(t));
        }
        /* Far side: the canonical half whose points moved away. */
        const float *cv = csm_canon_vertices(cn);
        double zl = 0, zr = 0;
        for (int q = 0; q < CSM_MESH_POINTS; q++)
          *(cv[3 * q] < csm_canon_width(cn) / 2.0 ? &zl : &zr) += g.mesh[q][2];
        csm_face_pose((const float(*)[3])g.mesh, &g.yaw_deg, &g.pitch_deg, &g.pose_roll_deg);
        double tl, tr, tshare = visible_share(cn, &g, img.w, img.h, &tl, &tr);
        double near = zl < zr ? tl : tr, far = zl < zr ? tr : tl;
        print_message(
            "  turned %+.0f deg (yaw %.1f): %.1f%% visible; near band %.1f%%, far band %.1f%%\n",
            deg, g.yaw_deg, 100 * tshare, 100 * near, 100 * far);
        /* Turned about the image's vertical axis, a tilted face's own yaw
         * changes by less: judge by the yaw it ends with. */
        double ay = fabs(g.yaw_deg);
        if (ay < 55) continue;
        assert_true(near >= 0.99);
        assert_true(far <= (ay >= 62 ? 0.15 : 0.35));
        n_turned++;
      }
    }
    free(faces);
    csm_image_free(&img);
  }
  assert_true(n_frontal >= 3 && n_turned >= 8);
  csm_face_detector_free(det);
  csm_canon_free(cn);
}

static double tri_max_edge(const double *px, const double *py, const int32_t *t) {
  double e = 0;
  for (int k = 0; k < 3; k++)
    e = fmax(e, hypot(px[t[k]] - px[t[(k + 1) % 3]], py[t[k]] - py[t[(k + 1) % 3]]));
  return e;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Keeps triangles whose longest edge is at most `factor` x the median. */
static int drop_long(const double *px, const double *py, int32_t *tri, int nt, double factor) {
  double *e = malloc(sizeof(double) * nt);
  for (int k = 0; k < nt; k++)
    e[k] = tri_max_edge(px, py, tri + 3 * k);
  qsort(e, nt, sizeof(double), cmp_double);
  double lim = factor * e[nt / 2];
  free(e);
  int m = 0;
  for (int k = 0; k < nt; k++)
    if (tri_max_edge(px, py, tri + 3 * k) <= lim) memmove(tri + 3 * m++, tri + 3 * k, 12);
  return m;
}

/* Canonical pixel centres inside some triangle (computed independently of
 * the library, by brute force over each triangle's bounding box). */
static int covered_pixels(const double *px, const double *py, const int32_t *tri, int nt, int w) {
  unsigned char *m = calloc((size_t)w * w, 1);
  int count = 0;
  for (int k = 0; k < nt; k++) {
    const int32_t *t = tri + 3 * k;
    double ax = px[t[0]], ay = py[t[0]], bx = px[t[1]], by = py[t[1]], cx = px[t[2]], cy = py[t[2]];
    double den = (by - cy) * (ax - cx) + (cx - bx) * (ay - cy);
    if (fabs(den) < 1e-12) continue;
    for (int y = (int)fmax(0, fmin(fmin(ay, by), cy) - 1); y < fmin(w, fmax(fmax(ay, by), cy) + 1);
         y++)
      for (int x = (int)fmax(0, fmin(fmin(ax, bx), cx) - 1);
           x < fmin(w, fmax(fmax(ax, bx), cx) + 1); x++) {
        double qx = x + 0.5, qy = y + 0.5;
        double w0 = ((by - cy) * (qx - cx) + (cx - bx) * (qy - cy)) / den;
        double w1 = ((cy - ay) * (qx - cx) + (ax - cx) * (qy - cy)) / den;
        if (w0 >= -1e-9 && w1 >= -1e-9 && 1 - w0 - w1 >= -1e-9 && !m[y * w + x])
          m[y * w + x] = 1, count++;
      }
  }
  free(m);
  return count;
}

/* Is (px, py) inside triangle t of an n x stride point array? */
static int in_tri(const float *p, int stride, const int32_t *t, double px, double py) {
  double ax = p[t[0] * stride], ay = p[t[0] * stride + 1], bx = p[t[1] * stride],
         by = p[t[1] * stride + 1], cx = p[t[2] * stride], cy = p[t[2] * stride + 1];
  double den = (by - cy) * (ax - cx) + (cx - bx) * (ay - cy);
  if (fabs(den) < 1e-12) return 0;
  double w0 = ((by - cy) * (px - cx) + (cx - bx) * (py - cy)) / den;
  double w1 = ((cy - ay) * (px - cx) + (ax - cx) * (py - cy)) / den;
  return w0 >= -1e-9 && w1 >= -1e-9 && 1 - w0 - w1 >= -1e-9;
}

static double area2(const float *p, int stride, const int32_t *t) {
  return (p[t[1] * stride] - p[t[0] * stride]) * (p[t[2] * stride + 1] - p[t[0] * stride + 1]) -
         (p[t[1] * stride + 1] - p[t[0] * stride + 1]) * (p[t[2] * stride] - p[t[0] * stride]);
}

/* Does canonical (u, v) lie in a triangle whose image winding is flipped,
 * or image (x, y) in the image of one (computed from the mesh, by brute
 * force)? */
static int in_fold(const float *can, const float *img, const int32_t *tri, int nt, double u,
                   double v, double x, double y) {
  for (int k = 0; k < nt; k++) {
    const int32_t *t = tri + 3 * k;
    if ((area2(can, 2, t) > 0) == (area2(img, 3, t) > 0)) continue;
    if (in_tri(can, 2, t, u, v) || in_tri(img, 3, t, x, y)) return 1;
  }
  return 0;
}

static void test_real(void **state) {
  (void)state;
  char dir[512], p[1024];
  snprintf(dir, sizeof dir, "%s/celeba-prnet", csm_test_env("CSM_TEST_DATA", "tests/data"));
  snprintf(p, sizeof p, "%s/frontal_mesh.mat", dir);
  struct stat st;
  if (stat(p, &st) != 0) fail_msg("%s: missing (tests/data is in the repository)", p);
  float *fv;
  int nf, cols;
  CSM_ASSERT_OK(csm_mat_read_matrix(p, "vertices", &fv, &nf, &cols));
  assert_int_equal(nf, 43867);
  /* The canonical face: frontal.jpg (619 px) scaled to 256 px; the reference
   * takes every 20th vertex to match the image meshes row for row. */
  const int CW = 256, n = (nf + 19) / 20;
  const double s = CW / 619.0;
  assert_int_equal(n, 2194);
  float *can = malloc(sizeof(float) * 2 * n);
  double *px = malloc(sizeof(double) * n), *py = malloc(sizeof(double) * n);
  for (int i = 0; i < n; i++) {
    px[i] = can[2 * i] = (float)(fv[3 * 20 * i] * s);
    py[i] = can[2 * i + 1] = (float)(fv[3 * 20 * i + 1] * s);
  }
  int nt;
  double t0 = csm_now();
  int32_t *tri = NULL;
  CSM_ASSERT_OK(csm_delaunay(px, py, n, &tri, &nt)); /* src/face/delaunay.c */
  double t_del = csm_now() - t0;
  assert_non_null(tri);
  /* Delaunay fills the convex hull: drop triangles bridging concave parts
   * of the outline (much longer edges than the mesh spacing). */
  nt = drop_long(px, py, tri, nt, 3.0);
  int covered = covered_pixels(px, py, tri, nt, CW);
  print_message("delaunay: %d triangles over %d frontal points in %.3f s; face covers %d px\n", nt,
                n, t_del, covered);

  snprintf(p, sizeof p, "%s/meshes", dir);
  DIR *dd = opendir(p);
  assert_non_null(dd);
  double vmin = 1, vmax = 0, vsum = 0, tmax = 0, worst_bad = 0, worst_fold = 0;
  int nmesh = 0;
  for (struct dirent *de; (de = readdir(dd));) {
    if (!strstr(de->d_name, "_mesh.mat")) continue;
    snprintf(p, sizeof p, "%s/meshes/%s", dir, de->d_name);
    float *mv;
    int nm;
    if (stat(p, &st) != 0) continue;
    CSM_ASSERT_OK(csm_mat_read_matrix(p, "vertices", &mv, &nm, &cols));
    assert_int_equal(nm, n);
    /* PRNet's z grows toward the camera (the frontal nose tip has the
     * largest z); csm's grows away from it. */
    for (int i = 0; i < n; i++)
      mv[3 * i + 2] = -mv[3 * i + 2];
    csm_corr_mesh m = {n, mv, can, nt, tri, CW, CW, 178, 218};
    csm_corr *c;
    t0 = csm_now();
    CSM_ASSERT_OK(csm_corr_create(&m, &c));
    double t_create = csm_now() - t0;
    const unsigned char *vis = csm_corr_canon_visible(c);
    int visible = 0;
    for (int i = 0; i < CW * CW; i++)
      visible += vis[i];
    double worst = 0, worst_c = 0;
    int n_rt = 0, n_c = 0, bad_c = 0, fold_c = 0;
    for (int q = 0; q < 20000; q++) {
      double x = rnd(0, 178), y = rnd(0, 218), u, v, bx, by, bu, bv;
      if (csm_corr_to_canon(c, x, y, &u, &v)) {
        assert_true(csm_corr_to_image(c, u, v, &bx, &by));
        worst = fmax(worst, hypot(bx - x, by - y));
        n_rt++;
      }
      u = rnd(0, CW), v = rnd(0, CW);
      if (csm_corr_to_image(c, u, v, &bx, &by)) {
        n_c++;
        if (!csm_corr_to_canon(c, bx, by, &bu, &bv) || hypot(bu - u, bv - v) > 0.5) {
          /* In a fold (a triangle flipped in the image but not clearly
           * facing away stays visible) two canonical points share an image
           * point by design; the rest must round trip. */
          if (in_fold(can, mv, tri, nt, u, v, bx, by))
            fold_c++;
          else
            bad_c++;
        } else
          worst_c = fmax(worst_c, hypot(bu - u, bv - v));
      }
    }
    double frac = (double)visible / covered;
    vmin = fmin(vmin, frac), vmax = fmax(vmax, frac), vsum += frac, tmax = fmax(tmax, t_create);
    if (nmesh++ < 3)
      print_message(
          "%.6s: create %.1f ms; canonical face %d px, visible %.1f%%; image->canon->image "
          "max %.2g px over %d points; canon->image->canon %d/%d within 0.5 px\n",
          de->d_name, 1e3 * t_create, covered, 100.0 * visible / covered, worst, n_rt, n_c - bad_c,
          n_c);
    assert_true(worst < 0.5);
    assert_true(n_rt > 1000);
    assert_true(visible > 0.5 * covered);
    worst_bad = fmax(worst_bad, (double)bad_c / n_c);
    worst_fold = fmax(worst_fold, (double)fold_c / n_c);
    assert_true(bad_c <= 0.01 * n_c);
    assert_true(fold_c <= 0.1 * n_c);
    csm_corr_free(c);
    free(mv);
  }
  closedir(dd);
  print_message(
      "%d meshes: visible canonical face %.1f%% .. %.1f%% (mean %.1f%%); create <= %.1f ms; "
      "canon->image->canon beyond 0.5 px: worst %.2f%% outside folds, %.2f%% in folds\n",
      nmesh, 100 * vmin, 100 * vmax, 100 * vsum / nmesh, 1e3 * tmax, 100 * worst_bad,
      100 * worst_fold);
  assert_true(nmesh > 0);
  free(tri);
  free(px);
  free(py);
  free(can);

  /* Full resolution: the 86906 PRNet triangles on a 2000 px image. */
  snprintf(p, sizeof p, "%s/frontal_mesh.mat", dir);
  int32_t *ft;
  int nft;
  CSM_ASSERT_OK(csm_mat_read_triangles(p, "triangles", &ft, &nft));
  float *big = malloc(sizeof(float) * 3 * nf), *fc = malloc(sizeof(float) * 2 * nf);
  for (int i = 0; i < nf; i++) {
    big[3 * i] = fv[3 * i] * 3.2f, big[3 * i + 1] = fv[3 * i + 1] * 3.2f;
    big[3 * i + 2] = -fv[3 * i + 2] * 3.2f;
    fc[2 * i] = (float)(fv[3 * i] * s), fc[2 * i + 1] = (float)(fv[3 * i + 1] * s);
  }
  csm_corr_mesh m = {nf, big, fc, nft, ft, CW, CW, 2000, 2000};
  csm_corr *c;
  t0 = csm_now();
  CSM_ASSERT_OK(csm_corr_create(&m, &c));
  double t_big = csm_now() - t0;
  int visible = 0, mapped = 0;
  double x, y;
  for (int i = 0; i < CW * CW; i++) {
    visible += csm_corr_canon_visible(c)[i];
    mapped += csm_corr_to_image(c, i % CW + 0.5, i / CW + 0.5, &x, &y);
  }
  print_message("full frontal mesh (%d triangles) on 2000 x 2000: create %.0f ms, %d canonical px "
                "visible\n",
                nft, 1e3 * t_big, visible);
  assert_int_equal(visible, mapped);
  csm_corr_free(c);
  free(big);
  free(fc);
  free(ft);
  free(fv);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_affine),    cmocka_unit_test(test_warp_roundtrip),
      cmocka_unit_test(test_turned),    cmocka_unit_test(test_hemisphere),
      cmocka_unit_test(test_occlusion), cmocka_unit_test(test_flipped),
      cmocka_unit_test(test_hostile),   cmocka_unit_test(test_sample_faces),
      cmocka_unit_test(test_real),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
