#pragma once
// Integer packing of fake-quantized linears for the AWQ, GPTQ and compressed-tensors layouts (internal: exposes torch).
//
// The run stores dequantized weights W_hat = (q - z) * s and the scales/zero points [out, groups] they came from; the
// integer codes are recovered exactly from those, checked, and packed. verify.cpp decodes with its own code.
#include <torch/types.h>

#include <string>
#include <utility>
#include <vector>

namespace aq::detail {

/// One quantized linear in integer form.
struct IntegerLinear {
    std::string name;        ///< "model.layers.0.self_attn.q_proj"
    int bits = 4;
    int64_t groupSize = 0;   ///< input columns per group (== in_features for per-channel)
    torch::Tensor codes;     ///< int64 [out, in], in [0, 2^bits - 1]
    torch::Tensor zeros;     ///< int64 [out, groups], in [0, 2^bits - 1]
    torch::Tensor scales;    ///< float32 [out, groups], finite and positive
    int64_t out() const { return codes.size(0); }
    int64_t in() const { return codes.size(1); }
    int64_t groups() const { return scales.size(1); }
};

/// Recovers the codes round(W_hat / s + z) of one layer and checks that they are whole numbers within tolerance, that
/// codes (and, with `zeroInRange`, zero points) lie in [0, 2^bits - 1], and that scales are finite and positive. Throws
/// BadInput naming the layer, the row and the group otherwise. Formats that store an offset instead of an integer zero
/// point (GGUF's Q4_1/Q5_1) hold any whole zero point and pass `zeroInRange` false.
IntegerLinear recoverIntegers(const std::string& name, const torch::Tensor& weight, const torch::Tensor& scales,
                              const torch::Tensor& zeros, int bits, int64_t configGroupSize, bool zeroInRange = true);

/// Repeats per-group parameters so that each covers `groupSize` columns (per-channel layers written with groups).
IntegerLinear regroup(const IntegerLinear& layer, int64_t groupSize);

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

/// AutoAWQ GEMM: qweight int32 [in, out/8], qzeros int32 [in/g, out/8] (nibble order 0,2,4,6,1,3,5,7, no offset),
/// scales F16 [in/g, out]. Needs 4 bits, out % 8 == 0 and in % g == 0 (checked, throws BadInput naming the layer).
NamedTensors packAwq(const IntegerLinear& layer);

/// GPTQ: qweight int32 [in*b/32, out], qzeros int32 [groups, out*b/32] (v1 stores zero - 1), scales F16 [groups, out],
/// g_idx int32 [in]. Bits 2, 4 or 8. With `v1`, a zero point of 0 cannot be stored and is refused.
NamedTensors packGptq(const IntegerLinear& layer, bool v1);

/// compressed-tensors pack-quantized: weight_packed int32 [out, ceil(in/(32/b))], weight_scale [out, groups] in
/// `scaleType`, weight_zero_point int32 [ceil(out/(32/b)), groups] unless symmetric, weight_shape int64 [2].
NamedTensors packCompressedTensors(const IntegerLinear& layer, bool symmetric, torch::ScalarType scaleType);

}  // namespace aq::detail
