// The GGUF export: a finished weight-only run as one llama.cpp file, keeping the run's grid where a ggml type holds it.
//
// Steps: check the run and the architecture, decide each tensor's ggml type from the run's grid (no weights read),
// collect the metadata and the tokenizer, then stream block by block: fold, permute q/k for llama.cpp's RoPE, recover
// the integer codes, pack, write. The file is written under a temporary name and renamed at the end.
#include "aq/error.h"
#include "aq/tokenizer.h"
#include "export_pack.h"
#include "export_plan.h"
#include "gguf_vocab.h"
#include "gguf_writer.h"
#include "jsonutil.h"
#include "model.h"
#include "quantizer.h"
#include "safetensors.h"
#include "torch_util.h"
#include "transforms.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <cstring>
#include <map>
#include <optional>

namespace fs = std::filesystem;

namespace aq::detail {

namespace {

using nlohmann::json;
using gguf::GgmlType;
using gguf::kquantType;
using Clock = std::chrono::steady_clock;

/// How one quantized linear is stored.
struct LinearStorage {
    GgmlType type = GgmlType::F16;
    bool exact = false;     ///< the run's grid itself (codes and block factors), not dequantized values
    std::string reason;     ///< why not, when not exact
};

/// The ggml block type that holds `bits`-bit codes with this symmetry exactly, if any.
std::optional<GgmlType> exactType(int bits, bool symmetric)
{
    if (bits == 4)
        return symmetric ? GgmlType::Q4_0 : GgmlType::Q4_1;
    if (bits == 5)
        return symmetric ? GgmlType::Q5_0 : GgmlType::Q5_1;
    if (bits == 8 && symmetric)
        return GgmlType::Q8_0;
    return std::nullopt;
}

LinearStorage storageFor(const RunInfo& run, int64_t in, int64_t groups, GgmlType floatType)
{
    LinearStorage s;
    s.type = floatType;
    if (run.weightGrid != WeightGrid::Uniform) {
        if (in % kSuperBlock != 0) {
            s.reason = "rows of " + std::to_string(in) + " inputs are not whole super-blocks of 256";
            return s;
        }
        s.type = GgmlType::Q4_K;  // each tensor's own type comes from linearType()
        s.exact = true;
        return s;
    }
    const auto t = exactType(run.wbits, run.symmetric);
    if (!t) {
        s.reason = std::to_string(run.wbits) + "-bit " + (run.symmetric ? "symmetric" : "asymmetric") +
                   " codes have no ggml block type (Q4_0/Q4_1, Q5_0/Q5_1 and symmetric Q8_0 exist)";
        return s;
    }
    if (groups <= 1) {
        if (in % 32 != 0) {
            s.reason = "per-channel rows of " + std::to_string(in) + " inputs are not a multiple of 32";
            return s;
        }
    } else if (run.groupSize % 32 != 0 || in % run.groupSize != 0) {
        s.reason = "groups of " + std::to_string(run.groupSize) + " over " + std::to_string(in) +
                   " inputs do not split into whole blocks of 32";
        return s;
    }
    s.type = *t;
    s.exact = true;
    return s;
}

/// llama.cpp's file type for a file whose quantized linears are mostly `t`.
uint32_t fileTypeOf(GgmlType t)
{
    switch (t) {
    case GgmlType::F32: return 0;
    case GgmlType::F16: return 1;
    case GgmlType::Q4_0: return 2;
    case GgmlType::Q4_1: return 3;
    case GgmlType::Q8_0: return 7;
    case GgmlType::Q5_0: return 8;
    case GgmlType::Q5_1: return 9;
    case GgmlType::BF16: return 32;
    // A file of one k-quant type throughout its linears: llama.cpp's "_S" file types name that.
    case GgmlType::Q2_K: return 10;
    case GgmlType::Q3_K: return 11;
    case GgmlType::Q4_K: return 14;
    case GgmlType::Q5_K: return 16;
    case GgmlType::Q6_K: return 18;
    }
    return 1;
}

/// Rows of a q or k projection (weight [out, in] or bias [out]) reordered for llama.cpp's RoPE, which rotates
/// adjacent pairs where Hugging Face rotates the two halves of each head: row 2i+j of a head is row j*hd/2+i.
torch::Tensor ropePermute(const torch::Tensor& t, int64_t heads)
{
    const int64_t out = t.size(0);
    const int64_t hd = out / heads;
    std::vector<int64_t> shape = {heads, 2, hd / 2};
    for (int64_t d = 1; d < t.dim(); ++d)
        shape.push_back(t.size(d));
    return t.reshape(shape).transpose(1, 2).reshape(t.sizes()).contiguous();
}

/// GGUF name of a block-relative Hugging Face name of the LLaMA family.
std::string ggufBlockName(int64_t block, const std::string& hfName)
{
    static const std::map<std::string, std::string> kNames = {
        {"input_layernorm", "attn_norm"},   {"post_attention_layernorm", "ffn_norm"}, {"self_attn.q_proj", "attn_q"},
        {"self_attn.k_proj", "attn_k"},     {"self_attn.v_proj", "attn_v"},           {"self_attn.o_proj", "attn_output"},
        {"mlp.gate_proj", "ffn_gate"},      {"mlp.up_proj", "ffn_up"},                {"mlp.down_proj", "ffn_down"},
    };
    const auto dot = hfName.rfind('.');
    const auto it = kNames.find(hfName.substr(0, dot));
    if (it == kNames.end())
        throw Error(ErrorCode::Internal, "no GGUF name for block tensor " + hfName);
    return "blk." + std::to_string(block) + "." + it->second + hfName.substr(dot);
}

/// Bytes of a float tensor in F32, F16 or BF16. Throws BadInput when F16 cannot hold a value.
std::vector<uint8_t> floatBytes(const std::string& name, const torch::Tensor& t, GgmlType type)
{
    const torch::Tensor f = t.to(torch::kCPU, torch::kFloat32).contiguous();
    const float* p = f.data_ptr<float>();
    const int64_t n = f.numel();
    std::vector<uint8_t> out;
    if (type == GgmlType::F32) {
        out.resize(static_cast<size_t>(n) * 4);
        std::memcpy(out.data(), p, out.size());
        return out;
    }
    out.resize(static_cast<size_t>(n) * 2);
    for (int64_t i = 0; i < n; ++i) {
        if (!std::isfinite(p[i]))
            badInput(name + " holds a value that is not finite; the run's model is damaged (re-run the calibration)");
        const uint16_t h = type == GgmlType::F16 ? gguf::floatToHalf(p[i]) : gguf::floatToBf16(p[i]);
        if (type == GgmlType::F16 && (h & 0x7c00u) == 0x7c00u)
            badInput(name + " holds " + std::to_string(p[i]) +
                     ", beyond float16's range; export with --dtype bfloat16");
        out[2 * i] = static_cast<uint8_t>(h & 0xff);
        out[2 * i + 1] = static_cast<uint8_t>(h >> 8);
    }
    return out;
}

/// Result of packing one quantized linear.
struct PackedLinear {
    std::vector<uint8_t> bytes;
    double maxChange = 0;  ///< largest |llama.cpp's value - run's value|
};

/// Recovers the codes of a linear on its run's grid and packs them as `type`. `w` is the run's weight [out, in]
/// (rows already in file order), `s`/`z` its scales and zero points [out, groups] in the same row order.
PackedLinear packLinear(const std::string& name, const torch::Tensor& w, const torch::Tensor& s, const torch::Tensor& z,
                        int bits, int64_t groupSize, GgmlType type)
{
    torch::NoGradGuard ng;
    const IntegerLinear il = recoverIntegers(name, w, s, z, bits, groupSize, /*zeroInRange=*/false);
    const int64_t out = il.out(), in = il.in(), groups = il.groups(), g = il.groupSize;
    const bool symmetricType = type == GgmlType::Q4_0 || type == GgmlType::Q5_0 || type == GgmlType::Q8_0;
    const int64_t symZero = int64_t(1) << (bits - 1);
    if (symmetricType && il.zeros.ne(symZero).any().item<bool>())
        badInput(name + ": a symmetric run must have every zero point at " + std::to_string(symZero) +
                 "; quantization.safetensors says otherwise (re-run the calibration)");

    const torch::Tensor codes = il.codes.to(torch::kUInt8).contiguous();
    const torch::Tensor sF = il.scales.contiguous(), zF = il.zeros.to(torch::kFloat32).contiguous();
    const torch::Tensor wF = w.to(torch::kFloat32).contiguous();
    const uint8_t* qp = codes.data_ptr<uint8_t>();
    const float* sp = sF.data_ptr<float>();
    const float* zp = zF.data_ptr<float>();
    const float* wp = wF.data_ptr<float>();

    PackedLinear r;
    const int64_t blocksPerRow = in / 32;
    const int64_t bb = gguf::blockBytes(type);
    r.bytes.resize(static_cast<size_t>(out * blocksPerRow * bb));
    uint8_t* dst = r.bytes.data();
    for (int64_t row = 0; row < out; ++row) {
        for (int64_t b = 0; b < blocksPerRow; ++b, dst += bb) {
            const int64_t grp = groups <= 1 ? 0 : (b * 32) / g;
            const float scale = sp[row * groups + grp], zero = zp[row * groups + grp];
            const uint16_t d = gguf::floatToHalf(scale);
            const uint16_t m = gguf::floatToHalf(-scale * zero);
            if ((d & 0x7c00u) == 0x7c00u || (m & 0x7c00u) == 0x7c00u)
                badInput(name + ": a scale of " + std::to_string(scale) + " (row " + std::to_string(row) +
                         ") does not fit float16, which ggml block types store");
            const uint8_t* qb = qp + row * in + b * 32;
            const float df = gguf::halfToFloat(d), mf = gguf::halfToFloat(m);
            for (int j = 0; j < 32; ++j) {
                const float stored = symmetricType ? df * static_cast<float>(qb[j] - static_cast<int>(symZero))
                                                   : df * static_cast<float>(qb[j]) + mf;
                r.maxChange = std::max(r.maxChange, static_cast<double>(std::abs(stored - wp[row * in + b * 32 + j])));
            }
            switch (type) {
            case GgmlType::Q4_0: gguf::packQ4_0(qb, d, dst); break;
            case GgmlType::Q4_1: gguf::packQ4_1(qb, d, m, dst); break;
            case GgmlType::Q5_0: gguf::packQ5_0(qb, d, dst); break;
            case GgmlType::Q5_1: gguf::packQ5_1(qb, d, m, dst); break;
            case GgmlType::Q8_0: {
                int8_t signedCodes[32];
                for (int j = 0; j < 32; ++j)
                    signedCodes[j] = static_cast<int8_t>(qb[j] - 128);
                gguf::packQ8_0(signedCodes, d, dst);
                break;
            }
            default: throw Error(ErrorCode::Internal, "packLinear: not a block type");
            }
        }
    }
    return r;
}

/// Packs a linear calibrated on a k-quant grid: its codes recovered from the run's weight `w` [out, in] with the
/// factors of quantization.safetensors (rows already in file order), written with those factors as they are.
PackedLinear packKQuantLinear(const std::string& name, const torch::Tensor& w, const KQuantFactors& f, WeightGrid grid)
{
    torch::NoGradGuard ng;
    const KQuantLayout& L = kquantLayout(grid);
    const int64_t out = w.size(0), in = w.size(1);
    const int64_t supers = in / kSuperBlock, subs = kSuperBlock / L.subBlock;
    auto expect = [&](const torch::Tensor& t, int64_t cols, const char* what) {
        if (t.dim() != 2 || t.size(0) != out || t.size(1) != cols)
            badInput(name + "." + what + " in quantization.safetensors does not fit the weight's shape; the run's model "
                     "and its quantization.safetensors do not belong together (re-run the calibration)");
    };
    expect(f.d, supers, "kq_d");
    expect(f.dmin, supers, "kq_dmin");
    expect(f.sc, supers * subs, "kq_scales");
    expect(f.m, supers * subs, "kq_mins");
    const torch::Tensor wF = w.to(torch::kFloat32).contiguous();
    const torch::Tensor codes = kquantCodes(wF, grid, f);
    const torch::Tensor stored = kquantValues(codes, grid, f);
    // The run's weights lie on the grid, up to the rounding of the model's storage type (binary16: 2^-11 relative):
    // each is within a quarter of its step.
    const torch::Tensor step = (f.d.repeat_interleave(subs, 1) * f.sc).abs().repeat_interleave(L.subBlock, 1);
    const torch::Tensor off = (stored - wF).abs();
    if ((off > step * 0.25 + stored.abs() * std::ldexp(1.0, -10) + 1e-30).any().item<bool>())
        badInput(name + ": the run's weights do not lie on the " + weightGridName(grid) + " grid that "
                 "quantization.safetensors describes; the two files do not belong together (re-run the calibration)");
    PackedLinear r;
    r.maxChange = off.max().item<double>();

    const torch::Tensor q8 = codes.to(torch::kUInt8).contiguous();
    const torch::Tensor scI = f.sc.to(torch::kInt32).contiguous(), mI = f.m.to(torch::kInt32).contiguous();
    const torch::Tensor dF = f.d.to(torch::kFloat32).contiguous(), dminF = f.dmin.to(torch::kFloat32).contiguous();
    const uint8_t* qp = q8.data_ptr<uint8_t>();
    const int32_t* scp = scI.data_ptr<int32_t>();
    const int32_t* mp = mI.data_ptr<int32_t>();
    const float* dp = dF.data_ptr<float>();
    const float* dminp = dminF.data_ptr<float>();
    const GgmlType type = kquantType(grid);
    const int64_t bb = gguf::blockBytes(type);
    r.bytes.resize(static_cast<size_t>(out * supers * bb));
    uint8_t* dst = r.bytes.data();
    for (int64_t row = 0; row < out; ++row) {
        for (int64_t b = 0; b < supers; ++b, dst += bb) {
            const uint16_t d = gguf::floatToHalf(dp[row * supers + b]);
            const uint16_t dmin = gguf::floatToHalf(dminp[row * supers + b]);
            // The factors are binary16 values already (the calibration rounds them so): the conversion is exact.
            if (gguf::halfToFloat(d) != dp[row * supers + b] || gguf::halfToFloat(dmin) != dminp[row * supers + b])
                badInput(name + ": a super-block factor in quantization.safetensors is not a float16 value; the file is "
                         "not from this program's k-quant calibration");
            const uint8_t* qb = qp + row * in + b * kSuperBlock;
            uint8_t sc8[16], m8[16];
            int8_t scS[16];
            for (int64_t j = 0; j < subs; ++j) {
                const int32_t sc = scp[(row * supers + b) * subs + j], mn = mp[(row * supers + b) * subs + j];
                sc8[j] = static_cast<uint8_t>(sc);
                scS[j] = static_cast<int8_t>(sc);
                m8[j] = static_cast<uint8_t>(mn);
            }
            switch (type) {
            case GgmlType::Q4_K: gguf::packQ4_K(qb, sc8, m8, d, dmin, dst); break;
            case GgmlType::Q5_K: gguf::packQ5_K(qb, sc8, m8, d, dmin, dst); break;
            case GgmlType::Q6_K: gguf::packQ6_K(qb, scS, d, dst); break;
            case GgmlType::Q3_K: gguf::packQ3_K(qb, scS, d, dst); break;
            case GgmlType::Q2_K: gguf::packQ2_K(qb, sc8, m8, d, dmin, dst); break;
            default: throw Error(ErrorCode::Internal, "packKQuantLinear: not a k-quant type");
            }
        }
    }
    return r;
}

/// The ggml type of one quantized linear of block `block`: a k-quant run's grid for it (a mixed grid varies it by
/// role and block), else the plan's type for the layer.
GgmlType linearType(const RunInfo& run, const LinearStorage& s, const ModelConfig& m, int64_t block,
                    const std::string& layer)
{
    if (run.weightGrid == WeightGrid::Uniform || !s.exact || run.wbits >= 16)
        return s.type;
    return kquantType(tensorGrid(run.weightGrid, linearRole(blockLayout(m), layer), block, m.numLayers, m));
}

/// llama.cpp's file type of a k-quant run ("mostly Q4_K_M", ...).
uint32_t kquantFileType(WeightGrid grid)
{
    switch (grid) {
    case WeightGrid::Q4_K_M: return 15;
    case WeightGrid::Q3_K_M: return 12;
    case WeightGrid::Q2_K_M: return 10;
    default: return fileTypeOf(kquantType(grid));
    }
}

/// The llama.cpp architecture a run is written as.
struct GgufPlan {
    std::string arch;               ///< "llama" or "qwen2"
    bool permuteQk = false;         ///< llama: interleaved RoPE needs the q/k rows permuted
    GgmlType floatType = GgmlType::F16;
    GgmlType embeddingType = GgmlType::F16;  ///< token embeddings (and an untied output layer): floatType or Q6_K
    std::map<std::string, LinearStorage> linears;  ///< block-relative linear name -> storage (same in every block)
    std::vector<std::string> notes;
};

/// Refuses what llama.cpp cannot run as the run computed it: OPT, quantized activations, dense post-norm matrices, a
/// final norm bias, llama3 rope scaling outside llama; and a quantized run without its scales.
void checkGgufHoldsRun(const RunInfo& run, const Checkpoint& ck, const TargetLayout& target,
                       const SafetensorsFile* quant)
{
    const ModelConfig& m = ck.config();
    if (m.arch != Architecture::Llama)
        badInput("llama.cpp has no architecture for " + m.modelType +
                 " models (OPT's learned positions and LayerNorm blocks), so there is no GGUF form of this run; export "
                 "--format hf, gptq, awq or compressed-tensors instead");
    if (run.abits < 16)
        badInput("this run quantizes activations (W" + std::to_string(run.wbits) + "A" + std::to_string(run.abits) +
                 "), which GGUF cannot express: llama.cpp quantizes weights only, so the file would not compute what the "
                 "run measured. Re-run a weight-only preset (w4a16g128, ...) for llama.cpp, or export --format hf for the "
                 "fake-quantized weights");
    if (target.postMatrices)
        badInput("this run keeps dense " + std::to_string(m.hiddenSize) + "x" + std::to_string(m.hiddenSize) +
                 " matrices after both norms of every block (--ln-matrix, the paper's recipe): llama.cpp has no place for "
                 "them and they cannot be folded into quantized weights (spec §4.4). Re-run the calibration without "
                 "--ln-matrix (the presets' deployable default) to get a GGUF file");
    if (ck.contains("model.norm.bias"))
        badInput("the final norm has a bias, which llama.cpp's RMSNorm cannot hold");
    if (m.ropeScaling.type == RopeScaling::Type::Llama3 && m.modelType != "llama")
        badInput("llama3 rope scaling on a " + m.modelType + " model has no GGUF form");
    if (run.wbits < 16 && !quant)
        badInput("this run has no model/quantization.safetensors with its scales and zero points; re-run it");
}

/// The float type of the file (--dtype) and of the token embeddings (that, or Q6_K).
void planFloatTypes(const ExportOptions& o, const ModelConfig& m, GgufPlan& p)
{
    p.floatType = o.dtype == FloatType::BFloat16 ? GgmlType::BF16 : GgmlType::F16;
    p.embeddingType = p.floatType;
    if (o.q6kEmbeddings) {
        if (m.hiddenSize % kSuperBlock != 0)
            badInput("--token-embedding-type q6_k stores rows in super-blocks of 256 values, but this model's hidden "
                     "size is " + std::to_string(m.hiddenSize) + "; leave the token embeddings as floats");
        p.embeddingType = GgmlType::Q6_K;
    }
}

/// llama.cpp's 'qwen2' where the target keeps Qwen2's class, else 'llama' (with q/k permuted for its RoPE).
void planArchitecture(const ModelConfig& m, const TargetLayout& target, GgufPlan& p)
{
    const bool keepQwen2 = m.modelType == "qwen2" && target.architecture == "Qwen2ForCausalLM";
    p.arch = keepQwen2 ? "qwen2" : "llama";
    p.permuteQk = !keepQwen2;
    if (m.modelType == "qwen2" && !keepQwen2)
        p.notes.push_back("written as llama.cpp's 'llama' architecture because the learned shifts gave o_proj or the "
                          "MLP biases that its 'qwen2' graph does not read (same computation; q/k rows permuted for its "
                          "RoPE)");
    if (m.modelType == "mistral" && m.slidingWindow)
        p.notes.push_back("mistral is written as llama.cpp's 'llama' architecture, which has no sliding window: exact "
                          "for contexts up to " + std::to_string(*m.slidingWindow) + " tokens");
}

/// Groups per row of `layer`'s stored scales, checked in every block (with the k-quant factors of a k-quant run).
int64_t storedGroups(const RunInfo& run, const Checkpoint& ck, const SafetensorsFile* quant, const std::string& layer,
                     const std::vector<int64_t>& shape)
{
    const ModelConfig& m = ck.config();
    // Every block shares the layer's shape and group layout; check them all for the stored groups.
    int64_t groups = -1;
    for (int64_t i = 0; i < m.numLayers; ++i) {
        const std::string name = blockPrefix(m, i) + layer + ".scales";
        if (!quant->contains(name))
            badInput("model/quantization.safetensors lacks " + name + "; the run is incomplete: re-run it");
        if (run.weightGrid != WeightGrid::Uniform)
            for (const char* k : {".kq_d", ".kq_dmin", ".kq_scales", ".kq_mins"})
                if (!quant->contains(blockPrefix(m, i) + layer + k))
                    badInput("model/quantization.safetensors lacks " + blockPrefix(m, i) + layer + k +
                             ", the k-quant factors of this run's " + weightGridName(run.weightGrid) +
                             " grid; the run is incomplete or from an older program: re-run it");
        const auto ss = quant->entries().at(name).shape;
        if (ss.size() != 2 || ss[0] != shape[0])
            badInput(name + " does not fit the weight of shape [" + std::to_string(shape[0]) + ", " +
                     std::to_string(shape[1]) + "]");
        // (A mixed k-quant grid has sub-blocks of 32 in some blocks and 16 in others.)
        if (groups >= 0 && ss[1] != groups && !isMixedGrid(run.weightGrid))
            badInput(layer + " has " + std::to_string(groups) + " groups per row in block 0 and " +
                     std::to_string(ss[1]) + " in block " + std::to_string(i));
        groups = ss[1];
    }
    return groups;
}

/// Each linear's storage (the same in every block): the run's grid where a ggml type holds it, else dequantized
/// floats, noted, or refused with --exact-only.
void planLinears(const ExportOptions& o, const RunInfo& run, const Checkpoint& ck, const SafetensorsFile* quant,
                 GgufPlan& p)
{
    const ModelConfig& m = ck.config();
    const BlockLayout L = blockLayout(m);
    std::string fallbackReason;
    std::vector<std::string> fallbackLayers;
    for (const auto& layer : L.linears()) {
        const std::string full = blockPrefix(m, 0) + layer;
        const auto shape = ck.shape(full + ".weight");
        LinearStorage s;
        if (run.wbits >= 16) {
            s.type = p.floatType;
            s.exact = true;
        } else {
            const int64_t groups = storedGroups(run, ck, quant, layer, shape);
            s = storageFor(run, shape[1], groups, p.floatType);
            if (!s.exact) {
                fallbackReason = s.reason;
                fallbackLayers.push_back(layer);
            }
        }
        p.linears[layer] = s;
    }
    if (!fallbackLayers.empty()) {
        std::string list;
        for (const auto& l : fallbackLayers)
            list += (list.empty() ? "" : ", ") + l;
        if (o.exactOnly)
            badInput("no ggml type holds the run's grid for " + list + " (" + fallbackReason +
                     "); --exact-only refuses to write them as dequantized " + gguf::typeName(p.floatType) +
                     " values. Drop --exact-only, or re-run with 4-, 5- or symmetric 8-bit weights and groups of a "
                     "multiple of 32 that divide every input size");
        p.notes.push_back(list + " stored as dequantized " + std::string(gguf::typeName(p.floatType)) + " values: " +
                          fallbackReason + " (same computation, no size saving for these layers; --exact-only refuses)");
    }
}

GgufPlan planGguf(const ExportOptions& o, const RunInfo& run, const Checkpoint& ck, const TargetLayout& target,
                  const SafetensorsFile* quant)
{
    checkGgufHoldsRun(run, ck, target, quant);
    GgufPlan p;
    planFloatTypes(o, ck.config(), p);
    planArchitecture(ck.config(), target, p);
    planLinears(o, run, ck, quant, p);
    return p;
}

/// Adds the hyper-parameters llama.cpp reads for `arch`.
void addModelKeys(gguf::Metadata& md, const std::string& arch, const ModelConfig& m)
{
    auto u32 = [](int64_t v) { return static_cast<uint32_t>(v); };
    md.setU32(arch + ".context_length", u32(m.maxPositionEmbeddings));
    md.setU32(arch + ".embedding_length", u32(m.hiddenSize));
    md.setU32(arch + ".block_count", u32(m.numLayers));
    md.setU32(arch + ".feed_forward_length", u32(m.intermediateSize));
    md.setU32(arch + ".attention.head_count", u32(m.numHeads));
    md.setU32(arch + ".attention.head_count_kv", u32(m.numKvHeads));
    md.setF32(arch + ".attention.layer_norm_rms_epsilon", static_cast<float>(m.normEps));
    md.setF32(arch + ".rope.freq_base", static_cast<float>(m.ropeTheta));
    md.setU32(arch + ".rope.dimension_count", u32(m.headDim));
    if (m.headDim * m.numHeads != m.hiddenSize) {
        md.setU32(arch + ".attention.key_length", u32(m.headDim));
        md.setU32(arch + ".attention.value_length", u32(m.headDim));
    }
    md.setU32(arch + ".vocab_size", u32(m.vocabSize));
    if (m.ropeScaling.type == RopeScaling::Type::Linear) {
        md.setString(arch + ".rope.scaling.type", "linear");
        md.setF32(arch + ".rope.scaling.factor", static_cast<float>(m.ropeScaling.factor));
    }
}

/// llama3 rope scaling as llama.cpp applies it: a per-frequency divisor of the rotation angle.
torch::Tensor ropeFrequencyFactors(const ModelConfig& m)
{
    ModelConfig plain = m;
    plain.ropeScaling = RopeScaling{};
    return (ropeInverseFrequencies(plain) / ropeInverseFrequencies(m)).to(torch::kFloat32).contiguous();
}

/// Refuses the options that do not apply to GGUF.
void checkOptions(const ExportOptions& o)
{
    checkExportFloatType(o.dtype);
    if (o.outDir.empty())
        badInput("no output file given (--out FILE.gguf)");
    if (o.allowExtension || o.gptqV1)
        badInput(std::string(o.allowExtension ? "--allow-extension" : "--gptq-v1") + " does not apply to --format gguf");
}

/// What the steps of one GGUF export share: the options, the run and its checkpoint, the plans, and the result as it
/// grows.
struct GgufExport {
    const ExportOptions& o;
    const ExportProgressFn& progress;
    const std::atomic<bool>* cancel;
    const RunInfo& run;
    const Checkpoint& ck;
    const ModelConfig& m;
    const TargetLayout& target;
    const SafetensorsFile* quant;  ///< model/quantization.safetensors, if the run has one
    const GgufPlan plan;
    const BlockLayout L;
    ExportResult result;
    const ProgressClock clock;
};

/// The vocabulary to embed, from the source model's tokenizer files that the run's model folder carries.
gguf::Vocabulary readGgufVocabulary(const GgufExport& x)
{
    const auto tokenizer = loadTokenizer(x.run.modelDir.string());
    return gguf::readVocabulary(x.run.modelDir.string(), x.m.vocabSize, tokenizer->bosId(), tokenizer->eosId(),
                                tokenizer->addBos());
}

/// The file's metadata: general keys, the model's hyper-parameters and the vocabulary (the file type comes later).
gguf::Metadata ggufMetadata(const GgufExport& x, const gguf::Vocabulary& vocab)
{
    const RunInfo& run = x.run;
    gguf::Metadata md;
    md.setString("general.architecture", x.plan.arch);
    md.setString("general.type", "model");
    const std::string sourceModel = run.sourceModel.empty() ? "model" : fs::path(run.sourceModel).filename().string();
    md.setString("general.name", sourceModel + " (AffineQuant " + run.method + ")");
    md.setU32("general.quantization_version", 2);
    md.setString("general.quantized_by", "AffineQuant Studio");
    md.setString("general.quantization.method", run.method);
    md.setU32("general.quantization.weight_bits", static_cast<uint32_t>(run.wbits));
    md.setI32("general.quantization.group_size", static_cast<int32_t>(run.groupSize));
    md.setBool("general.quantization.symmetric", run.symmetric);
    md.setString("general.quantization.calibration", run.configuration.dump());
    addModelKeys(md, x.plan.arch, x.m);
    gguf::addVocabulary(md, vocab);
    return md;
}

/// The file's tensors in the order the data is written.
struct GgufTensors {
    std::vector<gguf::TensorInfo> infos;
    std::map<std::string, int64_t> typeCounts;  ///< ggml type name -> tensors of that type
    bool ropeFreqs = false;                     ///< llama3 rope scaling: a rope_freqs tensor after the embeddings
    std::vector<std::vector<std::string>> blockNames;  ///< per block, block-relative names in file order
    bool untied = false;                        ///< an output layer of its own after the output norm

    void add(const std::string& name, std::vector<int64_t> ne, GgmlType type)
    {
        infos.push_back({name, std::move(ne), type, 0, 0});
        ++typeCounts[gguf::typeName(type)];
    }
};

/// Block-relative names in file order: norms, then each linear's weight and bias. llama.cpp's biases are optional
/// one by one, so a bias that is zero after folding is left out (transformers' flags cover groups of linears and
/// need zeros); qwen2's graph requires its q/k/v biases.
std::vector<std::vector<std::string>> blockTensorNames(const GgufExport& x)
{
    const ModelConfig& m = x.m;
    const BlockLayout& L = x.L;
    std::vector<std::vector<std::string>> blockNames(static_cast<size_t>(m.numLayers));
    for (int64_t i = 0; i < m.numLayers; ++i) {
        const std::string prefix = blockPrefix(m, i);
        auto nonZero = [&](const std::string& name) { return x.ck.contains(name) && anyNonZero(x.ck.load(name)); };
        const bool norm1Bias = nonZero(prefix + L.norm1 + ".bias"), norm2Bias = nonZero(prefix + L.norm2 + ".bias");
        auto& names = blockNames[static_cast<size_t>(i)];
        names = {L.norm1 + ".weight", L.norm2 + ".weight"};
        for (const auto& layer : L.linears()) {
            names.push_back(layer + ".weight");
            if (!x.target.biased.count(layer))
                continue;
            const bool qkv = std::find(L.qkv.begin(), L.qkv.end(), layer) != L.qkv.end();
            const bool fc1 = std::find(L.fc1.begin(), L.fc1.end(), layer) != L.fc1.end();
            if ((x.plan.arch == "qwen2" && qkv) || nonZero(prefix + layer + ".bias") || (qkv && norm1Bias) ||
                (fc1 && norm2Bias))
                names.push_back(layer + ".bias");
        }
    }
    return blockNames;
}

/// Tensor descriptors, in the order the data is written: embeddings, rope factors, the blocks, the output norm and
/// layer. Quantized linears get their planned type, everything else in a block F32.
GgufTensors describeTensors(const GgufExport& x)
{
    const ModelConfig& m = x.m;
    const Checkpoint& ck = x.ck;
    auto dims2 = [](const std::vector<int64_t>& s) { return std::vector<int64_t>{s[1], s[0]}; };
    GgufTensors t;
    t.add("token_embd.weight", dims2(ck.shape("model.embed_tokens.weight")), x.plan.embeddingType);
    t.ropeFreqs = m.ropeScaling.type == RopeScaling::Type::Llama3;
    if (t.ropeFreqs)
        t.add("rope_freqs.weight", {m.headDim / 2}, GgmlType::F32);
    t.blockNames = blockTensorNames(x);
    for (int64_t i = 0; i < m.numLayers; ++i) {
        const std::string prefix = blockPrefix(m, i);
        for (const auto& rel : t.blockNames[static_cast<size_t>(i)]) {
            const bool isBias = rel.size() > 5 && rel.compare(rel.size() - 5, 5, ".bias") == 0;
            const std::string layer = rel.substr(0, rel.rfind('.'));
            const auto it = x.plan.linears.find(layer);
            if (it != x.plan.linears.end() && !isBias)
                t.add(ggufBlockName(i, rel), dims2(ck.shape(prefix + rel)), linearType(x.run, it->second, m, i, layer));
            else
                t.add(ggufBlockName(i, rel),
                      {isBias ? ck.shape(prefix + layer + ".weight")[0] : ck.shape(prefix + rel)[0]}, GgmlType::F32);
        }
    }
    t.add("output_norm.weight", {m.hiddenSize}, GgmlType::F32);
    t.untied = ck.contains("lm_head.weight");
    if (t.untied)
        t.add("output.weight", dims2(ck.shape("lm_head.weight")), x.plan.embeddingType);
    return t;
}

/// llama.cpp's file type: the type of the exactly stored linears, else the float type.
uint32_t ggufFileType(const GgufExport& x)
{
    uint32_t fileType = fileTypeOf(x.plan.floatType);
    for (const auto& [layer, s] : x.plan.linears)
        if (s.exact && x.run.wbits < 16)
            fileType = x.run.weightGrid != WeightGrid::Uniform ? kquantFileType(x.run.weightGrid) : fileTypeOf(s.type);
    return fileType;
}

/// The result's header: format, architectures, bits, group size and how many tensors of each type.
void fillResultHeader(GgufExport& x, const GgufTensors& tensors)
{
    ExportResult& result = x.result;
    result.format = ExportFormat::Gguf;
    result.architecture = x.target.architecture;
    result.ggufArchitecture = x.plan.arch;
    result.bits = x.run.wbits;
    result.groupSize = x.run.groupSize > 0 ? x.run.groupSize : -1;
    for (const auto& [t, n] : tensors.typeCounts)
        result.tensorTypes.emplace_back(t, n);
}

/// Writes one tensor's data and counts its bytes.
void put(GgufExport& x, gguf::Writer& writer, const std::string& name, const std::vector<uint8_t>& bytes)
{
    writer.writeTensor(name, bytes.data(), bytes.size());
    x.result.numBytes += bytes.size();
}

/// Token embeddings and an output layer: floats, or Q6_K (full-range sub-block scales, nearest codes).
std::vector<uint8_t> embeddingBytes(const GgufExport& x, const std::string& gname, const std::string& run)
{
    const torch::Tensor t = x.ck.load(run);
    if (x.plan.embeddingType != GgmlType::Q6_K)
        return floatBytes(run, t, x.plan.embeddingType);
    const torch::Tensor w = t.to(torch::kFloat32);
    const KQuantFactors f = kquantFactors(w, kquantSpec(WeightGrid::Q6_K));
    return packKQuantLinear(gname, kquantRound(w, WeightGrid::Q6_K), f, WeightGrid::Q6_K).bytes;
}

/// Rows of a tensor of `layer` in file order: q and k permuted for llama.cpp's RoPE where the plan says so.
torch::Tensor fileRows(const GgufExport& x, const std::string& layer, const torch::Tensor& t)
{
    const bool q = layer == x.L.qkv[0], k = layer == x.L.qkv[1];
    const int64_t heads = q ? x.m.numHeads : x.m.numKvHeads;
    return x.plan.permuteQk && (q || k) ? ropePermute(t, heads) : t;
}

/// Packs the quantized linear `full` (`layer` of block `i`, weight `t`) on the run's grid: a k-quant grid with the
/// stored factors, else the uniform grid's codes as `s.type` blocks.
PackedLinear packRunLinear(const GgufExport& x, const std::string& full, const std::string& layer, int64_t i,
                           const torch::Tensor& t, const LinearStorage& s)
{
    const RunInfo& run = x.run;
    const SafetensorsFile* quant = x.quant;
    auto rows = [&](const torch::Tensor& r) { return fileRows(x, layer, r); };
    if (run.weightGrid != WeightGrid::Uniform) {
        const KQuantFactors f{rows(quant->load(full + ".kq_d")), rows(quant->load(full + ".kq_dmin")),
                              rows(quant->load(full + ".kq_scales")), rows(quant->load(full + ".kq_mins"))};
        return packKQuantLinear(full, rows(t), f,
                                tensorGrid(run.weightGrid, linearRole(x.L, layer), i, x.m.numLayers, x.m));
    }
    return packLinear(full, rows(t), rows(quant->load(full + ".scales")), rows(quant->load(full + ".zeros")), run.wbits,
                      run.groupSize, s.type);
}

/// Writes block `i`: folded into the target layout, q/k rows permuted, the exactly stored linears packed on the run's
/// grid, everything else as floats.
void writeBlock(GgufExport& x, gguf::Writer& writer, int64_t i, const std::vector<std::string>& names)
{
    const std::string prefix = blockPrefix(x.m, i);
    BlockWeights w = standardizeBlock(x.m, x.target, loadBlock(x.ck, i, torch::kCPU, torch::kFloat32));
    for (const auto& rel : names) {
        const std::string name = ggufBlockName(i, rel);
        const std::string layer = rel.substr(0, rel.rfind('.'));
        const bool isBias = rel.size() > 5 && rel.compare(rel.size() - 5, 5, ".bias") == 0;
        torch::Tensor t = w.at(rel);
        const auto it = x.plan.linears.find(layer);
        if (it == x.plan.linears.end() || isBias) {
            put(x, writer, name, floatBytes(prefix + rel, fileRows(x, layer, t), GgmlType::F32));
            continue;
        }
        if (!it->second.exact || x.run.wbits >= 16) {
            put(x, writer, name, floatBytes(prefix + rel, fileRows(x, layer, t), it->second.type));
            continue;
        }
        const std::string full = prefix + layer;
        const PackedLinear pl = packRunLinear(x, full, layer, i, t, it->second);
        ++x.result.packedLayers;
        if (pl.maxChange >= x.result.maxWeightChange) {
            x.result.maxWeightChange = pl.maxChange;
            x.result.maxWeightChangeLayer = full;
        }
        put(x, writer, name, pl.bytes);
    }
}

/// Streams the tensor data in descriptor order, block by block with a cancellation check and progress for each.
void writeTensorData(GgufExport& x, gguf::Writer& writer, const GgufTensors& tensors)
{
    const ModelConfig& m = x.m;
    put(x, writer, "token_embd.weight", embeddingBytes(x, "token_embd.weight", "model.embed_tokens.weight"));
    if (tensors.ropeFreqs)
        put(x, writer, "rope_freqs.weight", floatBytes("rope_freqs", ropeFrequencyFactors(m), GgmlType::F32));
    for (int64_t i = 0; i < m.numLayers; ++i) {
        throwIfExportCancelled(x.cancel, x.o.outDir);
        torch::NoGradGuard ng;
        writeBlock(x, writer, i, tensors.blockNames[static_cast<size_t>(i)]);
        if (x.progress)
            x.progress(exportProgress(x.clock, i + 1, m.numLayers + 1, "wrote block " + std::to_string(i)));
    }
    throwIfExportCancelled(x.cancel, x.o.outDir);
    put(x, writer, "output_norm.weight",
        floatBytes("model.norm.weight", x.ck.load("model.norm.weight"), GgmlType::F32));
    if (tensors.untied)
        put(x, writer, "output.weight", embeddingBytes(x, "output.weight", "lm_head.weight"));
}

/// Which linears a k-quant run stored as which type, block by block where a mixed grid varies them:
/// "Q4_K: attn_q, ...; Q6_K: attn_v in blocks 0,3".
std::string typesByLinear(const GgufExport& x)
{
    const ModelConfig& m = x.m;
    std::map<std::string, std::string> byType;  // type -> "attn_v in blocks 0, 3; ..."
    for (const auto& [layer, s] : x.plan.linears) {
        std::map<std::string, std::vector<int64_t>> blocks;
        for (int64_t b = 0; b < m.numLayers; ++b)
            blocks[gguf::typeName(linearType(x.run, s, m, b, layer))].push_back(b);
        const std::string gname = ggufBlockName(0, layer + ".weight");
        const std::string shortName = gname.substr(6, gname.size() - 6 - 7);  // "blk.0." ... ".weight"
        for (const auto& [type, list] : blocks) {
            std::string where = shortName;
            if (static_cast<int64_t>(list.size()) < m.numLayers) {
                where += " in blocks ";
                for (size_t k = 0; k < list.size(); ++k)
                    where += (k ? "," : "") + std::to_string(list[k]);
            }
            byType[type] += (byType[type].empty() ? "" : ", ") + where;
        }
    }
    std::string which;
    for (const auto& [type, where] : byType)
        which += (which.empty() ? "" : "; ") + type + ": " + where;
    return which;
}

/// Notes: the architecture, how the linears, embeddings, norms and biases are stored, the tokenizer, and the plan's
/// and the vocabulary's own notes.
void addNotes(GgufExport& x, const GgufTensors& tensors, const gguf::Vocabulary& vocab)
{
    const RunInfo& run = x.run;
    const GgufPlan& plan = x.plan;
    ExportResult& result = x.result;
    std::vector<std::string>& notes = result.notes;
    notes.push_back("llama.cpp architecture '" + plan.arch + "'" +
                    (plan.permuteQk ? " (q/k rows permuted for its RoPE, with their group scales: exact)" : ""));
    std::string types;
    for (const auto& [layer, s] : plan.linears)
        if (run.wbits < 16 && s.exact)
            types = gguf::typeName(s.type);
    if (!types.empty() && run.weightGrid != WeightGrid::Uniform) {
        const std::string which = typesByLinear(x);
        notes.push_back(std::string("quantized linears on the ") + weightGridName(run.weightGrid) +
                        " grid the run calibrated, stored as it is (codes, sub-block scales and minimums, float16 "
                        "super-block factors): " + which + "; largest weight change " +
                        std::to_string(result.maxWeightChange) + " (" + result.maxWeightChangeLayer + ")");
    } else if (!types.empty())
        notes.push_back("quantized linears as " + types + ": the run's own codes, each group's scale" +
                        std::string(run.symmetric ? "" : " and offset (-scale x zero point)") +
                        " as float16 block factors; largest weight change from that rounding " +
                        std::to_string(result.maxWeightChange) + " (" + result.maxWeightChangeLayer + ")");
    notes.push_back(std::string("token embeddings") +
                    (tensors.untied ? " and output layer" : " (also the tied output layer)") + " as " +
                    gguf::typeName(plan.embeddingType) +
                    (plan.embeddingType == GgmlType::Q6_K ? " (full-range sub-block scales, nearest codes)" : "") +
                    "; norms and biases as F32");
    if (x.target.attentionBias || x.target.mlpBias)
        notes.push_back("the learned shifts are stored as the optional linear biases llama.cpp's graph reads");
    if (x.target.normBiases)
        notes.push_back("the RMSNorm biases were folded into the following linears' biases (b + W·beta), exactly");
    notes.push_back("tokenizer: " + vocab.source + " embedded as tokenizer.ggml.model '" + vocab.model + "'");
    for (const auto& n : vocab.notes)
        notes.push_back(n);
    for (const auto& n : plan.notes)
        notes.push_back(n);
}

}  // namespace

ExportResult exportGguf(const ExportOptions& o, const ExportProgressFn& progress, const std::atomic<bool>* cancel)
{
    const auto t0 = Clock::now();
    checkOptions(o);
    const RunInfo run = readRun(o.runDir);
    StagedOutput staged(o.outDir, run.runDir, o.force, true);

    Checkpoint ck(run.modelDir.string());
    ck.validate();
    const ModelConfig& m = ck.config();
    const TargetLayout target = planLayout(ck);
    std::unique_ptr<SafetensorsFile> quant;
    if (fs::exists(run.modelDir / "quantization.safetensors"))
        quant = std::make_unique<SafetensorsFile>((run.modelDir / "quantization.safetensors").string());
    GgufExport x{o, progress, cancel, run, ck, m, target, quant.get(), planGguf(o, run, ck, target, quant.get()),
                 blockLayout(m), {}, {}};

    const gguf::Vocabulary vocab = readGgufVocabulary(x);
    gguf::Metadata md = ggufMetadata(x, vocab);
    const GgufTensors tensors = describeTensors(x);
    md.setU32("general.file_type", ggufFileType(x));
    fillResultHeader(x, tensors);

    staged.begin();
    try {
        gguf::Writer writer(staged.temporary().string(), md, tensors.infos);
        writeTensorData(x, writer, tensors);
        writer.finish();
        throwIfExportCancelled(x.cancel, x.o.outDir);
        staged.publish();
    } catch (...) {
        rethrowExportFailure(staged, "export needs about one block in memory; free host memory");
    }

    addNotes(x, tensors, vocab);
    x.result.outDir = staged.destination().string();
    x.result.files = {staged.destination().filename().string()};
    x.result.shards = 1;
    if (progress)
        progress(exportProgress(x.clock, m.numLayers + 1, m.numLayers + 1, "done"));
    x.result.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    return x.result;
}

}  // namespace aq::detail
