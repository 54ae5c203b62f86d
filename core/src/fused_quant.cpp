#include "fused_quant.h"

#include "aq/error.h"
#include "fused_quant_math.h"

#include <ATen/Parallel.h>
#include <torch/autograd.h>

#ifdef AQ_WITH_CUDA_KERNELS
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

#include <atomic>
#include <cfloat>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <type_traits>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define AQ_FQ_AVX2 1
#endif

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

/// Raw max / min of a row and the first index of each, as the scalar loop in forwardCpu finds them: NaN never becomes
/// the max or min (it sets `nan`), and an index stays at INT64_MAX when no element passes -FLT_MAX / FLT_MAX.
struct RowExtremes {
    float mx = -FLT_MAX, mn = FLT_MAX;
    int64_t imx = std::numeric_limits<int64_t>::max(), imn = std::numeric_limits<int64_t>::max();
    bool nan = false;
};

template <typename Tin>
RowExtremes rowExtremes(const Tin* xr, int64_t n)
{
    RowExtremes e;
    for (int64_t j = 0; j < n; ++j) {
        const float v = static_cast<float>(xr[j]);
        if (v != v)
            e.nan = true;
        if (v > e.mx) {
            e.mx = v;
            e.imx = j;
        }
        if (v < e.mn) {
            e.mn = v;
            e.imn = j;
        }
    }
    return e;
}

template <typename Tin, typename Tout>
void quantizeRow(const Tin* xr, Tout* yr, int64_t n, fq::RowQuant r, const fq::Params& p)
{
    for (int64_t j = 0; j < n; ++j)
        yr[j] = static_cast<Tout>(fq::quantValue(static_cast<float>(xr[j]), r, p));
}

/// Returns the sum of the elements' shares of d(step) (the row's order of additions).
template <typename Tin, typename Tg>
float gradRow(const Tg* gr, const Tin* xr, Tin* dxr, int64_t n, fq::RowQuant r, const fq::Params& p)
{
    float acc = 0;
    for (int64_t j = 0; j < n; ++j) {
        float d, dd;
        fq::elementGrad(static_cast<float>(xr[j]), static_cast<float>(gr[j]), r, p, d, dd);
        dxr[j] = static_cast<Tin>(d);
        acc += dd;
    }
    return acc;
}

#ifdef AQ_FQ_AVX2
// float32 rows eight elements at a time. The same IEEE operations as fused_quant_math.h element by element (division,
// rounding to nearest even in the current mode, the NaN-passing clamp, subtraction, product; no fused multiply-add:
// the functions are compiled for AVX2 without FMA), so the quantized values are bitwise those of the scalar loops.
// Only the sum of a row's shares of d(step) is added in another order (eight partial sums).

std::atomic<bool> gVectorOn{true};

bool haveAvx2()
{
    static const bool yes = __builtin_cpu_supports("avx2");
    return yes && gVectorOn.load(std::memory_order_relaxed);
}

/// Index of the first element equal to v (which the row holds).
__attribute__((target("avx2"))) int64_t firstEqualAvx2(const float* xr, int64_t n, float v)
{
    const __m256 vv = _mm256_set1_ps(v);
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) {
        const int bits = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(xr + j), vv, _CMP_EQ_OQ));
        if (bits)
            return j + __builtin_ctz(static_cast<unsigned>(bits));
    }
    for (; j < n; ++j)
        if (xr[j] == v)
            return j;
    return n - 1;  // not reached: v is one of the row's elements
}

__attribute__((target("avx2"))) RowExtremes rowExtremesAvx2(const float* xr, int64_t n)
{
    __m256 vmx = _mm256_set1_ps(-FLT_MAX), vmn = _mm256_set1_ps(FLT_MAX), vnan = _mm256_setzero_ps();
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) {
        const __m256 v = _mm256_loadu_ps(xr + j);
        vnan = _mm256_or_ps(vnan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
        vmx = _mm256_max_ps(v, vmx);  // a NaN in v yields the second operand: NaN is skipped
        vmn = _mm256_min_ps(v, vmn);
    }
    alignas(32) float bmx[8], bmn[8];
    _mm256_store_ps(bmx, vmx);
    _mm256_store_ps(bmn, vmn);
    RowExtremes e;
    e.nan = _mm256_movemask_ps(vnan) != 0;
    float mx = -FLT_MAX, mn = FLT_MAX;
    for (int k = 0; k < 8; ++k) {
        mx = bmx[k] > mx ? bmx[k] : mx;
        mn = bmn[k] < mn ? bmn[k] : mn;
    }
    for (; j < n; ++j) {
        const float v = xr[j];
        e.nan = e.nan || v != v;
        mx = v > mx ? v : mx;
        mn = v < mn ? v : mn;
    }
    // The scalar loop keeps the first element equal to the max (and that element's value: the sign of a zero).
    if (mx > -FLT_MAX) {
        e.imx = firstEqualAvx2(xr, n, mx);
        e.mx = xr[e.imx];
    }
    if (mn < FLT_MAX) {
        e.imn = firstEqualAvx2(xr, n, mn);
        e.mn = xr[e.imn];
    }
    return e;
}

/// clampNan of fused_quant_math.h: t < lo ? lo : (t > hi ? hi : t), NaN passing through.
__attribute__((target("avx2"))) inline __m256 clampNanAvx2(__m256 t, __m256 lo, __m256 hi)
{
    t = _mm256_blendv_ps(t, hi, _mm256_cmp_ps(t, hi, _CMP_GT_OQ));
    return _mm256_blendv_ps(t, lo, _mm256_cmp_ps(t, lo, _CMP_LT_OQ));
}

__attribute__((target("avx2"))) void quantizeRowAvx2(const float* xr, float* yr, int64_t n, fq::RowQuant r,
                                                     const fq::Params& p)
{
    const __m256 d = _mm256_set1_ps(r.delta), z = _mm256_set1_ps(r.zero);
    const __m256 lo = _mm256_setzero_ps(), hi = _mm256_set1_ps(p.qmax);
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) {
        const __m256 v = _mm256_div_ps(_mm256_loadu_ps(xr + j), d);
        const __m256 t = _mm256_add_ps(_mm256_round_ps(v, _MM_FROUND_CUR_DIRECTION), z);
        _mm256_storeu_ps(yr + j, _mm256_mul_ps(_mm256_sub_ps(clampNanAvx2(t, lo, hi), z), d));
    }
    for (; j < n; ++j)
        yr[j] = fq::quantValue(xr[j], r, p);
}

__attribute__((target("avx2"))) float gradRowAvx2(const float* gr, const float* xr, float* dxr, int64_t n,
                                                  fq::RowQuant r, const fq::Params& p)
{
    const __m256 d = _mm256_set1_ps(r.delta), z = _mm256_set1_ps(r.zero);
    const __m256 lo = _mm256_setzero_ps(), hi = _mm256_set1_ps(p.qmax);
    __m256 acc = _mm256_setzero_ps();
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) {
        const __m256 g = _mm256_loadu_ps(gr + j);
        const __m256 v = _mm256_div_ps(_mm256_loadu_ps(xr + j), d);
        const __m256 t = _mm256_add_ps(_mm256_round_ps(v, _MM_FROUND_CUR_DIRECTION), z);
        const __m256 inside = _mm256_and_ps(_mm256_cmp_ps(t, lo, _CMP_GE_OQ), _mm256_cmp_ps(t, hi, _CMP_LE_OQ));
        const __m256 q = clampNanAvx2(t, lo, hi);
        _mm256_storeu_ps(dxr + j, _mm256_and_ps(inside, g));
        acc = _mm256_add_ps(acc, _mm256_mul_ps(g, _mm256_sub_ps(_mm256_sub_ps(q, z), _mm256_and_ps(inside, v))));
    }
    alignas(32) float parts[8];
    _mm256_store_ps(parts, acc);
    float sum = ((parts[0] + parts[1]) + (parts[2] + parts[3])) + ((parts[4] + parts[5]) + (parts[6] + parts[7]));
    for (; j < n; ++j) {
        float dx, dd;
        fq::elementGrad(xr[j], gr[j], r, p, dx, dd);
        dxr[j] = dx;
        sum += dd;
    }
    return sum;
}
#endif

template <typename Tin, typename Tout>
void forwardCpu(const Tin* x, Tout* y, const float* upper, const float* lower, fq::RowState st, const fq::Params& p)
{
    constexpr bool f32 = std::is_same_v<Tin, float> && std::is_same_v<Tout, float>;
    at::parallel_for(0, p.rows, 16, [&](int64_t begin, int64_t end) {
        for (int64_t row = begin; row < end; ++row) {
            const Tin* xr = x + row * p.n;
            Tout* yr = y + row * p.n;
            RowExtremes e;
#ifdef AQ_FQ_AVX2
            if constexpr (f32)
                e = haveAvx2() ? rowExtremesAvx2(xr, p.n) : rowExtremes(xr, p.n);
            else
#endif
                e = rowExtremes(xr, p.n);
            fq::RowQuant r = fq::rowQuant(e.mx, e.mn, p.lwc ? upper[row] : 0.0f, p.lwc ? lower[row] : 0.0f, p);
            if (e.nan)
                r.delta = std::numeric_limits<float>::quiet_NaN();
            st.delta[row] = r.delta;
            st.zero[row] = r.zero;
            st.rowMax[row] = e.mx;
            st.rowMin[row] = e.mn;
            st.argMax[row] = e.imx;
            st.argMin[row] = e.imn;
#ifdef AQ_FQ_AVX2
            if constexpr (f32)
                if (haveAvx2()) {
                    quantizeRowAvx2(xr, yr, p.n, r, p);
                    continue;
                }
#endif
            quantizeRow(xr, yr, p.n, r, p);
        }
    });
}

template <typename Tin, typename Tg>
void backwardCpu(const Tg* g, const Tin* x, Tin* dx, const float* upper, const float* lower, fq::RowState st, float* du,
                 float* dl, const fq::Params& p)
{
    constexpr bool f32 = std::is_same_v<Tin, float> && std::is_same_v<Tg, float>;
    at::parallel_for(0, p.rows, 16, [&](int64_t begin, int64_t end) {
        for (int64_t row = begin; row < end; ++row) {
            const Tin* xr = x + row * p.n;
            const Tg* gr = g + row * p.n;
            Tin* dxr = dx + row * p.n;
            const fq::RowQuant r{st.delta[row], st.zero[row]};
            float acc;
#ifdef AQ_FQ_AVX2
            if constexpr (f32)
                acc = haveAvx2() ? gradRowAvx2(gr, xr, dxr, p.n, r, p) : gradRow(gr, xr, dxr, p.n, r, p);
            else
#endif
                acc = gradRow(gr, xr, dxr, p.n, r, p);
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

bool fusedQuantVectorized()
{
#ifdef AQ_FQ_AVX2
    return haveAvx2();
#else
    return false;
#endif
}

void setFusedQuantVectorized(bool on)
{
#ifdef AQ_FQ_AVX2
    gVectorOn = on;
#else
    (void)on;
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
