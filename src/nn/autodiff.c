/* Reverse-mode differentiation over a kept forward run: stub. */
#include "csm/nn.h"
