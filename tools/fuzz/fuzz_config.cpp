// Fuzz target: a model's config.json. The text is parsed with aq::parseModelConfig, then opened as a model folder
// together with a fixed, valid checkpoint (the bundled demo model's weights by default; AQ_FUZZ_MODEL_DIR names
// another folder with a model.safetensors): every size the configuration states must be checked against the weights
// before anything is allocated from it, and a configuration that does not describe the weights must be refused.
#include <torch/types.h>

#include "aq/model_config.h"
#include "checkpoint.h"
#include "fuzz_common.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <regex>
#include <stdexcept>
#include <string>

#ifndef AQ_FUZZ_DEFAULT_MODEL_DIR
#define AQ_FUZZ_DEFAULT_MODEL_DIR ""
#endif

namespace fs = std::filesystem;

extern "C" int LLVMFuzzerInitialize(int*, char***)
{
    aqfuzz::init("config");
    at::set_num_threads(1);
    const char* env = std::getenv("AQ_FUZZ_MODEL_DIR");
    const fs::path modelDir = env && *env ? env : AQ_FUZZ_DEFAULT_MODEL_DIR;
    const fs::path weights = fs::absolute(modelDir / "model.safetensors");
    if (!fs::is_regular_file(weights)) {
        std::fprintf(stderr, "aq-fuzz: %s not found; set AQ_FUZZ_MODEL_DIR to a model folder\n", weights.c_str());
        std::exit(2);
    }
    fs::create_directories(aqfuzz::workDir() / "model");
    fs::create_symlink(weights, aqfuzz::workDir() / "model" / "model.safetensors");
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    const std::string text(reinterpret_cast<const char*>(data), size);
    const fs::path dir = aqfuzz::workDir() / "model";
    aqfuzz::writeFile(dir / "config.json", text);
    aqfuzz::guarded([&] {
        const aq::ModelConfig parsed = aq::parseModelConfig(text, "config.json");
        parsed.checkSequenceLength(std::clamp<int64_t>(parsed.maxPositionEmbeddings, 2, 512));
        const aq::detail::Checkpoint ck(dir.string());
        ck.validate();
        // Accepted: then the configuration describes all of the weights. Blocks beyond num_hidden_layers would be
        // silently left out of every evaluation and export (issue #14, defect 3).
        const std::regex layerName(R"(^model\.(decoder\.)?layers\.([0-9]+)\.)");
        for (const std::string& name : ck.names()) {
            std::smatch m;
            if (std::regex_search(name, m, layerName) && std::stoll(m[2].str()) >= ck.config().numLayers)
                throw std::logic_error("config.json with num_hidden_layers " + std::to_string(ck.config().numLayers) +
                                       " accepted for weights that hold '" + name + "'");
        }
    });
    return 0;
}
