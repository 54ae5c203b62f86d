// One block's calibration (spec §3.4): full-precision targets, initialization, training with rollback, merge and
// quantization, and the block passes the run shares.
#include "aq/error.h"
#include "calibration.h"
#include "collective.h"
#include "gptq_rounding.h"
#include "model.h"
#include "quantizer.h"
#include "run_file.h"
#include "torch_util.h"
#include "transforms.h"

#include <ATen/record_function.h>
#include <torch/optim/adamw.h>
#include <torch/version.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <memory>
#include <optional>
#include <sstream>

namespace aq::detail {

/// Step losses reach the observer at most this often (seconds): a CPU step is short, a GPU's shorter still.
constexpr double kStepReportSecondsCpu = 0.05;
constexpr double kStepReportSecondsCuda = 0.25;

torch::Tensor batchOf(const torch::Tensor& buffer, int64_t start, int64_t n, const torch::Device& dev,
                      torch::ScalarType type)
{
    return buffer.narrow(0, start, n).to(dev, type, /*non_blocking=*/true);
}

torch::Tensor forwardAll(const ModelConfig& m, const BlockWeights& w, torch::Tensor x, const RopeTables& rope,
                         const BlockOptions& o, int64_t batch, const torch::Device& dev, bool inPlace,
                         torch::ScalarType compute)
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

void recordGrid(std::map<std::string, torch::Tensor>& quant, const std::string& name, const torch::Tensor& w,
                const WeightQuantSpec& spec, const torch::Tensor& upper, const torch::Tensor& lower)
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

namespace {

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
    [[maybe_unused]] double m_weightDecay = 0;  ///< read by the fused CUDA step only
    std::vector<Group> m_groups;
    std::unique_ptr<torch::optim::AdamW> m_adamw;
};

/// One block's calibration: its inputs, what is derived from them once, and what each step hands on to the next.
struct BlockRun {
    BlockRun(const ModelConfig& m, const QuantConfig& q, int block, int numBlocks, const BlockWeights& orig,
             torch::Tensor& xFp, torch::Tensor& xQ, const RopeTables& rope, CalibrationObserver& obs,
             const std::atomic<bool>* cancel, Collective* group, const Shard* shard);
    BlockRun(const BlockRun&) = delete;
    BlockRun& operator=(const BlockRun&) = delete;

    const Clock::time_point t0;
    const ModelConfig& m;
    const QuantConfig& q;
    const int block, numBlocks;
    const BlockWeights& orig;
    torch::Tensor& xFp;
    torch::Tensor& xQ;
    const RopeTables& rope;
    CalibrationObserver& obs;
    const std::atomic<bool>* cancel;
    const Shard* shard;
    const torch::Device dev;
    const torch::TensorOptions opts;
    Collective single;
    Collective& g;
    const bool dp;
    int64_t B = 0;  ///< windows per training step (see the constructor)
    BlockOutcome r;
    std::vector<std::string> fallback;
    std::map<std::string, WeightQuantSpec> specs;
    bool mixed = false;

    // The precision of the passes (choosePassPrecision).
    bool fast = false;
    bool halfPasses = false;
    torch::ScalarType computeType = torch::kFloat32;
    torch::ScalarType passType = torch::kFloat32;
    RopeTables ropeCompute;
    const RopeTables* ropePass = nullptr;
    BlockWeights origPass;

    // The targets and the transforms (fullPrecisionTargets, initialize).
    std::map<std::string, SiteStats> stats;
    torch::Tensor yFp, yFp2;
    BlockTransforms t;
    double sf = 0, letLr = 0, lwcLr = 0;
    BlockOptions qOpts;
    EpochMasks masks;

    // The training (prepareTraining, trainEpochs).
    BlockRecord record;  ///< the block's entry in the run's records, completed by finishBlock
    std::vector<torch::Tensor> letParams, lwcParams, allParams;
    bool train = false;
    std::unique_ptr<BlockOptimizer> optimizer;
    int64_t steps = 0;
    InverseCache inverses;
    TransformOptions stepOptions;
    double worstResidual = 0;
    int inverseFallbacks = 0;
    double reportInterval = 0;
    Clock::time_point lastReport;
    std::vector<torch::Tensor> shared;  // data-parallel: the gradients and the loss, averaged over the ranks each step
};

BlockRun::BlockRun(const ModelConfig& m, const QuantConfig& q, int block, int numBlocks, const BlockWeights& orig,
                   torch::Tensor& xFp, torch::Tensor& xQ, const RopeTables& rope, CalibrationObserver& obs,
                   const std::atomic<bool>* cancel, Collective* group, const Shard* shard)
    : t0(Clock::now()), m(m), q(q), block(block), numBlocks(numBlocks), orig(orig), xFp(xFp), xQ(xQ), rope(rope),
      obs(obs), cancel(cancel), shard(shard), dev(parseDevice(q.device)),
      opts(torch::TensorOptions().dtype(torch::kFloat32).device(dev)), g(group ? *group : single), dp(g.distributed())
{
    if (dp && !shard)
        throw Error(ErrorCode::Internal, "a data-parallel block calibration needs its shard");
    // Windows per training step: the global batch in one process, this rank's slice of it in a group. Passes without
    // gradients go over the buffers in chunks of the same size.
    B = q.batchSize / g.size();
    specs = weightSpecs(m, q, orig, block, &fallback);
    mixed = q.mixedPrecision && dev.is_cuda();
}

/// The weights as the passes without gradients use them: bf16 copies with half-precision passes.
BlockWeights forPasses(const BlockRun& c, const BlockWeights& w)
{
    if (!c.halfPasses)
        return w;
    BlockWeights half = w;
    for (auto& [n, x] : half.tensors)
        x = x.detach().to(torch::kBFloat16);
    return half;
}

/// Large models on the fast path (mixed precision on CUDA, hidden size >= 1024). With quantized activations they
/// also run every pass in bf16: the training steps, the full-precision targets, the loss passes and the next
/// block's inputs (the activation buffers are bf16 there anyway), and the training steps start from a bf16 copy of
/// the weights, which halves the bytes of every elementwise pass that builds the transformed weights. Weight-only
/// recipes keep float32 weights and passes: their smaller error is sensitive to bf16 rounding (on the LLaMA-7B-
/// shaped block the bf16 variant moved the final w4a16g128 loss 1.9 % away from the float32 path's, W4A4's 0.2 %).
/// The merge always uses the float32 originals.
void choosePassPrecision(BlockRun& c)
{
    c.fast = c.mixed && fastMatrixPath(c.m, c.q, true);
    c.halfPasses = c.fast && c.q.abits < 16;
    c.computeType = c.mixed ? torch::kBFloat16 : torch::kFloat32;
    c.passType = c.halfPasses ? torch::kBFloat16 : torch::kFloat32;
    c.ropeCompute = c.mixed && c.rope.cos.defined()
                        ? RopeTables{c.rope.cos.to(torch::kBFloat16), c.rope.sin.to(torch::kBFloat16)}
                        : c.rope;
    c.ropePass = c.halfPasses ? &c.ropeCompute : &c.rope;
    c.origPass = forPasses(c, c.orig);
}

/// Full-precision targets and activation statistics from the FP stream. The targets replace the inputs in place:
/// this block never reads its FP inputs again.
void fullPrecisionTargets(BlockRun& c)
{
    BlockOptions probeFp;
    probeFp.probe = [&c](const char* site, const torch::Tensor& x) {
        SiteStats& st = c.stats[site];
        if (c.dp && st.globalIndex.empty()) {
            st.globalIndex = c.shard->rows;
            st.globalCount = c.shard->nsamples;
        }
        st.add(x);
    };
    c.obs.stage(Stage::FullPrecisionTargets, c.block, c.numBlocks);
    if (c.q.augLoss)
        c.yFp2 = forwardAll(c.m, c.origPass, c.xQ, *c.ropePass, {}, c.B, c.dev, false, c.passType);
    c.yFp = forwardAll(c.m, c.origPass, c.xFp, *c.ropePass, probeFp, c.B, c.dev, /*inPlace=*/true, c.passType);
    checkCancel(c.cancel);
    if (c.dp) {
        // Statistics of every rank's windows: maxima by a maximum, the shift's EMA shares by a sum.
        for (auto& [site, st] : c.stats) {
            c.g.max(st.absMax, "combining the activation statistics");
            c.g.sum({st.shift}, "combining the activation statistics");
        }
    }
}

/// Mean squared error of the block `w` on the quantized stream against the full-precision targets (over every rank).
double blockLoss(BlockRun& c, const BlockWeights& w)
{
    torch::NoGradGuard ng;
    double sum = 0;
    for (int64_t i = 0; i < c.xQ.size(0); i += c.B) {
        const int64_t n = std::min(c.B, c.xQ.size(0) - i);
        auto out = runDecoderBlock(c.m, w, batchOf(c.xQ, i, n, c.dev, c.passType), *c.ropePass, c.qOpts)
                       .to(torch::kFloat32);
        sum += (out - batchOf(c.yFp, i, n, c.dev, torch::kFloat32)).pow(2).sum().item<double>();
    }
    return c.g.distributed() ? globalMean(c.g, sum, c.yFp.numel(), "measuring the block loss")
                             : sum / static_cast<double>(c.yFp.numel());
}

/// The initial transforms from the statistics, the clipping search (--lwc-init-search) and the initial loss.
void initialize(BlockRun& c)
{
    c.t = initTransforms(c.m, c.q, c.orig, c.stats, c.specs, c.opts);
    c.sf = c.q.sf;
    c.letLr = c.q.letLr;
    c.lwcLr = c.q.lwcLr;
    c.qOpts.activationBits = c.q.abits;
    c.masks = makeEpochMasks(c.m, c.q, 0, c.sf, c.opts);
    if (c.q.lwcInitSearch && !c.t.lwc.empty()) {
        torch::NoGradGuard ng;
        searchClipping(c.t, applyTransforms(c.m, c.q, c.orig, c.t, c.masks, c.specs, false), c.specs);
    }
    {
        torch::NoGradGuard ng;
        c.record.initialLoss =
            blockLoss(c, forPasses(c, applyTransforms(c.m, c.q, c.orig, c.t, c.masks, c.specs, true)));
    }
}

std::unique_ptr<BlockOptimizer> makeOptimizer(const BlockRun& c)
{
    return std::make_unique<BlockOptimizer>(c.letParams, c.letLr, c.lwcParams, c.lwcLr, c.q.weightDecay, c.mixed);
}

/// The parameters, the optimizer and the options of the training steps.
void prepareTraining(BlockRun& c)
{
    c.letParams = c.t.letParameters();
    c.lwcParams = c.t.lwcParameters();
    c.train = c.q.epochs > 0 && (!c.letParams.empty() || !c.lwcParams.empty());
    c.allParams = c.t.all();
    c.optimizer = c.train ? makeOptimizer(c) : nullptr;
    c.steps = c.q.nsamples / c.q.batchSize;  // global steps: every rank takes each one
    if (c.train)
        c.obs.stage(Stage::Training, c.block, c.numBlocks);  // the targets are done: the epochs follow
    // Mixed precision on CUDA: bf16 weights straight from the fused quantizer. On the fast path also bf16 products
    // for the full post-norm matrices, and the inverses of every matrix transform (post-norm and per-head) refined from
    // one step to the next (exact LU at every epoch start and whenever the refinement's residual exceeds 1e-2).
    const bool anyMatrix = !maskedMatrices(c.t, c.masks).empty();
    if (c.mixed) {
        c.stepOptions.quantOut = torch::kBFloat16;
        c.stepOptions.halfProducts = c.fast;
        // Refined per-head inverses only with quantized activations (measured there: W4A4 block loss within 0.2 % of
        // the float32 path); weight-only recipes keep exact per-head inverses.
        c.stepOptions.refineHeadInverses = c.halfPasses;
        if (c.fast && (c.q.lnMatrix || (c.halfPasses && anyMatrix)))
            c.stepOptions.cache = &c.inverses;
    }
    // The host reads the loss only when it reports (a device synchronisation); the finiteness of the loss and of
    // every gradient is accumulated on the device and checked at those points and at the end of the epoch.
    c.reportInterval = c.dev.is_cuda() ? kStepReportSecondsCuda : kStepReportSecondsCpu;
    c.lastReport = Clock::now() - std::chrono::seconds(1);
}

/// One epoch's attempt: where it started (for a rollback) and what its steps found.
struct Epoch {
    int e = 0;
    Clock::time_point began;
    double waitedBefore = 0;
    BlockTransforms start;
    std::string failure;
    torch::Tensor lossSum, finite, gradFinite;
};

Epoch startEpoch(BlockRun& c, int e)
{
    Epoch ep;
    ep.e = e;
    ep.began = Clock::now();
    ep.waitedBefore = c.g.waitedSeconds();
    c.masks = makeEpochMasks(c.m, c.q, e, c.sf, c.opts);
    ep.start = c.t.clone();
    c.inverses.clear();
    c.worstResidual = 0;
    c.inverseFallbacks = 0;
    ep.lossSum = torch::zeros({}, c.opts);
    ep.finite = torch::ones({}, c.opts.dtype(torch::kBool));
    ep.gradFinite = torch::ones({}, c.opts.dtype(torch::kBool));
    return ep;
}

/// Reads the device's finiteness flags of the loss and the gradients (a synchronisation).
void checkFinite(Epoch& ep)
{
    if (!ep.finite.item<bool>())
        ep.failure = "non-finite loss";
    else if (!ep.gradFinite.item<bool>())
        ep.failure = "non-finite gradient";
}

/// Reads the inverse refinement's residual; past the limit the refined inverses are dropped (exact LU next step).
void checkInverses(BlockRun& c)
{
    constexpr double kRefineLimit = 1e-2;
    if (!c.inverses.residual.defined())
        return;
    const double res = c.inverses.residual.item<double>();
    c.inverses.residual = torch::Tensor();
    c.worstResidual = std::isfinite(res) ? std::max(c.worstResidual, res) : std::numeric_limits<double>::infinity();
    if (!(res <= kRefineLimit)) {
        c.inverses.clear();
        ++c.inverseFallbacks;
    }
}

/// The loss of step `s` on this rank's slice of the batch, and its gradients.
torch::Tensor stepLoss(BlockRun& c, int64_t s)
{
    auto w = applyTransforms(c.m, c.q, c.origPass, c.t, c.masks, c.specs, true, c.stepOptions);
    if (c.mixed)
        for (auto& [n, x] : w.tensors)
            x = x.to(torch::kBFloat16);  // norms, biases, post-norm matrices (the weights already are)
    // bfloat16 matrix products, float32 master parameters and loss: no loss scaling is needed.
    auto out = runDecoderBlock(c.m, w, batchOf(c.xQ, s * c.B, c.B, c.dev, c.computeType), c.ropeCompute, c.qOpts)
                   .to(torch::kFloat32);
    auto loss = (out - batchOf(c.yFp, s * c.B, c.B, c.dev, torch::kFloat32)).pow(2).mean();
    if (c.q.augLoss)
        loss = loss + (out - batchOf(c.yFp2, s * c.B, c.B, c.dev, torch::kFloat32)).pow(2).mean();
    c.optimizer->zeroGrad();
    loss.backward();
    return loss.detach();
}

/// The global batch's mean loss and its gradient: the mean of the ranks' (equal slices). A non-finite value on any
/// rank makes the sums non-finite everywhere, so every rank takes the same branch after the step.
torch::Tensor averageOverRanks(BlockRun& c, torch::Tensor lv)
{
    torch::NoGradGuard ng;
    lv = lv.clone();
    c.shared.clear();
    for (const auto& p : c.allParams)
        if (p.grad().defined())
            c.shared.push_back(p.grad());
    c.shared.push_back(lv);
    c.g.sum(c.shared, "averaging the gradients");
    for (auto& t : c.shared)
        t.div_(c.g.size());
    return lv;
}

/// One training step; sets the epoch's failure when the flags the host reads say so.
void trainStep(BlockRun& c, Epoch& ep, int64_t s)
{
    checkCancel(c.cancel);
    truncateScales(c.t);
    RECORD_USER_SCOPE("aq::train_step");
    torch::Tensor lv = stepLoss(c, s);
    if (c.dp)
        lv = averageOverRanks(c, lv);
    {
        torch::NoGradGuard ng;
        ep.finite.logical_and_(torch::isfinite(lv));
        ep.lossSum.add_(lv);
        c.optimizer->accumulateFinite(ep.gradFinite, c.allParams);
    }
    c.optimizer->step();
    if (c.q.keepDominant)
        enforceDominance(c.t, c.masks);
    // The host looks at the flags when it reports (time-based), and in a group at every step, so that every
    // rank stops at the same step.
    const bool report = since(c.lastReport) > c.reportInterval || s + 1 == c.steps;
    if (report || c.dp) {
        checkFinite(ep);
        checkInverses(c);
        if (!ep.failure.empty())
            return;
    }
    if (report) {
        c.obs.stepLoss({c.block, ep.e, static_cast<int>(s), lv.item<double>(), static_cast<int>(c.steps)});
        c.lastReport = Clock::now();
    }
}

/// Conditioning of every matrix at the end of the epoch; a matrix past --condition-limit fails the epoch.
std::vector<MatrixDiagnostics> diagnoseMatrices(BlockRun& c, Epoch& ep)
{
    std::vector<MatrixDiagnostics> diags;
    for (const auto& [name, blocks] : maskedMatrices(c.t, c.masks)) {
        diags.push_back(diagnose(name, blocks, c.block, ep.e,
                                 isPostNormMatrix(name) ? c.masks.bigBand : c.masks.headBand));
        if (!(diags.back().conditionEstimate <= c.q.conditionLimit)) {
            std::ostringstream why;
            why << "condition estimate of " << name << " " << diags.back().conditionEstimate << " > "
                << c.q.conditionLimit;
            ep.failure = why.str();
        }
    }
    return diags;
}

/// Restores the transforms the failed epoch started from and lowers the learning rates and the stability factor, or
/// gives up after --max-recoveries.
void rollBack(BlockRun& c, const Epoch& ep)
{
    if (static_cast<int>(c.r.recoveries) >= c.q.maxRecoveries)
        throw Error(ErrorCode::Numerical,
                    "block " + std::to_string(c.block) + ", epoch " + std::to_string(ep.e) + ": " + ep.failure +
                        " after " + std::to_string(c.r.recoveries) +
                        " recoveries; lower --let-lr/--lwc-lr or --sf, or try --keep-dominant");
    c.t.copyFrom(ep.start);
    std::ostringstream action;
    const double f = c.q.rollbackFactor;
    action << "rolled back the epoch; let-lr " << c.letLr << " -> " << c.letLr * f << ", lwc-lr " << c.lwcLr << " -> "
           << c.lwcLr * f << ", sf " << c.sf << " -> " << c.sf * f;
    c.letLr *= f;
    c.lwcLr *= f;
    c.sf *= f;
    c.optimizer = makeOptimizer(c);
    ++c.r.recoveries;
    Recovery rec{c.block, ep.e, ep.failure, action.str()};
    c.obs.recovery(rec);
    c.obs.log("block " + std::to_string(c.block) + " epoch " + std::to_string(ep.e) + ": " + ep.failure + "; " +
              rec.action);
    c.record.recoveries.push_back({ep.e, ep.failure, rec.action});
}

/// Reports a finished epoch (summary, matrix diagnostics and snapshots) and records it for the block's report.
void finishEpoch(BlockRun& c, const Epoch& ep, double sum, const std::vector<MatrixDiagnostics>& diags)
{
    EpochSummary es{c.block, ep.e, c.q.epochs, sum / static_cast<double>(c.steps), since(ep.began),
                    c.masks.bigBand, {}};
    if (c.dp) {
        const double busy = std::max(es.seconds - (c.g.waitedSeconds() - ep.waitedBefore), 1e-9);
        es.rankWindowsPerSecond = c.g.gather(static_cast<double>(c.steps * c.B) / busy, "reporting throughput");
    }
    BlockRecord::Epoch record{ep.e, es.meanLoss, es.seconds, c.masks.bigBand, c.masks.headBand, c.sf, false, 0, 0, {}};
    if (c.stepOptions.cache) {
        record.inverseRefinement = true;
        record.maxResidual = c.worstResidual;
        record.fallbacksToLu = c.inverseFallbacks;
    }
    for (const auto& d : diags) {
        c.obs.matrixDiagnostics(d);
        record.matrices.push_back(
            {d.transform, d.minMargin, d.medianMargin, d.nonDominantRows, d.size, d.conditionEstimate});
    }
    for (const auto& [name, blocks] : maskedMatrices(c.t, c.masks)) {
        const auto& mask = isPostNormMatrix(name) ? c.masks.big : c.masks.head;
        c.obs.matrixSnapshot(snapshot(name, blocks, mask, c.block, ep.e));
    }
    c.obs.epochFinished(es);
    c.record.epochs.push_back(std::move(record));
}

/// The epochs; a failed one (non-finite loss or gradient, or an ill-conditioned matrix, on any rank) is rolled back
/// and repeated.
void trainEpochs(BlockRun& c)
{
    for (int e = 0; c.train && e < c.q.epochs; ++e) {
        Epoch ep = startEpoch(c, e);
        for (int64_t s = 0; s < c.steps && ep.failure.empty(); ++s)
            trainStep(c, ep, s);
        if (ep.failure.empty())
            checkFinite(ep);
        const double sum = ep.failure.empty() ? ep.lossSum.item<double>() : 0.0;
        std::vector<MatrixDiagnostics> diags;
        if (ep.failure.empty())
            diags = diagnoseMatrices(c, ep);
        if (c.dp && c.g.anyRank(!ep.failure.empty(), "agreeing on the epoch's outcome") && ep.failure.empty())
            ep.failure = "another rank's condition estimate";
        if (!ep.failure.empty()) {
            rollBack(c, ep);
            --e;
            continue;
        }
        finishEpoch(c, ep, sum, diags);
    }
}

/// The merged block and its quantization grids (with each linear's histogram for the views); returns the transformed
/// weights before rounding.
BlockWeights mergeBlock(BlockRun& c)
{
    truncateScales(c.t);
    if (!c.train)
        c.masks = makeEpochMasks(c.m, c.q, std::max(c.q.epochs - 1, 0), c.sf, c.opts);
    BlockWeights unquantized = applyTransforms(c.m, c.q, c.orig, c.t, c.masks, c.specs, false);
    c.r.merged = applyTransforms(c.m, c.q, c.orig, c.t, c.masks, c.specs, true);
    for (auto& [n, x] : c.r.merged.tensors)
        x = x.detach();
    for (const auto& name : blockLayout(c.m).linears()) {
        c.obs.weightHistogram(histogram(name, unquantized.at(name + ".weight"), c.specs.at(name), c.t, c.block));
        if (c.q.wbits < 16) {
            auto it = c.t.lwc.find(name);
            const bool learn = it != c.t.lwc.end();
            recordGrid(c.r.quant, name, unquantized.at(name + ".weight"), c.specs.at(name),
                       learn ? it->second.first : torch::Tensor(), learn ? it->second.second : torch::Tensor());
        }
    }
    return unquantized;
}

/// Mean squared error of the next block's quantized inputs against the full-precision targets (over every rank).
double finalLoss(BlockRun& c)
{
    double sum = 0;
    for (int64_t i = 0; i < c.xQ.size(0); i += c.B) {
        const int64_t n = std::min(c.B, c.xQ.size(0) - i);
        sum += (batchOf(c.xQ, i, n, c.dev, torch::kFloat32) - batchOf(c.yFp, i, n, c.dev, torch::kFloat32))
                   .pow(2)
                   .sum()
                   .item<double>();
    }
    return c.dp ? globalMean(c.g, sum, c.yFp.numel(), "measuring the block loss")
                : sum / static_cast<double>(c.yFp.numel());
}

/// The next block's inputs on both streams, with the transformed activations' channel maxima for the outlier view;
/// returns the block's final loss.
double passOn(BlockRun& c)
{
    std::map<std::string, SiteStats> after;
    BlockOptions mergedOpts = c.qOpts;
    mergedOpts.probe = [&](const char* site, const torch::Tensor& x) { after[site].add(x); };
    c.xQ = forwardAll(c.m, forPasses(c, c.r.merged), c.xQ, *c.ropePass, mergedOpts, c.B, c.dev, /*inPlace=*/true,
                      c.passType);
    const double loss = finalLoss(c);
    if (c.dp)
        for (auto& [site, st] : after)
            c.g.max(st.absMax, "combining the activation statistics");
    c.xFp = c.yFp;
    // "down" is never transformed: its "before" is the full-precision block's and its "after" the merged quantized
    // block's, so it shows what the transforms upstream (and the quantization) did to the down_proj input.
    for (const auto& [site, layers] : linearSites(c.m))
        c.obs.activationProfile(
            {c.block, parseSite(site), toFloats(c.stats[site].absMax), toFloats(after[site].absMax), layers});
    return loss;
}

/// Reports the finished block and completes its report.
BlockOutcome finishBlock(BlockRun& c, double loss)
{
    BlockSummary bs{c.block, c.numBlocks, c.record.initialLoss, loss, since(c.t0), c.fallback};
    c.obs.blockFinished(bs);
    c.record.block = c.block;
    c.record.trained = true;
    c.record.finalLoss = loss;
    c.record.seconds = bs.seconds;
    c.record.peakDeviceBytes = peakDeviceBytes(c.dev);
    c.record.perChannelFallback = c.fallback;
    c.r.report = blockRecordJson(c.record);
    return std::move(c.r);
}

}  // namespace

/// Calibrates one block: FP targets, statistics, init, training with rollback, merge.
BlockOutcome calibrateBlock(const ModelConfig& m, const QuantConfig& q, int block, int numBlocks, const BlockWeights& orig,
                            torch::Tensor& xFp, torch::Tensor& xQ, const RopeTables& rope, CalibrationObserver& obs,
                            const std::atomic<bool>* cancel, Collective* group, const Shard* shard)
{
    BlockRun c(m, q, block, numBlocks, orig, xFp, xQ, rope, obs, cancel, group, shard);
    // TF32 for the float32 products that build the transformed weights (the bf16 path's own products are bf16).
    const Tf32Scope tf32(c.mixed);
    choosePassPrecision(c);
    fullPrecisionTargets(c);
    initialize(c);
    prepareTraining(c);
    trainEpochs(c);

    // Merge with the last epoch's masks (or the initial transforms when untrained), then quantize.
    checkCancel(cancel);
    obs.stage(Stage::Merging, block, numBlocks);
    torch::NoGradGuard ng;
    const ReferenceWeightQuantScope sameArithmeticAsExports;
    const BlockWeights unquantized = mergeBlock(c);
    if (q.gptqRounding && q.wbits < 16)
        roundWithErrorFeedback(m, q, unquantized, c.t, c.specs, c.r.merged, xQ, *c.ropePass, c.qOpts, c.B, c.dev,
                               c.passType, c.g);
    const double loss = passOn(c);
    return finishBlock(c, loss);
}

}  // namespace aq::detail
