#pragma once
// Fused row-wise fake quantization: the same function as fakeQuantRows (quantizer.h), forward and gradients, in one
// pass over the data instead of a dozen elementwise operations. CUDA kernels when the build has them; loops on the
// CPU, parallel over rows (used by the tests as the check of the kernels' arithmetic, and available to the engine).
#include <torch/types.h>

#include <optional>

namespace aq::detail {

/// True when `x` can take the fused path: a CUDA tensor with the kernels compiled in, or any CPU tensor.
/// AQ_FUSED_QUANT=0 in the environment turns the fused path off (for comparisons).
bool fusedQuantEnabled(const torch::Tensor& x);

/// True when the build carries the CUDA kernels.
bool fusedQuantCudaKernels();

/// The CPU loops take float32 rows eight at a time (AVX2) when the processor has it: the same values as the
/// element-by-element loops, only each row's sum for the step's gradient is added in another order. Returns whether
/// the vector loops are in use; setFusedQuantVectorized(false) takes the element-by-element loops (for the tests).
bool fusedQuantVectorized();
void setFusedQuantVectorized(bool on);

/// Fake-quantizes each row of x [R, n] (float32, bfloat16 or float16, contiguous) like fakeQuantRows, with the
/// result in `outType` (the input's dtype when undefined). `upper`/`lower`: raw clipping parameters [R] or [R, 1]
/// (float32), or undefined tensors. Differentiable in x, upper and lower.
torch::Tensor fusedFakeQuantRows(const torch::Tensor& x, int bits, bool symmetric, bool zeroInRange, bool clampDelta,
                                 const torch::Tensor& upper = {}, const torch::Tensor& lower = {},
                                 std::optional<torch::ScalarType> outType = std::nullopt);

}  // namespace aq::detail
