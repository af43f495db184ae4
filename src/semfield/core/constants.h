// Mathematical constants shared by the geometry code (one definition, so unity batches never see two).
#pragma once

namespace semfield {

inline constexpr double kPi = 3.14159265358979323846;
inline constexpr double kDegree = kPi / 180.0;  ///< radians per degree

}  // namespace semfield
