/* MATLAB .mat reading (include/csm/face.h): the variables PRNet files hold,
 * "vertices" as float32 and float64 and "triangles", as csm warp and the
 * reference mode read them. The container check is csm's; the variables are
 * read by matio (a system library, v7.3 through HDF5), uninstrumented. */
#include <stdlib.h>

#include "csm/face.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fz_write("m.mat", data, size);
  char path[1024];
  fz_path(path, sizeof path, "m.mat");
  float *f = NULL;
  double *d = NULL;
  int32_t *tri = NULL;
  int rows = 0, cols = 0, n = 0;
  csm_status st;
  csm_clear_error();
  st = csm_mat_read_matrix(path, "vertices", &f, &rows, &cols);
  fz_note("csm_mat_read_matrix", st);
  if (st == CSM_OK) fz_touch(f, (size_t)rows * (size_t)cols * sizeof *f);
  free(f);
  st = csm_mat_read_matrix_f64(path, "vertices", &d, &rows, &cols);
  fz_note("csm_mat_read_matrix_f64", st);
  if (st == CSM_OK) fz_touch(d, (size_t)rows * (size_t)cols * sizeof *d);
  free(d);
  st = csm_mat_read_triangles(path, "triangles", &tri, &n);
  fz_note("csm_mat_read_triangles", st);
  if (st == CSM_OK) fz_touch(tri, (size_t)n * 3 * sizeof *tri);
  free(tri);
  fz_clean();
  return 0;
}
