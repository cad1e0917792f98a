/* The model zoo: one table saying how each classification task crops, scales
 * and reads its model, so that classify, occlusion and the CAMs all feed a
 * model exactly the same input. Values follow @vladmandic/human 3.3.6
 * (src/face/faceres.ts, src/gear/{emotion,gear,ssrnet-*}.ts): see docs/tasks.md. */
#include <string.h>

#include "csm/task.h"

/* human crops every face the same way before each model resizes it: the
 * BlazeFace box enlarged 1.4x (config face.detector.scale) and squared. */
#define HUMAN_CROP 1.4f
#define WHOLE                                                                                      \
  { 0, 0, 1, 1 }
/* The expression model (FER2013-trained) reads tight faces: on the seven
 * labelled expression photos the squared BlazeFace box (1.0) gets 6/7 right,
 * human's 1.4 crop 3/7 (docs/tasks.md), so csm departs from human here. */
#define TIGHT_CROP 1.0f
/* constants.rgb in human: MATLAB's rgb2gray weights. */
#define HUMAN_GRAY                                                                                 \
  { 0.2989f, 0.5870f, 0.1140f }
#define NO_GRAY                                                                                    \
  { 0, 0, 0 }
/* No per-channel normalization (mean, std): csm_task_info's last fields. */
#define NO_NORM                                                                                    \
  {0, 0, 0}, { 0, 0, 0 }

static const char *const female_male[] = {"female", "male"};
/* gear's gender_output is [male, female] (gear.ts: gender[0] > gender[1] is male). */
static const char *const male_female[] = {"male", "female"};
/* The oarriaga emotion model's order (emotion.ts, gray-input branch). */
static const char *const emotions[] = {"angry", "disgust",  "fear",   "happy",
                                       "sad",   "surprise", "neutral"};
static const char *const races[] = {"white", "black", "asian", "indian", "other"};
/* gear's age buckets (gear.ts comment: Below20, 21-25, ... Above60). */
static const char *const age_buckets[] = {"<=20",  "21-25", "26-30", "31-40",
                                          "41-50", "51-60", ">60"};
static const char *const years[] = {
    "0",  "1",  "2",  "3",  "4",  "5",  "6",  "7",  "8",  "9",  "10", "11", "12", "13", "14",
    "15", "16", "17", "18", "19", "20", "21", "22", "23", "24", "25", "26", "27", "28", "29",
    "30", "31", "32", "33", "34", "35", "36", "37", "38", "39", "40", "41", "42", "43", "44",
    "45", "46", "47", "48", "49", "50", "51", "52", "53", "54", "55", "56", "57", "58", "59",
    "60", "61", "62", "63", "64", "65", "66", "67", "68", "69", "70", "71", "72", "73", "74",
    "75", "76", "77", "78", "79", "80", "81", "82", "83", "84", "85", "86", "87", "88", "89",
    "90", "91", "92", "93", "94", "95", "96", "97", "98", "99"};

/* The paper's 9 head-pose bins, row-major as seen in the image (csm_pose_bins). */
static const char *const pose_bins[] = {"top-left",    "top",     "top-right",
                                        "left",        "frontal", "right",
                                        "bottom-left", "bottom",  "bottom-right"};

static const csm_task_info zoo[] = {
    /* FaceRes: 0..255 RGB, whole crop; gender_pred <= 0.5 is female (faceres.ts). */
    {"gender", "faceres", "gender_pred/Sigmoid", "FaceRes gender head (sigmoid: male)", HUMAN_CROP,
     1, WHOLE, 224, 3, NO_GRAY, 255, 0, CSM_TASK_SIGMOID, 2, female_male, 0, 0, 0, NO_NORM},
    /* SSR-Net gender (models/gender.json): gray in [-1, 1]; data[0] > data[1]
     * is female (ssrnet-gender.ts). */
    {"gender-64", "gender", "Identity", "SSR-Net-style gender, 64x64 gray", HUMAN_CROP, 1, WHOLE,
     64, 1, HUMAN_GRAY, 2, -1, CSM_TASK_PROBS, 2, female_male, 0, 0, 0, NO_NORM},
    /* SSR-Net IMDB gender: one value, IMDB's coding (1 = male). Fed 0..255 RGB
     * like SSR-Net's own demo and ssrnet-age.ts: ssrnet-gender.ts's [-1, 1]
     * saturates it at 1 on every face (0/20 women right). */
    {"gender-ssrnet", "gender-ssrnet-imdb", "Identity", "SSR-Net gender (IMDB), 64x64 RGB",
     HUMAN_CROP, 1, WHOLE, 64, 3, NO_GRAY, 255, 0, CSM_TASK_SIGMOID, 2, female_male, 0, 0, 0,
     NO_NORM},
    /* gear: 0..1 RGB of the crop's top 90% and middle 80% (gear.ts). */
    {"gender-gear",
     "gear",
     "gender_output",
     "GEAR gender head",
     HUMAN_CROP,
     1,
     {0.1f, 0, 0.9f, 0.9f},
     198,
     3,
     NO_GRAY,
     1,
     0,
     CSM_TASK_PROBS,
     2,
     male_female,
     0,
     0,
     0,
     NO_NORM},
    /* The emotion model fed exactly as its own pipeline (human 3.3.6) feeds
     * it: faces found as human finds them, the facemesh face tensor (the
     * 1.4x squared BlazeFace box cut to 256x256, no roll correction;
     * face.ts, facemesh.ts), resized to 64x64 (emotion.ts); gray = rgb .
     * constants.rgb on 0..1, then (g - 0.5) * 2. On the seven labelled
     * expression photos: 4/7 right, 7/7 the same label as human. */
    {"expression", "emotion", "Identity", "facial expression, 7 classes, 64x64 gray (as human)",
     HUMAN_CROP, 0, WHOLE, 64, 1, HUMAN_GRAY, 2, -1, CSM_TASK_PROBS, 7, emotions, 0, 1, 0, NO_NORM},
    /* The same model on the tight squared box, upright: more accurate on
     * the labelled photos (6/7) but 5/7 agreement with human's labels. */
    {"expression-tight", "emotion", "Identity", "facial expression on the tight face box",
     TIGHT_CROP, 1, WHOLE, 64, 1, HUMAN_GRAY, 2, -1, CSM_TASK_PROBS, 7, emotions, 0, 0, 0, NO_NORM},

    /* FaceRes age head: a softmax over years 0..99; csm reports the expected
     * age (human interpolates around the argmax instead). */
    {"age", "faceres", "age_pred/Softmax", "FaceRes age head (100 one-year classes)", HUMAN_CROP, 1,
     WHOLE, 224, 3, NO_GRAY, 255, 0, CSM_TASK_PROBS, 100, years, 1, 0, 0, NO_NORM},
    /* SSR-Net age (ssrnet-age.ts): 0..255 RGB, the output is the age. */
    {"age-ssrnet", "age", "Identity", "SSR-Net age regression (years)", HUMAN_CROP, 1, WHOLE, 64, 3,
     NO_GRAY, 255, 0, CSM_TASK_VALUE, 0, NULL, 0, 0, 0, NO_NORM},
    {"age-gear",
     "gear",
     "age_output",
     "GEAR age buckets",
     HUMAN_CROP,
     1,
     {0.1f, 0, 0.9f, 0.9f},
     198,
     3,
     NO_GRAY,
     1,
     0,
     CSM_TASK_PROBS,
     7,
     age_buckets,
     0,
     0,
     0,
     NO_NORM},
    {"race",
     "gear",
     "race_output",
     "GEAR race head",
     HUMAN_CROP,
     1,
     {0.1f, 0, 0.9f, 0.9f},
     198,
     3,
     NO_GRAY,
     1,
     0,
     CSM_TASK_PROBS,
     5,
     races,
     0,
     0,
     0,
     NO_NORM},
    /* FaceMesh on its own first-pass crop (src/face/mesh.c): the box enlarged
     * 1.4x, squared, turned upright, 192x192 RGB in [0, 1] (mesh.c also
     * rounds the square's corners to whole pixels: under a pixel). The mesh
     * (output_mesh, 468 x 3 crop pixels) gives yaw and pitch
     * (csm_face_pose), read as 9 soft bins (csm_pose_bins). */
    {"pose", "facemesh", "output_mesh", "head pose: 9 yaw/pitch bins from FaceMesh", HUMAN_CROP, 1,
     WHOLE, 192, 3, NO_GRAY, 1, 0, CSM_TASK_POSE, 9, pose_bins, 0, 0, 0, NO_NORM},
    /* FaceRes's 1024-d descriptor (global_pooling/Mean), fed as the gender
     * task (faceres.ts: the same enhance() crop for all three heads). */
    {"embed-faceres", "faceres", "global_pooling/Mean", "FaceRes face embedding (verify, identify)",
     HUMAN_CROP, 1, WHOLE, 224, 3, NO_GRAY, 255, 0, CSM_TASK_EMBEDDING, 0, NULL, 0, 0, 0, NO_NORM},
    /* MobileFace (becauseofAI, models/mobileface.json, 256-d): human's
     * mobilefacenet.ts resizes the 1.4x face tensor to 112x112 but feeds it
     * in [0, 1], while the graph itself maps (x - 127.5) / 128 (its
     * minusscalar0/mulscalar0 constants): 0..1 gives nearly one embedding
     * for every face (11/40 leave-one-out on the labelled crops), 0..255
     * 22/40 (docs/tasks.md). */
    {"embed-mobileface", "mobileface", "batchnorm0/add_1",
     "MobileFace face embedding (verify, identify)", HUMAN_CROP, 1, WHOLE, 112, 3, NO_GRAY, 255, 0,
     CSM_TASK_EMBEDDING, 0, NULL, 0, 0, 0, NO_NORM},
};

int csm_task_count(void) { return (int)(sizeof zoo / sizeof zoo[0]); }

const csm_task_info *csm_task_at(int i) { return i >= 0 && i < csm_task_count() ? &zoo[i] : NULL; }

const char *csm_task_output_name(csm_task_output k) {
  switch (k) {
  case CSM_TASK_PROBS: return "probs";
  case CSM_TASK_SIGMOID: return "sigmoid";
  case CSM_TASK_VALUE: return "value";
  case CSM_TASK_LOGITS: return "logits";
  case CSM_TASK_LOGIT: return "logit";
  case CSM_TASK_POSE: return "pose";
  case CSM_TASK_EMBEDDING: return "embedding";
  }
  return "?";
}

const csm_task_info *csm_task_find(const char *name) {
  for (int i = 0; name && i < csm_task_count(); i++)
    if (!strcmp(zoo[i].name, name)) return &zoo[i];
  return NULL;
}

size_t csm_task_input_numel(const csm_task_info *info) {
  return (size_t)info->size * (size_t)info->size * (size_t)info->channels;
}
