/* The reference implementation's mode (csm cis --align prnet) on two
 * celeba-prnet images against a direct implementation of the paper's
 * equations written here: the photo stretched to the 224 x 224 input, for
 * every PRNet vertex a 15 x 15 black square at the vertex's input pixel,
 * d_k = f_c(I) - f_c(I occluded at k); on the canonical frame H += d_k and
 * N += 1 over the 15 x 15 square at the canonical vertex, CIS = H / N on the
 * visible canonical pixels. Data: tests/data/celeba-prnet. */
#include "csm_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SIZE 224
#define HALF 7 /* 15 px squares: x-7 .. x+7 */

static char g_dir[512];

static int have_data(void) {
  struct stat st;
  char p[600];
  snprintf(g_dir, sizeof g_dir, "%s/celeba-prnet", csm_test_env("CSM_TEST_DATA", "tests/data"));
  snprintf(p, sizeof p, "%s/frontal_mesh.mat", g_dir);
  return stat(p, &st) == 0;
}

/* Zeroes the 15 x 15 square around input pixel (px, py): black is 0 in
 * FaceRes's 0..255 input. */
static void occlude(float *x, int px, int py) {
  for (int y = py - HALF; y <= py + HALF; y++)
    for (int xx = px - HALF; xx <= px + HALF; xx++)
      if (y >= 0 && y < SIZE && xx >= 0 && xx < SIZE)
        for (int c = 0; c < 3; c++)
          x[((size_t)y * SIZE + xx) * 3 + c] = 0;
}

static void one_image(const char *id, csm_task *task, const csm_prnet_canon *pc) {
  char img_path[700], mesh_path[700], out_dir[700], cmd[4096];
  snprintf(img_path, sizeof img_path, "%s/images/%s.jpg", g_dir, id);
  snprintf(mesh_path, sizeof mesh_path, "%s/meshes/%s_mesh.mat", g_dir, id);
  snprintf(out_dir, sizeof out_dir, "%s/prnet_cis_%s", csm_test_env("CSM_TEST_TMP", "/tmp"), id);
  /* csm's answer, from the command line. */
  snprintf(cmd, sizeof cmd,
           "rm -rf '%s' && '%s' cis --quiet --task gender --align prnet --meshes '%s/meshes' "
           "--canonical-mesh '%s/frontal_mesh.mat' '%s' -o '%s'",
           out_dir, csm_test_env("CSM_BIN", "csm"), g_dir, g_dir, img_path, out_dir);
  assert_int_equal(system(cmd), 0);
  char p[800];
  csm_tensor cis;
  snprintf(p, sizeof p, "%s/%s_face1.npy", out_dir, id);
  CSM_ASSERT_OK(csm_npy_read(p, &cis));
  assert_int_equal(cis.shape.rank, 2);
  assert_int_equal(cis.shape.d[0], SIZE);
  assert_int_equal(cis.shape.d[1], SIZE);

  /* The direct implementation. */
  csm_image img;
  CSM_ASSERT_OK(csm_image_load(img_path, &img));
  float *v = NULL;
  int rows = 0, cols = 0;
  CSM_ASSERT_OK(csm_mat_read_matrix(mesh_path, "vertices", &v, &rows, &cols));
  assert_int_equal(rows, csm_prnet_canon_num_vertices(pc));
  const csm_task_info *info = csm_task_get_info(task);
  double m[6] = {(double)img.w / SIZE, 0, 0, 0, (double)img.h / SIZE, 0};
  size_t numel = (size_t)SIZE * SIZE * 3;
  float *base = malloc(numel * sizeof(float));
  CSM_ASSERT_OK(csm_task_preprocess_matrix(info, &img, m, base));
  csm_task_result r;
  CSM_ASSERT_OK(csm_task_run(task, base, 1, &r));
  int cls = r.label;
  float y = r.scores[cls];
  /* Visible vertices: those whose canonical position lands on a visible
   * canonical pixel of this image's correspondence. */
  csm_corr *corr = NULL;
  CSM_ASSERT_OK(csm_prnet_corr(pc, v, rows, img.w, img.h, &corr));
  const unsigned char *vis = csm_corr_canon_visible(corr);
  const float *cxy = csm_prnet_canon_xy(pc);
  int *chosen = malloc(sizeof(int) * rows), n_chosen = 0;
  for (int k = 0; k < rows; k++) {
    double ix, iy;
    if (csm_corr_to_image(corr, cxy[2 * k], cxy[2 * k + 1], &ix, &iy)) chosen[n_chosen++] = k;
  }
  assert_true(n_chosen > rows / 3);
  float *drop = malloc(sizeof(float) * rows);
  const int B = 32;
  float *batch = malloc(numel * B * sizeof(float));
  csm_task_result *res = malloc(sizeof *res * B);
  for (int b0 = 0; b0 < n_chosen; b0 += B) {
    int nb = n_chosen - b0 < B ? n_chosen - b0 : B;
    for (int b = 0; b < nb; b++) {
      int k = chosen[b0 + b];
      memcpy(batch + numel * b, base, numel * sizeof(float));
      occlude(batch + numel * b, (int)floor(v[3 * k] * SIZE / img.w),
              (int)floor(v[3 * k + 1] * SIZE / img.h));
    }
    CSM_ASSERT_OK(csm_task_run(task, batch, nb, res));
    for (int b = 0; b < nb; b++)
      drop[chosen[b0 + b]] = y - res[b].scores[cls];
  }
  double *H = calloc(SIZE * SIZE, sizeof(double)), *N = calloc(SIZE * SIZE, sizeof(double));
  for (int t = 0; t < n_chosen; t++) {
    int k = chosen[t], cx = (int)floor(cxy[2 * k]), cy = (int)floor(cxy[2 * k + 1]);
    for (int yy = cy - HALF; yy <= cy + HALF; yy++)
      for (int xx = cx - HALF; xx <= cx + HALF; xx++)
        if (yy >= 0 && yy < SIZE && xx >= 0 && xx < SIZE)
          H[yy * SIZE + xx] += drop[k], N[yy * SIZE + xx] += 1;
  }
  /* Compare: the vertex's input pixel can differ where its position falls
   * within rounding of a pixel edge (csm maps the canonical vertex through
   * the correspondence), so allow a handful of pixels to differ. */
  const float *got = cis.data;
  int bad = 0, nonzero = 0;
  double worst = 0, peak = 0;
  for (int p2 = 0; p2 < SIZE * SIZE; p2++) {
    double want = N[p2] > 0 && vis[p2] ? H[p2] / N[p2] : 0;
    double e = fabs(got[p2] - want);
    peak = fmax(peak, fabs(want));
    nonzero += want != 0;
    if (e > 1e-5) bad++;
    worst = fmax(worst, e);
  }
  printf("%s: %d vertices evaluated, %d map pixels, %d differ (worst %.3g, peak %.3g)\n", id,
         n_chosen, nonzero, bad, worst, peak);
  assert_true(nonzero > 5000);
  assert_true(bad <= nonzero / 200);
  free(H);
  free(N);
  free(res);
  free(batch);
  free(drop);
  free(chosen);
  csm_corr_free(corr);
  free(base);
  free(v);
  csm_image_free(&img);
  csm_tensor_free(&cis);
}

static void test_prnet_mode(void **state) {
  (void)state;
  if (!have_data()) fail_msg("%s: missing (tests/data is in the repository)", g_dir);
  char model[4096];
  if (!csm_test_model_path("faceres", model, sizeof model)) skip();
  char p[700];
  snprintf(p, sizeof p, "%s/frontal_mesh.mat", g_dir);
  csm_prnet_canon *pc = NULL;
  CSM_ASSERT_OK(csm_prnet_canon_load(p, 20, SIZE, &pc));
  csm_task *task = NULL;
  CSM_ASSERT_OK(csm_task_load(csm_test_env("CSM_MODELS_DIR", "models"), "gender", &task));
  one_image("000686", task, pc);
  one_image("001978", task, pc);
  csm_task_free(task);
  csm_prnet_canon_free(pc);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_prnet_mode)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
