/* JPEG and PNG decoding (csm_image_load: the header probe, EXIF orientation,
 * stb_image). A decoded image is resized to 4 x 4 (CSM_RESIZE_AREA reads
 * every pixel, so a buffer smaller than w x h x 3 shows under ASan). */
#include "csm/image.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fz_write("image", data, size);
  char path[1024];
  fz_path(path, sizeof path, "image");
  csm_image img, small = {0};
  csm_clear_error();
  csm_status st = csm_image_load(path, &img);
  fz_note("csm_image_load", st);
  if (st == CSM_OK) {
    if (csm_image_resize(&img, 4, 4, CSM_RESIZE_AREA, &small) == CSM_OK)
      fz_touch(small.rgb, 4 * 4 * 3);
    csm_image_free(&small);
    csm_image_free(&img);
  }
  fz_clean();
  return 0;
}
