/* The canonical face's representation, shared by canon.c (load, save, use)
 * and canon_build.c (derivation from meshes). */
#ifndef CSM_FACE_CANON_INTERNAL_H
#define CSM_FACE_CANON_INTERNAL_H

#include "csm/face.h"

struct csm_canon {
  int w, h;
  float v[CSM_MESH_POINTS][3];
  int mirror[CSM_MESH_POINTS];
  int nt;
  int32_t *tri;
  unsigned char *mask; /* w x h */
};

/* Allocates and fills c->mask from c->v and c->tri. */
csm_status csm_canon_make_mask(csm_canon *c);

/* FaceMesh contours (MediaPipe's face_mesh connections), closed polygons in
 * order: the face oval, the lips' outer and inner edges, the eyes. */
extern const int csm_canon_oval[36];
extern const int csm_canon_lips_outer[20];
extern const int csm_canon_lips_inner[20];
extern const int csm_canon_right_eye[16];
extern const int csm_canon_left_eye[16];

/* Is (x, y) inside the polygon of mesh points idx[0..n) of v? */
int csm_canon_in_polygon(const float (*v)[3], const int *idx, int n, double x, double y);

#endif
