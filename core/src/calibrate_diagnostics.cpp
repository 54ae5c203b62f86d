// The views' reports on a block's calibration: conditioning of the matrix transforms, matrix snapshots and weight
// histograms with the learned clipping.
#include "calibration.h"
#include "quantizer.h"
#include "transforms.h"

#include "aq/error.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace aq::detail {

/// Bins of the weight histograms the views show.
constexpr int kWeightHistogramBins = 64;

std::vector<float> toFloats(const torch::Tensor& t)
{
    auto c = t.detach().to(torch::kCPU, torch::kFloat32).contiguous();
    return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

namespace {

/// The site a transform's name stands for ("qkv" -> Site::Qkv).
Site siteOf(const std::string& name)
{
    const Site site = parseSite(name);
    if (site == Site::Invalid)
        throw Error(ErrorCode::Internal, "no transform site is called '" + name + "'");
    return site;
}

/// ||A||_1 * ||A^-1||_1, the largest over a batch of matrices.
double conditionEstimate(const torch::Tensor& blocks, bool f64)
{
    auto a = blocks.detach().to(torch::kFloat64);
    auto inv = torch::inverse(a);
    auto n1 = [](const torch::Tensor& m) { return std::get<0>(m.abs().sum(-2).max(-1)); };
    auto c = n1(a) * n1(inv);
    const double r = c.max().item<double>();
    return std::isfinite(r) ? r : std::numeric_limits<double>::infinity();
}

}  // namespace

MatrixDiagnostics diagnose(const std::string& name, const torch::Tensor& blocks, int block, int epoch, int64_t band)
{
    torch::NoGradGuard ng;
    auto a = blocks.detach().to(torch::kFloat32).abs();
    auto diag = a.diagonal(0, -2, -1);
    auto margins = (2 * diag - a.sum(-1)).reshape({-1});
    MatrixDiagnostics d;
    d.block = block;
    d.epoch = epoch;
    d.transform = siteOf(name);
    d.size = margins.size(0);
    d.rowMargins = toFloats(margins);
    d.minMargin = margins.min().item<float>();
    d.medianMargin = margins.median().item<float>();
    d.nonDominantRows = margins.le(0).sum().item<int64_t>();
    d.conditionEstimate = conditionEstimate(blocks, true);
    d.bandWidth = band;
    return d;
}

MatrixSnapshot snapshot(const std::string& name, const torch::Tensor& blocks, const torch::Tensor& mask, int block,
                        int epoch)
{
    torch::NoGradGuard ng;
    auto dense = [](const torch::Tensor& b) {
        std::vector<torch::Tensor> parts;
        for (int64_t i = 0; i < b.size(0); ++i)
            parts.push_back(b[i]);
        return parts.size() == 1 ? parts[0] : torch::block_diag(parts);
    };
    auto values = dense(blocks.detach().to(torch::kCPU, torch::kFloat32));
    auto m = dense(mask.detach().to(torch::kCPU, torch::kFloat32).expand_as(blocks.detach().cpu()).contiguous());
    const int64_t n = values.size(0);
    const int64_t maxSide = 128;
    MatrixSnapshot s;
    s.block = block;
    s.epoch = epoch;
    s.transform = siteOf(name);
    s.stride = (n + maxSide - 1) / maxSide;
    if (s.stride > 1) {
        const int64_t side = (n + s.stride - 1) / s.stride;
        values = torch::adaptive_avg_pool2d(values.abs().unsqueeze(0), {side, side}).squeeze(0);
        m = torch::adaptive_avg_pool2d(m.unsqueeze(0), {side, side}).squeeze(0);
    }
    s.rows = values.size(0);
    s.cols = values.size(1);
    s.values = toFloats(values);
    s.mask = toFloats(m);
    return s;
}

WeightHistogram histogram(const std::string& layer, const torch::Tensor& w, const WeightQuantSpec& spec,
                          const BlockTransforms& t, int block)
{
    torch::NoGradGuard ng;
    auto wf = w.detach().to(torch::kFloat32);  // counted on the weight's device: only the counts travel
    WeightHistogram h;
    h.block = block;
    h.layer = layer;
    const float lo = wf.min().item<float>(), hi = wf.max().item<float>();
    const int bins = kWeightHistogramBins;
    auto counts = torch::histc(wf.flatten(), bins, lo, hi);
    for (int i = 0; i <= bins; ++i)
        h.binEdges.push_back(lo + (hi - lo) * static_cast<float>(i) / bins);
    for (float c : toFloats(counts))
        h.counts.push_back(static_cast<int64_t>(c));

    // Every row's (group's) own bounds, [out, groups], as the quantizer computes them: sigmoid(u) * max and
    // sigmoid(l) * min of the row/group, or plain min/max without learned clipping. A partial last group is its own
    // group, as in fakeQuantWeight.
    const int64_t out = wf.size(0), in = wf.size(1);
    const int64_t groups = groupsPerRow(in, spec.groupSize);
    const int64_t g = groups == 1 ? in : spec.groupSize;
    const int64_t full = in / g;
    auto head = wf.narrow(1, 0, full * g).reshape({out, full, g});
    auto tail = wf.narrow(1, full * g, in - full * g);  // empty unless the last group is partial
    auto upper = std::get<0>(head.max(2)), lower = std::get<0>(head.min(2));
    if (full < groups) {
        upper = torch::cat({upper, std::get<0>(tail.max(1, true))}, 1);
        lower = torch::cat({lower, std::get<0>(tail.min(1, true))}, 1);
    }
    auto it = t.lwc.find(layer);
    const bool learned = it != t.lwc.end();
    if (learned) {
        upper = torch::sigmoid(it->second.first.detach().to(wf.device(), torch::kFloat32)) * upper;
        lower = torch::sigmoid(it->second.second.detach().to(wf.device(), torch::kFloat32)) * lower;
    }
    // The range the grid covers, as the quantizer derives it from those bounds (rowParams): zero kept inside it, and
    // with a symmetric grid [-half, half - 1] steps of max(|upper|, |lower|) / (half - 1).
    if (spec.bits < 16 && spec.zeroInRange) {
        upper = torch::clamp_min(upper, 0.0);
        lower = torch::clamp_max(lower, 0.0);
    }
    if (spec.bits < 16 && spec.symmetric) {
        const double half = std::ldexp(1.0, spec.bits - 1);
        const auto reach = torch::max(upper.abs(), lower.abs());
        upper = reach;
        lower = -reach * (half / (half - 1));
    }
    auto below = head.lt(lower.narrow(1, 0, full).unsqueeze(2)).sum();
    auto above = head.gt(upper.narrow(1, 0, full).unsqueeze(2)).sum();
    if (full < groups) {
        below = below + tail.lt(lower.narrow(1, full, 1)).sum();
        above = above + tail.gt(upper.narrow(1, full, 1)).sum();
    }
    // One transfer for the eight numbers. Float64 holds the counts exactly up to 2^53.
    const auto summary = torch::stack({lower.min().to(torch::kFloat64), lower.max().to(torch::kFloat64),
                                       upper.min().to(torch::kFloat64), upper.max().to(torch::kFloat64),
                                       lower[0][0].to(torch::kFloat64), upper[0][0].to(torch::kFloat64),
                                       below.to(torch::kFloat64), above.to(torch::kFloat64)})
                             .cpu();
    const double* v = summary.data_ptr<double>();
    h.clipLowMin = static_cast<float>(v[0]);
    h.clipLowMax = static_cast<float>(v[1]);
    h.clipHighMin = static_cast<float>(v[2]);
    h.clipHighMax = static_cast<float>(v[3]);
    h.clipLow = static_cast<float>(v[4]);
    h.clipHigh = static_cast<float>(v[5]);
    h.clippedBelow = static_cast<int64_t>(v[6]);
    h.clippedAbove = static_cast<int64_t>(v[7]);

    // The grid of the first row's first group.
    if (spec.bits < 16) {
        // A k-quant grid's sub-block grid depends on its whole super-block: the first super-block is given.
        const int64_t cols = spec.grid != WeightGrid::Uniform ? kSuperBlock : std::min(g, in);
        auto row = wf.narrow(0, 0, 1).narrow(1, 0, cols).cpu();
        torch::Tensor u, l;
        if (learned) {
            u = it->second.first.detach().cpu().narrow(0, 0, 1).narrow(1, 0, (cols + g - 1) / g);
            l = it->second.second.detach().cpu().narrow(0, 0, 1).narrow(1, 0, (cols + g - 1) / g);
        }
        const QuantParams p = weightQuantParams(row, spec, u, l);
        const float scale = p.scale[0][0].item<float>(), zero = p.zero[0][0].item<float>();
        const int levels = 1 << spec.bits;
        for (int qv = 0; qv < levels && levels <= 256; ++qv)
            h.grid.push_back((static_cast<float>(qv) - zero) * scale);
    }
    return h;
}

}  // namespace aq::detail
