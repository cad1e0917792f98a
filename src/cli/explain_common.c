/* What csm cis, csm cms and csm demo share: the resources of a run (task,
 * detector, canonical face, gallery, calibration) and one sample's CIS. */
#include "explain_common.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PRNET_STRIDE 20 /* the reference subsamples PRNet's 43867 vertices */

/* ---- Resources ------------------------------------------------------------ */

static csm_status largest_face(csm_face_detector *det, const csm_image *img, const char *path,
                               csm_face *out) {
  csm_face *faces = NULL;
  int n = 0;
  csm_status st = csm_face_detect(det, img, &faces, &n);
  if (!st && (n == 0 || !faces[0].has_mesh)) st = csm_fail(CSM_EINPUT, "%s: no face found", path);
  if (!st) *out = faces[0];
  free(faces);
  return st;
}

static csm_status open_background(explain_ctx *x, const explain_args *a) {
  if (x->pc) {
    /* frontal.jpg beside frontal_mesh.mat, as in the reference's data. */
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s", a->canonical_mesh);
    char *slash = strrchr(path, '/');
    size_t at = slash ? (size_t)(slash - path + 1) : 0;
    snprintf(path + at, sizeof path - at, "frontal.jpg");
    csm_image photo = {0};
    if (access(path, R_OK) != 0) return CSM_OK; /* no picture: maps on grey */
    csm_status st = csm_image_load(path, &photo);
    if (!st) st = csm_prnet_canon_background(x->pc, &photo, &x->background);
    csm_image_free(&photo);
    return st;
  }
  if (!a->canonical_photo) return csm_canon_render(x->canon, x->size, &x->background);
  csm_image photo = {0};
  csm_face face;
  csm_status st = csm_image_load(a->canonical_photo, &photo);
  if (!st) st = largest_face(x->det, &photo, a->canonical_photo, &face);
  if (!st) st = csm_canon_from_photo(x->canon, &photo, &face, x->size, &x->background);
  csm_image_free(&photo);
  return st;
}

/* The largest face of an image and its model input. */
static csm_status face_input(explain_ctx *x, const char *path, float *input) {
  csm_image img = {0};
  csm_face face;
  const csm_task_info *info = csm_task_get_info(x->task);
  csm_status st = csm_image_load(path, &img);
  if (!st) st = largest_face(x->det, &img, path, &face);
  if (!st) st = csm_task_preprocess(info, &img, &face, input);
  csm_image_free(&img);
  return st;
}

static float cosine(const float *a, const float *b, int n) {
  double s = 0, na = 0, nb = 0;
  for (int k = 0; k < n; k++)
    s += (double)a[k] * b[k], na += (double)a[k] * a[k], nb += (double)b[k] * b[k];
  return na > 0 && nb > 0 ? (float)(s / sqrt(na * nb)) : 0;
}

/* --calibrate PAIRS: the threshold with the best accuracy on the pairs. */
static csm_status calibrate(explain_ctx *x, const explain_args *a) {
  explain_input *in = NULL;
  int n = 0;
  char *buf = NULL;
  csm_status st = explain_inputs(a, NULL, 0, a->calibrate, &in, &n, &buf);
  int dim = csm_task_embedding_dim(x->task);
  size_t numel = csm_task_input_numel(csm_task_get_info(x->task));
  float *inputs = csm_malloc_array(2 * numel, sizeof(float));
  float *emb = csm_malloc_array(2 * (size_t)(dim > 0 ? dim : 1), sizeof(float));
  float *sims = csm_malloc_array((size_t)(n > 0 ? n : 1), sizeof(float));
  int *same = csm_malloc_array((size_t)(n > 0 ? n : 1), sizeof(int));
  if (!st && (!inputs || !emb || !sims || !same)) st = CSM_ENOMEM;
  for (int i = 0; !st && i < n; i++) {
    if (in[i].truth < 0)
      st = csm_fail(CSM_EINPUT, "%s: line for %s %s: say same or different", a->calibrate,
                    in[i].path, in[i].path2);
    if (!st) st = face_input(x, in[i].path, inputs);
    if (!st) st = face_input(x, in[i].path2, inputs + numel);
    if (!st) st = csm_task_embed(x->task, inputs, 2, emb);
    if (!st) sims[i] = cosine(emb, emb + dim, dim), same[i] = in[i].truth;
  }
  float acc = 0;
  if (!st) st = csm_verify_calibrate(sims, same, n, &x->threshold, &acc);
  if (!st)
    fprintf(stderr, "csm: verification threshold %.4f (accuracy %.3f on %d pairs of %s)\n",
            x->threshold, acc, n, a->calibrate);
  free(inputs);
  free(emb);
  free(sims);
  free(same);
  free(in);
  free(buf);
  return st ? csm_fail_context(st, "--calibrate: ") : CSM_OK;
}

csm_status explain_open(const explain_args *a, explain_ctx *x) {
  memset(x, 0, sizeof *x);
  x->size = a->size;
  x->cls = -1;
  x->threshold = (float)a->threshold;
  csm_status st =
      a->custom.model
          ? custom_task_load(&a->custom, &x->task)
          : csm_task_load(csm_cli_models_dir(),
                          a->mode == EXPLAIN_CLASSIFY ? a->task : a->embedding, &x->task);
  if (st) return st;
  const csm_task_info *info = csm_task_get_info(x->task);
  if (a->cls) x->cls = csm_task_class_index(info, a->cls);
  if (a->prnet) {
    st = csm_prnet_canon_load(a->canonical_mesh, PRNET_STRIDE, x->size, &x->pc);
    if (st) return csm_fail_context(st, "%s: ", a->canonical_mesh);
  } else {
    if ((st = csm_canon_default(&x->canon))) return st;
    if ((st = csm_face_detector_create(csm_cli_models_dir(), &a->det, &x->det))) return st;
  }
  if (a->mode == EXPLAIN_IDENTIFY) {
    if ((st = csm_gallery_load_dir(&x->gallery, x->task, x->det, a->gallery))) return st;
    if (a->identity && csm_gallery_find(x->gallery, a->identity) < 0)
      return csm_fail(CSM_EUSAGE, "--identity %s: not in the gallery %s", a->identity, a->gallery);
  }
  if (a->mode == EXPLAIN_VERIFY && a->calibrate && (st = calibrate(x, a))) return st;
  size_t npx = (size_t)x->size * x->size;
  x->mask = csm_malloc(npx);
  if (!x->mask) return CSM_ENOMEM;
  if (x->canon) {
    /* The canonical mask at the raster's size (nearest pixel). */
    const unsigned char *m = csm_canon_mask(x->canon);
    int cw = csm_canon_width(x->canon), ch = csm_canon_height(x->canon);
    for (int j = 0; j < x->size; j++)
      for (int i = 0; i < x->size; i++) {
        int si = (int)((i + 0.5) * cw / x->size), sj = (int)((j + 0.5) * ch / x->size);
        x->mask[(size_t)j * x->size + i] = m[(size_t)sj * cw + si];
      }
  } else {
    memset(x->mask, 1, npx);
  }
  if (a->grid_stride > 0) {
    st = csm_centres_grid(x->mask, x->size, x->size, a->grid_stride, &x->centres, &x->n_centres);
  } else if (x->canon) {
    st = csm_centres_mesh(x->canon, x->size, &x->centres, &x->n_centres);
  } else {
    int n = csm_prnet_canon_num_vertices(x->pc);
    x->centres = csm_malloc_array((size_t)n, 2 * sizeof(float));
    if (!x->centres) return CSM_ENOMEM;
    memcpy(x->centres, csm_prnet_canon_xy(x->pc), (size_t)n * 2 * sizeof(float));
    x->n_centres = n;
  }
  if (st) return st;
  return open_background(x, a);
}

void explain_close(explain_ctx *x) {
  csm_gallery_free(x->gallery);
  csm_task_free(x->task);
  csm_face_detector_free(x->det);
  csm_canon_free(x->canon);
  csm_prnet_canon_free(x->pc);
  free(x->centres);
  free(x->mask);
  csm_image_free(&x->background);
  memset(x, 0, sizeof *x);
}

void face_cis_free(face_cis *f) {
  if (!f) return;
  csm_occlusion_free(&f->occ);
  csm_map_free(&f->cis);
  csm_image_free(&f->crop);
  csm_image_free(&f->crop2);
  if (f->result_free) f->result_free(f->result);
  f->result = NULL;
  f->result_free = NULL;
}

/* ---- One image ------------------------------------------------------------ */

static void print_progress(void *ctx, int done, int total) {
  explain_progress *p = ctx;
  if (!p->enabled) return;
  double el = csm_now() - p->t_start;
  double faces = p->faces_done + (total ? (double)done / total : 1);
  double rate = el > 0 ? faces / el : 0;
  double left =
      rate > 0 && p->faces_total_estimate > faces ? (p->faces_total_estimate - faces) / rate : 0;
  fprintf(stderr, "\r%s: image %d/%d, face %d/%d: %d/%d occlusions | %.2f faces/s, ETA %d:%02d   ",
          p->cmd, p->image, p->n_images, p->face, p->n_faces, done, total, rate, (int)(left / 60),
          (int)left % 60);
}

static csm_status prnet_mesh_path(const explain_args *a, const char *image, char *buf, size_t len) {
  char stem[PATH_MAX];
  explain_stem(image, stem, sizeof stem);
  if (snprintf(buf, len, "%s/%s_mesh.mat", a->meshes, stem) >= (int)len)
    return csm_fail(CSM_EUSAGE, "mesh path too long for %s", image);
  return CSM_OK;
}

/* The face's correspondence and crop matrix; PRNet: the whole image
 * stretched to the input, as the reference feeds its aligned photos. */
static csm_status face_geometry(explain_ctx *x, const explain_args *a, const char *path,
                                const csm_image *img, const csm_face *face, double m[6],
                                csm_corr **corr) {
  const csm_task_info *info = csm_task_get_info(x->task);
  if (!x->pc) {
    csm_status st = csm_task_crop_matrix_image(info, face, img->w, img->h, m);
    if (!st) st = csm_canon_corr(x->canon, face, img->w, img->h, x->size, corr);
    return st;
  }
  m[0] = (double)img->w / info->size, m[1] = 0, m[2] = 0;
  m[3] = 0, m[4] = (double)img->h / info->size, m[5] = 0;
  char mesh[PATH_MAX];
  float *v = NULL;
  int rows = 0, cols = 0;
  csm_status st = prnet_mesh_path(a, path, mesh, sizeof mesh);
  if (!st) st = csm_mat_read_matrix(mesh, "vertices", &v, &rows, &cols);
  if (!st && cols != 3) st = csm_fail(CSM_EINPUT, "%s: vertices has %d columns, not 3", mesh, cols);
  if (!st) {
    st = csm_prnet_corr(x->pc, v, rows, img->w, img->h, corr);
    if (st) st = csm_fail_context(st, "%s: ", mesh);
  }
  free(v);
  return st;
}

/* The scorer for a sample and what it explains: the class (classify), the
 * identity (identify), or the pair's truth at the threshold (verify). */
static csm_status sample_scorer(explain_ctx *x, const explain_args *a, const explain_input *in,
                                const float *inputs, int views, face_cis *f, csm_scorer *sc) {
  const csm_task_info *info = csm_task_get_info(x->task);
  csm_status st;
  f->extra[0] = 0;
  if (a->mode == EXPLAIN_CLASSIFY) {
    csm_task_result res;
    if ((st = csm_task_run(x->task, inputs, 1, &res))) return st;
    f->label = info->n_classes > 0 ? (x->cls >= 0 ? x->cls : res.label) : -1;
    snprintf(f->label_name, sizeof f->label_name, "%s",
             f->label >= 0 ? info->labels[f->label] : "value");
    return csm_scorer_class(x->task, f->label < 0 ? 0 : f->label, sc);
  }
  int dim = csm_task_embedding_dim(x->task);
  float *emb = csm_malloc_array((size_t)views * (dim > 0 ? dim : 1), sizeof(float));
  if (!emb) return CSM_ENOMEM;
  st = csm_task_embed(x->task, inputs, views, emb);
  if (!st && a->mode == EXPLAIN_IDENTIFY) {
    const char *want = in->identity ? in->identity : a->identity;
    float sim = 0;
    int id = want ? csm_gallery_find(x->gallery, want) : -1;
    if (want && id < 0)
      st = csm_fail(CSM_EINPUT, "identity %s is not in the gallery", want);
    else if (!want)
      st = csm_gallery_nearest(x->gallery, emb, &id, &sim);
    if (!st) {
      sim = csm_gallery_similarity(x->gallery, id, emb);
      f->label = id;
      snprintf(f->label_name, sizeof f->label_name, "%s", csm_gallery_name(x->gallery, id));
      snprintf(f->extra, sizeof f->extra, ", \"similarity\": %.6g", sim);
      st = csm_scorer_identify(x->task, x->gallery, id, sc);
    }
  } else if (!st) {
    float sim = cosine(emb, emb + dim, dim);
    int genuine = in->truth >= 0 ? in->truth : a->truth >= 0 ? a->truth : sim > x->threshold;
    f->label = genuine;
    snprintf(f->label_name, sizeof f->label_name, "%s", genuine ? "genuine" : "impostor");
    snprintf(f->extra, sizeof f->extra,
             ", \"similarity\": %.6g, \"threshold\": %.6g, \"truth\": %s", sim, x->threshold,
             in->truth >= 0 || a->truth >= 0 ? "\"given\"" : "\"model\"");
    st = csm_scorer_verify(x->task, x->threshold, genuine, sc);
  }
  free(emb);
  return st;
}

/* One sample: `views` faces (1; 2 for a verify pair) occluded together. */
static csm_status explain_sample(explain_ctx *x, const explain_args *a, const explain_input *in,
                                 const csm_image *const *imgs, const csm_face *faces, int views,
                                 explain_progress *pr, face_cis *f) {
  const csm_task_info *info = csm_task_get_info(x->task);
  size_t numel = csm_task_input_numel(info);
  float *inputs = csm_malloc_array(numel * views, sizeof(float));
  float *rgb = csm_malloc_array((size_t)info->size * info->size * 3, sizeof(float));
  unsigned char *valid = csm_malloc((size_t)x->size * x->size);
  csm_corr *corr[2] = {NULL, NULL};
  csm_view view[2];
  csm_scorer sc;
  memset(&sc, 0, sizeof sc);
  memset(view, 0, sizeof view);
  csm_status st = inputs && rgb && valid ? CSM_OK : CSM_ENOMEM;
  const char *paths[2] = {in->path, in->path2};
  for (int v = 0; !st && v < views; v++) {
    double *m = view[v].crop;
    st = face_geometry(x, a, paths[v], imgs[v], &faces[v], m, &corr[v]);
    if (!st) st = csm_task_preprocess_matrix(info, imgs[v], m, inputs + numel * v);
    if (st && views > 1) st = csm_fail_context(st, "%s: ", paths[v]);
    view[v].input = inputs + numel * v;
    view[v].corr = corr[v];
  }
  if (!st) st = sample_scorer(x, a, in, inputs, views, f, &sc);
  if (!st) {
    snprintf(f->what, sizeof f->what, "%s", sc.what);
    csm_occlusion_options opt = a->occ;
    opt.progress = print_progress;
    opt.progress_ctx = pr;
    if (!x->skip_cis) {
      st = csm_occlusion_run(&sc, view, x->centres, x->n_centres, x->size, x->size, &opt, &f->occ);
      if (!st) {
        csm_cis_valid(x->mask, view, views, x->size, x->size, valid);
        st = csm_cis_compute(&f->occ, a->occ.footprint, valid, x->size, x->size, &f->cis);
      }
    }
  }
  /* The faces' crops as the model sees them, in colour, for the
   * input-space pictures. */
  for (int v = 0; !st && v < views; v++) {
    csm_image *crop = v ? &f->crop2 : &f->crop;
    st = csm_image_warp_affine(imgs[v], view[v].crop, info->size, info->size, 3, 0, 255, rgb);
    size_t n = (size_t)info->size * info->size * 3;
    if (!st) {
      crop->w = crop->h = info->size;
      crop->rgb = malloc(n);
      if (!crop->rgb) st = csm_fail(CSM_ENOMEM, "out of memory");
    }
    for (size_t k = 0; !st && k < n; k++)
      crop->rgb[k] = (unsigned char)lrintf(fminf(fmaxf(rgb[k], 0), 255));
  }
  if (!st && x->sample_hook) st = x->sample_hook(x->hook_ctx, &sc, view, views, f);
  csm_scorer_free(&sc);
  csm_corr_free(corr[0]);
  csm_corr_free(corr[1]);
  free(inputs);
  free(rgb);
  free(valid);
  return st;
}

/* A verify pair: the largest face of each image, one sample. */
static csm_status explain_pair(explain_ctx *x, const explain_args *a, const explain_input *in,
                               explain_progress *pr, face_cis **faces_out, int *n_out) {
  csm_image img[2] = {{0}, {0}};
  csm_face face[2];
  csm_status st = csm_image_load(in->path, &img[0]);
  if (!st) st = csm_image_load(in->path2, &img[1]);
  if (!st) st = largest_face(x->det, &img[0], in->path, &face[0]);
  if (!st) st = largest_face(x->det, &img[1], in->path2, &face[1]);
  face_cis *f = st ? NULL : calloc(1, sizeof *f);
  if (!st && !f) st = csm_fail(CSM_ENOMEM, "out of memory");
  if (!st) {
    const csm_image *imgs[2] = {&img[0], &img[1]};
    f->face = face[0];
    f->face_index = 1;
    pr->face = pr->n_faces = 1;
    st = explain_sample(x, a, in, imgs, face, 2, pr, f);
    pr->faces_done++;
    if (st) {
      face_cis_free(f);
      free(f);
      f = NULL;
    }
  }
  csm_image_free(&img[0]);
  csm_image_free(&img[1]);
  *faces_out = f;
  *n_out = f ? 1 : 0;
  return st;
}

csm_status explain_input_run(explain_ctx *x, const explain_args *a, const explain_input *in,
                             explain_progress *pr, face_cis **faces_out, int *n_out) {
  *faces_out = NULL;
  *n_out = 0;
  if (in->path2) return explain_pair(x, a, in, pr, faces_out, n_out);
  const char *path = in->path;
  csm_image img = {0};
  csm_status st = csm_image_load(path, &img);
  if (st) return st;
  csm_face *found = NULL;
  int n = 0;
  if (x->pc) {
    found = calloc(1, sizeof *found);
    if (!found) st = csm_fail(CSM_ENOMEM, "out of memory");
    if (!st) {
      found->box[2] = (float)img.w, found->box[3] = (float)img.h, found->score = 1;
      n = 1;
    }
  } else {
    st = csm_face_detect(x->det, &img, &found, &n);
  }
  /* Faces FaceMesh could not fit cannot be aligned: left out. */
  int kept = 0;
  for (int k = 0; !st && k < n; k++)
    if (x->pc || found[k].has_mesh) found[kept++] = found[k];
  face_cis *faces = kept ? calloc((size_t)kept, sizeof *faces) : NULL;
  if (!st && kept && !faces) st = csm_fail(CSM_ENOMEM, "out of memory");
  int done = 0;
  const csm_image *imgs[1] = {&img};
  for (int k = 0; !st && k < kept; k++) {
    faces[k].face = found[k];
    faces[k].face_index = k + 1;
    pr->face = k + 1, pr->n_faces = kept;
    st = explain_sample(x, a, in, imgs, &found[k], 1, pr, &faces[k]);
    done = k + 1;
    pr->faces_done++;
  }
  if (st) {
    for (int k = 0; k < done; k++)
      face_cis_free(&faces[k]);
    free(faces);
    st = csm_fail_context(st, "%s: ", path);
  } else {
    *faces_out = faces;
    *n_out = kept;
  }
  free(found);
  csm_image_free(&img);
  return st;
}
