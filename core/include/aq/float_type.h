#pragma once
/// The floating-point types a model is evaluated or exported in: one enum and one name table, so that options carry
/// the type and only the front ends read its words.
#include <optional>
#include <string>

namespace aq {

enum class FloatType { Invalid = 0, Float32, Float16, BFloat16 };

/// "float32", "float16" or "bfloat16": the spelling of --dtype, of config.json's torch_dtype and of affinequant.json.
const char* floatTypeName(FloatType type);
/// Reads the names above and the aliases fp32, fp16 and bf16; nullopt for anything else.
std::optional<FloatType> parseFloatType(const std::string& name);

}  // namespace aq
