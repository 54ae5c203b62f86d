#pragma once
/// Architecture description read from a Hugging Face `config.json`.
#include <cstdint>
#include <optional>
#include <string>

namespace aq {

enum class Architecture { Invalid = 0, Llama, Opt };

/// RoPE frequency scaling, as in transformers' `rope_scaling`.
struct RopeScaling {
    enum class Type { None = 0, Linear, Llama3 };
    Type type = Type::None;
    double factor = 1.0;
    double lowFreqFactor = 1.0;                  ///< llama3 only
    double highFreqFactor = 4.0;                 ///< llama3 only
    int64_t originalMaxPositionEmbeddings = 0;   ///< llama3 only
};

/// Everything the forward pass needs. Plain value type; safe to copy between threads.
struct ModelConfig {
    std::string modelType;         ///< "llama", "mistral", "qwen2" or "opt" as written in config.json
    Architecture arch = Architecture::Invalid;
    int64_t vocabSize = 0;
    int64_t hiddenSize = 0;
    int64_t intermediateSize = 0;  ///< FFN width (OPT: ffn_dim)
    int64_t numLayers = 0;
    int64_t numHeads = 0;
    int64_t numKvHeads = 0;
    int64_t headDim = 0;
    int64_t maxPositionEmbeddings = 0;
    double normEps = 1e-5;
    double ropeTheta = 10000.0;
    RopeScaling ropeScaling;
    bool attentionBias = false;    ///< q/k/v/o biases (LLaMA attention_bias; Qwen2 has q/k/v only)
    bool attentionOutBias = false; ///< bias on o_proj
    bool mlpBias = false;
    bool tieWordEmbeddings = false;
    std::optional<int64_t> slidingWindow;  ///< Mistral/Qwen2; enforced against the sequence length
    // OPT specifics
    int64_t wordEmbedProjDim = 0;  ///< OPT word_embed_proj_dim (== hidden unless projections exist)
    bool doLayerNormBefore = true;
    std::string activation = "silu";
    int64_t bosTokenId = -1;
    int64_t eosTokenId = -1;
    std::string torchDtype;        ///< informational: dtype stated in config.json
    /// From the "affinequant" block of a quantized run's config.json: activations are fake-quantized per token at
    /// this width when the model is evaluated (16: not quantized).
    int activationBits = 16;
    int weightBits = 16;           ///< informational, from the same block

    bool isGqa() const { return numKvHeads != numHeads; }
    /// Throws BadInput if `seqlen` cannot be run by this model (position table, sliding window).
    void checkSequenceLength(int64_t seqlen) const;
};

/// Reads and validates `<dir>/config.json`. Unknown model types and unsupported options throw BadInput naming them.
ModelConfig loadModelConfig(const std::string& modelDir);

/// Parses a config.json text; `origin` names it in error messages.
ModelConfig parseModelConfig(const std::string& jsonText, const std::string& origin);

}  // namespace aq
