#include "quantizer.h"

#include "aq/error.h"
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

/// The uniform grid's values of x: clamp(round(x / delta) + zero, 0, qmax) − zero, times delta (straight-through).
torch::Tensor uniformValues(const torch::Tensor& x, const torch::Tensor& delta, const torch::Tensor& zero, double qmax)
{
    const auto q = torch::clamp(roundSte(x / delta) + zero, 0.0, qmax);
    return (q - zero) * delta;
}

thread_local bool tReferenceWeightQuant = false;

// ---- k-quant grids ----

/// x rounded to binary16 in the forward pass, identity gradient (the super-block factors a GGUF file stores).
torch::Tensor halfSte(const torch::Tensor& x) { return x + (x.to(torch::kHalf).to(torch::kFloat32) - x).detach(); }

/// a / b where b is not zero, else 0, with finite gradients everywhere.
torch::Tensor safeDivide(const torch::Tensor& a, const torch::Tensor& b)
{
    const auto nonzero = b != 0;
    return torch::where(nonzero, a / torch::where(nonzero, b, torch::ones_like(b)), torch::zeros_like(a));
}

/// One weight matrix cut into super-blocks and sub-blocks: [out, in/256, subBlocks, subBlock] in float32, and the
/// LWC parameters [out, in/subBlock] as [out, in/256, subBlocks] (or undefined).
struct KBlocks {
    torch::Tensor x, upper, lower;
};

KBlocks kblocks(const torch::Tensor& w, const KQuantLayout& L, const torch::Tensor& upper, const torch::Tensor& lower)
{
    const int64_t out = w.size(0), in = w.size(1);
    if (in % kSuperBlock != 0)
        badInput("a k-quant grid needs rows of whole 256-weight super-blocks, got " + std::to_string(in) + " inputs");
    const int64_t supers = in / kSuperBlock, subs = kSuperBlock / L.subBlock;
    KBlocks b;
    b.x = w.to(torch::kFloat32).reshape({out, supers, subs, L.subBlock});
    if (upper.defined()) {
        b.upper = upper.to(torch::kFloat32).reshape({out, supers, subs});
        b.lower = lower.to(torch::kFloat32).reshape({out, supers, subs});
    }
    return b;
}

/// The factors of every sub-block ([out, S, n]; d, dmin [out, S, 1]) from the clipped extremes: the sub-block's own
/// scale (and minimum) are rounded to integers against the super-block's largest, and the super-block factors to
/// binary16, all with straight-through gradients, so that LWC learns the grid that is stored.
struct KGrid {
    torch::Tensor d, dmin, sc, m, eff, off;  ///< eff = d·sc, off = dmin·m
};

KGrid kgrid(const KBlocks& b, const KQuantLayout& L)
{
    auto xmax = std::get<0>(b.x.max(-1));
    auto xmin = std::get<0>(b.x.min(-1));
    if (b.upper.defined()) {
        xmax = torch::sigmoid(b.upper) * xmax;
        xmin = torch::sigmoid(b.lower) * xmin;
    }
    KGrid g;
    if (L.hasMin) {
        // Codes 0..qMax above a minimum that is never positive (0 always lies on the grid's range).
        xmax = torch::clamp_min(xmax, 0.0);
        xmin = torch::clamp_max(xmin, 0.0);
        const auto scale = (xmax - xmin) / static_cast<double>(L.qMax);
        const auto minimum = -xmin;
        g.d = halfSte(std::get<0>(scale.max(-1, true)) / static_cast<double>(L.scMax));
        g.dmin = halfSte(std::get<0>(minimum.max(-1, true)) / static_cast<double>(L.mMax));
        // "+ 0.0": integers have no negative zero (an all-zero sub-block's scale is +0 in the file).
        g.sc = torch::clamp(roundSte(safeDivide(scale, g.d)), 0.0, static_cast<double>(L.scMax)) + 0.0;
        g.m = torch::clamp(roundSte(safeDivide(minimum, g.dmin)), 0.0, static_cast<double>(L.mMax)) + 0.0;
        g.off = g.dmin * g.m;
    } else {
        // Signed codes qMin..qMax: the extreme of larger magnitude takes the code qMin (the scale's sign follows it).
        const auto negative = -xmin, positive = xmax;
        const auto scale =
            torch::where(negative >= positive, negative, -positive) / static_cast<double>(-L.qMin);
        g.d = halfSte(std::get<0>(scale.abs().max(-1, true)) / static_cast<double>(L.scMax));
        g.sc = torch::clamp(roundSte(safeDivide(scale, g.d)), static_cast<double>(L.scMin),
                            static_cast<double>(L.scMax)) + 0.0;
        g.dmin = torch::zeros_like(g.d);
        g.m = torch::zeros_like(g.sc);
        g.off = torch::zeros_like(g.sc);
    }
    g.eff = g.d * g.sc;
    return g;
}

/// The codes q of x on the grid (the formula's range: qMin..qMax), with straight-through rounding.
torch::Tensor kcodes(const torch::Tensor& x, const KGrid& g, const KQuantLayout& L)
{
    const auto eff = g.eff.unsqueeze(-1), off = g.off.unsqueeze(-1);
    const auto q = torch::clamp(roundSte(safeDivide(x + off, eff)), static_cast<double>(L.qMin),
                                static_cast<double>(L.qMax)) + 0.0;
    return torch::where(eff != 0, q, torch::zeros_like(q));
}

/// llama.cpp's decoding: (d·sc)·q − dmin·m in float32, one rounding per operation.
torch::Tensor kvalues(const torch::Tensor& q, const KGrid& g, bool hasMin)
{
    const auto y = g.eff.unsqueeze(-1) * q;
    return hasMin ? y - g.off.unsqueeze(-1) : y;
}

torch::Tensor kquantFakeQuantWeight(const torch::Tensor& w, const WeightQuantSpec& spec, const torch::Tensor& upper,
                                    const torch::Tensor& lower, std::optional<torch::ScalarType> outType)
{
    const KQuantLayout& L = kquantLayout(spec.grid);
    const KBlocks b = kblocks(w, L, upper, lower);
    const KGrid g = kgrid(b, L);
    const auto y = kvalues(kcodes(b.x, g, L), g, L.hasMin).reshape(w.sizes());
    return y.to(outType ? *outType : w.scalar_type());
}
}  // namespace

const KQuantLayout& kquantLayout(WeightGrid grid)
{
    static const KQuantLayout q4k{4, 32, true, 0, 15, 0, 63, 63};
    static const KQuantLayout q5k{5, 32, true, 0, 31, 0, 63, 63};
    static const KQuantLayout q6k{6, 16, false, -32, 31, -128, 127, 0};
    static const KQuantLayout q3k{3, 16, false, -4, 3, -32, 31, 0};
    static const KQuantLayout q2k{2, 16, true, 0, 3, 0, 15, 15};
    switch (grid) {
    case WeightGrid::Q4_K: return q4k;
    case WeightGrid::Q5_K: return q5k;
    case WeightGrid::Q6_K: return q6k;
    case WeightGrid::Q3_K: return q3k;
    case WeightGrid::Q2_K: return q2k;
    case WeightGrid::Uniform:
    case WeightGrid::Q4_K_M:
    case WeightGrid::Q3_K_M:
    case WeightGrid::Q2_K_M: break;
    }
    throw Error(ErrorCode::Internal, std::string("kquantLayout: ") + weightGridName(grid) +
                                         " has no layout of its own (a mixed grid's linears each have one)");
}

KQuantFactors kquantFactors(const torch::Tensor& w, const WeightQuantSpec& spec, const torch::Tensor& upper,
                            const torch::Tensor& lower)
{
    torch::NoGradGuard ng;
    const KQuantLayout& L = kquantLayout(spec.grid);
    const KBlocks b = kblocks(w, L, upper, lower);
    const KGrid g = kgrid(b, L);
    const int64_t out = w.size(0);
    return {g.d.reshape({out, -1}), g.dmin.reshape({out, -1}), g.sc.reshape({out, -1}), g.m.reshape({out, -1})};
}

namespace {
/// The factors as kgrid() makes them, back in block form for a weight [out, in].
KGrid kgridOf(const KQuantFactors& f, const KQuantLayout& L, int64_t out, int64_t in)
{
    const int64_t supers = in / kSuperBlock, subs = kSuperBlock / L.subBlock;
    KGrid g;
    g.d = f.d.to(torch::kFloat32).reshape({out, supers, 1});
    g.dmin = f.dmin.to(torch::kFloat32).reshape({out, supers, 1});
    g.sc = f.sc.to(torch::kFloat32).reshape({out, supers, subs});
    g.m = f.m.to(torch::kFloat32).reshape({out, supers, subs});
    g.eff = g.d * g.sc;
    g.off = g.dmin * g.m;
    return g;
}
}  // namespace

torch::Tensor kquantCodes(const torch::Tensor& w, WeightGrid grid, const KQuantFactors& f)
{
    torch::NoGradGuard ng;
    const KQuantLayout& L = kquantLayout(grid);
    const KBlocks b = kblocks(w, L, {}, {});
    const KGrid g = kgridOf(f, L, w.size(0), w.size(1));
    return (kcodes(b.x, g, L) + L.codeOffset()).reshape(w.sizes());
}

torch::Tensor kquantValues(const torch::Tensor& codes, WeightGrid grid, const KQuantFactors& f)
{
    torch::NoGradGuard ng;
    const KQuantLayout& L = kquantLayout(grid);
    const KBlocks b = kblocks(codes, L, {}, {});
    const KGrid g = kgridOf(f, L, codes.size(0), codes.size(1));
    return kvalues(b.x - L.codeOffset(), g, L.hasMin).reshape(codes.sizes());
}

WeightQuantSpec kquantSpec(WeightGrid grid)
{
    const KQuantLayout& L = kquantLayout(grid);
    WeightQuantSpec s;
    s.grid = grid;
    s.bits = L.bits;
    s.groupSize = L.subBlock;
    s.symmetric = !L.hasMin;
    s.zeroInRange = L.hasMin;
    return s;
}

torch::Tensor kquantRound(const torch::Tensor& w, WeightGrid grid)
{
    torch::NoGradGuard ng;
    const torch::Tensor x = w.to(torch::kFloat32);
    const KQuantFactors f = kquantFactors(x, kquantSpec(grid));
    return kquantValues(kquantCodes(x, grid, f), grid, f);
}

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
    return uniformValues(x, p.delta, p.zero, p.qmax);
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
    if (spec.grid != WeightGrid::Uniform)
        return kquantFakeQuantWeight(w, spec, upper, lower, outType);
    const bool fused = fusedQuantEnabled(w) && !tReferenceWeightQuant;
    const int64_t out = w.size(0), in = w.size(1);
    const int64_t groups = groupsPerRow(in, spec.groupSize);
    auto quant = [&](const torch::Tensor& rows, const torch::Tensor& u, const torch::Tensor& l) {
        if (fused)
            return fusedFakeQuantRows(rows, spec.bits, spec.symmetric, spec.zeroInRange, spec.clampDelta, u, l, outType);
        const RowParams p = rowParams(rows, spec.bits, spec.symmetric, spec.zeroInRange, spec.clampDelta, u, l);
        auto r = uniformValues(rows, p.delta, p.zero, p.qmax);
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
    if (spec.grid != WeightGrid::Uniform) {
        // The sub-blocks' grids as scale·(code − zero): the scale d·sc, the zero dmin·m / (d·sc) (not a whole number)
        // or, for the signed grids, the code offset.
        const KQuantLayout& L = kquantLayout(spec.grid);
        const KQuantFactors f = kquantFactors(w, spec, upper, lower);
        const int64_t subs = kSuperBlock / L.subBlock;
        const auto scale = (f.d.repeat_interleave(subs, 1) * f.sc).reshape({out, -1});
        const auto zero = L.hasMin ? safeDivide(f.dmin.repeat_interleave(subs, 1) * f.m, scale)
                                   : torch::full_like(scale, static_cast<double>(L.codeOffset()));
        return {scale, zero};
    }
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

FixedWeightGrid::FixedWeightGrid(const torch::Tensor& w, const WeightQuantSpec& spec, const torch::Tensor& upper,
                                 const torch::Tensor& lower)
{
    torch::NoGradGuard ng;
    const int64_t out = w.size(0), in = w.size(1);
    if (spec.grid != WeightGrid::Uniform) {
        const KQuantLayout& L = kquantLayout(spec.grid);
        const KGrid g = kgridOf(kquantFactors(w, spec, upper, lower), L, out, in);
        m_grid = spec.grid;
        m_step = g.eff.reshape({out, -1}).repeat_interleave(L.subBlock, 1).contiguous();
        m_shift = g.off.reshape({out, -1}).repeat_interleave(L.subBlock, 1).contiguous();
        return;
    }
    const QuantParams p = weightQuantParams(w, spec, upper, lower);
    const int64_t size = p.scale.size(1) == 1 ? in : spec.groupSize;
    const auto group = torch::div(torch::arange(in, torch::TensorOptions().dtype(torch::kLong).device(w.device())),
                                  size, "floor");
    m_qmax = std::ldexp(1.0, spec.bits) - 1;
    m_step = p.scale.to(torch::kFloat32).index_select(1, group).contiguous();
    m_shift = p.zero.to(torch::kFloat32).index_select(1, group).contiguous();
}

torch::Tensor FixedWeightGrid::roundColumn(const torch::Tensor& x, int64_t j) const
{
    const auto step = m_step.select(1, j), shift = m_shift.select(1, j);
    if (m_grid == WeightGrid::Uniform)
        return uniformValues(x, step, shift, m_qmax);
    // The k-quant arithmetic on [out, 1, 1, 1]: each row one sub-block of one weight.
    const KQuantLayout& L = kquantLayout(m_grid);
    const int64_t out = x.size(0);
    KGrid g;
    g.eff = step.reshape({out, 1, 1});
    g.off = shift.reshape({out, 1, 1});
    return kvalues(kcodes(x.reshape({out, 1, 1, 1}), g, L), g, L.hasMin).reshape({out});
}

FixedWeightGrid FixedWeightGrid::permuted(const torch::Tensor& order) const
{
    FixedWeightGrid g = *this;
    g.m_step = m_step.index_select(1, order);
    g.m_shift = m_shift.index_select(1, order);
    return g;
}

}  // namespace aq::detail
