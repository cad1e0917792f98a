/* A model input from an image through a crop matrix: the resampling shared
 * by face crops (csm_task_preprocess) and whole aligned images. */
#include <stdlib.h>

#include "csm/task.h"

int csm_task_has_norm(const csm_task_info *info) {
  return info && (info->std[0] != 0 || info->std[1] != 0 || info->std[2] != 0);
}

/* (x - mean[c]) / std[c] on every channel c of n pixels. The same float
 * operations as csm_task_black, so a black pixel's value matches it. */
static void normalize(const csm_task_info *info, size_t n, float *dst) {
  int ch = info->channels;
  for (size_t k = 0; k < n; k++)
    for (int c = 0; c < ch; c++)
      dst[k * ch + c] = (dst[k * ch + c] - info->mean[c]) / info->std[c];
}

void csm_task_black(const csm_task_info *info, float black[3]) {
  for (int c = 0; c < 3; c++) {
    black[c] = info->offset;
    /* Gray inputs use channel 0's mean and std for their one channel. */
    int q = info->channels == 1 ? 0 : c;
    if (csm_task_has_norm(info)) black[c] = (black[c] - info->mean[q]) / info->std[q];
  }
}

csm_status csm_task_preprocess_matrix(const csm_task_info *info, const csm_image *img,
                                      const double m[6], float *dst) {
  if (!info || !img || !m || !dst)
    return csm_fail(CSM_EUSAGE, "csm_task_preprocess_matrix: NULL argument");
  int n = info->size;
  size_t npx = (size_t)n * (size_t)n;
  if (info->channels == 3) {
    csm_status st =
        csm_image_warp_affine(img, m, n, n, 3, info->offset, info->offset + info->scale, dst);
    if (!st && info->bgr)
      for (size_t k = 0; k < npx; k++) {
        float r = dst[3 * k];
        dst[3 * k] = dst[3 * k + 2], dst[3 * k + 2] = r;
      }
    if (!st && csm_task_has_norm(info)) normalize(info, npx, dst);
    return st;
  }
  /* Gray: the zoo's own weights (human's differ from the warp's ITU-R 601
   * luma in the fourth decimal), so mix RGB here. */
  float *rgb = csm_malloc_array(npx * 3, sizeof(float));
  if (!rgb) return CSM_ENOMEM;
  csm_status st = csm_image_warp_affine(img, m, n, n, 3, 0, 1, rgb);
  if (!st) {
    const float *w = info->gray_w;
    for (size_t k = 0; k < npx; k++) {
      const float *p = rgb + 3 * k;
      dst[k] = (w[0] * p[0] + w[1] * p[1] + w[2] * p[2]) * info->scale + info->offset;
    }
    if (csm_task_has_norm(info)) normalize(info, npx, dst);
  }
  free(rgb);
  return st;
}
