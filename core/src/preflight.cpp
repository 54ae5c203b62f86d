// The pre-flight deployability rules: for a model's shapes and a calibration configuration, which transforms fold into
// standard weights and which export formats and runtimes can load the result, and why not. Torch-free and file-free
// (library aq_rules), so the window and the command line apply them without the engine's tensors.
#include "aq/error.h"
#include "aq/export.h"

#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

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

namespace {

/// The linears that share one input size, with that size: the unit the group layout is judged in.
struct InSize {
    std::string layers;
    int64_t in;
};

/// What the rules look at, derived once from the model and the configuration.
struct Facts {
    Facts(const ModelConfig& model, const QuantConfig& config) : m(model), q(config) {}
    const ModelConfig& m;
    const QuantConfig& q;
    bool llama = false;
    int64_t H = 0, F = 0, qDim = 0, kvDim = 0;
    bool wq = false;        ///< weights quantized
    bool aq = false;        ///< activations quantized
    bool let = false;       ///< equivalent transforms trained
    bool lnMatrix = false;  ///< dense post-norm matrices
    bool kquant = false;    ///< a k-quant weight grid
    bool zeroSafe = false;  ///< every zero point is known to fit the packed formats
    std::string hh;         ///< "HxH", for messages
    std::vector<InSize> inSizes;
    std::vector<int64_t> outSizes;
    bool anyGrouped = false, anyChannel = false, mixedGroups = false;
    std::string partial;    ///< the layers with a partial last group, if any
};

void judgeGroupLayout(Facts& f)
{
    for (const auto& s : f.inSizes) {
        const bool grouped = f.q.groupSize > 0 && f.q.groupSize < s.in;
        if (grouped && s.in % f.q.groupSize != 0) {
            if (!f.q.partialGroups && f.q.perChannelFallback) {
                f.anyChannel = true;
                continue;
            }
            f.partial = s.layers + " (" + std::to_string(s.in) + " inputs, group " + std::to_string(f.q.groupSize) + ")";
        }
        (grouped ? f.anyGrouped : f.anyChannel) = true;
    }
    f.mixedGroups = f.anyGrouped && f.anyChannel;
}

Facts factsOf(const ModelConfig& m, const QuantConfig& q)
{
    Facts f(m, q);
    f.llama = m.arch == Architecture::Llama;
    f.H = m.hiddenSize;
    f.F = m.intermediateSize;
    f.qDim = m.numHeads * m.headDim;
    f.kvDim = m.numKvHeads * m.headDim;
    f.wq = q.wbits < 16;
    f.aq = q.abits < 16;
    f.let = q.let && q.method != Method::Rtn;
    f.lnMatrix = f.let && q.lnMatrix;
    f.kquant = f.wq && q.weightGrid != WeightGrid::Uniform;
    f.zeroSafe = q.symmetric || q.zeroInRange;
    f.hh = std::to_string(f.H) + "x" + std::to_string(f.H);
    f.inSizes = {{f.llama ? "q/k/v/up/gate" : "q/k/v/fc1", f.H},
                 {f.llama ? "o_proj" : "out_proj", f.qDim},
                 {f.llama ? "down_proj" : "fc2", f.F}};
    f.outSizes = {f.qDim, f.kvDim, f.H, f.F};
    judgeGroupLayout(f);
    return f;
}

std::string describeModel(const ModelConfig& m)
{
    std::ostringstream s;
    s << m.modelType << ": hidden " << m.hiddenSize << ", FFN " << m.intermediateSize << ", " << m.numHeads
      << " heads (" << m.numKvHeads << " key/value), head dim " << m.headDim << ", " << m.numLayers << " layers";
    return s.str();
}

std::string wxay(const QuantConfig& q) { return "W" + std::to_string(q.wbits) + "A" + std::to_string(q.abits); }

std::vector<TransformFold> transformFolds(const Facts& f)
{
    const QuantConfig& q = f.q;
    const bool llama = f.llama, let = f.let;
    const std::string norm1 = llama ? "input_layernorm" : "self_attn_layer_norm";
    const std::string norm2 = llama ? "post_attention_layernorm" : "final_layer_norm";
    const std::string fc1 = llama ? "up/gate" : "fc1";
    std::vector<TransformFold> t;
    t.push_back({"LWC (learnable weight clipping)", q.lwc && f.wq && q.method != Method::Rtn, true,
                 "folds into the stored weights and their scales/zero points"});
    auto normPair = [&](const std::string& name, const std::string& norm, const std::string& consumers) {
        if (f.lnMatrix)
            return TransformFold{name, true, false,
                                 "full " + f.hh + " matrix: stays a dense matmul after " + norm +
                                     " (2·hidden² extra multiply-adds per token per block; spec §4.4)"};
        return TransformFold{name, let, true,
                             "diagonal: scale folds into " + norm + ".weight and the " + consumers + " columns"};
    };
    t.push_back(normPair("P1 " + norm1 + " -> q/k/v", norm1, "q/k/v"));
    t.push_back(normPair("P2 " + norm2 + " -> " + fc1, norm2, fc1));
    t.push_back({"P3 v -> o", let, true,
                 "per-head block matrix folds into v_proj rows and " + std::string(llama ? "o_proj" : "out_proj") +
                     " columns (exact)"});
    t.push_back({"P4 q/k", let, true,
                 std::string(q.qkMatrix ? "per-head block matrices fold" : "a vector folds") + " into q_proj/k_proj" +
                     (llama ? " before RoPE, where calibration put them: the export computes the calibrated "
                              "model exactly"
                            : "")});
    t.push_back({"shifts", let, true,
                 llama ? "become linear biases: attention_bias (q/k/v/o, zero o_proj bias where needed) and "
                         "mlp_bias (gate/up, zero down_proj bias)" +
                             std::string(q.trainShifts ? "" : "; frozen at zero here, so no biases appear")
                       : "fold into OPT's existing biases"});
    if (llama)
        t.push_back({"RMSNorm biases", let, true,
                     "fold into the following linears' biases (b + W·beta), exact; stock RMSNorm keeps none"});
    t.push_back({"activation quantization", f.aq, false,
                 f.aq ? "per-token dynamic " + wxay(q) +
                            " fake quantization: no export format or runtime here carries it"
                      : std::string("not used (weight-only)")});
    return t;
}

/// Every reason the packed formats cannot hold the result, most fundamental first (the GUI lists them all).
std::vector<std::string> packBlocks(const Facts& f)
{
    const QuantConfig& q = f.q;
    std::vector<std::string> b;
    if (!f.wq)
        b.push_back("weights are not quantized (wbits 16)");
    if (f.aq)
        b.push_back("activations are quantized (" + wxay(q) +
                    "); these formats' kernels quantize weights only, and no runtime here has integer " + wxay(q) +
                    " kernels");
    if (f.lnMatrix)
        b.push_back("the dense " + f.hh +
                    " post-norm matrices cannot be folded into packed weights and these runtimes have no place for "
                    "them");
    if (!f.partial.empty())
        b.push_back("a partial last group: " + f.partial + "; packed layouts need whole groups");
    if (f.mixedGroups)
        b.push_back("some layers are grouped and some per channel (group " + std::to_string(q.groupSize) +
                    " is not below every input size); the formats have one group_size");
    if (f.kquant)
        b.push_back(std::string("the ") + weightGridName(q.weightGrid) +
                    " grid's sub-block scales and minimums have no place in this format (one scale and zero point per "
                    "group): gguf stores it, hf the dequantized weights");
    return b;
}

/// The verdict for a packed format: blocked by any shared or format-specific reason, else exact (or exact only if
/// every zero point fits, when nothing forces them into range).
FormatCheck packedCheck(const Facts& f, const std::vector<std::string>& shared, ExportFormat format,
                        const std::string& runtime, const std::vector<std::string>& formatBlocks,
                        const std::string& exactReason)
{
    FormatCheck c{format, runtime, Deployability::Exact, exactReason};
    std::vector<std::string> all = shared;
    all.insert(all.end(), formatBlocks.begin(), formatBlocks.end());
    if (!all.empty()) {
        c.verdict = Deployability::No;
        c.reason.clear();
        for (const auto& b : all)
            c.reason += (c.reason.empty() ? "" : "; ") + b;
    } else if (!f.zeroSafe) {
        c.verdict = Deployability::Conditional;
        c.reason = exactReason + "; but zero points are not forced into [0, 2^" + std::to_string(f.q.wbits) +
                   "-1] (spec §2.1), so the export refuses any layer with a group outside it";
    }
    return c;
}

bool divides(const std::vector<int64_t>& sizes, int64_t k)
{
    for (int64_t s : sizes)
        if (s % k != 0)
            return false;
    return true;
}

FormatCheck hfCheck(const Facts& f)
{
    const QuantConfig& q = f.q;
    FormatCheck c{ExportFormat::HuggingFace,
                  "transformers / vLLM (stock " + std::string(f.llama ? "LlamaForCausalLM" : "OPTForCausalLM") + ")",
                  Deployability::Exact,
                  "fake-quantized weights in float16/bfloat16" +
                      std::string(f.let && f.llama ? "; shifts as attention_bias/mlp_bias, norm biases folded" : "")};
    if (f.lnMatrix) {
        c.verdict = Deployability::Extension;
        c.reason = "the dense " + f.hh +
                   " post-norm matrices have no place in the stock class: export --allow-extension writes them with a "
                   "note on applying them (stock loaders silently ignore them)";
    } else if (f.aq) {
        c.verdict = Deployability::WeightsOnly;
        c.reason = "loads, but runs activations in float, not " + wxay(q) + " as the run measured";
    }
    if (f.llama && f.let && f.m.modelType != "llama")
        c.reason += "; written as LlamaForCausalLM where " + f.m.modelType + "'s class cannot hold the new biases";
    return c;
}

FormatCheck awqCheck(const Facts& f, const std::vector<std::string>& shared)
{
    std::vector<std::string> b;
    if (f.q.wbits != 4)
        b.push_back("AWQ stores 4-bit codes only (this is " + std::to_string(f.q.wbits) + "-bit)");
    if (!divides(f.outSizes, 8))
        b.push_back("an output size is not a multiple of 8");
    if (!f.anyGrouped && !divides({f.H, f.qDim, f.F}, 32))
        b.push_back("per-channel scales need a group size of 32, 64 or 128 dividing every input size");
    return packedCheck(f, shared, ExportFormat::Awq, "vLLM awq_marlin (compute capability >= 8.0, else awq), AutoAWQ GEMM",
                       b, "4-bit asymmetric codes with zero points, float16 scales");
}

/// Two lines: vLLM's Marlin kernel, then the plain GPTQ kernels that take what Marlin does not.
std::vector<FormatCheck> gptqChecks(const Facts& f, const std::vector<std::string>& shared)
{
    const QuantConfig& q = f.q;
    std::vector<std::string> b;
    if (q.wbits != 2 && q.wbits != 4 && q.wbits != 8)
        b.push_back(std::to_string(q.wbits) + "-bit GPTQ needs its cross-word layout, which is not implemented (2/4/8 only)");
    else if (!divides({f.H, f.qDim, f.F}, 32 / q.wbits) || !divides(f.outSizes, 32 / q.wbits))
        b.push_back("a layer size is not a multiple of " + std::to_string(32 / q.wbits) + " codes per 32-bit word");
    FormatCheck marlin = packedCheck(f, shared, ExportFormat::Gptq, "vLLM gptq_marlin", b, "symmetric, v1 layout");
    if (marlin.verdict != Deployability::No && !(q.symmetric && (q.wbits == 4 || q.wbits == 8))) {
        marlin.verdict = Deployability::No;
        marlin.reason = "gptq_marlin is chosen only for symmetric 4/8-bit; this configuration is " +
                        std::string(q.symmetric ? "" : "asymmetric ") + std::to_string(q.wbits) +
                        "-bit, so vLLM falls back to its gptq kernel (next line)";
    }
    return {marlin, packedCheck(f, shared, ExportFormat::Gptq, "vLLM gptq (ExLlama), GPTQModel, transformers GPTQConfig",
                                b,
                                q.symmetric ? "checkpoint_format gptq (v1), sym true"
                                            : "checkpoint_format gptq_v2 (zero points stored as they are), sym false")};
}

FormatCheck compressedTensorsCheck(const Facts& f, const std::vector<std::string>& shared)
{
    const QuantConfig& q = f.q;
    std::vector<std::string> b;
    if (q.wbits > 8 && f.wq)
        b.push_back("pack-quantized holds up to 8 bits");
    else if (q.wbits != 4 && q.wbits != 8 && f.wq)
        b.push_back("vLLM's WNA16 kernels take 4 and 8 bits (the files can be written, for other loaders)");
    return packedCheck(f, shared, ExportFormat::CompressedTensors, "vLLM compressed-tensors WNA16 (Marlin)", b,
                       q.symmetric ? "symmetric pack-quantized"
                                   : "asymmetric pack-quantized with weight_zero_point (recent vLLM only; older builds "
                                     "are symmetric-only)");
}

/// How a uniform grid is stored in GGUF: as its own ggml block type where one exists and the groups split into whole
/// blocks of 32, else as F16 dequantized values.
std::string ggufUniformStorage(const Facts& f)
{
    const QuantConfig& q = f.q;
    const char* type = nullptr;
    if (q.wbits == 4)
        type = q.symmetric ? "Q4_0" : "Q4_1";
    else if (q.wbits == 5)
        type = q.symmetric ? "Q5_0" : "Q5_1";
    else if (q.wbits == 8 && q.symmetric)
        type = "Q8_0";
    std::vector<std::string> fallback;
    for (const auto& s : f.inSizes) {
        const bool grouped = q.groupSize > 0 && q.groupSize < s.in;
        const bool whole = grouped ? (q.groupSize % 32 == 0 && s.in % q.groupSize == 0) : s.in % 32 == 0;
        if (!type || !whole)
            fallback.push_back(s.layers + " (" + std::to_string(s.in) + " inputs" +
                               (grouped ? ", groups of " + std::to_string(q.groupSize) : std::string()) + ")");
    }
    if (!type)
        return std::to_string(q.wbits) + "-bit " + (q.symmetric ? "symmetric" : "asymmetric") +
               " codes have no ggml block type: the linears are stored as F16 dequantized values (same computation, "
               "no size saving), or refused with --exact-only";
    if (!fallback.empty()) {
        std::string list;
        for (const auto& x : fallback)
            list += (list.empty() ? "" : ", ") + x;
        return std::string("the run's grid as ") + type + " blocks, except " + list +
               " (groups do not split into whole blocks of 32): stored as F16 dequantized values, or refused with "
               "--exact-only";
    }
    return std::string("the run's grid itself as ") + type +
           " blocks (float16 block factors), shifts as biases, tokenizer embedded";
}

FormatCheck ggufCheck(const Facts& f)
{
    const QuantConfig& q = f.q;
    FormatCheck c{ExportFormat::Gguf, "llama.cpp (Ollama, LM Studio, node-llama-cpp)", Deployability::Exact, ""};
    std::vector<std::string> b;
    if (!f.llama)
        b.push_back("llama.cpp has no architecture for OPT");
    if (f.aq)
        b.push_back("activations are quantized (" + wxay(q) + "); llama.cpp quantizes weights only");
    if (f.lnMatrix)
        b.push_back("the dense " + f.hh + " post-norm matrices have no place in llama.cpp's graph");
    if (!b.empty()) {
        c.verdict = Deployability::No;
        for (const auto& x : b)
            c.reason += (c.reason.empty() ? "" : "; ") + x;
    } else if (!f.wq) {
        c.reason = "F16 weights";
    } else if (f.kquant) {
        c.reason = std::string("the calibrated ") + weightGridName(q.weightGrid) +
                   " grid as it is: llama.cpp decodes every weight to the run's value bit for bit";
    } else {
        c.reason = ggufUniformStorage(f);
    }
    return c;
}

/// The changes that would make the result deployable in more places.
std::vector<Advice> advice(const Facts& f)
{
    const QuantConfig& q = f.q;
    std::vector<Advice> a;
    if (f.lnMatrix)
        a.push_back({"ln_matrix", "false",
                     "vector post-norm transforms fold completely (hf loads without an extension, packed formats "
                     "become possible)"});
    if (f.wq && !f.aq && !f.zeroSafe)
        a.push_back({"zero_in_range", "true",
                     "forces zero into every group's range so that every zero point fits the packed formats"});
    if (f.aq)
        a.push_back({"preset", "",
                     "a weight-only preset (w4a16g128, ...) for packed formats; " + wxay(q) +
                         " stays fake-quant research"});
    if (!f.partial.empty() || f.mixedGroups)
        a.push_back({"group_size", "",
                     "a group size that divides every input size (" + std::to_string(f.H) + ", " +
                         std::to_string(f.qDim) + ", " + std::to_string(f.F) + "), or per channel"});
    if (f.wq && q.wbits == 3)
        a.push_back({"wbits", "", "3-bit: use --format compressed-tensors (no vLLM kernel) or 2/4/8 bits for GPTQ"});
    return a;
}

}  // namespace

std::string commandLineAdvice(const Advice& a)
{
    const Setting* s = a.value.empty() ? nullptr : findSetting(a.setting);
    if (!s)
        return a.reason;
    const std::string option = s->isSwitch() ? s->optionText(a.value == "true") : s->optionText() + " " + a.value;
    return option + ": " + a.reason;
}

PreflightReport preflight(const ModelConfig& m, const QuantConfig& q)
{
    const Facts f = factsOf(m, q);
    const std::vector<std::string> shared = packBlocks(f);
    PreflightReport r;
    r.model = describeModel(m);
    r.transforms = transformFolds(f);
    r.formats.push_back(hfCheck(f));
    r.formats.push_back(awqCheck(f, shared));
    for (const FormatCheck& c : gptqChecks(f, shared))
        r.formats.push_back(c);
    r.formats.push_back(compressedTensorsCheck(f, shared));
    r.formats.push_back(ggufCheck(f));
    r.advice = advice(f);
    return r;
}

}  // namespace aq
