// Binding loaded tensors to declared model weights, with full mismatch reports.
#include "semfield/foundation/state_dict_binding.h"

#include <map>
#include <set>

#include <ATen/ATen.h>

#include "semfield/core/error.h"

namespace semfield::foundation {

namespace {

constexpr size_t kListed = 5;  // entries listed per kind of mismatch

std::string shape_text(at::IntArrayRef sizes) {
  std::string out = "[";
  for (size_t i = 0; i < sizes.size(); ++i) out += (i ? ", " : "") + std::to_string(sizes[i]);
  return out + "]";
}

std::string listing(const std::vector<std::string>& items, const std::string& what) {
  std::string out = fmt::format("{} {}: ", items.size(), what);
  for (size_t i = 0; i < items.size() && i < kListed; ++i) out += (i ? "; " : "") + items[i];
  if (items.size() > kListed) out += fmt::format("; ... and {} more", items.size() - kListed);
  return out;
}

}  // namespace

at::Tensor WeightSet::add(const std::string& name, const std::vector<int64_t>& shape) {
  for (const auto& entry : m_entries) SEMFIELD_ASSERT(entry.first != name, "weight declared twice: " + name);
  at::Tensor t = at::zeros(shape, at::kFloat);
  m_entries.emplace_back(name, t);
  return t;
}

void WeightSet::bind(const TensorMap& tensors, const std::filesystem::path& origin, const std::string& model) const {
  std::vector<std::string> missing, unexpected, misshaped;
  std::set<std::string> declared;
  for (const auto& [name, target] : m_entries) {
    declared.insert(name);
    auto it = tensors.find(name);
    if (it == tensors.end()) {
      missing.push_back(name + " " + shape_text(target.sizes()));
    } else if (!it->second.sizes().equals(target.sizes())) {
      misshaped.push_back(fmt::format("{} expected {} got {}", name, shape_text(target.sizes()),
                                      shape_text(it->second.sizes())));
    } else if (!at::isFloatingType(it->second.scalar_type())) {
      misshaped.push_back(fmt::format("{} expected floating point, got {}", name, describe_tensor(it->second)));
    }
  }
  for (const auto& [name, tensor] : tensors)
    if (!declared.count(name)) unexpected.push_back(name + " " + shape_text(tensor.sizes()));
  if (!missing.empty() || !unexpected.empty() || !misshaped.empty()) {
    std::vector<std::string> parts;
    if (!missing.empty()) parts.push_back(listing(missing, "missing"));
    if (!unexpected.empty()) parts.push_back(listing(unexpected, "unexpected"));
    if (!misshaped.empty()) parts.push_back(listing(misshaped, "mis-shaped"));
    std::string message = fmt::format("checkpoint does not match the {} model", model);
    for (const std::string& p : parts) message += " | " + p;
    throw InputError(origin, "", message);
  }
  at::NoGradGuard no_grad;
  for (const auto& [name, target] : m_entries) target.copy_(tensors.at(name).to(at::kFloat));
}

void WeightSet::randomize(uint64_t seed, double stddev) const {
  at::NoGradGuard no_grad;
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  for (const auto& entry : m_entries) entry.second.normal_(0.0, stddev, generator);
}

int64_t WeightSet::numel() const {
  int64_t n = 0;
  for (const auto& entry : m_entries) n += entry.second.numel();
  return n;
}

TensorMap rename_tensors(const TensorMap& tensors, const std::vector<NameRule>& rules,
                         const std::filesystem::path& origin) {
  TensorMap out;
  for (const auto& [name, tensor] : tensors) {
    std::string renamed = name;
    for (const auto& [from, to] : rules) {
      size_t pos = 0;
      while ((pos = renamed.find(from, pos)) != std::string::npos) {
        renamed.replace(pos, from.size(), to);
        pos += to.size();
      }
    }
    if (out.count(renamed)) fail_input(origin, name, "renamed to {}, which another tensor already has", renamed);
    out[renamed] = tensor;
  }
  return out;
}

bool has_prefix(const TensorMap& tensors, const std::string& prefix) {
  auto it = tensors.lower_bound(prefix);
  return it != tensors.end() && it->first.compare(0, prefix.size(), prefix) == 0;
}

int64_t count_indexed(const TensorMap& tensors, const std::string& prefix) {
  std::set<int64_t> indices;
  for (auto it = tensors.lower_bound(prefix); it != tensors.end() && it->first.compare(0, prefix.size(), prefix) == 0;
       ++it) {
    const std::string rest = it->first.substr(prefix.size());
    const size_t dot = rest.find('.');
    if (dot == 0 || dot == std::string::npos) continue;
    const std::string digits = rest.substr(0, dot);
    if (digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string::npos) continue;
    indices.insert(std::stoll(digits));
  }
  // Indices must run 0..n-1; a gap counts as the end (the binding then reports the stray tensors).
  int64_t n = 0;
  while (indices.count(n)) ++n;
  return n;
}

const at::Tensor& require_tensor(const TensorMap& tensors, const std::string& name,
                                 const std::filesystem::path& origin, const std::string& purpose) {
  auto it = tensors.find(name);
  if (it == tensors.end()) fail_input(origin, name, "missing tensor (needed to infer {})", purpose);
  return it->second;
}

}  // namespace semfield::foundation
