// `semfield models`: the shipped models (the repository's models/ folder, or $SEMFIELD_MODELS).
#include "commands.h"
#include "semfield/models/model_file.h"
#include "semfield/models/registry.h"

namespace semfield::cli {

namespace {

struct ModelsArgs {
  bool json = false;
  std::string dir;
};

std::string trained_on(const ModelFile& m) {
  const auto it = m.info.find("trained_on");
  if (it == m.info.end()) return "";
  if (it->is_string()) return it->get<std::string>();
  const nlohmann::json& t = *it;
  std::string text = t.value("description", "");
  if (text.empty() && t.contains("train_scenes"))
    text = fmt::format("{} scenes", t["train_scenes"].dump());
  return text;
}

void run_models(const ModelsArgs& args) {
  const std::filesystem::path dir = args.dir.empty() ? default_models_dir() : std::filesystem::path(args.dir);
  const std::vector<ModelFile> models = list_models(dir);
  if (args.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& m : models) {
      nlohmann::json entry = {{"name", m.name},
                              {"type", m.type},
                              {"path", std::filesystem::absolute(m.path).lexically_normal().string()},
                              {"trained_on", m.info.value("trained_on", nlohmann::json())},
                              {"info", m.info}};
      // Models trained on one object category (FeatureNeRF) name it.
      if (m.config.is_object() && m.config.contains("category") && m.config["category"].is_string() &&
          !m.config["category"].get<std::string>().empty())
        entry["category"] = m.config["category"];
      out.push_back(entry);
    }
    std::printf("%s\n", out.dump(2).c_str());
    return;
  }
  if (models.empty()) {
    std::printf("no models in %s\n", dir.c_str());
    return;
  }
  std::printf("%-24s %-12s %s\n", "name", "type", "trained on");
  for (const auto& m : models) {
    std::string on = trained_on(m);
    if (m.config.is_object() && m.config.contains("category") && m.config["category"].is_string() &&
        !m.config["category"].get<std::string>().empty())
      on = "category " + m.config["category"].get<std::string>() + (on.empty() ? "" : ": " + on);
    std::printf("%-24s %-12s %s\n", m.name.c_str(), m.type.c_str(), on.c_str());
  }
  std::printf("(%s; model types: ", dir.c_str());
  bool first = true;
  for (const auto& t : model_types()) {
    std::printf("%s%s", first ? "" : ", ", t.key.c_str());
    first = false;
  }
  std::printf(")\n");
}

}  // namespace

std::filesystem::path default_models_dir() { return models_dir(SEMFIELD_MODELS_DIR); }

void add_models_command(CLI::App& app) {
  auto args = std::make_shared<ModelsArgs>();
  CLI::App* cmd = app.add_subcommand("models", "List the shipped models (name, type, what they were trained on)");
  cmd->add_flag("--json", args->json, "Print JSON (name, type, path, trained_on, info)");
  cmd->add_option("--dir", args->dir, "Models folder (default: $SEMFIELD_MODELS or the repository's models/)");
  cmd->callback([args] { run_models(*args); });
}

}  // namespace semfield::cli
