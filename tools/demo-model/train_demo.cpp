// aq-demo-trainer: trains the bundled demo model (a small LLaMA-architecture model with GQA) on LibTorch.
//
//   aq-demo-trainer tokenize --spm tokenizer.model --out FILE.bin TEXT...
//       Encodes each text with BOS first and writes the ids as little-endian uint16.
//   aq-demo-trainer train --train train.bin --heldout heldout.bin --spm tokenizer.model --out DIR
//                         [--device cuda] [--steps 3000] [--seed 1234]
//                         [--layers 4] [--hidden 256] [--ffn 768] [--heads 4] [--kv-heads 2] [--vocab 2048]
//       Trains with AdamW and a cosine schedule, keeps the parameters with the best held-out loss and writes a
//       Hugging Face folder (F16 safetensors, config, tokenizer files).
//
// The forward pass is the core's own (aq::detail::llamaBlock), so the model is trained with exactly the code that
// evaluates and calibrates it. See resources/demo-model/README.md for the full recipe.
#include "model.h"
#include "safetensors.h"
#include "torch_util.h"

#include "aq/error.h"
#include "aq/tokenizer.h"

#include <nlohmann/json.hpp>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adamw.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using aq::detail::BlockWeights;

namespace {

struct DemoShape {
    int64_t vocab = 2048, hidden = 256, ffn = 768, layers = 4, heads = 4, kvHeads = 2, maxPositions = 512;
};

/// The demo model's config.json fields that define its architecture.
nlohmann::json demoConfigJson(const DemoShape& s)
{
    return {{"model_type", "llama"},
            {"vocab_size", s.vocab},
            {"hidden_size", s.hidden},
            {"intermediate_size", s.ffn},
            {"num_hidden_layers", s.layers},
            {"num_attention_heads", s.heads},
            {"num_key_value_heads", s.kvHeads},
            {"max_position_embeddings", s.maxPositions},
            {"rms_norm_eps", 1e-5},
            {"rope_theta", 10000.0},
            {"tie_word_embeddings", true}};
}

aq::ModelConfig demoConfig(const DemoShape& s)
{
    return aq::parseModelConfig(demoConfigJson(s).dump(), "demo configuration");
}

std::vector<uint16_t> readTokens(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        aq::badInput("cannot read " + path);
    std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<uint16_t> ids(bytes.size() / 2);
    for (size_t i = 0; i < ids.size(); ++i)
        ids[i] = static_cast<uint16_t>(static_cast<unsigned char>(bytes[2 * i]) |
                                       (static_cast<unsigned char>(bytes[2 * i + 1]) << 8));
    return ids;
}

int tokenize(const std::map<std::string, std::string>& opt, const std::vector<std::string>& inputs)
{
    auto tok = aq::loadSentencePiece(opt.at("spm"));
    std::ofstream out(opt.at("out"), std::ios::binary);
    size_t total = 0;
    for (const auto& path : inputs) {
        std::ifstream in(path, std::ios::binary);
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        std::vector<int32_t> ids = tok->encode(text);
        ids.insert(ids.begin(), 1);  // BOS, as the evaluation protocol tokenizes
        for (int32_t id : ids) {
            const unsigned char b[2] = {static_cast<unsigned char>(id & 0xff), static_cast<unsigned char>(id >> 8)};
            out.write(reinterpret_cast<const char*>(b), 2);
        }
        total += ids.size();
        std::printf("%s: %zu tokens\n", path.c_str(), ids.size());
    }
    std::printf("total %zu tokens -> %s\n", total, opt.at("out").c_str());
    return 0;
}

struct Model {
    aq::ModelConfig config;
    torch::Tensor embed, norm;
    std::vector<BlockWeights> blocks;

    std::vector<torch::Tensor> parameters()
    {
        std::vector<torch::Tensor> p{embed, norm};
        for (auto& b : blocks)
            for (auto& [n, t] : b.tensors)
                p.push_back(t);
        return p;
    }

    torch::Tensor logits(const torch::Tensor& ids, const aq::detail::RopeTables& rope) const
    {
        auto x = torch::embedding(embed, ids);
        for (const auto& b : blocks)
            x = aq::detail::llamaBlock(config, b, x, rope);
        return torch::linear(aq::detail::rmsNorm(x, norm, {}, config.normEps), embed);
    }
};

Model initModel(const aq::ModelConfig& c, const torch::Device& dev)
{
    auto opts = torch::TensorOptions().dtype(torch::kFloat32).device(dev);
    auto normal = [&](std::vector<int64_t> shape, double std) {
        return (torch::randn(shape, opts) * std).requires_grad_(true);
    };
    const double std = 0.02, outStd = 0.02 / std::sqrt(2.0 * static_cast<double>(c.numLayers));
    Model m;
    m.config = c;
    m.embed = normal({c.vocabSize, c.hiddenSize}, std);
    m.norm = torch::ones({c.hiddenSize}, opts).requires_grad_(true);
    const int64_t q = c.numHeads * c.headDim, kv = c.numKvHeads * c.headDim;
    for (int64_t i = 0; i < c.numLayers; ++i) {
        BlockWeights b;
        b.tensors["input_layernorm.weight"] = torch::ones({c.hiddenSize}, opts).requires_grad_(true);
        b.tensors["post_attention_layernorm.weight"] = torch::ones({c.hiddenSize}, opts).requires_grad_(true);
        b.tensors["self_attn.q_proj.weight"] = normal({q, c.hiddenSize}, std);
        b.tensors["self_attn.k_proj.weight"] = normal({kv, c.hiddenSize}, std);
        b.tensors["self_attn.v_proj.weight"] = normal({kv, c.hiddenSize}, std);
        b.tensors["self_attn.o_proj.weight"] = normal({c.hiddenSize, q}, outStd);
        b.tensors["mlp.gate_proj.weight"] = normal({c.intermediateSize, c.hiddenSize}, std);
        b.tensors["mlp.up_proj.weight"] = normal({c.intermediateSize, c.hiddenSize}, std);
        b.tensors["mlp.down_proj.weight"] = normal({c.hiddenSize, c.intermediateSize}, outStd);
        m.blocks.push_back(std::move(b));
    }
    return m;
}

torch::Tensor crossEntropy(const torch::Tensor& logits, const torch::Tensor& ids)
{
    const int64_t T = ids.size(1);
    auto lp = torch::log_softmax(logits.narrow(1, 0, T - 1), -1);
    return -lp.gather(-1, ids.narrow(1, 1, T - 1).unsqueeze(-1)).mean();
}

double heldoutLoss(const Model& m, const torch::Tensor& windows, const aq::detail::RopeTables& rope)
{
    torch::NoGradGuard ng;
    double sum = 0;
    for (int64_t i = 0; i < windows.size(0); i += 16) {
        auto w = windows.narrow(0, i, std::min<int64_t>(16, windows.size(0) - i));
        sum += crossEntropy(m.logits(w, rope), w).item<double>() * static_cast<double>(w.size(0));
    }
    return sum / static_cast<double>(windows.size(0));
}

void writeModel(const Model& m, const DemoShape& s, const std::string& spm, const fs::path& out, const nlohmann::json& info)
{
    fs::create_directories(out);
    std::vector<std::pair<std::string, torch::Tensor>> tensors;
    auto half = [](const torch::Tensor& t) { return t.detach().to(torch::kCPU, torch::kFloat16); };
    tensors.emplace_back("model.embed_tokens.weight", half(m.embed));
    for (size_t i = 0; i < m.blocks.size(); ++i)
        for (const auto& [n, t] : m.blocks[i].tensors)
            tensors.emplace_back("model.layers." + std::to_string(i) + "." + n, half(t));
    tensors.emplace_back("model.norm.weight", half(m.norm));
    aq::detail::writeSafetensors((out / "model.safetensors").string(), tensors, {{"format", "pt"}});
    nlohmann::json config = demoConfigJson(s);
    config.update({{"architectures", {"LlamaForCausalLM"}},
                   {"rope_scaling", nullptr},
                   {"hidden_act", "silu"},
                   {"attention_bias", false},
                   {"mlp_bias", false},
                   {"bos_token_id", 1},
                   {"eos_token_id", 2},
                   {"torch_dtype", "float16"},
                   {"affinequant_demo", info}});
    std::ofstream(out / "config.json") << config.dump(2) << "\n";
    std::ofstream(out / "generation_config.json") << nlohmann::json{{"bos_token_id", 1}, {"eos_token_id", 2}}.dump(2) << "\n";
    std::ofstream(out / "tokenizer_config.json")
        << nlohmann::json{{"tokenizer_class", "LlamaTokenizer"}, {"add_bos_token", true}, {"add_eos_token", false},
                          {"bos_token", "<s>"}, {"eos_token", "</s>"}, {"unk_token", "<unk>"}, {"pad_token", nullptr},
                          {"legacy", true}, {"model_max_length", s.maxPositions}, {"clean_up_tokenization_spaces", false}}
               .dump(2)
        << "\n";
    std::ofstream(out / "special_tokens_map.json")
        << nlohmann::json{{"bos_token", "<s>"}, {"eos_token", "</s>"}, {"unk_token", "<unk>"}}.dump(2) << "\n";
    fs::copy_file(spm, out / "tokenizer.model", fs::copy_options::overwrite_existing);
}

int train(const std::map<std::string, std::string>& opt)
{
    const torch::Device dev = aq::detail::parseDevice(opt.count("device") ? opt.at("device") : "cpu");
    const int64_t steps = opt.count("steps") ? std::stoll(opt.at("steps")) : 3000;
    const int64_t seed = opt.count("seed") ? std::stoll(opt.at("seed")) : 1234;
    const int64_t batch = 16;
    DemoShape shape;
    // Another shape for a second model (the defaults are the bundled demo model's).
    auto size = [&](const char* key, int64_t& v) {
        if (opt.count(key))
            v = std::stoll(opt.at(key));
    };
    size("vocab", shape.vocab);
    size("hidden", shape.hidden);
    size("ffn", shape.ffn);
    size("layers", shape.layers);
    size("heads", shape.heads);
    size("kv-heads", shape.kvHeads);
    const int64_t T = shape.maxPositions;
    const double peakLr = 2e-3, minLr = 2e-4, weightDecay = 0.1;
    const int64_t warmup = 100;
    torch::manual_seed(static_cast<uint64_t>(seed));
    if (dev.is_cuda())
        at::globalContext().setAllowTF32CuBLAS(true);

    const auto trainIds = readTokens(opt.at("train"));
    const auto heldIds = readTokens(opt.at("heldout"));
    auto trainT = torch::tensor(std::vector<int64_t>(trainIds.begin(), trainIds.end()), torch::kInt64).to(dev);
    const int64_t nHeld = static_cast<int64_t>(heldIds.size()) / T;
    auto held = torch::tensor(std::vector<int64_t>(heldIds.begin(), heldIds.begin() + nHeld * T), torch::kInt64)
                    .view({nHeld, T})
                    .to(dev);
    std::printf("train tokens %zu, held-out windows %lld x %lld, device %s\n", trainIds.size(),
                static_cast<long long>(nHeld), static_cast<long long>(T), dev.str().c_str());

    const aq::ModelConfig config = demoConfig(shape);
    Model m = initModel(config, dev);
    const auto rope = aq::detail::makeRopeTables(config, T, dev, torch::kFloat32);
    // Decay matrices only, as is usual; norms are excluded.
    std::vector<torch::Tensor> decay, noDecay;
    for (auto& p : m.parameters())
        (p.dim() >= 2 ? decay : noDecay).push_back(p);
    std::vector<torch::optim::OptimizerParamGroup> groups;
    groups.emplace_back(decay, std::make_unique<torch::optim::AdamWOptions>(
                                   torch::optim::AdamWOptions(peakLr).betas({0.9, 0.95}).weight_decay(weightDecay)));
    groups.emplace_back(noDecay, std::make_unique<torch::optim::AdamWOptions>(
                                     torch::optim::AdamWOptions(peakLr).betas({0.9, 0.95}).weight_decay(0.0)));
    torch::optim::AdamW optimizer(groups, torch::optim::AdamWOptions(peakLr));

    double best = std::numeric_limits<double>::infinity();
    int64_t bestStep = -1;
    std::vector<torch::Tensor> bestParams;
    const auto t0 = std::chrono::steady_clock::now();
    const int64_t maxStart = trainT.size(0) - T - 1;
    for (int64_t step = 1; step <= steps; ++step) {
        const double lr = step <= warmup ? peakLr * static_cast<double>(step) / warmup
                                         : minLr + 0.5 * (peakLr - minLr) *
                                                       (1 + std::cos(M_PI * static_cast<double>(step - warmup) /
                                                                     static_cast<double>(steps - warmup)));
        for (auto& g : optimizer.param_groups())
            static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
        auto starts = torch::randint(0, maxStart, {batch}, torch::TensorOptions().dtype(torch::kInt64).device(dev));
        auto idx = starts.unsqueeze(1) + torch::arange(T, torch::TensorOptions().dtype(torch::kInt64).device(dev));
        auto ids = trainT.index_select(0, idx.flatten()).view({batch, T});
        optimizer.zero_grad();
        auto loss = crossEntropy(m.logits(ids, rope), ids);
        loss.backward();
        torch::nn::utils::clip_grad_norm_(m.parameters(), 1.0);
        optimizer.step();
        if (step % 250 == 0 || step == steps) {
            const double h = heldoutLoss(m, held, rope);
            const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            std::printf("step %5lld  lr %.2e  train loss %.4f  held-out loss %.4f (ppl %.3f)  %.0fs\n",
                        static_cast<long long>(step), lr, loss.item<double>(), h, std::exp(h), secs);
            std::fflush(stdout);
            if (h < best) {
                best = h;
                bestStep = step;
                bestParams.clear();
                for (auto& p : m.parameters())
                    bestParams.push_back(p.detach().clone());
            }
        }
    }
    if (bestParams.empty())
        aq::badInput("--steps must be at least 1");
    {
        torch::NoGradGuard ng;
        auto params = m.parameters();
        for (size_t i = 0; i < params.size(); ++i)
            params[i].copy_(bestParams[i]);
    }
    std::printf("best held-out loss %.4f (ppl %.3f) at step %lld\n", best, std::exp(best), static_cast<long long>(bestStep));
    nlohmann::json info = {{"trainer", "tools/demo-model/train_demo.cpp"},
                           {"steps", steps},
                           {"best_step", bestStep},
                           {"seed", seed},
                           {"train_tokens", trainIds.size()},
                           {"heldout_loss_fp32", best},
                           {"seqlen", T},
                           {"batch", batch}};
    writeModel(m, shape, opt.at("spm"), opt.at("out"), info);
    std::printf("wrote %s\n", opt.at("out").c_str());
    return 0;
}

}  // namespace

int main(int argc, char** argv)
{
    if (argc < 2) {
        std::fprintf(stderr, "usage: aq-demo-trainer tokenize|train [--option value]... [files]\n");
        return 2;
    }
    const std::string cmd = argv[1];
    std::map<std::string, std::string> opt;
    std::vector<std::string> files;
    for (int i = 2; i < argc; ++i) {
        std::string a = argv[i];
        if (a.rfind("--", 0) == 0 && i + 1 < argc)
            opt[a.substr(2)] = argv[++i];
        else
            files.push_back(a);
    }
    try {
        if (cmd == "tokenize")
            return tokenize(opt, files);
        if (cmd == "train")
            return train(opt);
        std::fprintf(stderr, "unknown command %s\n", cmd.c_str());
        return 2;
    } catch (const std::out_of_range&) {
        std::fprintf(stderr, "missing option; see the comment at the top of train_demo.cpp\n");
        return 2;
    } catch (const aq::Error& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return aq::exitStatusFor(e.code());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
}
