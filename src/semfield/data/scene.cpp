// Scene queries (splits, view lookup) and split rules; loading itself lives in scene_loader.cpp.
#include "semfield/data/scene.h"

#include <cmath>
#include <cstdlib>

#include "semfield/core/error.h"

namespace semfield {

const char* split_name(Split split) {
  switch (split) {
    case Split::Train: return "train";
    case Split::Val: return "val";
    case Split::Test: return "test";
  }
  return "train";
}

Split parse_split(const std::string& name) {
  if (name == "train") return Split::Train;
  if (name == "val") return Split::Val;
  if (name == "test") return Split::Test;
  fail_usage("unknown split '{}' (expected train, val or test)", name);
}

std::vector<const View*> Scene::split(Split which) const {
  std::vector<const View*> out;
  for (const View& view : views)
    if (view.split == which) out.push_back(&view);
  return out;
}

size_t Scene::count(Split which) const {
  size_t n = 0;
  for (const View& view : views) n += view.split == which ? 1 : 0;
  return n;
}

const char* bounds_source_name(BoundsSource source) {
  switch (source) {
    case BoundsSource::File: return "file";
    case BoundsSource::Depth: return "depth";
    case BoundsSource::Alpha: return "alpha";
    case BoundsSource::Background: return "background";
    case BoundsSource::Opaque: return "opaque";
    case BoundsSource::Default: return "default";
    case BoundsSource::Cameras: return "cameras";
  }
  return "default";
}

void Scene::require_labels(const std::string& user) const {
  if (!labels_error.empty()) throw InputError(fmt::format("{} ({} needs the scene's labels.json)", labels_error, user));
}

const View& Scene::find_view(const std::string& name) const {
  for (const View& view : views)
    if (view.name == name) return view;
  // "split:index" addresses the index-th view of a split, in load order.
  const size_t colon = name.find(':');
  if (colon != std::string::npos) {
    const std::string split_text = name.substr(0, colon), index_text = name.substr(colon + 1);
    if (split_text == "train" || split_text == "val" || split_text == "test") {
      char* end = nullptr;
      const long index = index_text.empty() ? -1 : std::strtol(index_text.c_str(), &end, 10);
      const auto members = split(parse_split(split_text));
      if (end && *end == '\0' && index >= 0 && static_cast<size_t>(index) < members.size())
        return *members[static_cast<size_t>(index)];
      fail_usage("no view '{}': the {} split has {} views (valid: {}:0 .. {}:{})", name, split_text,
                 members.size(), split_text, split_text, members.empty() ? 0 : members.size() - 1);
    }
  }
  std::string examples;
  for (size_t i = 0; i < views.size() && i < 3; ++i) examples += views[i].name + ", ";
  if (views.size() > 3) examples += "..., ";
  fail_usage("no view named '{}' (views are named by image stem, e.g. {}or addressed as split:index, "
             "e.g. test:0)",
             name, examples);
}

SplitRule SplitRule::parse(const std::string& text) {
  SplitRule rule;
  const auto number_after = [&](const std::string& prefix) -> std::string {
    return text.substr(prefix.size());
  };
  if (text == "auto") {
    rule.kind = Kind::Auto;
  } else if (text == "files") {
    rule.kind = Kind::Files;
  } else if (text == "all") {
    rule.kind = Kind::All;
  } else if (text.rfind("every:", 0) == 0) {
    const std::string n = number_after("every:");
    char* end = nullptr;
    const long value = n.empty() ? 0 : std::strtol(n.c_str(), &end, 10);
    if (!end || *end != '\0' || value < 2 || value > 1000000)
      fail_usage("split rule '{}': every:N needs an integer N >= 2", text);
    rule.kind = Kind::EveryNth;
    rule.every_nth = static_cast<int>(value);
  } else if (text.rfind("fraction:", 0) == 0) {
    const std::string f = number_after("fraction:");
    char* end = nullptr;
    const double value = f.empty() ? 0.0 : std::strtod(f.c_str(), &end);
    if (!end || *end != '\0' || !std::isfinite(value) || value <= 0.0 || value > 1.0)
      fail_usage("split rule '{}': fraction:F needs 0 < F <= 1", text);
    rule.kind = Kind::Fraction;
    rule.train_fraction = value;
  } else {
    fail_usage("unknown split rule '{}' (expected auto, files, every:N, fraction:F or all)", text);
  }
  return rule;
}

std::vector<Split> split_by_rule(const SplitRule& rule, size_t n_views) {
  std::vector<Split> out(n_views, Split::Train);
  switch (rule.kind) {
    case SplitRule::Kind::All: break;
    case SplitRule::Kind::EveryNth:
      SEMFIELD_ASSERT(rule.every_nth >= 1, "every_nth must be positive");
      for (size_t i = 0; i < n_views; i += static_cast<size_t>(rule.every_nth)) out[i] = Split::Test;
      break;
    case SplitRule::Kind::Fraction: {
      // nerfstudio's rule: ceil(n*f) train views at floor(linspace(0, n-1, n_train)); the rest evaluate.
      if (n_views == 0) break;
      const size_t n_train = std::min(
          n_views, static_cast<size_t>(std::ceil(static_cast<double>(n_views) * rule.train_fraction - 1e-9)));
      std::fill(out.begin(), out.end(), Split::Test);
      for (size_t k = 0; k < n_train; ++k) {
        const double t = n_train == 1 ? 0.0
                                      : static_cast<double>(k) * static_cast<double>(n_views - 1) /
                                            static_cast<double>(n_train - 1);
        out[static_cast<size_t>(std::floor(t + 1e-9))] = Split::Train;
      }
      break;
    }
    case SplitRule::Kind::Auto:
    case SplitRule::Kind::Files:
      SEMFIELD_ASSERT(false, "Auto/Files split rules are resolved by the loader");
  }
  return out;
}

}  // namespace semfield
