/* Float vectors of 16, 8 and 4 lanes for kernels that work across channels,
 * which NHWC keeps contiguous (depthwise_conv2d.c, conv_winograd.c). GCC
 * vector extensions: AVX-512 with -march=native, narrower instructions
 * elsewhere, the same arithmetic lane by lane.
 *
 * The types are unaligned and may alias float, so VLOAD and VSTORE work on
 * any float pointer. They are macros: a function taking or returning a
 * vector would change the ABI where the machine's registers are narrower. */
#ifndef CSM_NN_OPS_VEC_H
#define CSM_NN_OPS_VEC_H

#include <stdint.h>

typedef float v16 __attribute__((vector_size(64), aligned(4), may_alias));
typedef float v8 __attribute__((vector_size(32), aligned(4), may_alias));
typedef float v4 __attribute__((vector_size(16), aligned(4), may_alias));
typedef int32_t v16i __attribute__((vector_size(64), aligned(4), may_alias));

#define VLOAD(T, p) (*(const T *)(const void *)(p))
#define VSTORE(T, p, v) (*(T *)(void *)(p) = (v))

/* Lane by lane mask ? a : b for v16, the mask from a comparison of v16s
 * (-1 or 0 per lane). */
#define VSELECT16(mask, a, b) ((v16)(((v16i)(a) & (mask)) | ((v16i)(b) & ~(mask))))

#endif
