/* csm report: result files (.npy now; PNG, JSON, CSV, HTML later). */
#ifndef CSM_REPORT_H
#define CSM_REPORT_H

#include "csm/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Reads a little-endian float32 or int32 C-order .npy file (float64 is
 * converted to float32). Errors name the file and the fault. */
csm_status csm_npy_read(const char *path, csm_tensor *out);
/* Writes atomically (temporary file, then rename). */
csm_status csm_npy_write(const char *path, const csm_tensor *t);

#ifdef __cplusplus
}
#endif
#endif
