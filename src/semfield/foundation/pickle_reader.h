// A restricted reader for the pickle streams inside PyTorch checkpoints: builds plain values and tensors,
// never imports or runs anything (unknown classes become opaque objects).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

namespace semfield::foundation {

struct PickleValue;
/// Values are shared like Python objects: the memo and the stack may hold the same dict, and SETITEMS on one
/// is seen through the other.
using PickleRef = std::shared_ptr<PickleValue>;

struct PickleValue {
  enum class Kind { None, Bool, Int, Float, String, Bytes, Tuple, List, Dict, Global, Object, Storage, Tensor };
  Kind kind = Kind::None;
  bool boolean = false;
  int64_t integer = 0;
  double real = 0.0;
  /// String/Bytes: the payload; Global and Object: "module.name" of the class.
  std::string text;
  /// Tuple/List items; Object: its constructor arguments.
  std::vector<PickleRef> items;
  /// Dict entries in insertion order (keys may be any value; state dicts use strings).
  std::vector<std::pair<PickleRef, PickleRef>> entries;
  /// Storage: a 1-D tensor holding the whole storage; Tensor: the rebuilt (possibly strided) view.
  at::Tensor tensor;

  static PickleRef make(Kind kind);
  bool is(Kind k) const { return kind == k; }
};

/// Maps a persistent id (the tuple a checkpoint's pickler stored for a storage) to a Storage value.
using PersistentLoader = std::function<PickleRef(const PickleRef& persistent_id)>;

/// Reads one pickle (protocol 2..5) from `data`. Recognised classes: collections.OrderedDict (a dict),
/// torch._utils._rebuild_tensor_v2 / _rebuild_parameter (tensors), torch.*Storage (dtype tags for the
/// persistent loader). Any other class is kept as an opaque Object. Throws InputError(origin, "", ...) for a
/// truncated stream, an unknown opcode or a malformed structure (naming the byte offset).
PickleRef read_pickle(const uint8_t* data, size_t size, const PersistentLoader& persistent_load,
                      const std::filesystem::path& origin);

/// The dtype named by a storage class such as "torch.FloatStorage"; false if the name is not a storage type.
bool storage_dtype(const std::string& class_name, at::ScalarType* dtype);

}  // namespace semfield::foundation
