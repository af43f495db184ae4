// Anchor translation unit so the semfield library always has a source to carry its precompiled header.
#include "semfield/pch_torch.h"
