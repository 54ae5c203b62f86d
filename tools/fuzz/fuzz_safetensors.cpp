// Fuzz target: a safetensors file (header length prefix, JSON header, data section), opened through
// aq::detail::SafetensorsFile as every checkpoint is; every tensor the header accepts is then copied out.
#include <torch/types.h>

#include "fuzz_common.h"
#include "safetensors.h"

#include <ATen/Parallel.h>

extern "C" int LLVMFuzzerInitialize(int*, char***)
{
    aqfuzz::init("safetensors");
    at::set_num_threads(1);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    const auto path = aqfuzz::workDir() / "model.safetensors";
    aqfuzz::writeFile(path, data, size);
    aqfuzz::guarded([&] {
        const aq::detail::SafetensorsFile file(path.string());
        (void)file.fileSize();
        for (const auto& [name, entry] : file.entries()) {
            const torch::Tensor t = file.load(name);
            // What the loader promised: the header's shape and dtype, and exactly the bytes the entry spans.
            if (t.sizes().vec() != entry.shape ||
                static_cast<uint64_t>(t.numel()) * t.element_size() != entry.end - entry.begin)
                throw std::logic_error("tensor '" + name + "' does not match its header entry");
        }
    });
    return 0;
}
