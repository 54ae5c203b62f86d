// Verification of an export folder (hf, awq, gptq, compressed-tensors) against its run, with the exported model's
// forward pass and logits comparison that the GGUF verification (verify_gguf.cpp) shares. The decoders here are
// written from the format descriptions (../shared/spec/export-formats.md) and share no code with the packer
// (export_pack.cpp): they read bits with division and remainder where the packer multiplies and sums, so a layout
// mistake on one side shows up.
#include "aq/export.h"

#include "aq/error.h"
#include "aq/evaluate.h"
#include "aq/tokenizer.h"
#include "cancellable_tokenize.h"
#include "checkpoint.h"
#include "export_plan.h"
#include "gguf_reader.h"
#include "jsonutil.h"
#include "model.h"
#include "torch_util.h"
#include "transforms.h"
#include "progress_clock.h"
#include "verify_internal.h"

#include <cmath>
#include <filesystem>
#include <random>
#include <set>

namespace fs = std::filesystem;

namespace aq {
namespace detail {
namespace {

using nlohmann::json;

/// Tensor names that belong to a packed layer rather than to the model's own parameters.
const std::set<std::string> kPackedSuffixes = {"qweight", "qzeros", "scales", "g_idx", "weight_packed", "weight_scale",
                                               "weight_zero_point", "weight_shape", "weight_g_idx"};

/// Unsigned value of each 32-bit word (stored as int32), widened to int64.
torch::Tensor unsignedWords(const torch::Tensor& words)
{
    auto w = words.to(torch::kInt64);
    return torch::where(w.lt(0), w + (int64_t(1) << 32), w);
}

/// Field `index` of width `bits` from each word: floor(w / 2^(bits*index)) mod 2^bits.
torch::Tensor field(const torch::Tensor& words64, int bits, int64_t index)
{
    const int64_t divisor = int64_t(1) << (bits * index);
    return words64.div(divisor, "floor").remainder(int64_t(1) << bits);
}

/// Every field of every word, in field order, as a new last dimension: [..., fields].
torch::Tensor allFields(const torch::Tensor& words64, int bits, int64_t fields)
{
    std::vector<torch::Tensor> parts;
    for (int64_t i = 0; i < fields; ++i)
        parts.push_back(field(words64, bits, i));
    return torch::stack(parts, -1);
}

struct Decoded {
    torch::Tensor weight;        ///< float32 [out, in]
    std::string source;
    double relTolerance = 0;     ///< of the layer's max |w|, from the storage dtype of the scales
};

class Problems {
public:
    explicit Problems(std::vector<std::string>& sink) : m_sink(sink) {}
    void add(const std::string& what) { m_sink.push_back(what); }
    bool expect(bool ok, const std::string& what)
    {
        if (!ok)
            add(what);
        return ok;
    }

private:
    std::vector<std::string>& m_sink;
};

std::string shapeText(const std::vector<int64_t>& s)
{
    std::string r = "[";
    for (size_t i = 0; i < s.size(); ++i)
        r += (i ? ", " : "") + std::to_string(s[i]);
    return r + "]";
}

/// Reads one tensor with its expected dtype and shape; records a problem and returns an undefined tensor otherwise.
torch::Tensor expectTensor(const Checkpoint& ex, const std::string& name, const std::string& dtype,
                           const std::vector<int64_t>& shape, Problems& p)
{
    if (!p.expect(ex.contains(name), "missing tensor " + name))
        return {};
    if (!p.expect(ex.dtypeName(name) == dtype, name + " has dtype " + ex.dtypeName(name) + ", expected " + dtype))
        return {};
    if (!p.expect(ex.shape(name) == shape,
                  name + " has shape " + shapeText(ex.shape(name)) + ", expected " + shapeText(shape)))
        return {};
    return ex.load(name);
}

double storageTolerance(const std::string& dtype) { return dtype == "BF16" ? std::ldexp(1.0, -7) : std::ldexp(1.0, -10); }

bool checkCodes(const torch::Tensor& codes, int64_t lo, int64_t hi, const std::string& what, Problems& p)
{
    const int64_t mn = codes.min().item<int64_t>(), mx = codes.max().item<int64_t>();
    return p.expect(mn >= lo && mx <= hi, what + " spans [" + std::to_string(mn) + ", " + std::to_string(mx) +
                                              "], outside [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
}

/// AWQ GEMM: qweight [K, N/8], qzeros [K/g, N/8], scales F16 [K/g, N]; nibble i of a word holds column
/// (0,2,4,6,1,3,5,7)[i] of its 8-column block; zero points without offset.
Decoded decodeAwq(const Checkpoint& ex, const std::string& layer, int64_t n, int64_t k, const json& qc, Problems& p)
{
    const int64_t g = qc.value("group_size", int64_t(0));
    if (!p.expect(qc.value("bits", 0) == 4 && g > 0 && k % g == 0 && n % 8 == 0,
                  layer + ": AWQ needs bits 4, a group size dividing " + std::to_string(k) + " and out % 8 == 0"))
        return {};
    const int64_t groups = k / g;
    auto qw = expectTensor(ex, layer + ".qweight", "I32", {k, n / 8}, p);
    auto qz = expectTensor(ex, layer + ".qzeros", "I32", {groups, n / 8}, p);
    auto sc = expectTensor(ex, layer + ".scales", "F16", {groups, n}, p);
    if (!qw.defined() || !qz.defined() || !sc.defined())
        return {};
    // Column c of a block sits in nibble position[c].
    const auto position = torch::tensor({0, 4, 1, 5, 2, 6, 3, 7}, torch::kInt64);
    auto unpack = [&](const torch::Tensor& words) {
        return allFields(unsignedWords(words), 4, 8).index_select(-1, position).reshape({words.size(0), n});
    };
    auto codes = unpack(qw);   // [K, N]
    auto zeros = unpack(qz);   // [K/g, N]
    checkCodes(zeros, 0, 15, layer + " zero points", p);
    auto rowGroup = torch::arange(k, torch::kInt64).div(g, "floor");
    auto w = (codes - zeros.index_select(0, rowGroup)).to(torch::kFloat32) *
             sc.to(torch::kFloat32).index_select(0, rowGroup);
    return {w.t().contiguous(), "qweight/qzeros/scales (awq gemm)", storageTolerance("F16")};
}

/// GPTQ: qweight [K*b/32, N] packed along the input dimension, qzeros [G, N*b/32] along the output dimension
/// (v1 stores zero - 1), scales F16 [G, N], g_idx [K].
Decoded decodeGptq(const Checkpoint& ex, const std::string& layer, int64_t n, int64_t k, const json& qc, Problems& p)
{
    const int bits = qc.value("bits", 0);
    const int64_t g = qc.value("group_size", int64_t(-1));
    const bool v2 = qc.value("checkpoint_format", std::string("gptq")) == "gptq_v2";
    if (!p.expect(bits == 2 || bits == 4 || bits == 8, layer + ": GPTQ bits must be 2, 4 or 8 here"))
        return {};
    const int64_t per = 32 / bits;
    const int64_t groups = g > 0 ? (k + g - 1) / g : 1;
    if (!p.expect(k % per == 0 && n % per == 0, layer + ": sizes not divisible by " + std::to_string(per)))
        return {};
    auto qw = expectTensor(ex, layer + ".qweight", "I32", {k / per, n}, p);
    auto qz = expectTensor(ex, layer + ".qzeros", "I32", {groups, n / per}, p);
    auto sc = expectTensor(ex, layer + ".scales", "F16", {groups, n}, p);
    auto gi = expectTensor(ex, layer + ".g_idx", "I32", {k}, p);
    if (!qw.defined() || !qz.defined() || !sc.defined() || !gi.defined())
        return {};
    // Word r of a column holds input rows r*per + i at bit bits*i.
    auto codes = allFields(unsignedWords(qw), bits, per).permute({0, 2, 1}).reshape({k, n});
    auto zeros = allFields(unsignedWords(qz), bits, per).reshape({groups, n}) + (v2 ? 0 : 1);
    const int64_t zmax = (int64_t(1) << bits) - 1;
    if (!checkCodes(zeros, 0, zmax, layer + std::string(" zero points (") + (v2 ? "gptq_v2" : "gptq v1, stored + 1") + ")", p))
        return {};
    auto gIdx = gi.to(torch::kInt64);
    if (!checkCodes(gIdx, 0, groups - 1, layer + " g_idx", p))
        return {};
    if (g > 0)
        p.expect(gIdx.equal(torch::arange(k, torch::kInt64).div(g, "floor")),
                 layer + ": g_idx is not k // group_size (act-order is not expected)");
    auto w = (codes - zeros.index_select(0, gIdx)).to(torch::kFloat32) * sc.to(torch::kFloat32).index_select(0, gIdx);
    return {w.t().contiguous(), std::string("qweight/qzeros/scales/g_idx (") + (v2 ? "gptq_v2" : "gptq v1") + ")",
            storageTolerance("F16")};
}

/// compressed-tensors pack-quantized: weight_packed [N, ceil(K/per)] with element i at bit b*(i mod per), values stored
/// as signed + 2^(b-1); weight_zero_point likewise packed along the output dimension; weight_scale [N, G].
Decoded decodeCompressed(const Checkpoint& ex, const std::string& layer, int64_t n, int64_t k, const json& qc,
                         Problems& p)
{
    json w;
    try {
        w = qc.at("config_groups").at("group_0").at("weights");
    } catch (const json::exception&) {
        p.add("quantization_config has no config_groups.group_0.weights");
        return {};
    }
    const int bits = w.value("num_bits", 0);
    const bool symmetric = w.value("symmetric", true);
    const std::string strategy = w.value("strategy", std::string());
    const int64_t g = strategy == "group" && w["group_size"].is_number_integer() ? w["group_size"].get<int64_t>() : k;
    if (!p.expect(bits >= 1 && bits <= 8 && (strategy == "group" || strategy == "channel") && k % g == 0,
                  layer + ": unsupported compressed-tensors weights " + w.dump()))
        return {};
    const int64_t per = 32 / bits, groups = k / g, offset = int64_t(1) << (bits - 1);
    const std::string scaleDtype = ex.contains(layer + ".weight_scale") ? ex.dtypeName(layer + ".weight_scale") : "F16";
    p.expect(scaleDtype == "F16" || scaleDtype == "BF16", layer + ".weight_scale has dtype " + scaleDtype);
    auto packedW = expectTensor(ex, layer + ".weight_packed", "I32", {n, (k + per - 1) / per}, p);
    auto scale = expectTensor(ex, layer + ".weight_scale", scaleDtype, {n, groups}, p);
    auto shape = expectTensor(ex, layer + ".weight_shape", "I64", {2}, p);
    if (!packedW.defined() || !scale.defined() || !shape.defined())
        return {};
    p.expect(shape[0].item<int64_t>() == n && shape[1].item<int64_t>() == k,
             layer + ".weight_shape is not [" + std::to_string(n) + ", " + std::to_string(k) + "]");
    auto q = allFields(unsignedWords(packedW), bits, per).reshape({n, -1}).narrow(1, 0, k) - offset;
    torch::Tensor zp = torch::zeros({n, groups}, torch::kInt64);
    if (!symmetric) {
        auto zw = expectTensor(ex, layer + ".weight_zero_point", "I32", {(n + per - 1) / per, groups}, p);
        if (!zw.defined())
            return {};
        auto stored = allFields(unsignedWords(zw), bits, per).permute({0, 2, 1}).reshape({-1, groups}).narrow(0, 0, n);
        if (!checkCodes(stored, 0, (int64_t(1) << bits) - 1, layer + " zero points", p))
            return {};
        zp = stored - offset;
    } else {
        p.expect(!ex.contains(layer + ".weight_zero_point"), layer + ": symmetric but has weight_zero_point");
    }
    auto colGroup = torch::arange(k, torch::kInt64).div(g, "floor");
    auto wt = (q - zp.index_select(1, colGroup)).to(torch::kFloat32) * scale.to(torch::kFloat32).index_select(1, colGroup);
    return {wt, "weight_packed/weight_scale" + std::string(symmetric ? "" : "/weight_zero_point") + " (pack-quantized)",
            storageTolerance(scaleDtype)};
}

}  // namespace

torch::Tensor ExportedModel::logits(const torch::Tensor& ids) const
{
    auto x = torch::embedding(embed, ids);
    RopeTables rope;
    if (config.arch == Architecture::Opt) {
        if (projectIn.defined())
            x = torch::linear(x, projectIn);
        auto pos = torch::arange(2, ids.size(1) + 2, torch::TensorOptions().dtype(torch::kInt64).device(ids.device()));
        x = x + torch::embedding(positions, pos).unsqueeze(0);
    } else {
        rope = makeRopeTables(config, ids.size(1), ids.device(), torch::kFloat32);
    }
    for (const auto& b : blocks)
        x = runDecoderBlock(config, b, x, rope);
    if (config.arch == Architecture::Llama) {
        x = rmsNorm(x, normWeight, normBias, config.normEps);
    } else {
        if (normWeight.defined())
            x = torch::layer_norm(x, {x.size(-1)}, normWeight, normBias, config.normEps);
        if (projectOut.defined())
            x = torch::linear(x, projectOut);
    }
    return torch::linear(x, lmHead);
}

std::vector<double> windowNll(const torch::Tensor& logits, const torch::Tensor& ids)
{
    const int64_t T = ids.size(1);
    auto logp = torch::log_softmax(logits.narrow(1, 0, T - 1).to(torch::kFloat32), -1);
    auto nll = -logp.gather(-1, ids.narrow(1, 1, T - 1).unsqueeze(-1)).squeeze(-1).to(torch::kFloat64).mean(1).cpu();
    std::vector<double> r;
    for (int64_t b = 0; b < nll.size(0); ++b)
        r.push_back(nll[b].item<double>());
    return r;
}

std::string verificationTextPath(const std::string& given, const std::string& sourceModel)
{
    if (!given.empty())
        return given;
    const fs::path model = sourceModel;
    const fs::path heldout = model.parent_path() / "demo-text" / "heldout.txt";
    if (model.filename() == "demo-model" && fs::exists(heldout))
        return heldout.string();
    return {};
}

std::vector<int32_t> randomVerificationTokens(int64_t count, int64_t vocab)
{
    std::mt19937 rng(7);
    std::uniform_int_distribution<int32_t> dist(3, static_cast<int32_t>(vocab - 1));
    std::vector<int32_t> tokens(static_cast<size_t>(count));
    for (auto& t : tokens)
        t = dist(rng);
    return tokens;
}

void compareLogits(const CausalLM& reference, const ExportedModel& model, const std::vector<int32_t>& tokens,
                   int64_t maxWindows, bool perplexity, const torch::Device& device, VerifyResult& r,
                   const std::function<void()>& checkCancel)
{
    const int64_t available = static_cast<int64_t>(tokens.size()) / r.seqlen;
    if (available < 1)
        badInput("the text has fewer than " + std::to_string(r.seqlen) + " tokens; lower --seqlen");
    r.windows = maxWindows > 0 ? std::min(maxWindows, available) : available;
    torch::NoGradGuard ng;
    double nllRun = 0, nllExport = 0, klSum = 0;
    int64_t positions = 0, agree = 0;
    for (int64_t w = 0; w < r.windows; ++w) {
        checkCancel();
        auto ids = torch::from_blob(const_cast<int32_t*>(tokens.data()) + w * r.seqlen, {1, r.seqlen}, torch::kInt32)
                       .to(torch::kInt64)
                       .to(device);
        auto a = reference.logits(ids).to(torch::kFloat32);
        auto b = model.logits(ids).to(torch::kFloat32);
        r.maxLogitDiff = std::max(r.maxLogitDiff, (a - b).abs().max().item<double>());
        auto la = torch::log_softmax(a, -1), lb = torch::log_softmax(b, -1);
        klSum += (la.exp() * (la - lb)).sum(-1).clamp_min(0).to(torch::kFloat64).sum().item<double>();
        agree += a.argmax(-1).eq(b.argmax(-1)).sum().item<int64_t>();
        positions += r.seqlen;
        nllRun += windowNll(a, ids)[0];
        nllExport += windowNll(b, ids)[0];
    }
    r.meanKl = klSum / static_cast<double>(positions);
    r.top1Agreement = static_cast<double>(agree) / static_cast<double>(positions);
    if (perplexity) {
        r.runPerplexity = std::exp(nllRun / static_cast<double>(r.windows));
        r.exportPerplexity = std::exp(nllExport / static_cast<double>(r.windows));
    }
}

namespace {

/// An export folder and its run, opened once, with what the verification's steps fill in.
struct FolderVerification {
    FolderVerification(const VerifyOptions& options, const ProgressFn& progressFn, const CancelToken* cancelFlag,
                       VerifyResult& result)
        : o(options), cancel(cancelFlag), r(result), problems(result.problems), runDir(options.runDir),
          exportDir(options.exportDir), device(parseDevice(options.device)), runCk((runDir / "model").string()),
          ex(options.exportDir), rm(runCk.config()), em(ex.config()), progress(progressFn)
    {
    }

    const VerifyOptions& o;
    const std::atomic<bool>* cancel;
    VerifyResult& r;
    Problems problems;
    const fs::path runDir, exportDir;
    const torch::Device device;
    Checkpoint runCk;  ///< the run's model
    Checkpoint ex;     ///< the export
    const ModelConfig& rm;
    const ModelConfig& em;
    json qc;           ///< the export's quantization_config (an empty object when it has none)
    ExportedModel model;
    bool decodable = true;
    const ProgressFn& progress;
    const ProgressClock clock;

    void checkCancel() const { throwIfCancelled(cancel, "verification"); }
    /// Progress in blocks, and one unit more for the logits.
    void reportProgress(int64_t done) const
    {
        if (progress)
            progress(clock.at(done, rm.numLayers + 1));
    }
    torch::Tensor loadF32(const std::string& name) const { return ex.load(name).to(device, torch::kFloat32); }
    torch::Tensor loadOpt(const std::string& name) const { return ex.contains(name) ? loadF32(name) : torch::Tensor(); }
};

void requireExportFolder(const std::string& exportDir)
{
    if (!fs::exists(fs::path(exportDir) / "config.json"))
        badInput("'" + exportDir + "' is not an export (no config.json)");
}

/// The members of quantization_config read further on must have the right types; checked here, where the file can
/// be named.
void checkQuantizationConfigTypes(const json& qc, const std::string& cfgPath)
{
    const std::string q = "quantization_config";
    requireObject(qc, cfgPath, q);
    for (const char* key : {"version", "checkpoint_format", "format"})
        jsonField(qc, key, std::string(), cfgPath, q);
    for (const char* key : {"zero_point", "desc_act", "sym"})
        jsonField(qc, key, false, cfgPath, q);
    jsonField(qc, "bits", 0, cfgPath, q);
    jsonField(qc, "group_size", int64_t(0), cfgPath, q);
    const auto groups = qc.find("config_groups");
    if (groups != qc.end() && groups->is_object() && groups->contains("group_0") &&
        (*groups)["group_0"].is_object() && (*groups)["group_0"].contains("weights")) {
        const json& w = (*groups)["group_0"]["weights"];
        const std::string wq = q + ".config_groups.group_0.weights";
        requireObject(w, cfgPath, wq);
        jsonField(w, "num_bits", 0, cfgPath, wq);
        jsonField(w, "symmetric", true, cfgPath, wq);
        jsonField(w, "strategy", std::string(), cfgPath, wq);
    }
}

/// The export's config.json: its quantization_config, the format it names, and the model it describes.
void readExportConfig(FolderVerification& v)
{
    const json cfg = readJsonFile(v.exportDir / "config.json", "export configuration");
    const std::string cfgPath = (v.exportDir / "config.json").string();
    requireObject(cfg, cfgPath);
    v.qc = cfg.contains("quantization_config") ? cfg["quantization_config"] : json::object();
    const json& qc = v.qc;
    checkQuantizationConfigTypes(qc, cfgPath);
    v.r.format = jsonField(qc, "quant_method", std::string("hf"), cfgPath, "quantization_config");
    if (cfg.contains("affinequant"))
        v.problems.add("config.json still has the run's 'affinequant' block");
    const ModelConfig& em = v.em;
    const ModelConfig& rm = v.rm;
    if (em.arch != rm.arch || em.hiddenSize != rm.hiddenSize || em.numLayers != rm.numLayers ||
        em.vocabSize != rm.vocabSize || em.numHeads != rm.numHeads || em.numKvHeads != rm.numKvHeads)
        badInput("the export's config.json describes a different model than the run's");
}

void requireKeys(Problems& problems, const json& j, const std::vector<const char*>& keys, const std::string& where)
{
    for (const char* k : keys)
        problems.expect(j.contains(k), where + " lacks '" + k + "'");
}

/// Config keys each loader reads (export-formats.md).
void checkLoaderKeys(FolderVerification& v)
{
    const json& qc = v.qc;
    const std::string& format = v.r.format;
    if (format == "awq") {
        requireKeys(v.problems, qc, {"bits", "group_size", "zero_point", "version"}, "quantization_config");
        v.problems.expect(qc.value("version", std::string()) == "gemm" && qc.value("zero_point", false),
                          "AWQ quantization_config must say version gemm and zero_point true");
    } else if (format == "gptq") {
        requireKeys(v.problems, qc, {"bits", "group_size", "desc_act", "sym"}, "quantization_config");
        v.problems.expect(!qc.value("desc_act", true), "GPTQ desc_act must be false (no act-order)");
    } else if (format == "compressed-tensors") {
        requireKeys(v.problems, qc, {"format", "quantization_status", "config_groups", "ignore"},
                    "quantization_config");
        v.problems.expect(qc.value("format", std::string()) == "pack-quantized",
                          "compressed-tensors format is not pack-quantized");
    } else if (format != "hf") {
        badInput("unknown quant_method '" + format + "' in the export's config.json");
    }
}

/// Compares one tensor of the export with the run's and records the difference; a quantized linear's may be the worst.
void compareTensor(FolderVerification& v, const std::string& name, const torch::Tensor& got, const std::string& source,
                   double relTol, bool quantized)
{
    VerifyResult& r = v.r;
    const torch::Tensor ref = v.runCk.load(name).to(torch::kFloat64);
    TensorDifference d;
    d.name = name;
    d.source = source;
    if (!v.problems.expect(got.sizes() == ref.sizes(), name + ": shape " + shapeText(got.sizes().vec()) +
                                                           " in the export, " + shapeText(ref.sizes().vec()) +
                                                           " in the run")) {
        d.ok = false;
        r.tensors.push_back(d);
        return;
    }
    d.maxAbsDiff = (got.to(torch::kCPU, torch::kFloat64) - ref).abs().max().item<double>();
    d.maxAbsRef = ref.abs().max().item<double>();
    d.tolerance = relTol * d.maxAbsRef + 1e-12;
    d.ok = d.maxAbsDiff <= d.tolerance;
    d.quantizedLinear = quantized;
    if (quantized && d.maxAbsDiff >= r.maxWeightDiff) {
        r.maxWeightDiff = d.maxAbsDiff;
        r.worstLayer = name;
    }
    r.tensors.push_back(d);
}

/// One linear's weight [n, k] read back through the export's format; undefined when it cannot be read.
Decoded decodeLinear(FolderVerification& v, const std::string& full, int64_t n, int64_t k)
{
    const Checkpoint& ex = v.ex;
    const std::string& format = v.r.format;
    Decoded d;
    if (format == "hf") {
        if (v.problems.expect(ex.contains(full + ".weight"), "missing tensor " + full + ".weight"))
            d = {ex.load(full + ".weight").to(torch::kFloat32), ex.dtypeName(full + ".weight"),
                 storageTolerance(ex.dtypeName(full + ".weight"))};
    } else if (format == "awq") {
        d = decodeAwq(ex, full, n, k, v.qc, v.problems);
    } else if (format == "gptq") {
        d = decodeGptq(ex, full, n, k, v.qc, v.problems);
    } else {
        d = decodeCompressed(ex, full, n, k, v.qc, v.problems);
    }
    return d;
}

/// The block's linears, decoded and compared with the run's weights.
void decodeBlockLinears(FolderVerification& v, const std::string& prefix, const std::vector<std::string>& linears,
                        BlockWeights& b)
{
    for (const auto& layer : linears) {
        const std::string full = prefix + layer;
        const auto refShape = v.runCk.shape(full + ".weight");
        const int64_t n = refShape[0], k = refShape[1];
        const Decoded d = decodeLinear(v, full, n, k);
        if (!d.weight.defined()) {
            v.r.tensors.push_back({full + ".weight", "unreadable", 0, 0, 0, false, true});
            v.decodable = false;
            continue;
        }
        compareTensor(v, full + ".weight", d.weight, d.source, d.relTolerance, true);
        b.tensors[layer + ".weight"] = d.weight.to(v.device);
    }
}

/// Everything else of the block under its own name: norms, biases, extension matrices.
void readOtherBlockTensors(FolderVerification& v, const std::string& prefix, bool normBiasFolded, BlockWeights& b)
{
    const Checkpoint& ex = v.ex;
    for (const auto& name : ex.names()) {
        if (name.compare(0, prefix.size(), prefix) != 0)
            continue;
        const std::string rel = name.substr(prefix.size());
        const std::string suffix = rel.substr(rel.rfind('.') + 1);
        if (kPackedSuffixes.count(suffix) && v.r.format != "hf")
            continue;
        if (b.tensors.count(rel))
            continue;
        b.tensors[rel] = v.loadF32(name);
        const bool foldedBias = normBiasFolded && suffix == "bias";
        if (v.runCk.contains(name) && !foldedBias)
            compareTensor(v, name, b.tensors[rel], ex.dtypeName(name), storageTolerance(ex.dtypeName(name)), false);
    }
}

/// The run's tensors the export may leave out: norm biases (folded), biases that are zero everywhere (dropped), and
/// packed linears' weights (decoded above); any other missing one is a problem.
void checkRunBlockTensors(FolderVerification& v, const std::string& prefix, const BlockWeights& b)
{
    const Checkpoint& runCk = v.runCk;
    for (const auto& name : runCk.names()) {
        if (name.compare(0, prefix.size(), prefix) != 0 || v.ex.contains(name))
            continue;
        const bool isBias = name.size() > 5 && name.compare(name.size() - 5, 5, ".bias") == 0;
        const bool packedWeight = v.r.format != "hf" && name.size() > 7 &&
                                  name.compare(name.size() - 7, 7, ".weight") == 0 &&
                                  b.tensors.count(name.substr(prefix.size()));
        if (packedWeight || (isBias && name.find("layernorm") != std::string::npos) ||
            (isBias && !runCk.load(name).ne(0).any().item<bool>()))
            continue;
        v.problems.add("the run's " + name + " is not in the export");
    }
}

/// Block `i` of the export, read back and compared with the run's.
BlockWeights readBlock(FolderVerification& v, int64_t i, const std::vector<std::string>& linears)
{
    const std::string prefix = blockPrefix(v.rm, i);
    BlockWeights b;
    const bool normBiasFolded = v.rm.arch == Architecture::Llama &&
                                (v.runCk.contains(prefix + "input_layernorm.bias") ||
                                 v.runCk.contains(prefix + "post_attention_layernorm.bias"));
    decodeBlockLinears(v, prefix, linears, b);
    readOtherBlockTensors(v, prefix, normBiasFolded, b);
    checkRunBlockTensors(v, prefix, b);
    return b;
}

/// The tensors outside the blocks: embeddings, final norm, projections and head, compared with the run's.
void readOutsideBlocks(FolderVerification& v)
{
    ExportedModel& model = v.model;
    if (v.rm.arch == Architecture::Llama) {
        model.embed = v.loadF32("model.embed_tokens.weight");
        model.normWeight = v.loadF32("model.norm.weight");
        model.normBias = v.loadOpt("model.norm.bias");
    } else {
        model.embed = v.loadF32("model.decoder.embed_tokens.weight");
        model.positions = v.loadF32("model.decoder.embed_positions.weight");
        model.projectIn = v.loadOpt("model.decoder.project_in.weight");
        model.projectOut = v.loadOpt("model.decoder.project_out.weight");
        model.normWeight = v.loadOpt("model.decoder.final_layer_norm.weight");
        model.normBias = v.loadOpt("model.decoder.final_layer_norm.bias");
    }
    model.lmHead = v.ex.contains("lm_head.weight") ? v.loadF32("lm_head.weight") : model.embed;
    for (const auto& name : v.ex.names())
        if (name.find(".layers.") == std::string::npos && v.runCk.contains(name))
            compareTensor(v, name, v.loadF32(name), v.ex.dtypeName(name), storageTolerance(v.ex.dtypeName(name)),
                          false);
}

/// The tokens of `textPath` (also checking that both tokenizers agree on them), or seeded random ids without a text.
std::vector<int32_t> verificationTokens(FolderVerification& v, const std::string& textPath)
{
    VerifyResult& r = v.r;
    std::vector<int32_t> tokens;
    if (!textPath.empty()) {
        const std::string text = readTextForModel(textPath);
        tokens = detail::encodeForModelCancellable(*loadTokenizer(v.o.exportDir), text, v.cancel);
        if (detail::encodeForModelCancellable(*loadTokenizer((v.runDir / "model").string()), text, v.cancel) != tokens)
            v.problems.add("the export's tokenizer files encode the text differently from the run's");
        r.text = textPath;
    } else {
        tokens = randomVerificationTokens(4 * r.seqlen, v.rm.vocabSize);
        r.text = "random tokens";
        r.notes.push_back("no --text: logits compared on seeded random tokens; perplexity not computed");
    }
    return tokens;
}

/// The logits of the run's model and of the export, window by window.
void compareFolderLogits(FolderVerification& v, const std::string& sourceModel)
{
    // Tokens: the given text, the demo model's held-out text, or seeded random ids.
    const std::string textPath = verificationTextPath(v.o.textPath, sourceModel);
    v.r.seqlen = v.o.seqlen > 0 ? v.o.seqlen : std::min<int64_t>(512, v.rm.maxPositionEmbeddings);
    v.rm.checkSequenceLength(v.r.seqlen);
    const std::vector<int32_t> tokens = verificationTokens(v, textPath);
    if (static_cast<int64_t>(tokens.size()) < v.r.seqlen)
        badInput("the text has fewer than " + std::to_string(v.r.seqlen) + " tokens; lower --seqlen");

    CausalLM reference(v.runCk, v.device, torch::kFloat32);
    compareLogits(reference, v.model, tokens, v.o.maxWindows, !textPath.empty(), v.device, v.r,
                  [&v]() { v.checkCancel(); });
}

/// The closing notes and problems, and the verdict.
void summarise(FolderVerification& v)
{
    VerifyResult& r = v.r;
    if (r.runActivationBits < 16)
        r.notes.push_back("the run's model quantizes activations to " + std::to_string(r.runActivationBits) +
                          " bits, the export does not: logits and perplexity differ by design");
    for (const auto& t : r.tensors)
        if (!t.ok)
            v.problems.add(t.name + ": max difference " + std::to_string(t.maxAbsDiff) +
                           " exceeds the storage tolerance " + std::to_string(t.tolerance));
    r.ok = r.problems.empty();
}

}  // namespace
}  // namespace detail

VerifyResult verifyExport(const VerifyOptions& o, const ProgressFn& progress, const CancelToken* cancel)
{
    using namespace detail;
    if (looksLikeGguf(o.exportDir))
        return verifyGgufExport(o, progress, cancel);
    VerifyResult r;
    // The run: finished, with its model.
    const std::string sourceModel = readRun(o.runDir).sourceModel;  // a finished run, checked as export checks it
    requireExportFolder(o.exportDir);
    FolderVerification v(o, progress, cancel, r);
    r.runActivationBits = v.rm.activationBits;
    readExportConfig(v);
    checkLoaderKeys(v);

    const std::vector<std::string> linears = blockLayout(v.rm).linears();
    v.model.config = v.em;
    v.model.config.activationBits = 16;
    r.maxWeightDiff = 0;
    try {
        for (int64_t i = 0; i < v.rm.numLayers; ++i) {
            v.checkCancel();
            v.model.blocks.push_back(readBlock(v, i, linears));
            v.reportProgress(i + 1);
        }
        readOutsideBlocks(v);
        if (!v.decodable) {
            r.notes.push_back("logits not compared: some layers could not be decoded");
            r.ok = false;
            return r;
        }
        compareFolderLogits(v, sourceModel);
        v.reportProgress(v.rm.numLayers + 1);
    } catch (const Error&) {
        throw;
    } catch (...) {
        rethrowAsAqError(std::current_exception(), "use --device cuda or a machine with more memory");
    }
    summarise(v);
    return r;
}

}  // namespace aq
