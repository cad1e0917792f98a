/* ONNX models through csm_model_load: the input is the .onnx file and,
 * after a FZ_SEP line, an optional external data file "data.bin" next to
 * it (the seeds with external tensors name it in their "location"). The
 * protobuf-c parser is a system library without coverage instrumentation:
 * what the fuzzer steers is the loader's own checks and the graph built. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fz_part parts[2];
  size_t n = fz_split(data, size, parts, 2);
  fz_write("model.onnx", parts[0].data, parts[0].size);
  if (n > 1) fz_write("data.bin", parts[1].data, parts[1].size);
  char path[1024];
  fz_path(path, sizeof path, "model.onnx");
  fz_model(path);
  fz_clean();
  return 0;
}
