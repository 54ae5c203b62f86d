// Exporting a finished run as a safetensors folder (hf, awq, gptq, compressed-tensors).
//
// Steps: check the options, read the run, plan the target layout and the packing, stage the output folder, write one
// shard per block (folded, packed) and one for the rest, write config.json, the index and the model's other files,
// then the notes and the affinequant.json sidecar, and publish the folder by a rename.
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

namespace detail {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

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

/// Refuses runs that no packed format can express: quantized activations, no quantized weights, or a k-quant grid.
void checkPackable(const ExportOptions& o, const RunInfo& run, const SafetensorsFile* quant)
{
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
}

/// How the linears are grouped, read from the stored scales.
struct GroupLayout {
    std::string perChannelLayer, groupedLayer;  ///< the last layer of each kind ("" when none)
    std::set<int64_t> inSizes;                  ///< the linears' input sizes
};

/// Refuses a layer with a zero point outside [0, qmax], which integer formats cannot store.
void checkZeroPoints(const std::string& name, const torch::Tensor& z, double qmax)
{
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
}

/// Checks one linear's stored scales and zero points (present, shaped for the weight, zero points in range, scales
/// finite and positive) and records its input size and grouping in `layout`.
void checkPackedLayer(const std::string& name, const Checkpoint& ck, const SafetensorsFile& quant, double qmax,
                      GroupLayout& layout)
{
    if (!quant.contains(name + ".scales") || !quant.contains(name + ".zeros"))
        badInput("model/quantization.safetensors lacks the scales or zero points of " + name +
                 "; the run is incomplete or from an older version: re-run it");
    const auto wshape = ck.shape(name + ".weight");
    const auto sshape = quant.entries().at(name + ".scales").shape;
    if (sshape.size() != 2 || sshape[0] != wshape[0])
        badInput(name + ": scales of shape " + shapeText(sshape) + " do not fit the weight " + shapeText(wshape));
    layout.inSizes.insert(wshape[1]);
    if (sshape[1] == 1)
        layout.perChannelLayer = name;
    else
        layout.groupedLayer = name;
    const torch::Tensor z = quant.load(name + ".zeros"), s = quant.load(name + ".scales");
    checkZeroPoints(name, z, qmax);
    if (!torch::isfinite(s).all().item<bool>() || s.le(0).any().item<bool>())
        badInput(name + ": some scales are zero, negative or not finite; re-run without --reference-delta-clamp");
}

/// Checks every block's linears in order and returns their group layout.
GroupLayout readGroupLayout(const Checkpoint& ck, const SafetensorsFile& quant, double qmax)
{
    const ModelConfig& m = ck.config();
    const BlockLayout L = blockLayout(m);
    GroupLayout layout;
    for (int64_t i = 0; i < m.numLayers; ++i) {
        const std::string prefix = blockPrefix(m, i);
        for (const auto& layer : L.linears())
            checkPackedLayer(prefix + layer, ck, quant, qmax, layout);
    }
    return layout;
}

/// The one group size every packed layer shares (0: per channel): refuses a mix of grouped and per-channel layers
/// and input sizes with a partial last group.
int64_t sharedGroupSize(const GroupLayout& layout, const RunInfo& run, const char* fmt)
{
    if (!layout.perChannelLayer.empty() && !layout.groupedLayer.empty())
        badInput("layers differ in grouping (" + layout.groupedLayer + " has groups of " +
                 std::to_string(run.groupSize) + ", " + layout.perChannelLayer +
                 " is per channel): packed formats have one group_size for the whole model and vLLM "
                 "fuses q/k/v and gate/up; re-run with a group size that divides every input size (or per channel)");
    const int64_t groupSize = layout.groupedLayer.empty() ? 0 : run.groupSize;
    if (groupSize > 0)
        for (int64_t in : layout.inSizes)
            if (in % groupSize != 0)
                badInput("input size " + std::to_string(in) + " is not a multiple of the group size " +
                         std::to_string(groupSize) + " (a partial last group): " + fmt +
                         " needs whole groups; re-run with a group size that divides every layer's input size");
    return groupSize;
}

/// AWQ has no per-channel mode: repeat each row's scale and zero over groups (exact), of the largest of 128, 64 and
/// 32 that divides every input size.
int64_t awqRepeatedGroupSize(const std::set<int64_t>& inSizes, std::vector<std::string>& notes)
{
    int64_t writeGroupSize = 0;
    for (int64_t g : {128, 64, 32}) {
        bool divides = true;
        for (int64_t in : inSizes)
            divides = divides && in % g == 0;
        if (divides) {
            writeGroupSize = g;
            break;
        }
    }
    if (writeGroupSize == 0)
        badInput("AWQ needs groups and this per-channel run has input sizes that no group size of 32, 64 or 128 "
                 "divides; use --format gptq or compressed-tensors");
    notes.push_back("per-channel scales are written as groups of " + std::to_string(writeGroupSize) +
                    " with each row's scale and zero point repeated (AWQ has no per-channel mode; exact)");
    return writeGroupSize;
}

/// Checks everything about packing that can be checked without the weights: configuration, dimensions, groups,
/// zero points and scales (from quantization.safetensors). Throws BadInput naming the layer.
PackPlan planPacking(const ExportOptions& o, const RunInfo& run, const Checkpoint& ck, const SafetensorsFile* quant,
                     std::vector<std::string>& notes)
{
    checkPackable(o, run, quant);
    PackPlan p;
    p.bits = run.wbits;
    p.symmetric = run.symmetric;
    p.gptqV1 = o.gptqV1 || (o.format == ExportFormat::Gptq && run.symmetric);
    const double qmax = std::ldexp(1.0, p.bits) - 1;
    // Group layout from the stored scales: one shared group size or per-channel everywhere.
    const GroupLayout layout = readGroupLayout(ck, *quant, qmax);
    p.groupSize = sharedGroupSize(layout, run, exportFormatName(o.format));
    p.writeGroupSize = p.groupSize;
    if (o.format == ExportFormat::Awq && p.groupSize == 0)
        p.writeGroupSize = awqRepeatedGroupSize(layout.inSizes, notes);
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

/// Refuses the options that do not apply to the safetensors formats.
void checkOptions(const ExportOptions& o)
{
    if (o.exactOnly)
        badInput("--exact-only applies to --format gguf only");
    if (o.q6kEmbeddings)
        badInput("--token-embedding-type q6_k applies to --format gguf only");
    checkExportFloatType(o.dtype);
    if (o.outDir.empty())
        badInput("no output folder given (--out DIR)");
}

/// What the steps of one safetensors export share: the options, the run and its checkpoint, the target layout, the
/// packing plan, and the result and notes as they grow.
struct SafetensorsExport {
    SafetensorsExport(const ExportOptions& options, const ExportProgressFn& progressFn,
                      const std::atomic<bool>* cancelFlag, const RunInfo& runInfo, const Checkpoint& checkpoint)
        : o(options), progress(progressFn), cancel(cancelFlag), run(runInfo), ck(checkpoint), m(ck.config()),
          linears(blockLayout(m).linears()), target(planLayout(ck)),
          dtype(o.dtype == FloatType::BFloat16 ? torch::kBFloat16 : torch::kFloat16),
          packed(o.format != ExportFormat::HuggingFace)
    {
    }

    const ExportOptions& o;
    const ExportProgressFn& progress;
    const std::atomic<bool>* cancel;
    const RunInfo& run;
    const Checkpoint& ck;
    const ModelConfig& m;
    const std::vector<std::string> linears;  ///< block-relative linear names
    const ProgressClock clock;
    const TargetLayout target;
    const torch::ScalarType dtype;
    const bool packed;                       ///< awq, gptq or compressed-tensors (integer codes), not hf
    std::unique_ptr<SafetensorsFile> quant;  ///< model/quantization.safetensors, if the run has one
    std::vector<std::string> notes;
    PackPlan pack;
    ExportResult result;
    json weightMap = json::object();         ///< tensor name -> shard file, for the index
};

/// Refuses what the target architecture cannot hold: dense post-norm matrices (unless hf with --allow-extension) and
/// a final norm bias of the LLaMA family.
void checkTargetHolds(const SafetensorsExport& x)
{
    const ModelConfig& m = x.m;
    const bool packed = x.packed;
    if (x.target.postMatrices && (packed || !x.o.allowExtension))
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
    if (m.arch == Architecture::Llama && (x.ck.contains("model.norm.bias")))
        badInput("the final norm has a bias, which stock " + x.target.architecture + " cannot hold");
}

/// Opens the run's quantization.safetensors, plans the packing (packed formats) and fills the result's header.
void planOutput(SafetensorsExport& x)
{
    const fs::path quantPath = x.run.modelDir / "quantization.safetensors";
    if (fs::exists(quantPath))
        x.quant = std::make_unique<SafetensorsFile>(quantPath.string());
    if (x.packed)
        x.pack = planPacking(x.o, x.run, x.ck, x.quant.get(), x.notes);

    ExportResult& result = x.result;
    result.format = x.o.format;
    result.architecture = x.target.architecture;
    result.bits = x.packed ? x.pack.bits : 16;
    result.groupSize = x.packed ? (x.pack.writeGroupSize > 0 ? x.pack.writeGroupSize : -1) : 0;
    if (x.o.format == ExportFormat::Gptq)
        result.checkpointFormat = x.pack.gptqV1 ? "gptq" : "gptq_v2";
}

/// Writes shard `i` of `numShards` and reports it.
void writeShard(SafetensorsExport& x, const fs::path& tmp, int64_t i, int64_t numShards, const NamedTensors& tensors)
{
    ExportResult& result = x.result;
    const std::string name = shardName(i, numShards);
    writeSafetensors((tmp / name).string(), tensors, {{"format", "pt"}});
    for (const auto& [n, t] : tensors) {
        x.weightMap[n] = name;
        result.numBytes += static_cast<uint64_t>(t.numel()) * t.element_size();
    }
    result.files.push_back(name);
    ++result.shards;
    if (x.progress)
        x.progress(exportProgress(x.clock, result.shards, numShards + 1, "wrote " + name));
}

/// Block `i` in the target layout: folded, its linears packed as integer codes (packed formats) or cast to the
/// export's dtype (hf), like every other tensor.
NamedTensors blockTensors(SafetensorsExport& x, int64_t i)
{
    const PackPlan& pack = x.pack;
    const std::string prefix = blockPrefix(x.m, i);
    const BlockWeights w = standardizeBlock(x.m, x.target, loadBlock(x.ck, i, torch::kCPU, torch::kFloat32));
    NamedTensors tensors;
    for (const auto& [n, tensor] : w.tensors) {
        const bool isLinearWeight = n.size() > 7 && n.compare(n.size() - 7, 7, ".weight") == 0 &&
                                    std::find(x.linears.begin(), x.linears.end(), n.substr(0, n.size() - 7)) !=
                                        x.linears.end();
        if (!x.packed || !isLinearWeight) {
            tensors.emplace_back(prefix + n, tensor.to(x.dtype).contiguous());
            continue;
        }
        const std::string layer = prefix + n.substr(0, n.size() - 7);
        IntegerLinear il = recoverIntegers(layer, tensor.to(torch::kFloat32), x.quant->load(layer + ".scales"),
                                           x.quant->load(layer + ".zeros"), pack.bits, pack.groupSize);
        if (il.groups() == 1 && pack.writeGroupSize > 0)
            il = regroup(il, pack.writeGroupSize);
        NamedTensors parts;
        if (x.o.format == ExportFormat::Awq)
            parts = packAwq(il);
        else if (x.o.format == ExportFormat::Gptq)
            parts = packGptq(il, pack.gptqV1);
        else
            parts = packCompressedTensors(il, pack.symmetric, x.dtype);
        for (auto& [suffix, t] : parts)
            tensors.emplace_back(layer + "." + suffix, t);
        ++x.result.packedLayers;
    }
    return tensors;
}

/// One shard per block, then one for everything outside the blocks, with a cancellation check before each.
void writeShards(SafetensorsExport& x, const fs::path& tmp)
{
    const int64_t numShards = x.m.numLayers + 1;
    for (int64_t i = 0; i < x.m.numLayers; ++i) {
        throwIfExportCancelled(x.cancel, x.o.outDir);
        torch::NoGradGuard ng;
        writeShard(x, tmp, i, numShards, blockTensors(x, i));
    }
    throwIfExportCancelled(x.cancel, x.o.outDir);
    NamedTensors rest;
    for (const auto& name : x.ck.names())
        if (name.find(".layers.") == std::string::npos)
            rest.emplace_back(name, x.ck.load(name).to(x.dtype).contiguous());
    writeShard(x, tmp, x.m.numLayers, numShards, rest);
}

/// Writes config.json (and GPTQ's quantize_config.json); returns the run's "affinequant" block it leaves out.
json writeConfig(SafetensorsExport& x, const fs::path& tmp)
{
    const TargetLayout& target = x.target;
    // config.json: the stock architecture, without the run's "affinequant" block (kept in affinequant.json) so
    // that neither stock loaders nor this program apply the run's activation quantization to it.
    json cfg = readJsonFile(x.run.modelDir / "config.json", "model configuration");
    json aqBlock = cfg.contains("affinequant") ? cfg["affinequant"] : json::object();
    cfg.erase("affinequant");
    cfg["torch_dtype"] = floatTypeName(x.o.dtype);
    if (x.m.arch == Architecture::Opt) {
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
    if (x.packed)
        cfg["quantization_config"] = quantizationConfig(x.o.format, x.pack);
    writeText(tmp / "config.json", cfg.dump(2) + "\n");
    x.result.files.push_back("config.json");
    if (x.o.format == ExportFormat::Gptq) {
        writeText(tmp / "quantize_config.json", cfg["quantization_config"].dump(2) + "\n");
        x.result.files.push_back("quantize_config.json");
    }
    return aqBlock;
}

/// model.safetensors.index.json: the total size and which shard holds each tensor.
void writeIndex(SafetensorsExport& x, const fs::path& tmp)
{
    writeText(tmp / "model.safetensors.index.json",
              json{{"metadata", {{"total_size", x.result.numBytes}}}, {"weight_map", x.weightMap}}.dump(1) + "\n");
    x.result.files.push_back("model.safetensors.index.json");
}

/// Copies the model folder's other files (tokenizer, generation config, ...) as they are.
void copyModelFiles(SafetensorsExport& x, const fs::path& tmp)
{
    for (const auto& e : fs::directory_iterator(x.run.modelDir)) {
        const std::string fn = e.path().filename().string();
        if (!e.is_regular_file() || isWeightFile(fn))
            continue;
        std::error_code ec;
        fs::copy_file(e.path(), tmp / fn, fs::copy_options::overwrite_existing, ec);
        if (ec)
            badInput("cannot copy '" + fn + "' into the export: " + ec.message());
        x.result.files.push_back(fn);
    }
}

/// Notes: what folded, what changed, what the export does not carry.
void addNotes(SafetensorsExport& x)
{
    const ModelConfig& m = x.m;
    const TargetLayout& target = x.target;
    std::vector<std::string>& notes = x.notes;
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
    if (x.run.abits < 16)
        notes.push_back("the run quantized activations (W" + std::to_string(x.run.wbits) + "A" +
                        std::to_string(x.run.abits) + ", per-token dynamic); this export holds the fake-quantized "
                        "weights only and runs activations in " + floatTypeName(x.o.dtype) +
                        ", so its perplexity differs from the run's");
    if (x.o.format == ExportFormat::Gptq)
        notes.push_back(x.pack.gptqV1 ? "checkpoint_format gptq (v1: zero points stored minus one)"
                                      : "checkpoint_format gptq_v2: asymmetric zero points are stored as they are "
                                        "(v1's zero - 1 cannot hold a zero point of 0)");
    if (x.packed && x.dtype == torch::kBFloat16 && x.o.format != ExportFormat::CompressedTensors)
        notes.push_back("scales are float16 as the format requires; other tensors are bfloat16");
}

/// POST_MATRIX_EXTENSION.md, when the export keeps dense post-norm matrices.
void writeExtensionNote(SafetensorsExport& x, const fs::path& tmp)
{
    if (!x.target.postMatrices)
        return;
    writeText(tmp / "POST_MATRIX_EXTENSION.md", extensionNote(x.m));
    x.result.files.push_back("POST_MATRIX_EXTENSION.md");
}

/// affinequant.json: where the export came from, the run's configuration and "affinequant" block, and the notes.
void writeSidecar(SafetensorsExport& x, const fs::path& tmp, const json& aqBlock)
{
    json sidecar = {{"source_run", fs::weakly_canonical(fs::absolute(x.run.runDir)).string()},
                    {"format", exportFormatName(x.o.format)},
                    {"dtype", floatTypeName(x.o.dtype)},
                    {"architecture", x.target.architecture},
                    {"run_configuration", x.run.configuration},
                    {"affinequant", aqBlock},
                    {"notes", x.notes}};
    if (x.packed)
        sidecar["packing"] = {{"bits", x.pack.bits},
                              {"group_size", x.result.groupSize},
                              {"symmetric", x.pack.symmetric},
                              {"layers", x.result.packedLayers}};
    writeText(tmp / "affinequant.json", sidecar.dump(2) + "\n");
    x.result.files.push_back("affinequant.json");
}

}  // namespace
}  // namespace detail

ExportResult exportRun(const ExportOptions& o, const ExportProgressFn& progress, const CancelToken* cancel)
{
    using namespace detail;
    const auto t0 = Clock::now();
    if (o.format == ExportFormat::Invalid)
        badInput("no export format chosen (--format hf|awq|gptq|compressed-tensors|gguf)");
    if (o.format == ExportFormat::Gguf)
        return exportGguf(o, progress, cancel);
    checkOptions(o);
    const RunInfo run = readRun(o.runDir);

    StagedOutput staged(o.outDir, run.runDir, o.force, false);

    Checkpoint ck(run.modelDir.string());
    ck.validate();
    SafetensorsExport x(o, progress, cancel, run, ck);
    checkTargetHolds(x);
    planOutput(x);

    staged.begin();
    const fs::path& tmp = staged.temporary();

    try {
        writeShards(x, tmp);
        const json aqBlock = writeConfig(x, tmp);
        writeIndex(x, tmp);
        copyModelFiles(x, tmp);
        addNotes(x);
        writeExtensionNote(x, tmp);
        writeSidecar(x, tmp, aqBlock);
        throwIfExportCancelled(x.cancel, x.o.outDir);

        staged.publish();
    } catch (...) {
        rethrowExportFailure(staged, "export needs about one block in memory; free host memory");
    }
    if (progress)
        progress(exportProgress(x.clock, x.result.shards + 1, x.result.shards + 1, "done"));
    x.result.outDir = staged.destination().string();
    x.result.notes = x.notes;
    x.result.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    return x.result;
}

}  // namespace aq
