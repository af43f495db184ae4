// A 3-vector as a JSON array [x, y, z] (scene files, summaries), for nlohmann::json or ordered_json.
#pragma once

#include <Eigen/Core>
#include <nlohmann/json.hpp>

namespace semfield {

template <class Json = nlohmann::json>
Json vec_json(const Eigen::Vector3d& v) {
  return Json::array({v.x(), v.y(), v.z()});
}

}  // namespace semfield
