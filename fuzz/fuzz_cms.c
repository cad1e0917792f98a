/* CMS checkpoints (csm_cms_load). A checkpoint ends in an FNV-1a 64 of
 * everything before it, which random mutations almost never keep right, so
 * the input's first byte chooses: even, the harness rewrites the trailer to
 * the right checksum (the fuzzer reaches the size and state checks); odd,
 * the file is written as it is (the checksum check itself). The rest of the
 * input is the file. A loaded CMS is read back, continued by one map and
 * freed. */
#include <stdlib.h>
#include <string.h>

#include "csm/explain.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t fnv1a(const uint8_t *p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; i++)
    h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  const int fix = !(data[0] & 1);
  size--, data++;
  uint8_t *file = malloc(size ? size : 1);
  if (!file) return 0;
  memcpy(file, data, size);
  if (fix && size >= 8) {
    uint64_t h = fnv1a(file, size - 8);
    for (int i = 0; i < 8; i++)
      file[size - 8 + i] = (uint8_t)(h >> (8 * i));
  }
  fz_write("c.ckpt", file, size);
  free(file);
  char path[1024];
  fz_path(path, sizeof path, "c.ckpt");
  csm_cms *c = NULL;
  csm_clear_error();
  csm_status st = csm_cms_load(path, &c);
  fz_note("csm_cms_load", st);
  if (st == CSM_OK) {
    int w = csm_cms_width(c), h = csm_cms_height(c);
    size_t n = (size_t)w * (size_t)h;
    float *mean = malloc(n * sizeof *mean), *count = malloc(n * sizeof *count),
          *se = malloc(n * sizeof *se);
    if (mean && count && se) csm_cms_result(c, mean, count, se);
    free(mean), free(count), free(se);
    int images[40];
    double corr[40];
    (void)csm_cms_stability(c, images, corr, 40);
    (void)csm_cms_images(c);
    csm_map map;
    if (csm_map_alloc(&map, w, h) == CSM_OK) {
      for (size_t i = 0; i < n; i++)
        map.value[i] = (float)(i % 5) - 2.0f, map.count[i] = (float)(i % 2);
      (void)csm_cms_add(c, &map);
      csm_map_free(&map);
    }
    csm_cms_free(c);
  }
  fz_clean();
  return 0;
}
