// Reading weight files: format detection, the torch.save zip layout, TorchScript archives and safetensors.
#include "semfield/foundation/torch_checkpoint.h"

#include <cstring>
#include <fstream>
#include <map>

#include <ATen/ATen.h>
#include <caffe2/serialize/inline_container.h>
#include <torch/script.h>

#include "semfield/core/error.h"
#include "semfield/foundation/pickle_reader.h"
#include "semfield/io/array_torch.h"
#include "semfield/io/safetensors.h"
#include "semfield/core/strings.h"

namespace semfield::foundation {

namespace fs = std::filesystem;

namespace {

using Kind = PickleValue::Kind;

std::string first_bytes(const fs::path& path, size_t n) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail_input(path, "", "cannot open weight file");
  std::string bytes(n, '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(n));
  bytes.resize(static_cast<size_t>(in.gcount()));
  return bytes;
}


// Adds every tensor reachable through nested dicts under "prefix.key" names.
void flatten(const PickleRef& dict, const std::string& prefix, TensorMap& out, const fs::path& origin) {
  for (const auto& [key, value] : dict->entries) {
    if (!key->is(Kind::String)) continue;
    const std::string name = prefix.empty() ? key->text : prefix + "." + key->text;
    if (value->is(Kind::Tensor)) {
      if (out.count(name)) fail_input(origin, name, "tensor name appears twice");
      out[name] = value->tensor.contiguous();
    } else if (value->is(Kind::Dict)) {
      flatten(value, name, out, origin);
    }
  }
}

bool holds_tensors(const PickleRef& dict) {
  for (const auto& entry : dict->entries)
    if (entry.second->is(Kind::Tensor)) return true;
  return false;
}

TensorMap state_dict_from_pickle(const PickleRef& root, const fs::path& origin) {
  if (!root->is(Kind::Dict)) fail_input(origin, "", "the checkpoint does not hold a dict of tensors (a pickled module?)");
  PickleRef source = root;
  if (!holds_tensors(root)) {
    for (const char* wrapper : {"state_dict", "model", "module", "teacher", "net"}) {
      for (const auto& [key, value] : root->entries)
        if (key->is(Kind::String) && key->text == wrapper && value->is(Kind::Dict)) {
          source = value;
          break;
        }
      if (source != root) break;
    }
  }
  TensorMap out;
  flatten(source, "", out, origin);
  return out;
}

TensorMap read_torch_zip(const fs::path& path) {
  std::unique_ptr<caffe2::serialize::PyTorchStreamReader> reader;
  try {
    reader = std::make_unique<caffe2::serialize::PyTorchStreamReader>(path.string());
  } catch (const c10::Error& e) {
    fail_input(path, "", "not a readable PyTorch zip checkpoint: {}", e.what_without_backtrace());
  }
  if (!reader->hasRecord("data.pkl")) fail_input(path, "", "zip archive without data.pkl: not a torch.save checkpoint");
  std::map<std::string, PickleRef> storages;
  const PersistentLoader load_storage = [&](const PickleRef& pid) -> PickleRef {
    // ('storage', storage_type, key, location, numel)
    if (!pid->is(Kind::Tuple) || pid->items.size() < 5 || !pid->items[0]->is(Kind::String) ||
        pid->items[0]->text != "storage" || !pid->items[1]->is(Kind::Global) || !pid->items[2]->is(Kind::String) ||
        !pid->items[4]->is(Kind::Int))
      fail_input(path, "data.pkl", "unrecognised persistent id (not a tensor storage)");
    const std::string key = pid->items[2]->text;
    auto it = storages.find(key);
    if (it != storages.end()) return it->second;
    at::ScalarType dtype;
    if (!storage_dtype(pid->items[1]->text, &dtype))
      fail_input(path, "data.pkl", "unsupported storage type {}", pid->items[1]->text);
    const int64_t numel = pid->items[4]->integer;
    const std::string record = "data/" + key;
    if (numel < 0 || !reader->hasRecord(record)) fail_input(path, record, "storage record missing");
    auto [data, size] = reader->getRecord(record);
    at::Tensor storage = at::empty({numel}, at::TensorOptions().dtype(dtype));
    const size_t bytes = static_cast<size_t>(numel) * storage.element_size();
    if (size < bytes) fail_input(path, record, "storage holds {} bytes, {} expected", size, bytes);
    if (bytes > 0) std::memcpy(storage.data_ptr(), data.get(), bytes);
    PickleRef value = PickleValue::make(Kind::Storage);
    value->tensor = storage;
    storages[key] = value;
    return value;
  };
  auto [pickle, size] = reader->getRecord("data.pkl");
  const PickleRef root = read_pickle(static_cast<const uint8_t*>(pickle.get()), size, load_storage, path);
  return state_dict_from_pickle(root, path);
}

TensorMap read_torchscript(const fs::path& path) {
  torch::jit::Module module;
  try {
    module = torch::jit::load(path.string(), at::kCPU);
  } catch (const c10::Error& e) {
    fail_input(path, "", "cannot load TorchScript archive: {}", e.what_without_backtrace());
  }
  TensorMap out;
  for (const auto& p : module.named_parameters(true)) out[p.name] = p.value.detach().contiguous();
  for (const auto& b : module.named_buffers(true)) out[b.name] = b.value.detach().contiguous();
  return out;
}

TensorMap read_safetensors_file(const fs::path& path) {
  SafetensorsFile file = read_safetensors(path);
  TensorMap out;
  for (auto& [name, array] : file.tensors) out[name] = array_to_tensor(array);
  return out;
}

bool is_torchscript_zip(const fs::path& path) {
  try {
    caffe2::serialize::PyTorchStreamReader reader(path.string());
    return reader.hasRecord("constants.pkl");
  } catch (const c10::Error&) {
    return false;
  }
}

}  // namespace

WeightFormat detect_weight_format(const fs::path& path) {
  if (!fs::is_regular_file(path)) fail_input(path, "", "weight file not found");
  const std::string head = first_bytes(path, 16);
  if (starts_with(head, "PK\x03\x04")) return is_torchscript_zip(path) ? WeightFormat::TorchScript : WeightFormat::TorchZip;
  if (head.size() >= 9 && head[8] == '{') return WeightFormat::Safetensors;
  if (starts_with(head, "\x80\x02\x8a\x0a"))
    fail_input(path, "", "legacy (pre-1.6) torch.save format is not supported: re-save it with torch.save in PyTorch >= 1.6");
  if (starts_with(head, "\x89PNG")) fail_input(path, "", "is a PNG image, not a weight file");
  if (starts_with(head, "\xff\xd8\xff")) fail_input(path, "", "is a JPEG image, not a weight file");
  if (starts_with(head, "\x93NUMPY")) fail_input(path, "", "is a NumPy .npy array, not a weight file");
  if (!head.empty() && (head[0] == '{' || head[0] == '['))
    fail_input(path, "", "is a JSON file, not a weight file (expected .safetensors, .pth, .pt or .bin)");
  if (starts_with(head, "\x1f\x8b")) fail_input(path, "", "is a gzip file, not a weight file");
  fail_input(path, "", "unrecognised weight file format (expected safetensors, a torch.save zip checkpoint or a "
                       "TorchScript archive)");
}

TensorMap load_weight_file(const fs::path& path) {
  TensorMap tensors;
  switch (detect_weight_format(path)) {
    case WeightFormat::Safetensors: tensors = read_safetensors_file(path); break;
    case WeightFormat::TorchZip: tensors = read_torch_zip(path); break;
    case WeightFormat::TorchScript: tensors = read_torchscript(path); break;
  }
  if (tensors.empty()) fail_input(path, "", "holds no tensors");
  for (const char* prefix : {"module.", "_orig_mod."}) tensors = strip_shared_prefix(std::move(tensors), prefix);
  return tensors;
}

TensorMap strip_shared_prefix(TensorMap tensors, const std::string& prefix) {
  if (tensors.empty()) return tensors;
  for (const auto& entry : tensors)
    if (!starts_with(entry.first, prefix)) return tensors;
  TensorMap out;
  for (auto& [name, tensor] : tensors) out[name.substr(prefix.size())] = std::move(tensor);
  return out;
}

}  // namespace semfield::foundation
