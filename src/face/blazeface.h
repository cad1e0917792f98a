/* BlazeFace decoding, shared by the detector and its unit tests (internal). */
#ifndef CSM_FACE_BLAZEFACE_H
#define CSM_FACE_BLAZEFACE_H

#include "csm/face.h"

/* Values per anchor in the model output: score logit, box centre offset
 * (x, y), box size (w, h), then 6 keypoint offsets (x, y). */
#define CSM_BF_VALUES 17

/* A decoded detection in the detector's input pixels. */
typedef struct csm_bf_det {
  float box[4]; /* x1, y1, x2, y2 */
  float kp[CSM_KP_COUNT][2];
  float score; /* sigmoid of the logit */
} csm_bf_det;

/* Anchor centres (x, y) in input pixels for a square input of `size` (128:
 * front, 256: back), in the model's output order; anchors may be NULL to
 * count them. Returns the number of anchors (896 for both models). */
int csm_bf_anchors(int size, float *anchors);

/* The whole image resized to size x size the way TF.js resizeBilinear does
 * by default (no half-pixel centres: source = dest * in / out), mapped to
 * [-1, 1] (x / 127.5 - 1), NHWC into dst[size][size][3]. */
void csm_bf_preprocess(const csm_image *img, int size, float *dst);

/* Decodes raw[n][CSM_BF_VALUES] against anchors[n][2]; keeps anchors whose
 * score is above min_score. out must hold n; returns the number kept. */
int csm_bf_decode(const float *raw, const float *anchors, int n, float min_score, csm_bf_det *out);

/* Intersection over union of two x1, y1, x2, y2 boxes (0 when empty). */
float csm_bf_iou(const float a[4], const float b[4]);

/* Overlap with the best box above which a detection is averaged into it
 * (below it, and above the suppression overlap, it is only suppressed). */
#define CSM_BF_AVERAGE_IOU 0.85f

/* Weighted non-maximum suppression in place: repeatedly takes the best
 * remaining detection, drops the remaining ones overlapping it by more than
 * iou, and replaces it by the score-weighted mean (box and keypoints) of
 * itself and those overlapping it by more than max(iou,
 * CSM_BF_AVERAGE_IOU); it keeps the best score. Returns the number kept
 * (<= max_out), best first. */
int csm_bf_weighted_nms(csm_bf_det *d, int n, float iou, int max_out);
/* The same with the averaging overlap given: above 1 nothing is averaged
 * (plain non-maximum suppression). */
int csm_bf_nms(csm_bf_det *d, int n, float iou, float avg_iou, int max_out);

/* In-plane roll in degrees from the eye keypoints (model order: the
 * subject's right eye first, on the image's left): the angle of the
 * right-to-left eye vector, positive when clockwise in the image (y down). */
float csm_bf_roll_deg(const float right_eye[2], const float left_eye[2]);

/* Runs a BlazeFace model on img: preprocess, run, decode, weighted NMS, and
 * maps to image pixels as faces (box, score, keypoints, roll; no mesh).
 * *faces is malloc'ed; sorted by score. */
csm_status csm_bf_detect(csm_model *m, const csm_image *img, float min_score, float iou,
                         int hard_nms, int max_faces, csm_face **faces, int *n);

#endif
