/* FaceMesh crop geometry, head pose on synthetic meshes, and the mesh on
 * real faces from the built-in sample photos (skipped without the models). */
#include "csm_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "face/mesh_crop.h"

#define DEG (M_PI / 180.0)

/* ---- Crop geometry ------------------------------------------------------ */

static void test_crop_box(void **state) {
  (void)state;
  /* human: enlarge 1.4 about the centre, square to the longer side, round. */
  const float box[4] = {100, 100, 100, 80};
  csm_mesh_crop c;
  csm_mesh_crop_from_box(box, 0, 1.4, 192, &c);
  assert_true(fabs(c.cx - 150) < 1e-9 && fabs(c.cy - 140) < 1e-9);
  assert_true(fabs(c.sx - 140) < 1e-9 && fabs(c.sy - 140) < 1e-9);
  double x, y;
  csm_mesh_crop_to_image(&c, 0, 0, &x, &y);
  assert_true(fabs(x - 80) < 1e-9 && fabs(y - 70) < 1e-9);
  csm_mesh_crop_to_image(&c, 192, 192, &x, &y);
  assert_true(fabs(x - 220) < 1e-9 && fabs(y - 210) < 1e-9);
}

static void test_crop_roundtrip(void **state) {
  (void)state;
  const float boxes[][4] = {{0, 0, 50, 50}, {310.5f, 120.25f, 200, 240}, {-40, 900, 33, 17}};
  const float rolls[] = {0, 12.5f, -30, 90, 179, -135};
  float pts[64];
  csm_test_fill_uniform(pts, 64, 7, -300, 1500);
  for (size_t b = 0; b < 3; b++) {
    for (size_t r = 0; r < sizeof rolls / sizeof rolls[0]; r++) {
      csm_mesh_crop c;
      csm_mesh_crop_from_box(boxes[b], rolls[r], 1.4, 192, &c);
      double m[6];
      csm_mesh_crop_matrix(&c, m);
      for (int i = 0; i < 32; i++) {
        double u, v, x, y;
        csm_mesh_image_to_crop(&c, pts[2 * i], pts[2 * i + 1], &u, &v);
        csm_mesh_crop_to_image(&c, u, v, &x, &y);
        assert_true(fabs(x - pts[2 * i]) < 1e-4 && fabs(y - pts[2 * i + 1]) < 1e-4);
        /* The warp matrix samples exactly where the mapping says. */
        assert_true(fabs(m[0] * u + m[1] * v + m[2] - x) < 1e-6);
        assert_true(fabs(m[3] * u + m[4] * v + m[5] - y) < 1e-6);
      }
      /* De-rotation: the crop's u axis runs along the rolled eye line. */
      double x0, y0, x1, y1;
      csm_mesh_crop_to_image(&c, 96, 96, &x0, &y0);
      csm_mesh_crop_to_image(&c, 150, 96, &x1, &y1);
      double ang = atan2(y1 - y0, x1 - x0) / DEG;
      double d = fmod(ang - rolls[r] + 540.0, 360.0) - 180.0;
      assert_true(fabs(d) < 1e-6);
    }
  }
}

/* A rolled image crops to the same pixels as the upright one: sample an
 * image, rotate it about the face centre, crop with the roll. */
static void test_crop_warp_upright(void **state) {
  (void)state;
  csm_image img = {200, 200, calloc(200 * 200 * 3, 1)};
  assert_non_null(img.rgb);
  /* A bright bar to the right of the centre (100, 100), rotated by 30 deg
   * clockwise on screen (y down). */
  const double roll = 30 * DEG;
  for (int t = 10; t < 60; t++)
    for (int s = -3; s <= 3; s++) {
      int x = (int)lround(100 + t * cos(roll) - s * sin(roll));
      int y = (int)lround(100 + t * sin(roll) + s * cos(roll));
      memset(img.rgb + ((size_t)y * 200 + (size_t)x) * 3, 255, 3);
    }
  const float box[4] = {50, 50, 100, 100}; /* crop 140 px about the centre */
  csm_mesh_crop c;
  csm_mesh_crop_from_box(box, 30, 1.4, 192, &c);
  double m[6];
  csm_mesh_crop_matrix(&c, m);
  float *dst = malloc(192 * 192 * sizeof(float));
  assert_non_null(dst);
  CSM_ASSERT_OK(csm_image_warp_affine(&img, m, 192, 192, 1, 0, 1, dst));
  /* Upright in the crop: bright along the row through the centre, right. */
  float on = 0, off = 0;
  for (int i = 120; i < 160; i++) {
    on += dst[96 * 192 + i];
    off += dst[(96 + 30) * 192 + i] + dst[(96 - 30) * 192 + i];
  }
  assert_true(on > 30 && off < 1);
  free(dst);
  free(img.rgb);
}

/* ---- Pose on synthetic meshes ------------------------------------------ */

/* R = Rz(roll) Ry(-yaw) Rx(-pitch): the convention documented in pose.c. */
static void rotation(double yaw, double pitch, double roll, double R[3][3]) {
  double a = -pitch * DEG, b = -yaw * DEG, c = roll * DEG;
  double Rx[3][3] = {{1, 0, 0}, {0, cos(a), -sin(a)}, {0, sin(a), cos(a)}};
  double Ry[3][3] = {{cos(b), 0, sin(b)}, {0, 1, 0}, {-sin(b), 0, cos(b)}};
  double Rz[3][3] = {{cos(c), -sin(c), 0}, {sin(c), cos(c), 0}, {0, 0, 1}};
  double T[3][3];
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++) {
      T[i][j] = 0;
      for (int k = 0; k < 3; k++)
        T[i][j] += Ry[i][k] * Rx[k][j];
    }
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++) {
      R[i][j] = 0;
      for (int k = 0; k < 3; k++)
        R[i][j] += Rz[i][k] * T[k][j];
    }
}

enum { NOSE_TIP = 1 };
/* FaceMesh's forehead-to-chin line leans back 9 deg on an upright face
 * (pose.c's CHIN_LEAN_DEG): half the z difference over 173 px. */
#define LEAN (86.5f * 0.15838444f)

/* A frontal face in its own frame (x to the subject's left = image right,
 * y down, z away from the camera), landmarks at their FaceMesh indices. */
static void synthetic_face(float mesh[CSM_MESH_POINTS][3]) {
  float noise[CSM_MESH_POINTS * 3];
  csm_test_fill_uniform(noise, CSM_MESH_POINTS * 3, 3, -60, 60);
  memcpy(mesh, noise, sizeof noise);
  const struct {
    int i;
    float p[3];
  } lm[] = {{33, {-35, -15, 5}},       {263, {35, -15, 5}},       {234, {-62, 0, 35}},
            {454, {62, 0, 35}},        {61, {-22, 40, 8}},        {291, {22, 40, 8}},
            {10, {0, -85, 12 - LEAN}}, {152, {0, 88, 12 + LEAN}}, {NOSE_TIP, {0, 12, -45}}};
  for (size_t k = 0; k < sizeof lm / sizeof lm[0]; k++)
    memcpy(mesh[lm[k].i], lm[k].p, sizeof lm[k].p);
}

static void pose_mesh(const float in[CSM_MESH_POINTS][3], double yaw, double pitch, double roll,
                      float out[CSM_MESH_POINTS][3]) {
  double R[3][3];
  rotation(yaw, pitch, roll, R);
  for (int i = 0; i < CSM_MESH_POINTS; i++)
    for (int r = 0; r < 3; r++)
      out[i][r] = (float)(R[r][0] * in[i][0] + R[r][1] * in[i][1] + R[r][2] * in[i][2] +
                          (r == 0   ? 320
                           : r == 1 ? 240
                                    : 0));
}

static void test_pose_synthetic(void **state) {
  (void)state;
  static float face[CSM_MESH_POINTS][3], posed[CSM_MESH_POINTS][3];
  synthetic_face(face);
  double worst = 0;
  for (int yaw = -60; yaw <= 60; yaw += 15)
    for (int pitch = -40; pitch <= 40; pitch += 10)
      for (int roll = -45; roll <= 45; roll += 15) {
        pose_mesh((const float(*)[3])face, yaw, pitch, roll, posed);
        float y, p, r;
        csm_face_pose((const float(*)[3])posed, &y, &p, &r);
        double e = fmax(fabs(y - yaw), fmax(fabs(p - pitch), fabs(r - roll)));
        worst = fmax(worst, e);
        if (e > 2) fail_msg("yaw %d pitch %d roll %d -> %.2f %.2f %.2f", yaw, pitch, roll, y, p, r);
      }
  print_message("synthetic pose: worst error %.2g deg\n", worst);
}

/* The signs mean what docs/faces.md says, independently of the matrix. */
static void test_pose_signs(void **state) {
  (void)state;
  static float face[CSM_MESH_POINTS][3], posed[CSM_MESH_POINTS][3];
  synthetic_face(face);
  float y, p, r;
  /* Nose to image right: positive yaw. */
  pose_mesh((const float(*)[3])face, 30, 0, 0, posed);
  assert_true(posed[NOSE_TIP][0] > 320);
  csm_face_pose((const float(*)[3])posed, &y, &p, &r);
  assert_true(y > 25);
  /* Nose up (smaller y): positive pitch. */
  pose_mesh((const float(*)[3])face, 0, 20, 0, posed);
  assert_true(posed[NOSE_TIP][1] < 240 + 12);
  csm_face_pose((const float(*)[3])posed, &y, &p, &r);
  assert_true(p > 15);
  /* Subject's left eye (image right) lower: positive roll. */
  pose_mesh((const float(*)[3])face, 0, 0, 20, posed);
  assert_true(posed[263][1] > posed[33][1]);
  csm_face_pose((const float(*)[3])posed, &y, &p, &r);
  assert_true(r > 15);
  /* A degenerate mesh reports frontal, not NaN. */
  memset(posed, 0, sizeof posed);
  csm_face_pose((const float(*)[3])posed, &y, &p, &r);
  assert_true(y == 0 && p == 0 && r == 0);
}

/* ---- Real faces ---------------------------------------------------------- */

static csm_model *g_mesh;

typedef struct crop_line {
  char image[64];
  float box[4];
} crop_line;

static int read_crops(crop_line *out, int max) {
  char path[1024];
  snprintf(path, sizeof path, "%s/tests/oracles/face_crops.txt",
           csm_test_env("CSM_SOURCE_DIR", "."));
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  char line[256];
  int n = 0;
  while (n < max && fgets(line, sizeof line, f)) {
    crop_line *c = &out[n];
    if (line[0] != '#' && sscanf(line, "%63s %f %f %f %f", c->image, &c->box[0], &c->box[1],
                                 &c->box[2], &c->box[3]) == 5)
      n++;
  }
  fclose(f);
  return n;
}

/* A detector-like face from a face_crops box (about 1.5x the face): the
 * tight box, roll 0, eyes guessed from the box. */
static void face_from_crop(const float crop[4], csm_face *face) {
  memset(face, 0, sizeof *face);
  float w = crop[2] / 1.5f, h = crop[3] / 1.5f;
  face->box[0] = crop[0] + 0.5f * (crop[2] - w);
  face->box[1] = crop[1] + 0.5f * (crop[3] - h);
  face->box[2] = w;
  face->box[3] = h;
  face->score = 1;
  face->keypoints[CSM_KP_RIGHT_EYE][0] = face->box[0] + 0.3f * w;
  face->keypoints[CSM_KP_LEFT_EYE][0] = face->box[0] + 0.7f * w;
  face->keypoints[CSM_KP_RIGHT_EYE][1] = face->keypoints[CSM_KP_LEFT_EYE][1] =
      face->box[1] + 0.4f * h;
}

static void check_mesh(const csm_face *face, const float crop[4], const char *what) {
  assert_int_equal(face->has_mesh, 1);
  if (!(face->mesh_score > 0.9f)) fail_msg("%s: mesh score %.3f", what, face->mesh_score);
  float slack = 0.15f * crop[2];
  for (int i = 0; i < CSM_MESH_POINTS; i++) {
    const float *p = face->mesh[i];
    if (!(p[0] > crop[0] - slack && p[0] < crop[0] + crop[2] + slack && p[1] > crop[1] - slack &&
          p[1] < crop[1] + crop[3] + slack && fabsf(p[2]) < crop[2]))
      fail_msg("%s: point %d (%.1f %.1f %.1f) outside the face", what, i, p[0], p[1], p[2]);
  }
  /* Subject's right eye corner (33) on the image left of the left (263). */
  assert_true(face->mesh[33][0] < face->mesh[263][0]);
  /* Forehead above chin; nose tip nearer the camera (smaller z) than the
   * cheek silhouette: the sign face.h documents. */
  assert_true(face->mesh[10][1] < face->mesh[152][1]);
  assert_true(face->mesh[NOSE_TIP][2] < face->mesh[234][2] &&
              face->mesh[NOSE_TIP][2] < face->mesh[454][2]);
}

static void test_mesh_real(void **state) {
  (void)state;
  crop_line crops[32];
  int n = read_crops(crops, 32);
  assert_true(n >= 1);
  const char *samples = csm_test_env("CSM_SAMPLES_DIR", "data/samples");
  char path[1024], loaded[64] = "";
  csm_image img = {0, 0, NULL};
  for (int k = 0; k < n; k++) {
    if (strcmp(loaded, crops[k].image) != 0) {
      csm_image_free(&img);
      snprintf(path, sizeof path, "%s/%.63s", samples, crops[k].image);
      CSM_ASSERT_OK(csm_image_load(path, &img));
      snprintf(loaded, sizeof loaded, "%s", crops[k].image);
    }
    csm_face face, once;
    face_from_crop(crops[k].box, &face);
    once = face;
    CSM_ASSERT_OK(csm_face_mesh(g_mesh, &img, 0, &once));
    CSM_ASSERT_OK(csm_face_mesh(g_mesh, &img, 1, &face));
    char what[128];
    snprintf(what, sizeof what, "%s %.0f %.0f", crops[k].image, crops[k].box[0], crops[k].box[1]);
    check_mesh(&once, crops[k].box, what);
    check_mesh(&face, crops[k].box, what);
    print_message("%-28s score %.3f/%.3f  yaw %6.1f pitch %6.1f roll %6.1f\n", what,
                  once.mesh_score, face.mesh_score, face.yaw_deg, face.pitch_deg,
                  face.pose_roll_deg);
  }
  csm_image_free(&img);
}

/* The image rotated about a face by a known roll (the detector reporting
 * that roll): the mesh rotates with it and the pose's roll follows. */
static void test_mesh_rotated(void **state) {
  (void)state;
  crop_line crops[32];
  int n = read_crops(crops, 32), k = 0;
  while (k < n && strcmp(crops[k].image, "sample3.jpg") != 0)
    k++;
  assert_true(k < n);
  char path[1024];
  snprintf(path, sizeof path, "%s/%.63s", csm_test_env("CSM_SAMPLES_DIR", "data/samples"),
           crops[k].image);
  csm_image img;
  CSM_ASSERT_OK(csm_image_load(path, &img));
  csm_face a, a1;
  face_from_crop(crops[k].box, &a);
  a1 = a;
  CSM_ASSERT_OK(csm_face_mesh(g_mesh, &img, 1, &a));
  CSM_ASSERT_OK(csm_face_mesh(g_mesh, &img, 0, &a1));
  /* Rotated copy: a square window of 2x the crop around the face centre. */
  const float *cb = crops[k].box;
  const double cx = cb[0] + 0.5 * cb[2], cy = cb[1] + 0.5 * cb[3];
  const int side = (int)(2 * cb[2]);
  for (int deg = -40; deg <= 40; deg += 40) {
    const double t = deg * DEG, ct = cos(t), st = sin(t), h = 0.5 * side;
    /* Output (x', y') reads the source at c + R(-t) (x' - h, y' - h). */
    const double m[6] = {ct, st, cx - h * (ct + st), -st, ct, cy - h * (ct - st)};
    float *buf = malloc((size_t)side * side * 3 * sizeof(float));
    csm_image rot = {side, side, malloc((size_t)side * side * 3)};
    assert_true(buf && rot.rgb);
    CSM_ASSERT_OK(csm_image_warp_affine(&img, m, side, side, 3, 0, 255, buf));
    for (size_t i = 0; i < (size_t)side * side * 3; i++)
      rot.rgb[i] = (unsigned char)lrintf(buf[i]);
    free(buf);
    csm_face b, b1;
    face_from_crop(cb, &b);
    b.box[0] += (float)(h - cx);
    b.box[1] += (float)(h - cy);
    b.roll_deg = (float)deg;
    b1 = b;
    CSM_ASSERT_OK(csm_face_mesh(g_mesh, &rot, 1, &b));
    /* The first pass alone checks the de-rotated crop; the refits then
     * re-derive the roll from the mesh. */
    CSM_ASSERT_OK(csm_face_mesh(g_mesh, &rot, 0, &b1));
    double err = 0, err1 = 0;
    for (int i = 0; i < CSM_MESH_POINTS; i++) {
      double dx = b.mesh[i][0] - h, dy = b.mesh[i][1] - h;
      double x = cx + ct * dx + st * dy, y = cy - st * dx + ct * dy;
      err += hypot(x - a.mesh[i][0], y - a.mesh[i][1]);
      dx = b1.mesh[i][0] - h, dy = b1.mesh[i][1] - h;
      x = cx + ct * dx + st * dy, y = cy - st * dx + ct * dy;
      err1 += hypot(x - a1.mesh[i][0], y - a1.mesh[i][1]);
    }
    err /= CSM_MESH_POINTS;
    err1 /= CSM_MESH_POINTS;
    assert_true(err1 < 0.02 * b.box[2]);
    print_message(
        "rotated %+d deg: mean mesh offset %.2f px (first pass %.2f; box %.0f), roll %.1f -> %.1f, "
        "yaw %.1f -> %.1f, pitch %.1f -> %.1f\n",
        deg, err, err1, b.box[2], a.pose_roll_deg, b.pose_roll_deg, a.yaw_deg, b.yaw_deg,
        a.pitch_deg, b.pitch_deg);
    assert_true(b.mesh_score > 0.9f);
    assert_true(err < 0.02 * b.box[2]);
    assert_true(fabs(b.pose_roll_deg - a.pose_roll_deg - deg) < 3);
    assert_true(fabs(b.yaw_deg - a.yaw_deg) < 4 && fabs(b.pitch_deg - a.pitch_deg) < 4);
    free(rot.rgb);
  }
  csm_image_free(&img);
}

int main(void) {
  const struct CMUnitTest synthetic[] = {
      cmocka_unit_test(test_crop_box),          cmocka_unit_test(test_crop_roundtrip),
      cmocka_unit_test(test_crop_warp_upright), cmocka_unit_test(test_pose_synthetic),
      cmocka_unit_test(test_pose_signs),
  };
  int failed = cmocka_run_group_tests(synthetic, NULL, NULL);
  char buf[1024];
  const char *path = csm_test_model_path("facemesh", buf, sizeof buf);
  if (!path) {
    fprintf(stderr, "facemesh model not installed (run make setup): real faces skipped\n");
    return failed ? failed : CSM_TEST_SKIP;
  }
  csm_set_threads(atoi(csm_test_env("CSM_THREADS", "2")));
  if (csm_model_load(path, &g_mesh) != CSM_OK) {
    fprintf(stderr, "%s\n", csm_last_error());
    return 1;
  }
  const struct CMUnitTest real[] = {
      cmocka_unit_test(test_mesh_real),
      cmocka_unit_test(test_mesh_rotated),
  };
  failed += cmocka_run_group_tests(real, NULL, NULL);
  csm_model_free(g_mesh);
  return failed;
}
