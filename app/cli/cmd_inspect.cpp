// The `inspect` command: a model folder's architecture, parameters and tensors.
#include "commands.h"

#include "args.h"

#include "aq/model_info.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

namespace aqcli {

namespace {

std::string shapeText(const std::vector<int64_t>& s)
{
    std::string r = "[";
    for (size_t i = 0; i < s.size(); ++i)
        r += (i ? ", " : "") + std::to_string(s[i]);
    return r + "]";
}

const char* archName(aq::Architecture a) { return a == aq::Architecture::Opt ? "OPT" : "LLaMA"; }

nlohmann::json configJson(const aq::ModelConfig& c)
{
    nlohmann::json j = {{"model_type", c.modelType},
                        {"architecture", archName(c.arch)},
                        {"vocab_size", c.vocabSize},
                        {"hidden_size", c.hiddenSize},
                        {"intermediate_size", c.intermediateSize},
                        {"num_layers", c.numLayers},
                        {"num_heads", c.numHeads},
                        {"num_kv_heads", c.numKvHeads},
                        {"head_dim", c.headDim},
                        {"gqa", c.isGqa()},
                        {"tied_embeddings", c.tieWordEmbeddings},
                        {"max_position_embeddings", c.maxPositionEmbeddings}};
    if (c.arch == aq::Architecture::Llama) {
        j["rope_theta"] = c.ropeTheta;
        j["rms_norm_eps"] = c.normEps;
        j["attention_bias"] = c.attentionBias;
        j["mlp_bias"] = c.mlpBias;
    } else {
        j["word_embed_proj_dim"] = c.wordEmbedProjDim;
        j["do_layer_norm_before"] = c.doLayerNormBefore;
        j["activation"] = c.activation;
    }
    return j;
}

}  // namespace

int cmdInspect(const std::vector<std::string>& argv)
{
    Args args(argv, {"model"}, {"json"});
    const aq::ModelSummary s = aq::inspectModel(args.required("model"));
    const aq::ModelConfig& c = s.config;
    if (args.flag("json")) {
        nlohmann::json j = {{"model", s.modelDir},
                            {"config", configJson(c)},
                            {"weight_format", s.weightFormat},
                            {"weight_bytes", s.weightBytes},
                            {"parameters", s.parameterCount},
                            {"parameters_by_dtype", s.parametersByDtype},
                            {"tokenizer", s.tokenizer}};
        for (const auto& t : s.tensors)
            j["tensors"].push_back({{"name", t.name}, {"dtype", t.dtype}, {"shape", t.shape}, {"file", t.file}});
        std::cout << j.dump(2) << "\n";
        return 0;
    }
    std::printf("Model        %s\n", s.modelDir.c_str());
    std::printf("Architecture %s (model_type %s)\n", archName(c.arch), c.modelType.c_str());
    std::printf("Parameters   %lld (%.2f M)\n", static_cast<long long>(s.parameterCount), s.parameterCount / 1e6);
    std::string dtypes;
    for (const auto& [dt, n] : s.parametersByDtype)
        dtypes += (dtypes.empty() ? "" : ", ") + dt + " " + std::to_string(n);
    std::printf("Dtypes       %s\n", dtypes.c_str());
    std::printf("Weights      %s, %.2f MB\n", s.weightFormat.c_str(), s.weightBytes / 1e6);
    std::printf("Layers       %lld, hidden %lld, FFN %lld, vocabulary %lld, max positions %lld\n",
                static_cast<long long>(c.numLayers), static_cast<long long>(c.hiddenSize),
                static_cast<long long>(c.intermediateSize), static_cast<long long>(c.vocabSize),
                static_cast<long long>(c.maxPositionEmbeddings));
    std::printf("Attention    %lld query heads, %lld key/value heads, head dim %lld%s\n", static_cast<long long>(c.numHeads),
                static_cast<long long>(c.numKvHeads), static_cast<long long>(c.headDim),
                c.isGqa() ? " (grouped-query attention)" : "");
    std::printf("Embeddings   %s\n", c.tieWordEmbeddings ? "tied (lm_head shares embed_tokens)" : "separate lm_head");
    std::printf("Tokenizer    %s\n", s.tokenizer.c_str());
    std::printf("\nTensors (%zu):\n", s.tensors.size());
    for (const auto& t : s.tensors)
        std::printf("  %-56s %-5s %s\n", t.name.c_str(), t.dtype.c_str(), shapeText(t.shape).c_str());
    return 0;
}

}  // namespace aqcli
