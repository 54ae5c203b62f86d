#include "aq/model_config.h"

#include "jsonutil.h"

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <sstream>

namespace aq {
namespace {

using nlohmann::json;

// Upper bounds on the sizes config.json may state. They are far above any released model and keep absurd values
// (a num_hidden_layers of 10^9, say) from reaching code that allocates per layer or per position.
constexpr int64_t kMaxLayers = 1 << 16;
constexpr int64_t kMaxWidth = 1 << 20;         // hidden, intermediate and projection sizes
constexpr int64_t kMaxVocabulary = 1 << 24;
constexpr int64_t kMaxHeads = 1 << 16;
constexpr int64_t kMaxPositions = int64_t(1) << 30;
constexpr double kMaxRopeFactor = 1e4;
constexpr double kMaxRopeTheta = 1e12;

std::string number(double v)
{
    std::ostringstream s;
    s << v;
    return s.str();
}

struct Reader {
    const json& j;
    const std::string& origin;

    bool has(const char* key) const { return j.contains(key) && !j.at(key).is_null(); }

    int64_t integer(const char* key) const
    {
        if (!has(key))
            badInput("'" + origin + "' has no '" + key + "': not a complete model configuration");
        return integerOr(key, 0);
    }
    int64_t integerOr(const char* key, int64_t fallback) const
    {
        if (!has(key))
            return fallback;
        const json& v = j.at(key);
        if (!v.is_number_integer() || (v.is_number_unsigned() ? v.get<uint64_t>() > uint64_t(INT64_MAX) : v.get<int64_t>() < 0))
            badInput("'" + origin + "': '" + key + "' must be a non-negative integer, not " + describe(v));
        return v.get<int64_t>();
    }
    double numberOr(const char* key, double fallback) const
    {
        if (!has(key))
            return fallback;
        if (!j.at(key).is_number())
            badInput("'" + origin + "': '" + key + "' must be a number, not " + describe(j.at(key)));
        const double v = j.at(key).get<double>();
        if (!std::isfinite(v))
            badInput("'" + origin + "': '" + key + "' must be a finite number");
        return v;
    }
    /// A short description of a JSON value for messages: its type, and the value itself when it is short.
    static std::string describe(const json& v)
    {
        const std::string text = v.dump();
        const std::string type = v.is_number() ? "a number" : v.is_boolean() ? "a boolean" : v.is_string() ? "a string"
                                 : v.is_array() ? "an array" : v.is_object() ? "an object" : "null";
        return text.size() <= 40 ? type + " (" + text + ")" : type;
    }
    bool boolOr(const char* key, bool fallback) const
    {
        if (!has(key))
            return fallback;
        if (!j.at(key).is_boolean())
            badInput("'" + origin + "': '" + key + "' must be true or false, not " + describe(j.at(key)));
        return j.at(key).get<bool>();
    }
    std::string stringOr(const char* key, const std::string& fallback) const
    {
        if (!has(key))
            return fallback;
        if (!j.at(key).is_string())
            badInput("'" + origin + "': '" + key + "' must be a string, not " + describe(j.at(key)));
        return j.at(key).get<std::string>();
    }
    // bos/eos may be an int or a list of ints (LLaMA-3 lists several eos ids): take the first.
    int64_t tokenIdOr(const char* key, int64_t fallback) const
    {
        if (!has(key))
            return fallback;
        const json& v = j.at(key);
        if (v.is_number_integer())
            return v.get<int64_t>();
        if (v.is_array() && !v.empty() && v.front().is_number_integer())
            return v.front().get<int64_t>();
        return fallback;
    }
};

void parseRopeScaling(const Reader& r, ModelConfig& c)
{
    if (!r.has("rope_scaling"))
        return;
    const json& rs = r.j.at("rope_scaling");
    if (!rs.is_object())
        badInput("'" + r.origin + "': 'rope_scaling' must be an object or null");
    // Keys inside the object are named "rope_scaling.<key>" in messages.
    const std::string where = r.origin + "': 'rope_scaling";
    Reader sub{rs, where};
    const std::string type = sub.stringOr("rope_type", sub.stringOr("type", std::string()));
    if (type == "default" || type.empty())
        return;
    if (type == "linear") {
        c.ropeScaling.type = RopeScaling::Type::Linear;
        c.ropeScaling.factor = sub.numberOr("factor", 1.0);
    } else if (type == "llama3") {
        c.ropeScaling.type = RopeScaling::Type::Llama3;
        c.ropeScaling.factor = sub.numberOr("factor", 8.0);
        c.ropeScaling.lowFreqFactor = sub.numberOr("low_freq_factor", 1.0);
        c.ropeScaling.highFreqFactor = sub.numberOr("high_freq_factor", 4.0);
        c.ropeScaling.originalMaxPositionEmbeddings = sub.integerOr("original_max_position_embeddings", 8192);
        if (!(c.ropeScaling.lowFreqFactor > 0) || c.ropeScaling.highFreqFactor > kMaxRopeFactor)
            badInput("'" + r.origin + "': rope_scaling low_freq_factor and high_freq_factor must lie in (0, " +
                     number(kMaxRopeFactor) + "]");
        if (c.ropeScaling.highFreqFactor <= c.ropeScaling.lowFreqFactor)
            badInput("'" + r.origin + "': rope_scaling high_freq_factor must exceed low_freq_factor");
        if (c.ropeScaling.originalMaxPositionEmbeddings < 1 ||
            c.ropeScaling.originalMaxPositionEmbeddings > kMaxPositions)
            badInput("'" + r.origin + "': rope_scaling original_max_position_embeddings must lie in 1.." +
                     std::to_string(kMaxPositions));
    } else {
        badInput("'" + r.origin + "': rope_scaling type '" + type +
                 "' is not supported (supported: linear, llama3)");
    }
    // A factor of 0 or 10^300 is no model anybody trained; it would only show up later as NaN perplexities.
    if (!(c.ropeScaling.factor > 0) || c.ropeScaling.factor > kMaxRopeFactor)
        badInput("'" + r.origin + "': rope_scaling factor is " + number(c.ropeScaling.factor) +
                 "; it must be positive and at most " + number(kMaxRopeFactor));
}

void parseLlamaFamily(const Reader& r, ModelConfig& c)
{
    c.arch = Architecture::Llama;
    c.hiddenSize = r.integer("hidden_size");
    c.intermediateSize = r.integer("intermediate_size");
    c.numLayers = r.integer("num_hidden_layers");
    c.numHeads = r.integer("num_attention_heads");
    c.numKvHeads = r.integerOr("num_key_value_heads", c.numHeads);
    c.maxPositionEmbeddings = r.integerOr("max_position_embeddings", 2048);
    c.normEps = r.numberOr("rms_norm_eps", 1e-6);
    c.ropeTheta = r.numberOr("rope_theta", 10000.0);
    c.tieWordEmbeddings = r.boolOr("tie_word_embeddings", false);
    c.activation = r.stringOr("hidden_act", "silu");
    if (c.activation != "silu")
        badInput("'" + r.origin + "': hidden_act '" + c.activation + "' is not supported for " + c.modelType +
                 " (supported: silu)");
    if (c.modelType == "qwen2") {
        c.attentionBias = true;  // Qwen2 has q/k/v biases and no o_proj bias
        c.attentionOutBias = false;
        if (r.boolOr("use_sliding_window", false))
            c.slidingWindow = r.integerOr("sliding_window", 0);
    } else {
        c.attentionBias = r.boolOr("attention_bias", false);
        c.attentionOutBias = c.attentionBias;
        c.mlpBias = r.boolOr("mlp_bias", false);
        if (c.modelType == "mistral" && r.has("sliding_window"))
            c.slidingWindow = r.integerOr("sliding_window", 0);
    }
    if (r.has("head_dim"))
        c.headDim = r.integer("head_dim");
    else if (c.numHeads > 0)
        c.headDim = c.hiddenSize / c.numHeads;
    if (r.integerOr("pretraining_tp", 1) != 1)
        badInput("'" + r.origin + "': pretraining_tp other than 1 is not supported");
    parseRopeScaling(r, c);
}

void parseOpt(const Reader& r, ModelConfig& c)
{
    c.arch = Architecture::Opt;
    c.hiddenSize = r.integer("hidden_size");
    c.intermediateSize = r.integer("ffn_dim");
    c.numLayers = r.integer("num_hidden_layers");
    c.numHeads = r.integer("num_attention_heads");
    c.numKvHeads = c.numHeads;
    c.headDim = c.numHeads > 0 ? c.hiddenSize / c.numHeads : 0;
    c.maxPositionEmbeddings = r.integerOr("max_position_embeddings", 2048);
    c.normEps = 1e-5;
    c.wordEmbedProjDim = r.integerOr("word_embed_proj_dim", c.hiddenSize);
    c.doLayerNormBefore = r.boolOr("do_layer_norm_before", true);
    c.tieWordEmbeddings = r.boolOr("tie_word_embeddings", true);
    c.attentionBias = c.attentionOutBias = c.mlpBias = r.boolOr("enable_bias", true);
    c.activation = r.stringOr("activation_function", "relu");
    if (c.activation != "relu" && c.activation != "gelu")
        badInput("'" + r.origin + "': activation_function '" + c.activation +
                 "' is not supported for opt (supported: relu, gelu)");
    if (!r.boolOr("layer_norm_elementwise_affine", true))
        badInput("'" + r.origin + "': layer_norm_elementwise_affine=false is not supported");
    if (r.boolOr("_remove_final_layer_norm", false))
        badInput("'" + r.origin + "': _remove_final_layer_norm is not supported");
}

}  // namespace

ModelConfig parseModelConfig(const std::string& jsonText, const std::string& origin)
{
    json j = detail::parseJson(jsonText, origin);
    if (!j.is_object())
        badInput("'" + origin + "' does not hold a JSON object");
    Reader r{j, origin};
    ModelConfig c;
    c.modelType = r.stringOr("model_type", "");
    if (c.modelType.empty())
        badInput("'" + origin + "' has no 'model_type'; cannot tell the architecture");
    if (c.modelType == "llama" || c.modelType == "mistral" || c.modelType == "qwen2")
        parseLlamaFamily(r, c);
    else if (c.modelType == "opt")
        parseOpt(r, c);
    else
        badInput("model type '" + c.modelType + "' in '" + origin +
                 "' is not supported (supported: llama, mistral, qwen2, opt)");

    c.vocabSize = r.integer("vocab_size");
    c.bosTokenId = r.tokenIdOr("bos_token_id", -1);
    c.eosTokenId = r.tokenIdOr("eos_token_id", -1);
    c.torchDtype = r.stringOr("torch_dtype", r.stringOr("dtype", ""));
    if (r.has("affinequant")) {
        const json& q = j.at("affinequant");
        if (!q.is_object())
            badInput("'" + origin + "': 'affinequant' must be an object");
        Reader qr{q, origin};
        const int64_t abits = qr.integerOr("abits", 16);
        const int64_t wbits = qr.integerOr("wbits", 16);
        if (abits < 2 || abits > 16 || wbits < 2 || wbits > 16)
            badInput("'" + origin + "': affinequant wbits/abits must be between 2 and 16");
        c.activationBits = static_cast<int>(abits);
        c.weightBits = static_cast<int>(wbits);
    }

    auto positive = [&](int64_t v, const char* name) {
        if (v <= 0)
            badInput("'" + origin + "': '" + name + "' must be positive");
    };
    positive(c.vocabSize, "vocab_size");
    positive(c.hiddenSize, "hidden_size");
    positive(c.intermediateSize, c.arch == Architecture::Opt ? "ffn_dim" : "intermediate_size");
    positive(c.numLayers, "num_hidden_layers");
    positive(c.numHeads, "num_attention_heads");
    positive(c.numKvHeads, "num_key_value_heads");
    positive(c.maxPositionEmbeddings, "max_position_embeddings");
    if (c.numHeads % c.numKvHeads != 0)
        badInput("'" + origin + "': num_attention_heads (" + std::to_string(c.numHeads) +
                 ") is not a multiple of num_key_value_heads (" + std::to_string(c.numKvHeads) + ")");
    if (c.headDim <= 0 || (c.arch == Architecture::Opt && c.hiddenSize % c.numHeads != 0))
        badInput("'" + origin + "': hidden_size is not divisible by num_attention_heads");
    if (c.arch == Architecture::Llama && c.headDim % 2 != 0)
        badInput("'" + origin + "': the head dimension must be even for rotary embeddings");
    if (!(c.normEps > 0) || c.normEps >= 1)
        badInput("'" + origin + "': the norm epsilon must be positive and below 1");
    if (!(c.ropeTheta > 0) || c.ropeTheta > kMaxRopeTheta)
        badInput("'" + origin + "': 'rope_theta' is " + number(c.ropeTheta) + "; it must be positive and at most " +
                 number(kMaxRopeTheta));
    auto atMost = [&](int64_t v, int64_t limit, const char* name) {
        if (v > limit)
            badInput("'" + origin + "': '" + name + "' is " + std::to_string(v) + ", more than the limit of " +
                     std::to_string(limit) + " (no model is this large; the file is damaged or not this model's)");
    };
    atMost(c.numLayers, kMaxLayers, "num_hidden_layers");
    atMost(c.vocabSize, kMaxVocabulary, "vocab_size");
    atMost(c.hiddenSize, kMaxWidth, "hidden_size");
    atMost(c.intermediateSize, kMaxWidth, c.arch == Architecture::Opt ? "ffn_dim" : "intermediate_size");
    atMost(c.wordEmbedProjDim, kMaxWidth, "word_embed_proj_dim");
    atMost(c.numHeads, kMaxHeads, "num_attention_heads");
    atMost(c.numKvHeads, kMaxHeads, "num_key_value_heads");
    atMost(c.headDim, kMaxWidth, "head_dim");
    atMost(c.maxPositionEmbeddings, kMaxPositions, "max_position_embeddings");
    if (c.slidingWindow)
        atMost(*c.slidingWindow, kMaxPositions, "sliding_window");
    return c;
}

ModelConfig loadModelConfig(const std::string& modelDir)
{
    namespace fs = std::filesystem;
    fs::path dir(modelDir);
    if (!fs::is_directory(dir))
        badInput("model folder '" + modelDir + "' does not exist or is not a folder");
    fs::path cfg = dir / "config.json";
    if (!fs::exists(cfg))
        badInput("'" + modelDir + "' has no config.json: not a Hugging Face model folder");
    return parseModelConfig(detail::readTextFile(cfg, "model configuration"), cfg.string());
}

void ModelConfig::checkSequenceLength(int64_t seqlen) const
{
    if (seqlen < 2)
        badInput("sequence length " + std::to_string(seqlen) + " is too short: use at least 2 tokens");
    if (seqlen > maxPositionEmbeddings)
        badInput("sequence length " + std::to_string(seqlen) + " exceeds the model's maximum of " +
                 std::to_string(maxPositionEmbeddings) + " positions (max_position_embeddings); lower --seqlen");
    if (slidingWindow && *slidingWindow > 0 && *slidingWindow < seqlen)
        badInput("sequence length " + std::to_string(seqlen) + " is longer than the model's sliding window of " +
                 std::to_string(*slidingWindow) +
                 " tokens, and sliding-window attention is not implemented yet; use --seqlen " +
                 std::to_string(*slidingWindow) + " or less");
}

}  // namespace aq
