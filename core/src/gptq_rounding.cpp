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

/// A weight's grid, element by element ([out, in] each): the quantizer's arithmetic for one column at a time.
struct ElementGrid {
    bool uniform = true;
    bool hasMin = false;            ///< k-quant: values are step·q − shift (else step·q)
    double qLo = 0, qHi = 0;        ///< the codes' range
    torch::Tensor step, shift;      ///< uniform: scale and zero point; k-quant: d·sc and dmin·m

    /// Column j's values on the grid, from the column x [out] (the fake quantizer's operations, in its order).
    torch::Tensor round(const torch::Tensor& x, int64_t j) const
    {
        const auto s = step.select(1, j), z = shift.select(1, j);
        if (uniform) {
            const auto q = torch::clamp(roundSte(x / s) + z, qLo, qHi);
            return (q - z) * s;
        }
        const auto nonzero = s != 0;
        auto q = torch::clamp(roundSte(torch::where(nonzero, (x + z) / torch::where(nonzero, s, torch::ones_like(s)),
                                                    torch::zeros_like(x))),
                              qLo, qHi) + 0.0;
        q = torch::where(nonzero, q, torch::zeros_like(q));
        const auto y = s * q;
        return hasMin ? y - z : y;
    }

    ElementGrid permuted(const torch::Tensor& order) const
    {
        ElementGrid g = *this;
        g.step = step.index_select(1, order);
        g.shift = shift.index_select(1, order);
        return g;
    }
};

ElementGrid elementGrid(const torch::Tensor& w, const WeightQuantSpec& spec, const torch::Tensor& upper,
                        const torch::Tensor& lower)
{
    const int64_t out = w.size(0), in = w.size(1);
    ElementGrid g;
    if (spec.grid != WeightGrid::Uniform) {
        const KQuantLayout& L = kquantLayout(spec.grid);
        const KQuantFactors f = kquantFactors(w, spec, upper, lower);
        const int64_t subs = kSuperBlock / L.subBlock;
        // d·sc and dmin·m per sub-block as the decoder forms them (one float32 product each), then per weight.
        const auto eff = f.d.to(torch::kFloat32).repeat_interleave(subs, 1) * f.sc.to(torch::kFloat32);
        const auto off = f.dmin.to(torch::kFloat32).repeat_interleave(subs, 1) * f.m.to(torch::kFloat32);
        g.uniform = false;
        g.hasMin = L.hasMin;
        g.qLo = L.qMin;
        g.qHi = L.qMax;
        g.step = eff.reshape({out, -1}).repeat_interleave(L.subBlock, 1).contiguous();
        g.shift = off.reshape({out, -1}).repeat_interleave(L.subBlock, 1).contiguous();
        return g;
    }
    const QuantParams p = weightQuantParams(w, spec, upper, lower);
    const int64_t groups = p.scale.size(1);
    const int64_t size = groups == 1 ? in : spec.groupSize;
    const auto group = torch::div(torch::arange(in, torch::TensorOptions().dtype(torch::kLong).device(w.device())),
                                  size, "floor");
    g.qLo = 0;
    g.qHi = std::ldexp(1.0, spec.bits) - 1;
    g.step = p.scale.to(torch::kFloat32).index_select(1, group).contiguous();
    g.shift = p.zero.to(torch::kFloat32).index_select(1, group).contiguous();
    return g;
}

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
    const ElementGrid grid = elementGrid(W, spec, upper, lower);

    // Inputs that never carried anything keep a unit diagonal; the rest go most active first.
    auto h = gram.to(W.device(), torch::kFloat32).clone();
    auto diag = h.diagonal();
    diag.masked_fill_(diag == 0, 1.0);
    const auto order = torch::argsort(diag, /*dim=*/0, /*descending=*/true);
    const auto back = torch::argsort(order);
    h = h.index_select(0, order).index_select(1, order);
    W = W.index_select(1, order);
    const ElementGrid g = grid.permuted(order);
    const auto u = inverseFactor(h, what);

    auto Q = torch::empty_like(W);
    for (int64_t i1 = 0; i1 < in; i1 += kGptqColumnBatch) {
        const int64_t n = std::min(kGptqColumnBatch, in - i1);
        auto w1 = W.narrow(1, i1, n).clone();
        auto err = torch::zeros_like(w1);
        const auto u1 = u.narrow(0, i1, n).narrow(1, i1, n);
        for (int64_t i = 0; i < n; ++i) {
            const auto col = w1.select(1, i);
            const auto qcol = g.round(col, i1 + i);
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
