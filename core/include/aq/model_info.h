#pragma once
/// Read-only summary of a model folder (what `affinequant inspect` prints and the GUI's model picker shows).
#include "aq/model_config.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace aq {

struct TensorSummary {
    std::string name;
    std::string dtype;           ///< safetensors spelling: F32, F16, BF16, ...
    std::vector<int64_t> shape;
    std::string file;            ///< file name inside the model folder
};

struct ModelSummary {
    std::string modelDir;
    ModelConfig config;
    std::string weightFormat;    ///< "safetensors", "safetensors (sharded, N files)" or "pytorch_model.bin"
    std::vector<TensorSummary> tensors;
    int64_t parameterCount = 0;
    std::map<std::string, int64_t> parametersByDtype;
    uint64_t weightBytes = 0;    ///< bytes of weight files on disk
    std::string tokenizer;       ///< tokenizer description, or the reason none could be loaded
};

/// Opens the folder, validates config and weights (shapes against the configuration) and summarises them.
/// Throws aq::Error(BadInput) with a message that names the problem.
ModelSummary inspectModel(const std::string& modelDir);

}  // namespace aq
