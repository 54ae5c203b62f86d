#pragma once
// Error-feedback rounding of a linear's weights onto a fixed grid (GPTQ, Frantar et al. 2022) (internal: exposes torch).
#include "quantizer.h"

#include <torch/types.h>

#include <string>

namespace aq::detail {

/// The sum of x·xᵀ over the tokens that enter a linear: the curvature of its output error, up to a factor.
class InputGram {
public:
    /// Adds tokens x [..., in] (any float dtype; accumulated in float32 on x's device).
    void add(const torch::Tensor& x);
    /// The sum [in, in]; undefined before the first add.
    const torch::Tensor& matrix() const { return m_sum; }
    torch::Tensor& matrix() { return m_sum; }

private:
    torch::Tensor m_sum;
};

/// Fraction of the mean diagonal added to the Gram matrix before it is inverted (GPTQ's dampening).
constexpr double kGptqDamping = 0.01;
/// Columns rounded between two updates of the columns left (the lazy batch of GPTQ).
constexpr int64_t kGptqColumnBatch = 128;

/// Rounds w [out, in] onto the grid that fakeQuantWeight(w, spec, upper, lower) rounds it to (the same scales, zero
/// points or k-quant factors), but column by column, most active input first, each column's rounding error spread
/// over the columns not yet rounded as the inverse of `gram` prescribes, so that the linear's output over the
/// calibration inputs changes least. Every value of the result lies exactly on that grid (the same float arithmetic as
/// the fake quantizer), so exports recover its codes against the factors recorded for w. Float32 on w's device.
/// `what` names the linear in errors.
torch::Tensor gptqRound(const torch::Tensor& w, const torch::Tensor& gram, const WeightQuantSpec& spec,
                        const torch::Tensor& upper, const torch::Tensor& lower, const std::string& what);

}  // namespace aq::detail
