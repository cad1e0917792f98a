/* csm report: result files: .npy, map images, the HTML report. */
#ifndef CSM_REPORT_H
#define CSM_REPORT_H

#include "csm/image.h"
#include "csm/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Reads a little-endian float32 or int32 C-order .npy file (float64 is
 * converted to float32). Errors name the file and the fault: another dtype
 * is CSM_EUNSUPPORTED naming it and the dtypes expected; data whose size
 * differs from the shape's CSM_EINPUT; a tensor over the memory limit
 * (csm_memory_check) CSM_EINPUT before it is allocated. */
csm_status csm_npy_read(const char *path, csm_tensor *out);
/* The same for float data only (model inputs): int32 is refused too. */
csm_status csm_npy_read_float(const char *path, csm_tensor *out);
/* Writes atomically (temporary file, then rename). */
csm_status csm_npy_write(const char *path, const csm_tensor *t);

/* ---- Colour maps and map images (src/report/colormap.c, map_image.c) ---- */

typedef enum csm_colormap {
  CSM_CMAP_INFERNO,  /* sequential, perceptually uniform (matplotlib's inferno) */
  CSM_CMAP_DIVERGING /* blue - white - red, for signed maps centred on 0 */
} csm_colormap;

/* t in [0, 1] (clamped; NAN reads as 0) -> 8-bit RGB. */
void csm_colormap_rgb(csm_colormap cm, double t, unsigned char rgb[3]);

typedef struct csm_map_style {
  csm_colormap cmap; /* default CSM_CMAP_DIVERGING */
  /* Value range mapped to the colour map; lo >= hi: automatic (the valid
   * values' min..max; diverging: -m..m with m their largest magnitude). */
  float lo, hi;
  float alpha;       /* opacity of the colours over the background (default 0.65) */
  int colorbar;      /* a colour bar with its range labelled at the right (default 1) */
  const char *title; /* a line of text above the map (may be NULL) */
  int scale;         /* output enlargement factor, >= 1 (default 1) */
} csm_map_style;

csm_map_style csm_map_style_default(void);

/* A w x h map drawn over a w x h background (NULL: mid grey): pixels where
 * valid[i] != 0 (all when valid is NULL) and the value is finite are
 * blended with the colour map; the rest show the background. out is a new
 * image (csm_image_free), larger than w x h by the title and colour bar. */
csm_status csm_map_render(const float *map, const unsigned char *valid, int w, int h,
                          const csm_image *background, const csm_map_style *style, csm_image *out);

/* Images side by side, top-aligned, `gap` pixels of white between them. */
csm_status csm_image_hstack(const csm_image *imgs, int n, int gap, csm_image *out);
/* Images one under another, left-aligned, `gap` pixels of white between. */
csm_status csm_image_vstack(const csm_image *imgs, int n, int gap, csm_image *out);

/* Whole files are read and written with csm_read_file and
 * csm_write_file_atomic (csm/core.h). */

#ifdef __cplusplus
}
#endif
#endif
