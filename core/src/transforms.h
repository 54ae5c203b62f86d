#pragma once
// AffineQuant's learnable transforms for one decoder block (spec §4, §5, §6) (internal: exposes torch).
#include "aq/calibrate.h"
#include "model.h"
#include "quantizer.h"

#include <torch/types.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace aq::detail {

/// Names of a block's norms and linears for one architecture.
struct BlockLayout {
    std::string norm1, norm2;
    std::vector<std::string> qkv;        ///< q, k, v (in that order)
    std::vector<std::string> fc1;        ///< up, gate (LLaMA) or fc1 (OPT)
    std::string out;                     ///< o_proj / out_proj
    std::string down;                    ///< down_proj / fc2 (never transformed)
    std::vector<std::string> linears() const;
};
BlockLayout blockLayout(const ModelConfig& config);

/// Per-channel statistics of the inputs of a block's transform sites on the full-precision stream (spec §3.2).
struct SiteStats {
    torch::Tensor absMax;   ///< running max |x| per channel
    torch::Tensor shift;    ///< EMA of (max + min) / 2 per channel (first sample, then 0.99 old + 0.01 new)
    void add(const torch::Tensor& x);  ///< x [B, T, C]; each batch row counts as one sample

    /// Data-parallel shards: the global index of each sample this rank adds (in order) and the number of samples of
    /// every rank. The EMA is linear in the samples, so `shift` then holds this shard's weighted share of it, and the
    /// sum over the ranks is the single-process EMA (absMax combines by a maximum).
    std::vector<int64_t> globalIndex;
    int64_t globalCount = 0;
    int64_t added = 0;
};

/// The learnable tensors of one block. Undefined tensors are transforms that are off.
struct BlockTransforms {
    torch::Tensor s1, d1;   ///< P1: [d] vector or [d, d] matrix; shift [d]
    torch::Tensor s2, d2;   ///< P2
    torch::Tensor s3, d3;   ///< P3 (v -> o): [nkv, h, h] blocks (per key/value head) or [nkv*h] vector; shift [nkv*h]
    torch::Tensor s4;       ///< P4 (q/k): [nkv, h, h] blocks (per key/value group) or [nkv*h] vector
    std::map<std::string, std::pair<torch::Tensor, torch::Tensor>> lwc;  ///< layer -> (upper, lower) [out, groups]

    std::vector<torch::Tensor> letParameters() const;   ///< scales and trainable shifts
    std::vector<torch::Tensor> lwcParameters() const;
    std::vector<torch::Tensor> all() const;
    /// Deep copy (for epoch rollback and resume files).
    BlockTransforms clone() const;
    void copyFrom(const BlockTransforms& other);
};

/// Gradual masks for one epoch: band masks with off-diagonals scaled by the stability factor.
struct EpochMasks {
    torch::Tensor big;      ///< [d, d] for P1/P2 matrices
    torch::Tensor head;     ///< [h, h] for P3/P4 blocks
    int64_t bigBand = 1;
    int64_t headBand = 1;
};
torch::Tensor bandMask(int64_t n, int64_t band, double sf, const torch::TensorOptions& options);
EpochMasks makeEpochMasks(const ModelConfig& model, const QuantConfig& q, int epoch, double sf,
                          const torch::TensorOptions& options);

/// Per-layer weight quantization of block `block` (group size after the partial-group policy; a mixed k-quant grid's
/// choice for each linear of that block).
std::map<std::string, WeightQuantSpec> weightSpecs(const ModelConfig& model, const QuantConfig& q, const BlockWeights& w,
                                                   int64_t block, std::vector<std::string>* perChannelFallback);
/// Sets every group's clipping parameters to the factor, among a fixed ladder from the default (sigmoid(4), 0.982)
/// down to 0.71, whose fake-quantized group of `w` (the block's transformed weights) has the least squared error (a
/// k-quant grid: one factor per super-block, whose sub-blocks share its binary16 factors).
void searchClipping(BlockTransforms& t, const BlockWeights& w, const std::map<std::string, WeightQuantSpec>& specs);

/// What a linear of the block layout does, for the mixed grids.
LinearRole linearRole(const BlockLayout& layout, const std::string& linear);

/// SmoothQuant-style initialization from activation statistics (spec §6).
BlockTransforms initTransforms(const ModelConfig& model, const QuantConfig& q, const BlockWeights& w,
                               const std::map<std::string, SiteStats>& stats,
                               const std::map<std::string, WeightQuantSpec>& specs, const torch::TensorOptions& options);

/// Builds the block's weights with the transforms folded in (spec §4.2 order: P1, P2, P3 on v's P1 result, P4 on
/// q/k's P1 results), then fake-quantizes every linear when `quantize` is set. Differentiable in the transforms.
/// Inverses of the full post-norm matrices carried from one training step to the next (fast path only).
struct InverseCache {
    std::map<std::string, torch::Tensor> inverse;  ///< norm name, "out" or "qkt" -> last inverse (detached)
    torch::Tensor residual;                         ///< running max |I - A X| of the refinements (device scalar)
    int exact = 0;                                  ///< exact inverses computed
    int refined = 0;                                ///< Newton-Schulz refinements
    void clear() { inverse.clear(); }
};

/// How applyTransforms computes (the defaults are the reference path).
struct TransformOptions {
    std::optional<torch::ScalarType> quantOut;  ///< dtype of the fake-quantized weights (fused kernels write it)
    bool halfProducts = false;                  ///< W A^T of the full post-norm matrices in bf16 (fp32 accumulate)
    InverseCache* cache = nullptr;              ///< refine the last inverse of the post-norm matrices (and, with
                                                ///< refineHeadInverses, of the per-head ones) with one Newton-Schulz
                                                ///< step instead of a new LU inverse (the gradient is that of the
                                                ///< refined inverse)
    bool refineHeadInverses = false;
};

BlockWeights applyTransforms(const ModelConfig& model, const QuantConfig& q, const BlockWeights& original,
                             const BlockTransforms& t, const EpochMasks& masks,
                             const std::map<std::string, WeightQuantSpec>& specs, bool quantize,
                             const TransformOptions& options = {});

/// In-place, no-grad: entries with 0 < |a| < 0.01 become sign(a) * 0.01 (spec §3.4 step 6.1).
void truncateScales(BlockTransforms& t);
/// In-place, no-grad: scales the off-diagonal entries of rows that are not strictly diagonally dominant (in the
/// masked matrix) so that they become dominant again. Opt-in deviation from the method.
void enforceDominance(BlockTransforms& t, const EpochMasks& masks);

/// The masked matrices of a block, keyed by transform name ("qkv", "fc1", "out", "qkt"), as [n, h, h] blocks or
/// [1, d, d].
std::map<std::string, torch::Tensor> maskedMatrices(const BlockTransforms& t, const EpochMasks& masks);
/// Whether a matrix of maskedMatrices() is a full post-norm matrix ("qkv", "fc1": masks.big, bigBand) rather than
/// per-head blocks ("out", "qkt": masks.head, headBand). Not told by the number of blocks: with one key/value head
/// "out" is a single block too.
bool isPostNormMatrix(const std::string& name);

}  // namespace aq::detail
