/* Rewrites a MATLAB v5 .mat file with every variable zlib-compressed
 * (miCOMPRESSED), values unchanged: how tests/data/celeba-prnet/
 * frontal_mesh.mat was made from the reference's 3.1 MB original.
 *   cc -O2 mat_compress.c -lmatio -o mat_compress && ./mat_compress in.mat out.mat */
#include <matio.h>
#include <stdio.h>

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s in.mat out.mat\n", argv[0]);
    return 1;
  }
  mat_t *in = Mat_Open(argv[1], MAT_ACC_RDONLY);
  if (!in) return fprintf(stderr, "%s: cannot open\n", argv[1]), 1;
  mat_t *out = Mat_CreateVer(argv[2], NULL, MAT_FT_MAT5);
  if (!out) return fprintf(stderr, "%s: cannot create\n", argv[2]), 1;
  int rc = 0;
  for (matvar_t *v; (v = Mat_VarReadNext(in));) {
    if (Mat_VarWrite(out, v, MAT_COMPRESSION_ZLIB) != 0) {
      fprintf(stderr, "%s: cannot write %s\n", argv[2], v->name);
      rc = 1;
    }
    Mat_VarFree(v);
  }
  Mat_Close(in);
  Mat_Close(out);
  return rc;
}
