// Base64 (RFC 4648, with padding) for images carried inside the viewer's JSON replies.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace semfield {

std::string base64_encode(const uint8_t* data, size_t size);
inline std::string base64_encode(const std::vector<uint8_t>& bytes) { return base64_encode(bytes.data(), bytes.size()); }

}  // namespace semfield
