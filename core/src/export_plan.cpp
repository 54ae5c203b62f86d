// What every export of a run shares (export_plan.h): reading the finished run, choosing the stock architecture its
// tensors fit, and folding a block into that architecture's tensors.
#include "export_plan.h"

#include "aq/error.h"
#include "aq/run_file.h"
#include "checkpoint.h"
#include "transforms.h"

#include <filesystem>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace aq::detail {

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

/// The tensor `name`.bias of the run, or an undefined tensor when it has none.
torch::Tensor biasOf(const Checkpoint& ck, const std::string& name)
{
    return ck.contains(name + ".bias") ? ck.load(name + ".bias") : torch::Tensor();
}

/// Block `i`: adds to `nonZero` the linears whose bias is non-zero after folding, and notes in `t` whether the block
/// has post-norm matrices and (LLaMA) norm biases.
void scanBlock(const Checkpoint& ck, const BlockLayout& L, int64_t i, TargetLayout& t, std::set<std::string>& nonZero)
{
    const ModelConfig& m = ck.config();
    const std::string p = blockPrefix(m, i);
    for (const auto& layer : L.linears())
        if (anyNonZero(biasOf(ck, p + layer)))
            nonZero.insert(layer);
    for (const auto& norm : {L.norm1, L.norm2})
        if (ck.contains(p + norm + ".post_matrix"))
            t.postMatrices = true;
    if (m.arch == Architecture::Llama) {
        if (anyNonZero(biasOf(ck, p + L.norm1))) {
            nonZero.insert(L.qkv.begin(), L.qkv.end());
            t.normBiases = true;
        }
        if (anyNonZero(biasOf(ck, p + L.norm2))) {
            nonZero.insert(L.fc1.begin(), L.fc1.end());
            t.normBiases = true;
        }
    }
}

/// OPT keeps its architecture; its one bias switch covers every linear.
void planOpt(const ModelConfig& m, const BlockLayout& L, const std::set<std::string>& nonZero, TargetLayout& t)
{
    t.architecture = "OPTForCausalLM";
    t.attentionBias = m.attentionBias || !nonZero.empty();
    if (t.attentionBias)
        for (const auto& layer : L.linears())
            t.biased.insert(layer);
}

/// Whether any linear of `group` has a non-zero bias.
bool anyBiased(const std::vector<std::string>& group, const std::set<std::string>& nonZero)
{
    for (const auto& layer : group)
        if (nonZero.count(layer))
            return true;
    return false;
}

/// LLaMA-family models keep Qwen2's or Mistral's class where it holds the biases, and become stock LLaMA otherwise.
void planLlamaFamily(const ModelConfig& m, const std::set<std::string>& nonZero, TargetLayout& t)
{
    const bool attn = anyBiased(kLlamaAttention, nonZero), mlp = anyBiased(kLlamaMlp, nonZero);
    if (m.modelType == "qwen2" && !nonZero.count("self_attn.o_proj") && !mlp) {
        // Qwen2's own class holds q/k/v biases: keep the architecture.
        t.architecture = "Qwen2ForCausalLM";
        t.attentionBias = true;
        t.biased = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"};
        return;
    }
    if (m.modelType == "mistral" && !attn && !mlp) {
        t.architecture = "MistralForCausalLM";
        return;
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
}
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
    for (int64_t i = 0; i < m.numLayers; ++i)
        scanBlock(ck, L, i, t, nonZero);
    if (m.arch == Architecture::Opt)
        planOpt(m, L, nonZero, t);
    else
        planLlamaFamily(m, nonZero, t);
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

}  // namespace aq::detail
