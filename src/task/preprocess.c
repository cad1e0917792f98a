/* A model input from an image through a crop matrix: the resampling shared
 * by face crops (csm_task_preprocess) and whole aligned images. */
#include <stdlib.h>

#include "csm/task.h"

csm_status csm_task_preprocess_matrix(const csm_task_info *info, const csm_image *img,
                                      const double m[6], float *dst) {
  if (!info || !img || !m || !dst)
    return csm_fail(CSM_EUSAGE, "csm_task_preprocess_matrix: NULL argument");
  int n = info->size;
  if (info->channels == 3) {
    csm_status st =
        csm_image_warp_affine(img, m, n, n, 3, info->offset, info->offset + info->scale, dst);
    if (!st && info->bgr)
      for (size_t k = 0; k < (size_t)n * (size_t)n; k++) {
        float r = dst[3 * k];
        dst[3 * k] = dst[3 * k + 2], dst[3 * k + 2] = r;
      }
    return st;
  }
  /* Gray: the zoo's own weights (human's differ from the warp's ITU-R 601
   * luma in the fourth decimal), so mix RGB here. */
  float *rgb = csm_malloc_array((size_t)n * (size_t)n * 3, sizeof(float));
  if (!rgb) return CSM_ENOMEM;
  csm_status st = csm_image_warp_affine(img, m, n, n, 3, 0, 1, rgb);
  if (!st) {
    const float *w = info->gray_w;
    for (size_t k = 0; k < (size_t)n * (size_t)n; k++) {
      const float *p = rgb + 3 * k;
      dst[k] = (w[0] * p[0] + w[1] * p[1] + w[2] * p[2]) * info->scale + info->offset;
    }
  }
  free(rgb);
  return st;
}
