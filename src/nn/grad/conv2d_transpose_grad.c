/* Conv2DTranspose backward with respect to x (the filter is a constant).
 *
 * The forward sends x[b,ih,iw,c] * f[c,i,j,o] to output (ih*sh - pt + i*dh,
 * iw*sw - pl + j*dw), so dx[b,ih,iw,c] = sum over the taps (i, j) that land
 * inside the output of dpre[b, oy, ox, :] . f[c,i,j,:]: a plain correlation
 * of dout with the filter, i.e. im2col on dout (the window of input pixel
 * (ih, iw) starts at (ih*sh - pt, iw*sw - pl), dilated by dh, dw) and a GEMM
 * with f^T: dcol[rows, KH*KW*Co] x f^T[KH*KW*Co, Ci], a block of input rows
 * at a time. The fused bias/activation is undone by csm_grad_fused_dpre. */
#include <stdlib.h>
#include <string.h>

#include "../ops/gemm.h"
#include "backward.h"

enum { DCOL_FLOATS = 1 << 21 }; /* patch block target: 8 MB */

csm_status csm_backward_conv2d_transpose(const csm_backward_args *a) {
  const csm_node *n = a->node;
  const csm_attrs *at = &n->a;
  if (a->k != 0)
    return csm_fail(CSM_EUNSUPPORTED,
                    "Conv2DTranspose backward only differentiates the input, not operand %d", a->k);
  const csm_tensor *x = &a->in[0], *f = &a->in[1];
  if (x->shape.rank != 4 || f->shape.rank != 4 || a->dout->shape.rank != 4)
    return csm_fail(CSM_EINPUT, "Conv2DTranspose backward needs NHWC tensors");
  const int64_t N = x->shape.d[0], H = x->shape.d[1], W = x->shape.d[2], CI = x->shape.d[3];
  const int64_t KH = f->shape.d[1], KW = f->shape.d[2], CO = f->shape.d[3];
  const int64_t OH = a->dout->shape.d[1], OW = a->dout->shape.d[2];
  const int explicit_pads = at->padding == CSM_PAD_EXPLICIT;
  const int64_t pt = explicit_pads ? at->pads[0] : 0, pl = explicit_pads ? at->pads[2] : 0;
  const int64_t sh = at->stride[0], sw = at->stride[1], dh = at->dilation[0], dw = at->dilation[1];
  if (f->shape.d[0] != CI || a->dout->shape.d[3] != CO || sh < 1 || sw < 1 || dh < 1 || dw < 1)
    return csm_fail(CSM_EINPUT, "Conv2DTranspose backward: inconsistent shapes or attributes");
  const int64_t K2 = KH * KW * CO;
  if (N <= 0 || H <= 0 || W <= 0 || CI <= 0 || K2 <= 0) return CSM_OK;
  float *dpre;
  csm_status st = csm_grad_fused_dpre(a, CO, &dpre);
  if (st) return st;
  int64_t rb = DCOL_FLOATS / (W * K2);
  if (rb < 1) rb = 1;
  if (rb > H) rb = H;
  float *packed = malloc(csm_gemm_packed_floats(K2, CI) * sizeof(float));
  float *dcol = malloc((size_t)(rb * W * K2) * sizeof(float));
  float *dxb = malloc((size_t)(rb * W * CI) * sizeof(float));
  if (!packed || !dcol || !dxb) {
    free(packed);
    free(dcol);
    free(dxb);
    if (dpre != a->dout->data) free(dpre);
    return csm_fail(CSM_ENOMEM, "out of memory for the Conv2DTranspose backward pass");
  }
  /* B = f^T: f is [Ci, K2] row-major, i.e. a [n = Ci, k = K2] matrix stored transposed. */
  csm_gemm_pack_b(f->data, K2, 1, K2, CI, packed);
  float *dx = a->din->data;
  for (int64_t b = 0; b < N; b++) {
    const float *gb = dpre + b * OH * OW * CO;
    for (int64_t r0 = 0; r0 < H; r0 += rb) {
      const int64_t r1 = H - r0 < rb ? H : r0 + rb, rows = (r1 - r0) * W;
#pragma omp parallel for schedule(static) if (rows * K2 > 32768)
      for (int64_t r = 0; r < rows; r++) {
        const int64_t ih = r0 + r / W, iw = r % W;
        float *p = dcol + r * K2;
        for (int64_t i = 0; i < KH; i++) {
          const int64_t oy = ih * sh - pt + i * dh;
          for (int64_t j = 0; j < KW; j++) {
            const int64_t ox = iw * sw - pl + j * dw;
            float *d = p + (i * KW + j) * CO;
            if (oy < 0 || oy >= OH || ox < 0 || ox >= OW)
              memset(d, 0, (size_t)CO * sizeof(float));
            else
              memcpy(d, gb + (oy * OW + ox) * CO, (size_t)CO * sizeof(float));
          }
        }
      }
      csm_gemm(rows, CI, K2, dcol, K2, packed, dxb, CI, NULL);
      float *d = dx + ((b * H + r0) * W) * CI;
      const int64_t cnt = rows * CI;
#pragma omp parallel for schedule(static) if (cnt > 65536)
      for (int64_t i = 0; i < cnt; i++)
        d[i] += dxb[i];
    }
  }
  free(packed);
  free(dcol);
  free(dxb);
  if (dpre != a->dout->data) free(dpre);
  return CSM_OK;
}
