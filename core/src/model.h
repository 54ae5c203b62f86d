#pragma once
// Transformer forward passes with Hugging Face transformers semantics (internal: exposes torch).
//
// Every function is plain torch operations, so the same code serves inference, calibration (autograd through it)
// and the demo-model trainer.
#include "aq/model_config.h"

#include <torch/types.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace aq::detail {

class Checkpoint;

/// The tensors of one decoder block, keyed by their name inside the block ("self_attn.q_proj.weight", ...).
struct BlockWeights {
    std::map<std::string, torch::Tensor> tensors;

    const torch::Tensor& at(const std::string& name) const;
    /// Undefined tensor when absent (optional biases).
    torch::Tensor get(const std::string& name) const;
};

/// Prefix of block `layer`'s tensors in a checkpoint ("model.layers.3." or "model.decoder.layers.3.").
std::string blockPrefix(const ModelConfig& config, int64_t layer);

/// Loads block `layer` from the checkpoint onto `device` in `dtype`.
BlockWeights loadBlock(const Checkpoint& ck, int64_t layer, const torch::Device& device, torch::ScalarType dtype);

/// cos/sin tables for rotary embeddings of positions [0, seqlen), shape [seqlen, headDim], in `dtype`.
struct RopeTables {
    torch::Tensor cos;
    torch::Tensor sin;
};
RopeTables makeRopeTables(const ModelConfig& config, int64_t seqlen, const torch::Device& device, torch::ScalarType dtype);
/// The per-frequency inverse wavelengths after rope_scaling (float32, [headDim/2]).
torch::Tensor ropeInverseFrequencies(const ModelConfig& config);

torch::Tensor rmsNorm(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias, double eps);
torch::Tensor applyRope(const torch::Tensor& x, const RopeTables& rope);

/// Options of a block forward pass beyond the weights.
struct BlockOptions {
    /// Per-token activation fake quantization at every site of spec §2.3 (16: off).
    int activationBits = 16;
    /// Called with intermediate activations: "qkv" (input of q/k/v), "out" (input of o_proj), "fc1" (input of
    /// up/gate or fc1), "down" (input of down_proj/fc2). Used to collect calibration statistics.
    std::function<void(const char* site, const torch::Tensor& x)> probe;
};

/// Causal self-attention core: q [B, nh, T, hd], k/v [B, nkv, T, hd] -> [B, nh, T, hd]; nh multiple of nkv (GQA).
/// [T, T] causal mask (true above the diagonal: the keys a query may not see), stacked `groups` times along the rows
/// for query heads that share a key/value head.
torch::Tensor causalMask(int64_t T, int64_t groups, const torch::Device& device);
torch::Tensor causalAttention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, double scale);

/// One LLaMA-family decoder block (LLaMA, Mistral, Qwen2): x [B, T, H] -> [B, T, H]. Biases are used when present.
/// Norms apply "<norm>.bias" and a right-multiplied "<norm>.post_matrix" when present (AffineQuant's merged form).
torch::Tensor llamaBlock(const ModelConfig& config, const BlockWeights& w, const torch::Tensor& x, const RopeTables& rope,
                         const BlockOptions& options = {});
/// One OPT decoder block: x [B, T, H] -> [B, T, H].
torch::Tensor optBlock(const ModelConfig& config, const BlockWeights& w, const torch::Tensor& x,
                       const BlockOptions& options = {});
/// llamaBlock or optBlock by architecture.
torch::Tensor runDecoderBlock(const ModelConfig& config, const BlockWeights& w, const torch::Tensor& x,
                              const RopeTables& rope, const BlockOptions& options = {});

/// A whole causal LM resident on one device: embeddings, blocks, final norm and head.
class CausalLM {
public:
    CausalLM(const Checkpoint& ck, const torch::Device& device, torch::ScalarType dtype);

    const ModelConfig& config() const { return m_config; }
    torch::Device device() const { return m_device; }
    torch::ScalarType dtype() const { return m_dtype; }
    int64_t numBlocks() const { return static_cast<int64_t>(m_blocks.size()); }
    BlockWeights& block(int64_t i) { return m_blocks.at(static_cast<size_t>(i)); }
    const BlockWeights& block(int64_t i) const { return m_blocks.at(static_cast<size_t>(i)); }

    /// ids [B, T] (int64) -> hidden states entering block 0, [B, T, H].
    torch::Tensor embed(const torch::Tensor& ids) const;
    /// Runs block i. `rope` is ignored for OPT.
    torch::Tensor runBlock(int64_t i, const torch::Tensor& x, const RopeTables& rope) const;
    /// Final norm (and OPT's project_out) then the LM head: [B, T, H] -> logits [B, T, V] in the model dtype.
    torch::Tensor head(const torch::Tensor& x) const;
    /// Full forward: ids [B, T] -> logits [B, T, V].
    torch::Tensor logits(const torch::Tensor& ids) const;
    RopeTables rope(int64_t seqlen) const;
    /// Evaluates with per-token activation quantization at this width (16: off).
    void setActivationBits(int bits) { m_config.activationBits = bits; }

private:
    ModelConfig m_config;
    torch::Device m_device;
    torch::ScalarType m_dtype;
    torch::Tensor m_embed, m_positions, m_projectIn, m_projectOut, m_normWeight, m_normBias, m_lmHead;
    std::vector<BlockWeights> m_blocks;
};

}  // namespace aq::detail
