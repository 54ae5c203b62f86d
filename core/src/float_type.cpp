// The name table of the floating-point types that options carry.
#include "aq/float_type.h"

namespace aq {

namespace {

struct FloatTypeNames {
    FloatType type;
    const char* name;   ///< as written (--dtype, torch_dtype)
    const char* alias;  ///< also read
};

const FloatTypeNames kFloatTypes[] = {
    {FloatType::Float32, "float32", "fp32"},
    {FloatType::Float16, "float16", "fp16"},
    {FloatType::BFloat16, "bfloat16", "bf16"},
};

}  // namespace

const char* floatTypeName(FloatType type)
{
    for (const auto& t : kFloatTypes)
        if (t.type == type)
            return t.name;
    return "invalid";
}

std::optional<FloatType> parseFloatType(const std::string& name)
{
    for (const auto& t : kFloatTypes)
        if (name == t.name || name == t.alias)
            return t.type;
    return std::nullopt;
}

}  // namespace aq
