#pragma once
// Row-wise fused fake quantization kernels (CUDA), behind a plain C interface so that the .cu file needs no torch
// headers. One row = one quantization group (a weight group, an output channel, or one token's activations).
#include <cstdint>

namespace aq::detail::fq {

enum class Dtype : int { Float32 = 0, BFloat16 = 1, Float16 = 2 };

struct Params {
    int64_t rows = 0;
    int64_t n = 0;          ///< elements per row
    float qmax = 15;        ///< 2^bits - 1
    float half = 8;         ///< 2^(bits-1), symmetric zero point
    bool symmetric = false;
    bool zeroInRange = false;
    bool clampDelta = true;
    bool lwc = false;       ///< upper/lower hold the raw clipping parameters (one per row)
};

/// Per-row results of the forward pass that the backward pass needs.
struct RowState {
    float* delta;      ///< step
    float* zero;       ///< zero point (integer valued)
    float* rowMax;     ///< raw max / min of the row (before clipping)
    float* rowMin;
    int64_t* argMax;   ///< first index of the max / min
    int64_t* argMin;
};

#ifdef AQ_WITH_CUDA_KERNELS
/// y = fake_quant(x) per row; `state` receives the row parameters. Returns a CUDA error string or nullptr.
const char* forwardCuda(Dtype in, Dtype out, const void* x, void* y, const float* upper, const float* lower,
                        RowState state, const Params& p, void* stream);
/// dx (dtype `in`), du, dl (float, one per row, may be null without LWC) from g (dtype `gradType`).
const char* backwardCuda(Dtype in, Dtype gradType, const void* g, const void* x, void* dx, const float* upper,
                         const float* lower, RowState state, float* du, float* dl, const Params& p, void* stream);
#endif

}  // namespace aq::detail::fq
