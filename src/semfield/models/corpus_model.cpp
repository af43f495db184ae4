// CorpusModel's default initialisation from another model file.
#include "semfield/models/corpus_model.h"

#include "semfield/core/error.h"

namespace semfield {

void CorpusModel::initialise_from(const std::string& type, const nlohmann::json& config, const TensorMap& weights,
                                  const std::string& origin) {
  if (type != this->type())
    fail_input(origin, "", "a model of type {} cannot initialise one of type {}", type, this->type());
  if (config != config_json())
    fail_input(origin, "", "its config differs from the one being trained: {} vs {}", config.dump(),
               config_json().dump());
  load_state(weights, origin);
}

}  // namespace semfield
