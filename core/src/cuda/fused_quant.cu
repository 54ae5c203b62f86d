// Fused row-wise fake quantization on CUDA: one thread block per row (group / channel / token). The forward pass
// reads the row twice (max/min, then quantize) and writes the result in the requested dtype; the backward pass reads
// the row and the incoming gradient once and writes the input gradient, the clipping-parameter gradients and the
// gradient of the row's extreme elements. Arithmetic: fused_quant_math.h (shared with the CPU loops).
#include "../fused_quant_math.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cfloat>

namespace aq::detail::fq {
namespace {

__device__ __forceinline__ float toF(float v) { return v; }
__device__ __forceinline__ float toF(__nv_bfloat16 v) { return __bfloat162float(v); }
__device__ __forceinline__ float toF(__half v) { return __half2float(v); }

template <typename T>
__device__ __forceinline__ T fromF(float v);
template <>
__device__ __forceinline__ float fromF<float>(float v) { return v; }
template <>
__device__ __forceinline__ __nv_bfloat16 fromF<__nv_bfloat16>(float v) { return __float2bfloat16(v); }
template <>
__device__ __forceinline__ __half fromF<__half>(float v) { return __float2half(v); }

constexpr int kMaxWarps = 32;

struct MaxMin {
    float mx, mn;
    int64_t imx, imn;
    int nan;
};

__device__ __forceinline__ void combine(MaxMin& a, float mx, int64_t imx, float mn, int64_t imn, int nan)
{
    if (mx > a.mx || (mx == a.mx && imx < a.imx)) {
        a.mx = mx;
        a.imx = imx;
    }
    if (mn < a.mn || (mn == a.mn && imn < a.imn)) {
        a.mn = mn;
        a.imn = imn;
    }
    a.nan |= nan;
}

/// Block-wide max / min with first-index tie breaking; every thread gets the result.
__device__ MaxMin blockMaxMin(MaxMin v)
{
    __shared__ float smx[kMaxWarps], smn[kMaxWarps];
    __shared__ int64_t simx[kMaxWarps], simn[kMaxWarps];
    __shared__ int snan[kMaxWarps];
    for (int off = 16; off > 0; off >>= 1) {
        const float mx = __shfl_down_sync(0xffffffffu, v.mx, off);
        const float mn = __shfl_down_sync(0xffffffffu, v.mn, off);
        const int64_t imx = __shfl_down_sync(0xffffffffu, v.imx, off);
        const int64_t imn = __shfl_down_sync(0xffffffffu, v.imn, off);
        const int nan = __shfl_down_sync(0xffffffffu, v.nan, off);
        combine(v, mx, imx, mn, imn, nan);
    }
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) {
        smx[warp] = v.mx;
        smn[warp] = v.mn;
        simx[warp] = v.imx;
        simn[warp] = v.imn;
        snan[warp] = v.nan;
    }
    __syncthreads();
    const int warps = (blockDim.x + 31) >> 5;
    if (warp == 0) {
        MaxMin r{-FLT_MAX, FLT_MAX, INT64_MAX, INT64_MAX, 0};
        if (lane < warps)
            r = MaxMin{smx[lane], smn[lane], simx[lane], simn[lane], snan[lane]};
        for (int off = 16; off > 0; off >>= 1) {
            const float mx = __shfl_down_sync(0xffffffffu, r.mx, off);
            const float mn = __shfl_down_sync(0xffffffffu, r.mn, off);
            const int64_t imx = __shfl_down_sync(0xffffffffu, r.imx, off);
            const int64_t imn = __shfl_down_sync(0xffffffffu, r.imn, off);
            const int nan = __shfl_down_sync(0xffffffffu, r.nan, off);
            combine(r, mx, imx, mn, imn, nan);
        }
        if (lane == 0) {
            smx[0] = r.mx;
            smn[0] = r.mn;
            simx[0] = r.imx;
            simn[0] = r.imn;
            snan[0] = r.nan;
        }
    }
    __syncthreads();
    MaxMin out{smx[0], smn[0], simx[0], simn[0], snan[0]};
    __syncthreads();
    return out;
}

__device__ float blockSum(float v)
{
    __shared__ float s[kMaxWarps];
    for (int off = 16; off > 0; off >>= 1)
        v += __shfl_down_sync(0xffffffffu, v, off);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0)
        s[warp] = v;
    __syncthreads();
    const int warps = (blockDim.x + 31) >> 5;
    float r = 0;
    if (warp == 0) {
        r = lane < warps ? s[lane] : 0.0f;
        for (int off = 16; off > 0; off >>= 1)
            r += __shfl_down_sync(0xffffffffu, r, off);
    }
    return r;  // valid in thread 0
}

template <typename Tin, typename Tout>
__global__ void forwardKernel(const Tin* __restrict__ x, Tout* __restrict__ y, const float* __restrict__ upper,
                              const float* __restrict__ lower, RowState st, Params p)
{
    const int64_t row = blockIdx.x;
    const Tin* xr = x + row * p.n;
    MaxMin m{-FLT_MAX, FLT_MAX, INT64_MAX, INT64_MAX, 0};
    for (int64_t j = threadIdx.x; j < p.n; j += blockDim.x) {
        const float v = toF(xr[j]);
        if (v != v)
            m.nan = 1;
        combine(m, v, j, v, j, 0);
    }
    m = blockMaxMin(m);
    RowQuant r = rowQuant(m.mx, m.mn, p.lwc ? upper[row] : 0.0f, p.lwc ? lower[row] : 0.0f, p);
    if (m.nan)
        r.delta = __int_as_float(0x7fc00000);
    if (threadIdx.x == 0) {
        st.delta[row] = r.delta;
        st.zero[row] = r.zero;
        st.rowMax[row] = m.mx;
        st.rowMin[row] = m.mn;
        st.argMax[row] = m.imx;
        st.argMin[row] = m.imn;
    }
    Tout* yr = y + row * p.n;
    for (int64_t j = threadIdx.x; j < p.n; j += blockDim.x)
        yr[j] = fromF<Tout>(quantValue(toF(xr[j]), r, p));
}

template <typename Tin, typename Tg>
__global__ void backwardKernel(const Tg* __restrict__ g, const Tin* __restrict__ x, Tin* __restrict__ dx,
                               const float* __restrict__ upper, const float* __restrict__ lower, RowState st,
                               float* __restrict__ du, float* __restrict__ dl, Params p)
{
    const int64_t row = blockIdx.x;
    const Tin* xr = x + row * p.n;
    const Tg* gr = g + row * p.n;
    Tin* dxr = dx + row * p.n;
    const RowQuant r{st.delta[row], st.zero[row]};
    float acc = 0;
    for (int64_t j = threadIdx.x; j < p.n; j += blockDim.x) {
        float d, dd;
        elementGrad(toF(xr[j]), toF(gr[j]), r, p, d, dd);
        dxr[j] = fromF<Tin>(d);
        acc += dd;
    }
    const float dDelta = blockSum(acc);
    __syncthreads();  // every dx of the row is written before thread 0 adds the extremes' share
    if (threadIdx.x == 0) {
        const float u = p.lwc ? upper[row] : 0.0f, l = p.lwc ? lower[row] : 0.0f;
        const RowGrad rg = rowGrad(dDelta, st.rowMax[row], st.rowMin[row], u, l, p);
        const int64_t imx = st.argMax[row], imn = st.argMin[row];
        if (imx >= 0 && imx < p.n)
            dxr[imx] = fromF<Tin>(toF(dxr[imx]) + rg.dRowMax);
        if (imn >= 0 && imn < p.n)
            dxr[imn] = fromF<Tin>(toF(dxr[imn]) + rg.dRowMin);
        if (du)
            du[row] = rg.dUpper;
        if (dl)
            dl[row] = rg.dLower;
    }
}

__device__ __forceinline__ MaxMin warpMaxMin(MaxMin v)
{
    for (int off = 16; off > 0; off >>= 1) {
        const float mx = __shfl_xor_sync(0xffffffffu, v.mx, off);
        const float mn = __shfl_xor_sync(0xffffffffu, v.mn, off);
        const int64_t imx = __shfl_xor_sync(0xffffffffu, v.imx, off);
        const int64_t imn = __shfl_xor_sync(0xffffffffu, v.imn, off);
        const int nan = __shfl_xor_sync(0xffffffffu, v.nan, off);
        combine(v, mx, imx, mn, imn, nan);
    }
    return v;  // every lane holds the result
}

constexpr int kWarpRowsPerBlock = 8;

/// Short rows (weight groups of up to a few hundred elements): one warp per row, no shared memory.
template <typename Tin, typename Tout>
__global__ void forwardWarpKernel(const Tin* __restrict__ x, Tout* __restrict__ y, const float* __restrict__ upper,
                                  const float* __restrict__ lower, RowState st, Params p)
{
    const int64_t row = static_cast<int64_t>(blockIdx.x) * kWarpRowsPerBlock + (threadIdx.x >> 5);
    if (row >= p.rows)
        return;
    const int lane = threadIdx.x & 31;
    const Tin* xr = x + row * p.n;
    MaxMin m{-FLT_MAX, FLT_MAX, INT64_MAX, INT64_MAX, 0};
    for (int64_t j = lane; j < p.n; j += 32) {
        const float v = toF(xr[j]);
        if (v != v)
            m.nan = 1;
        combine(m, v, j, v, j, 0);
    }
    m = warpMaxMin(m);
    RowQuant r = rowQuant(m.mx, m.mn, p.lwc ? upper[row] : 0.0f, p.lwc ? lower[row] : 0.0f, p);
    if (m.nan)
        r.delta = __int_as_float(0x7fc00000);
    if (lane == 0) {
        st.delta[row] = r.delta;
        st.zero[row] = r.zero;
        st.rowMax[row] = m.mx;
        st.rowMin[row] = m.mn;
        st.argMax[row] = m.imx;
        st.argMin[row] = m.imn;
    }
    Tout* yr = y + row * p.n;
    for (int64_t j = lane; j < p.n; j += 32)
        yr[j] = fromF<Tout>(quantValue(toF(xr[j]), r, p));
}

template <typename Tin, typename Tg>
__global__ void backwardWarpKernel(const Tg* __restrict__ g, const Tin* __restrict__ x, Tin* __restrict__ dx,
                                   const float* __restrict__ upper, const float* __restrict__ lower, RowState st,
                                   float* __restrict__ du, float* __restrict__ dl, Params p)
{
    const int64_t row = static_cast<int64_t>(blockIdx.x) * kWarpRowsPerBlock + (threadIdx.x >> 5);
    if (row >= p.rows)
        return;
    const int lane = threadIdx.x & 31;
    const Tin* xr = x + row * p.n;
    const Tg* gr = g + row * p.n;
    Tin* dxr = dx + row * p.n;
    const RowQuant r{st.delta[row], st.zero[row]};
    float acc = 0;
    for (int64_t j = lane; j < p.n; j += 32) {
        float d, dd;
        elementGrad(toF(xr[j]), toF(gr[j]), r, p, d, dd);
        dxr[j] = fromF<Tin>(d);
        acc += dd;
    }
    for (int off = 16; off > 0; off >>= 1)
        acc += __shfl_xor_sync(0xffffffffu, acc, off);
    __syncwarp();  // the lanes' dx writes are visible to lane 0 below
    if (lane == 0) {
        const float u = p.lwc ? upper[row] : 0.0f, l = p.lwc ? lower[row] : 0.0f;
        const RowGrad rg = rowGrad(acc, st.rowMax[row], st.rowMin[row], u, l, p);
        const int64_t imx = st.argMax[row], imn = st.argMin[row];
        if (imx >= 0 && imx < p.n)
            dxr[imx] = fromF<Tin>(toF(dxr[imx]) + rg.dRowMax);
        if (imn >= 0 && imn < p.n)
            dxr[imn] = fromF<Tin>(toF(dxr[imn]) + rg.dRowMin);
        if (du)
            du[row] = rg.dUpper;
        if (dl)
            dl[row] = rg.dLower;
    }
}

constexpr int64_t kWarpRowMax = 512;  // rows up to this length take the one-warp-per-row kernels

int threadsFor(int64_t n)
{
    if (n <= 64)
        return 64;
    if (n <= 128)
        return 128;
    if (n <= 2048)
        return 256;
    return 512;
}

template <typename Tin, typename Tout>
const char* launchForward(const void* x, void* y, const float* upper, const float* lower, RowState st, const Params& p,
                          cudaStream_t s)
{
    if (p.rows == 0)
        return nullptr;
    if (p.n <= kWarpRowMax) {
        const auto blocks = static_cast<unsigned>((p.rows + kWarpRowsPerBlock - 1) / kWarpRowsPerBlock);
        forwardWarpKernel<Tin, Tout><<<blocks, 32 * kWarpRowsPerBlock, 0, s>>>(
            static_cast<const Tin*>(x), static_cast<Tout*>(y), upper, lower, st, p);
        const cudaError_t e = cudaGetLastError();
        return e == cudaSuccess ? nullptr : cudaGetErrorString(e);
    }
    forwardKernel<Tin, Tout><<<static_cast<unsigned>(p.rows), threadsFor(p.n), 0, s>>>(
        static_cast<const Tin*>(x), static_cast<Tout*>(y), upper, lower, st, p);
    const cudaError_t e = cudaGetLastError();
    return e == cudaSuccess ? nullptr : cudaGetErrorString(e);
}

template <typename Tin, typename Tg>
const char* launchBackward(const void* g, const void* x, void* dx, const float* upper, const float* lower, RowState st,
                           float* du, float* dl, const Params& p, cudaStream_t s)
{
    if (p.rows == 0)
        return nullptr;
    if (p.n <= kWarpRowMax) {
        const auto blocks = static_cast<unsigned>((p.rows + kWarpRowsPerBlock - 1) / kWarpRowsPerBlock);
        backwardWarpKernel<Tin, Tg><<<blocks, 32 * kWarpRowsPerBlock, 0, s>>>(
            static_cast<const Tg*>(g), static_cast<const Tin*>(x), static_cast<Tin*>(dx), upper, lower, st, du, dl, p);
        const cudaError_t e = cudaGetLastError();
        return e == cudaSuccess ? nullptr : cudaGetErrorString(e);
    }
    backwardKernel<Tin, Tg><<<static_cast<unsigned>(p.rows), threadsFor(p.n), 0, s>>>(
        static_cast<const Tg*>(g), static_cast<const Tin*>(x), static_cast<Tin*>(dx), upper, lower, st, du, dl, p);
    const cudaError_t e = cudaGetLastError();
    return e == cudaSuccess ? nullptr : cudaGetErrorString(e);
}

template <typename Tin>
const char* forwardOut(Dtype out, const void* x, void* y, const float* u, const float* l, RowState st, const Params& p,
                       cudaStream_t s)
{
    switch (out) {
    case Dtype::Float32: return launchForward<Tin, float>(x, y, u, l, st, p, s);
    case Dtype::BFloat16: return launchForward<Tin, __nv_bfloat16>(x, y, u, l, st, p, s);
    case Dtype::Float16: return launchForward<Tin, __half>(x, y, u, l, st, p, s);
    }
    return "unsupported output dtype";
}

template <typename Tin>
const char* backwardGrad(Dtype gt, const void* g, const void* x, void* dx, const float* u, const float* l, RowState st,
                         float* du, float* dl, const Params& p, cudaStream_t s)
{
    switch (gt) {
    case Dtype::Float32: return launchBackward<Tin, float>(g, x, dx, u, l, st, du, dl, p, s);
    case Dtype::BFloat16: return launchBackward<Tin, __nv_bfloat16>(g, x, dx, u, l, st, du, dl, p, s);
    case Dtype::Float16: return launchBackward<Tin, __half>(g, x, dx, u, l, st, du, dl, p, s);
    }
    return "unsupported gradient dtype";
}

}  // namespace

const char* forwardCuda(Dtype in, Dtype out, const void* x, void* y, const float* upper, const float* lower,
                        RowState state, const Params& p, void* stream)
{
    auto s = static_cast<cudaStream_t>(stream);
    switch (in) {
    case Dtype::Float32: return forwardOut<float>(out, x, y, upper, lower, state, p, s);
    case Dtype::BFloat16: return forwardOut<__nv_bfloat16>(out, x, y, upper, lower, state, p, s);
    case Dtype::Float16: return forwardOut<__half>(out, x, y, upper, lower, state, p, s);
    }
    return "unsupported input dtype";
}

const char* backwardCuda(Dtype in, Dtype gradType, const void* g, const void* x, void* dx, const float* upper,
                         const float* lower, RowState state, float* du, float* dl, const Params& p, void* stream)
{
    auto s = static_cast<cudaStream_t>(stream);
    switch (in) {
    case Dtype::Float32: return backwardGrad<float>(gradType, g, x, dx, upper, lower, state, du, dl, p, s);
    case Dtype::BFloat16: return backwardGrad<__nv_bfloat16>(gradType, g, x, dx, upper, lower, state, du, dl, p, s);
    case Dtype::Float16: return backwardGrad<__half>(gradType, g, x, dx, upper, lower, state, du, dl, p, s);
    }
    return "unsupported input dtype";
}

}  // namespace aq::detail::fq
