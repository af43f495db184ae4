// The tensors a model expects (name + shape) and their binding to a loaded name -> tensor map, with a report
// of every missing, unexpected and mis-shaped tensor.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "semfield/core/tensor_state.h"

namespace semfield::foundation {

/// A model's weights, declared in the reference implementation's state-dict names. Each declared tensor is a
/// float32 CPU tensor owned here; the model keeps handles to the same storage, so bind() fills the model.
class WeightSet {
 public:
  /// Declares a tensor; returns the (zero-filled) float32 storage the model computes with.
  at::Tensor add(const std::string& name, const std::vector<int64_t>& shape);

  /// Copies every declared tensor from `tensors` (converted to float32). Throws InputError(origin, "", ...)
  /// if any declared name is missing, any name in `tensors` is not declared, any shape differs or a tensor
  /// is not floating point; the message lists the first few of each kind with their shapes, and `model`
  /// (e.g. "sam (ViT embed_dim 768, depth 12)") says which configuration was expected.
  void bind(const TensorMap& tensors, const std::filesystem::path& origin, const std::string& model) const;

  /// Fills every tensor with N(0, stddev^2) from a fixed seed (benchmarks and tests without weights).
  void randomize(uint64_t seed, double stddev) const;

  /// Declared names and tensors, in declaration order.
  const std::vector<std::pair<std::string, at::Tensor>>& entries() const { return m_entries; }
  int64_t numel() const;

 private:
  std::vector<std::pair<std::string, at::Tensor>> m_entries;
};

/// One renaming rule: every occurrence of `from` in a name becomes `to` (rules apply in order).
using NameRule = std::pair<std::string, std::string>;

/// Renames every key by the rules; throws InputError(origin, name, ...) if two names collide afterwards.
TensorMap rename_tensors(const TensorMap& tensors, const std::vector<NameRule>& rules,
                         const std::filesystem::path& origin);

/// Whether any name starts with `prefix`.
bool has_prefix(const TensorMap& tensors, const std::string& prefix);

/// Counts indices i for which some name starts with prefix + i + "." (e.g. "blocks." -> number of blocks).
int64_t count_indexed(const TensorMap& tensors, const std::string& prefix);

/// The tensor under `name`, or InputError(origin, name, "missing tensor ...") naming `purpose`.
const at::Tensor& require_tensor(const TensorMap& tensors, const std::string& name,
                                 const std::filesystem::path& origin, const std::string& purpose);

}  // namespace semfield::foundation
