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
  int hard_nms;    /* plain NMS, as @vladmandic/human does (default 0: near-duplicate
                      boxes of one face are averaged, MediaPipe-style) */
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
/* The image pixels the mesh can cover: box = {x0, y0, x1, y1}, pixels
 * x0 <= x < x1, y0 <= y < y1 (the mesh's bounding box clipped to the
 * image); all 0 when the mesh misses the image. csm_corr_to_canon is 0
 * outside it. */
void csm_corr_image_bounds(const csm_corr *c, double box[4]);

/* ---- External alignments (src/face/matfile.c) ---------------------------- */

/* Reads a float64 or float32 N x 3 matrix variable (PRNet `vertices`) from a
 * MATLAB v5 .mat file as float32 (malloc'ed). The path must be a regular
 * file (a folder or FIFO is CSM_EIO before matio opens it); a NaN or
 * infinite value is CSM_EINPUT "<file>: <var> row k is not finite" (k
 * 0-based), and a matrix over the memory limit (csm_memory_check) CSM_EINPUT
 * before matio reads it. */
csm_status csm_mat_read_matrix(const char *path, const char *var, float **data, int *rows,
                               int *cols);
/* The same in double precision, as stored (float32 files widened): for the
 * reference mode, whose patch corners are floor()s of these positions. */
csm_status csm_mat_read_matrix_f64(const char *path, const char *var, double **data, int *rows,
                                   int *cols);
/* Reads a T x 3 triangle variable, returned 0-based (the base is detected:
 * MATLAB files are 1-based). */
csm_status csm_mat_read_triangles(const char *path, const char *var, int32_t **tri, int *n);

/* ---- Canonical face (src/face/canon.c, canon_build.c, delaunay.c) -------- */

/* The canonical frontal face: 468 FaceMesh points in a canon_w x canon_h
 * pixel frame (x right, y down, z depth in pixels, larger = farther, mean
 * 0), left-right symmetric about x = canon_w / 2, a triangulation covering
 * the whole face (eyes and mouth included) and the left-right mirror map. */
typedef struct csm_canon csm_canon;

/* Loads data/canonical/facemesh_canonical.json (docs/faces.md). */
csm_status csm_canon_load(const char *path, csm_canon **out);
/* The installed canonical face: canonical/facemesh_canonical.json in
 * csm_data_dir() (csm/core.h: csm_set_data_dirs, else $CSM_DATA_DIR, else
 * the source tree's data/). */
csm_status csm_canon_default(csm_canon **out);
void csm_canon_free(csm_canon *c);

int csm_canon_width(const csm_canon *c);
int csm_canon_height(const csm_canon *c);
/* 468 x 3 floats. */
const float *csm_canon_vertices(const csm_canon *c);
int csm_canon_num_triangles(const csm_canon *c);
/* t x 3, 0-based. */
const int32_t *csm_canon_triangles(const csm_canon *c);
/* 468 ints: mirror[i] is i's left-right partner (an involution; midline
 * points are their own partner). */
const int *csm_canon_mirror(const csm_canon *c);
/* canon_w x canon_h bytes: 1 where a pixel centre is inside a triangle. */
const unsigned char *csm_canon_mask(const csm_canon *c);

/* Correspondence between a face's mesh in a w x h image and the canonical
 * face, rasterized at size x size (size <= 0: the canonical size; the
 * canonical points are scaled by size / canon_w). */
csm_status csm_canon_corr(const csm_canon *c, const csm_face *face, int image_w, int image_h,
                          int size, csm_corr **out);
/* The face frontalized: each canonical pixel centre visible in the image
 * reads the image bilinearly; the others are copied from `fill` when given
 * (size x size), else grey. out is size x size (csm_image_free). */
csm_status csm_canon_warp(const csm_canon *c, const csm_image *img, const csm_face *face, int size,
                          const csm_image *fill, csm_image *out);
/* The default canonical face image: the mesh Lambert-shaded from its 3D
 * triangle normals, lit from the front and above, on a plain background. */
csm_status csm_canon_render(const csm_canon *c, int size, csm_image *out);
/* A canonical face image from a photo (`--canonical PHOTO`): the photo's
 * face (with a mesh) warped into the canonical frame; parts hidden in the
 * photo come from the shaded rendering. */
csm_status csm_canon_from_photo(const csm_canon *c, const csm_image *photo, const csm_face *face,
                                int size, csm_image *out);

/* Building (tools: `csm canon-build`). From n meshes of frontal faces:
 * generalized Procrustes mean, mirror map, symmetrization, rotation to
 * frontal, scaling into size x size with `margin` (fraction of size) around
 * the face, Delaunay triangulation clipped to the face oval. */
csm_status csm_canon_build(const float (*meshes)[CSM_MESH_POINTS][3], int n, int size,
                           double margin, csm_canon **out);
/* Writes the JSON file (atomically); sources: n_sources strings recorded
 * in "sources". */
csm_status csm_canon_save(const csm_canon *c, const char *path, const char *const *sources,
                          int n_sources);

/* Bowyer-Watson Delaunay triangulation of n points (O(n^2); fine for a few
 * thousand): *tri (t x 3, malloc'ed, counter-clockwise in x-right y-up,
 * i.e. clockwise on screen) and *nt. Duplicate points are an error. */
csm_status csm_delaunay(const double *x, const double *y, int n, int32_t **tri, int *nt);

/* ---- PRNet alignments (src/face/prnet_align.c) --------------------------- */

/* The reference implementation's canonical face: PRNet's frontal mesh
 * (frontal_mesh.mat, `vertices` N x 3 in frontal.jpg pixels), rows
 * vertices[::stride] so that row k matches row k of every per-image mesh
 * subsampled the same way (the reference: stride 20, 2194 rows). The
 * frontal positions are scaled into a size x size frame: the whole frontal
 * mesh's bounding box, one scale for both axes, centred, with
 * CSM_PRNET_MARGIN x size on each side of the longer extent. Triangles: the
 * file's `triangles` for stride 1, else a Delaunay triangulation of the
 * subsampled frontal points without the triangles whose longest edge
 * exceeds 3 x the median (they bridge the outline's concave parts). */
#define CSM_PRNET_MARGIN 0.05
typedef struct csm_prnet_canon csm_prnet_canon;

csm_status csm_prnet_canon_load(const char *frontal_mesh_mat, int stride, int size,
                                csm_prnet_canon **out);
/* The same face in frontal.jpg's own pixel frame (size x size, size its
 * width): no scaling and no margin, so that maps line up pixel for pixel
 * with the reference code's, which live in that frame. */
csm_status csm_prnet_canon_load_pixels(const char *frontal_mesh_mat, int stride, int size,
                                       csm_prnet_canon **out);
void csm_prnet_canon_free(csm_prnet_canon *pc);
int csm_prnet_canon_size(const csm_prnet_canon *pc);
int csm_prnet_canon_num_vertices(const csm_prnet_canon *pc);
/* n x 2 floats, frame pixels. */
const float *csm_prnet_canon_xy(const csm_prnet_canon *pc);
int csm_prnet_canon_num_triangles(const csm_prnet_canon *pc);
/* t x 3, 0-based. */
const int32_t *csm_prnet_canon_triangles(const csm_prnet_canon *pc);
/* The frame: frame = frontal-image pixel * scale + (ox, oy). */
void csm_prnet_canon_frame(const csm_prnet_canon *pc, double *scale, double *ox, double *oy);

/* Correspondence of a PRNet mesh in a w x h image (image_xyz n x 3: x, y
 * image pixels, z PRNet's depth, larger = nearer; negated here) with the
 * canonical face, rasterized at the frame's size. n must be the canonical
 * vertex count (CSM_EINPUT otherwise; the caller names the file). */
csm_status csm_prnet_corr(const csm_prnet_canon *pc, const float *image_xyz, int n, int image_w,
                          int image_h, csm_corr **out);
/* frontal.jpg (the image the frontal mesh is in) resampled into the frame
 * (bilinear); frame pixels outside the photo are grey. out: size x size. */
csm_status csm_prnet_canon_background(const csm_prnet_canon *pc, const csm_image *frontal,
                                      csm_image *out);
/* The face frontalized: each canonical pixel centre visible in img (corr
 * from csm_prnet_corr with this pc) reads img bilinearly; the others are
 * copied from `fill` (size x size, e.g. csm_prnet_canon_background) when
 * given, else grey. out is size x size (csm_image_free). */
csm_status csm_prnet_warp(const csm_prnet_canon *pc, const csm_image *img, const csm_corr *corr,
                          const csm_image *fill, csm_image *out);

#ifdef __cplusplus
}
#endif
#endif
