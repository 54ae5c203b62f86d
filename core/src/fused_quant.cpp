#include "fused_quant.h"

#include "aq/error.h"
#include "fused_quant_math.h"

#include <ATen/Parallel.h>
#include <torch/autograd.h>

#ifdef AQ_WITH_CUDA_KERNELS
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

#include <cfloat>
#include <cstdlib>
#include <cstring>
#include <limits>

namespace aq::detail {

namespace {

#ifdef AQ_WITH_CUDA_KERNELS
fq::Dtype dtypeOf(torch::ScalarType t)
{
    switch (t) {
    case torch::kFloat32: return fq::Dtype::Float32;
    case torch::kBFloat16: return fq::Dtype::BFloat16;
    case torch::kFloat16: return fq::Dtype::Float16;
    default: break;
    }
    throw Error(ErrorCode::Internal, std::string("fused fake quantization: unsupported dtype ") + c10::toString(t));
}
#endif

fq::RowState stateOf(torch::Tensor& delta, torch::Tensor& zero, torch::Tensor& rmax, torch::Tensor& rmin,
                     torch::Tensor& amax, torch::Tensor& amin)
{
    return {delta.data_ptr<float>(), zero.data_ptr<float>(), rmax.data_ptr<float>(), rmin.data_ptr<float>(),
            amax.data_ptr<int64_t>(), amin.data_ptr<int64_t>()};
}

template <typename Tin, typename Tout>
void forwardCpu(const Tin* x, Tout* y, const float* upper, const float* lower, fq::RowState st, const fq::Params& p)
{
    at::parallel_for(0, p.rows, 16, [&](int64_t begin, int64_t end) {
        for (int64_t row = begin; row < end; ++row) {
            const Tin* xr = x + row * p.n;
            float mx = -FLT_MAX, mn = FLT_MAX;
            int64_t imx = std::numeric_limits<int64_t>::max(), imn = imx;
            bool nan = false;
            for (int64_t j = 0; j < p.n; ++j) {
                const float v = static_cast<float>(xr[j]);
                if (v != v)
                    nan = true;
                if (v > mx) {
                    mx = v;
                    imx = j;
                }
                if (v < mn) {
                    mn = v;
                    imn = j;
                }
            }
            fq::RowQuant r = fq::rowQuant(mx, mn, p.lwc ? upper[row] : 0.0f, p.lwc ? lower[row] : 0.0f, p);
            if (nan)
                r.delta = std::numeric_limits<float>::quiet_NaN();
            st.delta[row] = r.delta;
            st.zero[row] = r.zero;
            st.rowMax[row] = mx;
            st.rowMin[row] = mn;
            st.argMax[row] = imx;
            st.argMin[row] = imn;
            Tout* yr = y + row * p.n;
            for (int64_t j = 0; j < p.n; ++j)
                yr[j] = static_cast<Tout>(fq::quantValue(static_cast<float>(xr[j]), r, p));
        }
    });
}

template <typename Tin, typename Tg>
void backwardCpu(const Tg* g, const Tin* x, Tin* dx, const float* upper, const float* lower, fq::RowState st, float* du,
                 float* dl, const fq::Params& p)
{
    at::parallel_for(0, p.rows, 16, [&](int64_t begin, int64_t end) {
        for (int64_t row = begin; row < end; ++row) {
            const Tin* xr = x + row * p.n;
            const Tg* gr = g + row * p.n;
            Tin* dxr = dx + row * p.n;
            const fq::RowQuant r{st.delta[row], st.zero[row]};
            float acc = 0;
            for (int64_t j = 0; j < p.n; ++j) {
                float d, dd;
                fq::elementGrad(static_cast<float>(xr[j]), static_cast<float>(gr[j]), r, p, d, dd);
                dxr[j] = static_cast<Tin>(d);
                acc += dd;
            }
            const fq::RowGrad rg = fq::rowGrad(acc, st.rowMax[row], st.rowMin[row], p.lwc ? upper[row] : 0.0f,
                                               p.lwc ? lower[row] : 0.0f, p);
            const int64_t imx = st.argMax[row], imn = st.argMin[row];
            if (imx >= 0 && imx < p.n)
                dxr[imx] = static_cast<Tin>(static_cast<float>(dxr[imx]) + rg.dRowMax);
            if (imn >= 0 && imn < p.n)
                dxr[imn] = static_cast<Tin>(static_cast<float>(dxr[imn]) + rg.dRowMin);
            if (du)
                du[row] = rg.dUpper;
            if (dl)
                dl[row] = rg.dLower;
        }
    });
}

template <typename F>
void dispatchCpu(torch::ScalarType t, F&& f)
{
    switch (t) {
    case torch::kFloat32: f(float{}); return;
    case torch::kBFloat16: f(c10::BFloat16{}); return;
    case torch::kFloat16: f(c10::Half{}); return;
    default: break;
    }
    throw Error(ErrorCode::Internal, std::string("fused fake quantization: unsupported dtype ") + c10::toString(t));
}

fq::Params paramsOf(int64_t rows, int64_t n, int64_t bits, bool symmetric, bool zeroInRange, bool clampDelta, bool lwc)
{
    fq::Params p;
    p.rows = rows;
    p.n = n;
    p.qmax = static_cast<float>(std::ldexp(1.0, static_cast<int>(bits)) - 1);
    p.half = static_cast<float>(std::ldexp(1.0, static_cast<int>(bits) - 1));
    p.symmetric = symmetric;
    p.zeroInRange = zeroInRange;
    p.clampDelta = clampDelta;
    p.lwc = lwc;
    return p;
}

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

class FusedFakeQuant : public torch::autograd::Function<FusedFakeQuant> {
public:
    static torch::Tensor forward(AutogradContext* ctx, torch::Tensor x, torch::Tensor upper, torch::Tensor lower,
                                 int64_t bits, bool symmetric, bool zeroInRange, bool clampDelta, int64_t outType)
    {
        const bool lwc = upper.numel() > 0;
        const int64_t rows = x.size(0), n = x.size(1);
        const fq::Params p = paramsOf(rows, n, bits, symmetric, zeroInRange, clampDelta, lwc);
        const auto fo = torch::TensorOptions().dtype(torch::kFloat32).device(x.device());
        const auto io = fo.dtype(torch::kInt64);
        auto delta = torch::empty({rows}, fo), zero = torch::empty({rows}, fo);
        auto rmax = torch::empty({rows}, fo), rmin = torch::empty({rows}, fo);
        auto amax = torch::empty({rows}, io), amin = torch::empty({rows}, io);
        const auto out = static_cast<torch::ScalarType>(outType);
        auto y = torch::empty({rows, n}, x.options().dtype(out));
        fq::RowState st = stateOf(delta, zero, rmax, rmin, amax, amin);
        const float* u = lwc ? upper.data_ptr<float>() : nullptr;
        const float* l = lwc ? lower.data_ptr<float>() : nullptr;
        if (x.is_cuda()) {
#ifdef AQ_WITH_CUDA_KERNELS
            const c10::cuda::CUDAGuard guard(x.device());
            const char* err = fq::forwardCuda(dtypeOf(x.scalar_type()), dtypeOf(out), x.data_ptr(), y.data_ptr(), u, l, st,
                                              p, c10::cuda::getCurrentCUDAStream().stream());
            if (err)
                throw Error(ErrorCode::Internal, std::string("fused fake quantization kernel: ") + err);
#else
            throw Error(ErrorCode::Internal, "fused fake quantization: this build has no CUDA kernels");
#endif
        } else {
            dispatchCpu(x.scalar_type(), [&](auto tin) {
                using Tin = decltype(tin);
                dispatchCpu(out, [&](auto tout) {
                    using Tout = decltype(tout);
                    forwardCpu<Tin, Tout>(x.data_ptr<Tin>(), y.data_ptr<Tout>(), u, l, st, p);
                });
            });
        }
        ctx->save_for_backward({x, upper, lower, delta, zero, rmax, rmin, amax, amin});
        ctx->saved_data["bits"] = bits;
        ctx->saved_data["symmetric"] = symmetric;
        ctx->saved_data["zero_in_range"] = zeroInRange;
        ctx->saved_data["clamp_delta"] = clampDelta;
        return y;
    }

    static variable_list backward(AutogradContext* ctx, variable_list grads)
    {
        auto saved = ctx->get_saved_variables();
        torch::Tensor x = saved[0], upper = saved[1], lower = saved[2];
        fq::RowState st = stateOf(saved[3], saved[4], saved[5], saved[6], saved[7], saved[8]);
        const bool lwc = upper.numel() > 0;
        const fq::Params p = paramsOf(x.size(0), x.size(1), ctx->saved_data["bits"].toInt(),
                                      ctx->saved_data["symmetric"].toBool(), ctx->saved_data["zero_in_range"].toBool(),
                                      ctx->saved_data["clamp_delta"].toBool(), lwc);
        torch::Tensor g = grads[0].contiguous();
        auto dx = torch::empty_like(x);
        torch::Tensor du, dl;
        if (lwc) {
            du = torch::empty_like(upper);
            dl = torch::empty_like(lower);
        }
        const float* u = lwc ? upper.data_ptr<float>() : nullptr;
        const float* l = lwc ? lower.data_ptr<float>() : nullptr;
        float* pdu = lwc ? du.data_ptr<float>() : nullptr;
        float* pdl = lwc ? dl.data_ptr<float>() : nullptr;
        if (x.is_cuda()) {
#ifdef AQ_WITH_CUDA_KERNELS
            const c10::cuda::CUDAGuard guard(x.device());
            const char* err = fq::backwardCuda(dtypeOf(x.scalar_type()), dtypeOf(g.scalar_type()), g.data_ptr(),
                                               x.data_ptr(), dx.data_ptr(), u, l, st, pdu, pdl, p,
                                               c10::cuda::getCurrentCUDAStream().stream());
            if (err)
                throw Error(ErrorCode::Internal, std::string("fused fake quantization kernel: ") + err);
#endif
        } else {
            dispatchCpu(x.scalar_type(), [&](auto tin) {
                using Tin = decltype(tin);
                dispatchCpu(g.scalar_type(), [&](auto tg) {
                    using Tg = decltype(tg);
                    backwardCpu<Tin, Tg>(g.data_ptr<Tg>(), x.data_ptr<Tin>(), dx.data_ptr<Tin>(), u, l, st, pdu, pdl, p);
                });
            });
        }
        return {dx, du, dl, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
    }
};

}  // namespace

bool fusedQuantCudaKernels()
{
#ifdef AQ_WITH_CUDA_KERNELS
    return true;
#else
    return false;
#endif
}

bool fusedQuantEnabled(const torch::Tensor& x)
{
    static const bool off = [] {
        const char* v = std::getenv("AQ_FUSED_QUANT");
        return v && std::strcmp(v, "0") == 0;
    }();
    if (off)
        return false;
    if (x.is_cuda())
        return fusedQuantCudaKernels();
    return x.is_cpu();
}

torch::Tensor fusedFakeQuantRows(const torch::Tensor& x, int bits, bool symmetric, bool zeroInRange, bool clampDelta,
                                 const torch::Tensor& upper, const torch::Tensor& lower,
                                 std::optional<torch::ScalarType> outType)
{
    const auto out = outType.value_or(x.scalar_type());
    if (bits >= 16)
        return x.to(out);
    const int64_t n = x.size(-1);
    auto rows = x.contiguous().view({-1, n});
    const bool lwc = upper.defined();
    auto empty = torch::empty({0}, torch::TensorOptions().dtype(torch::kFloat32).device(x.device()));
    auto u = lwc ? upper.to(torch::kFloat32).reshape({-1}).contiguous() : empty;
    auto l = lwc ? lower.to(torch::kFloat32).reshape({-1}).contiguous() : empty;
    if (lwc && (u.numel() != rows.size(0) || l.numel() != rows.size(0)))
        throw Error(ErrorCode::Internal, "fused fake quantization: one clipping parameter per row expected");
    auto y = FusedFakeQuant::apply(rows, u, l, static_cast<int64_t>(bits), symmetric, zeroInRange, clampDelta,
                                   static_cast<int64_t>(out));
    return y.view(x.sizes());
}

}  // namespace aq::detail
