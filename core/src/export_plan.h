#pragma once
// What every export of a run shares: reading the finished run, choosing the stock architecture its tensors fit, and
// folding a block into that architecture's tensors; plus the temporary-then-rename publishing of the result
// (internal: exposes torch and json).
#include "aq/error.h"
#include "aq/export.h"
#include "aq/quant_config.h"
#include "checkpoint.h"
#include "model.h"
#include "progress_clock.h"

#include <nlohmann/json.hpp>
#include <torch/types.h>

#include <filesystem>
#include <set>
#include <string>

namespace aq::detail {

/// What an export needs to know about a finished run.
struct RunInfo {
    std::filesystem::path runDir;
    std::filesystem::path modelDir;
    nlohmann::json configuration;
    int wbits = 16;
    int abits = 16;
    int64_t groupSize = 0;
    bool symmetric = false;
    bool zeroInRange = false;
    WeightGrid weightGrid = WeightGrid::Uniform;  ///< a k-quant grid: only GGUF holds it exactly
    std::string method;
    std::string sourceModel;  ///< the model folder the run calibrated (run.json "model"), empty if not recorded
};

/// Reads run.json of a finished run; throws BadInput for a missing, unfinished or incomplete run.
RunInfo readRun(const std::string& runDir);

/// The standard architecture an export is written as, and which linears carry biases there.
struct TargetLayout {
    std::string modelType;             ///< "llama", "qwen2", "mistral", "opt"
    std::string architecture;          ///< "LlamaForCausalLM", ...
    bool converted = false;            ///< a Qwen2/Mistral model written as LLaMA to hold its new biases
    bool attentionBias = false;        ///< LLaMA: q/k/v/o; Qwen2: q/k/v; OPT: every linear (enable_bias)
    bool mlpBias = false;              ///< LLaMA: gate/up/down
    std::set<std::string> biased;      ///< block-relative linear names that carry a bias in the target
    bool postMatrices = false;         ///< the run has dense post-norm matrices
    bool normBiases = false;           ///< some norm bias is non-zero (LLaMA: folded into the following linears)
};

/// First pass over the run's small tensors: which biases become non-zero once the norm biases are folded, and
/// whether post-norm matrices exist. Decides the target architecture before anything is written.
TargetLayout planLayout(const Checkpoint& ck);

/// Folds a LLaMA block's norm biases into the following linears and gives every linear the bias the target layout
/// expects (zeros where missing, none where the target has none).
BlockWeights standardizeBlock(const ModelConfig& m, const TargetLayout& t, const BlockWeights& in);

/// True if any entry of `t` is non-zero (false for an undefined tensor).
bool anyNonZero(const torch::Tensor& t);

/// The destination of an export: checked up front, written under a hidden temporary name beside it, and published by
/// a rename at the end, so that a failed or cancelled export leaves nothing that looks complete and an existing
/// destination (replaced only with force) stays whole until the new one is in place.
class StagedOutput {
public:
    /// `isFile`: the destination is one file (GGUF) rather than a folder. Throws BadInput when the destination is
    /// the run directory, inside it or around it, exists without `force`, or is of the other kind.
    StagedOutput(const std::string& dest, const std::filesystem::path& runDir, bool force, bool isFile);
    ~StagedOutput();
    StagedOutput(const StagedOutput&) = delete;
    StagedOutput& operator=(const StagedOutput&) = delete;

    /// Creates the temporary file's folder or the temporary folder; throws BadInput naming the place on failure.
    void begin();
    /// Where to write: the temporary folder, or the temporary file's path.
    const std::filesystem::path& temporary() const { return m_tmp; }
    const std::filesystem::path& destination() const { return m_out; }
    bool hadOld() const { return m_hadOld; }
    /// Moves the temporary into place (the old destination first aside, then removed).
    void publish();
    /// Appends where things stand to a BadInput message ("nothing was left at ...").
    std::string outcome() const;

private:
    std::string m_dest;
    std::filesystem::path m_out, m_tmp;
    bool m_isFile = false;
    bool m_hadOld = false;
    bool m_published = false;
};

/// Refuses an export float type other than float16 and bfloat16 (both exports store their floats in one of them).
inline void checkExportFloatType(FloatType type)
{
    if (type != FloatType::Float16 && type != FloatType::BFloat16)
        badInput(std::string("--dtype must be float16 or bfloat16, not '") + floatTypeName(type) + "'");
}

/// Throws Error(Cancelled) when `cancel` is set, saying that `outDir` was not written.
inline void throwIfExportCancelled(const CancelToken* cancel, const std::string& outDir)
{
    if (cancel && cancel->load())
        throw Error(ErrorCode::Cancelled, "export cancelled; '" + outDir + "' was not written");
}

/// An export's progress: `done` of `total` units at the pace `clock` measures, and what is being written.
inline ExportProgress exportProgress(const ProgressClock& clock, int64_t done, int64_t total, std::string stage)
{
    ExportProgress p;
    static_cast<Progress&>(p) = clock.at(done, total);
    p.stage = std::move(stage);
    return p;
}

/// The GGUF export (export_gguf.cpp); exportRun() hands GGUF requests to it.
ExportResult exportGguf(const ExportOptions& options, const ExportProgressFn& progress, const std::atomic<bool>* cancel);

/// Inside a catch block of an export: removes the temporary and rethrows the current exception as aq::Error, saying
/// for bad input what was left at the destination; `memoryHint` goes into out-of-memory messages.
[[noreturn]] void rethrowExportFailure(StagedOutput& staged, const std::string& memoryHint);

}  // namespace aq::detail
