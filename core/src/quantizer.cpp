#include "quantizer.h"

#include "fused_quant.h"

#include <cmath>

namespace aq::detail {

namespace {
constexpr double kDeltaMin = 1e-5, kDeltaMax = 1e4;

struct RowParams {
    torch::Tensor delta, zero;
    double qmax;
};

RowParams rowParams(const torch::Tensor& x, int bits, bool symmetric, bool zeroInRange, bool clampDelta,
                    const torch::Tensor& upper, const torch::Tensor& lower)
{
    auto xmax = std::get<0>(x.max(-1, true));
    auto xmin = std::get<0>(x.min(-1, true));
    if (upper.defined()) {
        xmax = torch::sigmoid(upper) * xmax;
        xmin = torch::sigmoid(lower) * xmin;
    }
    if (zeroInRange) {
        xmax = torch::clamp_min(xmax, 0.0);
        xmin = torch::clamp_max(xmin, 0.0);
    }
    RowParams p;
    p.qmax = std::ldexp(1.0, bits) - 1;
    if (symmetric) {
        const double half = std::ldexp(1.0, bits - 1);
        p.delta = torch::max(xmax.abs(), xmin.abs()) / (half - 1);
        p.delta = torch::clamp(p.delta, kDeltaMin, kDeltaMax);
        p.zero = torch::full_like(p.delta, half).detach();
    } else {
        p.delta = (xmax - xmin) / p.qmax;
        if (clampDelta)
            p.delta = torch::clamp(p.delta, kDeltaMin, kDeltaMax);
        // Plain rounding: no gradient reaches the lower bound through the zero point (spec §2.1).
        p.zero = torch::clamp(-xmin / p.delta, -1e4, 1e4).round().detach();
    }
    return p;
}

thread_local bool tReferenceWeightQuant = false;
}  // namespace

ReferenceWeightQuantScope::ReferenceWeightQuantScope() : m_prev(tReferenceWeightQuant) { tReferenceWeightQuant = true; }
ReferenceWeightQuantScope::~ReferenceWeightQuantScope() { tReferenceWeightQuant = m_prev; }

int64_t groupsPerRow(int64_t in, int64_t groupSize)
{
    if (groupSize <= 0 || groupSize >= in)
        return 1;
    return (in + groupSize - 1) / groupSize;
}

torch::Tensor roundSte(const torch::Tensor& x) { return x + (x.round() - x).detach(); }

torch::Tensor referenceFakeQuantRows(const torch::Tensor& x, int bits, bool symmetric, bool zeroInRange,
                                     bool clampDelta, const torch::Tensor& upper, const torch::Tensor& lower)
{
    if (bits >= 16)
        return x;
    const RowParams p = rowParams(x, bits, symmetric, zeroInRange, clampDelta, upper, lower);
    auto q = torch::clamp(roundSte(x / p.delta) + p.zero, 0.0, p.qmax);
    return (q - p.zero) * p.delta;
}

torch::Tensor fakeQuantRows(const torch::Tensor& x, int bits, bool symmetric, bool zeroInRange, bool clampDelta,
                            const torch::Tensor& upper, const torch::Tensor& lower)
{
    if (bits >= 16)
        return x;
    if (fusedQuantEnabled(x))
        return fusedFakeQuantRows(x, bits, symmetric, zeroInRange, clampDelta, upper, lower);
    return referenceFakeQuantRows(x, bits, symmetric, zeroInRange, clampDelta, upper, lower);
}

torch::Tensor fakeQuantWeight(const torch::Tensor& w, const WeightQuantSpec& spec, const torch::Tensor& upper,
                              const torch::Tensor& lower, std::optional<torch::ScalarType> outType)
{
    if (spec.bits >= 16)
        return outType ? w.to(*outType) : w;
    const bool fused = fusedQuantEnabled(w) && !tReferenceWeightQuant;
    const int64_t out = w.size(0), in = w.size(1);
    const int64_t groups = groupsPerRow(in, spec.groupSize);
    auto quant = [&](const torch::Tensor& rows, const torch::Tensor& u, const torch::Tensor& l) {
        if (fused)
            return fusedFakeQuantRows(rows, spec.bits, spec.symmetric, spec.zeroInRange, spec.clampDelta, u, l, outType);
        const RowParams p = rowParams(rows, spec.bits, spec.symmetric, spec.zeroInRange, spec.clampDelta, u, l);
        auto q = torch::clamp(roundSte(rows / p.delta) + p.zero, 0.0, p.qmax);
        auto r = (q - p.zero) * p.delta;
        return outType ? r.to(*outType) : r;
    };
    auto col = [](const torch::Tensor& t, int64_t start, int64_t n) {
        return t.defined() ? t.narrow(1, start, n).reshape({-1, 1}) : torch::Tensor();
    };
    if (groups == 1)
        return quant(w, col(upper, 0, 1), col(lower, 0, 1));
    const int64_t g = spec.groupSize;
    const int64_t full = in / g;
    auto head = w.narrow(1, 0, full * g).reshape({out * full, g});
    auto qHead = quant(head, col(upper, 0, full), col(lower, 0, full)).reshape({out, full * g});
    if (full == groups)
        return qHead;
    auto tail = w.narrow(1, full * g, in - full * g);
    auto qTail = quant(tail, col(upper, full, 1), col(lower, full, 1));
    return torch::cat({qHead, qTail}, 1);
}

QuantParams weightQuantParams(const torch::Tensor& w, const WeightQuantSpec& spec, const torch::Tensor& upper,
                              const torch::Tensor& lower)
{
    torch::NoGradGuard ng;
    const int64_t out = w.size(0), in = w.size(1);
    const int64_t groups = groupsPerRow(in, spec.groupSize);
    const int64_t g = groups == 1 ? in : spec.groupSize;
    std::vector<torch::Tensor> scales, zeros;
    for (int64_t k = 0; k < groups; ++k) {
        const int64_t n = std::min(g, in - k * g);
        auto rows = w.narrow(1, k * g, n);
        auto u = upper.defined() ? upper.narrow(1, k, 1) : torch::Tensor();
        auto l = lower.defined() ? lower.narrow(1, k, 1) : torch::Tensor();
        const RowParams p = rowParams(rows, spec.bits, spec.symmetric, spec.zeroInRange, spec.clampDelta, u, l);
        scales.push_back(p.delta);
        zeros.push_back(p.zero);
    }
    return {torch::cat(scales, 1).view({out, groups}), torch::cat(zeros, 1).view({out, groups})};
}

torch::Tensor fakeQuantActivation(const torch::Tensor& x, int bits)
{
    if (bits >= 16)
        return x;
    return fakeQuantRows(x, bits, false, false, true);
}

}  // namespace aq::detail
