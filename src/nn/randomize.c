/* Cascading weight randomization: stub. */
#include "csm/nn.h"
