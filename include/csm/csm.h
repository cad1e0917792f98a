/* csm: Canonical Saliency Maps for face models. Includes every layer. */
#ifndef CSM_CSM_H
#define CSM_CSM_H
#include "csm/core.h"
#include "csm/nn.h"
#include "csm/image.h"
#include "csm/report.h"
#include "csm/face.h"
#include "csm/task.h"
#include "csm/explain.h"
#include "csm/eval.h"
#include "csm/run.h"
#define CSM_VERSION "0.1.0"
#endif
