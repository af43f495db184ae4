#include "semfield/core/precision.h"

#include "semfield/core/error.h"

namespace semfield {

Precision parse_precision(const std::string& text) {
  if (text == "fp32" || text == "float32") return Precision::Float32;
  if (text == "bf16" || text == "bfloat16") return Precision::BFloat16;
  fail_usage("unknown precision '{}': expected fp32 or bf16", text);
}

const char* precision_name(Precision precision) { return precision == Precision::BFloat16 ? "bf16" : "fp32"; }

}  // namespace semfield
