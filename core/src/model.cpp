#include "model.h"

#include "aq/error.h"
#include "checkpoint.h"
#include "cpu_parallel.h"
#include "quantizer.h"

#include <torch/version.h>

#include <cmath>
#include <cstdlib>
#include <string>

namespace aq::detail {

const torch::Tensor& BlockWeights::at(const std::string& name) const
{
    auto it = tensors.find(name);
    if (it == tensors.end())
        throw Error(ErrorCode::Internal, "block weight '" + name + "' is missing");
    return it->second;
}

torch::Tensor BlockWeights::get(const std::string& name) const
{
    auto it = tensors.find(name);
    return it == tensors.end() ? torch::Tensor() : it->second;
}

std::string blockPrefix(const ModelConfig& config, int64_t layer)
{
    return (config.arch == Architecture::Opt ? "model.decoder.layers." : "model.layers.") + std::to_string(layer) + ".";
}

BlockWeights loadBlock(const Checkpoint& ck, int64_t layer, const torch::Device& device, torch::ScalarType dtype)
{
    BlockWeights w;
    const std::string prefix = blockPrefix(ck.config(), layer);
    for (const auto& name : ck.names())
        if (name.compare(0, prefix.size(), prefix) == 0)
            w.tensors[name.substr(prefix.size())] = ck.load(name).to(device, dtype);
    return w;
}

torch::Tensor ropeInverseFrequencies(const ModelConfig& c)
{
    const int64_t hd = c.headDim;
    auto exponents = torch::arange(0, hd, 2, torch::kInt64).to(torch::kFloat32) / static_cast<double>(hd);
    auto invFreq = 1.0 / torch::pow(torch::tensor(c.ropeTheta, torch::kFloat32), exponents);
    const auto& rs = c.ropeScaling;
    if (rs.type == RopeScaling::Type::Linear) {
        invFreq = invFreq / rs.factor;
    } else if (rs.type == RopeScaling::Type::Llama3) {
        const double oldLen = static_cast<double>(rs.originalMaxPositionEmbeddings);
        const double lowWavelen = oldLen / rs.lowFreqFactor;
        const double highWavelen = oldLen / rs.highFreqFactor;
        auto wavelen = 2.0 * M_PI / invFreq;
        auto scaled = torch::where(wavelen > lowWavelen, invFreq / rs.factor, invFreq);
        auto smooth = (oldLen / wavelen - rs.lowFreqFactor) / (rs.highFreqFactor - rs.lowFreqFactor);
        auto smoothed = (1.0 - smooth) * scaled / rs.factor + smooth * scaled;
        auto medium = torch::logical_and(wavelen >= highWavelen, wavelen <= lowWavelen);
        invFreq = torch::where(medium, smoothed, scaled);
    }
    return invFreq;
}

RopeTables makeRopeTables(const ModelConfig& c, int64_t seqlen, const torch::Device& device, torch::ScalarType dtype)
{
    auto invFreq = ropeInverseFrequencies(c).to(device);
    auto pos = torch::arange(seqlen, torch::TensorOptions().dtype(torch::kFloat32).device(device));
    auto freqs = torch::outer(pos, invFreq);
    auto emb = torch::cat({freqs, freqs}, -1);
    return {emb.cos().to(dtype), emb.sin().to(dtype)};
}

torch::Tensor rmsNorm(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias, double eps)
{
    auto xf = x.to(torch::kFloat32);
    auto normed = (xf * torch::rsqrt(xf.pow(2).mean(-1, true) + eps)).to(x.scalar_type());
    auto y = weight * normed;
    return bias.defined() ? y + bias : y;
}

torch::Tensor applyRope(const torch::Tensor& x, const RopeTables& rope)
{
    const int64_t half = x.size(-1) / 2;
    auto rotated = torch::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
    return x * rope.cos + rotated * rope.sin;
}

torch::Tensor causalMask(int64_t T, int64_t groups, const torch::Device& device)
{
    auto m = torch::ones({T, T}, torch::TensorOptions().dtype(torch::kBool).device(device)).triu(1);
    return groups > 1 ? m.repeat({groups, 1}) : m;
}

torch::Tensor causalAttention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, double scale)
{
    const int64_t B = q.size(0), nh = q.size(1), T = q.size(2), hd = q.size(3), nkv = k.size(1);
    const int64_t groups = nh / nkv;
#if TORCH_VERSION_MAJOR >= 2
    if (q.is_cuda()) {
        // Fused kernel on the GPU; K/V are repeated per group because older 2.x releases lack enable_gqa.
        auto kk = groups > 1 ? k.repeat_interleave(groups, 1) : k;
        auto vv = groups > 1 ? v.repeat_interleave(groups, 1) : v;
        return at::scaled_dot_product_attention(q, kk, vv, {}, 0.0, true, scale);
    }
#endif
    if (q.is_cpu() && q.scalar_type() == torch::kFloat32 && cpuParallelEnabled())
        return cpuCausalAttention(q, k, v, scale);  // tiles of query rows, key/value heads in parallel
    // Query heads that share a key/value head are stacked along the time axis, so K and V are never copied.
    auto qg = q.reshape({B, nkv, groups * T, hd});
    auto scores = torch::matmul(qg, k.transpose(-1, -2)).mul(scale);
    scores = scores.to(torch::kFloat32).masked_fill(causalMask(T, groups, q.device()), -std::numeric_limits<float>::infinity());
    auto probs = torch::softmax(scores, -1).to(q.scalar_type());
    return torch::matmul(probs, v).reshape({B, nh, T, hd});
}

namespace {
torch::Tensor postMatrix(const torch::Tensor& h, const BlockWeights& w, const std::string& norm)
{
    torch::Tensor c = w.get(norm + ".post_matrix");
    return c.defined() ? productOnCores(h, c) : h;
}

/// The layer's product with an input that is already fake-quantized.
torch::Tensor product(const BlockWeights& w, const std::string& name, const torch::Tensor& xq)
{
    const torch::Tensor& weight = w.at(name + ".weight");
    if (xq.is_cpu() && xq.scalar_type() == torch::kFloat32 && weight.scalar_type() == torch::kFloat32 && cpuParallelEnabled())
        return cpuLinear(xq, weight, w.get(name + ".bias"));  // the same products, row blocks in parallel
    return torch::linear(xq, weight, w.get(name + ".bias"));
}

torch::Tensor linear(const BlockWeights& w, const std::string& name, const torch::Tensor& x, int actBits)
{
    return product(w, name, fakeQuantActivation(x, actBits));
}

void probe(const BlockOptions& o, const char* site, const torch::Tensor& x)
{
    if (o.probe)
        o.probe(site, x);
}
}  // namespace

torch::Tensor llamaBlock(const ModelConfig& c, const BlockWeights& w, const torch::Tensor& x, const RopeTables& rope,
                         const BlockOptions& o)
{
    const int64_t B = x.size(0), T = x.size(1);
    const int bits = o.activationBits;
    auto h = rmsNorm(x, w.at("input_layernorm.weight"), w.get("input_layernorm.bias"), c.normEps);
    h = postMatrix(h, w, "input_layernorm");
    probe(o, "qkv", h);
    // One per-token quantization of the input that q, k and v share (each layer's own would give the same values).
    const auto hq = fakeQuantActivation(h, bits);
    auto q = product(w, "self_attn.q_proj", hq);
    auto k = product(w, "self_attn.k_proj", hq);
    auto v = product(w, "self_attn.v_proj", hq);
    q = q.view({B, T, c.numHeads, c.headDim}).transpose(1, 2);
    k = k.view({B, T, c.numKvHeads, c.headDim}).transpose(1, 2);
    v = v.view({B, T, c.numKvHeads, c.headDim}).transpose(1, 2);
    // q and k are quantized per (batch, head, token) after the rotary embedding, v per (batch, head, token).
    q = fakeQuantActivation(applyRope(q, rope), bits);
    k = fakeQuantActivation(applyRope(k, rope), bits);
    v = fakeQuantActivation(v, bits);
    auto a = causalAttention(q, k, v, 1.0 / std::sqrt(static_cast<double>(c.headDim)));
    a = a.transpose(1, 2).reshape({B, T, c.numHeads * c.headDim});
    probe(o, "out", a);
    auto out = x + linear(w, "self_attn.o_proj", a, bits);
    h = rmsNorm(out, w.at("post_attention_layernorm.weight"), w.get("post_attention_layernorm.bias"), c.normEps);
    h = postMatrix(h, w, "post_attention_layernorm");
    probe(o, "fc1", h);
    const auto hq2 = fakeQuantActivation(h, bits);
    auto gate = product(w, "mlp.gate_proj", hq2);
    auto up = product(w, "mlp.up_proj", hq2);
    auto act = torch::silu(gate) * up;
    probe(o, "down", act);
    return out + linear(w, "mlp.down_proj", act, bits);
}

namespace {
torch::Tensor layerNorm(const torch::Tensor& x, const BlockWeights& w, const std::string& name, double eps)
{
    return torch::layer_norm(x, {x.size(-1)}, w.at(name + ".weight"), w.at(name + ".bias"), eps);
}
}  // namespace

torch::Tensor optBlock(const ModelConfig& c, const BlockWeights& w, const torch::Tensor& x, const BlockOptions& o)
{
    const int64_t B = x.size(0), T = x.size(1);
    const bool pre = c.doLayerNormBefore;
    const int bits = o.activationBits;
    auto h = pre ? postMatrix(layerNorm(x, w, "self_attn_layer_norm", c.normEps), w, "self_attn_layer_norm") : x;
    probe(o, "qkv", h);
    // OPT quantizes q (after its scaling), k and v per token over the full hidden size, before the head split; the
    // three share one quantization of their input.
    const auto hq = fakeQuantActivation(h, bits);
    auto q = fakeQuantActivation(product(w, "self_attn.q_proj", hq) * (1.0 / std::sqrt(static_cast<double>(c.headDim))), bits);
    auto k = fakeQuantActivation(product(w, "self_attn.k_proj", hq), bits);
    auto v = fakeQuantActivation(product(w, "self_attn.v_proj", hq), bits);
    q = q.view({B, T, c.numHeads, c.headDim}).transpose(1, 2);
    k = k.view({B, T, c.numHeads, c.headDim}).transpose(1, 2);
    v = v.view({B, T, c.numHeads, c.headDim}).transpose(1, 2);
    auto a = causalAttention(q, k, v, 1.0);
    a = a.transpose(1, 2).reshape({B, T, c.hiddenSize});
    probe(o, "out", a);
    auto out = x + linear(w, "self_attn.out_proj", a, bits);
    if (!pre)
        out = layerNorm(out, w, "self_attn_layer_norm", c.normEps);
    h = pre ? postMatrix(layerNorm(out, w, "final_layer_norm", c.normEps), w, "final_layer_norm") : out;
    probe(o, "fc1", h);
    auto f = linear(w, "fc1", h, bits);
    f = c.activation == "gelu" ? torch::gelu(f) : torch::relu(f);
    probe(o, "down", f);
    out = out + linear(w, "fc2", f, bits);
    if (!pre)
        out = layerNorm(out, w, "final_layer_norm", c.normEps);
    return out;
}

torch::Tensor runDecoderBlock(const ModelConfig& c, const BlockWeights& w, const torch::Tensor& x, const RopeTables& rope,
                              const BlockOptions& o)
{
    return c.arch == Architecture::Llama ? llamaBlock(c, w, x, rope, o) : optBlock(c, w, x, o);
}

CausalLM::CausalLM(const Checkpoint& ck, const torch::Device& device, torch::ScalarType dtype)
    : m_config(ck.config()), m_device(device), m_dtype(dtype)
{
    ck.validate();
    auto load = [&](const std::string& name) { return ck.load(name).to(device, dtype); };
    auto loadOpt = [&](const std::string& name) { return ck.contains(name) ? load(name) : torch::Tensor(); };
    if (m_config.arch == Architecture::Llama) {
        m_embed = load("model.embed_tokens.weight");
        m_normWeight = load("model.norm.weight");
        m_normBias = loadOpt("model.norm.bias");
    } else {
        m_embed = load("model.decoder.embed_tokens.weight");
        m_positions = load("model.decoder.embed_positions.weight");
        m_projectIn = loadOpt("model.decoder.project_in.weight");
        m_projectOut = loadOpt("model.decoder.project_out.weight");
        m_normWeight = loadOpt("model.decoder.final_layer_norm.weight");
        m_normBias = loadOpt("model.decoder.final_layer_norm.bias");
    }
    m_lmHead = ck.contains("lm_head.weight") ? load("lm_head.weight") : m_embed;
    m_blocks.reserve(static_cast<size_t>(m_config.numLayers));
    for (int64_t i = 0; i < m_config.numLayers; ++i)
        m_blocks.push_back(loadBlock(ck, i, device, dtype));
}

torch::Tensor CausalLM::embed(const torch::Tensor& ids) const
{
    auto x = torch::embedding(m_embed, ids);
    if (m_config.arch == Architecture::Opt) {
        if (m_projectIn.defined())
            x = productOnCores(x, m_projectIn.t());
        // OPT's learned positions are offset by 2 (fairseq's padding convention).
        auto pos = torch::arange(2, ids.size(1) + 2, torch::TensorOptions().dtype(torch::kInt64).device(m_device));
        x = x + torch::embedding(m_positions, pos).unsqueeze(0);
    }
    return x;
}

RopeTables CausalLM::rope(int64_t seqlen) const
{
    if (m_config.arch != Architecture::Llama)
        return {};
    return makeRopeTables(m_config, seqlen, m_device, m_dtype);
}

torch::Tensor CausalLM::runBlock(int64_t i, const torch::Tensor& x, const RopeTables& rope) const
{
    BlockOptions o;
    o.activationBits = m_config.activationBits;
    return runDecoderBlock(m_config, block(i), x, rope, o);
}

torch::Tensor CausalLM::head(const torch::Tensor& x) const
{
    torch::Tensor h;
    if (m_config.arch == Architecture::Llama) {
        h = rmsNorm(x, m_normWeight, m_normBias, m_config.normEps);
    } else {
        h = m_normWeight.defined() ? torch::layer_norm(x, {x.size(-1)}, m_normWeight, m_normBias, m_config.normEps) : x;
        if (m_projectOut.defined())
            h = productOnCores(h, m_projectOut.t());
    }
    return productOnCores(h, m_lmHead.t());  // the largest product of an evaluation: over every core
}

torch::Tensor CausalLM::logits(const torch::Tensor& ids) const
{
    auto x = embed(ids);
    auto r = rope(ids.size(1));
    for (int64_t i = 0; i < numBlocks(); ++i)
        x = runBlock(i, x, r);
    return head(x);
}

}  // namespace aq::detail
