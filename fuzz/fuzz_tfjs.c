/* TF.js graph models: model.json and its weight shards through
 * csm_model_load. The input is the manifest, then up to eight shards, each
 * after a FZ_SEP line; shard k is written as w<k>.bin, the name the seeds'
 * weightsManifest "paths" use. */
#include <stdio.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fz_part parts[9];
  size_t n = fz_split(data, size, parts, 9);
  fz_write("model.json", parts[0].data, parts[0].size);
  for (size_t k = 1; k < n; k++) {
    char name[32];
    snprintf(name, sizeof name, "w%zu.bin", k);
    fz_write(name, parts[k].data, parts[k].size);
  }
  char path[1024];
  fz_path(path, sizeof path, "model.json");
  fz_model(path);
  fz_clean();
  return 0;
}
