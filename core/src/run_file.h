#pragma once
// Writing the run folder's records (internal; readers use aq/run_file.h): progress.json while a run goes, run.json
// once it is complete, each replaced atomically. The keys of both files are written and read in run_file.cpp alone.
#include "aq/run_file.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <string>

namespace aq::detail {

/// Writes `j` to `path` through `path`.partial and a rename: readers see the old file or the new one, never a part.
/// Throws BadInput naming the file when it cannot be written or moved into place.
void writeJsonAtomically(const std::filesystem::path& path, const nlohmann::json& j);

/// One block's entry in the run's records ("blocks" of progress.json and run.json), filled in by the calibration and
/// turned into JSON by blockRecordJson alone.
struct BlockRecord {
    struct Matrix {
        Site transform = Site::Invalid;
        float minMargin = 0;
        float medianMargin = 0;
        int64_t nonDominantRows = 0;
        int64_t rows = 0;
        double conditionEstimate = 0;
    };
    struct Epoch {
        int epoch = 0;
        double meanLoss = 0;
        double seconds = 0;
        int64_t band = 0;
        int64_t headBand = 0;
        double sf = 0;
        bool inverseRefinement = false;  ///< the refined inverses ran: their worst residual and LU fallbacks
        double maxResidual = 0;
        int fallbacksToLu = 0;
        std::vector<Matrix> matrices;
    };
    struct Recovery {
        int epoch = 0;
        std::string reason;
        std::string action;
    };
    int block = 0;
    double seconds = 0;
    bool trained = false;  ///< false: a block rounded to nearest, recorded with its number and time alone
    double initialLoss = 0;
    double finalLoss = 0;
    int64_t peakDeviceBytes = 0;
    std::vector<Epoch> epochs;
    std::vector<Recovery> recoveries;
    std::vector<std::string> perChannelFallback;
};
nlohmann::json blockRecordJson(const BlockRecord& block);

/// What identifies a run's inputs for --resume (progress.json's "fingerprint"): a hash of the model's config.json
/// text, its weights' size, the calibration text and the configuration's JSON text. A run continues only with the same.
std::string resumeFingerprint(const std::string& modelConfigText, uint64_t weightBytes, const std::string& calibrationText,
                              const std::string& configurationJson);

/// The record of a run in progress: progress.json, rewritten after every finished block.
class RunProgressRecord {
public:
    /// A new run. `configuration`: quantConfigJson()'s object; `fingerprint` identifies the inputs for --resume.
    RunProgressRecord(const std::string& fingerprint, int numBlocks, const std::string& modelDir,
                      const std::string& calibrationText, const nlohmann::json& configuration);
    /// The record of an interrupted run, to continue it; throws BadInput when `runDir` has none or its fingerprint is
    /// not `fingerprint` (other inputs or options than the interrupted run).
    static RunProgressRecord resume(const std::filesystem::path& runDir, const std::string& fingerprint);

    int completedBlocks() const;
    int recoveries() const;
    /// Records a finished block: its report (losses, epochs, margins) and the epochs it rolled back.
    void addBlock(const nlohmann::json& report, int recoveries);
    void write(const std::filesystem::path& runDir) const;
    /// What run.json says of the run besides its blocks: the request as this process was given it (a resumed run
    /// records where its model and text are now) and what only the end knows.
    struct Completion {
        std::string modelDir;
        std::string calibrationText;
        nlohmann::json configuration;
        int numBlocks = 0;
        std::string device;
        nlohmann::json quantizationLayout;
        int64_t peakHostBytes = 0;
        int64_t peakDeviceBytes = 0;
        int viewsFormatVersion = 0;
    };
    /// run.json of the completed run: this record's blocks and recoveries with `c`.
    nlohmann::json completed(const Completion& c) const;

private:
    RunProgressRecord() = default;
    nlohmann::json m_json;
};

/// Adds the data-parallel group (ranks, backend) to a completed run's record.
void recordDataParallel(nlohmann::json& run, int ranks, const std::string& backend);
/// Adds the evaluation to a completed run's record.
void recordEvaluation(nlohmann::json& run, const RunEvaluationRecord& e);
/// Writes the completed run's run.json with its duration.
void writeCompletedRun(const std::filesystem::path& runDir, nlohmann::json run, double seconds);

/// The file names inside a run folder.
std::filesystem::path runJsonPath(const std::filesystem::path& runDir);
std::filesystem::path progressJsonPath(const std::filesystem::path& runDir);

}  // namespace aq::detail
