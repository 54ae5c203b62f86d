// Fuzz target: a finished run's run.json, read with aq::detail::readRun (aq::readRunDescription, the one reader of
// run.json, plus the export's own checks) from a run folder whose model/config.json exists.
#include <torch/types.h>

#include "export_plan.h"
#include "fuzz_common.h"

#include <filesystem>

namespace fs = std::filesystem;

extern "C" int LLVMFuzzerInitialize(int*, char***)
{
    aqfuzz::init("run_json");
    fs::create_directories(aqfuzz::workDir() / "run" / "model");
    aqfuzz::writeFile(aqfuzz::workDir() / "run" / "model" / "config.json",
                      R"({"model_type": "llama", "architectures": ["LlamaForCausalLM"], "vocab_size": 512,)"
                      R"( "hidden_size": 64, "intermediate_size": 172, "num_hidden_layers": 5,)"
                      R"( "num_attention_heads": 8, "num_key_value_heads": 4, "max_position_embeddings": 512,)"
                      R"( "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "tie_word_embeddings": true})");
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    const fs::path run = aqfuzz::workDir() / "run";
    aqfuzz::writeFile(run / "run.json", data, size);
    aqfuzz::guarded([&] {
        const aq::detail::RunInfo info = aq::detail::readRun(run.string());
        (void)info.configuration.dump();
    });
    return 0;
}
