/* Derivation of the canonical face from meshes of frontal faces.
 *
 * Generalized Procrustes analysis (rotation and translation per mesh, all
 * scaled to unit RMS size) gives a mean shape; the mirror map pairs each
 * point with the one nearest its reflection; averaging each point with its
 * partner's reflection makes the shape exactly symmetric; a rotation about
 * x removes the remaining pitch (as csm_face_pose measures it), and the
 * shape is scaled into the raster. The triangulation is the 2D Delaunay of
 * the frontal points, clipped to the face oval. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "csm/core.h"
#include "face/canon_internal.h"

#define NP CSM_MESH_POINTS
#define DEG (M_PI / 180.0)

typedef double shape[NP][3];

/* Centres s on its centroid and scales it to unit RMS radius. */
static void normalize(shape s) {
  double m[3] = {0, 0, 0}, ss = 0;
  for (int i = 0; i < NP; i++)
    for (int k = 0; k < 3; k++)
      m[k] += s[i][k] / NP;
  for (int i = 0; i < NP; i++)
    for (int k = 0; k < 3; k++)
      s[i][k] -= m[k], ss += s[i][k] * s[i][k];
  double r = sqrt(ss / NP);
  if (r > 0)
    for (int i = 0; i < NP; i++)
      for (int k = 0; k < 3; k++)
        s[i][k] /= r;
}

static void rotate(shape s, double R[3][3]) {
  for (int i = 0; i < NP; i++) {
    double p[3];
    for (int r = 0; r < 3; r++)
      p[r] = R[r][0] * s[i][0] + R[r][1] * s[i][1] + R[r][2] * s[i][2];
    memcpy(s[i], p, sizeof p);
  }
}

/* Largest eigenvector of a symmetric 4x4 matrix (cyclic Jacobi). */
static void top_eigvec(double A[4][4], double out[4]) {
  double V[4][4] = {{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}, {0, 0, 0, 1}};
  for (int sweep = 0; sweep < 50; sweep++) {
    double off = 0;
    for (int p = 0; p < 4; p++)
      for (int q = p + 1; q < 4; q++)
        off += A[p][q] * A[p][q];
    if (off < 1e-30) break;
    for (int p = 0; p < 4; p++)
      for (int q = p + 1; q < 4; q++) {
        if (fabs(A[p][q]) < 1e-300) continue;
        double th = (A[q][q] - A[p][p]) / (2 * A[p][q]);
        double t = (th >= 0 ? 1 : -1) / (fabs(th) + sqrt(th * th + 1));
        double c = 1 / sqrt(t * t + 1), s = t * c;
        for (int k = 0; k < 4; k++) {
          double akp = A[k][p], akq = A[k][q];
          A[k][p] = c * akp - s * akq, A[k][q] = s * akp + c * akq;
        }
        for (int k = 0; k < 4; k++) {
          double apk = A[p][k], aqk = A[q][k];
          A[p][k] = c * apk - s * aqk, A[q][k] = s * apk + c * aqk;
        }
        for (int k = 0; k < 4; k++) {
          double vkp = V[k][p], vkq = V[k][q];
          V[k][p] = c * vkp - s * vkq, V[k][q] = s * vkp + c * vkq;
        }
      }
  }
  int best = 0;
  for (int k = 1; k < 4; k++)
    if (A[k][k] > A[best][best]) best = k;
  for (int k = 0; k < 4; k++)
    out[k] = V[k][best];
}

/* The rotation R minimizing sum |R a_i - b_i|^2 (Horn's quaternion method:
 * a proper rotation, never a reflection). Both centred. */
static void best_rotation(const shape a, const shape b, double R[3][3]) {
  double S[3][3] = {{0}};
  for (int i = 0; i < NP; i++)
    for (int r = 0; r < 3; r++)
      for (int c = 0; c < 3; c++)
        S[r][c] += a[i][r] * b[i][c];
  double N[4][4] = {
      {S[0][0] + S[1][1] + S[2][2], S[1][2] - S[2][1], S[2][0] - S[0][2], S[0][1] - S[1][0]},
      {S[1][2] - S[2][1], S[0][0] - S[1][1] - S[2][2], S[0][1] + S[1][0], S[2][0] + S[0][2]},
      {S[2][0] - S[0][2], S[0][1] + S[1][0], -S[0][0] + S[1][1] - S[2][2], S[1][2] + S[2][1]},
      {S[0][1] - S[1][0], S[2][0] + S[0][2], S[1][2] + S[2][1], -S[0][0] - S[1][1] + S[2][2]}};
  double q[4];
  top_eigvec(N, q);
  double w = q[0], x = q[1], y = q[2], z = q[3];
  double R0[3][3] = {{w * w + x * x - y * y - z * z, 2 * (x * y - w * z), 2 * (x * z + w * y)},
                     {2 * (x * y + w * z), w * w - x * x + y * y - z * z, 2 * (y * z - w * x)},
                     {2 * (x * z - w * y), 2 * (y * z + w * x), w * w - x * x - y * y + z * z}};
  memcpy(R, R0, sizeof R0);
}

static void pose_of(const shape s, double *yaw, double *pitch, double *roll) {
  float m[NP][3];
  for (int i = 0; i < NP; i++)
    for (int k = 0; k < 3; k++)
      m[i][k] = (float)s[i][k];
  float y, p, r;
  csm_face_pose((const float(*)[3])m, &y, &p, &r);
  *yaw = y, *pitch = p, *roll = r;
}

/* Rotates s by R^T with R = Rz(roll) Ry(-yaw) Rx(-pitch) (pose.c), so the
 * face's own axes become the camera's. */
static void unpose(shape s, double yaw, double pitch, double roll) {
  double a = -pitch * DEG, b = -yaw * DEG, c = roll * DEG;
  double Rx[3][3] = {{1, 0, 0}, {0, cos(a), -sin(a)}, {0, sin(a), cos(a)}};
  double Ry[3][3] = {{cos(b), 0, sin(b)}, {0, 1, 0}, {-sin(b), 0, cos(b)}};
  double Rz[3][3] = {{cos(c), -sin(c), 0}, {sin(c), cos(c), 0}, {0, 0, 1}};
  double T[3][3] = {{0}}, R[3][3] = {{0}}, Rt[3][3];
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++)
      for (int k = 0; k < 3; k++)
        T[i][j] += Ry[i][k] * Rx[k][j];
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++)
      for (int k = 0; k < 3; k++)
        R[i][j] += Rz[i][k] * T[k][j];
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++)
      Rt[i][j] = R[j][i];
  rotate(s, Rt);
}

typedef struct cand {
  double d;
  int i, j;
} cand;

static int cmp_cand(const void *a, const void *b) {
  const cand *x = a, *y = b;
  if (x->d != y->d) return x->d < y->d ? -1 : 1;
  return x->i != y->i ? x->i - y->i : x->j - y->j; /* deterministic ties */
}

/* Mirror map of s about the plane x = 0: greedy matching of the pairs (i,
 * j), i <= j, by the symmetric cost |refl(p_i) - p_j| + |refl(p_j) - p_i|,
 * so the result is an involution; i == j is a midline point. Only pairs
 * closer than `radius` are candidates (the rest could never win). */
static csm_status mirror_map(const shape s, double radius, int mirror[NP]) {
  size_t cap = (size_t)NP * (NP + 1) / 2, nc = 0;
  cand *cs = malloc(sizeof(cand) * cap);
  if (!cs) return CSM_ENOMEM;
  for (int i = 0; i < NP; i++)
    for (int j = i; j < NP; j++) {
      double d = 2 * sqrt((s[i][0] + s[j][0]) * (s[i][0] + s[j][0]) +
                          (s[i][1] - s[j][1]) * (s[i][1] - s[j][1]) +
                          (s[i][2] - s[j][2]) * (s[i][2] - s[j][2]));
      if (d < radius) cs[nc++] = (cand){d, i, j};
    }
  qsort(cs, nc, sizeof(cand), cmp_cand);
  for (int i = 0; i < NP; i++)
    mirror[i] = -1;
  for (size_t k = 0; k < nc; k++)
    if (mirror[cs[k].i] < 0 && mirror[cs[k].j] < 0)
      mirror[cs[k].i] = cs[k].j, mirror[cs[k].j] = cs[k].i;
  free(cs);
  for (int i = 0; i < NP; i++)
    if (mirror[i] < 0) mirror[i] = i; /* no partner near: treat as midline */
  return CSM_OK;
}

/* Rotates s so that the mean direction of its pairs' chords (p_left -
 * p_right) is +x, then centres the plane of the midpoints at x = 0. */
static void fit_plane(shape s, const int mirror[NP]) {
  double n[3] = {0, 0, 0};
  for (int i = 0; i < NP; i++) {
    int j = mirror[i];
    if (j <= i) continue;
    double sg = s[j][0] > s[i][0] ? 1 : -1;
    for (int k = 0; k < 3; k++)
      n[k] += sg * (s[j][k] - s[i][k]);
  }
  double len = sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]);
  if (!(len > 0)) return;
  for (int k = 0; k < 3; k++)
    n[k] /= len;
  /* Rodrigues: the rotation taking n to x about n x e_x. */
  double ax[3] = {0, n[2], -n[1]}, sn = sqrt(ax[1] * ax[1] + ax[2] * ax[2]), cs = n[0];
  if (sn > 1e-15) {
    for (int k = 0; k < 3; k++)
      ax[k] /= sn;
    double K[3][3] = {{0, -ax[2], ax[1]}, {ax[2], 0, -ax[0]}, {-ax[1], ax[0], 0}}, R[3][3];
    for (int r = 0; r < 3; r++)
      for (int c = 0; c < 3; c++) {
        double k2 = 0;
        for (int k = 0; k < 3; k++)
          k2 += K[r][k] * K[k][c];
        R[r][c] = (r == c) + sn * K[r][c] + (1 - cs) * k2;
      }
    rotate(s, R);
  }
  double mid = 0;
  for (int i = 0; i < NP; i++)
    mid += 0.5 * (s[i][0] + s[mirror[i]][0]) / NP;
  for (int i = 0; i < NP; i++)
    s[i][0] -= mid;
}

static void symmetrize(shape s, const int mirror[NP]) {
  for (int i = 0; i < NP; i++) {
    int j = mirror[i];
    if (j < i) continue;
    if (j == i) {
      s[i][0] = 0;
      continue;
    }
    double x = 0.5 * (s[i][0] - s[j][0]), y = 0.5 * (s[i][1] + s[j][1]),
           z = 0.5 * (s[i][2] + s[j][2]);
    s[i][0] = x, s[j][0] = -x, s[i][1] = s[j][1] = y, s[i][2] = s[j][2] = z;
  }
}

/* Procrustes mean of n meshes, unit RMS size, centred. */
static csm_status procrustes_mean(const float (*meshes)[NP][3], int n, shape mean) {
  shape *all = malloc(sizeof(shape) * (size_t)n);
  if (!all) return CSM_ENOMEM;
  for (int m = 0; m < n; m++) {
    for (int i = 0; i < NP; i++)
      for (int k = 0; k < 3; k++)
        all[m][i][k] = meshes[m][i][k];
    normalize(all[m]);
  }
  memcpy(mean, all[0], sizeof(shape));
  for (int it = 0; it < 100; it++) {
    shape next;
    memset(next, 0, sizeof next);
    for (int m = 0; m < n; m++) {
      double R[3][3];
      best_rotation((const double(*)[3])all[m], (const double(*)[3])mean, R);
      rotate(all[m], R);
      for (int i = 0; i < NP; i++)
        for (int k = 0; k < 3; k++)
          next[i][k] += all[m][i][k] / n;
    }
    normalize(next);
    double change = 0;
    for (int i = 0; i < NP; i++)
      for (int k = 0; k < 3; k++)
        change = fmax(change, fabs(next[i][k] - mean[i][k]));
    memcpy(mean, next, sizeof(shape));
    if (change < 1e-12) break;
  }
  free(all);
  return CSM_OK;
}

csm_status csm_canon_build(const float (*meshes)[NP][3], int n, int size, double margin,
                           csm_canon **out) {
  if (!meshes || !out || n < 1 || size < 16 || size > 4096 || !(margin >= 0 && margin < 0.4))
    return csm_fail(CSM_EUSAGE, "csm_canon_build: need meshes, size 16..4096, margin 0..0.4");
  *out = NULL;
  for (int m = 0; m < n; m++)
    for (int i = 0; i < NP; i++)
      for (int k = 0; k < 3; k++)
        if (!isfinite(meshes[m][i][k]))
          return csm_fail(CSM_EINPUT, "csm_canon_build: mesh %d is not finite", m);
  shape *s = malloc(sizeof(shape));
  csm_canon *c = calloc(1, sizeof *c);
  double *px = malloc(sizeof(double) * NP), *py = malloc(sizeof(double) * NP);
  int32_t *tri = NULL;
  csm_status st = s && c && px && py ? procrustes_mean(meshes, n, *s) : CSM_ENOMEM;
  if (st) goto fail;
  double yaw, pitch, roll;
  pose_of((const double(*)[3]) * s, &yaw, &pitch, &roll);
  unpose(*s, yaw, pitch, roll);
  /* Two rounds: the second map is found on the shape already turned to
   * its own symmetry plane. Unit RMS size: partners lie within ~0.05. */
  for (int round = 0; round < 2; round++) {
    double xm = 0;
    for (int i = 0; i < NP; i++)
      xm += (*s)[i][0] / NP;
    for (int i = 0; i < NP; i++)
      (*s)[i][0] -= xm;
    if ((st = mirror_map((const double(*)[3]) * s, 0.5, c->mirror))) goto fail;
    fit_plane(*s, c->mirror);
  }
  symmetrize(*s, c->mirror);
  /* Rotations about x keep the symmetry; iterate since the pose's pitch is
   * only approximately a rotation angle of the whole shape. */
  for (int it = 0; it < 5; it++) {
    pose_of((const double(*)[3]) * s, &yaw, &pitch, &roll);
    unpose(*s, 0, pitch, 0);
  }
  double y0 = INFINITY, y1 = -INFINITY, xr = 0, zm = 0;
  for (int i = 0; i < NP; i++) {
    y0 = fmin(y0, (*s)[i][1]), y1 = fmax(y1, (*s)[i][1]), xr = fmax(xr, fabs((*s)[i][0]));
    zm += (*s)[i][2] / NP;
  }
  double k = size * (1 - 2 * margin) / fmax(2 * xr, y1 - y0), yc = 0.5 * (y0 + y1);
  c->w = c->h = size;
  for (int i = 0; i < NP; i++) {
    c->v[i][0] = (float)(0.5 * size + k * (*s)[i][0]);
    c->v[i][1] = (float)(0.5 * size + k * ((*s)[i][1] - yc));
    c->v[i][2] = (float)(k * ((*s)[i][2] - zm));
  }
  for (int i = 0; i < NP; i++) {
    int j = c->mirror[i];
    if (j == i)
      c->v[i][0] = 0.5f * size;
    else if (j > i)
      c->v[j][0] = (float)size - c->v[i][0]; /* exact partners */
  }
  for (int i = 0; i < NP; i++)
    px[i] = c->v[i][0], py[i] = c->v[i][1];
  int nt;
  if ((st = csm_delaunay(px, py, NP, &tri, &nt))) goto fail;
  /* Delaunay fills the convex hull; keep what lies inside the face oval
   * (triangles bridging a concave stretch of the outline are dropped). */
  int m = 0;
  for (int t = 0; t < nt; t++) {
    const int32_t *v = tri + 3 * t;
    double cx = (px[v[0]] + px[v[1]] + px[v[2]]) / 3, cy = (py[v[0]] + py[v[1]] + py[v[2]]) / 3;
    if (csm_canon_in_polygon((const float(*)[3])c->v, csm_canon_oval, 36, cx, cy))
      memmove(tri + 3 * m++, v, sizeof(int32_t) * 3);
  }
  c->tri = tri, c->nt = m;
  tri = NULL;
  if ((st = csm_canon_make_mask(c))) goto fail;
  *out = c;
  c = NULL;
fail:
  free(s);
  free(px);
  free(py);
  free(tri);
  csm_canon_free(c);
  return st;
}
