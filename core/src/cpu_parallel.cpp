// Causal attention and linear layers on the CPU, spread over LibTorch's thread pool, forward and backward.
#include "cpu_parallel.h"

#include <ATen/Parallel.h>
#include <torch/autograd.h>

#include <algorithm>
#include <dlfcn.h>
#include <cstdlib>
#include <cstring>
#include <limits>

namespace aq::detail {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

/// oneDNN's single-precision product, found at run time in the process (LibTorch links oneDNN; Debian's libtorch
/// loads libdnnl.so.2): on processors with AVX-512 its kernels run about twice as fast as OpenBLAS's (measured on the
/// development machine, one thread: 180-195 against 95-100 GFLOP/s on the demo model's shapes). Null when absent or
/// when AQ_CPU_GEMM=blas is set (for comparisons): then ATen's product (the BLAS library) runs.
using DnnlSgemm = int (*)(char, char, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*, int64_t,
                          float, float*, int64_t);

DnnlSgemm dnnlSgemm()
{
    static const DnnlSgemm f = []() -> DnnlSgemm {
        if (const char* v = std::getenv("AQ_CPU_GEMM"); v && std::strcmp(v, "blas") == 0)
            return nullptr;
        void* sym = dlsym(RTLD_DEFAULT, "dnnl_sgemm");
        if (!sym)
            if (void* lib = dlopen("libdnnl.so.2", RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD))
                sym = dlsym(lib, "dnnl_sgemm");
        return reinterpret_cast<DnnlSgemm>(sym);
    }();
    return f;
}

/// How a 2-D operand is laid out for a row-major product: 'N' rows contiguous, 'T' columns contiguous (a transposed
/// view), with its leading dimension; 0 when neither (the caller then copies it).
struct Layout {
    char trans = 0;
    int64_t ld = 0;
};
Layout layoutOf(const torch::Tensor& t)
{
    const int64_t r = t.size(0), c = t.size(1);
    if (t.stride(1) == 1 && t.stride(0) >= std::max<int64_t>(c, 1))
        return {'N', t.stride(0)};
    if (t.stride(0) == 1 && t.stride(1) >= std::max<int64_t>(r, 1))
        return {'T', t.stride(1)};
    return {};
}

/// out = a b (accumulate: out += a b) for 2-D float32 CPU tensors. Inside a task of the pool oneDNN runs on the
/// calling thread; called on its own (a product too small to split) it uses LibTorch's thread count itself.
void productInto(torch::Tensor& out, torch::Tensor a, torch::Tensor b, bool accumulate = false)
{
    const int64_t M = a.size(0), K = a.size(1), N = b.size(1);
    const DnnlSgemm sgemm = dnnlSgemm();
    Layout lo{'N', out.size(0) > 0 ? out.stride(0) : N};
    const bool outOk = out.stride(1) == 1 && lo.ld >= std::max<int64_t>(N, 1);
    auto aten = [&] {
        if (accumulate)
            out.addmm_(a, b);
        else
            at::mm_out(out, a, b);
    };
    if (!sgemm || !outOk || M == 0 || N == 0 || K == 0)
        return aten();
    Layout la = layoutOf(a), lb = layoutOf(b);
    if (!la.trans) {
        a = a.contiguous();
        la = {'N', K};
    }
    if (!lb.trans) {
        b = b.contiguous();
        lb = {'N', N};
    }
    // oneDNN checks its arguments before it writes anything: on a refusal ATen's product runs instead.
    if (sgemm(la.trans, lb.trans, M, N, K, 1.0f, a.data_ptr<float>(), la.ld, b.data_ptr<float>(), lb.ld,
              accumulate ? 1.0f : 0.0f, out.data_ptr<float>(), lo.ld) != 0)
        aten();
}

torch::Tensor product(const torch::Tensor& a, const torch::Tensor& b)
{
    auto out = torch::empty({a.size(0), b.size(1)}, a.options());
    productInto(out, a, b);
    return out;
}

/// Query rows per tile of the causal attention: a tile of rows [c0, c1) needs the keys [0, c1) only, so the scores
/// above the diagonal, a little under half of them for long sequences, are never computed, exponentiated or
/// differentiated. Smaller tiles skip more but cost more in dispatch.
constexpr int64_t kAttentionTile = 64;

/// Probabilities of one (batch, key/value head) task, tile after tile, each tile's n x c1 block contiguous: the
/// number of floats a task keeps.
int64_t tiledProbsSize(int64_t T, int64_t groups, int64_t tile)
{
    int64_t size = 0;
    for (int64_t c0 = 0; c0 < T; c0 += tile) {
        const int64_t c1 = std::min(T, c0 + tile);
        size += (c1 - c0) * c1;
    }
    return size * groups;
}

class CpuCausalAttention : public torch::autograd::Function<CpuCausalAttention> {
public:
    static torch::Tensor forward(AutogradContext* ctx, torch::Tensor q, torch::Tensor k, torch::Tensor v, double scale)
    {
        // Detached: the tasks run on pool threads, whose grad mode is their own; this function is the graph's node.
        q = q.detach().contiguous();
        k = k.detach().contiguous();
        v = v.detach().contiguous();
        const int64_t B = q.size(0), nh = q.size(1), T = q.size(2), hd = q.size(3), nkv = k.size(1);
        const int64_t groups = nh / nkv;
        // Query heads that share a key/value head are stacked along the time axis: [B, nkv, groups * T, hd].
        auto qg = q.view({B * nkv, groups * T, hd});
        auto kk = k.view({B * nkv, T, hd});
        auto vv = v.view({B * nkv, T, hd});
        const int64_t tile = std::min(T, kAttentionTile);
        auto probs = torch::empty({B * nkv, tiledProbsSize(T, groups, tile)}, q.options());
        auto out = torch::empty({B * nkv, groups * T, hd}, q.options());
        const auto above = torch::ones({tile, tile}, torch::TensorOptions().dtype(torch::kBool)).triu(1);
        const float inf = std::numeric_limits<float>::infinity();
        at::parallel_for(0, B * nkv, 1, [&](int64_t begin, int64_t end) {
            const torch::NoGradGuard noGrad;
            for (int64_t i = begin; i < end; ++i) {
                const auto qi = qg.select(0, i), ki = kk.select(0, i), vi = vv.select(0, i);
                const auto pi = probs.select(0, i), oi = out.select(0, i);
                int64_t offset = 0;
                for (int64_t j = 0; j < groups; ++j)
                    for (int64_t c0 = 0; c0 < T; c0 += tile) {
                        const int64_t c1 = std::min(T, c0 + tile), n = c1 - c0, r0 = j * T + c0;
                        auto scores = product(qi.narrow(0, r0, n), ki.narrow(0, 0, c1).t());
                        scores.mul_(scale);
                        scores.narrow(1, c0, n).masked_fill_(above.narrow(0, 0, n).narrow(1, 0, n), -inf);
                        auto p = pi.narrow(0, offset, n * c1).view({n, c1});
                        offset += n * c1;
                        at::_softmax_out(p, scores, -1, false);
                        auto o = oi.narrow(0, r0, n);
                        productInto(o, p, vi.narrow(0, 0, c1));
                    }
            }
        });
        ctx->save_for_backward({qg, kk, vv, probs});
        ctx->saved_data["scale"] = scale;
        ctx->saved_data["shape"] = c10::IntArrayRef{B, nh, T, hd, nkv};
        return out.view({B, nh, T, hd});
    }

    static variable_list backward(AutogradContext* ctx, variable_list grads)
    {
        auto saved = ctx->get_saved_variables();
        const torch::Tensor qg = saved[0], kk = saved[1], vv = saved[2], probs = saved[3];
        const double scale = ctx->saved_data["scale"].toDouble();
        const auto shape = ctx->saved_data["shape"].toIntVector();
        const int64_t B = shape[0], nh = shape[1], T = shape[2], hd = shape[3], nkv = shape[4];
        const int64_t groups = nh / nkv;
        const int64_t tile = std::min(T, kAttentionTile);
        auto g = grads[0].detach().contiguous().view({B * nkv, groups * T, hd});
        auto dq = torch::empty_like(qg), dk = torch::zeros_like(kk), dv = torch::zeros_like(vv);
        at::parallel_for(0, B * nkv, 1, [&](int64_t begin, int64_t end) {
            const torch::NoGradGuard noGrad;
            for (int64_t i = begin; i < end; ++i) {
                const auto qi = qg.select(0, i), ki = kk.select(0, i), vi = vv.select(0, i);
                const auto pi = probs.select(0, i), gi = g.select(0, i), dqi = dq.select(0, i);
                auto dki = dk.select(0, i), dvi = dv.select(0, i);
                int64_t offset = 0;
                for (int64_t j = 0; j < groups; ++j)
                    for (int64_t c0 = 0; c0 < T; c0 += tile) {
                        const int64_t c1 = std::min(T, c0 + tile), n = c1 - c0, r0 = j * T + c0;
                        const auto p = pi.narrow(0, offset, n * c1).view({n, c1});
                        offset += n * c1;
                        const auto go = gi.narrow(0, r0, n), qt = qi.narrow(0, r0, n);
                        auto dvt = dvi.narrow(0, 0, c1);
                        productInto(dvt, p.t(), go, true);                        // dV += P^T dO
                        auto dp = product(go, vi.narrow(0, 0, c1).t());           // dP = dO V^T
                        auto ds = at::_softmax_backward_data(dp, p, -1, p.scalar_type());
                        ds.mul_(scale);                     // masked entries have P = 0: their dS is 0
                        auto dqt = dqi.narrow(0, r0, n);
                        productInto(dqt, ds, ki.narrow(0, 0, c1));                // dQ = dS K
                        auto dkt = dki.narrow(0, 0, c1);
                        productInto(dkt, ds.t(), qt, true);                       // dK += dS^T Q
                    }
            }
        });
        return {dq.view({B, nh, T, hd}), dk.view({B, nkv, T, hd}), dv.view({B, nkv, T, hd}), torch::Tensor()};
    }
};

/// Splits [0, n) into one contiguous block per thread of the pool (at least `minRows` rows a block) and runs
/// f(begin, end) for each, in parallel.
template <typename F>
void forRowBlocks(int64_t n, int64_t minRows, const F& f)
{
    const int64_t threads = std::max<int64_t>(1, at::get_num_threads());
    const int64_t blocks = std::max<int64_t>(1, std::min(threads, n / std::max<int64_t>(1, minRows)));
    const int64_t per = (n + blocks - 1) / blocks;
    at::parallel_for(0, blocks, 1, [&](int64_t b0, int64_t b1) {
        const torch::NoGradGuard noGrad;
        for (int64_t b = b0; b < b1; ++b) {
            const int64_t begin = b * per, end = std::min(n, begin + per);
            if (begin < end)
                f(begin, end);
        }
    });
}

class CpuLinear : public torch::autograd::Function<CpuLinear> {
public:
    static constexpr int64_t kMinRows = 64;  // smaller blocks cost more in dispatch than they gain

    static torch::Tensor forward(AutogradContext* ctx, torch::Tensor x, torch::Tensor w, torch::Tensor b)
    {
        const int64_t in = w.size(1), out = w.size(0);
        auto x2 = x.detach().reshape({-1, in}).contiguous();
        auto wd = w.detach().contiguous();
        const int64_t n = x2.size(0);
        auto y = torch::empty({n, out}, x2.options());
        forRowBlocks(n, kMinRows, [&](int64_t r0, int64_t r1) {
            auto yb = y.narrow(0, r0, r1 - r0);
            productInto(yb, x2.narrow(0, r0, r1 - r0), wd.t());
        });
        if (b.defined() && b.numel() > 0)
            y.add_(b.detach());
        ctx->save_for_backward({x2, wd});
        ctx->saved_data["has_bias"] = b.defined() && b.numel() > 0;
        ctx->saved_data["x_sizes"] = x.sizes();
        auto sizes = x.sizes().vec();
        sizes.back() = out;
        return y.view(sizes);
    }

    static variable_list backward(AutogradContext* ctx, variable_list grads)
    {
        auto saved = ctx->get_saved_variables();
        const torch::Tensor x2 = saved[0], w = saved[1];
        const int64_t in = w.size(1), out = w.size(0);
        auto g = grads[0].detach().reshape({-1, out}).contiguous();
        const int64_t n = g.size(0);
        torch::Tensor dx, dw, db;
        if (ctx->needs_input_grad(0)) {
            dx = torch::empty({n, in}, g.options());
            forRowBlocks(n, kMinRows, [&](int64_t r0, int64_t r1) {
                auto db0 = dx.narrow(0, r0, r1 - r0);
                productInto(db0, g.narrow(0, r0, r1 - r0), w);
            });
        }
        if (ctx->needs_input_grad(1)) {
            dw = torch::empty({out, in}, g.options());
            forRowBlocks(out, kMinRows, [&](int64_t r0, int64_t r1) {
                auto dwb = dw.narrow(0, r0, r1 - r0);
                productInto(dwb, g.narrow(1, r0, r1 - r0).t(), x2);
            });
        }
        if (ctx->saved_data["has_bias"].toBool() && ctx->needs_input_grad(2))
            db = g.sum(0);
        if (dx.defined())
            dx = dx.view(ctx->saved_data["x_sizes"].toIntVector());
        return {dx, dw, db};
    }
};

}  // namespace

torch::Tensor cpuLinear(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b)
{
    // No bias: an empty tensor (the autograd function takes tensors only).
    return CpuLinear::apply(x, w, b.defined() ? b : torch::empty({0}, x.options()));
}

bool cpuParallelEnabled()
{
    static const bool on = [] {
        const char* v = std::getenv("AQ_CPU_PARALLEL");
        return !(v && std::strcmp(v, "0") == 0);
    }();
    return on;
}

torch::Tensor productOnCores(const torch::Tensor& a, const torch::Tensor& b)
{
    if (a.is_cpu() && b.is_cpu() && a.scalar_type() == torch::kFloat32 && b.scalar_type() == torch::kFloat32 &&
        a.dim() >= 1 && b.dim() == 2 && cpuParallelEnabled())
        return cpuLinear(a, b.t(), torch::Tensor());
    return torch::matmul(a, b);
}

torch::Tensor cpuCausalAttention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, double scale)
{
    return CpuCausalAttention::apply(q, k, v, scale);
}

}  // namespace aq::detail
