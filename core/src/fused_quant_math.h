#pragma once
// The per-row arithmetic of fused fake quantization, shared by the CPU loops and the CUDA kernels so that both follow
// exactly the operations of the reference path in quantizer.cpp (spec §2.1): float32 arithmetic, round half to
// even, the step clamped to [1e-5, 1e4], the zero point rounded and detached, straight-through rounding, and the
// gradients that autograd gives that path (to the clipping parameters and to the row's max / min elements).
#include "fused_quant_kernels.h"

#include <cmath>

#ifdef __CUDACC__
#define AQ_HD __host__ __device__ __forceinline__
#else
#define AQ_HD inline
#endif

namespace aq::detail::fq {

struct RowQuant {
    float delta, zero;
};

AQ_HD float sigmoidF(float u) { return 1.0f / (1.0f + expf(-u)); }

/// Step and zero point of a row from its raw max / min (NaN propagates into the step).
AQ_HD RowQuant rowQuant(float rowMax, float rowMin, float upper, float lower, const Params& p)
{
    float xmax = rowMax, xmin = rowMin;
    if (p.lwc) {
        xmax = sigmoidF(upper) * xmax;
        xmin = sigmoidF(lower) * xmin;
    }
    if (p.zeroInRange) {
        xmax = xmax < 0.0f ? 0.0f : xmax;
        xmin = xmin > 0.0f ? 0.0f : xmin;
    }
    RowQuant r;
    if (p.symmetric) {
        const float a = fabsf(xmax), b = fabsf(xmin);
        float d = (a > b ? a : b) / (p.half - 1.0f);
        d = d < 1e-5f ? 1e-5f : (d > 1e4f ? 1e4f : d);
        r.delta = d;
        r.zero = p.half;
    } else {
        float d = (xmax - xmin) / p.qmax;
        if (p.clampDelta)
            d = d < 1e-5f ? 1e-5f : (d > 1e4f ? 1e4f : d);
        r.delta = d;
        float z = -xmin / d;
        z = z < -1e4f ? -1e4f : (z > 1e4f ? 1e4f : z);
        r.zero = rintf(z);
    }
    return r;
}

/// The clamp written with comparisons so that NaN passes through (fminf/fmaxf would hide it).
AQ_HD float clampNan(float t, float lo, float hi) { return t < lo ? lo : (t > hi ? hi : t); }

AQ_HD float quantValue(float x, RowQuant r, const Params& p)
{
    const float q = clampNan(rintf(x / r.delta) + r.zero, 0.0f, p.qmax);
    return (q - r.zero) * r.delta;
}

/// Gradient of one element: dx (straight-through inside the grid, 0 where clamped) and its share of d(step).
AQ_HD void elementGrad(float x, float g, RowQuant r, const Params& p, float& dx, float& dDelta)
{
    const float v = x / r.delta;
    const float t = rintf(v) + r.zero;
    const bool inside = t >= 0.0f && t <= p.qmax;
    const float q = clampNan(t, 0.0f, p.qmax);
    dx = inside ? g : 0.0f;
    dDelta = g * ((q - r.zero) - (inside ? v : 0.0f));
}

/// Chains d(step) of a row back to the row's max / min elements and to the clipping parameters.
struct RowGrad {
    float dRowMax = 0, dRowMin = 0, dUpper = 0, dLower = 0;
};
AQ_HD RowGrad rowGrad(float dDelta, float rowMax, float rowMin, float upper, float lower, const Params& p)
{
    float su = 1, sl = 1;
    float xmax1 = rowMax, xmin1 = rowMin;
    if (p.lwc) {
        su = sigmoidF(upper);
        sl = sigmoidF(lower);
        xmax1 = su * rowMax;
        xmin1 = sl * rowMin;
    }
    float xmax2 = xmax1, xmin2 = xmin1;
    if (p.zeroInRange) {
        xmax2 = xmax1 < 0.0f ? 0.0f : xmax1;
        xmin2 = xmin1 > 0.0f ? 0.0f : xmin1;
    }
    float gMax2 = 0, gMin2 = 0;
    if (p.symmetric) {
        const float a = fabsf(xmax2), b = fabsf(xmin2);
        const float raw = (a > b ? a : b) / (p.half - 1.0f);
        const float gm = (raw >= 1e-5f && raw <= 1e4f) ? dDelta / (p.half - 1.0f) : 0.0f;
        float ga = 0, gb = 0;
        if (a > b)
            ga = gm;
        else if (b > a)
            gb = gm;
        else
            ga = gb = gm * 0.5f;
        const float sa = xmax2 > 0.0f ? 1.0f : (xmax2 < 0.0f ? -1.0f : 0.0f);
        const float sb = xmin2 > 0.0f ? 1.0f : (xmin2 < 0.0f ? -1.0f : 0.0f);
        gMax2 = ga * sa;
        gMin2 = gb * sb;
    } else {
        const float raw = (xmax2 - xmin2) / p.qmax;
        const bool passes = !p.clampDelta || (raw >= 1e-5f && raw <= 1e4f);
        const float gd = passes ? dDelta / p.qmax : 0.0f;
        gMax2 = gd;
        gMin2 = -gd;
    }
    float gMax1 = gMax2, gMin1 = gMin2;
    if (p.zeroInRange) {
        gMax1 = xmax1 >= 0.0f ? gMax2 : 0.0f;
        gMin1 = xmin1 <= 0.0f ? gMin2 : 0.0f;
    }
    RowGrad r;
    if (p.lwc) {
        r.dUpper = gMax1 * rowMax * su * (1.0f - su);
        r.dLower = gMin1 * rowMin * sl * (1.0f - sl);
        r.dRowMax = gMax1 * su;
        r.dRowMin = gMin1 * sl;
    } else {
        r.dRowMax = gMax1;
        r.dRowMin = gMin1;
    }
    return r;
}

}  // namespace aq::detail::fq
