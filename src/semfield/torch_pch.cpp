// Anchor translation unit so the semfield library always has a source to carry its precompiled header.
#include "semfield/torch_pch.h"
