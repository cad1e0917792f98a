/* The `pose` task: FaceMesh's landmarks on the task's crop turned into the
 * paper's 9 head-pose bins (3 yaw x 3 pitch), as soft probabilities so that
 * occlusion sees a confidence that moves smoothly with the estimated pose. */
#include <math.h>

#include "task/task_private.h"

/* A face counts as turned (or tilted) beyond 10 degrees: csm_face_pose reads
 * 0 +- a few degrees on frontal photos (its chin-lean correction is good to
 * about a degree on CelebA), and 10 degrees is where a turn becomes visible. */
#define POSE_BIN_T 10.0
/* The softness of a bin edge: 3 degrees is about the pose's own noise
 * between FaceMesh runs on nearby crops, so a face on an edge gets mixed
 * memberships instead of a confidence that jumps between 0 and 1. */
#define POSE_BIN_TAU 3.0

static double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

/* low, mid, high memberships of angle a, summing to 1. */
static void axis_memberships(double a, double p[3]) {
  p[0] = sigmoid((-POSE_BIN_T - a) / POSE_BIN_TAU);
  p[2] = sigmoid((a - POSE_BIN_T) / POSE_BIN_TAU);
  p[1] = 1.0 - p[0] - p[2];
  if (p[1] < 0) p[1] = 0;
  double s = p[0] + p[1] + p[2];
  for (int k = 0; k < 3; k++)
    p[k] /= s;
}

void csm_pose_bins(float yaw_deg, float pitch_deg, float probs[9]) {
  double y[3], p[3];
  axis_memberships(yaw_deg, y);
  axis_memberships(pitch_deg, p);
  /* Rows top (pitch high: chin up), middle, bottom; columns left (yaw low:
   * the nose towards image left), centre, right. */
  const double rows[3] = {p[2], p[1], p[0]}, cols[3] = {y[0], y[1], y[2]};
  for (int r = 0; r < 3; r++)
    for (int c = 0; c < 3; c++)
      probs[3 * r + c] = (float)(rows[r] * cols[c]);
}

csm_status csm_pose_scores(const csm_task_info *info, const float *raw, size_t n_out,
                           csm_task_result *out) {
  if (n_out != 3 * CSM_MESH_POINTS || info->n_classes != 9)
    return csm_fail(CSM_EINPUT, "task %s: %zu mesh values and %d classes, want %d and 9",
                    info->name, n_out, info->n_classes, 3 * CSM_MESH_POINTS);
  /* Crop pixels are isotropic (a square crop resampled to a square input,
   * z scaled like x by FaceMesh), so the angles are the image's; the crop
   * is upright, so the roll is gone but yaw and pitch are unchanged. */
  float yaw, pitch, roll;
  csm_face_pose((const float(*)[3])raw, &yaw, &pitch, &roll);
  csm_pose_bins(yaw, pitch, out->scores);
  return CSM_OK;
}
