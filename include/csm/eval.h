/* csm eval: the paper's faithfulness metrics (DESIGN.md step 7, Eq. 11-13). */
#ifndef CSM_EVAL_H
#define CSM_EVAL_H

#include "csm/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Over n images, with y[i] the confidence on the original image and o[i]
 * on its explanation image, both for the class predicted on the original:
 * Average Drop % (Eq. 11) = 100/n * sum max(0, y - o) / y;
 * % Increase in confidence (Eq. 12) = 100/n * #{o > y}.
 * y must be positive and both finite (CSM_EINPUT otherwise). */
csm_status csm_eval_average_drop(const float *y, const float *o, int n, double *percent);
csm_status csm_eval_increase(const float *y, const float *o, int n, double *percent);

/* Win % (Eq. 13) of m methods over n images: o is n x m (row i: every
 * method's confidence on image i's explanation image); win[j] = 100/n *
 * #{images where method j gives the lowest o}. A tie for the lowest is a
 * win for every tied method, so the percentages can sum to more than 100. */
csm_status csm_eval_win(const float *o, int n, int m, double *win);

#ifdef __cplusplus
}
#endif
#endif
