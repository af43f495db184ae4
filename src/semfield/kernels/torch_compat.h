// What differs between the LibTorch versions semfield builds against: Debian 12's libtorch-dev 1.13 (scripts/setup.sh,
// CI) and PyTorch's own LibTorch 2.x, the CUDA build of scripts/cuda_check.sh (docs/building.md, "A CUDA build").
#pragma once

#include <cstddef>
#include <cstring>

#include <c10/core/Allocator.h>

namespace semfield::kernels::detail {

/// A CPU c10::Allocator on any of those versions. LibTorch 1.13 declares `allocate(size_t) const`; 2.3 and later
/// declare it non-const and add a pure virtual `copy_data`. Both allocate signatures are defined here, so whichever
/// the base declares is overridden (the other is an ordinary overload), and copy_data is a plain memcpy as in
/// LibTorch's own CPU allocator. A subclass implements allocate_bytes.
class PortableCpuAllocator : public c10::Allocator {
 public:
  c10::DataPtr allocate(size_t nbytes) const { return allocate_bytes(nbytes); }
  c10::DataPtr allocate(size_t nbytes) { return allocate_bytes(nbytes); }
  void copy_data(void* dest, const void* src, std::size_t count) const {
    if (count > 0) std::memcpy(dest, src, count);
  }

 protected:
  virtual c10::DataPtr allocate_bytes(size_t nbytes) const = 0;
};

}  // namespace semfield::kernels::detail
