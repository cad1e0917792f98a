/* BlazeFace: anchors, decoding, weighted NMS and roll, following the
 * decoding of @vladmandic/human 3.3.6 (src/face/blazeface.ts,
 * facemeshutil.ts), which these TF.js models were converted for. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "face/blazeface.h"

int csm_bf_anchors(int size, float *anchors) {
  /* Two feature maps: stride size/16 with 2 anchors per cell and stride
   * size/8 with 6 (human's generateAnchors; MediaPipe's SSD anchors with
   * fixed size 1 reduce to these centres). */
  const int strides[2] = {size / 16, size / 8}, per_cell[2] = {2, 6};
  int n = 0;
  for (int l = 0; l < 2; l++) {
    int s = strides[l];
    if (s <= 0) return 0;
    int grid = (size + s - 1) / s;
    for (int gy = 0; gy < grid; gy++)
      for (int gx = 0; gx < grid; gx++)
        for (int k = 0; k < per_cell[l]; k++, n++)
          if (anchors) {
            anchors[2 * n] = (float)s * ((float)gx + 0.5f);
            anchors[2 * n + 1] = (float)s * ((float)gy + 0.5f);
          }
  }
  return n;
}

void csm_bf_preprocess(const csm_image *img, int size, float *dst) {
  /* TF.js resizeBilinear without half-pixel centres: src = dst * in / out,
   * neighbours floor(src) and min(ceil(src), in - 1). Matching it exactly
   * keeps detections identical to human's, not just close. */
  const double sx = (double)img->w / size, sy = (double)img->h / size;
  for (int r = 0; r < size; r++) {
    double fy = r * sy;
    int y0 = (int)floor(fy), y1 = (int)ceil(fy);
    if (y1 > img->h - 1) y1 = img->h - 1;
    float wy = (float)(fy - y0);
    const unsigned char *row0 = img->rgb + (size_t)y0 * img->w * 3;
    const unsigned char *row1 = img->rgb + (size_t)y1 * img->w * 3;
    for (int c = 0; c < size; c++) {
      double fx = c * sx;
      int x0 = (int)floor(fx), x1 = (int)ceil(fx);
      if (x1 > img->w - 1) x1 = img->w - 1;
      float wx = (float)(fx - x0);
      float *o = dst + ((size_t)r * size + c) * 3;
      for (int ch = 0; ch < 3; ch++) {
        float tl = row0[x0 * 3 + ch], tr = row0[x1 * 3 + ch];
        float bl = row1[x0 * 3 + ch], br = row1[x1 * 3 + ch];
        float top = tl + (tr - tl) * wx, bottom = bl + (br - bl) * wx;
        o[ch] = (top + (bottom - top) * wy) / 127.5f - 1.0f;
      }
    }
  }
}

int csm_bf_decode(const float *raw, const float *anchors, int n, float min_score, csm_bf_det *out) {
  int kept = 0;
  for (int i = 0; i < n; i++) {
    const float *v = raw + (size_t)i * CSM_BF_VALUES;
    const float ax = anchors[2 * i], ay = anchors[2 * i + 1];
    /* Clamp the logit as MediaPipe does (score_clipping_thresh 100) so that
     * exp() cannot overflow on a wild output. */
    float logit = fminf(fmaxf(v[0], -100.0f), 100.0f);
    float score = 1.0f / (1.0f + expf(-logit));
    if (!(score > min_score)) continue; /* strict, as human; also drops NaN */
    csm_bf_det *d = &out[kept++];
    /* Offsets and sizes are in input pixels, relative to the anchor centre. */
    float cx = v[1] + ax, cy = v[2] + ay, hw = 0.5f * v[3], hh = 0.5f * v[4];
    d->box[0] = cx - hw;
    d->box[1] = cy - hh;
    d->box[2] = cx + hw;
    d->box[3] = cy + hh;
    for (int k = 0; k < CSM_KP_COUNT; k++) {
      d->kp[k][0] = v[5 + 2 * k] + ax;
      d->kp[k][1] = v[6 + 2 * k] + ay;
    }
    d->score = score;
  }
  return kept;
}

float csm_bf_iou(const float a[4], const float b[4]) {
  float iw = fminf(a[2], b[2]) - fmaxf(a[0], b[0]);
  float ih = fminf(a[3], b[3]) - fmaxf(a[1], b[1]);
  if (iw <= 0 || ih <= 0) return 0;
  float inter = iw * ih;
  float ua = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
  return ua > 0 ? inter / ua : 0;
}

static int by_score_desc(const void *pa, const void *pb) {
  const csm_bf_det *a = pa, *b = pb;
  return (a->score < b->score) - (a->score > b->score);
}

int csm_bf_weighted_nms(csm_bf_det *d, int n, float iou, int max_out) {
  return csm_bf_nms(d, n, iou, fmaxf(iou, CSM_BF_AVERAGE_IOU), max_out);
}

int csm_bf_nms(csm_bf_det *d, int n, float iou, float avg_iou, int max_out) {
  /* Weighted rather than hard NMS (MediaPipe's choice for BlazeFace): the
   * anchors firing on one face each carry an estimate, and averaging them
   * steadies the box and keypoints. Only near-duplicates of the best box
   * are averaged, though: with MediaPipe's rule (everything above the
   * suppression overlap) boxes framing the face at other scales drag it
   * out, ~10% larger than the best anchor's on the front model (box IoU
   * down to 0.75 against human's hard NMS; 0.93 with this rule). */
  qsort(d, (size_t)n, sizeof *d, by_score_desc);
  int kept = 0, remaining = n;
  while (remaining > 0 && kept < max_out) {
    /* d[kept .. kept+remaining) is sorted; its first is the best left. */
    csm_bf_det top = d[kept];
    double wsum = 0, box[4] = {0}, kp[CSM_KP_COUNT][2] = {{0}};
    int rest = 0;
    for (int i = kept; i < kept + remaining; i++) {
      const csm_bf_det c = d[i];
      float o = i == kept ? 1.0f : csm_bf_iou(top.box, c.box);
      if (o > avg_iou || i == kept) {
        double w = c.score;
        wsum += w;
        for (int j = 0; j < 4; j++)
          box[j] += w * c.box[j];
        for (int k = 0; k < CSM_KP_COUNT; k++)
          for (int j = 0; j < 2; j++)
            kp[k][j] += w * c.kp[k][j];
      } else if (!(o > iou)) {
        /* Survivor: compact it behind the slot of the merged detection,
         * keeping the order (still sorted by score). */
        d[kept + 1 + rest++] = c;
      }
    }
    for (int j = 0; j < 4; j++)
      top.box[j] = (float)(box[j] / wsum);
    for (int k = 0; k < CSM_KP_COUNT; k++)
      for (int j = 0; j < 2; j++)
        top.kp[k][j] = (float)(kp[k][j] / wsum);
    d[kept++] = top;
    remaining = rest;
  }
  return kept;
}

float csm_bf_roll_deg(const float right_eye[2], const float left_eye[2]) {
  return (float)(atan2((double)left_eye[1] - right_eye[1], (double)left_eye[0] - right_eye[0]) *
                 (180.0 / M_PI));
}

/* The raw n x 17 output. The converted models (PINTO's, as used by human)
 * give scores and regressors per feature map as four outputs ([1,512,1],
 * [1,512,16], [1,384,1], [1,384,16]); human concatenates them as
 * [scores | regressors], the larger map (stride size/16) first, which is
 * also the anchor order. A single [1,n,17] output is taken as is. */
static csm_status gather_raw(const csm_model *m, const csm_tensor *out, int n_out, int na,
                             float *raw) {
  for (int i = 0; i < n_out; i++)
    if (out[i].dtype == CSM_F32 && out[i].shape.rank >= 1 &&
        out[i].shape.d[out[i].shape.rank - 1] == CSM_BF_VALUES &&
        csm_tensor_numel(&out[i]) == (size_t)na * CSM_BF_VALUES) {
      memcpy(raw, out[i].data, (size_t)na * CSM_BF_VALUES * sizeof(float));
      return CSM_OK;
    }
  /* Pairs (scores, regressors) with the same row count, larger first. */
  int row = 0, prev = INT_MAX;
  while (row < na) {
    int best = -1, rows = 0;
    for (int i = 0; i < n_out; i++) {
      const csm_shape *s = &out[i].shape;
      int r = (int)(csm_tensor_numel(&out[i]) / (s->rank ? (size_t)s->d[s->rank - 1] : 1));
      if (out[i].dtype == CSM_F32 && s->rank >= 2 && s->d[s->rank - 1] == 1 && r < prev && r > rows)
        best = i, rows = r;
    }
    int reg = -1;
    for (int i = 0; best >= 0 && i < n_out; i++) {
      const csm_shape *s = &out[i].shape;
      if (out[i].dtype == CSM_F32 && s->rank >= 2 && s->d[s->rank - 1] == CSM_BF_VALUES - 1 &&
          csm_tensor_numel(&out[i]) == (size_t)rows * (CSM_BF_VALUES - 1))
        reg = i;
    }
    if (best < 0 || reg < 0 || row + rows > na) break;
    const float *sc = out[best].data, *rg = out[reg].data;
    for (int r = 0; r < rows; r++) {
      float *dst = raw + (size_t)(row + r) * CSM_BF_VALUES;
      dst[0] = sc[r];
      memcpy(dst + 1, rg + (size_t)r * (CSM_BF_VALUES - 1), (CSM_BF_VALUES - 1) * sizeof(float));
    }
    row += rows;
    prev = rows;
  }
  if (row != na)
    return csm_fail(CSM_EUNSUPPORTED, "%s: outputs are not BlazeFace's (%d anchors expected)",
                    csm_model_path(m), na);
  return CSM_OK;
}

csm_status csm_bf_detect(csm_model *m, const csm_image *img, float min_score, float iou,
                         int hard_nms, int max_faces, csm_face **faces, int *n) {
  *faces = NULL;
  *n = 0;
  if (!img || !img->rgb || img->w <= 0 || img->h <= 0)
    return csm_fail(CSM_EUSAGE, "face detection: empty image");
  csm_shape in = csm_model_input_shape(m, 0);
  if (csm_model_num_inputs(m) != 1 || in.rank != 4 || in.d[1] != in.d[2] || in.d[3] != 3 ||
      in.d[1] < 16 || in.d[1] > 4096)
    return csm_fail(CSM_EUNSUPPORTED, "%s: not a BlazeFace model (input must be NxSxSx3)",
                    csm_model_path(m));
  const int size = (int)in.d[1];
  const int na = csm_bf_anchors(size, NULL);
  int64_t dims[4] = {1, size, size, 3};
  csm_shape shape = csm_shape_make(4, dims);
  csm_tensor input;
  csm_status st = csm_tensor_alloc(&input, CSM_F32, &shape);
  if (st) return st;
  csm_bf_preprocess(img, size, input.data);

  int n_out = csm_model_num_outputs(m);
  csm_tensor *out = csm_calloc((size_t)n_out, sizeof *out);
  float *anchors = csm_malloc_array((size_t)na * 2, sizeof(float));
  float *raw = csm_malloc_array((size_t)na * CSM_BF_VALUES, sizeof(float));
  csm_bf_det *dets = csm_malloc_array((size_t)na, sizeof *dets);
  int outputs_ok = 0;
  if (!out || !anchors || !dets || !raw) {
    st = CSM_ENOMEM;
    goto done;
  }
  st = csm_model_run(m, &input, out);
  if (st) goto done;
  outputs_ok = 1;
  if ((st = gather_raw(m, out, n_out, na, raw))) goto done;
  csm_bf_anchors(size, anchors);
  int nd = csm_bf_decode(raw, anchors, na, min_score, dets);
  nd = hard_nms ? csm_bf_nms(dets, nd, iou, 2.0f, max_faces)
                : csm_bf_weighted_nms(dets, nd, iou, max_faces);
  if (nd > 0) {
    *faces = csm_calloc((size_t)nd, sizeof **faces);
    if (!*faces) {
      st = CSM_ENOMEM;
      goto done;
    }
  }
  /* Input pixels -> image pixels: the image was stretched to the square
   * input, so x and y scale separately (as in human). */
  const float fx = (float)img->w / size, fy = (float)img->h / size;
  for (int i = 0; i < nd; i++) {
    csm_face *f = &(*faces)[i];
    const csm_bf_det *d = &dets[i];
    f->box[0] = d->box[0] * fx;
    f->box[1] = d->box[1] * fy;
    f->box[2] = (d->box[2] - d->box[0]) * fx;
    f->box[3] = (d->box[3] - d->box[1]) * fy;
    f->score = d->score;
    for (int k = 0; k < CSM_KP_COUNT; k++) {
      f->keypoints[k][0] = d->kp[k][0] * fx;
      f->keypoints[k][1] = d->kp[k][1] * fy;
    }
    f->roll_deg = csm_bf_roll_deg(f->keypoints[CSM_KP_RIGHT_EYE], f->keypoints[CSM_KP_LEFT_EYE]);
  }
  *n = nd;
done:
  if (outputs_ok)
    for (int i = 0; i < n_out; i++)
      csm_tensor_free(&out[i]);
  free(out);
  free(anchors);
  free(raw);
  free(dets);
  csm_tensor_free(&input);
  return st;
}
