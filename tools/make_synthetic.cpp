// aq-make-synthetic: writes a Hugging Face LLaMA-architecture folder of real model shapes with random weights,
// one safetensors shard per block, so benchmarks and throughput checks need no download.
//
//   aq-make-synthetic --shape llama-7b|llama3-8b|llama2-70b|tiny|kquant --out DIR [--layers N] [--dtype float16|bfloat16]
//                     [--model-type llama|qwen2] [--tokenizer tokenizer.model] [--bpe DIR [--bpe-json gpt2|llama3|qwen2]]
//                     [--seed 0]
//
// `tiny` (hidden 64, FFN 128, 4 heads, 2 key/value heads, 2 blocks) makes small models of other families for export
// tests: `--model-type qwen2` gives q/k/v biases; `--bpe DIR` copies a GPT-2-style vocab.json + merges.txt (the
// vocabulary size follows it), and `--bpe-json` writes them as a tokenizer.json with that family's pre-tokenizer
// regex instead. `kquant` (hidden 256, FFN 512, 8 query heads sharing 1 key/value head, 32 blocks, 2048 tokens: the
// demo model's tokenizer fits) has the depth and head sharing that llama.cpp's per-tensor type rules look at.
//
// A few hidden channels get norm gains 20-100x larger than the rest, so the activations entering the linears carry
// the outlier channels that real LLMs show (and that the quantization methods exist to handle).
#include "safetensors.h"

#include "aq/error.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>

namespace fs = std::filesystem;

namespace {
struct Shape {
    int64_t hidden, ffn, heads, kvHeads, layers, vocab, maxPositions;
    double ropeTheta;
};
const std::map<std::string, Shape> kShapes = {
    {"llama-7b", {4096, 11008, 32, 32, 32, 32000, 2048, 10000.0}},
    {"llama3-8b", {4096, 14336, 32, 8, 32, 128256, 8192, 500000.0}},
    {"llama2-70b", {8192, 28672, 64, 8, 80, 32000, 4096, 10000.0}},
    {"tiny", {64, 128, 4, 2, 2, 512, 512, 10000.0}},
    {"kquant", {256, 512, 8, 1, 32, 2048, 512, 10000.0}},
};

const std::map<std::string, std::string> kPreTokenizerRegex = {
    {"gpt2", R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)"},
    {"llama3", R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"},
    {"qwen2", R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"},
};

/// Writes vocab.json + merges.txt of `dir` as a tokenizer.json whose pre-tokenizer splits with `regex`.
void writeTokenizerJson(const fs::path& dir, const fs::path& out, const std::string& regex)
{
    std::ifstream vin(dir / "vocab.json");
    const nlohmann::json vocab = nlohmann::json::parse(vin);
    std::ifstream min(dir / "merges.txt");
    nlohmann::json merges = nlohmann::json::array();
    std::string line;
    while (std::getline(min, line)) {
        if (!line.empty() && line.back() == '\r')
            line.pop_back();
        if (line.empty() || line.rfind("#version", 0) == 0)
            continue;
        merges.push_back(line);
    }
    nlohmann::json pre = {{"type", "Sequence"},
                          {"pretokenizers",
                           {{{"type", "Split"}, {"pattern", {{"Regex", regex}}}, {"behavior", "Isolated"}, {"invert", false}},
                            {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}}}}};
    nlohmann::json tok = {{"version", "1.0"},
                          {"added_tokens", nlohmann::json::array()},
                          {"normalizer", nullptr},
                          {"pre_tokenizer", pre},
                          {"post_processor", nullptr},
                          {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}}},
                          {"model", {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"continuing_subword_prefix", nullptr},
                                     {"end_of_word_suffix", nullptr}, {"fuse_unk", false}, {"byte_fallback", false},
                                     {"vocab", vocab}, {"merges", merges}}}};
    std::ofstream(out / "tokenizer.json") << tok.dump() << "\n";
}
}  // namespace

int main(int argc, char** argv)
{
    std::map<std::string, std::string> opt;
    for (int i = 1; i + 1 < argc; i += 2)
        opt[std::string(argv[i]).substr(2)] = argv[i + 1];
    if (!opt.count("shape") || !opt.count("out") || !kShapes.count(opt["shape"])) {
        std::fprintf(stderr, "usage: aq-make-synthetic --shape llama-7b|llama3-8b|llama2-70b|tiny|kquant --out DIR [--layers N] "
                             "[--dtype float16|bfloat16] [--model-type llama|qwen2] [--tokenizer tokenizer.model] "
                             "[--bpe DIR [--bpe-json gpt2|llama3|qwen2]] [--seed 0]\n");
        return 2;
    }
    try {
        Shape s = kShapes.at(opt["shape"]);
        if (opt.count("layers"))
            s.layers = std::stoll(opt["layers"]);
        const std::string modelType = opt.count("model-type") ? opt["model-type"] : "llama";
        if (modelType != "llama" && modelType != "qwen2")
            throw std::runtime_error("--model-type must be llama or qwen2");
        const bool qwen2 = modelType == "qwen2";
        if (opt.count("bpe")) {
            std::ifstream vin{fs::path(opt["bpe"]) / "vocab.json"};
            if (!vin)
                throw std::runtime_error("no vocab.json in " + opt["bpe"]);
            s.vocab = static_cast<int64_t>(nlohmann::json::parse(vin).size());
        }
        if (opt.count("bpe-json") && !kPreTokenizerRegex.count(opt["bpe-json"]))
            throw std::runtime_error("--bpe-json must be gpt2, llama3 or qwen2");
        const auto dtype = opt.count("dtype") && opt["dtype"] == "bfloat16" ? torch::kBFloat16 : torch::kFloat16;
        torch::manual_seed(opt.count("seed") ? std::stoull(opt["seed"]) : 0);
        const fs::path out = opt["out"];
        fs::create_directories(out);
        const int64_t hd = s.hidden / s.heads, kv = s.kvHeads * hd;
        const int64_t shards = s.layers + 1;
        auto shardName = [&](int64_t i) {
            char buf[64];
            std::snprintf(buf, sizeof buf, "model-%05lld-of-%05lld.safetensors", static_cast<long long>(i + 1),
                          static_cast<long long>(shards));
            return std::string(buf);
        };
        auto rnd = [&](std::vector<int64_t> shape, double std) { return (torch::randn(shape) * std).to(dtype); };
        nlohmann::json weightMap = nlohmann::json::object();
        uint64_t total = 0;
        auto writeShard = [&](int64_t i, const std::vector<std::pair<std::string, torch::Tensor>>& t) {
            aq::detail::writeSafetensors((out / shardName(i)).string(), t, {{"format", "pt"}});
            for (const auto& [n, x] : t) {
                weightMap[n] = shardName(i);
                total += static_cast<uint64_t>(x.numel() * x.element_size());
            }
        };
        // Outlier channels: the same few channels in every block, as in real models.
        auto outlierIdx = torch::randperm(s.hidden).narrow(0, 0, 6);
        for (int64_t l = 0; l < s.layers; ++l) {
            const std::string p = "model.layers." + std::to_string(l) + ".";
            auto gain = torch::ones({s.hidden});
            gain.index_put_({outlierIdx}, torch::rand({6}) * 80 + 20);
            std::vector<std::pair<std::string, torch::Tensor>> t = {
                {p + "input_layernorm.weight", gain.to(dtype)},
                {p + "post_attention_layernorm.weight", gain.to(dtype)},
                {p + "self_attn.q_proj.weight", rnd({s.hidden, s.hidden}, 0.02)},
                {p + "self_attn.k_proj.weight", rnd({kv, s.hidden}, 0.02)},
                {p + "self_attn.v_proj.weight", rnd({kv, s.hidden}, 0.02)},
                {p + "self_attn.o_proj.weight", rnd({s.hidden, s.hidden}, 0.02 / std::sqrt(2.0 * s.layers))},
                {p + "mlp.gate_proj.weight", rnd({s.ffn, s.hidden}, 0.02)},
                {p + "mlp.up_proj.weight", rnd({s.ffn, s.hidden}, 0.02)},
                {p + "mlp.down_proj.weight", rnd({s.hidden, s.ffn}, 0.02 / std::sqrt(2.0 * s.layers))},
            };
            if (qwen2)
                for (const auto& [name, rows] : std::vector<std::pair<std::string, int64_t>>{
                         {"self_attn.q_proj.bias", s.hidden}, {"self_attn.k_proj.bias", kv}, {"self_attn.v_proj.bias", kv}})
                    t.emplace_back(p + name, rnd({rows}, 0.1));
            writeShard(l, t);
            std::printf("block %lld/%lld written\n", static_cast<long long>(l + 1), static_cast<long long>(s.layers));
            std::fflush(stdout);
        }
        writeShard(s.layers, {{"model.embed_tokens.weight", rnd({s.vocab, s.hidden}, 1.0)},
                              {"model.norm.weight", torch::ones({s.hidden}).to(dtype)},
                              {"lm_head.weight", rnd({s.vocab, s.hidden}, s.hidden < 1024 ? 0.3 : 0.02)}});
        std::ofstream(out / "model.safetensors.index.json")
            << nlohmann::json{{"metadata", {{"total_size", total}}}, {"weight_map", weightMap}}.dump(1) << "\n";
        std::ofstream(out / "config.json") << nlohmann::json{{"architectures", {qwen2 ? "Qwen2ForCausalLM" : "LlamaForCausalLM"}},
                                                             {"model_type", modelType},
                                                             {"vocab_size", s.vocab},
                                                             {"hidden_size", s.hidden},
                                                             {"intermediate_size", s.ffn},
                                                             {"num_hidden_layers", s.layers},
                                                             {"num_attention_heads", s.heads},
                                                             {"num_key_value_heads", s.kvHeads},
                                                             {"max_position_embeddings", s.maxPositions},
                                                             {"rms_norm_eps", 1e-5},
                                                             {"rope_theta", s.ropeTheta},
                                                             {"tie_word_embeddings", false},
                                                             {"bos_token_id", opt.count("bpe") ? s.vocab - 1 : 1},
                                                             {"eos_token_id", opt.count("bpe") ? s.vocab - 1 : 2},
                                                             {"torch_dtype", dtype == torch::kFloat16 ? "float16" : "bfloat16"}}
                                                  .dump(2)
                                           << "\n";
        if (opt.count("tokenizer")) {
            fs::copy_file(opt["tokenizer"], out / "tokenizer.model", fs::copy_options::overwrite_existing);
            std::ofstream(out / "tokenizer_config.json") << R"({"add_bos_token": true, "bos_token": "<s>", "eos_token": "</s>"})" << "\n";
        }
        if (opt.count("bpe")) {
            const fs::path dir = opt["bpe"];
            if (opt.count("bpe-json")) {
                writeTokenizerJson(dir, out, kPreTokenizerRegex.at(opt["bpe-json"]));
            } else {
                fs::copy_file(dir / "vocab.json", out / "vocab.json", fs::copy_options::overwrite_existing);
                fs::copy_file(dir / "merges.txt", out / "merges.txt", fs::copy_options::overwrite_existing);
            }
            // No BOS: GPT-2-style tokenizers add none.
            std::ofstream(out / "tokenizer_config.json") << R"({"add_bos_token": false})" << "\n";
        }
        std::printf("wrote %s: %lld blocks, %.2f GB\n", out.c_str(), static_cast<long long>(s.layers), total / 1e9);
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
}
