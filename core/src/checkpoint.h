#pragma once
// A model folder's weights behind one interface, whatever the file layout (internal: exposes torch).
#include "aq/model_config.h"
#include "safetensors.h"

#include <torch/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace aq::detail {

/// Weights of a Hugging Face model folder: a single safetensors file, a sharded safetensors index, or a legacy
/// `pytorch_model.bin`. Safetensors stay memory-mapped and tensors are read one at a time, so host memory stays
/// near what the caller keeps. Read-only after construction.
class Checkpoint {
public:
    explicit Checkpoint(const std::string& modelDir);
    ~Checkpoint();

    const ModelConfig& config() const { return m_config; }
    const std::string& dir() const { return m_dir; }
    const std::string& format() const { return m_format; }

    std::vector<std::string> names() const;
    bool contains(const std::string& name) const;
    std::vector<int64_t> shape(const std::string& name) const;
    std::string dtypeName(const std::string& name) const;
    std::string fileOf(const std::string& name) const;
    uint64_t weightBytes() const { return m_weightBytes; }

    /// Loads one tensor on the CPU in its stored dtype.
    torch::Tensor load(const std::string& name) const;

    /// Checks that every tensor the architecture needs is present with the shape the configuration implies.
    /// Throws BadInput naming the first missing or mis-shaped tensor.
    /// Also refuses a num_hidden_layers that differs from the number of layers stored (before building anything
    /// per layer).
    void validate() const;

private:
    void checkLayerCount() const;

    std::string m_dir;
    ModelConfig m_config;
    std::string m_format;
    uint64_t m_weightBytes = 0;
    std::vector<std::unique_ptr<SafetensorsFile>> m_files;
    std::map<std::string, size_t> m_index;          // tensor -> file
    std::map<std::string, torch::Tensor> m_pickled; // pytorch_model.bin contents
};

/// The tensor names and shapes an architecture expects for `config` (optional tensors flagged).
struct ExpectedTensor {
    std::string name;
    std::vector<int64_t> shape;
    bool required = true;
};
std::vector<ExpectedTensor> expectedTensors(const ModelConfig& config);

}  // namespace aq::detail
