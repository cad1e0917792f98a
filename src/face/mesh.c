/* FaceMesh: the 468-point face mesh on a roll-corrected crop around a face.
 *
 * Geometry follows @vladmandic/human 3.3.6 (facemeshutil.ts): the detector
 * box is enlarged 1.4x about its centre and squared to its longer side, the
 * crop is resampled to the model's 192x192 input with values in [0, 1], and
 * the landmarks (crop pixels) are mapped back by scaling about the crop
 * centre and rotating. Two deliberate differences, both sub-pixel or better:
 * the crop is sampled with a pixel-centre convention that is the exact
 * inverse of the landmark mapping (tf.image.cropAndResize as human calls it
 * is off by up to half a source pixel), and the crop is always rotated by
 * the roll (human only rotates when the angle exceeds 0.2 rad). z is scaled
 * like x, so the mesh is in image pixels in all three axes (human leaves z
 * in crop units). Refinement (human has none within a frame; it reuses the
 * mesh's box on the next video frame) refits the crop to the previous mesh
 * the way MediaPipe derives its next-frame ROI from landmarks: roll from the
 * outer eye corners, extent x1.5. */
#include "face/mesh_crop.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DEG (M_PI / 180.0)

/* Mesh indices of the outer eye corners: the subject's right eye (image left
 * in an unmirrored photo) and left eye (human's constants.ts). */
enum { MESH_RIGHT_EYE_OUTER = 33, MESH_LEFT_EYE_OUTER = 263 };

static void crop_set_roll(csm_mesh_crop *c, double roll_rad) {
  c->cosr = cos(roll_rad);
  c->sinr = sin(roll_rad);
}

void csm_mesh_crop_from_box(const float box[4], float roll_deg, double scale, int n,
                            csm_mesh_crop *c) {
  double cx = box[0] + 0.5 * box[2], cy = box[1] + 0.5 * box[3];
  double half = 0.5 * scale * fmax(box[2], box[3]);
  /* human rounds the squared box's corners; doing the same keeps our crops
   * (and so the model's inputs) on the same pixels as the reference. */
  double x0 = round(cx - half), x1 = round(cx + half);
  double y0 = round(cy - half), y1 = round(cy + half);
  c->cx = 0.5 * (x0 + x1);
  c->cy = 0.5 * (y0 + y1);
  c->sx = x1 - x0;
  c->sy = y1 - y0;
  c->n = n;
  crop_set_roll(c, roll_deg * DEG);
}

/* Crop (u, v) -> image: offset from the crop centre, scaled to image pixels
 * along the crop axes, then rotated by the roll so that the upright face in
 * the crop lands on the tilted face in the image. */
void csm_mesh_crop_to_image(const csm_mesh_crop *c, double u, double v, double *x, double *y) {
  double du = (u - 0.5 * c->n) * c->sx / c->n;
  double dv = (v - 0.5 * c->n) * c->sy / c->n;
  *x = c->cx + c->cosr * du - c->sinr * dv;
  *y = c->cy + c->sinr * du + c->cosr * dv;
}

void csm_mesh_image_to_crop(const csm_mesh_crop *c, double x, double y, double *u, double *v) {
  double dx = x - c->cx, dy = y - c->cy;
  double du = c->cosr * dx + c->sinr * dy;
  double dv = -c->sinr * dx + c->cosr * dy;
  *u = du * c->n / c->sx + 0.5 * c->n;
  *v = dv * c->n / c->sy + 0.5 * c->n;
}

void csm_mesh_crop_matrix(const csm_mesh_crop *c, double m[6]) {
  /* csm_mesh_crop_to_image written as x = m0*u + m1*v + m2, y = ...; the warp
   * evaluates it at output pixel centres, the crop's own convention. */
  double ku = c->sx / c->n, kv = c->sy / c->n, h = 0.5 * c->n;
  m[0] = c->cosr * ku;
  m[1] = -c->sinr * kv;
  m[2] = c->cx - h * (m[0] + m[1]);
  m[3] = c->sinr * ku;
  m[4] = c->cosr * kv;
  m[5] = c->cy - h * (m[3] + m[4]);
}

/* The second-pass crop from a mesh: roll from the outer eye corners, centre
 * and size from the mesh's extent along the new crop axes (MediaPipe's
 * landmarks-to-ROI step), enlarged and square. */
static void crop_from_mesh(const float mesh[CSM_MESH_POINTS][3], int n, csm_mesh_crop *c) {
  const float *r = mesh[MESH_RIGHT_EYE_OUTER], *l = mesh[MESH_LEFT_EYE_OUTER];
  crop_set_roll(c, atan2((double)l[1] - r[1], (double)l[0] - r[0]));
  double umin = INFINITY, umax = -INFINITY, vmin = INFINITY, vmax = -INFINITY;
  for (int i = 0; i < CSM_MESH_POINTS; i++) {
    double u = c->cosr * mesh[i][0] + c->sinr * mesh[i][1];
    double v = -c->sinr * mesh[i][0] + c->cosr * mesh[i][1];
    umin = fmin(umin, u);
    umax = fmax(umax, u);
    vmin = fmin(vmin, v);
    vmax = fmax(vmax, v);
  }
  double uc = 0.5 * (umin + umax), vc = 0.5 * (vmin + vmax);
  c->cx = c->cosr * uc - c->sinr * vc;
  c->cy = c->sinr * uc + c->cosr * vc;
  c->sx = c->sy = CSM_MESH_REFINE_SCALE * fmax(umax - umin, vmax - vmin);
  c->n = n;
}

/* Runs the model on one crop; the mesh in image pixels and the face score. */
static csm_status run_pass(csm_model *model, const csm_image *img, const csm_mesh_crop *c,
                           float mesh[CSM_MESH_POINTS][3], float *score) {
  int64_t dims[4] = {1, c->n, c->n, 3};
  csm_shape shape = csm_shape_make(4, dims);
  csm_tensor in;
  csm_status st = csm_tensor_alloc(&in, CSM_F32, &shape);
  if (st) return st;
  double m[6];
  csm_mesh_crop_matrix(c, m);
  st = csm_image_warp_affine(img, m, c->n, c->n, 3, 0.0f, 1.0f, (float *)in.data);
  if (st) {
    csm_tensor_free(&in);
    return st;
  }
  int nout = csm_model_num_outputs(model);
  csm_tensor out[8];
  if (nout < 2 || nout > 8) {
    csm_tensor_free(&in);
    return csm_fail(CSM_EINPUT, "%s: FaceMesh should have 2..8 outputs, has %d",
                    csm_model_path(model), nout);
  }
  memset(out, 0, sizeof out);
  st = csm_model_run(model, &in, out);
  csm_tensor_free(&in);
  if (st) return st;
  /* Outputs are found by size, as human does: the graph's output order and
   * names differ between FaceMesh conversions. */
  const float *pts = NULL, *flag = NULL;
  for (int i = 0; i < nout; i++) {
    size_t k = csm_tensor_numel(&out[i]);
    if (out[i].dtype != CSM_F32) continue;
    if (k == 3 * CSM_MESH_POINTS) pts = out[i].data;
    if (k == 1) flag = out[i].data;
  }
  if (!pts || !flag) {
    st = csm_fail(CSM_EINPUT, "%s: no [1,1404] mesh and [1,1] face-flag outputs",
                  csm_model_path(model));
  } else {
    /* The face flag is already a sigmoid inside the graph. z is relative to
     * the face centre in crop pixels: scaled like x, not shifted or rotated
     * (the roll is in the image plane). */
    double kz = c->sx / c->n;
    for (int i = 0; i < CSM_MESH_POINTS; i++) {
      double x, y;
      csm_mesh_crop_to_image(c, pts[3 * i], pts[3 * i + 1], &x, &y);
      mesh[i][0] = (float)x;
      mesh[i][1] = (float)y;
      mesh[i][2] = (float)(pts[3 * i + 2] * kz);
    }
    *score = flag[0];
    if (!isfinite(*score)) st = csm_fail(CSM_EINTERNAL, "FaceMesh gave a non-finite score");
  }
  for (int i = 0; i < nout; i++)
    csm_tensor_free(&out[i]);
  return st;
}

csm_status csm_face_mesh(csm_model *facemesh, const csm_image *img, int refine, csm_face *face) {
  if (!facemesh || !img || !img->rgb || !face)
    return csm_fail(CSM_EUSAGE, "csm_face_mesh: null argument");
  const float *b = face->box;
  if (!(isfinite(b[0]) && isfinite(b[1]) && b[2] > 0 && b[3] > 0 && isfinite(b[2]) &&
        isfinite(b[3]) && isfinite(face->roll_deg)))
    return csm_fail(CSM_EUSAGE, "csm_face_mesh: bad face box or roll");
  if (csm_model_num_inputs(facemesh) != 1)
    return csm_fail(CSM_EINPUT, "%s: FaceMesh should have one input", csm_model_path(facemesh));
  csm_shape is = csm_model_input_shape(facemesh, 0);
  if (is.rank != 4 || is.d[1] != is.d[2] || is.d[1] < 8 || is.d[1] > 4096 || is.d[3] != 3)
    return csm_fail(CSM_EINPUT, "%s: FaceMesh input should be [n,s,s,3]", csm_model_path(facemesh));
  int n = (int)is.d[1];

  csm_mesh_crop crop;
  csm_mesh_crop_from_box(face->box, face->roll_deg, CSM_MESH_BOX_SCALE, n, &crop);
  float score;
  csm_status st = run_pass(facemesh, img, &crop, face->mesh, &score);
  if (st) return st;
  face->mesh_score = score;
  if (refine) {
    /* The first mesh locates the face better than the detector's box; crops
     * fitted to the previous mesh give the model the framing it was trained
     * on. A too-tight first crop yields a mesh squeezed towards the centre,
     * so one refit can still be tight: refit until the crop settles. */
    const size_t bytes = sizeof(float[CSM_MESH_POINTS][3]);
    float(*tmp)[3] = csm_malloc(bytes);
    if (!tmp) return CSM_ENOMEM;
    for (int pass = 0; pass < CSM_MESH_REFINE_PASSES; pass++) {
      csm_mesh_crop prev = crop;
      crop_from_mesh((const float(*)[3])face->mesh, n, &crop);
      if (!(crop.sx > 1)) break;
      float score2 = 0;
      st = run_pass(facemesh, img, &crop, tmp, &score2);
      /* Keep the refit unless the model is clearly less sure of a face in it
       * (scores near 1 differ by noise). */
      if (st || score2 < face->mesh_score - 0.1f) break;
      memcpy(face->mesh, tmp, bytes);
      face->mesh_score = score2;
      double moved = hypot(crop.cx - prev.cx, crop.cy - prev.cy) + fabs(crop.sx - prev.sx);
      if (moved < CSM_MESH_SETTLED * crop.sx) break;
    }
    free(tmp);
    if (st) return st;
  }
  face->has_mesh = 1;
  csm_face_pose((const float(*)[3])face->mesh, &face->yaw_deg, &face->pitch_deg,
                &face->pose_roll_deg);
  return CSM_OK;
}
