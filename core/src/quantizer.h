#pragma once
// Uniform fake quantization (spec §2) with straight-through rounding (internal: exposes torch).
#include "aq/quant_config.h"

#include <torch/types.h>

#include <optional>

namespace aq::detail {

/// How one weight tensor [out, in] is quantized.
struct WeightQuantSpec {
    int bits = 4;
    int64_t groupSize = 0;       ///< 0 or >= in: per output channel
    bool symmetric = false;      ///< zero point 2^(b-1), step max|x| / (2^(b-1) - 1)
    bool zeroInRange = false;    ///< extend [min, max] to include 0
    bool clampDelta = true;      ///< clamp the step to [1e-5, 1e4] (the reference forgets to, spec §2.1)
    WeightGrid grid = WeightGrid::Uniform;  ///< a k-quant grid: groupSize is its sub-block, the rest is the grid's
};

// ---- llama.cpp's k-quant grids ----
// A row is cut into super-blocks of 256 weights, each into sub-blocks of `subBlock`. A sub-block's weights are
// (d·sc)·q − (dmin·m) with integer codes q, integer sub-block scale sc and minimum m, and binary16 super-block factors
// d and dmin; the symmetric grids (Q6_K, Q3_K) have no minimum and signed codes. The arithmetic is llama.cpp's
// decoding in float32, product by product, so that the values calibrated here are the values a GGUF file decodes to.

constexpr int64_t kSuperBlock = 256;

struct KQuantLayout {
    int bits;
    int subBlock;      ///< weights per sub-block: 32 or 16
    bool hasMin;       ///< codes 0..qMax with a minimum; otherwise signed codes qMin..qMax
    int qMin, qMax;    ///< the codes' range as the formula uses them (Q6_K: -32..31)
    int scMin, scMax;  ///< the sub-block scales' range
    int mMax;          ///< the sub-block minimums' range 0..mMax (hasMin)
    int codeOffset() const { return -qMin; }  ///< stored code = q + codeOffset()
};
/// The layout of a k-quant grid; throws for Uniform.
const KQuantLayout& kquantLayout(WeightGrid grid);

/// A k-quant grid's factors of a weight [out, in]: d and dmin [out, in/256], sc and m [out, in/subBlock], all float32
/// (d, dmin exactly binary16 values; sc, m whole numbers; dmin and m zero for the symmetric grids).
struct KQuantFactors {
    torch::Tensor d, dmin, sc, m;
};
KQuantFactors kquantFactors(const torch::Tensor& w, const WeightQuantSpec& spec, const torch::Tensor& upper = {},
                            const torch::Tensor& lower = {});
/// The integer codes (stored form: q + codeOffset(), 0..2^bits-1) of a weight that lies on the grid of `f`, as
/// float32 [out, in]; the nearest code where it does not.
torch::Tensor kquantCodes(const torch::Tensor& w, WeightGrid grid, const KQuantFactors& f);
/// The grid's values of codes (stored form) in float32, with llama.cpp's arithmetic: (d·sc)·(c − offset) − dmin·m.
torch::Tensor kquantValues(const torch::Tensor& codes, WeightGrid grid, const KQuantFactors& f);

/// The spec of a k-quant grid: its bits and sub-block, symmetric for Q6_K/Q3_K, zero in range for the others.
WeightQuantSpec kquantSpec(WeightGrid grid);
/// w [out, in] on a k-quant grid without learned clipping: full-range factors, nearest codes (float32).
torch::Tensor kquantRound(const torch::Tensor& w, WeightGrid grid);

/// Number of quantization groups per output row for an input size: ceil(in / g) (1 for per-channel).
int64_t groupsPerRow(int64_t in, int64_t groupSize);

/// round(x) in the forward pass, identity gradient.
torch::Tensor roundSte(const torch::Tensor& x);

/// Fake-quantizes each row of x [R, n] (min/max over the row). Takes the fused path (fused_quant.h: CUDA kernels when
/// the build has them, row-parallel loops on the CPU), else the reference sequence of tensor operations. `upper`/
/// `lower` are the raw LWC parameters [R, 1] (sigmoid-scaled extremes) or undefined tensors for plain min/max.
/// Differentiable as spec §2.1 describes.
torch::Tensor fakeQuantRows(const torch::Tensor& x, int bits, bool symmetric, bool zeroInRange, bool clampDelta,
                            const torch::Tensor& upper = {}, const torch::Tensor& lower = {});

/// The reference sequence of tensor operations of fakeQuantRows, on any device (what the fused paths are checked
/// against, and what runs where they are off).
torch::Tensor referenceFakeQuantRows(const torch::Tensor& x, int bits, bool symmetric, bool zeroInRange,
                                     bool clampDelta, const torch::Tensor& upper = {}, const torch::Tensor& lower = {});

/// Fake-quantizes a weight [out, in] per channel or per group. A partial last group (in % g != 0) is quantized on its
/// own. `upper`/`lower`: LWC raw parameters [out, groupsPerRow(in, g)], or undefined. bits >= 16 returns w.
/// `outType`: dtype of the result (default: w's); on CUDA the fused kernels write it directly.
torch::Tensor fakeQuantWeight(const torch::Tensor& w, const WeightQuantSpec& spec, const torch::Tensor& upper = {},
                              const torch::Tensor& lower = {}, std::optional<torch::ScalarType> outType = std::nullopt);

/// Per-token dynamic asymmetric activation quantization over the last dimension. bits >= 16 returns x unchanged.
torch::Tensor fakeQuantActivation(const torch::Tensor& x, int bits);

/// The grid fakeQuantWeight(w, spec, upper, lower) rounds w to, with its scales and zero points (or k-quant factors)
/// fixed weight by weight, so that one column can be rounded at a time (GPTQ rounding). roundColumn is the fake
/// quantizer's own arithmetic, so its values lie on that grid bit for bit. Float32, on w's device.
class FixedWeightGrid {
public:
    FixedWeightGrid(const torch::Tensor& w, const WeightQuantSpec& spec, const torch::Tensor& upper = {},
                    const torch::Tensor& lower = {});
    /// The grid's values for x [out] as column j of the weight.
    torch::Tensor roundColumn(const torch::Tensor& x, int64_t j) const;
    /// The same grid with its columns taken in `order`.
    FixedWeightGrid permuted(const torch::Tensor& order) const;

private:
    WeightGrid m_grid = WeightGrid::Uniform;
    double m_qmax = 0;              ///< uniform: the largest code
    torch::Tensor m_step, m_shift;  ///< [out, in]: uniform scale and zero point; k-quant d·sc and dmin·m
};

/// While alive on this thread, fakeQuantWeight takes the reference tensor operations on every device. The merge
/// uses it so that the merged weights and weightQuantParams' scales and zero points come from the same arithmetic:
/// the fused CUDA kernels may round a zero point that lies within a rounding error of .5 the other way, and the
/// exports would then find codes outside the grid.
class ReferenceWeightQuantScope {
public:
    ReferenceWeightQuantScope();
    ~ReferenceWeightQuantScope();
    ReferenceWeightQuantScope(const ReferenceWeightQuantScope&) = delete;
    ReferenceWeightQuantScope& operator=(const ReferenceWeightQuantScope&) = delete;

private:
    bool m_prev;
};

/// The scale and zero point of each row/group of a weight after LWC (for reports and exports): [out, groups].
struct QuantParams {
    torch::Tensor scale;
    torch::Tensor zero;
};
QuantParams weightQuantParams(const torch::Tensor& w, const WeightQuantSpec& spec, const torch::Tensor& upper = {},
                              const torch::Tensor& lower = {});

}  // namespace aq::detail
