#pragma once
// One block's calibration, and what the calibration's files share, for the engine and for the benchmark program
// (internal: exposes torch).
#include "aq/calibrate.h"
#include "collective.h"
#include "model.h"
#include "quantizer.h"
#include "transforms.h"

#include <nlohmann/json.hpp>
#include <torch/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace aq::detail {

struct BlockOutcome {
    BlockWeights merged;
    std::map<std::string, torch::Tensor> quant;  ///< "<layer>.scales" / "<layer>.zeros" [out, groups]
    nlohmann::json report;
    int recoveries = 0;
};

/// Whether the activation buffers are kept in bf16: with mixed precision on CUDA, once they would take more than 1 GiB
/// in float32 (below that the memory is not worth the rounding of the targets).
bool halfPrecisionBuffers(const ModelConfig& m, const QuantConfig& q, bool cuda);
/// Whether the block takes the large-model fast path: with mixed precision on CUDA and a hidden size of at least 1024
/// (smaller models cost little either way), bf16 products for the full post-norm matrices and refined inverses of
/// every matrix transform; with quantized activations also bf16 passes outside the training steps and bf16 working
/// copies of the weights.
bool fastMatrixPath(const ModelConfig& m, const QuantConfig& q, bool cuda);

/// This rank's share of the calibration windows in a data-parallel run.
struct Shard {
    std::vector<int64_t> rows;   ///< global indices of the windows this rank holds, ascending (shardRows)
    int64_t nsamples = 0;        ///< windows of every rank together
};

/// Calibrates block `block`: full-precision targets and activation statistics from `xFp`, initialization, training
/// with rollback, merge and quantization. On return `xFp` and `xQ` hold the next block's inputs.
/// With a `group` of several ranks, `xFp` and `xQ` hold this rank's `shard` of the windows, each step trains on this
/// rank's slice of the global batch, and every decision is taken on values reduced over the ranks.
BlockOutcome calibrateBlock(const ModelConfig& m, const QuantConfig& q, int block, int numBlocks, const BlockWeights& orig,
                            torch::Tensor& xFp, torch::Tensor& xQ, const RopeTables& rope, CalibrationObserver& obs,
                            const std::atomic<bool>* cancel, Collective* group = nullptr, const Shard* shard = nullptr);

// Shared by the run (calibrate.cpp), one block's training (calibrate_block.cpp) and the views' reports
// (calibrate_diagnostics.cpp).

using Clock = std::chrono::steady_clock;
/// Seconds since `t0`.
double since(Clock::time_point t0);
/// Throws Cancelled when `cancel` is set.
void checkCancel(const std::atomic<bool>* cancel);

/// Rows [start, start + n) of an activation buffer on the compute device, in `type`.
torch::Tensor batchOf(const torch::Tensor& buffer, int64_t start, int64_t n, const torch::Device& dev,
                      torch::ScalarType type);
/// Runs a block over every sample of `x` in batches, without gradients, on the compute device in `compute` (the
/// weights and rope tables must have that dtype). The result has x's dtype and device; `inPlace` overwrites x batch
/// by batch (each batch is read before it is written).
torch::Tensor forwardAll(const ModelConfig& m, const BlockWeights& w, torch::Tensor x, const RopeTables& rope,
                         const BlockOptions& o, int64_t batch, const torch::Device& dev, bool inPlace = false,
                         torch::ScalarType compute = torch::kFloat32);
/// A quantized linear's grid for model/quantization.safetensors: "<layer>.scales" / ".zeros" [out, groups] (a k-quant
/// grid's sub-blocks in that form too), and for a k-quant grid its own factors: ".kq_d" / ".kq_dmin"
/// [out, in/256] and ".kq_scales" / ".kq_mins" [out, in/subBlock], which the GGUF export stores as they are.
void recordGrid(std::map<std::string, torch::Tensor>& quant, const std::string& name, const torch::Tensor& w,
                const WeightQuantSpec& spec, const torch::Tensor& upper = {}, const torch::Tensor& lower = {});

/// The values of a tensor as float32, on the host.
std::vector<float> toFloats(const torch::Tensor& t);
/// Diagonal dominance and conditioning of a transform's matrix blocks at the end of an epoch.
MatrixDiagnostics diagnose(const std::string& name, const torch::Tensor& blocks, int block, int epoch, int64_t band);
/// A transform's matrix (its blocks on the diagonal) and mask, pooled down to at most 128 x 128 for the views.
MatrixSnapshot snapshot(const std::string& name, const torch::Tensor& blocks, const torch::Tensor& mask, int block,
                        int epoch);
/// A linear's weight histogram, the bounds its learned clipping gives each row (group) and the first group's grid.
WeightHistogram histogram(const std::string& layer, const torch::Tensor& w, const WeightQuantSpec& spec,
                          const BlockTransforms& t, int block);

}  // namespace aq::detail
