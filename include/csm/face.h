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

#ifdef __cplusplus
}
#endif
#endif
