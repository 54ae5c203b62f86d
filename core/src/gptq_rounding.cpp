// Error-feedback rounding of a linear's weights onto the grid its learned clipping fixed (GPTQ's column sweep).
#include "gptq_rounding.h"

#include "aq/error.h"

#include <torch/torch.h>

#include <cmath>

namespace aq::detail {

void InputGram::add(const torch::Tensor& x)
{
    torch::NoGradGuard ng;
    const auto rows = x.reshape({-1, x.size(-1)}).to(torch::kFloat32);
    const auto p = rows.t().matmul(rows);
    if (m_sum.defined())
        m_sum.add_(p);
    else
        m_sum = p;
}

namespace {

/// The upper Cholesky factor of (H + damping)⁻¹ in float32: GPTQ's row-wise error weights. The dampening grows
/// tenfold while the matrix is not positive definite (a few times at most).
torch::Tensor inverseFactor(torch::Tensor h, const std::string& what)
{
    h = h.to(torch::kFloat64);
    const double mean = h.diagonal().mean().item<double>();
    if (!std::isfinite(mean))
        throw Error(ErrorCode::Numerical, "the calibration inputs of " + what +
                                              " are not finite, so their rounding cannot be weighted by them; "
                                              "calibrate without --gptq-rounding");
    const auto eye = torch::eye(h.size(0), h.options());
    double damping = kGptqDamping;
    for (int attempt = 0; attempt < 4; ++attempt, damping *= 10) {
        auto [l, info] = torch::linalg_cholesky_ex(h + eye * (damping * mean));
        if (info.item<int64_t>() != 0)
            continue;
        auto [u, info2] = torch::linalg_cholesky_ex(torch::cholesky_inverse(l), /*upper=*/true);
        if (info2.item<int64_t>() == 0)
            return u.to(torch::kFloat32);
    }
    throw Error(ErrorCode::Numerical, "the calibration inputs of " + what +
                                          " give a matrix that cannot be inverted even with ten times "
                                          "the usual dampening; calibrate without --gptq-rounding");
}

}  // namespace

torch::Tensor gptqRound(const torch::Tensor& w, const torch::Tensor& gram, const WeightQuantSpec& spec,
                        const torch::Tensor& upper, const torch::Tensor& lower, const std::string& what)
{
    torch::NoGradGuard ng;
    const int64_t in = w.size(1);
    if (gram.dim() != 2 || gram.size(0) != in || gram.size(1) != in)
        throw Error(ErrorCode::Internal, "the input statistics of " + what + " do not match its " +
                                             std::to_string(in) + " inputs");
    auto W = w.to(torch::kFloat32).clone();
    const FixedWeightGrid grid(W, spec, upper, lower);

    // Inputs that never carried anything keep a unit diagonal; the rest go most active first.
    auto h = gram.to(W.device(), torch::kFloat32).clone();
    auto diag = h.diagonal();
    diag.masked_fill_(diag == 0, 1.0);
    const auto order = torch::argsort(diag, /*dim=*/0, /*descending=*/true);
    const auto back = torch::argsort(order);
    h = h.index_select(0, order).index_select(1, order);
    W = W.index_select(1, order);
    const FixedWeightGrid g = grid.permuted(order);
    const auto u = inverseFactor(h, what);

    auto Q = torch::empty_like(W);
    for (int64_t i1 = 0; i1 < in; i1 += kGptqColumnBatch) {
        const int64_t n = std::min(kGptqColumnBatch, in - i1);
        auto w1 = W.narrow(1, i1, n).clone();
        auto err = torch::zeros_like(w1);
        const auto u1 = u.narrow(0, i1, n).narrow(1, i1, n);
        for (int64_t i = 0; i < n; ++i) {
            const auto col = w1.select(1, i);
            const auto qcol = g.roundColumn(col, i1 + i);
            Q.select(1, i1 + i).copy_(qcol);
            const auto e = (col - qcol) / u1.select(0, i).select(0, i);
            if (i + 1 < n)
                w1.narrow(1, i + 1, n - i - 1).sub_(e.unsqueeze(1) * u1.select(0, i).narrow(0, i + 1, n - i - 1).unsqueeze(0));
            err.select(1, i).copy_(e);
        }
        if (i1 + n < in)
            W.narrow(1, i1 + n, in - i1 - n).sub_(err.matmul(u.narrow(0, i1, n).narrow(1, i1 + n, in - i1 - n)));
    }
    return Q.index_select(1, back);
}

}  // namespace aq::detail
