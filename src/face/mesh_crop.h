/* FaceMesh crop geometry (private to src/face; exposed for the tests).
 *
 * A crop is a square-ish region of the image, rotated by the face's roll
 * about its centre, resampled to the model's input. Crop coordinates (u, v)
 * are continuous pixels of the model input: [0, n) spans the crop, with
 * (n/2, n/2) at the crop centre; FaceMesh reports landmarks in them. */
#ifndef CSM_FACE_MESH_CROP_H
#define CSM_FACE_MESH_CROP_H

#include "csm/face.h"

/* Enlargement of the detector box for the first pass (human's
 * config.face.detector.scale) and of the mesh extent for the second pass
 * (MediaPipe's face-landmark ROI scale). */
#define CSM_MESH_BOX_SCALE 1.4
#define CSM_MESH_REFINE_SCALE 1.5
/* Refits at most this many times; stops once the crop moves by less than
 * CSM_MESH_SETTLED of its side. */
#define CSM_MESH_REFINE_PASSES 3
#define CSM_MESH_SETTLED 0.02

typedef struct csm_mesh_crop {
  double cx, cy;     /* centre, image pixels (continuous) */
  double sx, sy;     /* side lengths along the crop's own axes, image pixels */
  double cosr, sinr; /* roll: crop u axis = (cosr, sinr) in the image */
  int n;             /* model input side */
} csm_mesh_crop;

/* The first-pass crop: box (x, y, w, h) enlarged by `scale` about its centre,
 * squared to its longer side with the corners rounded to whole pixels (as
 * human's enlargeBox + squarifyBox), rotated by roll_deg (see docs/faces.md). */
void csm_mesh_crop_from_box(const float box[4], float roll_deg, double scale, int n,
                            csm_mesh_crop *c);
/* The matrix for csm_image_warp_affine that samples this crop. */
void csm_mesh_crop_matrix(const csm_mesh_crop *c, double m[6]);
/* Crop (u, v) <-> image (x, y); exact inverses of each other. */
void csm_mesh_crop_to_image(const csm_mesh_crop *c, double u, double v, double *x, double *y);
void csm_mesh_image_to_crop(const csm_mesh_crop *c, double x, double y, double *u, double *v);

#endif
