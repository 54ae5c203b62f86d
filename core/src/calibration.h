#pragma once
// One block's calibration, for the engine and for the benchmark program (internal: exposes torch).
#include "aq/calibrate.h"
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

/// Calibrates block `block`: full-precision targets and activation statistics from `xFp`, initialization, training
/// with rollback, merge and quantization. On return `xFp` and `xQ` hold the next block's inputs.
BlockOutcome calibrateBlock(const ModelConfig& m, const QuantConfig& q, int block, int numBlocks, const BlockWeights& orig,
                            torch::Tensor& xFp, torch::Tensor& xQ, const RopeTables& rope, CalibrationObserver& obs,
                            const std::atomic<bool>* cancel);

}  // namespace aq::detail
