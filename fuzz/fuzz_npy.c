/* .npy reading (csm_npy_read): header dict, dtype, shape, data size. Every
 * element of a tensor read is touched. */
#include "csm/report.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fz_write("a.npy", data, size);
  char path[1024];
  fz_path(path, sizeof path, "a.npy");
  csm_tensor t;
  csm_clear_error();
  csm_status st = csm_npy_read(path, &t);
  fz_note("csm_npy_read", st);
  if (st == CSM_OK) {
    char buf[256];
    csm_shape_str(&t.shape, buf, sizeof buf);
    fz_touch(t.data, csm_tensor_numel(&t) * 4);
    csm_tensor_free(&t);
  }
  fz_clean();
  return 0;
}
