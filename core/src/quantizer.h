#pragma once
// Uniform fake quantization (spec §2) with straight-through rounding (internal: exposes torch).
#include <torch/types.h>

#include <optional>

namespace aq::detail {

/// How one weight tensor [out, in] is quantized.
struct WeightQuantSpec {
    int bits = 4;
    int64_t groupSize = 0;       ///< 0 or >= in: per output channel
    bool symmetric = false;      ///< zero point 2^(b-1), step max|x| / (2^(b-1) - 1)
    bool zeroInRange = false;    ///< extend [min, max] to include 0
    bool clampDelta = true;      ///< clamp the step to [1e-5, 1e4] (the reference forgets to, spec §2.1)
};

/// Number of quantization groups per output row for an input size: ceil(in / g) (1 for per-channel).
int64_t groupsPerRow(int64_t in, int64_t groupSize);

/// round(x) in the forward pass, identity gradient.
torch::Tensor roundSte(const torch::Tensor& x);

/// Fake-quantizes each row of x [R, n] (min/max over the row). Takes the fused path (fused_quant.h: CUDA kernels when
/// the build has them, row-parallel loops on the CPU), else the reference sequence of tensor operations. `upper`/
/// `lower` are the raw LWC parameters [R, 1] (sigmoid-scaled extremes) or undefined tensors for plain min/max.
/// Differentiable as spec §2.1 describes.
torch::Tensor fakeQuantRows(const torch::Tensor& x, int bits, bool symmetric, bool zeroInRange, bool clampDelta,
                            const torch::Tensor& upper = {}, const torch::Tensor& lower = {});

/// The reference sequence of tensor operations of fakeQuantRows, on any device (what the fused paths are checked
/// against, and what runs where they are off).
torch::Tensor referenceFakeQuantRows(const torch::Tensor& x, int bits, bool symmetric, bool zeroInRange,
                                     bool clampDelta, const torch::Tensor& upper = {}, const torch::Tensor& lower = {});

/// Fake-quantizes a weight [out, in] per channel or per group. A partial last group (in % g != 0) is quantized on its
/// own. `upper`/`lower`: LWC raw parameters [out, groupsPerRow(in, g)], or undefined. bits >= 16 returns w.
/// `outType`: dtype of the result (default: w's); on CUDA the fused kernels write it directly.
torch::Tensor fakeQuantWeight(const torch::Tensor& w, const WeightQuantSpec& spec, const torch::Tensor& upper = {},
                              const torch::Tensor& lower = {}, std::optional<torch::ScalarType> outType = std::nullopt);

/// Per-token dynamic asymmetric activation quantization over the last dimension. bits >= 16 returns x unchanged.
torch::Tensor fakeQuantActivation(const torch::Tensor& x, int bits);

/// While alive on this thread, fakeQuantWeight takes the reference tensor operations on every device. The merge
/// uses it so that the merged weights and weightQuantParams' scales and zero points come from the same arithmetic:
/// the fused CUDA kernels may round a zero point that lies within a rounding error of .5 the other way, and the
/// exports would then find codes outside the grid.
class ReferenceWeightQuantScope {
public:
    ReferenceWeightQuantScope();
    ~ReferenceWeightQuantScope();
    ReferenceWeightQuantScope(const ReferenceWeightQuantScope&) = delete;
    ReferenceWeightQuantScope& operator=(const ReferenceWeightQuantScope&) = delete;

private:
    bool m_prev;
};

/// The scale and zero point of each row/group of a weight after LWC (for reports and exports): [out, groups].
struct QuantParams {
    torch::Tensor scale;
    torch::Tensor zero;
};
QuantParams weightQuantParams(const torch::Tensor& w, const WeightQuantSpec& spec, const torch::Tensor& upper = {},
                              const torch::Tensor& lower = {});

}  // namespace aq::detail
