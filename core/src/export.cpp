// Exports of a finished run (hf, awq, gptq, compressed-tensors) and the pre-flight deployability check.
#include "aq/export.h"
#include "aq/run_file.h"

#include "aq/error.h"
#include "checkpoint.h"
#include "export_pack.h"
#include "export_plan.h"
#include "jsonutil.h"
#include "model.h"
#include "safetensors.h"
#include "torch_util.h"
#include "transforms.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace fs = std::filesystem;

namespace aq {

const char* exportFormatName(ExportFormat format)
{
    switch (format) {
    case ExportFormat::HuggingFace: return "hf";
    case ExportFormat::Awq: return "awq";
    case ExportFormat::Gptq: return "gptq";
    case ExportFormat::CompressedTensors: return "compressed-tensors";
    case ExportFormat::Gguf: return "gguf";
    case ExportFormat::Invalid: break;
    }
    return "invalid";
}

ExportFormat parseExportFormat(const std::string& name)
{
    for (ExportFormat f : {ExportFormat::HuggingFace, ExportFormat::Awq, ExportFormat::Gptq, ExportFormat::CompressedTensors,
                           ExportFormat::Gguf})
        if (name == exportFormatName(f))
            return f;
    badInput("unknown export format '" + name + "' (choose hf, awq, gptq, compressed-tensors or gguf)");
}

const char* deployabilityName(Deployability d)
{
    switch (d) {
    case Deployability::Exact: return "exact";
    case Deployability::Conditional: return "exact if the export's checks pass";
    case Deployability::Extension: return "only with an extension";
    case Deployability::WeightsOnly: return "loads, weights only";
    case Deployability::No: return "no";
    case Deployability::Invalid: break;
    }
    return "invalid";
}

namespace detail {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

bool anyNonZero(const torch::Tensor& t) { return t.defined() && t.ne(0).any().item<bool>(); }

RunInfo readRun(const std::string& runDir)
{
    const RunDescription run = readRunDescription(runDir);  // the run.json reader, with its checks and messages
    RunInfo r;
    r.runDir = runDir;
    r.modelDir = r.runDir / "model";
    if (!fs::exists(r.modelDir / "config.json"))
        badInput("run '" + runDir + "' has no model/ folder with a config.json; the run is incomplete, re-run it");
    r.configuration = json::parse(run.configurationJson);
    r.wbits = run.config.wbits;
    r.abits = run.config.abits;
    r.groupSize = run.config.groupSize;
    r.symmetric = run.config.symmetric;
    r.zeroInRange = run.config.zeroInRange;
    r.weightGrid = run.config.weightGrid;
    r.method = methodName(run.config.method);
    r.sourceModel = run.modelDir;
    return r;
}

namespace {
const std::vector<std::string> kLlamaAttention = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                                  "self_attn.o_proj"};
const std::vector<std::string> kLlamaMlp = {"mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"};
}  // namespace

/// First pass over the run's small tensors: which biases become non-zero once the norm biases are folded, and
/// whether post-norm matrices exist. Decides the target architecture before anything is written.
TargetLayout planLayout(const Checkpoint& ck)
{
    const ModelConfig& m = ck.config();
    const BlockLayout L = blockLayout(m);
    TargetLayout t;
    t.modelType = m.modelType;
    std::set<std::string> nonZero;  // linears whose bias is non-zero after folding
    for (int64_t i = 0; i < m.numLayers; ++i) {
        const std::string p = blockPrefix(m, i);
        auto biasOf = [&](const std::string& layer) {
            return ck.contains(p + layer + ".bias") ? ck.load(p + layer + ".bias") : torch::Tensor();
        };
        for (const auto& layer : L.linears())
            if (anyNonZero(biasOf(layer)))
                nonZero.insert(layer);
        for (const auto& norm : {L.norm1, L.norm2})
            if (ck.contains(p + norm + ".post_matrix"))
                t.postMatrices = true;
        if (m.arch == Architecture::Llama) {
            if (anyNonZero(biasOf(L.norm1))) {
                nonZero.insert(L.qkv.begin(), L.qkv.end());
                t.normBiases = true;
            }
            if (anyNonZero(biasOf(L.norm2))) {
                nonZero.insert(L.fc1.begin(), L.fc1.end());
                t.normBiases = true;
            }
        }
    }
    if (m.arch == Architecture::Opt) {
        t.architecture = "OPTForCausalLM";
        t.attentionBias = m.attentionBias || !nonZero.empty();
        if (t.attentionBias)
            for (const auto& layer : L.linears())
                t.biased.insert(layer);
        return t;
    }
    auto anyOf = [&](const std::vector<std::string>& group) {
        for (const auto& layer : group)
            if (nonZero.count(layer))
                return true;
        return false;
    };
    const bool attn = anyOf(kLlamaAttention), mlp = anyOf(kLlamaMlp);
    if (m.modelType == "qwen2" && !nonZero.count("self_attn.o_proj") && !mlp) {
        // Qwen2's own class holds q/k/v biases: keep the architecture.
        t.architecture = "Qwen2ForCausalLM";
        t.attentionBias = true;
        t.biased = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"};
        return t;
    }
    if (m.modelType == "mistral" && !attn && !mlp) {
        t.architecture = "MistralForCausalLM";
        return t;
    }
    t.converted = m.modelType != "llama";
    t.modelType = "llama";
    t.architecture = "LlamaForCausalLM";
    // Stock LLaMA switches biases per group: attention_bias covers q/k/v/o, mlp_bias gate/up/down.
    t.attentionBias = attn || (m.modelType == "llama" && m.attentionBias) || m.modelType == "qwen2";
    t.mlpBias = mlp || (m.modelType == "llama" && m.mlpBias);
    if (t.attentionBias)
        t.biased.insert(kLlamaAttention.begin(), kLlamaAttention.end());
    if (t.mlpBias)
        t.biased.insert(kLlamaMlp.begin(), kLlamaMlp.end());
    return t;
}

/// Folds a LLaMA block's norm biases into the following linears (b' = b + W (beta C) with C the post-norm matrix, or
/// the identity) and gives every linear the bias the target layout expects (zeros where missing, none where the
/// target has none: such biases are zero by construction of the plan). The folded biases are computed in float64.
BlockWeights standardizeBlock(const ModelConfig& m, const TargetLayout& t, const BlockWeights& in)
{
    const BlockLayout L = blockLayout(m);
    BlockWeights w = in;  // weights stay float32 (one float64 layer at a time is enough for the folding)
    if (m.arch == Architecture::Llama) {
        auto fold = [&](const std::string& norm, const std::vector<std::string>& consumers) {
            const torch::Tensor beta = w.get(norm + ".bias");
            if (!beta.defined())
                return;
            const torch::Tensor c = w.get(norm + ".post_matrix");
            const torch::Tensor b64 = beta.to(torch::kFloat64);
            const torch::Tensor v = c.defined() ? torch::matmul(b64, c.to(torch::kFloat64)) : b64;
            for (const auto& layer : consumers) {
                const torch::Tensor wt = w.at(layer + ".weight").to(torch::kFloat64);
                const torch::Tensor b = w.get(layer + ".bias");
                w.tensors[layer + ".bias"] =
                    (b.defined() ? b.to(torch::kFloat64) : torch::zeros({wt.size(0)}, wt.options())) + torch::matmul(wt, v);
            }
            w.tensors.erase(norm + ".bias");
        };
        fold(L.norm1, L.qkv);
        fold(L.norm2, L.fc1);
    }
    for (const auto& layer : L.linears()) {
        const std::string bn = layer + ".bias";
        if (t.biased.count(layer)) {
            if (!w.get(bn).defined())
                w.tensors[bn] = torch::zeros({w.at(layer + ".weight").size(0)}, torch::kFloat32);
        } else {
            if (anyNonZero(w.get(bn)))
                throw Error(ErrorCode::Internal, "non-zero bias " + bn + " outside the planned layout");
            w.tensors.erase(bn);
        }
    }
    return w;
}

namespace {

/// Group size every packed layer shares (vLLM fuses q/k/v and gate/up; each format's config has one group_size).
struct PackPlan {
    int bits = 4;
    int64_t groupSize = 0;        ///< 0: per output channel
    int64_t writeGroupSize = 0;   ///< what is written (AWQ writes per-channel layers as repeated groups)
    bool symmetric = false;
    bool gptqV1 = false;
};

std::string shapeText(const std::vector<int64_t>& s)
{
    std::string r = "[";
    for (size_t i = 0; i < s.size(); ++i)
        r += (i ? ", " : "") + std::to_string(s[i]);
    return r + "]";
}

/// Checks everything about packing that can be checked without the weights: configuration, dimensions, groups,
/// zero points and scales (from quantization.safetensors). Throws BadInput naming the layer.
PackPlan planPacking(const ExportOptions& o, const RunInfo& run, const Checkpoint& ck, const SafetensorsFile* quant,
                     std::vector<std::string>& notes)
{
    const ModelConfig& m = ck.config();
    const char* fmt = exportFormatName(o.format);
    if (run.abits < 16)
        badInput(std::string("this run quantizes activations (W") + std::to_string(run.wbits) + "A" +
                 std::to_string(run.abits) + "), which " + fmt +
                 " cannot express: its kernels quantize weights only, so the exported model would not compute what the "
                 "run measured. Export --format hf for the fake-quantized weights with float activations, or re-run a "
                 "weight-only preset (w4a16g128, ...)");
    if (run.wbits >= 16 || !quant)
        badInput(std::string("this run has no quantized weights to pack (") +
                 (run.wbits >= 16 ? "wbits 16" : "no model/quantization.safetensors") + "); export --format hf");
    if (run.weightGrid != WeightGrid::Uniform)
        badInput(std::string("this run calibrated llama.cpp's ") + weightGridName(run.weightGrid) +
                 " grid (sub-block scales and minimums in super-blocks of 256), which " + fmt +
                 " cannot store: its kernels take one scale and zero point per group. Export --format gguf for the "
                 "exact grid, --format hf for the fake-quantized weights, or re-run with --weight-grid uniform");
    PackPlan p;
    p.bits = run.wbits;
    p.symmetric = run.symmetric;
    p.gptqV1 = o.gptqV1 || (o.format == ExportFormat::Gptq && run.symmetric);
    const BlockLayout L = blockLayout(m);
    const double qmax = std::ldexp(1.0, p.bits) - 1;
    // Group layout from the stored scales: one shared group size or per-channel everywhere.
    std::string perChannelLayer, groupedLayer;
    std::set<int64_t> inSizes;
    for (int64_t i = 0; i < m.numLayers; ++i) {
        const std::string prefix = blockPrefix(m, i);
        for (const auto& layer : L.linears()) {
            const std::string name = prefix + layer;
            if (!quant->contains(name + ".scales") || !quant->contains(name + ".zeros"))
                badInput("model/quantization.safetensors lacks the scales or zero points of " + name +
                         "; the run is incomplete or from an older version: re-run it");
            const auto wshape = ck.shape(name + ".weight");
            const auto sshape = quant->entries().at(name + ".scales").shape;
            if (sshape.size() != 2 || sshape[0] != wshape[0])
                badInput(name + ": scales of shape " + shapeText(sshape) + " do not fit the weight " + shapeText(wshape));
            inSizes.insert(wshape[1]);
            if (sshape[1] == 1)
                perChannelLayer = name;
            else
                groupedLayer = name;
            const torch::Tensor z = quant->load(name + ".zeros"), s = quant->load(name + ".scales");
            auto outside = torch::logical_or(z.lt(0), z.gt(qmax));
            if (outside.any().item<bool>()) {
                const int64_t flat = outside.flatten().nonzero()[0][0].item<int64_t>();
                badInput(name + ": zero point " + std::to_string(static_cast<int64_t>(z.flatten()[flat].item<double>())) +
                         " of row " + std::to_string(flat / z.size(1)) + ", group " + std::to_string(flat % z.size(1)) +
                         " is outside [0, " + std::to_string(static_cast<int64_t>(qmax)) + "] (" +
                         std::to_string(outside.sum().item<int64_t>()) +
                         " groups in this layer), so integer formats cannot store it; the quantizer does not force zero "
                         "into the range by default (spec §2.1): re-run with --zero-in-range (or --symmetric), or export "
                         "--format hf");
            }
            if (!torch::isfinite(s).all().item<bool>() || s.le(0).any().item<bool>())
                badInput(name + ": some scales are zero, negative or not finite; re-run without --reference-delta-clamp");
        }
    }
    if (!perChannelLayer.empty() && !groupedLayer.empty())
        badInput("layers differ in grouping (" + groupedLayer + " has groups of " + std::to_string(run.groupSize) + ", " +
                 perChannelLayer + " is per channel): packed formats have one group_size for the whole model and vLLM "
                 "fuses q/k/v and gate/up; re-run with a group size that divides every input size (or per channel)");
    p.groupSize = groupedLayer.empty() ? 0 : run.groupSize;
    p.writeGroupSize = p.groupSize;
    if (p.groupSize > 0)
        for (int64_t in : inSizes)
            if (in % p.groupSize != 0)
                badInput("input size " + std::to_string(in) + " is not a multiple of the group size " +
                         std::to_string(p.groupSize) + " (a partial last group): " + fmt +
                         " needs whole groups; re-run with a group size that divides every layer's input size");
    if (o.format == ExportFormat::Awq && p.groupSize == 0) {
        // AWQ has no per-channel mode: repeat each row's scale and zero over groups (exact).
        for (int64_t g : {128, 64, 32}) {
            bool divides = true;
            for (int64_t in : inSizes)
                divides = divides && in % g == 0;
            if (divides) {
                p.writeGroupSize = g;
                break;
            }
        }
        if (p.writeGroupSize == 0)
            badInput("AWQ needs groups and this per-channel run has input sizes that no group size of 32, 64 or 128 "
                     "divides; use --format gptq or compressed-tensors");
        notes.push_back("per-channel scales are written as groups of " + std::to_string(p.writeGroupSize) +
                        " with each row's scale and zero point repeated (AWQ has no per-channel mode; exact)");
    }
    return p;
}

json quantizationConfig(ExportFormat f, const PackPlan& p)
{
    if (f == ExportFormat::Awq)
        return {{"quant_method", "awq"}, {"bits", 4},          {"group_size", p.writeGroupSize},
                {"zero_point", true},    {"version", "gemm"}, {"modules_to_not_convert", nullptr}};
    if (f == ExportFormat::Gptq)
        return {{"quant_method", "gptq"},
                {"bits", p.bits},
                {"group_size", p.groupSize > 0 ? p.groupSize : -1},
                {"desc_act", false},
                {"sym", p.symmetric},
                {"true_sequential", true},
                {"lm_head", false},
                {"checkpoint_format", p.gptqV1 ? "gptq" : "gptq_v2"}};
    json weights = {{"num_bits", p.bits},
                    {"type", "int"},
                    {"symmetric", p.symmetric},
                    {"strategy", p.groupSize > 0 ? "group" : "channel"},
                    {"group_size", p.groupSize > 0 ? json(p.groupSize) : json(nullptr)},
                    {"dynamic", false},
                    {"actorder", nullptr}};
    return {{"quant_method", "compressed-tensors"},
            {"format", "pack-quantized"},
            {"quantization_status", "compressed"},
            {"config_groups",
             {{"group_0",
               {{"targets", {"Linear"}},
                {"weights", weights},
                {"input_activations", nullptr},
                {"output_activations", nullptr}}}}},
            {"ignore", {"lm_head"}},
            {"kv_cache_scheme", nullptr}};
}

void writeText(const fs::path& path, const std::string& text)
{
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    out.close();
    if (!out)
        badInput("cannot write '" + path.string() + "' (disk full or read-only?)");
}

std::string shardName(int64_t i, int64_t n)
{
    char buf[64];
    std::snprintf(buf, sizeof buf, "model-%05lld-of-%05lld.safetensors", static_cast<long long>(i + 1),
                  static_cast<long long>(n));
    return buf;
}

bool isWeightFile(const std::string& fn)
{
    return fn == "config.json" || fn == "model.safetensors.index.json" ||
           (fn.size() > 12 && fn.compare(fn.size() - 12, 12, ".safetensors") == 0) || fn == "pytorch_model.bin";
}

/// The note that explains the dense post-norm matrices kept with --allow-extension.
std::string extensionNote(const ModelConfig& m)
{
    const BlockLayout L = blockLayout(m);
    std::ostringstream s;
    s << "# Extension: dense post-norm matrices\n\n"
      << "This run used AffineQuant's full matrices after the norms (`--ln-matrix`, the weight-only presets). They cannot "
         "be folded into standard weights without destroying the quantized format (spec §4.4), so each block carries two "
         "extra tensors that stock loaders ignore (transformers warns about unused weights):\n\n"
      << "- `" << blockPrefix(m, 0) << L.norm1 << ".post_matrix` [" << m.hiddenSize << ", " << m.hiddenSize << "]\n"
      << "- `" << blockPrefix(m, 0) << L.norm2 << ".post_matrix` [" << m.hiddenSize << ", " << m.hiddenSize << "]\n\n"
      << "(and likewise for every block). **A stock loader computes a different, wrong model from these files.** To get "
         "the calibrated model, right-multiply each norm's output by its matrix before the following linears:\n\n"
      << "```python\nh = norm(x)            # the stock norm, unchanged (its former bias is already folded into the\n"
         "                       # following linears' biases, through the matrix)\nh = h @ post_matrix    # [hidden] x "
         "[hidden, hidden]\nq, k, v = q_proj(h), k_proj(h), v_proj(h)   # or up/gate (fc1 for OPT) after the second "
         "norm\n```\n\n"
      << "In transformers this is a forward hook on each `" << L.norm1 << "` and `" << L.norm2
      << "` module (`module.register_forward_hook(lambda mod, inp, out: out @ C)`). `affinequant eval` applies them "
         "automatically. The cost is 2·hidden² extra multiply-adds per token per block. To avoid all of this, re-run the "
         "calibration with `--no-ln-matrix` (a deployable preset): the transforms then fold completely.\n";
    return s.str();
}

}  // namespace
}  // namespace detail

ExportResult exportRun(const ExportOptions& o, const ExportProgressFn& progress, const std::atomic<bool>* cancel)
{
    using namespace detail;
    const auto t0 = Clock::now();
    if (o.format == ExportFormat::Invalid)
        badInput("no export format chosen (--format hf|awq|gptq|compressed-tensors|gguf)");
    if (o.format == ExportFormat::Gguf)
        return exportGguf(o, progress, cancel);
    if (o.exactOnly)
        badInput("--exact-only applies to --format gguf only");
    if (o.q6kEmbeddings)
        badInput("--token-embedding-type q6_k applies to --format gguf only");
    if (o.dtype != "float16" && o.dtype != "bfloat16")
        badInput("--dtype must be float16 or bfloat16, not '" + o.dtype + "'");
    if (o.outDir.empty())
        badInput("no output folder given (--out DIR)");
    const torch::ScalarType dtype = o.dtype == "bfloat16" ? torch::kBFloat16 : torch::kFloat16;
    const RunInfo run = readRun(o.runDir);

    StagedOutput staged(o.outDir, run.runDir, o.force, false);

    Checkpoint ck(run.modelDir.string());
    ck.validate();
    const ModelConfig& m = ck.config();
    const BlockLayout L = blockLayout(m);
    const std::vector<std::string> linears = L.linears();
    const TargetLayout target = planLayout(ck);
    const bool packed = o.format != ExportFormat::HuggingFace;
    if (target.postMatrices && (packed || !o.allowExtension))
        badInput(std::string("this run keeps dense ") + std::to_string(m.hiddenSize) + "x" + std::to_string(m.hiddenSize) +
                 " matrices after both norms of every block (--ln-matrix, the default of the weight-only presets); " +
                 (m.arch == Architecture::Opt ? "OPTForCausalLM" : "LlamaForCausalLM") +
                 " has no place for them and they cannot be folded into " +
                 (packed ? "packed integer weights" : "the following linears") +
                 " without changing the quantized model (spec §4.4). Choices: (a) " +
                 (packed ? "export --format hf --allow-extension" : "add --allow-extension") +
                 " to write them as extra tensors with a note on how to apply them (stock loaders ignore them and "
                 "compute a different model), or (b) re-run the calibration with a deployable configuration "
                 "(--no-ln-matrix, and --zero-in-range for packed formats), whose transforms fold completely");
    if (m.arch == Architecture::Llama && (ck.contains("model.norm.bias")))
        badInput("the final norm has a bias, which stock " + target.architecture + " cannot hold");

    std::unique_ptr<SafetensorsFile> quant;
    if (fs::exists(run.modelDir / "quantization.safetensors"))
        quant = std::make_unique<SafetensorsFile>((run.modelDir / "quantization.safetensors").string());
    std::vector<std::string> notes;
    PackPlan pack;
    if (packed)
        pack = planPacking(o, run, ck, quant.get(), notes);

    ExportResult result;
    result.format = o.format;
    result.architecture = target.architecture;
    result.bits = packed ? pack.bits : 16;
    result.groupSize = packed ? (pack.writeGroupSize > 0 ? pack.writeGroupSize : -1) : 0;
    if (o.format == ExportFormat::Gptq)
        result.checkpointFormat = pack.gptqV1 ? "gptq" : "gptq_v2";

    staged.begin();
    const fs::path& tmp = staged.temporary();

    try {
        auto check = [&]() {
            if (cancel && cancel->load())
                throw Error(ErrorCode::Cancelled, "export cancelled; '" + o.outDir + "' was not written");
        };
        const int64_t numShards = m.numLayers + 1;
        json weightMap = json::object();
        auto writeShard = [&](int64_t i, const NamedTensors& tensors) {
            const std::string name = shardName(i, numShards);
            writeSafetensors((tmp / name).string(), tensors, {{"format", "pt"}});
            for (const auto& [n, x] : tensors) {
                weightMap[n] = name;
                result.numBytes += static_cast<uint64_t>(x.numel()) * x.element_size();
            }
            result.files.push_back(name);
            ++result.shards;
            if (progress)
                progress({result.shards, numShards + 1, "wrote " + name});
        };
        for (int64_t i = 0; i < m.numLayers; ++i) {
            check();
            torch::NoGradGuard ng;
            const std::string prefix = blockPrefix(m, i);
            const BlockWeights w = standardizeBlock(m, target, loadBlock(ck, i, torch::kCPU, torch::kFloat32));
            NamedTensors tensors;
            for (const auto& [n, x] : w.tensors) {
                const bool isLinearWeight = n.size() > 7 && n.compare(n.size() - 7, 7, ".weight") == 0 &&
                                            std::find(linears.begin(), linears.end(), n.substr(0, n.size() - 7)) !=
                                                linears.end();
                if (!packed || !isLinearWeight) {
                    tensors.emplace_back(prefix + n, x.to(dtype).contiguous());
                    continue;
                }
                const std::string layer = prefix + n.substr(0, n.size() - 7);
                IntegerLinear il = recoverIntegers(layer, x.to(torch::kFloat32), quant->load(layer + ".scales"),
                                                   quant->load(layer + ".zeros"), pack.bits, pack.groupSize);
                if (il.groups() == 1 && pack.writeGroupSize > 0)
                    il = regroup(il, pack.writeGroupSize);
                NamedTensors parts;
                if (o.format == ExportFormat::Awq)
                    parts = packAwq(il);
                else if (o.format == ExportFormat::Gptq)
                    parts = packGptq(il, pack.gptqV1);
                else
                    parts = packCompressedTensors(il, pack.symmetric, dtype);
                for (auto& [suffix, t] : parts)
                    tensors.emplace_back(layer + "." + suffix, t);
                ++result.packedLayers;
            }
            writeShard(i, tensors);
        }
        check();
        {
            NamedTensors rest;
            for (const auto& name : ck.names())
                if (name.find(".layers.") == std::string::npos)
                    rest.emplace_back(name, ck.load(name).to(dtype).contiguous());
            writeShard(m.numLayers, rest);
        }

        // config.json: the stock architecture, without the run's "affinequant" block (kept in affinequant.json) so
        // that neither stock loaders nor this program apply the run's activation quantization to it.
        json cfg = readJsonFile(run.modelDir / "config.json", "model configuration");
        json aqBlock = cfg.contains("affinequant") ? cfg["affinequant"] : json::object();
        cfg.erase("affinequant");
        cfg["torch_dtype"] = o.dtype;
        if (m.arch == Architecture::Opt) {
            cfg["enable_bias"] = target.attentionBias;
        } else {
            if (target.converted) {
                cfg["model_type"] = "llama";
                for (const char* k : {"use_sliding_window", "sliding_window", "max_window_layers"})
                    cfg.erase(k);
            }
            cfg["architectures"] = {target.architecture};
            if (target.modelType == "llama") {
                cfg["attention_bias"] = target.attentionBias;
                cfg["mlp_bias"] = target.mlpBias;
            }
        }
        if (packed)
            cfg["quantization_config"] = quantizationConfig(o.format, pack);
        writeText(tmp / "config.json", cfg.dump(2) + "\n");
        result.files.push_back("config.json");
        if (o.format == ExportFormat::Gptq) {
            writeText(tmp / "quantize_config.json", cfg["quantization_config"].dump(2) + "\n");
            result.files.push_back("quantize_config.json");
        }
        writeText(tmp / "model.safetensors.index.json",
                  json{{"metadata", {{"total_size", result.numBytes}}}, {"weight_map", weightMap}}.dump(1) + "\n");
        result.files.push_back("model.safetensors.index.json");
        for (const auto& e : fs::directory_iterator(run.modelDir)) {
            const std::string fn = e.path().filename().string();
            if (!e.is_regular_file() || isWeightFile(fn))
                continue;
            std::error_code ec;
            fs::copy_file(e.path(), tmp / fn, fs::copy_options::overwrite_existing, ec);
            if (ec)
                badInput("cannot copy '" + fn + "' into the export: " + ec.message());
            result.files.push_back(fn);
        }

        // Notes: what folded, what changed, what the export does not carry.
        if (m.arch == Architecture::Llama && target.attentionBias && !m.attentionBias)
            notes.push_back("the learned shifts became linear biases: attention_bias is true (q/k/v/o; zero biases "
                            "were added where a layer had none)");
        if (m.arch == Architecture::Llama && target.mlpBias && !m.mlpBias)
            notes.push_back("mlp_bias is true (gate/up from the shifts; down_proj gets a zero bias because the flag "
                            "covers all three)");
        if (m.arch == Architecture::Llama && target.normBiases)
            notes.push_back("the RMSNorm biases were folded into the following linears' biases (b + W·beta), exactly");
        if (target.converted)
            notes.push_back("written as LlamaForCausalLM because " + m.modelType +
                            "'s class cannot hold the new biases (same computation" +
                            (m.modelType == "mistral" ? std::string("; the sliding window is dropped, so it is exact for "
                                                                    "sequences up to the window only)")
                                                      : std::string(")")));
        if (target.postMatrices)
            notes.push_back("extension: dense post-norm matrices are stored as '<norm>.post_matrix' tensors that stock "
                            "loaders ignore; POST_MATRIX_EXTENSION.md says how to apply them");
        if (run.abits < 16)
            notes.push_back("the run quantized activations (W" + std::to_string(run.wbits) + "A" +
                            std::to_string(run.abits) + ", per-token dynamic); this export holds the fake-quantized "
                            "weights only and runs activations in " + o.dtype +
                            ", so its perplexity differs from the run's");
        if (o.format == ExportFormat::Gptq)
            notes.push_back(pack.gptqV1 ? "checkpoint_format gptq (v1: zero points stored minus one)"
                                        : "checkpoint_format gptq_v2: asymmetric zero points are stored as they are "
                                          "(v1's zero - 1 cannot hold a zero point of 0)");
        if (packed && dtype == torch::kBFloat16 && o.format != ExportFormat::CompressedTensors)
            notes.push_back("scales are float16 as the format requires; other tensors are bfloat16");
        if (target.postMatrices) {
            writeText(tmp / "POST_MATRIX_EXTENSION.md", extensionNote(m));
            result.files.push_back("POST_MATRIX_EXTENSION.md");
        }
        json sidecar = {{"source_run", fs::weakly_canonical(fs::absolute(run.runDir)).string()},
                        {"format", exportFormatName(o.format)},
                        {"dtype", o.dtype},
                        {"architecture", target.architecture},
                        {"run_configuration", run.configuration},
                        {"affinequant", aqBlock},
                        {"notes", notes}};
        if (packed)
            sidecar["packing"] = {{"bits", pack.bits},
                                  {"group_size", result.groupSize},
                                  {"symmetric", pack.symmetric},
                                  {"layers", result.packedLayers}};
        writeText(tmp / "affinequant.json", sidecar.dump(2) + "\n");
        result.files.push_back("affinequant.json");
        check();

        staged.publish();
    } catch (...) {
        rethrowExportFailure(staged, "export needs about one block in memory; free host memory");
    }
    if (progress)
        progress({result.shards + 1, result.shards + 1, "done"});
    result.outDir = staged.destination().string();
    result.notes = notes;
    result.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    return result;
}

// ---- Pre-flight ----

PreflightReport preflight(const ModelConfig& m, const QuantConfig& q)
{
    PreflightReport r;
    const bool llama = m.arch == Architecture::Llama;
    const int64_t H = m.hiddenSize, F = m.intermediateSize, qDim = m.numHeads * m.headDim, kvDim = m.numKvHeads * m.headDim;
    {
        std::ostringstream s;
        s << m.modelType << ": hidden " << H << ", FFN " << F << ", " << m.numHeads << " heads (" << m.numKvHeads
          << " key/value), head dim " << m.headDim << ", " << m.numLayers << " layers";
        r.model = s.str();
    }
    const bool wq = q.wbits < 16;
    const bool aq = q.abits < 16;
    const bool let = q.let && q.method != Method::Rtn;
    const bool lnMatrix = let && q.lnMatrix;
    const std::string norm1 = llama ? "input_layernorm" : "self_attn_layer_norm";
    const std::string norm2 = llama ? "post_attention_layernorm" : "final_layer_norm";
    const std::string fc1 = llama ? "up/gate" : "fc1";
    const std::string hh = std::to_string(H) + "x" + std::to_string(H);

    r.transforms.push_back({"LWC (learnable weight clipping)", q.lwc && wq && q.method != Method::Rtn, true,
                            "folds into the stored weights and their scales/zero points"});
    auto normPair = [&](const std::string& name, const std::string& norm, const std::string& consumers) {
        if (lnMatrix)
            return TransformFold{name, true, false,
                                 "full " + hh + " matrix: stays a dense matmul after " + norm +
                                     " (2·hidden² extra multiply-adds per token per block; spec §4.4)"};
        return TransformFold{name, let, true,
                             "diagonal: scale folds into " + norm + ".weight and the " + consumers + " columns"};
    };
    r.transforms.push_back(normPair("P1 " + norm1 + " -> q/k/v", norm1, "q/k/v"));
    r.transforms.push_back(normPair("P2 " + norm2 + " -> " + fc1, norm2, fc1));
    r.transforms.push_back({"P3 v -> o", let, true,
                            "per-head block matrix folds into v_proj rows and " +
                                std::string(llama ? "o_proj" : "out_proj") + " columns (exact)"});
    r.transforms.push_back({"P4 q/k", let, true,
                            std::string(q.qkMatrix ? "per-head block matrices fold" : "a vector folds") +
                                " into q_proj/k_proj" +
                                (llama ? " before RoPE, where calibration put them: the export computes the calibrated "
                                         "model exactly"
                                       : "")});
    r.transforms.push_back({"shifts", let, true,
                            llama ? "become linear biases: attention_bias (q/k/v/o, zero o_proj bias where needed) and "
                                    "mlp_bias (gate/up, zero down_proj bias)" +
                                        std::string(q.trainShifts ? "" : "; frozen at zero here, so no biases appear")
                                  : "fold into OPT's existing biases"});
    if (llama)
        r.transforms.push_back({"RMSNorm biases", let, true,
                                "fold into the following linears' biases (b + W·beta), exact; stock RMSNorm keeps none"});
    r.transforms.push_back({"activation quantization", aq, false,
                            aq ? "per-token dynamic W" + std::to_string(q.wbits) + "A" + std::to_string(q.abits) +
                                     " fake quantization: no export format or runtime here carries it"
                               : std::string("not used (weight-only)")});

    // Group layout per input size.
    struct InSize {
        std::string layers;
        int64_t in;
    };
    const std::vector<InSize> inSizes = {{llama ? "q/k/v/up/gate" : "q/k/v/fc1", H},
                                         {llama ? "o_proj" : "out_proj", qDim},
                                         {llama ? "down_proj" : "fc2", F}};
    std::vector<int64_t> outSizes = {qDim, kvDim, H, F};
    bool anyGrouped = false, anyChannel = false;
    std::string partial;
    for (const auto& s : inSizes) {
        const bool grouped = q.groupSize > 0 && q.groupSize < s.in;
        if (grouped && s.in % q.groupSize != 0) {
            if (!q.partialGroups && q.perChannelFallback) {
                anyChannel = true;
                continue;
            }
            partial = s.layers + " (" + std::to_string(s.in) + " inputs, group " + std::to_string(q.groupSize) + ")";
        }
        (grouped ? anyGrouped : anyChannel) = true;
    }
    const bool mixedGroups = anyGrouped && anyChannel;
    const bool zeroSafe = q.symmetric || q.zeroInRange;

    // Every reason the packed formats cannot hold the result, most fundamental first (the GUI lists them all).
    std::vector<std::string> packBlocks;
    if (!wq)
        packBlocks.push_back("weights are not quantized (wbits 16)");
    if (aq)
        packBlocks.push_back("activations are quantized (W" + std::to_string(q.wbits) + "A" + std::to_string(q.abits) +
                             "); these formats' kernels quantize weights only, and no runtime here has integer W" +
                             std::to_string(q.wbits) + "A" + std::to_string(q.abits) + " kernels");
    if (lnMatrix)
        packBlocks.push_back("the dense " + hh +
                             " post-norm matrices cannot be folded into packed weights and these runtimes have no place "
                             "for them");
    if (!partial.empty())
        packBlocks.push_back("a partial last group: " + partial + "; packed layouts need whole groups");
    if (mixedGroups)
        packBlocks.push_back("some layers are grouped and some per channel (group " + std::to_string(q.groupSize) +
                             " is not below every input size); the formats have one group_size");
    const bool kquant = wq && q.weightGrid != WeightGrid::Uniform;
    if (kquant)
        packBlocks.push_back(std::string("the ") + weightGridName(q.weightGrid) +
                             " grid's sub-block scales and minimums have no place in this format (one scale and zero "
                             "point per group): gguf stores it, hf the dequantized weights");
    const std::string zeroCaveat = "zero points are not forced into [0, 2^" + std::to_string(q.wbits) +
                                   "-1] (spec §2.1), so the export refuses any layer with a group outside it";

    auto packed = [&](ExportFormat f, const std::string& runtime, const std::vector<std::string>& formatBlocks,
                      const std::string& exactReason) {
        FormatCheck c{f, runtime, Deployability::Exact, exactReason};
        std::vector<std::string> all = packBlocks;
        all.insert(all.end(), formatBlocks.begin(), formatBlocks.end());
        if (!all.empty()) {
            c.verdict = Deployability::No;
            c.reason.clear();
            for (const auto& b : all)
                c.reason += (c.reason.empty() ? "" : "; ") + b;
        } else if (!zeroSafe) {
            c.verdict = Deployability::Conditional;
            c.reason = exactReason + "; but " + zeroCaveat;
        }
        return c;
    };
    auto divides = [](const std::vector<int64_t>& sizes, int64_t k) {
        for (int64_t s : sizes)
            if (s % k != 0)
                return false;
        return true;
    };

    // hf
    {
        FormatCheck c{ExportFormat::HuggingFace, "transformers / vLLM (stock " +
                                                     std::string(llama ? "LlamaForCausalLM" : "OPTForCausalLM") + ")",
                      Deployability::Exact,
                      "fake-quantized weights in float16/bfloat16" +
                          std::string(let && llama ? "; shifts as attention_bias/mlp_bias, norm biases folded" : "")};
        if (lnMatrix) {
            c.verdict = Deployability::Extension;
            c.reason = "the dense " + hh +
                       " post-norm matrices have no place in the stock class: export --allow-extension writes them "
                       "with a note on applying them (stock loaders silently ignore them)";
        } else if (aq) {
            c.verdict = Deployability::WeightsOnly;
            c.reason = "loads, but runs activations in float, not W" + std::to_string(q.wbits) + "A" +
                       std::to_string(q.abits) + " as the run measured";
        }
        if (llama && let && m.modelType != "llama")
            c.reason += "; written as LlamaForCausalLM where " + m.modelType + "'s class cannot hold the new biases";
        r.formats.push_back(c);
    }
    // awq
    {
        std::vector<std::string> b;
        if (q.wbits != 4)
            b.push_back("AWQ stores 4-bit codes only (this is " + std::to_string(q.wbits) + "-bit)");
        if (!divides(outSizes, 8))
            b.push_back("an output size is not a multiple of 8");
        if (!anyGrouped && !divides({H, qDim, F}, 32))
            b.push_back("per-channel scales need a group size of 32, 64 or 128 dividing every input size");
        r.formats.push_back(packed(ExportFormat::Awq, "vLLM awq_marlin (compute capability >= 8.0, else awq), AutoAWQ GEMM",
                                   b, "4-bit asymmetric codes with zero points, float16 scales"));
    }
    // gptq
    {
        std::vector<std::string> b;
        if (q.wbits != 2 && q.wbits != 4 && q.wbits != 8)
            b.push_back(std::to_string(q.wbits) +
                        "-bit GPTQ needs its cross-word layout, which is not implemented (2/4/8 only)");
        else if (!divides({H, qDim, F}, 32 / q.wbits) || !divides(outSizes, 32 / q.wbits))
            b.push_back("a layer size is not a multiple of " + std::to_string(32 / q.wbits) + " codes per 32-bit word");
        FormatCheck marlin = packed(ExportFormat::Gptq, "vLLM gptq_marlin", b, "symmetric, v1 layout");
        if (marlin.verdict != Deployability::No && !(q.symmetric && (q.wbits == 4 || q.wbits == 8))) {
            marlin.verdict = Deployability::No;
            marlin.reason = "gptq_marlin is chosen only for symmetric 4/8-bit; this configuration is " +
                            std::string(q.symmetric ? "" : "asymmetric ") + std::to_string(q.wbits) +
                            "-bit, so vLLM falls back to its gptq kernel (next line)";
        }
        r.formats.push_back(marlin);
        r.formats.push_back(packed(ExportFormat::Gptq, "vLLM gptq (ExLlama), GPTQModel, transformers GPTQConfig", b,
                                   q.symmetric ? "checkpoint_format gptq (v1), sym true"
                                               : "checkpoint_format gptq_v2 (zero points stored as they are), sym false"));
    }
    // compressed-tensors
    {
        std::vector<std::string> b;
        if (q.wbits > 8 && wq)
            b.push_back("pack-quantized holds up to 8 bits");
        else if (q.wbits != 4 && q.wbits != 8 && wq)
            b.push_back("vLLM's WNA16 kernels take 4 and 8 bits (the files can be written, for other loaders)");
        r.formats.push_back(packed(ExportFormat::CompressedTensors, "vLLM compressed-tensors WNA16 (Marlin)", b,
                                   q.symmetric ? "symmetric pack-quantized"
                                               : "asymmetric pack-quantized with weight_zero_point (recent vLLM only; "
                                                 "older builds are symmetric-only)"));
    }

    // gguf
    {
        FormatCheck c{ExportFormat::Gguf, "llama.cpp (Ollama, LM Studio, node-llama-cpp)", Deployability::Exact, ""};
        std::vector<std::string> b;
        if (!llama)
            b.push_back("llama.cpp has no architecture for OPT");
        if (aq)
            b.push_back("activations are quantized (W" + std::to_string(q.wbits) + "A" + std::to_string(q.abits) +
                        "); llama.cpp quantizes weights only");
        if (lnMatrix)
            b.push_back("the dense " + hh + " post-norm matrices have no place in llama.cpp's graph");
        if (!b.empty()) {
            c.verdict = Deployability::No;
            for (const auto& x : b)
                c.reason += (c.reason.empty() ? "" : "; ") + x;
        } else if (!wq) {
            c.reason = "F16 weights";
        } else if (kquant) {
            c.reason = std::string("the calibrated ") + weightGridName(q.weightGrid) +
                       " grid as it is: llama.cpp decodes every weight to the run's value bit for bit";
        } else {
            const char* type = nullptr;
            if (q.wbits == 4)
                type = q.symmetric ? "Q4_0" : "Q4_1";
            else if (q.wbits == 5)
                type = q.symmetric ? "Q5_0" : "Q5_1";
            else if (q.wbits == 8 && q.symmetric)
                type = "Q8_0";
            std::vector<std::string> fallback;
            for (const auto& s : inSizes) {
                const bool grouped = q.groupSize > 0 && q.groupSize < s.in;
                const bool whole = grouped ? (q.groupSize % 32 == 0 && s.in % q.groupSize == 0) : s.in % 32 == 0;
                if (!type || !whole)
                    fallback.push_back(s.layers + " (" + std::to_string(s.in) + " inputs" +
                                       (grouped ? ", groups of " + std::to_string(q.groupSize) : std::string()) + ")");
            }
            if (!type)
                c.reason = std::to_string(q.wbits) + "-bit " + (q.symmetric ? "symmetric" : "asymmetric") +
                           " codes have no ggml block type: the linears are stored as F16 dequantized values (same "
                           "computation, no size saving), or refused with --exact-only";
            else if (!fallback.empty()) {
                std::string list;
                for (const auto& f : fallback)
                    list += (list.empty() ? "" : ", ") + f;
                c.reason = std::string("the run's grid as ") + type + " blocks, except " + list +
                           " (groups do not split into whole blocks of 32): stored as F16 dequantized values, or refused "
                           "with --exact-only";
            } else {
                c.reason = std::string("the run's grid itself as ") + type +
                           " blocks (float16 block factors), shifts as biases, tokenizer embedded";
            }
        }
        r.formats.push_back(c);
    }

    if (lnMatrix)
        r.advice.push_back("--no-ln-matrix: vector post-norm transforms fold completely (hf loads without an extension, "
                           "packed formats become possible)");
    if (wq && !aq && !zeroSafe)
        r.advice.push_back("--zero-in-range: forces zero into every group's range so that every zero point fits the "
                           "packed formats");
    if (aq)
        r.advice.push_back("a weight-only preset (w4a16g128, ...) for packed formats; W" + std::to_string(q.wbits) + "A" +
                           std::to_string(q.abits) + " stays fake-quant research");
    if (!partial.empty() || mixedGroups)
        r.advice.push_back("a group size that divides every input size (" + std::to_string(H) + ", " +
                           std::to_string(qDim) + ", " + std::to_string(F) + "), or per channel");
    if (wq && q.wbits == 3)
        r.advice.push_back("3-bit: use --format compressed-tensors (no vLLM kernel) or 2/4/8 bits for GPTQ");
    return r;
}

}  // namespace aq
