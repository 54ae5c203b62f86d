#pragma once
// Finiteness checks for tensors where they enter the program (internal: exposes torch). A NaN or an infinity in a
// checkpoint or in a block's activations is bad input to report, naming the tensor, never something to quantize.
#include <torch/types.h>

#include <string>

namespace aq::detail {

/// Whether every element of `t` is finite (always true for integer and boolean tensors).
bool allFinite(const torch::Tensor& t);

/// "64 non-finite values (NaN or infinity) out of 524288, the first at [5, 0]" for a tensor with some.
std::string describeNonFinite(const torch::Tensor& t);

/// Throws BadInput when weight `name` read from `file` holds a NaN or an infinity.
void requireFiniteWeight(const torch::Tensor& t, const std::string& name, const std::string& file);

}  // namespace aq::detail
