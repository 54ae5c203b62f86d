// A calibration run (spec §3.4): its run directory and resume, the block-wise loop with its guarded numerics, and the
// merged model with its evaluation.
#include "aq/calibrate.h"

#include "aq/device.h"
#include "aq/error.h"
#include "aq/evaluate.h"
#include "aq/tokenizer.h"
#include "calibration.h"
#include "calibration_progress.h"
#include "cancellable_tokenize.h"
#include "checkpoint.h"
#include "finite_check.h"
#include "jsonutil.h"
#include "model.h"
#include "perplexity.h"
#include "publish.h"
#include "quantizer.h"
#include "run_directory.h"
#include "run_file.h"
#include "run_views.h"
#include "safetensors.h"
#include "torch_util.h"
#include "transforms.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace aq {
namespace detail {

/// With mixed precision, activation buffers larger than this in float32 are kept in bfloat16.
constexpr double kHalfPrecisionBufferBytes = double(1ll << 30);

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

void checkCancel(const std::atomic<bool>* cancel) { throwIfCancelled(cancel, "calibration"); }

namespace {

const char* kOomHint = "lower --nsamples or --seqlen (or --batch-size), or use a device with more memory";
const char* kSpaceAdvice = "free some space there and continue with --resume (finished blocks are kept)";

class NullObserver : public CalibrationObserver {};

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
BlockWeights rtnBlock(const ModelConfig& m, const QuantConfig& q, const BlockWeights& w, int64_t block)
{
    QuantConfig rq = q;
    rq.method = Method::Rtn;
    rq.lwc = rq.let = false;
    const auto specs = weightSpecs(m, rq, w, block, nullptr);
    EpochMasks none;
    return applyTransforms(m, rq, w, BlockTransforms{}, none, specs, true);
}

}  // namespace

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

/// One rank's run: the request, the model, and what each step derives and hands on to the next.
struct RankRun {
    RankRun(const CalibrationRequest& req, const std::atomic<bool>* cancel, Collective& group, ViewRecorder& recorder,
            CalibrationObserver& obs, const torch::Device& device, Checkpoint& ck)
        : req(req), cancel(cancel), group(group), root(group.isRoot()), recorder(recorder), obs(obs), q(req.config),
          device(device), ck(ck), m(ck.config()), numBlocks(static_cast<int>(m.numLayers)), runDir(req.runDir),
          progressPath(progressJsonPath(runDir)), blocksDir(runDir / "blocks")
    {
    }
    RankRun(const RankRun&) = delete;
    RankRun& operator=(const RankRun&) = delete;

    const CalibrationRequest& req;
    const std::atomic<bool>* cancel;
    Collective& group;
    const bool root;
    ViewRecorder& recorder;
    CalibrationObserver& obs;
    const QuantConfig& q;
    const torch::Device device;
    Checkpoint& ck;
    const ModelConfig& m;
    const int numBlocks;
    bool onHost = false;                             ///< activation buffers in pinned host memory
    torch::ScalarType bufferType = torch::kFloat32;  ///< the activation buffers' type
    const fs::path runDir, progressPath, blocksDir;
    /// One run per folder at a time, whichever program starts it; held until the run returns. In a group, rank 0
    /// alone touches the folder.
    std::optional<RunDirectoryLock> lock;
    std::unique_ptr<Tokenizer> tokenizer;
    std::vector<int32_t> calibTokens;
    nlohmann::json qjson;
    std::optional<RunProgressRecord> progress;
    int firstBlock = 0;
    OutputSizes outputSizes;
    uint64_t stillToWrite = 0;
    fs::path writing;  // the file being written, for the out-of-space message
};

/// The activation streams of this rank's windows and what every pass over them needs.
struct Streams {
    Shard shard;
    int64_t chunk = 0;  ///< windows per pass: this rank's slice of a step's batch
    torch::Tensor xFp, xQ;
    RopeTables rope;
    BlockOptions qOpts;
};

fs::path blockFile(const RankRun& r, int i) { return r.blocksDir / ("block_" + std::to_string(i) + ".safetensors"); }
fs::path quantFile(const RankRun& r, int i)
{
    return r.blocksDir / ("block_" + std::to_string(i) + ".quant.safetensors");
}

/// Refuses a configuration the model cannot take, an already quantized model and a missing run directory.
void checkRequest(const RankRun& r)
{
    validateConfig(r.q, r.m);
    if (r.m.activationBits < 16 || r.m.weightBits < 16)
        badInput("'" + r.req.modelDir + "' is already quantized (its config.json has an affinequant block); start from "
                 "the original model");
    if (r.req.runDir.empty())
        badInput("no run directory given (--out)");
}

/// Where the activation buffers live and in which type; refuses early, with the setting to lower, when they cannot
/// fit.
void placeBuffers(RankRun& r)
{
    const QuantConfig& q = r.q;
    const torch::Device& device = r.device;
    r.onHost = q.buffersOnHost && device.is_cuda();
    r.bufferType = halfPrecisionBuffers(r.m, q, device.is_cuda()) ? torch::kBFloat16 : torch::kFloat32;
    const MemoryEstimate est = estimateCalibrationMemory(r.m, q, device.is_cuda(), r.group.size());
    const double onDevice = est.deviceBytes();
    const int64_t available = freeMemoryBytes(device);
    if (available > 0 && onDevice > static_cast<double>(available)) {
        char msg[640];
        std::snprintf(msg, sizeof msg,
                      "calibration needs about %.1f GB on %s (activation buffers of %lld samples x %lld tokens x %lld "
                      "channels%s, one block, one step's activations) but only %.1f GB are free; lower --nsamples or "
                      "--seqlen%s",
                      onDevice / 1e9, device.str().c_str(), static_cast<long long>(q.nsamples),
                      static_cast<long long>(q.seqlen), static_cast<long long>(r.m.hiddenSize),
                      r.onHost ? " kept in host memory" : "", static_cast<double>(available) / 1e9,
                      r.onHost || !device.is_cuda() ? "" : ", or add --buffers-on-host");
        throw Error(ErrorCode::OutOfMemory, msg);
    }
}

/// Reads and tokenizes the calibration text; returns the fingerprint of the run's inputs (for --resume), refused when
/// the ranks' differ.
std::string tokenizeCalibrationText(RankRun& r)
{
    const CalibrationRequest& req = r.req;
    const std::string calibText = readTextForModel(req.calibTextPath);
    checkCancel(r.cancel);
    r.tokenizer = loadTokenizer(req.modelDir);
    checkCancel(r.cancel);
    r.calibTokens = encodeForModelCancellable(*r.tokenizer, calibText, r.cancel);
    r.qjson = nlohmann::json::parse(quantConfigJson(r.q));
    const std::string fingerprint =
        resumeFingerprint(detail::readTextFile(fs::path(req.modelDir) / "config.json", "model configuration"),
                          r.ck.weightBytes(), calibText, r.qjson.dump());
    if (r.group.distributed() && r.group.broadcastText(fingerprint, "comparing the ranks' inputs") != fingerprint)
        badInput("rank " + std::to_string(r.group.rank()) + "'s model, calibration text or options differ from rank "
                 "0's; give every rank the same files (the same bytes on every machine) and the same options");
    return fingerprint;
}

/// The run's progress record: a new one, or the interrupted run's with --resume; and the block the run starts at.
void openProgress(RankRun& r, const std::string& fingerprint)
{
    const CalibrationRequest& req = r.req;
    if (!r.root) {
        // Rank 0 owns the folder: it says where the run starts.
    } else if (req.resume) {
        r.progress = RunProgressRecord::resume(r.runDir, fingerprint);
        r.firstBlock = r.progress->completedBlocks();
    } else {
        if (!runDirectoryIsEmpty(r.runDir)) {
            if (!req.force)
                badInput("run directory '" + req.runDir + "' is not empty; choose another, add --force to replace it, or "
                         "--resume to continue an interrupted run");
            clearRunDirectory(r.runDir);
        }
        r.progress.emplace(fingerprint, static_cast<int>(r.m.numLayers),
                           fs::absolute(req.modelDir).lexically_normal().string(),
                           fs::absolute(req.calibTextPath).lexically_normal().string(), r.qjson);
    }
    if (r.group.distributed())
        r.firstBlock = std::stoi(r.group.broadcastText(std::to_string(r.firstBlock), "agreeing where the run starts"));
}

/// Removes an unfinished model folder (model.partial) an earlier run left. Out of space is refused before calibrating,
/// with what is needed and what is free; a disk that fills up during the run ends the same way at the write that
/// fails, and --resume continues once there is room.
void requireOutputSpace(RankRun& r)
{
    std::error_code ec;
    if (r.root)
        fs::remove_all(r.runDir / "model.partial", ec);
    r.outputSizes = estimateOutputSizes(r.m, r.q, r.ck, r.req.modelDir);
    r.stillToWrite = r.outputSizes.from(r.firstBlock);
    if (r.req.checkFreeSpace && r.root)
        requireFreeSpace(r.runDir, r.stillToWrite,
                         "this run (" + std::to_string(r.m.numLayers - r.firstBlock) +
                             " blocks to calibrate, then the quantized model in float32)");
}

/// The blocks folder, and progress.json of a new run (resumable from the start); a resumed run forgets the views of
/// blocks not recorded as finished.
void prepareRunDirectory(RankRun& r)
{
    try {
        if (r.root) {  // ranks other than 0 write nothing
            std::error_code ec;
            r.writing = r.blocksDir;
            fs::create_directories(r.blocksDir, ec);
            if (ec)
                badInput("cannot create '" + r.blocksDir.string() + "': " + ec.message());
            if (!r.req.resume) {
                r.writing = r.progressPath;
                r.progress->write(r.runDir);  // resumable from the start
            } else {
                // Views of a block the interrupted run wrote but did not record as finished are redone with the block.
                for (int64_t i = r.firstBlock; i < r.m.numLayers; ++i)
                    fs::remove(runViewsFile(r.runDir, static_cast<int>(i)), ec);
            }
            r.writing.clear();
        }
    } catch (...) {
        rethrowIfOutOfSpace(std::current_exception(), r.writing, r.stillToWrite, kSpaceAdvice);
        rethrowAsAqError(std::current_exception(), kOomHint);
    }
}

/// Embeddings only: blocks are streamed from the memory-mapped checkpoint one at a time. The activation
/// buffers are bf16 with mixed precision when they are large (halfPrecisionBuffers), and live in pinned host
/// memory with --buffers-on-host.
void embedWindows(const RankRun& r, const torch::Tensor& ids, Streams& s)
{
    const ModelConfig& m = r.m;
    torch::NoGradGuard ng;
    const torch::Device bufferDevice = r.onHost ? torch::Device(torch::kCPU) : r.device;
    auto embedName = m.arch == Architecture::Opt ? "model.decoder.embed_tokens.weight" : "model.embed_tokens.weight";
    auto emb = r.ck.load(embedName).to(bufferDevice, torch::kFloat32);
    s.xFp = torch::embedding(emb, ids.to(bufferDevice));
    if (m.arch == Architecture::Opt) {
        auto pos = r.ck.load("model.decoder.embed_positions.weight").to(bufferDevice, torch::kFloat32);
        const auto positions = torch::TensorOptions().dtype(torch::kInt64).device(bufferDevice);
        s.xFp = s.xFp + torch::embedding(pos, torch::arange(2, r.q.seqlen + 2, positions)).unsqueeze(0);
    }
    s.xFp = s.xFp.to(r.bufferType);
    s.xQ = s.xFp.clone();
    if (r.onHost) {
        s.xFp = s.xFp.pin_memory();
        s.xQ = s.xQ.pin_memory();
    }
}

/// This rank's calibration windows, embedded: both streams' inputs to the first block.
Streams openStreams(RankRun& r)
{
    const QuantConfig& q = r.q;
    Streams s;
    torch::Tensor ids = calibrationWindows(r.calibTokens, q);
    // In a group, this rank's windows: its slice of every step's batch (shardRows).
    if (r.group.distributed()) {
        s.shard.rows = shardRows(q.nsamples, q.batchSize, r.group.rank(), r.group.size());
        s.shard.nsamples = q.nsamples;
        ids = ids.index_select(0, torch::tensor(s.shard.rows, torch::kInt64));
    }
    s.chunk = q.batchSize / r.group.size();
    r.obs.stage(Stage::Loading, 0, r.numBlocks);
    embedWindows(r, ids, s);
    s.rope = r.m.arch == Architecture::Llama ? makeRopeTables(r.m, q.seqlen, r.device, torch::kFloat32) : RopeTables{};
    s.qOpts.activationBits = q.abits;
    return s;
}

/// Resume: replay the finished block on both streams (cheap and exact).
void replayFinishedBlock(const RankRun& r, Streams& s, int i, const BlockWeights& orig)
{
    r.obs.stage(Stage::ReplayingBlock, i, r.numBlocks);
    BlockWeights merged;
    if (r.root) {
        SafetensorsFile f(blockFile(r, i).string());
        const std::string prefix = blockPrefix(r.m, i);
        for (const auto& [name, e] : f.entries())
            merged.tensors[name.substr(prefix.size())] = f.load(name).to(r.device);
    }
    if (r.group.distributed())
        shareBlock(r.group, merged, r.device);  // the folder may be on rank 0's machine only
    s.xFp = forwardAll(r.m, orig, s.xFp, s.rope, {}, s.chunk, r.device, true);
    s.xQ = forwardAll(r.m, merged, s.xQ, s.rope, s.qOpts, s.chunk, r.device, true);
}

/// Round-to-nearest: the block's weights quantized as they are, and the quantized stream through them.
BlockOutcome roundBlock(const RankRun& r, Streams& s, int i, const BlockWeights& orig)
{
    const QuantConfig& q = r.q;
    BlockOutcome out;
    const auto tb = Clock::now();
    out.merged = rtnBlock(r.m, q, orig, i);
    if (q.wbits < 16) {
        const auto specs = weightSpecs(r.m, q, orig, i, nullptr);
        for (const auto& name : blockLayout(r.m).linears())
            recordGrid(out.quant, name, orig.at(name + ".weight"), specs.at(name));
    }
    s.xQ = q.abits < 16 ? forwardAll(r.m, out.merged, s.xQ, s.rope, s.qOpts, s.chunk, r.device, true) : s.xQ;
    BlockRecord record;
    record.block = i;
    record.seconds = since(tb);
    out.report = blockRecordJson(record);
    r.obs.blockFinished({i, r.numBlocks, 0, 0, since(tb), {}});
    return out;
}

/// The trained calibration of one block (calibrateBlock).
BlockOutcome trainBlock(RankRun& r, Streams& s, int i, const BlockWeights& orig, const std::string& blockName)
{
    try {
        return calibrateBlock(r.m, r.q, i, r.numBlocks, orig, s.xFp, s.xQ, s.rope, r.obs, r.cancel, &r.group, &s.shard);
    } catch (...) {
        // The block computes its full-precision targets in place of its inputs; when they overflowed,
        // the failure (a non-finite loss, a singular matrix) is the model's, not the calibration's.
        requireFiniteActivations(s.xFp, "the full-precision outputs of " + blockName);
        throw;
    }
}

/// Rank 0 writes the block's weights, quantization parameters and views, then records it as finished.
void writeBlock(RankRun& r, int i, const BlockOutcome& out)
{
    r.writing = blockFile(r, i);
    writeSafetensors(blockFile(r, i).string(), namedBlockTensors(r.m, i, out.merged));
    {
        BlockWeights qp;
        qp.tensors = out.quant;
        r.writing = quantFile(r, i);
        writeSafetensors(quantFile(r, i).string(), namedBlockTensors(r.m, i, qp));
    }
    r.writing = runViewsFile(r.runDir, i);
    r.recorder.writeBlock(r.runDir, i);
    r.progress->addBlock(out.report, out.recoveries);
    r.writing = r.progressPath;
    r.progress->write(r.runDir);
    r.writing.clear();
    r.stillToWrite -= std::min(r.stillToWrite, r.outputSizes.blocks[static_cast<size_t>(i)]);
}

/// Every block in turn: finished blocks replayed, the others calibrated, checked and written.
void calibrateBlocks(RankRun& r, Streams& s)
{
    const QuantConfig& q = r.q;
    for (int i = 0; i < r.numBlocks; ++i) {
        checkCancel(r.cancel);
        BlockWeights orig = loadBlock(r.ck, i, r.device, torch::kFloat32);
        if (i < r.firstBlock) {
            replayFinishedBlock(r, s, i, orig);
            continue;
        }
        r.obs.stage(Stage::Calibrating, i, r.numBlocks);
        const std::string blockName = "block " + std::to_string(i) + " ('" + blockPrefix(r.m, i) + "')";
        const bool quantStream = q.method != Method::Rtn || q.abits < 16;  // xQ is computed block by block
        if (i == r.firstBlock) {
            // What enters the calibration: the embeddings, or the streams replayed from finished blocks.
            requireFiniteEverywhere(r.group, s.xFp, "the full-precision inputs of " + blockName, false);
            if (quantStream)
                requireFiniteEverywhere(r.group, s.xQ, "the quantized stream's inputs of " + blockName, false);
        }
        const BlockOutcome out =
            q.method == Method::Rtn ? roundBlock(r, s, i, orig) : trainBlock(r, s, i, orig, blockName);
        if (q.method != Method::Rtn)
            requireFiniteEverywhere(r.group, s.xFp, "the full-precision outputs of " + blockName, false);
        requireFiniteBlock(out, blockName);
        if (quantStream)
            requireFiniteEverywhere(r.group, s.xQ, "the quantized outputs of " + blockName, true);
        if (r.root)
            writeBlock(r, i, out);  // rank 0 writes the block
    }
}

/// model.safetensors, streamed: one tensor in memory at a time, whatever the size of the model.
void writeModelWeights(RankRun& r, const fs::path& partial)
{
    Checkpoint& ck = r.ck;
    const std::atomic<bool>* cancel = r.cancel;
    std::vector<TensorSource> sources;
    for (const auto& name : ck.names())
        if (name.find(".layers.") == std::string::npos)
            sources.push_back({name, torch::kFloat32, ck.shape(name), [&ck, name, cancel] {
                                   checkCancel(cancel);  // one tensor at a time: an interrupt stops the write
                                   return ck.load(name).to(torch::kFloat32);
                               }});
    std::vector<std::shared_ptr<SafetensorsFile>> blockFiles;
    for (int i = 0; i < r.numBlocks; ++i) {
        auto f = std::make_shared<SafetensorsFile>(blockFile(r, i).string());
        for (const auto& [name, e] : f->entries())
            sources.push_back({name, scalarTypeFromSafetensors(e.dtype, f->path()), e.shape, [f, name, cancel] {
                                   checkCancel(cancel);
                                   return f->load(name);
                               }});
        blockFiles.push_back(f);
    }
    r.writing = partial / "model.safetensors";
    writeSafetensorsStreamed(r.writing.string(), sources, {{"format", "pt"}});
}

/// config.json: the model's, in float32, with the quantization it went through.
void writeModelConfig(RankRun& r, const fs::path& partial)
{
    const QuantConfig& q = r.q;
    nlohmann::json cfg = readJsonFile(fs::path(r.req.modelDir) / "config.json", "model configuration");
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
    r.writing = partial / "config.json";
    std::ofstream out(r.writing);
    out << cfg.dump(2) << "\n";
    out.flush();
    if (!out)
        badInput("cannot write '" + r.writing.string() + "'");
}

/// Scales and zero points of every quantized linear: what packed integer exports are built from.
void writeQuantizationParameters(RankRun& r, const fs::path& partial)
{
    std::vector<std::pair<std::string, torch::Tensor>> qp;
    for (int i = 0; i < r.numBlocks; ++i) {
        SafetensorsFile f(quantFile(r, i).string());
        for (const auto& [name, e] : f.entries())
            qp.emplace_back(name, f.load(name));
    }
    r.writing = partial / "quantization.safetensors";
    writeSafetensors(r.writing.string(), qp, {{"format", "affinequant"}});
}

/// The merged model: Hugging Face layout plus the documented extras (norm biases, post-norm matrices), written in
/// model.partial and renamed to model when complete; returns its folder.
std::string writeModel(RankRun& r)
{
    r.obs.stage(Stage::WritingModel, r.numBlocks, r.numBlocks);
    const fs::path partial = r.runDir / "model.partial";
    r.writing = partial;
    fs::create_directories(partial);
    writeModelWeights(r, partial);
    writeModelConfig(r, partial);
    for (const auto& e : fs::directory_iterator(r.req.modelDir)) {
        const std::string fn = e.path().filename().string();
        if (isCopiedModelFile(fn)) {
            r.writing = partial / fn;
            fs::copy_file(e.path(), r.writing, fs::copy_options::overwrite_existing);
        }
    }
    if (r.q.wbits < 16)
        writeQuantizationParameters(r, partial);
    const fs::path model = r.runDir / "model";
    r.writing = model;
    publishFolder(partial, model, "cannot move '" + partial.string() + "' to '" + model.string() + "'",
                  "cannot replace '" + model.string() + "'");
    r.writing.clear();
    return model.string();
}

/// run.json's content for the completed run.
nlohmann::json completionRecord(const RankRun& r)
{
    RunProgressRecord::Completion end;
    end.modelDir = fs::absolute(r.req.modelDir).lexically_normal().string();
    end.calibrationText = fs::absolute(r.req.calibTextPath).lexically_normal().string();
    end.configuration = r.qjson;
    end.numBlocks = r.numBlocks;
    end.device = r.device.str();
    end.quantizationLayout = layoutJson(r.m, r.q, r.ck);
    end.peakHostBytes = peakHostBytes();
    end.peakDeviceBytes = peakDeviceBytes(r.device);
    end.viewsFormatVersion = kRunViewsFormatVersion;
    nlohmann::json run = r.progress->completed(end);
    if (r.group.distributed())
        recordDataParallel(run, r.group.size(), r.group.backend());
    return run;
}

/// Perplexity on the evaluation text of the full-precision model, its RTN quantization and the calibrated model,
/// into the result and run.json.
void evaluate(const RankRun& r, CalibrationResult& result, nlohmann::json& run)
{
    const CalibrationRequest& req = r.req;
    const QuantConfig& q = r.q;
    r.obs.stage(Stage::Evaluating, r.numBlocks, r.numBlocks);
    EvalOptions eo;
    eo.seqlen = req.evalSeqlen > 0 ? req.evalSeqlen : q.seqlen;
    eo.maxWindows = req.evalWindows;
    eo.device = q.device;
    const std::vector<int32_t> evalTokens =
        encodeForModelCancellable(*r.tokenizer, readTextForModel(req.evalTextPath), r.cancel);
    {
        CausalLM fp(r.ck, r.device, torch::kFloat32);
        result.fpPerplexity = perplexityOfTokens(fp, evalTokens, eo, {}, r.cancel).perplexity;
        // RTN alongside: same weight bits and groups, same activation width, no clipping or transforms.
        for (int64_t i = 0; i < fp.numBlocks(); ++i)
            fp.block(i) = rtnBlock(r.m, q, fp.block(i), i);
        fp.setActivationBits(q.abits);
        result.rtnPerplexity = perplexityOfTokens(fp, evalTokens, eo, {}, r.cancel).perplexity;
    }
    Checkpoint qck(result.modelDir);
    CausalLM qm(qck, r.device, torch::kFloat32);
    result.quantPerplexity = perplexityOfTokens(qm, evalTokens, eo, {}, r.cancel).perplexity;
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

CalibrationResult runRank(const CalibrationRequest& req, CalibrationObserver* observer, const std::atomic<bool>* cancel,
                          Collective& group)
{
    adoptCpuThreads();
    const bool root = group.isRoot();
    NullObserver nullObserver;
    // Every report also goes into the run folder (views/), block by block, so the finished run reopens with every
    // view the live run showed. Ranks other than 0 report nothing and write nothing.
    ProgressReporter reporter(observer && root ? *observer : nullObserver, req.config.epochs);
    ViewRecorder recorder(reporter);
    CalibrationObserver& obs = root ? static_cast<CalibrationObserver&>(recorder) : nullObserver;
    const auto t0 = Clock::now();
    const torch::Device device = parseDevice(req.config.device);
    Checkpoint ck(req.modelDir);
    ck.validate();
    RankRun r(req, cancel, group, recorder, obs, device, ck);
    checkRequest(r);
    placeBuffers(r);
    if (root)
        r.lock.emplace(r.runDir);  // one run per folder at a time, held until this function returns
    const std::string fingerprint = tokenizeCalibrationText(r);
    openProgress(r, fingerprint);
    requireOutputSpace(r);
    prepareRunDirectory(r);

    CalibrationResult result;
    result.runDir = req.runDir;
    resetPeakDeviceBytes(device);
    try {
        Streams s = openStreams(r);
        calibrateBlocks(r, s);
        checkCancel(cancel);
        if (!root) {
            result.seconds = since(t0);
            return result;  // rank 0 writes the model and evaluates it
        }
        result.modelDir = writeModel(r);
        nlohmann::json run = completionRecord(r);
        if (!req.evalTextPath.empty())
            evaluate(r, result, run);
        result.seconds = since(t0);
        result.recoveries = r.progress->recoveries();
        r.writing = runJsonPath(r.runDir);
        writeCompletedRun(r.runDir, run, result.seconds);
        r.writing.clear();
        obs.stage(Stage::Done, r.numBlocks, r.numBlocks);
        return result;
    } catch (...) {
        std::error_code ec;
        fs::remove_all(r.runDir / "model.partial", ec);
        if (!r.writing.empty())
            rethrowIfOutOfSpace(std::current_exception(), r.writing, r.stillToWrite, kSpaceAdvice);
        rethrowAsAqError(std::current_exception(), kOomHint);
    }
}

}  // namespace
}  // namespace detail
}  // namespace aq
