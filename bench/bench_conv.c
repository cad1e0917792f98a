/* bench_conv [THREADS] [REPEATS] [ISA]: GFLOP/s of csm's Conv2D,
 * DepthwiseConv2D and MatMul on representative face-model layers, against
 * OpenBLAS sgemm on the same GEMM sizes (the ceiling for convolution as
 * GEMM), on THREADS threads (default 2). Each time is the best of REPEATS
 * runs (default 7): the machine may be shared, and the best run is the least
 * disturbed. ISA (avx512, avx2, scalar) forces csm's GEMM kernels.
 *
 * Columns: sgemm = one OpenBLAS call on the layer's whole GEMM (rows = batch
 * x output pixels, K = KH*KW*Cin, N = Cout); sgemm/img = one call per image,
 * the only way OpenBLAS gives batch-independent bits; csm = the op's forward
 * pass (im2col, GEMM, bias and activation); ratio = csm / sgemm.
 *
 * It also checks whether OpenBLAS gives a row the same bits alone as inside
 * a larger call (it does not: see src/nn/ops/gemm.h). */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csm/csm.h"
#include "nn/ops/gemm.h"
#include "nn/ops/op.h"

static int repeats = 7;

static float *randn(size_t n, uint32_t seed) {
  float *x = malloc((n ? n : 1) * sizeof(float));
  if (!x) {
    fprintf(stderr, "bench_conv: out of memory\n");
    exit(3);
  }
  for (size_t i = 0; i < n; i++) {
    seed = seed * 1664525u + 1013904223u;
    x[i] = (float)(seed >> 8) / 16777216.0f - 0.5f;
  }
  return x;
}

typedef struct layer {
  const char *name;
  csm_op_kind op;
  int64_t n, h, w, c, kh, kw, co; /* co: Cout, or the depthwise multiplier; MatMul: h=w=kh=kw=1 */
  int stride;
  csm_padding pad;
  csm_activation act;
} layer;

static const layer layers[] = {
    {"3x3 56x56x64->64 b1", CSM_OP_CONV2D, 1, 56, 56, 64, 3, 3, 64, 1, CSM_PAD_SAME, CSM_ACT_RELU},
    {"3x3 28x28x128->128 b1", CSM_OP_CONV2D, 1, 28, 28, 128, 3, 3, 128, 1, CSM_PAD_SAME,
     CSM_ACT_RELU},
    {"3x3 14x14x256->256 b4", CSM_OP_CONV2D, 4, 14, 14, 256, 3, 3, 256, 1, CSM_PAD_SAME,
     CSM_ACT_RELU},
    {"resnet18 7x7/2 224x224x3->64 b8", CSM_OP_CONV2D, 8, 224, 224, 3, 7, 7, 64, 2, CSM_PAD_SAME,
     CSM_ACT_RELU},
    {"resnet18 3x3 56x56x64->64 b8", CSM_OP_CONV2D, 8, 56, 56, 64, 3, 3, 64, 1, CSM_PAD_SAME,
     CSM_ACT_RELU},
    {"resnet18 3x3 7x7x512->512 b8", CSM_OP_CONV2D, 8, 7, 7, 512, 3, 3, 512, 1, CSM_PAD_SAME,
     CSM_ACT_RELU},
    {"vgg16 3x3 224x224x64->64 b2", CSM_OP_CONV2D, 2, 224, 224, 64, 3, 3, 64, 1, CSM_PAD_SAME,
     CSM_ACT_RELU},
    {"vgg16 3x3 28x28x512->512 b8", CSM_OP_CONV2D, 8, 28, 28, 512, 3, 3, 512, 1, CSM_PAD_SAME,
     CSM_ACT_RELU},
    {"gear 3x3 97x97x64->96 b1", CSM_OP_CONV2D, 1, 97, 97, 64, 3, 3, 96, 1, CSM_PAD_VALID,
     CSM_ACT_RELU},
    {"faceres 1x1 56x56x128->128 b1", CSM_OP_CONV2D, 1, 56, 56, 128, 1, 1, 128, 1, CSM_PAD_SAME,
     CSM_ACT_RELU},
    {"faceres 1x1 14x14x512->512 b8", CSM_OP_CONV2D, 8, 14, 14, 512, 1, 1, 512, 1, CSM_PAD_SAME,
     CSM_ACT_RELU},
    {"faceres 1x1 7x7x1024->1024 b8", CSM_OP_CONV2D, 8, 7, 7, 1024, 1, 1, 1024, 1, CSM_PAD_SAME,
     CSM_ACT_RELU},
    {"emotion 3x3/2 64x64x1->32 b32", CSM_OP_CONV2D, 32, 64, 64, 1, 3, 3, 32, 2, CSM_PAD_VALID,
     CSM_ACT_RELU},
    {"emotion 3x3 31x31x32->64 b32", CSM_OP_CONV2D, 32, 31, 31, 32, 3, 3, 64, 1, CSM_PAD_VALID,
     CSM_ACT_RELU},
    {"emotion 1x1 29x29x64->128 b32", CSM_OP_CONV2D, 32, 29, 29, 64, 1, 1, 128, 1, CSM_PAD_VALID,
     CSM_ACT_RELU},
    {"emotion 1x1/2 29x29x64->128 b32", CSM_OP_CONV2D, 32, 29, 29, 64, 1, 1, 128, 2, CSM_PAD_SAME,
     CSM_ACT_NONE},
    {"emotion 1x1 15x15x256->256 b32", CSM_OP_CONV2D, 32, 15, 15, 256, 1, 1, 256, 1, CSM_PAD_VALID,
     CSM_ACT_NONE},
    {"emotion 3x3 8x8x256->7 b32", CSM_OP_CONV2D, 32, 8, 8, 256, 3, 3, 7, 1, CSM_PAD_SAME,
     CSM_ACT_NONE},
    {"dw 3x3 112x112x32 b1", CSM_OP_DEPTHWISE_CONV2D, 1, 112, 112, 32, 3, 3, 1, 1, CSM_PAD_SAME,
     CSM_ACT_RELU},
    {"dw 3x3/2 112x112x64 b1", CSM_OP_DEPTHWISE_CONV2D, 1, 112, 112, 64, 3, 3, 1, 2, CSM_PAD_SAME,
     CSM_ACT_RELU},
    {"dw 3x3 29x29x128 b32", CSM_OP_DEPTHWISE_CONV2D, 32, 29, 29, 128, 3, 3, 1, 1, CSM_PAD_SAME,
     CSM_ACT_NONE},
    {"dw 3x3 14x14x512 b8", CSM_OP_DEPTHWISE_CONV2D, 8, 14, 14, 512, 3, 3, 1, 1, CSM_PAD_SAME,
     CSM_ACT_RELU},
    {"dw 5x5 64x64x24 b1", CSM_OP_DEPTHWISE_CONV2D, 1, 64, 64, 24, 5, 5, 1, 1, CSM_PAD_SAME,
     CSM_ACT_RELU6},
    {"fc 1024->256 b32", CSM_OP_MATMUL, 32, 1, 1, 1024, 1, 1, 256, 1, CSM_PAD_VALID, CSM_ACT_NONE},
    {"fc 3136->128 b32", CSM_OP_MATMUL, 32, 1, 1, 3136, 1, 1, 128, 1, CSM_PAD_VALID, CSM_ACT_RELU},
};

static double best_sgemm(int64_t m, int64_t n, int64_t k, int64_t per_call_rows, const float *a,
                         const float *b, float *c) {
  double best = 1e30;
  for (int r = 0; r < repeats; r++) {
    double t = csm_now();
    for (int64_t r0 = 0; r0 < m; r0 += per_call_rows)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)per_call_rows, (int)n, (int)k,
                  1.0f, a + r0 * k, (int)k, b, (int)n, 0.0f, c + r0 * n, (int)n);
    t = csm_now() - t;
    if (t < best) best = t;
  }
  return best;
}

/* Best time of the op's forward pass; -1 on error. */
static double best_op(const layer *l, double *flops) {
  csm_node nd;
  csm_tensor in[3], out;
  int64_t xd[4] = {l->n, l->h, l->w, l->c}, fd[4] = {l->kh, l->kw, l->c, l->co};
  int64_t a2[2] = {l->n, l->c}, b2[2] = {l->c, l->co};
  const int64_t cout = l->op == CSM_OP_DEPTHWISE_CONV2D ? l->c * l->co : l->co;
  memset(&nd, 0, sizeof nd);
  memset(in, 0, sizeof in);
  memset(&out, 0, sizeof out);
  nd.op = l->op;
  nd.a = csm_attrs_default();
  nd.a.stride[0] = nd.a.stride[1] = l->stride;
  nd.a.padding = l->pad;
  nd.a.act = l->act;
  nd.a.has_bias = 1;
  nd.n_in = 3;
  in[0].dtype = in[1].dtype = in[2].dtype = CSM_F32;
  if (l->op == CSM_OP_MATMUL) {
    in[0].shape = csm_shape_make(2, a2);
    in[1].shape = csm_shape_make(2, b2);
  } else {
    in[0].shape = csm_shape_make(4, xd);
    in[1].shape = csm_shape_make(4, fd);
  }
  in[2].shape = csm_shape_make(1, &cout);
  size_t nx, nf;
  if (csm_shape_numel(&in[0].shape, &nx) || csm_shape_numel(&in[1].shape, &nf)) return -1;
  in[0].data = randn(nx, 1);
  in[1].data = randn(nf, 2);
  in[2].data = randn((size_t)cout, 3);
  const csm_op_def *def = csm_op_def_get(l->op);
  double best = -1;
  csm_tensor shape_only;
  memset(&shape_only, 0, sizeof shape_only);
  if (def->infer(&nd, in, &shape_only) || csm_tensor_alloc(&out, CSM_F32, &shape_only.shape)) {
    fprintf(stderr, "bench_conv: %s: %s\n", l->name, csm_last_error());
  } else {
    size_t bytes = def->scratch ? def->scratch(&nd, in, &out) : 0;
    void *scratch = bytes ? malloc(bytes) : NULL;
    /* A model's filters are constants: prepared (packed, transformed) once. */
    size_t prep_bytes = def->prepared_size ? def->prepared_size(&nd, in) : 0;
    void *prepared = prep_bytes ? malloc(prep_bytes) : NULL;
    if (prepared) def->prepare(&nd, in, prepared);
    *flops = def->flops(&nd, in, &out);
    best = 1e30;
    for (int r = 0; r < repeats + 1; r++) { /* the first run warms up */
      double t = csm_now();
      if (prepared ? def->forward_prepared(&nd, in, &out, scratch, prepared)
                   : def->forward(&nd, in, &out, scratch)) {
        fprintf(stderr, "bench_conv: %s: %s\n", l->name, csm_last_error());
        best = -1;
        break;
      }
      t = csm_now() - t;
      if (r > 0 && t < best) best = t;
    }
    free(scratch);
    free(prepared);
  }
  csm_tensor_free(&out);
  for (int i = 0; i < 3; i++)
    free(in[i].data);
  return best;
}

/* Rows of a batched call compared with the same rows computed alone. */
static void openblas_row_probe(void) {
  static const int shapes[][3] = {{49, 1024, 1024}, {64, 288, 64}, {9, 27, 32}, {225, 500, 128}};
  int differ = 0, total = 0;
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
    const int p = shapes[s][0], k = shapes[s][1], n = shapes[s][2], batch = 8;
    float *a = randn((size_t)(p * batch * k), 5), *b = randn((size_t)(k * n), 6);
    float *c = randn((size_t)(p * batch * n), 7), *c1 = randn((size_t)(p * n), 8);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, p * batch, n, k, 1.0f, a, k, b, n, 0.0f,
                c, n);
    for (int i = 0; i < batch; i++) {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, p, n, k, 1.0f, a + (size_t)i * p * k,
                  k, b, n, 0.0f, c1, n);
      differ += memcmp(c1, c + (size_t)i * p * n, (size_t)(p * n) * sizeof(float)) != 0;
      total++;
    }
    free(a);
    free(b);
    free(c);
    free(c1);
  }
  printf("OpenBLAS batch independence: %d of %d images differ in bits from their single calls\n",
         differ, total);
}

int main(int argc, char **argv) {
  const int threads = argc > 1 ? atoi(argv[1]) : 2;
  if (argc > 2) repeats = atoi(argv[2]) > 0 ? atoi(argv[2]) : 1;
  csm_set_threads(threads);
  if (argc > 3 && csm_gemm_set_isa(argv[3])) {
    fprintf(stderr, "bench_conv: %s\n", csm_last_error());
    return 1;
  }
  printf("threads %d, best of %d; OpenBLAS %s (%s kernels); csm GEMM kernels: %s\n", threads,
         repeats, openblas_get_config(), openblas_get_corename(), csm_gemm_isa());

  const int64_t big = 2048;
  float *a = randn((size_t)(big * big), 11), *b = randn((size_t)(big * big), 12);
  float *c = randn((size_t)(big * big), 13);
  float *packed = malloc(csm_gemm_packed_floats(big, big) * sizeof(float));
  double t_blas = best_sgemm(big, big, big, big, a, b, c), t_csm = 1e30;
  for (int r = 0; r < repeats; r++) {
    double t = csm_now();
    csm_gemm_pack_b(b, big, 0, big, big, packed);
    csm_gemm(big, big, big, a, big, packed, c, big, NULL);
    t = csm_now() - t;
    if (t < t_csm) t_csm = t;
  }
  const double f_big = 2.0 * (double)big * (double)big * (double)big;
  printf("sgemm 2048^3: OpenBLAS %.1f GFLOP/s, csm_gemm %.1f GFLOP/s\n\n", f_big / t_blas * 1e-9,
         f_big / t_csm * 1e-9);
  free(a);
  free(b);
  free(c);
  free(packed);

  printf("%-34s %21s %8s %10s %8s %8s\n", "layer", "GEMM MxKxN", "sgemm", "sgemm/img", "csm",
         "ratio");
  for (size_t i = 0; i < sizeof layers / sizeof layers[0]; i++) {
    const layer *l = &layers[i];
    double flops = 0, t = best_op(l, &flops);
    if (t < 0) continue;
    if (l->op == CSM_OP_DEPTHWISE_CONV2D) { /* no GEMM to compare with */
      printf("%-34s %21s %8s %10s %8.1f %8s\n", l->name, "-", "-", "-", flops / t * 1e-9, "-");
      continue;
    }
    int64_t oh = l->h, ow = l->w;
    if (l->op == CSM_OP_CONV2D) {
      int pad;
      oh = csm_window_out(l->h, (int)l->kh, l->stride, 1, l->pad, 0, 0, &pad);
      ow = csm_window_out(l->w, (int)l->kw, l->stride, 1, l->pad, 0, 0, &pad);
    }
    const int64_t per = oh * ow, m = l->n * per, k = l->kh * l->kw * l->c, n = l->co;
    float *ga = randn((size_t)(m * k), 21), *gb = randn((size_t)(k * n), 22);
    float *gc = randn((size_t)(m * n), 23);
    const double gf = 2.0 * (double)m * (double)n * (double)k;
    const double t_whole = best_sgemm(m, n, k, m, ga, gb, gc);
    const double t_img = best_sgemm(m, n, k, per, ga, gb, gc);
    char dims[64];
    snprintf(dims, sizeof dims, "%lldx%lldx%lld", (long long)m, (long long)k, (long long)n);
    printf("%-34s %21s %8.1f %10.1f %8.1f %8.2f\n", l->name, dims, gf / t_whole * 1e-9,
           gf / t_img * 1e-9, flops / t * 1e-9, (flops / t) / (gf / t_whole));
    free(ga);
    free(gb);
    free(gc);
  }
  printf("\n");
  openblas_row_probe();
  return 0;
}
