// The block-wise calibration loop (spec §3.4), guarded numerics, diagnostics, resume and the run directory.
#include "aq/calibrate.h"

#include "aq/device.h"
#include "aq/error.h"
#include "aq/evaluate.h"
#include "aq/tokenizer.h"
#include "calibration.h"
#include "cancellable_tokenize.h"
#include "checkpoint.h"
#include "finite_check.h"
#include "gptq_rounding.h"
#include "jsonutil.h"
#include "model.h"
#include "perplexity.h"
#include "quantizer.h"
#include "run_directory.h"
#include "run_file.h"
#include "run_views.h"
#include "safetensors.h"
#include "torch_util.h"
#include "transforms.h"

#include <ATen/record_function.h>
#include <torch/optim/adamw.h>
#include <torch/version.h>

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <sstream>

namespace fs = std::filesystem;

namespace aq {
namespace detail {

/// Bins of the weight histograms the views show.
constexpr int kWeightHistogramBins = 64;
/// Step losses reach the observer at most this often (seconds): a CPU step is short, a GPU's shorter still.
constexpr double kStepReportSecondsCpu = 0.05;
constexpr double kStepReportSecondsCuda = 0.25;
/// With mixed precision, activation buffers larger than this in float32 are kept in bfloat16.
constexpr double kHalfPrecisionBufferBytes = double(1ll << 30);

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

const char* kOomHint = "lower --nsamples or --seqlen (or --batch-size), or use a device with more memory";

class NullObserver : public CalibrationObserver {};

void checkCancel(const std::atomic<bool>* cancel)
{
    if (cancel && cancel->load())
        throw Error(ErrorCode::Cancelled, "calibration cancelled");
}

uint64_t fnv1a(const std::string& s, uint64_t h = 1469598103934665603ull)
{
    for (unsigned char c : s) {
        h ^= c;
        h *= 1099511628211ull;
    }
    return h;
}

/// Calibration windows: `nsamples` starts drawn uniformly from [0, n - seqlen - 1] with a seeded generator.
torch::Tensor calibrationWindows(const std::vector<int32_t>& tokens, const QuantConfig& q)
{
    const int64_t n = static_cast<int64_t>(tokens.size());
    if (n < q.seqlen + 1)
        badInput("the calibration text has " + std::to_string(n) + " tokens, fewer than one window of " +
                 std::to_string(q.seqlen) + " (+1); use a longer text or a smaller --seqlen");
    std::mt19937_64 rng(q.seed);
    std::uniform_int_distribution<int64_t> dist(0, n - q.seqlen - 1);
    auto ids = torch::empty({q.nsamples, q.seqlen}, torch::kInt64);
    auto acc = ids.accessor<int64_t, 2>();
    for (int64_t s = 0; s < q.nsamples; ++s) {
        const int64_t start = dist(rng);
        for (int64_t t = 0; t < q.seqlen; ++t)
            acc[s][t] = tokens[static_cast<size_t>(start + t)];
    }
    return ids;
}

std::vector<float> toFloats(const torch::Tensor& t)
{
    auto c = t.detach().to(torch::kCPU, torch::kFloat32).contiguous();
    return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
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

MatrixDiagnostics diagnose(const std::string& name, const torch::Tensor& blocks, int block, int epoch, int64_t band)
{
    torch::NoGradGuard ng;
    auto a = blocks.detach().to(torch::kFloat32).abs();
    auto diag = a.diagonal(0, -2, -1);
    auto margins = (2 * diag - a.sum(-1)).reshape({-1});
    MatrixDiagnostics d;
    d.block = block;
    d.epoch = epoch;
    d.transform = name;
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
    s.transform = name;
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

/// Where a block runs and where its activation buffers live (spec §3.4's fp_inps / quant_inps / fp_outs).
struct Placement {
    torch::Device device = torch::kCPU;        ///< where the block computes
    torch::ScalarType bufferType = torch::kFloat32;
    bool onHost = false;                       ///< buffers in pinned host memory
};

torch::Tensor batchOf(const torch::Tensor& buffer, int64_t start, int64_t n, const torch::Device& dev,
                      torch::ScalarType type)
{
    return buffer.narrow(0, start, n).to(dev, type, /*non_blocking=*/true);
}

/// Runs a block over every sample of `x` in batches, without gradients, on the compute device in `compute` (the
/// weights and rope tables must have that dtype). The result has x's dtype and device; `inPlace` overwrites x batch
/// by batch (each batch is read before it is written).
torch::Tensor forwardAll(const ModelConfig& m, const BlockWeights& w, torch::Tensor x, const RopeTables& rope,
                         const BlockOptions& o, int64_t batch, const torch::Device& dev, bool inPlace = false,
                         torch::ScalarType compute = torch::kFloat32)
{
    torch::NoGradGuard ng;
    torch::Tensor out = inPlace ? x : torch::empty(x.sizes(), x.options().pinned_memory(x.is_cpu() && x.is_pinned()));
    for (int64_t i = 0; i < x.size(0); i += batch) {
        const int64_t n = std::min(batch, x.size(0) - i);
        auto y = runDecoderBlock(m, w, batchOf(x, i, n, dev, compute), rope, o);
        out.narrow(0, i, n).copy_(y, /*non_blocking=*/out.is_cpu() && out.is_pinned());
    }
    return out;
}

/// Sets cuBLAS's TF32 mode for float32 products and restores it on scope exit.
class Tf32Scope {
public:
    explicit Tf32Scope(bool on) : m_prev(at::globalContext().allowTF32CuBLAS())
    {
        at::globalContext().setAllowTF32CuBLAS(on || m_prev);
    }
    ~Tf32Scope() { at::globalContext().setAllowTF32CuBLAS(m_prev); }
    Tf32Scope(const Tf32Scope&) = delete;
    Tf32Scope& operator=(const Tf32Scope&) = delete;

private:
    bool m_prev;
};

std::vector<std::pair<std::string, torch::Tensor>> namedBlockTensors(const ModelConfig& m, int64_t layer,
                                                                     const BlockWeights& w)
{
    std::vector<std::pair<std::string, torch::Tensor>> r;
    const std::string prefix = blockPrefix(m, layer);
    for (const auto& [n, t] : w.tensors)
        r.emplace_back(prefix + n, t.detach().to(torch::kCPU, torch::kFloat32).contiguous());
    return r;
}

/// Group layout of every linear (the report says where a partial group or the per-channel fallback was used).
nlohmann::json layoutJson(const ModelConfig& m, const QuantConfig& q, const Checkpoint& ck)
{
    nlohmann::json j = nlohmann::json::object();
    if (q.wbits >= 16)
        return j;
    BlockWeights shapes;
    const std::string prefix = blockPrefix(m, 0);
    for (const auto& name : blockLayout(m).linears())
        shapes.tensors[name + ".weight"] = torch::empty(ck.shape(prefix + name + ".weight"));
    const auto specs = weightSpecs(m, q, shapes, 0, nullptr);
    for (const auto& [name, spec] : specs) {
        const int64_t in = shapes.at(name + ".weight").size(1);
        const int64_t groups = groupsPerRow(in, spec.groupSize);
        std::string text = groups == 1 ? "per output channel"
                                       : "groups of " + std::to_string(spec.groupSize);
        if (groups > 1 && in % spec.groupSize != 0)
            text += " + a partial last group of " + std::to_string(in % spec.groupSize);
        if (q.groupSize > 0 && groups == 1 && q.groupSize < in)
            text += " (fallback: " + std::to_string(in) + " is not a multiple of " + std::to_string(q.groupSize) + ")";
        j[name] = {{"in_features", in}, {"groups_per_row", groups}, {"layout", text}};
        if (spec.grid != WeightGrid::Uniform) {
            // The k-quant grid of this linear in every block (a mixed grid varies them).
            nlohmann::json grids = nlohmann::json::array();
            const LinearRole role = linearRole(blockLayout(m), name);
            for (int64_t b = 0; b < m.numLayers; ++b)
                grids.push_back(weightGridName(tensorGrid(q.weightGrid, role, b, m.numLayers, m)));
            j[name]["grids"] = grids;
            j[name]["layout"] = "sub-blocks of " + std::to_string(spec.groupSize) + " in super-blocks of 256";
        }
    }
    return j;
}

int64_t peakHostBytes()
{
    struct rusage u {};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<int64_t>(u.ru_maxrss) * 1024;
}

/// Files of the model folder that the run's model folder gets as they are (tokenizer and generation settings).
bool isCopiedModelFile(const std::string& fn)
{
    return fn.rfind("tokenizer", 0) == 0 || fn == "special_tokens_map.json" || fn == "vocab.json" ||
           fn == "merges.txt" || fn == "generation_config.json";
}

/// Bytes a run writes, estimated from the checkpoint's shapes: per block the merged weights and the quantization
/// parameters (float32, with the biases and post-norm matrices transforms may add), then the model folder.
struct OutputSizes {
    std::vector<uint64_t> blocks;  ///< blocks/block_<i>.safetensors + .quant.safetensors
    uint64_t model = 0;            ///< model/: every weight in float32, the parameters again, config and tokenizer

    /// What is left to write when blocks [0, firstBlock) are done.
    uint64_t from(int firstBlock) const
    {
        uint64_t r = model + (1u << 20);  // progress.json and run.json
        for (size_t i = static_cast<size_t>(std::max(firstBlock, 0)); i < blocks.size(); ++i)
            r += blocks[i];
        return r;
    }
};

OutputSizes estimateOutputSizes(const ModelConfig& m, const QuantConfig& q, const Checkpoint& ck, const fs::path& modelDir)
{
    constexpr uint64_t kHeader = 64 * 1024;  // safetensors header and alignment, generously
    auto numel = [](const std::vector<int64_t>& shape) {
        uint64_t n = 1;
        for (int64_t d : shape)
            n *= static_cast<uint64_t>(std::max<int64_t>(d, 0));
        return n;
    };
    OutputSizes s;
    const auto linears = blockLayout(m).linears();
    const uint64_t d = static_cast<uint64_t>(m.hiddenSize);
    for (int64_t i = 0; i < m.numLayers; ++i) {
        const std::string prefix = blockPrefix(m, i);
        uint64_t merged = 0, quant = 0;
        for (const auto& name : ck.names())
            if (name.rfind(prefix, 0) == 0)
                merged += numel(ck.shape(name)) * 4;
        merged += 2 * d * 4 + (q.lnMatrix ? 2 * d * d * 4 : 0);  // norm biases, post-norm matrices
        for (const auto& lin : linears) {
            const std::string w = prefix + lin + ".weight";
            if (!ck.contains(w))
                continue;
            const auto shape = ck.shape(w);
            if (shape.size() != 2)
                continue;
            merged += static_cast<uint64_t>(shape[0]) * 4;  // a bias the shifts may add
            if (q.wbits < 16 && q.weightGrid != WeightGrid::Uniform) {
                // Scales and zeros per sub-block, the integer sub-block factors, and d / dmin per super-block.
                const KQuantLayout& L =
                    kquantLayout(tensorGrid(q.weightGrid, linearRole(blockLayout(m), lin), i, m.numLayers, m));
                const uint64_t subs = static_cast<uint64_t>(shape[1] / L.subBlock);
                quant += static_cast<uint64_t>(shape[0]) * (subs * 16 + static_cast<uint64_t>(shape[1] / kSuperBlock) * 8);
            } else if (q.wbits < 16) {
                quant += static_cast<uint64_t>(shape[0]) * static_cast<uint64_t>(groupsPerRow(shape[1], q.groupSize)) * 8;
            }
        }
        s.blocks.push_back(merged + quant + 2 * kHeader +
                           estimateRunViewsBytes(m.hiddenSize, m.intermediateSize, q.epochs));
        s.model += merged + quant;
    }
    for (const auto& name : ck.names())
        if (name.find(".layers.") == std::string::npos)
            s.model += numel(ck.shape(name)) * 4;
    s.model += 2 * kHeader;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(modelDir, ec))
        if (e.is_regular_file(ec) &&
            (e.path().filename() == "config.json" || isCopiedModelFile(e.path().filename().string())))
            s.model += e.file_size(ec) + 4096;
    return s;
}

/// Whether a stream of activations in the calibration buffers is finite, checked a few samples at a time so that the
/// check needs little memory.
bool allFiniteActivations(const torch::Tensor& x)
{
    torch::NoGradGuard ng;
    const int64_t perSample = x.numel() / std::max<int64_t>(x.size(0), 1);
    const int64_t step = std::max<int64_t>(1, (int64_t(1) << 26) / std::max<int64_t>(perSample, 1));
    for (int64_t i = 0; i < x.size(0); i += step)
        if (!allFinite(x.narrow(0, i, std::min(step, x.size(0) - i))))
            return false;
    return true;
}

/// Throws BadInput when the activations `x` hold a NaN or an infinity: finite weights that overflow on this text.
void requireFiniteActivations(const torch::Tensor& x, const std::string& what)
{
    if (!allFiniteActivations(x))
        badInput(what + " hold " + describeNonFinite(x) +
                 "; the model's weights make its activations overflow on this text (a checkpoint saved after a "
                 "diverged training step?): check the model with 'affinequant eval'");
}

/// Throws Numerical when a calibrated block's weights or quantization parameters are not finite (its inputs were):
/// nothing non-finite is ever written into a run.
void requireFiniteBlock(const BlockOutcome& out, const std::string& blockName)
{
    for (const auto* tensors : {&out.merged.tensors, &out.quant})
        for (const auto& [name, t] : *tensors)
            if (!allFinite(t))
                throw Error(ErrorCode::Numerical, "the quantized " + name + " of " + blockName + " holds " +
                                                      describeNonFinite(t) +
                                                      "; lower --let-lr/--lwc-lr or --sf, or try --keep-dominant");
}

/// Weights of block i after RTN quantization (same bits and groups as the configuration).
/// A quantized linear's grid for model/quantization.safetensors: "<layer>.scales" / ".zeros" [out, groups] (a k-quant
/// grid's sub-blocks in that form too), and for a k-quant grid its own factors: ".kq_d" / ".kq_dmin"
/// [out, in/256] and ".kq_scales" / ".kq_mins" [out, in/subBlock], which the GGUF export stores as they are.
void recordGrid(std::map<std::string, torch::Tensor>& quant, const std::string& name, const torch::Tensor& w,
                const WeightQuantSpec& spec, const torch::Tensor& upper = {}, const torch::Tensor& lower = {})
{
    const QuantParams p = weightQuantParams(w, spec, upper, lower);
    quant[name + ".scales"] = p.scale;
    quant[name + ".zeros"] = p.zero;
    if (spec.grid != WeightGrid::Uniform) {
        const KQuantFactors f = kquantFactors(w, spec, upper, lower);
        quant[name + ".kq_d"] = f.d;
        quant[name + ".kq_dmin"] = f.dmin;
        quant[name + ".kq_scales"] = f.sc;
        quant[name + ".kq_mins"] = f.m;
    }
}

BlockWeights rtnBlock(const ModelConfig& m, const QuantConfig& q, const BlockWeights& w, int64_t block)
{
    QuantConfig rq = q;
    rq.method = Method::Rtn;
    rq.lwc = rq.let = false;
    const auto specs = weightSpecs(m, rq, w, block, nullptr);
    EpochMasks none;
    return applyTransforms(m, rq, w, BlockTransforms{}, none, specs, true);
}

/// The block's inputs to each linear, site by site ("qkv", "out", "fc1", "down"), and the linears each site feeds.
std::vector<std::pair<const char*, std::vector<std::string>>> linearSites(const ModelConfig& m)
{
    const BlockLayout layout = blockLayout(m);
    return {{"qkv", layout.qkv}, {"out", {layout.out}}, {"fc1", layout.fc1}, {"down", {layout.down}}};
}

/// GPTQ rounding of the merged block (--gptq-rounding): the Gram matrix of every linear's inputs over this block's
/// quantized-stream windows (as the merged, nearest-rounded block computes them, activation quantization included;
/// summed over the ranks of a group), then each linear's transformed weights rounded onto the grid their learned
/// clipping fixed, column by column with error feedback. The grid, and so what recordGrid stored, stays the same.
void roundWithErrorFeedback(const ModelConfig& m, const QuantConfig& q, const BlockWeights& unquantized,
                            const BlockTransforms& t, const std::map<std::string, WeightQuantSpec>& specs,
                            BlockWeights& merged, const torch::Tensor& xQ, const RopeTables& rope,
                            const BlockOptions& qOpts, int64_t batch, const torch::Device& dev,
                            torch::ScalarType passType, Collective& g)
{
    torch::NoGradGuard ng;
    std::map<std::string, InputGram> grams;
    BlockOptions o = qOpts;
    o.probe = [&](const char* site, const torch::Tensor& x) { grams[site].add(fakeQuantActivation(x, q.abits)); };
    BlockWeights pass = merged;
    for (auto& [n, x] : pass.tensors)
        x = x.to(passType);
    for (int64_t i = 0; i < xQ.size(0); i += batch) {
        const int64_t n = std::min(batch, xQ.size(0) - i);
        runDecoderBlock(m, pass, batchOf(xQ, i, n, dev, passType), rope, o);
    }
    if (g.distributed())
        for (auto& [site, gram] : grams)
            g.sum({gram.matrix()}, "combining the inputs' statistics for GPTQ rounding");
    for (const auto& [site, layers] : linearSites(m)) {
        for (const auto& name : layers) {
            const torch::Tensor& w = unquantized.at(name + ".weight");
            auto it = t.lwc.find(name);
            const bool learn = it != t.lwc.end();
            auto rounded = gptqRound(w, grams.at(site).matrix(), specs.at(name), learn ? it->second.first : torch::Tensor(),
                                     learn ? it->second.second : torch::Tensor(), "'" + name + "'");
            torch::Tensor& target = merged.tensors.at(name + ".weight");
            target = rounded.to(target.device(), target.scalar_type());
        }
    }
}

/// sum / count over every rank's sums and counts (float64).
double globalMean(Collective& g, double sum, int64_t count, const char* what)
{
    auto t = torch::tensor({sum, static_cast<double>(count)}, torch::kFloat64);
    g.sum({t}, what);
    return t[0].item<double>() / t[1].item<double>();
}

/// AdamW over the two parameter groups of a block (transforms and clipping, each with its learning rate). On CUDA
/// with LibTorch 2.x, one fused multi-tensor kernel per group and one fused finiteness check of every gradient replace
/// a dozen small operations per parameter, which dominate the host time of a step; elsewhere torch::optim::AdamW.
class BlockOptimizer {
public:
    BlockOptimizer(const std::vector<torch::Tensor>& let, double letLr, const std::vector<torch::Tensor>& lwc,
                   double lwcLr, double weightDecay, bool fused)
        : m_weightDecay(weightDecay)
    {
#if TORCH_VERSION_MAJOR >= 2
        m_fused = fused;
#else
        (void)fused;
#endif
        if (m_fused) {
            for (const auto& [params, lr] : {std::pair{let, letLr}, std::pair{lwc, lwcLr}}) {
                if (params.empty())
                    continue;
                Group g;
                g.lr = lr;
                for (const auto& p : params) {
                    g.params.push_back(p);
                    g.expAvg.push_back(torch::zeros_like(p));
                    g.expAvgSq.push_back(torch::zeros_like(p));
                    g.steps.push_back(torch::zeros({}, p.options().dtype(torch::kFloat32)));
                }
                m_groups.push_back(std::move(g));
            }
            return;
        }
        std::vector<torch::optim::OptimizerParamGroup> groups;
        if (!let.empty())
            groups.emplace_back(let, std::make_unique<torch::optim::AdamWOptions>(
                                         torch::optim::AdamWOptions(letLr).weight_decay(weightDecay)));
        if (!lwc.empty())
            groups.emplace_back(lwc, std::make_unique<torch::optim::AdamWOptions>(
                                         torch::optim::AdamWOptions(lwcLr).weight_decay(weightDecay)));
        m_adamw = std::make_unique<torch::optim::AdamW>(groups, torch::optim::AdamWOptions(letLr));
    }

    void zeroGrad()
    {
        if (m_adamw) {
            m_adamw->zero_grad();
            return;
        }
        for (auto& g : m_groups)
            for (auto& p : g.params)
                p.mutable_grad() = torch::Tensor();
    }

    /// ANDs "every gradient is finite" into `flag` (a device bool scalar), without a host synchronisation.
    void accumulateFinite(torch::Tensor& flag, const std::vector<torch::Tensor>& all)
    {
        torch::NoGradGuard ng;
#if TORCH_VERSION_MAJOR >= 2
        if (m_fused) {
            std::vector<torch::Tensor> grads;
            for (const auto& p : all)
                if (p.grad().defined())
                    grads.push_back(p.grad());
            if (grads.empty())
                return;
            auto foundInf = torch::zeros({1}, grads[0].options().dtype(torch::kFloat32));
            auto one = torch::ones({1}, grads[0].options().dtype(torch::kFloat32));
            at::_amp_foreach_non_finite_check_and_unscale_(grads, foundInf, one);
            flag.logical_and_(foundInf.eq(0).squeeze(0));
            return;
        }
#endif
        for (const auto& p : all)
            if (p.grad().defined())
                flag.logical_and_(torch::isfinite(p.grad()).all());
    }

    void step()
    {
        if (m_adamw) {
            m_adamw->step();
            return;
        }
#if TORCH_VERSION_MAJOR >= 2
        torch::NoGradGuard ng;
        for (auto& g : m_groups) {
            std::vector<torch::Tensor> grads;
            for (auto& p : g.params)
                grads.push_back(p.grad().defined() ? p.grad() : torch::zeros_like(p));
            at::_foreach_add_(g.steps, 1);
            at::_fused_adamw_(g.params, grads, g.expAvg, g.expAvgSq, {}, g.steps, g.lr, 0.9, 0.999, m_weightDecay, 1e-8,
                              /*amsgrad=*/false, /*maximize=*/false, std::nullopt, std::nullopt);
        }
#endif
    }

private:
    struct Group {
        std::vector<torch::Tensor> params, expAvg, expAvgSq, steps;
        double lr = 0;
    };
    bool m_fused = false;
    double m_weightDecay = 0;
    std::vector<Group> m_groups;
    std::unique_ptr<torch::optim::AdamW> m_adamw;
};

}  // namespace

/// Calibrates one block: FP targets, statistics, init, training with rollback, merge.
BlockOutcome calibrateBlock(const ModelConfig& m, const QuantConfig& q, int block, int numBlocks, const BlockWeights& orig,
                            torch::Tensor& xFp, torch::Tensor& xQ, const RopeTables& rope, CalibrationObserver& obs,
                            const std::atomic<bool>* cancel, Collective* group, const Shard* shard)
{
    const auto t0 = Clock::now();
    const torch::Device dev = parseDevice(q.device);
    const auto opts = torch::TensorOptions().dtype(torch::kFloat32).device(dev);
    Collective single;
    Collective& g = group ? *group : single;
    const bool dp = g.distributed();
    if (dp && !shard)
        throw Error(ErrorCode::Internal, "a data-parallel block calibration needs its shard");
    // Windows per training step: the global batch in one process, this rank's slice of it in a group. Passes without
    // gradients go over the buffers in chunks of the same size.
    const int64_t B = q.batchSize / g.size();
    BlockOutcome r;
    std::vector<std::string> fallback;
    const auto specs = weightSpecs(m, q, orig, block, &fallback);
    const bool mixed = q.mixedPrecision && dev.is_cuda();
    // TF32 for the float32 products that build the transformed weights (the bf16 path's own products are bf16).
    const Tf32Scope tf32(mixed);

    // Large models on the fast path (mixed precision on CUDA, hidden size >= 1024). With quantized activations they
    // also run every pass in bf16: the training steps, the full-precision targets, the loss passes and the next
    // block's inputs (the activation buffers are bf16 there anyway), and the training steps start from a bf16 copy of
    // the weights, which halves the bytes of every elementwise pass that builds the transformed weights. Weight-only
    // recipes keep float32 weights and passes: their smaller error is sensitive to bf16 rounding (on the LLaMA-7B-
    // shaped block the bf16 variant moved the final w4a16g128 loss 1.9 % away from the float32 path's, W4A4's 0.2 %).
    // The merge always uses the float32 originals.
    const bool fast = mixed && fastMatrixPath(m, q, true);
    const bool halfPasses = fast && q.abits < 16;
    const torch::ScalarType computeType = mixed ? torch::kBFloat16 : torch::kFloat32;
    const torch::ScalarType passType = halfPasses ? torch::kBFloat16 : torch::kFloat32;
    const RopeTables ropeCompute = mixed && rope.cos.defined()
                                       ? RopeTables{rope.cos.to(torch::kBFloat16), rope.sin.to(torch::kBFloat16)}
                                       : rope;
    const RopeTables& ropePass = halfPasses ? ropeCompute : rope;
    auto forPasses = [&](const BlockWeights& w) {
        if (!halfPasses)
            return w;
        BlockWeights c = w;
        for (auto& [n, x] : c.tensors)
            x = x.detach().to(torch::kBFloat16);
        return c;
    };
    const BlockWeights origPass = forPasses(orig);

    // Full-precision targets and activation statistics from the FP stream. The targets replace the inputs in place:
    // this block never reads its FP inputs again.
    std::map<std::string, SiteStats> stats;
    BlockOptions probeFp;
    probeFp.probe = [&](const char* site, const torch::Tensor& x) {
        SiteStats& st = stats[site];
        if (dp && st.globalIndex.empty()) {
            st.globalIndex = shard->rows;
            st.globalCount = shard->nsamples;
        }
        st.add(x);
    };
    obs.stage("full-precision targets", block, numBlocks);
    torch::Tensor yFp2;
    if (q.augLoss)
        yFp2 = forwardAll(m, origPass, xQ, ropePass, {}, B, dev, false, passType);
    torch::Tensor yFp = forwardAll(m, origPass, xFp, ropePass, probeFp, B, dev, /*inPlace=*/true, passType);
    checkCancel(cancel);
    if (dp) {
        // Statistics of every rank's windows: maxima by a maximum, the shift's EMA shares by a sum.
        for (auto& [site, st] : stats) {
            g.max(st.absMax, "combining the activation statistics");
            g.sum({st.shift}, "combining the activation statistics");
        }
    }

    BlockTransforms t = initTransforms(m, q, orig, stats, specs, opts);
    double sf = q.sf, letLr = q.letLr, lwcLr = q.lwcLr;
    BlockOptions qOpts;
    qOpts.activationBits = q.abits;

    auto blockLoss = [&](const BlockWeights& w) {
        torch::NoGradGuard ng;
        double sum = 0;
        for (int64_t i = 0; i < xQ.size(0); i += B) {
            const int64_t n = std::min(B, xQ.size(0) - i);
            auto out = runDecoderBlock(m, w, batchOf(xQ, i, n, dev, passType), ropePass, qOpts).to(torch::kFloat32);
            sum += (out - batchOf(yFp, i, n, dev, torch::kFloat32)).pow(2).sum().item<double>();
        }
        return g.distributed() ? globalMean(g, sum, yFp.numel(), "measuring the block loss")
                               : sum / static_cast<double>(yFp.numel());
    };
    EpochMasks masks = makeEpochMasks(m, q, 0, sf, opts);
    if (q.lwcInitSearch && !t.lwc.empty()) {
        torch::NoGradGuard ng;
        searchClipping(t, applyTransforms(m, q, orig, t, masks, specs, false), specs);
    }
    {
        torch::NoGradGuard ng;
        r.report["initial_loss"] = blockLoss(forPasses(applyTransforms(m, q, orig, t, masks, specs, true)));
    }
    nlohmann::json epochs = nlohmann::json::array();
    nlohmann::json recoveries = nlohmann::json::array();
    const auto letParams = t.letParameters();
    const auto lwcParams = t.lwcParameters();
    const bool train = q.epochs > 0 && (!letParams.empty() || !lwcParams.empty());
    const auto allParams = t.all();

    auto makeOptimizer = [&]() {
        return std::make_unique<BlockOptimizer>(letParams, letLr, lwcParams, lwcLr, q.weightDecay, mixed);
    };
    std::unique_ptr<BlockOptimizer> optimizer = train ? makeOptimizer() : nullptr;
    const int64_t steps = q.nsamples / q.batchSize;  // global steps: every rank takes each one
    if (train)
        obs.stage("training", block, numBlocks);  // the targets are done: the epochs follow
    // Mixed precision on CUDA: bf16 weights straight from the fused quantizer. On the fast path also bf16 products
    // for the full post-norm matrices, and the inverses of every matrix transform (post-norm and per-head) refined from
    // one step to the next (exact LU at every epoch start and whenever the refinement's residual exceeds 1e-2).
    InverseCache inverses;
    TransformOptions stepOptions;
    const bool anyMatrix = !maskedMatrices(t, masks).empty();
    if (mixed) {
        stepOptions.quantOut = torch::kBFloat16;
        stepOptions.halfProducts = fast;
        // Refined per-head inverses only with quantized activations (measured there: W4A4 block loss within 0.2 % of
        // the float32 path); weight-only recipes keep exact per-head inverses.
        stepOptions.refineHeadInverses = halfPasses;
        if (fast && (q.lnMatrix || (halfPasses && anyMatrix)))
            stepOptions.cache = &inverses;
    }
    constexpr double kRefineLimit = 1e-2;
    double worstResidual = 0;
    int inverseFallbacks = 0;
    auto checkInverses = [&]() {
        if (!inverses.residual.defined())
            return;
        const double res = inverses.residual.item<double>();
        inverses.residual = torch::Tensor();
        worstResidual = std::isfinite(res) ? std::max(worstResidual, res) : std::numeric_limits<double>::infinity();
        if (!(res <= kRefineLimit)) {
            inverses.clear();
            ++inverseFallbacks;
        }
    };
    // The host reads the loss only when it reports (a device synchronisation); the finiteness of the loss and of
    // every gradient is accumulated on the device and checked at those points and at the end of the epoch.
    const double reportInterval = dev.is_cuda() ? kStepReportSecondsCuda : kStepReportSecondsCpu;
    auto lastReport = Clock::now() - std::chrono::seconds(1);
    std::vector<torch::Tensor> shared;  // data-parallel: the gradients and the loss, averaged over the ranks each step

    for (int e = 0; train && e < q.epochs; ++e) {
        const auto te = Clock::now();
        const double waitedBefore = g.waitedSeconds();
        masks = makeEpochMasks(m, q, e, sf, opts);
        const BlockTransforms start = t.clone();
        inverses.clear();
        worstResidual = 0;
        inverseFallbacks = 0;
        std::string failure;
        torch::Tensor lossSum = torch::zeros({}, opts);
        torch::Tensor finite = torch::ones({}, opts.dtype(torch::kBool));
        torch::Tensor gradFinite = torch::ones({}, opts.dtype(torch::kBool));
        auto checkFinite = [&]() {
            if (!finite.item<bool>())
                failure = "non-finite loss";
            else if (!gradFinite.item<bool>())
                failure = "non-finite gradient";
        };
        for (int64_t s = 0; s < steps && failure.empty(); ++s) {
            checkCancel(cancel);
            truncateScales(t);
            RECORD_USER_SCOPE("aq::train_step");
            auto w = applyTransforms(m, q, origPass, t, masks, specs, true, stepOptions);
            if (mixed)
                for (auto& [n, x] : w.tensors)
                    x = x.to(torch::kBFloat16);  // norms, biases, post-norm matrices (the weights already are)
            // bfloat16 matrix products, float32 master parameters and loss: no loss scaling is needed.
            auto out = runDecoderBlock(m, w, batchOf(xQ, s * B, B, dev, computeType), ropeCompute, qOpts)
                           .to(torch::kFloat32);
            auto loss = (out - batchOf(yFp, s * B, B, dev, torch::kFloat32)).pow(2).mean();
            if (q.augLoss)
                loss = loss + (out - batchOf(yFp2, s * B, B, dev, torch::kFloat32)).pow(2).mean();
            optimizer->zeroGrad();
            loss.backward();
            torch::Tensor lv = loss.detach();
            if (dp) {
                // The global batch's mean loss and its gradient: the mean of the ranks' (equal slices). A non-finite
                // value on any rank makes the sums non-finite everywhere, so every rank takes the same branch below.
                torch::NoGradGuard ng;
                lv = lv.clone();
                shared.clear();
                for (const auto& p : allParams)
                    if (p.grad().defined())
                        shared.push_back(p.grad());
                shared.push_back(lv);
                g.sum(shared, "averaging the gradients");
                for (auto& t : shared)
                    t.div_(g.size());
            }
            {
                torch::NoGradGuard ng;
                finite.logical_and_(torch::isfinite(lv));
                lossSum.add_(lv);
                optimizer->accumulateFinite(gradFinite, allParams);
            }
            optimizer->step();
            if (q.keepDominant)
                enforceDominance(t, masks);
            // The host looks at the flags when it reports (time-based), and in a group at every step, so that every
            // rank stops at the same step.
            const bool report = since(lastReport) > reportInterval || s + 1 == steps;
            if (report || dp) {
                checkFinite();
                checkInverses();
                if (!failure.empty())
                    break;
            }
            if (report) {
                obs.stepLoss({block, e, static_cast<int>(s), lv.item<double>(), static_cast<int>(steps)});
                lastReport = Clock::now();
            }
        }
        if (failure.empty())
            checkFinite();
        const double sum = failure.empty() ? lossSum.item<double>() : 0.0;
        // Conditioning of every matrix at the end of the epoch.
        std::vector<MatrixDiagnostics> diags;
        if (failure.empty()) {
            for (const auto& [name, blocks] : maskedMatrices(t, masks)) {
                diags.push_back(diagnose(name, blocks, block, e, isPostNormMatrix(name) ? masks.bigBand : masks.headBand));
                if (!(diags.back().conditionEstimate <= q.conditionLimit)) {
                    std::ostringstream why;
                    why << "condition estimate of " << name << " " << diags.back().conditionEstimate << " > "
                        << q.conditionLimit;
                    failure = why.str();
                }
            }
        }
        if (dp && g.anyRank(!failure.empty(), "agreeing on the epoch's outcome") && failure.empty())
            failure = "another rank's condition estimate";
        if (!failure.empty()) {
            if (static_cast<int>(r.recoveries) >= q.maxRecoveries)
                throw Error(ErrorCode::Numerical,
                            "block " + std::to_string(block) + ", epoch " + std::to_string(e) + ": " + failure +
                                " after " + std::to_string(r.recoveries) +
                                " recoveries; lower --let-lr/--lwc-lr or --sf, or try --keep-dominant");
            t.copyFrom(start);
            std::ostringstream action;
            const double f = q.rollbackFactor;
            action << "rolled back the epoch; let-lr " << letLr << " -> " << letLr * f << ", lwc-lr " << lwcLr << " -> "
                   << lwcLr * f << ", sf " << sf << " -> " << sf * f;
            letLr *= f;
            lwcLr *= f;
            sf *= f;
            optimizer = makeOptimizer();
            ++r.recoveries;
            Recovery rec{block, e, failure, action.str()};
            obs.recovery(rec);
            obs.log("block " + std::to_string(block) + " epoch " + std::to_string(e) + ": " + failure + "; " + rec.action);
            recoveries.push_back({{"epoch", e}, {"reason", failure}, {"action", rec.action}});
            --e;
            continue;
        }
        EpochSummary es{block, e, q.epochs, sum / static_cast<double>(steps), since(te), masks.bigBand, {}};
        if (dp) {
            const double busy = std::max(es.seconds - (g.waitedSeconds() - waitedBefore), 1e-9);
            es.rankWindowsPerSecond = g.gather(static_cast<double>(steps * B) / busy, "reporting throughput");
        }
        nlohmann::json ej = {{"epoch", e}, {"mean_loss", es.meanLoss}, {"seconds", es.seconds},
                             {"band", masks.bigBand}, {"head_band", masks.headBand}, {"sf", sf}};
        if (stepOptions.cache)
            ej["inverse_refinement"] = {{"max_residual", worstResidual}, {"fallbacks_to_lu", inverseFallbacks}};
        for (const auto& d : diags) {
            obs.matrixDiagnostics(d);
            ej["matrices"][d.transform] = {{"min_margin", d.minMargin},
                                           {"median_margin", d.medianMargin},
                                           {"non_dominant_rows", d.nonDominantRows},
                                           {"rows", d.size},
                                           {"condition_estimate", d.conditionEstimate}};
        }
        for (const auto& [name, blocks] : maskedMatrices(t, masks)) {
            const auto& mask = isPostNormMatrix(name) ? masks.big : masks.head;
            obs.matrixSnapshot(snapshot(name, blocks, mask, block, e));
        }
        obs.epochFinished(es);
        epochs.push_back(ej);
    }

    // Merge with the last epoch's masks (or the initial transforms when untrained), then quantize.
    checkCancel(cancel);
    obs.stage("merging", block, numBlocks);
    torch::NoGradGuard ng;
    const ReferenceWeightQuantScope sameArithmeticAsExports;
    truncateScales(t);
    if (!train)
        masks = makeEpochMasks(m, q, std::max(q.epochs - 1, 0), sf, opts);
    BlockWeights unquantized = applyTransforms(m, q, orig, t, masks, specs, false);
    r.merged = applyTransforms(m, q, orig, t, masks, specs, true);
    for (auto& [n, x] : r.merged.tensors)
        x = x.detach();
    for (const auto& name : blockLayout(m).linears()) {
        obs.weightHistogram(histogram(name, unquantized.at(name + ".weight"), specs.at(name), t, block));
        if (q.wbits < 16) {
            auto it = t.lwc.find(name);
            const bool learn = it != t.lwc.end();
            recordGrid(r.quant, name, unquantized.at(name + ".weight"), specs.at(name),
                       learn ? it->second.first : torch::Tensor(), learn ? it->second.second : torch::Tensor());
        }
    }

    if (q.gptqRounding && q.wbits < 16)
        roundWithErrorFeedback(m, q, unquantized, t, specs, r.merged, xQ, ropePass, qOpts, B, dev, passType, g);

    // Next block's quantized inputs, with the transformed activations' channel maxima for the outlier view.
    std::map<std::string, SiteStats> after;
    BlockOptions mergedOpts = qOpts;
    mergedOpts.probe = [&](const char* site, const torch::Tensor& x) { after[site].add(x); };
    xQ = forwardAll(m, forPasses(r.merged), xQ, ropePass, mergedOpts, B, dev, /*inPlace=*/true, passType);
    double finalLoss = 0;
    for (int64_t i = 0; i < xQ.size(0); i += B) {
        const int64_t n = std::min(B, xQ.size(0) - i);
        finalLoss += (batchOf(xQ, i, n, dev, torch::kFloat32) - batchOf(yFp, i, n, dev, torch::kFloat32)).pow(2).sum().item<double>();
    }
    finalLoss = dp ? globalMean(g, finalLoss, yFp.numel(), "measuring the block loss")
                   : finalLoss / static_cast<double>(yFp.numel());
    if (dp)
        for (auto& [site, st] : after)
            g.max(st.absMax, "combining the activation statistics");
    xFp = yFp;
    // "down" is never transformed: its "before" is the full-precision block's and its "after" the merged quantized
    // block's, so it shows what the transforms upstream (and the quantization) did to the down_proj input.
    for (const auto& [site, layers] : linearSites(m))
        obs.activationProfile({block, site, toFloats(stats[site].absMax), toFloats(after[site].absMax), layers});

    BlockSummary bs{block, numBlocks, r.report["initial_loss"].get<double>(), finalLoss, since(t0), fallback};
    obs.blockFinished(bs);
    r.report["block"] = block;
    r.report["final_loss"] = finalLoss;
    r.report["seconds"] = bs.seconds;
    r.report["peak_device_memory_bytes"] = peakDeviceBytes(dev);
    r.report["epochs"] = epochs;
    r.report["recoveries"] = recoveries;
    r.report["per_channel_fallback"] = fallback;
    return r;
}

}  // namespace detail

bool detail::halfPrecisionBuffers(const ModelConfig& m, const QuantConfig& q, bool cuda)
{
    const double fp32Bytes = static_cast<double>(q.nsamples) * static_cast<double>(q.seqlen) *
                             static_cast<double>(m.hiddenSize) * 4.0 * (q.augLoss ? 3 : 2);
    return q.mixedPrecision && cuda && fp32Bytes > kHalfPrecisionBufferBytes;
}

bool detail::fastMatrixPath(const ModelConfig& m, const QuantConfig& q, bool cuda)
{
    return q.mixedPrecision && cuda && m.hiddenSize >= 1024;
}

MemoryEstimate estimateCalibrationMemory(const ModelConfig& m, const QuantConfig& q, bool cuda, int worldSize)
{
    const bool halfBuffers = detail::halfPrecisionBuffers(m, q, cuda);
    const double d = static_cast<double>(m.hiddenSize), ffn = static_cast<double>(m.intermediateSize);
    const int ranks = std::max(worldSize, 1);
    // Each rank's share: its slice of every step's batch, and its shard of the windows (the largest shard).
    const double batch = static_cast<double>(std::max<int64_t>(q.batchSize / ranks, 1));
    const double samples = ranks == 1 ? static_cast<double>(q.nsamples)
                                      : static_cast<double>(detail::shardRows(q.nsamples, std::max<int64_t>(q.batchSize, 1),
                                                                              0, ranks).size());
    const double tokens = batch * static_cast<double>(q.seqlen);
    MemoryEstimate e;
    e.worldSize = ranks;
    e.buffersOnHost = q.buffersOnHost && cuda;
    // Inputs of both streams (the FP targets overwrite the FP inputs), plus the second target with aug-loss.
    e.bufferBytes = samples * static_cast<double>(q.seqlen) * d * (halfBuffers ? 2.0 : 4.0) * (q.augLoss ? 3 : 2);
    e.blockBytes = 4.0 * 4 * d * (2.0 * d + 2.0 * m.numKvHeads * m.headDim + 3.0 * ffn);
    // About two dozen hidden-size and eight FFN-size float32 tensors per token, and the attention scores.
    e.stepBytes = tokens * (24 * d + 8 * ffn) * 4 +
                  3.0 * batch * m.numHeads * static_cast<double>(q.seqlen) * static_cast<double>(q.seqlen) * 4;
    if (ranks > 1) {
        // The all-reduce's buffer: every learnable parameter's gradient in float32 (post-norm matrices d x d with
        // --ln-matrix, per-head blocks, the shifts and every linear's clipping bounds), once on the device and once
        // in the backend's staging copy.
        const double heads = static_cast<double>(m.numKvHeads) * m.headDim * m.headDim;
        const double transforms = (q.lnMatrix ? 2.0 * d * d : 4.0 * d) + 2.0 * heads + 3.0 * d;
        const double groups = q.groupSize > 0 ? 1.0 / static_cast<double>(q.groupSize) : 1.0 / d;
        const double clipping = 2.0 * (d * (2.0 * d + 2.0 * m.numKvHeads * m.headDim + 3.0 * ffn)) * groups;
        e.commBytes = 2.0 * 4.0 * (transforms + clipping);
    }
    return e;
}

void validateWorld(const QuantConfig& q, int worldSize)
{
    if (worldSize < 1)
        badInput("the number of ranks must be at least 1, got " + std::to_string(worldSize));
    if (worldSize > 1 && (q.batchSize % worldSize != 0 || q.batchSize < worldSize))
        badInput("with " + std::to_string(worldSize) + " ranks the global batch (--batch-size, now " +
                 std::to_string(q.batchSize) + ") must be a multiple of " + std::to_string(worldSize) +
                 ": every step's batch is split evenly, each rank taking batch-size/ranks windows; use --batch-size " +
                 std::to_string(worldSize * std::max<int64_t>(1, (q.batchSize + worldSize - 1) / worldSize)));
}

namespace detail {
namespace {

/// Rank 0's block weights on every rank (names and shapes travel as text, then each tensor).
void shareBlock(Collective& g, BlockWeights& w, const torch::Device& device)
{
    nlohmann::json layout = nlohmann::json::array();
    for (const auto& [name, t] : w.tensors)
        layout.push_back({{"name", name}, {"shape", t.sizes().vec()}});
    layout = nlohmann::json::parse(g.broadcastText(layout.dump(), "sharing a finished block"));
    if (!g.isRoot()) {
        w.tensors.clear();
        for (const auto& e : layout)
            w.tensors[e.at("name").get<std::string>()] =
                torch::empty(e.at("shape").get<std::vector<int64_t>>(), torch::TensorOptions().device(device));
    }
    for (auto& [name, t] : w.tensors) {
        t = t.to(device, torch::kFloat32).contiguous();
        g.broadcast(t, "sharing a finished block");
    }
}

/// requireFiniteActivations over every rank's shard: each rank stops, the one that holds the values says where.
void requireFiniteEverywhere(Collective& g, const torch::Tensor& x, const std::string& what, bool quantized)
{
    const bool finite = allFiniteActivations(x);
    if (!g.anyRank(!finite, "checking the activations"))
        return;
    if (!finite && !quantized)
        requireFiniteActivations(x, what);
    if (!finite)
        throw Error(ErrorCode::Numerical, what + " hold " + describeNonFinite(x) +
                                              ": quantization made the block's activations overflow; use more "
                                              "activation bits (--abits) or lower --let-lr/--lwc-lr");
    throw Error(quantized ? ErrorCode::Numerical : ErrorCode::BadInput,
                what + " hold non-finite values on another rank (its message says which)");
}

CalibrationResult runRank(const CalibrationRequest& req, CalibrationObserver* observer, const std::atomic<bool>* cancel,
                          Collective& group);

}  // namespace
}  // namespace detail

CalibrationResult runCalibration(const CalibrationRequest& req, CalibrationObserver* observer,
                                 const std::atomic<bool>* cancel)
{
    using namespace detail;
    validateWorld(req.config, req.world.worldSize);
    std::unique_ptr<Collective> group;
    try {
        group = req.world.distributed() ? std::make_unique<Collective>(req.world, parseDevice(req.config.device), cancel)
                                        : std::make_unique<Collective>();
    } catch (...) {
        rethrowAsAqError(std::current_exception(), kOomHint);
    }
    try {
        return runRank(req, observer, cancel, *group);
    } catch (const Error& e) {
        if (e.code() != ErrorCode::PeerFailure)
            group->announceFailure(std::string(errorCodeName(e.code())) + ": " + e.what());
        throw;
    }
}

namespace detail {
namespace {

CalibrationResult runRank(const CalibrationRequest& req, CalibrationObserver* observer, const std::atomic<bool>* cancel,
                          Collective& group)
{
    adoptCpuThreads();
    const bool root = group.isRoot();
    NullObserver nullObserver;
    // Every report also goes into the run folder (views/), block by block, so the finished run reopens with every
    // view the live run showed. Ranks other than 0 report nothing and write nothing.
    ViewRecorder recorder(observer && root ? *observer : nullObserver);
    CalibrationObserver& obs = root ? static_cast<CalibrationObserver&>(recorder) : nullObserver;
    const auto t0 = Clock::now();
    const QuantConfig& q = req.config;
    const torch::Device device = parseDevice(q.device);
    Checkpoint ck(req.modelDir);
    ck.validate();
    const ModelConfig& m = ck.config();
    validateConfig(q, m);
    if (m.activationBits < 16 || m.weightBits < 16)
        badInput("'" + req.modelDir + "' is already quantized (its config.json has an affinequant block); start from "
                 "the original model");
    if (req.runDir.empty())
        badInput("no run directory given (--out)");
    // Refuse early, with the setting to lower, when the activation buffers cannot fit.
    const bool onHost = q.buffersOnHost && device.is_cuda();
    const torch::ScalarType bufferType = halfPrecisionBuffers(m, q, device.is_cuda()) ? torch::kBFloat16 : torch::kFloat32;
    {
        const MemoryEstimate est = estimateCalibrationMemory(m, q, device.is_cuda(), group.size());
        const double onDevice = est.deviceBytes();
        const int64_t available = freeMemoryBytes(device);
        if (available > 0 && onDevice > static_cast<double>(available)) {
            char msg[640];
            std::snprintf(msg, sizeof msg,
                          "calibration needs about %.1f GB on %s (activation buffers of %lld samples x %lld tokens x %lld "
                          "channels%s, one block, one step's activations) but only %.1f GB are free; lower --nsamples or "
                          "--seqlen%s",
                          onDevice / 1e9, device.str().c_str(), static_cast<long long>(q.nsamples),
                          static_cast<long long>(q.seqlen), static_cast<long long>(m.hiddenSize),
                          onHost ? " kept in host memory" : "", static_cast<double>(available) / 1e9,
                          onHost || !device.is_cuda() ? "" : ", or add --buffers-on-host");
            throw Error(ErrorCode::OutOfMemory, msg);
        }
    }
    const fs::path runDir(req.runDir);
    const fs::path progressPath = progressJsonPath(runDir);
    const fs::path blocksDir = runDir / "blocks";
    // One run per folder at a time, whichever program starts it; held until this function returns. In a group, rank 0
    // alone touches the folder.
    std::optional<RunDirectoryLock> lock;
    if (root)
        lock.emplace(runDir);

    const std::string calibText = readTextForModel(req.calibTextPath);
    checkCancel(cancel);
    auto tokenizer = loadTokenizer(req.modelDir);
    checkCancel(cancel);
    const std::vector<int32_t> calibTokens = encodeForModelCancellable(*tokenizer, calibText, cancel);
    nlohmann::json qjson = nlohmann::json::parse(quantConfigJson(q));
    const std::string fingerprint = std::to_string(fnv1a(
        detail::readTextFile(fs::path(req.modelDir) / "config.json", "model configuration") + "|" +
        std::to_string(ck.weightBytes()) + "|" + calibText + "|" + qjson.dump()));
    if (group.distributed() && group.broadcastText(fingerprint, "comparing the ranks' inputs") != fingerprint)
        badInput("rank " + std::to_string(group.rank()) + "'s model, calibration text or options differ from rank "
                 "0's; give every rank the same files (the same bytes on every machine) and the same options");

    std::optional<RunProgressRecord> progress;
    int firstBlock = 0;
    if (!root) {
        // Rank 0 owns the folder: it says where the run starts.
    } else if (req.resume) {
        progress = RunProgressRecord::resume(runDir, fingerprint);
        firstBlock = progress->completedBlocks();
    } else {
        if (!runDirectoryIsEmpty(runDir)) {
            if (!req.force)
                badInput("run directory '" + req.runDir + "' is not empty; choose another, add --force to replace it, or "
                         "--resume to continue an interrupted run");
            clearRunDirectory(runDir);
        }
        progress.emplace(fingerprint, static_cast<int>(m.numLayers),
                         fs::absolute(req.modelDir).lexically_normal().string(),
                         fs::absolute(req.calibTextPath).lexically_normal().string(), qjson);
    }
    if (group.distributed())
        firstBlock = std::stoi(group.broadcastText(std::to_string(firstBlock), "agreeing where the run starts"));
    std::error_code ec;
    if (root)
        fs::remove_all(runDir / "model.partial", ec);
    // Out of space is refused before calibrating, with what is needed and what is free; a disk that fills up during
    // the run ends the same way at the write that fails, and --resume continues once there is room.
    const OutputSizes outputSizes = estimateOutputSizes(m, q, ck, req.modelDir);
    uint64_t stillToWrite = outputSizes.from(firstBlock);
    if (req.checkFreeSpace && root)
        requireFreeSpace(runDir, stillToWrite,
                         "this run (" + std::to_string(m.numLayers - firstBlock) +
                             " blocks to calibrate, then the quantized model in float32)");
    fs::path writing;  // the file being written, for the out-of-space message
    const std::string spaceAdvice = "free some space there and continue with --resume (finished blocks are kept)";
    try {
        if (root) {  // ranks other than 0 write nothing
            writing = blocksDir;
            fs::create_directories(blocksDir, ec);
            if (ec)
                badInput("cannot create '" + blocksDir.string() + "': " + ec.message());
            if (!req.resume) {
                writing = progressPath;
                progress->write(runDir);  // resumable from the start
            } else {
                // Views of a block the interrupted run wrote but did not record as finished are redone with the block.
                for (int64_t i = firstBlock; i < m.numLayers; ++i)
                    fs::remove(runViewsFile(runDir, static_cast<int>(i)), ec);
            }
            writing.clear();
        }
    } catch (...) {
        rethrowIfOutOfSpace(std::current_exception(), writing, stillToWrite, spaceAdvice);
        rethrowAsAqError(std::current_exception(), kOomHint);
    }

    CalibrationResult result;
    result.runDir = req.runDir;
    resetPeakDeviceBytes(device);
    const int numBlocks = static_cast<int>(m.numLayers);
    try {
        torch::Tensor ids = calibrationWindows(calibTokens, q);
        // In a group, this rank's windows: its slice of every step's batch (shardRows).
        Shard shard;
        if (group.distributed()) {
            shard.rows = shardRows(q.nsamples, q.batchSize, group.rank(), group.size());
            shard.nsamples = q.nsamples;
            ids = ids.index_select(0, torch::tensor(shard.rows, torch::kInt64));
        }
        const int64_t chunk = q.batchSize / group.size();
        obs.stage("loading", 0, numBlocks);
        // Embeddings only: blocks are streamed from the memory-mapped checkpoint one at a time. The activation
        // buffers are bf16 with mixed precision when they are large (halfPrecisionBuffers), and live in pinned host
        // memory with --buffers-on-host.
        torch::Tensor xFp, xQ;
        {
            torch::NoGradGuard ng;
            const torch::Device bufferDevice = onHost ? torch::Device(torch::kCPU) : device;
            auto embedName = m.arch == Architecture::Opt ? "model.decoder.embed_tokens.weight" : "model.embed_tokens.weight";
            auto emb = ck.load(embedName).to(bufferDevice, torch::kFloat32);
            xFp = torch::embedding(emb, ids.to(bufferDevice));
            if (m.arch == Architecture::Opt) {
                auto pos = ck.load("model.decoder.embed_positions.weight").to(bufferDevice, torch::kFloat32);
                xFp = xFp + torch::embedding(pos, torch::arange(2, q.seqlen + 2, torch::TensorOptions().dtype(torch::kInt64).device(bufferDevice))).unsqueeze(0);
            }
            xFp = xFp.to(bufferType);
            xQ = xFp.clone();
            if (onHost) {
                xFp = xFp.pin_memory();
                xQ = xQ.pin_memory();
            }
        }
        const RopeTables rope = m.arch == Architecture::Llama ? makeRopeTables(m, q.seqlen, device, torch::kFloat32) : RopeTables{};
        BlockOptions qOpts;
        qOpts.activationBits = q.abits;
        for (int i = 0; i < numBlocks; ++i) {
            checkCancel(cancel);
            BlockWeights orig = loadBlock(ck, i, device, torch::kFloat32);
            const fs::path blockFile = blocksDir / ("block_" + std::to_string(i) + ".safetensors");
            auto quantFile = [&](int k) { return blocksDir / ("block_" + std::to_string(k) + ".quant.safetensors"); };
            if (i < firstBlock) {
                // Resume: replay the finished block on both streams (cheap and exact).
                obs.stage("replaying finished block", i, numBlocks);
                BlockWeights merged;
                if (root) {
                    SafetensorsFile f(blockFile.string());
                    const std::string prefix = blockPrefix(m, i);
                    for (const auto& [name, e] : f.entries())
                        merged.tensors[name.substr(prefix.size())] = f.load(name).to(device);
                }
                if (group.distributed())
                    shareBlock(group, merged, device);  // the folder may be on rank 0's machine only
                xFp = forwardAll(m, orig, xFp, rope, {}, chunk, device, true);
                xQ = forwardAll(m, merged, xQ, rope, qOpts, chunk, device, true);
                continue;
            }
            obs.stage("calibrating", i, numBlocks);
            const std::string blockName = "block " + std::to_string(i) + " ('" + blockPrefix(m, i) + "')";
            const bool quantStream = q.method != Method::Rtn || q.abits < 16;  // xQ is computed block by block
            if (i == firstBlock) {
                // What enters the calibration: the embeddings, or the streams replayed from finished blocks.
                requireFiniteEverywhere(group, xFp, "the full-precision inputs of " + blockName, false);
                if (quantStream)
                    requireFiniteEverywhere(group, xQ, "the quantized stream's inputs of " + blockName, false);
            }
            BlockOutcome out;
            if (q.method == Method::Rtn) {
                const auto tb = Clock::now();
                out.merged = rtnBlock(m, q, orig, i);
                if (q.wbits < 16) {
                    const auto specs = weightSpecs(m, q, orig, i, nullptr);
                    for (const auto& name : blockLayout(m).linears())
                        recordGrid(out.quant, name, orig.at(name + ".weight"), specs.at(name));
                }
                xQ = q.abits < 16 ? forwardAll(m, out.merged, xQ, rope, qOpts, chunk, device, true) : xQ;
                out.report = {{"block", i}, {"seconds", since(tb)}};
                obs.blockFinished({i, numBlocks, 0, 0, since(tb), {}});
            } else {
                try {
                    out = calibrateBlock(m, q, i, numBlocks, orig, xFp, xQ, rope, obs, cancel, &group, &shard);
                } catch (...) {
                    // The block computes its full-precision targets in place of its inputs; when they overflowed,
                    // the failure (a non-finite loss, a singular matrix) is the model's, not the calibration's.
                    requireFiniteActivations(xFp, "the full-precision outputs of " + blockName);
                    throw;
                }
            }
            if (q.method != Method::Rtn)
                requireFiniteEverywhere(group, xFp, "the full-precision outputs of " + blockName, false);
            requireFiniteBlock(out, blockName);
            if (quantStream)
                requireFiniteEverywhere(group, xQ, "the quantized outputs of " + blockName, true);
            if (!root)
                continue;  // rank 0 writes the block
            writing = blockFile;
            writeSafetensors(blockFile.string(), namedBlockTensors(m, i, out.merged));
            {
                BlockWeights qp;
                qp.tensors = out.quant;
                writing = quantFile(i);
                writeSafetensors(quantFile(i).string(), namedBlockTensors(m, i, qp));
            }
            writing = runViewsFile(runDir, i);
            recorder.writeBlock(runDir, i);
            progress->addBlock(out.report, out.recoveries);
            writing = progressPath;
            progress->write(runDir);
            writing.clear();
            stillToWrite -= std::min(stillToWrite, outputSizes.blocks[static_cast<size_t>(i)]);
        }
        checkCancel(cancel);
        if (!root) {
            result.seconds = since(t0);
            return result;  // rank 0 writes the model and evaluates it
        }

        // The merged model: Hugging Face layout plus the documented extras (norm biases, post-norm matrices).
        obs.stage("writing the model", numBlocks, numBlocks);
        const fs::path partial = runDir / "model.partial";
        writing = partial;
        fs::create_directories(partial);
        // Streamed: one tensor in memory at a time, whatever the size of the model.
        std::vector<TensorSource> sources;
        for (const auto& name : ck.names())
            if (name.find(".layers.") == std::string::npos)
                sources.push_back({name, torch::kFloat32, ck.shape(name), [&ck, name, cancel] {
                                       checkCancel(cancel);  // one tensor at a time: an interrupt stops the write
                                       return ck.load(name).to(torch::kFloat32);
                                   }});
        std::vector<std::shared_ptr<SafetensorsFile>> blockFiles;
        for (int i = 0; i < numBlocks; ++i) {
            auto f = std::make_shared<SafetensorsFile>((blocksDir / ("block_" + std::to_string(i) + ".safetensors")).string());
            for (const auto& [name, e] : f->entries())
                sources.push_back({name, scalarTypeFromSafetensors(e.dtype, f->path()), e.shape, [f, name, cancel] {
                                       checkCancel(cancel);
                                       return f->load(name);
                                   }});
            blockFiles.push_back(f);
        }
        writing = partial / "model.safetensors";
        writeSafetensorsStreamed(writing.string(), sources, {{"format", "pt"}});
        nlohmann::json cfg = readJsonFile(fs::path(req.modelDir) / "config.json", "model configuration");
        cfg["torch_dtype"] = "float32";
        cfg["affinequant"] = {{"wbits", q.wbits},
                              {"abits", q.abits},
                              {"group_size", q.groupSize},
                              {"symmetric", q.symmetric},
                              {"weight_grid", weightGridName(q.weightGrid)},
                              {"method", methodName(q.method)},
                              {"preset", q.preset},
                              {"activation_quantization", q.abits < 16 ? "per-token dynamic asymmetric at every linear "
                                                                         "input and on q, k, v" : "none"},
                              {"weights", "fake-quantized (dequantized values)"},
                              {"extra_tensors", "<norm>.bias and <norm>.post_matrix (x -> norm(x) @ post_matrix)"}};
        writing = partial / "config.json";
        {
            std::ofstream out(writing);
            out << cfg.dump(2) << "\n";
            out.flush();
            if (!out)
                badInput("cannot write '" + writing.string() + "'");
        }
        for (const auto& e : fs::directory_iterator(req.modelDir)) {
            const std::string fn = e.path().filename().string();
            if (isCopiedModelFile(fn)) {
                writing = partial / fn;
                fs::copy_file(e.path(), writing, fs::copy_options::overwrite_existing);
            }
        }
        if (q.wbits < 16) {
            // Scales and zero points of every quantized linear: what packed integer exports are built from.
            std::vector<std::pair<std::string, torch::Tensor>> qp;
            for (int i = 0; i < numBlocks; ++i) {
                SafetensorsFile f((blocksDir / ("block_" + std::to_string(i) + ".quant.safetensors")).string());
                for (const auto& [name, e] : f.entries())
                    qp.emplace_back(name, f.load(name));
            }
            writing = partial / "quantization.safetensors";
            writeSafetensors(writing.string(), qp, {{"format", "affinequant"}});
        }
        writing = runDir / "model";
        fs::remove_all(runDir / "model");
        fs::rename(partial, runDir / "model");
        writing.clear();
        result.modelDir = (runDir / "model").string();

        RunProgressRecord::Completion end;
        end.modelDir = fs::absolute(req.modelDir).lexically_normal().string();
        end.calibrationText = fs::absolute(req.calibTextPath).lexically_normal().string();
        end.configuration = qjson;
        end.numBlocks = numBlocks;
        end.device = device.str();
        end.quantizationLayout = layoutJson(m, q, ck);
        end.peakHostBytes = peakHostBytes();
        end.peakDeviceBytes = peakDeviceBytes(device);
        end.viewsFormatVersion = kRunViewsFormatVersion;
        nlohmann::json run = progress->completed(end);
        if (group.distributed())
            recordDataParallel(run, group.size(), group.backend());
        if (!req.evalTextPath.empty()) {
            obs.stage("evaluating", numBlocks, numBlocks);
            EvalOptions eo;
            eo.seqlen = req.evalSeqlen > 0 ? req.evalSeqlen : q.seqlen;
            eo.maxWindows = req.evalWindows;
            eo.device = q.device;
            const std::vector<int32_t> evalTokens =
                encodeForModelCancellable(*tokenizer, readTextForModel(req.evalTextPath), cancel);
            {
                CausalLM fp(ck, device, torch::kFloat32);
                result.fpPerplexity = perplexityOfTokens(fp, evalTokens, eo, {}, cancel).perplexity;
                // RTN alongside: same weight bits and groups, same activation width, no clipping or transforms.
                for (int64_t i = 0; i < fp.numBlocks(); ++i)
                    fp.block(i) = rtnBlock(m, q, fp.block(i), i);
                fp.setActivationBits(q.abits);
                result.rtnPerplexity = perplexityOfTokens(fp, evalTokens, eo, {}, cancel).perplexity;
            }
            Checkpoint qck(result.modelDir);
            CausalLM qm(qck, device, torch::kFloat32);
            result.quantPerplexity = perplexityOfTokens(qm, evalTokens, eo, {}, cancel).perplexity;
            RunEvaluationRecord ev;
            ev.text = req.evalTextPath;
            ev.seqlen = eo.seqlen;
            ev.windows = eo.maxWindows;
            // what the text gave: the cap, or every full window when there is none or it is larger
            ev.windowsEvaluated = std::min<int64_t>(eo.maxWindows > 0 ? eo.maxWindows : INT64_MAX,
                                                    int64_t(evalTokens.size()) / eo.seqlen);
            ev.fpPerplexity = result.fpPerplexity;
            ev.rtnPerplexity = result.rtnPerplexity;
            ev.quantPerplexity = result.quantPerplexity;
            recordEvaluation(run, ev);
        }
        result.seconds = since(t0);
        result.recoveries = progress->recoveries();
        writing = runJsonPath(runDir);
        writeCompletedRun(runDir, run, result.seconds);
        writing.clear();
        obs.stage("done", numBlocks, numBlocks);
        return result;
    } catch (...) {
        fs::remove_all(runDir / "model.partial", ec);
        if (!writing.empty())
            rethrowIfOutOfSpace(std::current_exception(), writing, stillToWrite, spaceAdvice);
        rethrowAsAqError(std::current_exception(), kOomHint);
    }
}

}  // namespace
}  // namespace detail
}  // namespace aq
