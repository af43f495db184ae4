// The synthetic generator's random numbers: the project's splitmix64, identical on every platform and
// standard library, so a seed gives the same scene everywhere.
#pragma once

#include "semfield/core/splitmix64.h"

namespace semfield::synth {

using SynthRng = SplitMix64;

}  // namespace semfield::synth
