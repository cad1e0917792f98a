/* Head pose (yaw, pitch, roll) from a 468-point FaceMesh mesh.
 *
 * The face's own axes are read off the mesh, as in human's angles.ts but with
 * more landmarks and a documented decomposition: x from the subject's right
 * to left (pairs of mirror-image landmarks), y from the top of the forehead
 * to the chin, z = x cross y (into the image, the back of the head). The
 * matrix R with these axes as columns maps the face frame to the camera frame
 * (x right, y down, z away); R = Rz(roll) Ry(-yaw) Rx(-pitch).
 *
 * Signs (docs/faces.md): yaw > 0 when the face turns to the subject's left
 * (the nose points to image right in an unmirrored photo); pitch > 0 when
 * the face tilts up (chin up, nose towards the image top); roll > 0 when the
 * face is rotated clockwise on screen (the subject's left eye, on the image
 * right, lower than the right eye), the same sign as csm_face.roll_deg. */
#include "csm/face.h"

#include <math.h>

#define RAD2DEG (180.0 / M_PI)

/* Mirror-image pairs {subject's right, subject's left}: outer eye corners,
 * cheek silhouette, mouth corners. Several pairs make the x axis robust to
 * one landmark being off (an occluded cheek in a profile view). */
static const int kPairs[][2] = {{33, 263}, {234, 454}, {61, 291}};
enum { MESH_FOREHEAD_TOP = 10, MESH_CHIN = 152 };
/* FaceMesh's forehead-top-to-chin line leans back (chin farther from the
 * camera) by this much on an upright face: measured on the reference's
 * canonical frontal face (celeba-prnet/frontal.jpg: -9.0 before this
 * correction) and on the mean of 50 CelebA faces (-8.7). */
#define CHIN_LEAN_DEG 9.0

static double norm3(double v[3]) {
  double n = sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
  if (n > 0)
    for (int k = 0; k < 3; k++)
      v[k] /= n;
  return n;
}

static void cross3(const double a[3], const double b[3], double out[3]) {
  out[0] = a[1] * b[2] - a[2] * b[1];
  out[1] = a[2] * b[0] - a[0] * b[2];
  out[2] = a[0] * b[1] - a[1] * b[0];
}

void csm_face_pose(const float mesh[CSM_MESH_POINTS][3], float *yaw_deg, float *pitch_deg,
                   float *roll_deg) {
  double ex[3] = {0, 0, 0}, ey[3], ez[3];
  for (size_t p = 0; p < sizeof kPairs / sizeof kPairs[0]; p++)
    for (int k = 0; k < 3; k++)
      ex[k] += (double)mesh[kPairs[p][1]][k] - mesh[kPairs[p][0]][k];
  for (int k = 0; k < 3; k++)
    ey[k] = (double)mesh[MESH_CHIN][k] - mesh[MESH_FOREHEAD_TOP][k];
  double nx = norm3(ex), ny = norm3(ey);
  cross3(ex, ey, ez);
  double nz = norm3(ez);
  /* A degenerate or non-finite mesh has no pose; report frontal rather than
   * NaN so that JSON and CSV stay well-formed. */
  if (!(nx > 0 && ny > 0 && nz > 0 && isfinite(nx + ny + nz))) {
    *yaw_deg = *pitch_deg = *roll_deg = 0;
    return;
  }
  /* Keep x (the symmetric pairs pin yaw and roll best) and make y exactly
   * orthogonal to it: (ex, ey, ez) is the face frame rotated by the chin
   * lean about x; undo that lean. */
  cross3(ez, ex, ey);
  const double t = CHIN_LEAN_DEG / RAD2DEG, ct = cos(t), st = sin(t);
  for (int k = 0; k < 3; k++) {
    double y = ey[k], z = ez[k];
    ey[k] = ct * y - st * z;
    ez[k] = st * y + ct * z;
  }
  /* R = Rz(c) Ry(b) Rx(a): R20 = -sin b, R21 = cos b sin a, R22 = cos b cos a,
   * R10 = sin c cos b, R00 = cos c cos b. Columns: ex, ey, ez. */
  double b = atan2(-ex[2], hypot(ey[2], ez[2]));
  double a = atan2(ey[2], ez[2]);
  double c = atan2(ex[1], ex[0]);
  *yaw_deg = (float)(-b * RAD2DEG);
  *pitch_deg = (float)(-a * RAD2DEG);
  *roll_deg = (float)(c * RAD2DEG);
}
