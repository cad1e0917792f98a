/* Bowyer-Watson Delaunay triangulation (moved from tests/face/test_corr.c).
 *
 * O(n^2): every insertion scans all triangles. The canonical face has 468
 * points and the PRNet faces 2194, where this takes milliseconds; a
 * point-location structure would only pay off far beyond that. */
#include <math.h>
#include <stdlib.h>

#include "csm/core.h"
#include "csm/face.h"

typedef struct dtri {
  int v[3];
  double cx, cy, r2;
} dtri;

static void circum(const double *px, const double *py, dtri *t) {
  double ax = px[t->v[0]], ay = py[t->v[0]], bx = px[t->v[1]], by = py[t->v[1]];
  double cx = px[t->v[2]], cy = py[t->v[2]];
  double d = 2 * (ax * (by - cy) + bx * (cy - ay) + cx * (ay - by));
  /* Collinear triples get a huge circle: they are replaced as soon as any
   * point lands near them, which is what Bowyer-Watson needs. */
  if (fabs(d) < 1e-300) d = 1e-300;
  double a2 = ax * ax + ay * ay, b2 = bx * bx + by * by, c2 = cx * cx + cy * cy;
  t->cx = (a2 * (by - cy) + b2 * (cy - ay) + c2 * (ay - by)) / d;
  t->cy = (a2 * (cx - bx) + b2 * (ax - cx) + c2 * (bx - ax)) / d;
  t->r2 = (ax - t->cx) * (ax - t->cx) + (ay - t->cy) * (ay - t->cy);
}

csm_status csm_delaunay(const double *x, const double *y, int n, int32_t **tri, int *nt_out) {
  if (!x || !y || !tri || !nt_out || n < 3 || n > 1000000)
    return csm_fail(CSM_EUSAGE, "csm_delaunay: need 3..1000000 points");
  *tri = NULL;
  *nt_out = 0;
  for (int i = 0; i < n; i++)
    if (!isfinite(x[i]) || !isfinite(y[i]))
      return csm_fail(CSM_EINPUT, "csm_delaunay: point %d is not finite", i);
  for (int i = 0; i < n; i++)
    for (int j = i + 1; j < n; j++)
      if (x[i] == x[j] && y[i] == y[j])
        return csm_fail(CSM_EINPUT, "csm_delaunay: points %d and %d coincide", i, j);
  /* Each insertion adds 2 triangles net; the cavity boundary has at most
   * as many edges as there are triangles. */
  size_t cap = 2 * (size_t)n + 16;
  double *px = csm_malloc_array((size_t)n + 3, sizeof(double));
  double *py = csm_malloc_array((size_t)n + 3, sizeof(double));
  dtri *t = csm_malloc_array(cap, sizeof(dtri));
  int(*edges)[2] = csm_malloc_array(3 * cap, sizeof(int[2]));
  int32_t *out = NULL;
  csm_status st = CSM_OK;
  if (!px || !py || !t || !edges) {
    st = CSM_ENOMEM;
    goto done;
  }
  double mnx = INFINITY, mxx = -INFINITY, mny = INFINITY, mxy = -INFINITY;
  for (int i = 0; i < n; i++) {
    px[i] = x[i], py[i] = y[i];
    mnx = fmin(mnx, x[i]), mxx = fmax(mxx, x[i]), mny = fmin(mny, y[i]), mxy = fmax(mxy, y[i]);
  }
  /* A super-triangle far enough out that its vertices never fall inside a
   * real triangle's circumcircle along the hull (a few hull triangles could
   * otherwise be missing). */
  double d = fmax(fmax(mxx - mnx, mxy - mny), 1e-9) * 1e4, mx = (mnx + mxx) / 2,
         my = (mny + mxy) / 2;
  px[n] = mx - d, py[n] = my - d, px[n + 1] = mx + d, py[n + 1] = my - d;
  px[n + 2] = mx, py[n + 2] = my + d;
  size_t nt = 1;
  t[0] = (dtri){{n, n + 1, n + 2}, 0, 0, 0};
  circum(px, py, &t[0]);
  for (int i = 0; i < n; i++) {
    size_t ne = 0;
    for (size_t k = 0; k < nt;) {
      double dx = px[i] - t[k].cx, dy = py[i] - t[k].cy;
      if (dx * dx + dy * dy < t[k].r2) {
        /* Edges shared by two removed triangles are interior to the cavity:
         * they cancel; the rest is its boundary. */
        for (int e = 0; e < 3; e++) {
          int a = t[k].v[e], b = t[k].v[(e + 1) % 3];
          size_t q = 0;
          while (q < ne && !(edges[q][0] == b && edges[q][1] == a))
            q++;
          if (q < ne) {
            ne--;
            edges[q][0] = edges[ne][0], edges[q][1] = edges[ne][1];
          } else {
            edges[ne][0] = a, edges[ne][1] = b, ne++;
          }
        }
        t[k] = t[--nt];
      } else {
        k++;
      }
    }
    if (nt + ne > cap) {
      st = csm_fail(CSM_EINTERNAL, "csm_delaunay: cavity larger than expected");
      goto done;
    }
    for (size_t e = 0; e < ne; e++) {
      t[nt] = (dtri){{edges[e][0], edges[e][1], i}, 0, 0, 0};
      circum(px, py, &t[nt++]);
    }
  }
  out = csm_malloc_array(nt ? nt * 3 : 3, sizeof(int32_t));
  if (!out) {
    st = CSM_ENOMEM;
    goto done;
  }
  size_t m = 0;
  for (size_t k = 0; k < nt; k++) {
    const int *v = t[k].v;
    if (v[0] >= n || v[1] >= n || v[2] >= n) continue;
    double area = (px[v[1]] - px[v[0]]) * (py[v[2]] - py[v[0]]) -
                  (py[v[1]] - py[v[0]]) * (px[v[2]] - px[v[0]]);
    if (area == 0) continue; /* collinear hull points */
    /* One orientation for all: counter-clockwise with y up. */
    int b = area > 0 ? v[1] : v[2], c = area > 0 ? v[2] : v[1];
    out[3 * m] = v[0], out[3 * m + 1] = b, out[3 * m + 2] = c;
    m++;
  }
  *tri = out;
  *nt_out = (int)m;
  out = NULL;
done:
  free(out);
  free(px);
  free(py);
  free(t);
  free(edges);
  return st;
}
