// aq-plant-outliers: copies a model folder with outlier channels planted into its activations, computing the same
// function. Real LLMs carry a few activation channels 20-100x larger than the rest; a small trained model such as
// the demo model has none, so the outlier views and the methods that remove outliers have nothing to show on it.
//
//   aq-plant-outliers --model DIR --out DIR [--channels 3] [--seed 7] [--min-factor 20] [--max-factor 30]
//
// For each planted channel c with factor f (drawn from [min, max]):
//   qkv, fc1 (inputs of q/k/v and of the MLP):  norm weight (and bias) [c] * f, the following linears' column c / f;
//            the same hidden channels in every block, as in real models;
//   out (input of o_proj / out_proj):           v_proj row (and bias) * f, o_proj's columns of every query head
//            reading that value channel / f (attention is linear in v);
//   down (input of down_proj / fc2):            up_proj (OPT with ReLU: fc1) row and bias * f, down_proj column / f
//            (silu(gate) * up is linear in up, ReLU is positively homogeneous); not planted for OPT with GELU.
// Tensors are written as float32, so the rescaling costs no precision (the products differ by float rounding only).
// DIR/planted_outliers.json lists every planted (block, site, channel, factor).
#include "model.h"
#include "safetensors.h"
#include "transforms.h"

#include "aq/error.h"
#include "aq/model_config.h"

#include <nlohmann/json.hpp>

#include <torch/types.h>
#include <torch/utils.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <stdexcept>
#include <string>

namespace fs = std::filesystem;
using aq::detail::blockLayout;
using aq::detail::blockPrefix;

namespace {

struct Planted {
    int block;
    std::string site;
    int64_t channel;
    double factor;
};

}  // namespace

int main(int argc, char** argv)
{
    std::map<std::string, std::string> opt;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string name = argv[i];
        if (name.size() < 3 || name.compare(0, 2, "--") != 0) {
            std::fprintf(stderr, "aq-plant-outliers: '%s' is not an option (options start with --)\n", argv[i]);
            return 2;
        }
        opt[name.substr(2)] = argv[i + 1];
    }
    if (!opt.count("model") || !opt.count("out")) {
        std::fprintf(stderr, "usage: aq-plant-outliers --model DIR --out DIR [--channels 3] [--seed 7] "
                             "[--min-factor 20] [--max-factor 30]\n");
        return 2;
    }
    try {
        const fs::path in = opt["model"], out = opt["out"];
        const int perSite = opt.count("channels") ? std::stoi(opt["channels"]) : 3;
        const double minF = opt.count("min-factor") ? std::stod(opt["min-factor"]) : 20.0;
        const double maxF = opt.count("max-factor") ? std::stod(opt["max-factor"]) : 30.0;
        if (perSite < 1 || !(minF > 1) || !(maxF >= minF))
            throw std::runtime_error("--channels must be >= 1 and 1 < --min-factor <= --max-factor");
        if (fs::exists(out) && fs::equivalent(in, out))
            throw std::runtime_error("--out must differ from --model");
        const aq::ModelConfig c = aq::loadModelConfig(in.string());
        if (c.arch == aq::Architecture::Opt && !c.doLayerNormBefore)
            throw std::runtime_error("OPT with post-norm blocks (do_layer_norm_before false) is not supported");
        std::mt19937 rng(opt.count("seed") ? std::stoul(opt["seed"]) : 7u);

        // Every tensor, by shard, in float32.
        std::map<std::string, std::vector<std::pair<std::string, torch::Tensor>>> shards;
        std::map<std::string, std::map<std::string, std::string>> metadata;
        std::map<std::string, torch::Tensor*> byName;
        for (const auto& e : fs::directory_iterator(in))
            if (e.path().extension() == ".safetensors") {
                const aq::detail::SafetensorsFile f(e.path().string());
                auto& list = shards[e.path().filename().string()];
                metadata[e.path().filename().string()] = f.metadata();
                for (const auto& [name, entry] : f.entries())
                    list.emplace_back(name, f.load(name).to(torch::kFloat32));
            }
        if (shards.empty())
            throw std::runtime_error("no .safetensors file in " + in.string());
        for (auto& [file, list] : shards)
            for (auto& [name, t] : list)
                byName[name] = &t;
        auto get = [&](const std::string& name) -> torch::Tensor* {
            const auto it = byName.find(name);
            return it == byName.end() ? nullptr : it->second;
        };
        auto at = [&](const std::string& name) -> torch::Tensor& {
            torch::Tensor* t = get(name);
            if (!t)
                throw std::runtime_error("tensor " + name + " is missing");
            return *t;
        };

        std::uniform_real_distribution<double> factorDist(minF, maxF);
        auto pick = [&](int64_t n, int count) {
            std::set<int64_t> s;
            if (n <= 0)
                return s;
            std::uniform_int_distribution<int64_t> d(0, n - 1);
            while (static_cast<int>(s.size()) < std::min<int64_t>(count, n))
                s.insert(d(rng));
            return s;
        };
        const auto layout = blockLayout(c);
        const int64_t hd = c.headDim, groups = c.numHeads / c.numKvHeads;
        const bool opt_ = c.arch == aq::Architecture::Opt;
        const bool homogeneous = !opt_ || c.activation == "relu";
        // The residual stream's outlier channels are shared by all blocks, so are the factors.
        std::map<std::string, std::vector<std::pair<int64_t, double>>> hidden;
        for (const char* site : {"qkv", "fc1"})
            for (int64_t ch : pick(c.hiddenSize, perSite))
                hidden[site].push_back({ch, factorDist(rng)});
        std::vector<Planted> planted;
        torch::NoGradGuard ng;
        for (int b = 0; b < c.numLayers; ++b) {
            const std::string p = blockPrefix(c, b);
            auto scaleNorm = [&](const std::string& norm, const std::vector<std::string>& linears, const char* site) {
                for (const auto& [ch, f] : hidden[site]) {
                    at(p + norm + ".weight")[ch].mul_(f);
                    if (torch::Tensor* bias = get(p + norm + ".bias"))
                        (*bias)[ch].mul_(f);
                    for (const auto& l : linears)
                        at(p + l + ".weight").select(1, ch).div_(f);
                    planted.push_back({b, site, ch, f});
                }
            };
            scaleNorm(layout.norm1, layout.qkv, "qkv");
            scaleNorm(layout.norm2, layout.fc1, "fc1");
            // out: a value channel (key/value head, dimension) feeds that dimension of every query head of its group.
            for (int64_t v : pick(c.numKvHeads * hd, perSite)) {
                const double f = factorDist(rng);
                at(p + layout.qkv[2] + ".weight")[v].mul_(f);
                if (torch::Tensor* bias = get(p + layout.qkv[2] + ".bias"))
                    (*bias)[v].mul_(f);
                const int64_t kvHead = v / hd, d = v % hd;
                for (int64_t h = kvHead * groups; h < (kvHead + 1) * groups; ++h) {
                    at(p + layout.out + ".weight").select(1, h * hd + d).div_(f);
                    planted.push_back({b, "out", h * hd + d, f});
                }
            }
            if (homogeneous) {
                const std::string up = opt_ ? layout.fc1[0] : "mlp.up_proj";
                for (int64_t ch : pick(c.intermediateSize, perSite)) {
                    const double f = factorDist(rng);
                    at(p + up + ".weight")[ch].mul_(f);
                    if (torch::Tensor* bias = get(p + up + ".bias"))
                        (*bias)[ch].mul_(f);
                    at(p + layout.down + ".weight").select(1, ch).div_(f);
                    planted.push_back({b, "down", ch, f});
                }
            }
        }

        fs::create_directories(out);
        for (const auto& e : fs::directory_iterator(in))
            if (e.is_regular_file() && e.path().extension() != ".safetensors")
                fs::copy_file(e.path(), out / e.path().filename(), fs::copy_options::overwrite_existing);
        uint64_t totalBytes = 0;
        for (const auto& [file, list] : shards) {
            aq::detail::writeSafetensors((out / file).string(), list, metadata[file]);
            for (const auto& [name, t] : list)
                totalBytes += static_cast<uint64_t>(t.numel()) * 4;
        }
        nlohmann::json config = nlohmann::json::parse(std::ifstream(out / "config.json"));
        config["torch_dtype"] = "float32";
        std::ofstream(out / "config.json") << config.dump(2) << "\n";
        if (fs::exists(out / "model.safetensors.index.json")) {
            nlohmann::json index = nlohmann::json::parse(std::ifstream(out / "model.safetensors.index.json"));
            index["metadata"]["total_size"] = totalBytes;
            std::ofstream(out / "model.safetensors.index.json") << index.dump(2) << "\n";
        }
        nlohmann::json list = nlohmann::json::array();
        for (const auto& q : planted)
            list.push_back({{"block", q.block}, {"site", q.site}, {"channel", q.channel}, {"factor", q.factor}});
        std::ofstream(out / "planted_outliers.json") << nlohmann::json{{"source", fs::absolute(in).string()},
                                                                       {"planted", list}}.dump(2)
                                                     << "\n";
        std::printf("planted %zu outlier channels into %s\n", planted.size(), out.string().c_str());
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "aq-plant-outliers: %s\n", e.what());
        return 2;
    }
}
