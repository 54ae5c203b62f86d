#pragma once
// One block's calibration, for the engine and for the benchmark program (internal: exposes torch).
#include "aq/calibrate.h"
#include "collective.h"
#include "model.h"

#include <nlohmann/json.hpp>
#include <torch/types.h>

#include <atomic>
#include <map>
#include <string>

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

}  // namespace aq::detail
