#pragma once
// Memory-mapped safetensors reading and writing (internal: exposes torch tensors).
#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace aq::detail {

struct MappedFile;

/// One tensor's entry in a safetensors header.
struct SafetensorsEntry {
    std::string dtype;          ///< as written: "F32", "F16", "BF16", ...
    std::vector<int64_t> shape;
    uint64_t begin = 0;         ///< byte offsets relative to the data section
    uint64_t end = 0;
};

/// A validated, memory-mapped safetensors file. Tensors are copied out on demand, so a caller can load a
/// single transformer block's weights without touching the rest of the file. Thread-compatible (read-only).
class SafetensorsFile {
public:
    /// Opens and validates the header (sizes, offsets, overlaps, dtypes). Throws BadInput naming the problem.
    explicit SafetensorsFile(const std::string& path);
    ~SafetensorsFile();

    const std::string& path() const { return m_path; }
    const std::map<std::string, SafetensorsEntry>& entries() const { return m_entries; }
    const std::map<std::string, std::string>& metadata() const { return m_metadata; }
    bool contains(const std::string& name) const { return m_entries.count(name) != 0; }
    uint64_t fileSize() const;

    /// Copies a tensor out of the mapping, in its stored dtype, on the CPU.
    torch::Tensor load(const std::string& name) const;

private:
    std::string m_path;
    std::shared_ptr<MappedFile> m_file;
    uint64_t m_dataOffset = 0;
    std::map<std::string, SafetensorsEntry> m_entries;
    std::map<std::string, std::string> m_metadata;
};

/// Maps a safetensors dtype name to a torch scalar type; throws BadInput for unknown names.
torch::ScalarType scalarTypeFromSafetensors(const std::string& dtype, const std::string& origin);
std::string safetensorsDtypeName(torch::ScalarType type);
size_t safetensorsElementSize(const std::string& dtype);

/// One tensor of a streamed write: its header entry, and a function that produces the data when its turn comes.
struct TensorSource {
    std::string name;
    torch::ScalarType type;
    std::vector<int64_t> shape;
    std::function<torch::Tensor()> load;
};

/// Writes tensors one at a time (at most one is in memory), through a temporary file and a rename. Each loaded
/// tensor must match its declared dtype and shape.
void writeSafetensorsStreamed(const std::string& path, const std::vector<TensorSource>& tensors,
                              const std::map<std::string, std::string>& metadata = {});

/// Writes tensors (contiguous CPU copies are made as needed) to `path` through a temporary file and a rename,
/// so a failure never leaves a partial file under the final name.
void writeSafetensors(const std::string& path, const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

}  // namespace aq::detail
