/* One input's samples: the faces found (or the PRNet mesh, or a verify
 * pair), each occluded at every centre and mapped onto the canonical face. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "run_internal.h"

csm_status csm_run_load_image(const csm_explain_options *o, const csm_input *in, int which,
                              csm_image *img, int *owned) {
  const csm_image *given = which ? in->image2 : in->image;
  const char *path = which ? in->path2 : in->path;
  if (given) {
    if (!given->rgb || given->w <= 0 || given->h <= 0)
      return csm_fail(CSM_EUSAGE, "%s: the given image has no pixels", path ? path : "image");
    *img = *given;
    *owned = 0;
    return CSM_OK;
  }
  *owned = 1;
  if (o->load_image) {
    memset(img, 0, sizeof *img);
    csm_status st = o->load_image(o->load_image_ctx, in, which, img);
    if (!st && (!img->rgb || img->w <= 0 || img->h <= 0))
      st = csm_fail(CSM_EINPUT, "%s: the image source gave no pixels", path ? path : "image");
    if (st) {
      csm_image_free(img);
      *owned = 0;
    }
    return st;
  }
  if (!path) return csm_fail(CSM_EUSAGE, "an input has neither a path nor pixels");
  return csm_image_load(path, img);
}

void csm_face_result_free(csm_face_result *f) {
  if (!f) return;
  csm_occlusion_free(&f->occ);
  csm_map_free(&f->cis);
  csm_image_free(&f->crop);
  csm_image_free(&f->crop2);
  if (f->result_free) f->result_free(f->result);
  f->result = NULL;
  f->result_free = NULL;
}

void csm_face_results_free(csm_face_result *faces, int n) {
  for (int k = 0; faces && k < n; k++)
    csm_face_result_free(&faces[k]);
  free(faces);
}

/* The occlusion engine's batches, as the run's progress. */
static void occlusion_progress(void *ctx, int done, int total) {
  csm_explainer *x = ctx;
  x->pr.occluded = done, x->pr.occlusions = total;
  if (csm_run_report_progress(x)) x->cancelled = 1;
}

static csm_status prnet_mesh_path(const csm_explain_options *o, const char *image, char *buf,
                                  size_t len) {
  char stem[PATH_MAX];
  csm_path_stem(image, stem, sizeof stem);
  if (snprintf(buf, len, "%s/%s_mesh.mat", o->meshes, stem) >= (int)len)
    return csm_fail(CSM_EUSAGE, "mesh path too long for %s", image);
  return CSM_OK;
}

/* The reference mode's geometry and input, as the reference code makes
 * them: the whole photo resized to the input by Pillow's Image.resize
 * (bicubic; src/image/resize_pil.c), and each centre at its own mesh
 * vertex scaled to the input, in double precision (the patch corners are
 * floor()s of these positions). */
static csm_status prnet_geometry(csm_explainer *x, const csm_explain_options *o, const char *path,
                                 const csm_image *img, double m[6], csm_corr **corr, float *input,
                                 double **centre_pos) {
  const csm_task_info *info = csm_task_get_info(x->task);
  int n = info->size;
  m[0] = (double)img->w / n, m[1] = 0, m[2] = 0;
  m[3] = 0, m[4] = (double)img->h / n, m[5] = 0;
  char mesh[PATH_MAX];
  double *v = NULL;
  float *vf = NULL;
  int rows = 0, cols = 0;
  csm_status st = prnet_mesh_path(o, path, mesh, sizeof mesh);
  if (!st) st = csm_mat_read_matrix_f64(mesh, "vertices", &v, &rows, &cols);
  if (!st && cols != 3) st = csm_fail(CSM_EINPUT, "%s: vertices has %d columns, not 3", mesh, cols);
  if (!st && !(vf = csm_malloc_array((size_t)rows * 3, sizeof(float)))) st = CSM_ENOMEM;
  for (size_t k = 0; !st && k < (size_t)rows * 3; k++)
    vf[k] = (float)v[k];
  if (!st) {
    st = csm_prnet_corr(x->pc, vf, rows, img->w, img->h, corr);
    if (st) st = csm_fail_context(st, "%s: ", mesh);
  }
  if (!st && !(*centre_pos = csm_malloc_array((size_t)rows, 2 * sizeof(double)))) st = CSM_ENOMEM;
  for (int k = 0; !st && k < rows; k++) {
    (*centre_pos)[2 * k] = v[3 * k] * n / img->w;
    (*centre_pos)[2 * k + 1] = v[3 * k + 1] * n / img->h;
  }
  csm_image resized = {0};
  const double identity[6] = {1, 0, 0, 0, 1, 0};
  if (!st) st = csm_image_resize(img, n, n, CSM_RESIZE_PIL_BICUBIC, &resized);
  if (!st) st = csm_task_preprocess_matrix(info, &resized, identity, input);
  csm_image_free(&resized);
  free(v);
  free(vf);
  return st;
}

/* The face's correspondence, crop matrix and model input. */
static csm_status face_geometry(csm_explainer *x, const csm_explain_options *o, const char *path,
                                const csm_image *img, const csm_face *face, double m[6],
                                csm_corr **corr, float *input, double **centre_pos) {
  const csm_task_info *info = csm_task_get_info(x->task);
  if (x->pc) return prnet_geometry(x, o, path, img, m, corr, input, centre_pos);
  csm_status st = csm_task_crop_matrix_image(info, face, img->w, img->h, m);
  if (!st) st = csm_canon_corr(x->canon, face, img->w, img->h, x->size, corr);
  if (!st) st = csm_task_preprocess_matrix(info, img, m, input);
  return st;
}

/* The scorer for a sample and what it explains: the class (classify), the
 * identity (identify), or the pair's truth at the threshold (verify). */
static csm_status sample_scorer(csm_explainer *x, const csm_explain_options *o, const csm_input *in,
                                const float *inputs, int views, csm_face_result *f,
                                csm_scorer *sc) {
  const csm_task_info *info = csm_task_get_info(x->task);
  csm_status st;
  f->extra[0] = 0;
  if (o->mode == CSM_EXPLAIN_CLASSIFY) {
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
  if (!st && o->mode == CSM_EXPLAIN_IDENTIFY) {
    const char *want = in->identity ? in->identity : o->identity;
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
    float sim = csm_run_cosine(emb, emb + dim, dim);
    int genuine = in->truth >= 0 ? in->truth : o->truth >= 0 ? o->truth : sim > x->threshold;
    f->label = genuine;
    snprintf(f->label_name, sizeof f->label_name, "%s", genuine ? "genuine" : "impostor");
    snprintf(f->extra, sizeof f->extra,
             ", \"similarity\": %.6g, \"threshold\": %.6g, \"truth\": %s", sim, x->threshold,
             in->truth >= 0 || o->truth >= 0 ? "\"given\"" : "\"model\"");
    st = csm_scorer_verify(x->task, x->threshold, genuine, sc);
  }
  free(emb);
  return st;
}

csm_status csm_run_cis(const csm_explainer *x, const csm_view *views, int n_views,
                       unsigned char *valid, const csm_occlusion *occ, csm_map *cis) {
  /* The reference code keeps every covered pixel; csm keeps those on the
   * canonical face and visible in every view. */
  if (!x->pc) csm_cis_valid(x->mask, views, n_views, x->size, x->size, valid);
  return csm_cis_compute(occ, x->o.occ.footprint, x->pc ? NULL : valid, x->size, x->size, cis);
}

/* One sample: `views` faces (1; 2 for a verify pair) occluded together. */
static csm_status explain_sample(csm_explainer *x, const csm_explain_options *o,
                                 const csm_input *in, const csm_image *const *imgs,
                                 const csm_face *faces, int views, csm_face_result *f) {
  const csm_task_info *info = csm_task_get_info(x->task);
  size_t numel = csm_task_input_numel(info);
  float *inputs = csm_malloc_array(numel * views, sizeof(float));
  float *rgb = csm_malloc_array((size_t)info->size * info->size * 3, sizeof(float));
  unsigned char *valid = csm_malloc((size_t)x->size * x->size);
  csm_corr *corr[2] = {NULL, NULL};
  double *centre_pos[2] = {NULL, NULL};
  csm_view view[2];
  csm_scorer sc;
  memset(&sc, 0, sizeof sc);
  memset(view, 0, sizeof view);
  csm_status st = inputs && rgb && valid ? CSM_OK : CSM_ENOMEM;
  const char *paths[2] = {in->path, in->path2};
  for (int v = 0; !st && v < views; v++) {
    double *m = view[v].crop;
    st = face_geometry(x, o, paths[v], imgs[v], &faces[v], m, &corr[v], inputs + numel * v,
                       &centre_pos[v]);
    if (st && views > 1) st = csm_fail_context(st, "%s: ", paths[v]);
    view[v].input = inputs + numel * v;
    view[v].corr = corr[v];
    view[v].centre_pos = centre_pos[v];
  }
  if (!st) st = sample_scorer(x, o, in, inputs, views, f, &sc);
  if (!st) {
    snprintf(f->what, sizeof f->what, "%s", sc.what);
    csm_occlusion_options opt = o->occ;
    opt.progress = occlusion_progress;
    opt.progress_ctx = x;
    if (!x->skip_cis) {
      st = csm_occlusion_run(&sc, view, x->centres, x->n_centres, x->size, x->size, &opt, &f->occ);
      if (!st) st = csm_run_cis(x, view, views, valid, &f->occ, &f->cis);
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
  if (!st && x->cancelled) st = csm_fail(CSM_EUSAGE, "cancelled");
  csm_scorer_free(&sc);
  csm_corr_free(corr[0]);
  csm_corr_free(corr[1]);
  free(centre_pos[0]);
  free(centre_pos[1]);
  free(inputs);
  free(rgb);
  free(valid);
  return st;
}

/* A verify pair: the largest face of each image, one sample. */
static csm_status explain_pair(csm_explainer *x, const csm_explain_options *o, const csm_input *in,
                               csm_face_result **faces_out, int *n_out) {
  csm_image img[2] = {{0}, {0}};
  int owned[2] = {0, 0};
  csm_face face[2];
  csm_status st = csm_run_load_image(o, in, 0, &img[0], &owned[0]);
  if (!st) st = csm_run_load_image(o, in, 1, &img[1], &owned[1]);
  if (!st) st = csm_run_largest_face(x->det, &img[0], in->path, &face[0]);
  if (!st) st = csm_run_largest_face(x->det, &img[1], in->path2, &face[1]);
  csm_face_result *f = st ? NULL : calloc(1, sizeof *f);
  if (!st && !f) st = csm_fail(CSM_ENOMEM, "out of memory");
  if (!st) {
    const csm_image *imgs[2] = {&img[0], &img[1]};
    f->face = face[0];
    f->face_index = 1;
    x->pr.face = x->pr.n_faces = 1;
    st = explain_sample(x, o, in, imgs, face, 2, f);
    x->pr.faces_done++;
    if (st) {
      csm_face_result_free(f);
      free(f);
      f = NULL;
    }
  }
  if (owned[0]) csm_image_free(&img[0]);
  if (owned[1]) csm_image_free(&img[1]);
  *faces_out = f;
  *n_out = f ? 1 : 0;
  return st;
}

csm_status csm_explainer_explain(csm_explainer *x, const csm_input *in, csm_face_result **faces_out,
                                 int *n_out) {
  *faces_out = NULL;
  *n_out = 0;
  const csm_explain_options *o = &x->o;
  csm_run_use_threads(x);
  if (in->path2) return explain_pair(x, o, in, faces_out, n_out);
  const char *path = in->path;
  csm_image img = {0};
  int owned = 0;
  csm_status st = csm_run_load_image(o, in, 0, &img, &owned);
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
  csm_face_result *faces = kept ? calloc((size_t)kept, sizeof *faces) : NULL;
  if (!st && kept && !faces) st = csm_fail(CSM_ENOMEM, "out of memory");
  int done = 0;
  const csm_image *imgs[1] = {&img};
  for (int k = 0; !st && k < kept; k++) {
    faces[k].face = found[k];
    faces[k].face_index = k + 1;
    x->pr.face = k + 1, x->pr.n_faces = kept;
    st = explain_sample(x, o, in, imgs, &found[k], 1, &faces[k]);
    done = k + 1;
    x->pr.faces_done++;
  }
  if (st) {
    for (int k = 0; k < done; k++)
      csm_face_result_free(&faces[k]);
    free(faces);
    st = csm_fail_context(st, "%s: ", path);
  } else {
    *faces_out = faces;
    *n_out = kept;
  }
  free(found);
  if (owned) csm_image_free(&img);
  return st;
}
