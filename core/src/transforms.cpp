// One decoder block's learnable transforms (spec §4, §5, §6): the layout and activation statistics they start from,
// their initialization, their folding into the block's weights, and the no-grad adjustments between steps.
#include "transforms.h"

#include "aq/error.h"
#include "cpu_parallel.h"

#include <cmath>

namespace aq::detail {

std::vector<std::string> BlockLayout::linears() const
{
    std::vector<std::string> r = qkv;
    r.push_back(out);
    r.insert(r.end(), fc1.begin(), fc1.end());
    r.push_back(down);
    return r;
}

BlockLayout blockLayout(const ModelConfig& c)
{
    if (c.arch == Architecture::Opt)
        return {"self_attn_layer_norm", "final_layer_norm",
                {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"}, {"fc1"}, "self_attn.out_proj", "fc2"};
    return {"input_layernorm", "post_attention_layernorm",
            {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"}, {"mlp.up_proj", "mlp.gate_proj"},
            "self_attn.o_proj", "mlp.down_proj"};
}

void SiteStats::add(const torch::Tensor& x)
{
    torch::NoGradGuard ng;
    auto flat = x.detach().to(torch::kFloat32);
    for (int64_t b = 0; b < flat.size(0); ++b) {
        auto s = flat[b].reshape({-1, flat.size(-1)});
        auto mx = std::get<0>(s.max(0));
        auto mn = std::get<0>(s.min(0));
        auto am = torch::max(mx.abs(), mn.abs());
        auto mid = (mx + mn) / 2;
        if (!globalIndex.empty()) {
            // EMA weights of global sample k of n: 0.99^(n-1) for the first, 0.01 * 0.99^(n-1-k) after it.
            const int64_t k = globalIndex.at(static_cast<size_t>(added++));
            const double w = (k == 0 ? 1.0 : 0.01) * std::pow(0.99, static_cast<double>(globalCount - 1 - k));
            absMax = absMax.defined() ? torch::max(absMax, am) : am;
            shift = shift.defined() ? shift + w * mid : w * mid;
            continue;
        }
        if (!absMax.defined()) {
            absMax = am;
            shift = mid;
        } else {
            absMax = torch::max(absMax, am);
            shift = 0.99 * shift + 0.01 * mid;
        }
    }
}

std::vector<torch::Tensor> BlockTransforms::letParameters() const
{
    std::vector<torch::Tensor> p;
    for (const auto* t : {&s1, &d1, &s2, &d2, &s3, &d3, &s4})
        if (t->defined() && t->requires_grad())
            p.push_back(*t);
    return p;
}

std::vector<torch::Tensor> BlockTransforms::lwcParameters() const
{
    std::vector<torch::Tensor> p;
    for (const auto& [name, ul] : lwc) {
        p.push_back(ul.first);
        p.push_back(ul.second);
    }
    return p;
}

std::vector<torch::Tensor> BlockTransforms::all() const
{
    std::vector<torch::Tensor> p;
    for (const auto* t : {&s1, &d1, &s2, &d2, &s3, &d3, &s4})
        if (t->defined())
            p.push_back(*t);
    for (const auto& t : lwcParameters())
        p.push_back(t);
    return p;
}

BlockTransforms BlockTransforms::clone() const
{
    BlockTransforms c;
    auto cp = [](const torch::Tensor& t) {
        return t.defined() ? t.detach().clone().requires_grad_(t.requires_grad()) : torch::Tensor();
    };
    c.s1 = cp(s1), c.d1 = cp(d1), c.s2 = cp(s2), c.d2 = cp(d2), c.s3 = cp(s3), c.d3 = cp(d3), c.s4 = cp(s4);
    for (const auto& [n, ul] : lwc)
        c.lwc[n] = {cp(ul.first), cp(ul.second)};
    return c;
}

void BlockTransforms::copyFrom(const BlockTransforms& o)
{
    torch::NoGradGuard ng;
    auto mine = all();
    auto theirs = o.all();
    for (size_t i = 0; i < mine.size(); ++i)
        mine[i].copy_(theirs[i]);
}

torch::Tensor bandMask(int64_t n, int64_t band, double sf, const torch::TensorOptions& options)
{
    auto idx = torch::arange(n, options.dtype(torch::kInt64));
    auto dist = (idx.unsqueeze(1) - idx.unsqueeze(0)).abs();
    auto m = torch::zeros({n, n}, options);
    m.masked_fill_(dist.le(band - 1), sf);
    m.masked_fill_(dist.eq(0), 1.0);
    return m;
}

EpochMasks makeEpochMasks(const ModelConfig& model, const QuantConfig& q, int epoch, double sf,
                          const torch::TensorOptions& options)
{
    EpochMasks m;
    m.bigBand = maskBandWidth(model.hiddenSize, q.epochs, epoch);
    m.headBand = maskBandWidth(model.headDim, q.epochs, epoch);
    if (q.lnMatrix)
        m.big = bandMask(model.hiddenSize, m.bigBand, sf, options);
    m.head = bandMask(model.headDim, m.headBand, sf, options);
    return m;
}

LinearRole linearRole(const BlockLayout& layout, const std::string& linear)
{
    if (layout.qkv.size() == 3 && linear == layout.qkv[2])
        return LinearRole::AttentionValue;
    if (linear == layout.out)
        return LinearRole::AttentionOutput;
    if (linear == layout.down)
        return LinearRole::FfnDown;
    return LinearRole::Other;
}

std::map<std::string, WeightQuantSpec> weightSpecs(const ModelConfig& model, const QuantConfig& q, const BlockWeights& w,
                                                   int64_t block, std::vector<std::string>* fallback)
{
    std::map<std::string, WeightQuantSpec> specs;
    const BlockLayout layout = blockLayout(model);
    for (const auto& name : layout.linears()) {
        WeightQuantSpec s;
        s.bits = q.wbits;
        s.symmetric = q.symmetric;
        s.zeroInRange = q.zeroInRange;
        s.clampDelta = !q.referenceDeltaClamp;
        s.groupSize = q.groupSize;
        const int64_t in = w.at(name + ".weight").size(1);
        if (q.weightGrid != WeightGrid::Uniform && q.wbits < 16) {
            // The k-quant grid decides: LWC learns one range per sub-block.
            specs[name] = kquantSpec(tensorGrid(q.weightGrid, linearRole(layout, name), block, model.numLayers, model));
            continue;
        }
        if (q.groupSize > 0 && q.groupSize < in && in % q.groupSize != 0 && !q.partialGroups) {
            if (!q.perChannelFallback)
                badInput("group size " + std::to_string(q.groupSize) + " does not divide the input size " +
                         std::to_string(in) + " of " + name + " and partial groups are disabled");
            s.groupSize = 0;
            if (fallback)
                fallback->push_back(name);
        }
        specs[name] = s;
    }
    return specs;
}

namespace {

torch::Tensor maxOverRows(const torch::Tensor& w, bool signedMax)
{
    return signedMax ? std::get<0>(w.max(0)) : std::get<0>(w.abs().max(0));
}

/// s_j = clamp(a_j^alpha / w_j^(1 - alpha), 1e-5) (spec §6).
torch::Tensor smoothScale(const torch::Tensor& act, const torch::Tensor& wmax, double alpha)
{
    auto a = act.clamp_min(1e-5);
    auto w = wmax.clamp_min(1e-5);
    return (a.pow(alpha) / w.pow(1 - alpha)).clamp_min(1e-5);
}

/// Reduces per-query-channel statistics [nh*h] to the key/value channels [nkv*h] by the max over each group.
torch::Tensor toKvChannels(const torch::Tensor& x, const ModelConfig& m, bool mean)
{
    const int64_t groups = m.numHeads / m.numKvHeads;
    auto v = x.view({m.numKvHeads, groups, m.headDim});
    return (mean ? v.mean(1) : std::get<0>(v.max(1))).reshape({-1});
}

/// Replicates key/value-head tensors (leading dim nkv) over the query heads of each group.
torch::Tensor expandToQueryHeads(const torch::Tensor& x, const ModelConfig& m)
{
    const int64_t groups = m.numHeads / m.numKvHeads;
    return groups == 1 ? x : x.repeat_interleave(groups, 0);
}

torch::Tensor inverseOf(const torch::Tensor& a, bool f64)
{
    return f64 ? torch::inverse(a.to(torch::kFloat64)).to(a.scalar_type()) : torch::inverse(a);
}

torch::Tensor orZeros(const torch::Tensor& b, int64_t n, const torch::Tensor& like)
{
    return b.defined() ? b : torch::zeros({n}, like.options());
}

}  // namespace

BlockTransforms initTransforms(const ModelConfig& m, const QuantConfig& q, const BlockWeights& w,
                               const std::map<std::string, SiteStats>& stats,
                               const std::map<std::string, WeightQuantSpec>& specs, const torch::TensorOptions& o)
{
    torch::NoGradGuard ng;
    BlockTransforms t;
    const BlockLayout L = blockLayout(m);
    const int64_t d = m.hiddenSize, h = m.headDim, nkv = m.numKvHeads, kvDim = nkv * h;
    const bool opt = m.arch == Architecture::Opt;
    auto param = [&](torch::Tensor x, bool trainable) { return x.to(o).detach().clone().requires_grad_(trainable); };
    if (q.let) {
        const bool affine = q.method == Method::AffineQuant;
        auto siteScale = [&](const char* site, const std::string& rep) {
            return smoothScale(stats.at(site).absMax.to(o), maxOverRows(w.at(rep + ".weight").to(o), q.signedMaxInit), q.alpha);
        };
        auto shiftInit = [&](const char* site, int64_t n) {
            return opt ? stats.at(site).shift.to(o) : torch::zeros({n}, o);
        };
        auto s1 = siteScale("qkv", L.qkv[0]);
        auto s2 = siteScale("fc1", L.fc1[0]);
        t.s1 = param(q.lnMatrix ? torch::diag(s1) : s1, true);
        t.s2 = param(q.lnMatrix ? torch::diag(s2) : s2, true);
        t.d1 = param(shiftInit("qkv", d), q.trainShifts);
        t.d2 = param(shiftInit("fc1", d), q.trainShifts);
        // P3 lives on the key/value channels: o_proj statistics are reduced over each group's query heads.
        auto act3 = toKvChannels(stats.at("out").absMax.to(o), m, false);
        auto w3 = toKvChannels(maxOverRows(w.at(L.out + ".weight").to(o), q.signedMaxInit), m, false);
        auto s3 = smoothScale(act3, w3, q.alpha);
        t.s3 = param(affine ? torch::diag_embed(s3.view({nkv, h})) : s3, true);
        t.d3 = param(opt ? toKvChannels(stats.at("out").shift.to(o), m, true) : torch::zeros({kvDim}, o), q.trainShifts);
        t.s4 = param(q.qkMatrix && affine ? torch::eye(h, o).repeat({nkv, 1, 1}) : torch::ones({kvDim}, o), true);
    }
    if (q.lwc && q.wbits < 16)
        for (const auto& name : L.linears()) {
            const auto& wt = w.at(name + ".weight");
            const int64_t groups = groupsPerRow(wt.size(1), specs.at(name).groupSize);
            t.lwc[name] = {param(torch::full({wt.size(0), groups}, 4.0, o), true),
                           param(torch::full({wt.size(0), groups}, 4.0, o), true)};
        }
    return t;
}

void searchClipping(BlockTransforms& t, const BlockWeights& w, const std::map<std::string, WeightQuantSpec>& specs)
{
    torch::NoGradGuard ng;
    // The LWC parameters' initial value (4) and clipping factors below it, as sigmoid logits.
    std::vector<double> logits = {4.0};
    for (double c = 0.95; c > 0.70; c -= 0.03)
        logits.push_back(std::log(c / (1 - c)));
    for (auto& [name, params] : t.lwc) {
        const torch::Tensor weight = w.at(name + ".weight").to(torch::kFloat32);
        const WeightQuantSpec& spec = specs.at(name);
        const int64_t out = weight.size(0), in = weight.size(1), groups = params.first.size(1);
        if (in % groups != 0)
            continue;  // a partial last group: keep the default
        // A k-quant grid's groups (sub-blocks) share their super-block's factors: one factor per super-block.
        const int64_t together = spec.grid != WeightGrid::Uniform ? kSuperBlock / spec.groupSize : 1;
        if (groups % together != 0)
            continue;
        torch::Tensor best, bestLogit;
        for (double logit : logits) {
            const auto u = torch::full_like(params.first, logit);
            const auto err = (fakeQuantWeight(weight, spec, u, u) - weight).pow(2).view({out, groups / together, -1}).sum(-1);
            if (!best.defined()) {
                best = err;
                bestLogit = torch::full_like(err, logit);
                continue;
            }
            const auto better = err < best;
            best = torch::where(better, err, best);
            bestLogit = torch::where(better, torch::full_like(err, logit), bestLogit);
        }
        const auto chosen = bestLogit.repeat_interleave(together, 1);
        params.first.copy_(chosen.to(params.first.options()));
        params.second.copy_(chosen.to(params.second.options()));
    }
}

namespace {

/// What the steps of applyTransforms share: the block's dimensions and the weights being built.
struct Folding {
    const ModelConfig& m;
    const QuantConfig& q;
    const EpochMasks& masks;
    const TransformOptions& opt;
    BlockWeights& w;  // shallow: tensors are replaced, never modified in place
    int64_t d, h, nh, nkv;
    int64_t qDim, kvDim;

    torch::Tensor& W(const std::string& n) { return w.tensors[n + ".weight"]; }
    torch::Tensor bias(const std::string& n) const { return w.get(n + ".bias"); }
};

/// Inverse of A (a matrix or a batch of per-head matrices). With a cache (the fast path) and `refine`, the previous
/// step's inverse X0 is refined by one Newton-Schulz step X1 = X0 + X0 (I - A X0): quadratic convergence, A moves
/// little per step. The residual is tracked on the device; the caller falls back to an exact inverse when it grows.
torch::Tensor cachedInverse(const Folding& f, const std::string& key, const torch::Tensor& A, bool refine)
{
    const TransformOptions& opt = f.opt;
    torch::Tensor x0;
    if (opt.cache && refine) {
        auto it = opt.cache->inverse.find(key);
        if (it != opt.cache->inverse.end())
            x0 = it->second;
    }
    torch::Tensor inv;
    if (x0.defined()) {
        auto e = torch::eye(A.size(-1), A.options()) - torch::matmul(A, x0);
        inv = x0 + torch::matmul(x0, e);
        auto r = e.detach().abs().max();
        opt.cache->residual = opt.cache->residual.defined() ? torch::maximum(opt.cache->residual, r) : r;
        ++opt.cache->refined;
    } else {
        inv = inverseOf(A, f.q.inverseFloat64);
        if (opt.cache && refine)
            ++opt.cache->exact;
    }
    if (opt.cache && refine)
        opt.cache->inverse[key] = inv.detach();
    return inv;
}

/// Vectors and matrices applied to weights in the weights' dtype (bf16 on the fast path, float32 otherwise).
torch::Tensor as(const torch::Tensor& x, const torch::Tensor& like)
{
    return x.to(like.scalar_type());
}

/// P1 / P2: norm -> consumers.
void foldNormPair(Folding& f, const std::string& norm, const std::vector<std::string>& consumers,
                  const torch::Tensor& s, const torch::Tensor& delta, bool matrix)
{
    if (!s.defined())
        return;
    BlockWeights& w = f.w;
    const torch::Tensor beta = w.get(norm + ".bias");
    const torch::Tensor betaMinusDelta = beta.defined() ? beta - delta : -delta;
    torch::Tensor A;
    if (matrix) {
        A = s * f.masks.big;
        w.tensors[norm + ".bias"] = betaMinusDelta;
        w.tensors[norm + ".post_matrix"] = cachedInverse(f, norm, A, true);
    } else {
        w.tensors[norm + ".weight"] = w.at(norm + ".weight") / s;
        w.tensors[norm + ".bias"] = betaMinusDelta / s;
    }
    for (const auto& c : consumers) {
        const torch::Tensor w0 = f.W(c);
        // Biases stay float32 (delta's dtype) whatever the weights' dtype.
        w.tensors[c + ".bias"] =
            orZeros(f.bias(c), w0.size(0), delta) + torch::matmul(w0, as(delta, w0)).to(delta.scalar_type());
        if (matrix && f.opt.halfProducts)
            f.W(c) = torch::matmul(w0.to(torch::kBFloat16), A.to(torch::kBFloat16).t());
        else
            f.W(c) = matrix ? productOnCores(w0, as(A, w0).t()) : w0 * as(s, w0);
    }
}

/// P3: v output rows -> o_proj input columns, per key/value head (exact under any attention probabilities).
void foldValueOutput(Folding& f, const BlockTransforms& t, const std::string& vn, const std::string& on)
{
    if (!t.s3.defined())
        return;
    const ModelConfig& m = f.m;
    const int64_t d = f.d, h = f.h, nh = f.nh, nkv = f.nkv, qDim = f.qDim, kvDim = f.kvDim;
    BlockWeights& w = f.w;
    const torch::Tensor wv = f.W(vn), bv = orZeros(f.bias(vn), kvDim, t.d3), wo = f.W(on);
    const torch::Tensor deltaQ = expandToQueryHeads(t.d3.view({nkv, h}), m).reshape({qDim});
    w.tensors[on + ".bias"] =
        orZeros(f.bias(on), d, deltaQ) + torch::matmul(wo, as(deltaQ, wo)).to(deltaQ.scalar_type());
    if (t.s3.dim() == 3) {
        auto A = t.s3 * f.masks.head;
        auto Ainv = cachedInverse(f, "out", A, f.opt.refineHeadInverses);
        f.W(vn) = torch::bmm(Ainv.transpose(1, 2).to(wv.scalar_type()), wv.view({nkv, h, -1})).reshape({kvDim, -1});
        w.tensors[vn + ".bias"] =
            torch::bmm((bv - t.d3).to(Ainv.scalar_type()).view({nkv, 1, h}), Ainv).reshape({kvDim});
        auto Aq = expandToQueryHeads(A, m);
        f.W(on) = torch::bmm(wo.view({d, nh, h}).transpose(0, 1), as(Aq, wo).transpose(1, 2))
                      .transpose(0, 1)
                      .reshape({d, qDim});
    } else {
        f.W(vn) = wv / t.s3.unsqueeze(1).to(wv.scalar_type());
        w.tensors[vn + ".bias"] = (bv - t.d3) / t.s3;
        f.W(on) = wo * as(expandToQueryHeads(t.s3.view({nkv, h}), m).reshape({qDim}), wo);
    }
}

/// P4: q rows get A^-1 (per query head, the group's matrix), k rows get A.
void foldQueryKey(Folding& f, const BlockTransforms& t, const std::string& qn, const std::string& kn)
{
    if (!t.s4.defined())
        return;
    const ModelConfig& m = f.m;
    const int64_t h = f.h, nh = f.nh, nkv = f.nkv, qDim = f.qDim, kvDim = f.kvDim;
    BlockWeights& w = f.w;
    const torch::Tensor wq = f.W(qn), wk = f.W(kn), bq = f.bias(qn), bk = f.bias(kn);
    if (t.s4.dim() == 3) {
        auto A = t.s4 * f.masks.head;
        auto AinvQ = expandToQueryHeads(cachedInverse(f, "qkt", A, f.opt.refineHeadInverses), m);
        f.W(qn) = torch::bmm(AinvQ.transpose(1, 2).to(wq.scalar_type()), wq.view({nh, h, -1})).reshape({qDim, -1});
        if (bq.defined())
            w.tensors[qn + ".bias"] = torch::bmm(as(bq, AinvQ).view({nh, 1, h}), AinvQ).reshape({qDim});
        f.W(kn) = torch::bmm(A.to(wk.scalar_type()), wk.view({nkv, h, -1})).reshape({kvDim, -1});
        if (bk.defined())
            w.tensors[kn + ".bias"] = torch::bmm(as(bk, A).view({nkv, 1, h}), A.transpose(1, 2)).reshape({kvDim});
    } else {
        auto sq = expandToQueryHeads(t.s4.view({nkv, h}), m).reshape({qDim});
        f.W(qn) = wq / sq.unsqueeze(1).to(wq.scalar_type());
        if (bq.defined())
            w.tensors[qn + ".bias"] = bq / sq;
        f.W(kn) = wk * t.s4.unsqueeze(1).to(wk.scalar_type());
        if (bk.defined())
            w.tensors[kn + ".bias"] = bk * t.s4;
    }
}

/// Fake-quantizes every linear, with its learned clipping where LWC has some.
void fakeQuantizeLinears(Folding& f, const BlockLayout& L, const BlockTransforms& t,
                         const std::map<std::string, WeightQuantSpec>& specs)
{
    for (const auto& name : L.linears()) {
        auto it = t.lwc.find(name);
        const bool learn = it != t.lwc.end();
        f.W(name) = fakeQuantWeight(f.W(name), specs.at(name), learn ? it->second.first : torch::Tensor(),
                                    learn ? it->second.second : torch::Tensor(), f.opt.quantOut);
    }
}

}  // namespace

BlockWeights applyTransforms(const ModelConfig& m, const QuantConfig& q, const BlockWeights& orig, const BlockTransforms& t,
                             const EpochMasks& masks, const std::map<std::string, WeightQuantSpec>& specs, bool quantize,
                             const TransformOptions& opt)
{
    const BlockLayout L = blockLayout(m);
    BlockWeights w = orig;  // shallow: tensors are replaced, never modified in place
    Folding f{m, q, masks, opt, w, m.hiddenSize, m.headDim, m.numHeads, m.numKvHeads, 0, 0};
    f.qDim = f.nh * f.h;
    f.kvDim = f.nkv * f.h;
    foldNormPair(f, L.norm1, L.qkv, t.s1, t.d1, q.lnMatrix);
    foldNormPair(f, L.norm2, L.fc1, t.s2, t.d2, q.lnMatrix);
    const std::string& qn = L.qkv[0];
    const std::string& kn = L.qkv[1];
    const std::string& vn = L.qkv[2];
    foldValueOutput(f, t, vn, L.out);
    foldQueryKey(f, t, qn, kn);
    if (quantize && q.wbits < 16)
        fakeQuantizeLinears(f, L, t, specs);
    return w;
}

void truncateScales(BlockTransforms& t)
{
    torch::NoGradGuard ng;
    for (auto* s : {&t.s1, &t.s2, &t.s3, &t.s4}) {
        if (!s->defined())
            continue;
        auto small = s->abs().lt(0.01).logical_and(s->ne(0));
        s->copy_(torch::where(small, s->sign() * 0.01, *s));
    }
}

std::map<std::string, torch::Tensor> maskedMatrices(const BlockTransforms& t, const EpochMasks& masks)
{
    std::map<std::string, torch::Tensor> r;
    if (t.s1.defined() && t.s1.dim() == 2)
        r["qkv"] = (t.s1 * masks.big).unsqueeze(0);
    if (t.s2.defined() && t.s2.dim() == 2)
        r["fc1"] = (t.s2 * masks.big).unsqueeze(0);
    if (t.s3.defined() && t.s3.dim() == 3)
        r["out"] = t.s3 * masks.head;
    if (t.s4.defined() && t.s4.dim() == 3)
        r["qkt"] = t.s4 * masks.head;
    return r;
}

bool isPostNormMatrix(const std::string& name) { return name == "qkv" || name == "fc1"; }

void enforceDominance(BlockTransforms& t, const EpochMasks& masks)
{
    torch::NoGradGuard ng;
    auto fix = [](torch::Tensor& s, const torch::Tensor& mask) {
        auto a = (s * mask).abs();
        auto eye = torch::eye(a.size(-1), a.options()).to(torch::kBool);
        auto diag = a.diagonal(0, -2, -1);
        auto off = a.masked_fill(eye, 0).sum(-1);
        auto factor = torch::where(off.ge(diag), 0.99 * diag / off.clamp_min(1e-30), torch::ones_like(off));
        s.mul_(torch::where(eye, torch::ones_like(s), factor.unsqueeze(-1).expand_as(s)));
    };
    if (t.s1.defined() && t.s1.dim() == 2)
        fix(t.s1, masks.big);
    if (t.s2.defined() && t.s2.dim() == 2)
        fix(t.s2, masks.big);
    if (t.s3.defined() && t.s3.dim() == 3)
        fix(t.s3, masks.head);
    if (t.s4.defined() && t.s4.dim() == 3)
        fix(t.s4, masks.head);
}

}  // namespace aq::detail
