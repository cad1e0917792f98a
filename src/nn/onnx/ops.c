/* Placeholder: operator name -> mapper (filled in by the mapper work). */
#include "onnx_internal.h"

csm_onnx_mapper csm_onnx_find_mapper(const char *op_type) {
  (void)op_type;
  return NULL;
}
