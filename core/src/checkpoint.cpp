#include "checkpoint.h"

#include "aq/error.h"
#include "aq/model_info.h"
#include "aq/tokenizer.h"
#include "finite_check.h"
#include "jsonutil.h"

#include <torch/serialize.h>

#include <filesystem>
#include <fstream>
#include <set>

namespace fs = std::filesystem;

namespace aq::detail {

namespace {
std::string shapeString(const std::vector<int64_t>& s)
{
    std::string r = "[";
    for (size_t i = 0; i < s.size(); ++i)
        r += (i ? ", " : "") + std::to_string(s[i]);
    return r + "]";
}
}  // namespace

Checkpoint::Checkpoint(const std::string& modelDir) : m_dir(modelDir), m_config(loadModelConfig(modelDir))
{
    const fs::path dir(modelDir);
    const fs::path single = dir / "model.safetensors";
    const fs::path index = dir / "model.safetensors.index.json";
    const fs::path bin = dir / "pytorch_model.bin";
    if (fs::exists(single)) {
        m_format = "safetensors";
        m_files.push_back(std::make_unique<SafetensorsFile>(single.string()));
        for (const auto& [name, e] : m_files[0]->entries())
            m_index[name] = 0;
    } else if (fs::exists(index)) {
        nlohmann::json j = readJsonFile(index, "safetensors index");
        if (!j.contains("weight_map") || !j["weight_map"].is_object())
            badInput("'" + index.string() + "' has no 'weight_map' object");
        std::map<std::string, size_t> fileIds;
        for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
            if (!it->is_string())
                badInput("'" + index.string() + "': weight_map entry '" + it.key() + "' is not a file name");
            const std::string file = it->get<std::string>();
            if (file.find('/') != std::string::npos || file.find("..") != std::string::npos)
                badInput("'" + index.string() + "': shard name '" + file + "' must be a plain file name");
            auto [pos, added] = fileIds.emplace(file, m_files.size());
            if (added) {
                if (!fs::exists(dir / file))
                    badInput("shard '" + file + "' listed in '" + index.string() + "' is missing");
                m_files.push_back(std::make_unique<SafetensorsFile>((dir / file).string()));
            }
            if (!m_files[pos->second]->contains(it.key()))
                badInput("tensor '" + it.key() + "' is listed in the index but not stored in shard '" + file + "'");
            m_index[it.key()] = pos->second;
        }
        m_format = "safetensors (sharded, " + std::to_string(m_files.size()) + " files)";
    } else if (fs::exists(bin)) {
        m_format = "pytorch_model.bin";
        std::error_code ec;
        if (!fs::is_regular_file(bin, ec))  // a FIFO or device would block or never end
            badInput("'" + bin.string() + "' is not a regular file (a folder, device, FIFO or socket)");
        std::ifstream in(bin, std::ios::binary);
        std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        if (bytes.size() < 4 || bytes[0] != 'P' || bytes[1] != 'K')
            badInput("'" + bin.string() + "' is not a zip-format PyTorch checkpoint (legacy tar/pickle files are not supported; "
                     "re-save it with a current torch.save or convert it to safetensors)");
        torch::IValue value;
        try {
            value = torch::pickle_load(bytes);
        } catch (const std::exception& e) {
            badInput("cannot read '" + bin.string() + "': " + std::string(e.what()).substr(0, 300));
        }
        if (!value.isGenericDict())
            badInput("'" + bin.string() + "' does not hold a state dict");
        for (const auto& kv : value.toGenericDict()) {
            if (!kv.key().isString() || !kv.value().isTensor())
                continue;
            m_pickled[kv.key().toStringRef()] = kv.value().toTensor();
        }
        m_weightBytes = bytes.size();
    } else {
        badInput("'" + modelDir + "' has no weights: expected model.safetensors, model.safetensors.index.json or pytorch_model.bin");
    }
    for (const auto& f : m_files)
        m_weightBytes += f->fileSize();
}

Checkpoint::~Checkpoint() = default;

std::vector<std::string> Checkpoint::names() const
{
    std::vector<std::string> r;
    if (!m_pickled.empty())
        for (const auto& kv : m_pickled)
            r.push_back(kv.first);
    for (const auto& kv : m_index)
        r.push_back(kv.first);
    return r;
}

bool Checkpoint::contains(const std::string& name) const { return m_index.count(name) || m_pickled.count(name); }

std::vector<int64_t> Checkpoint::shape(const std::string& name) const
{
    if (auto it = m_pickled.find(name); it != m_pickled.end())
        return it->second.sizes().vec();
    auto it = m_index.find(name);
    if (it == m_index.end())
        badInput("tensor '" + name + "' is missing from '" + m_dir + "'");
    return m_files[it->second]->entries().at(name).shape;
}

std::string Checkpoint::dtypeName(const std::string& name) const
{
    if (auto it = m_pickled.find(name); it != m_pickled.end())
        return safetensorsDtypeName(it->second.scalar_type());
    auto it = m_index.find(name);
    if (it == m_index.end())
        badInput("tensor '" + name + "' is missing from '" + m_dir + "'");
    return m_files[it->second]->entries().at(name).dtype;
}

std::string Checkpoint::fileOf(const std::string& name) const
{
    if (m_pickled.count(name))
        return "pytorch_model.bin";
    auto it = m_index.find(name);
    return it == m_index.end() ? std::string() : fs::path(m_files[it->second]->path()).filename().string();
}

torch::Tensor Checkpoint::load(const std::string& name) const
{
    if (auto it = m_pickled.find(name); it != m_pickled.end()) {
        requireFiniteWeight(it->second, name, (fs::path(m_dir) / "pytorch_model.bin").string());
        return it->second;
    }
    auto it = m_index.find(name);
    if (it == m_index.end())
        badInput("tensor '" + name + "' is missing from '" + m_dir + "'");
    torch::Tensor t = m_files[it->second]->load(name);
    // Non-finite weights are refused where they enter, not discovered as a singular matrix or a NaN model later.
    requireFiniteWeight(t, name, m_files[it->second]->path());
    return t;
}

std::vector<ExpectedTensor> expectedTensors(const ModelConfig& c)
{
    std::vector<ExpectedTensor> t;
    const int64_t H = c.hiddenSize, F = c.intermediateSize, V = c.vocabSize;
    if (c.arch == Architecture::Llama) {
        const int64_t qDim = c.numHeads * c.headDim, kvDim = c.numKvHeads * c.headDim;
        t.push_back({"model.embed_tokens.weight", {V, H}});
        for (int64_t i = 0; i < c.numLayers; ++i) {
            const std::string p = "model.layers." + std::to_string(i) + ".";
            t.push_back({p + "input_layernorm.weight", {H}});
            t.push_back({p + "post_attention_layernorm.weight", {H}});
            t.push_back({p + "self_attn.q_proj.weight", {qDim, H}});
            t.push_back({p + "self_attn.k_proj.weight", {kvDim, H}});
            t.push_back({p + "self_attn.v_proj.weight", {kvDim, H}});
            t.push_back({p + "self_attn.o_proj.weight", {H, qDim}});
            t.push_back({p + "self_attn.q_proj.bias", {qDim}, c.attentionBias});
            t.push_back({p + "self_attn.k_proj.bias", {kvDim}, c.attentionBias});
            t.push_back({p + "self_attn.v_proj.bias", {kvDim}, c.attentionBias});
            t.push_back({p + "self_attn.o_proj.bias", {H}, c.attentionOutBias});
            t.push_back({p + "mlp.gate_proj.weight", {F, H}});
            t.push_back({p + "mlp.up_proj.weight", {F, H}});
            t.push_back({p + "mlp.down_proj.weight", {H, F}});
            t.push_back({p + "mlp.gate_proj.bias", {F}, c.mlpBias});
            t.push_back({p + "mlp.up_proj.bias", {F}, c.mlpBias});
            t.push_back({p + "mlp.down_proj.bias", {H}, c.mlpBias});
            // Biases on the norms appear after AffineQuant merges shifts (spec §4.2).
            t.push_back({p + "input_layernorm.bias", {H}, false});
            t.push_back({p + "post_attention_layernorm.bias", {H}, false});
            // Dense post-norm matrices of AffineQuant's weight-only presets (kept, as the reference keeps them).
            t.push_back({p + "input_layernorm.post_matrix", {H, H}, false});
            t.push_back({p + "post_attention_layernorm.post_matrix", {H, H}, false});
        }
        t.push_back({"model.norm.weight", {H}});
        t.push_back({"model.norm.bias", {H}, false});
        t.push_back({"lm_head.weight", {V, H}, !c.tieWordEmbeddings});
    } else {
        const int64_t E = c.wordEmbedProjDim;
        t.push_back({"model.decoder.embed_tokens.weight", {V, E}});
        t.push_back({"model.decoder.embed_positions.weight", {c.maxPositionEmbeddings + 2, H}});
        if (E != H) {
            t.push_back({"model.decoder.project_in.weight", {H, E}});
            t.push_back({"model.decoder.project_out.weight", {E, H}});
        }
        for (int64_t i = 0; i < c.numLayers; ++i) {
            const std::string p = "model.decoder.layers." + std::to_string(i) + ".";
            for (const char* ln : {"self_attn_layer_norm", "final_layer_norm"}) {
                t.push_back({p + ln + ".weight", {H}});
                t.push_back({p + ln + ".bias", {H}});
                t.push_back({p + ln + ".post_matrix", {H, H}, false});
            }
            for (const char* proj : {"q_proj", "k_proj", "v_proj", "out_proj"}) {
                t.push_back({p + "self_attn." + proj + ".weight", {H, H}});
                t.push_back({p + "self_attn." + proj + ".bias", {H}, c.attentionBias});
            }
            t.push_back({p + "fc1.weight", {F, H}});
            t.push_back({p + "fc1.bias", {F}, c.mlpBias});
            t.push_back({p + "fc2.weight", {H, F}});
            t.push_back({p + "fc2.bias", {H}, c.mlpBias});
        }
        t.push_back({"model.decoder.final_layer_norm.weight", {H}, c.doLayerNormBefore});
        t.push_back({"model.decoder.final_layer_norm.bias", {H}, c.doLayerNormBefore});
        t.push_back({"lm_head.weight", {V, E}, !c.tieWordEmbeddings});
    }
    return t;
}

void Checkpoint::checkLayerCount() const
{
    // The sizes in config.json are checked against what the files hold before anything is built from them: the
    // expected-tensor list below has one entry per layer, so a num_hidden_layers of 10^9 must fail here, quickly.
    const std::string prefix = m_config.arch == Architecture::Opt ? "model.decoder.layers." : "model.layers.";
    std::set<int64_t> layers;
    for (const auto& name : names()) {
        if (name.compare(0, prefix.size(), prefix) != 0)
            continue;
        int64_t index = 0;
        size_t i = prefix.size();
        const size_t digits = name.find_first_not_of("0123456789", i);
        if (digits == i || digits == std::string::npos || name[digits] != '.' || digits - i > 9)
            continue;  // not a layer tensor; validate() reports unknown layouts through the tensors it misses
        for (; i < digits; ++i)
            index = index * 10 + (name[i] - '0');
        layers.insert(index);
    }
    const auto held = static_cast<int64_t>(layers.size());
    if (held != m_config.numLayers)
        badInput("'" + m_dir + "/config.json' says num_hidden_layers is " + std::to_string(m_config.numLayers) +
                 " but the weights hold " + std::to_string(held) + " layer" + (held == 1 ? "" : "s") +
                 ": the configuration does not belong to these weights");
    if (held > 0 && *layers.rbegin() != held - 1)
        badInput("the weights in '" + m_dir + "' number their layers up to " + std::to_string(*layers.rbegin()) +
                 " but hold only " + std::to_string(held) + ": some layers are missing");
}

void Checkpoint::validate() const
{
    checkLayerCount();
    for (const auto& e : expectedTensors(m_config)) {
        if (!contains(e.name)) {
            if (e.required)
                badInput("'" + m_dir + "' lacks tensor '" + e.name + "' that its config.json (" + m_config.modelType +
                         ", " + std::to_string(m_config.numLayers) + " layers) requires");
            continue;
        }
        const auto s = shape(e.name);
        if (s != e.shape)
            badInput("tensor '" + e.name + "' in '" + m_dir + "' has shape " + shapeString(s) + " but config.json implies " +
                     shapeString(e.shape) + ": the weights do not belong to this configuration");
        const std::string dt = dtypeName(e.name);
        if (dt != "F32" && dt != "F16" && dt != "BF16" && dt != "F64")
            badInput("tensor '" + e.name + "' has dtype " + dt + "; weights must be F32, F16 or BF16");
    }
}

}  // namespace aq::detail

namespace aq {

ModelSummary inspectModel(const std::string& modelDir)
{
    detail::Checkpoint ck(modelDir);
    ck.validate();
    ModelSummary s;
    s.modelDir = modelDir;
    s.config = ck.config();
    s.weightFormat = ck.format();
    s.weightBytes = ck.weightBytes();
    for (const auto& name : ck.names()) {
        TensorSummary t{name, ck.dtypeName(name), ck.shape(name), ck.fileOf(name)};
        int64_t n = 1;
        for (auto d : t.shape)
            n *= d;
        s.parameterCount += n;
        s.parametersByDtype[t.dtype] += n;
        s.tensors.push_back(std::move(t));
    }
    try {
        s.tokenizer = loadTokenizer(modelDir)->describe();
    } catch (const Error& e) {
        s.tokenizer = std::string("unavailable: ") + e.what();
    }
    return s;
}

}  // namespace aq
