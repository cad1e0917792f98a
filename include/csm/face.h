/* csm face: detection, the 468-point mesh, head pose, dense correspondence. */
#ifndef CSM_FACE_H
#define CSM_FACE_H

#include "csm/image.h"
#include "csm/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CSM_MESH_POINTS 468

/* BlazeFace keypoints, in the model's order. */
enum {
  CSM_KP_RIGHT_EYE,
  CSM_KP_LEFT_EYE,
  CSM_KP_NOSE,
  CSM_KP_MOUTH,
  CSM_KP_RIGHT_EAR,
  CSM_KP_LEFT_EAR,
  CSM_KP_COUNT
};

/* One face. Coordinates are image pixels (x right, y down); mesh z is in
 * the same pixel units, larger = farther from the camera (FaceMesh's sign). */
typedef struct csm_face {
  float box[4]; /* x, y, w, h */
  float score;  /* detector confidence */
  float keypoints[CSM_KP_COUNT][2];
  float roll_deg; /* in-plane rotation from the eye keypoints */
  int has_mesh;
  float mesh[CSM_MESH_POINTS][3];
  float mesh_score;                        /* FaceMesh face-presence score */
  float yaw_deg, pitch_deg, pose_roll_deg; /* head pose from the mesh */
} csm_face;

typedef enum csm_detector_kind {
  CSM_DETECTOR_AUTO,  /* back model, then front for close-ups */
  CSM_DETECTOR_FRONT, /* blazeface-front: faces filling much of the image */
  CSM_DETECTOR_BACK   /* blazeface-back: group photos, small faces */
} csm_detector_kind;

typedef struct csm_detect_options {
  csm_detector_kind detector;
  float min_score; /* default 0.5 */
  float iou;       /* non-maximum suppression overlap, default 0.3 */
  int max_faces;   /* default 64 */
  int mesh;        /* run FaceMesh on each face (default 1) */
  int refine;      /* second FaceMesh pass on the crop from the first mesh (default 1) */
} csm_detect_options;

csm_detect_options csm_detect_options_default(void);

typedef struct csm_face_detector csm_face_detector;

/* Loads blazeface-front, blazeface-back and facemesh from models_dir. */
csm_status csm_face_detector_create(const char *models_dir, const csm_detect_options *opt,
                                    csm_face_detector **out);
void csm_face_detector_free(csm_face_detector *d);

/* All faces in img, largest first. *faces is malloc'ed (free()); *n may be 0. */
csm_status csm_face_detect(csm_face_detector *d, const csm_image *img, csm_face **faces, int *n);

/* ---- Mesh and pose (src/face/mesh.c, pose.c) ----------------------------- */

/* Runs FaceMesh on the face's box/keypoints/roll (a crop de-rotated by the
 * roll and enlarged around the box); fills mesh, mesh_score, has_mesh and the
 * pose; with refine, a second pass on the crop from the first mesh. */
csm_status csm_face_mesh(csm_model *facemesh, const csm_image *img, int refine, csm_face *face);

/* Yaw, pitch, roll in degrees from a 468-point mesh. */
void csm_face_pose(const float mesh[CSM_MESH_POINTS][3], float *yaw_deg, float *pitch_deg,
                   float *roll_deg);

/* ---- Dense correspondence (src/face/corr.c) ------------------------------ */

/* A triangulated mesh known in an image and on the canonical face. */
typedef struct csm_corr_mesh {
  int n_vertices;
  const float *image_xyz; /* n x 3: image pixels, z depth (larger = farther) */
  const float *canon_xy;  /* n x 2: canonical-frame pixels */
  int n_triangles;
  const int32_t *triangles; /* t x 3, 0-based vertex indices */
  int canon_w, canon_h;     /* canonical raster size */
  int image_w, image_h;
} csm_corr_mesh;

typedef struct csm_corr csm_corr;

/* Piecewise-affine maps both ways over the triangles; triangles facing away
 * from the camera or hidden behind nearer ones are marked hidden. */
csm_status csm_corr_create(const csm_corr_mesh *mesh, csm_corr **out);
void csm_corr_free(csm_corr *c);
/* Canonical point (continuous pixel coordinates) -> image point; returns 0
 * when the point is outside the face or hidden in this image. */
int csm_corr_to_image(const csm_corr *c, double u, double v, double *x, double *y);
/* Image point -> canonical point; returns 0 outside the visible face. */
int csm_corr_to_canon(const csm_corr *c, double x, double y, double *u, double *v);
/* canon_w x canon_h bytes: 1 where the canonical face is covered and visible. */
const unsigned char *csm_corr_canon_visible(const csm_corr *c);

/* ---- External alignments (src/face/matfile.c) ---------------------------- */

/* Reads a float64 or float32 N x 3 matrix variable (PRNet `vertices`) from a
 * MATLAB v5 .mat file as float32 (malloc'ed). */
csm_status csm_mat_read_matrix(const char *path, const char *var, float **data, int *rows,
                               int *cols);
/* Reads a T x 3 triangle variable, returned 0-based (the base is detected:
 * MATLAB files are 1-based). */
csm_status csm_mat_read_triangles(const char *path, const char *var, int32_t **tri, int *n);

#ifdef __cplusplus
}
#endif
#endif
