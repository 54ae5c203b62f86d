#pragma once
/// The run folder's records, read and written in one place: `run.json` (a finished run: its configuration, per-block
/// losses and margins, evaluation) and `progress.json` (a run in progress or interrupted: what --resume continues).
///
/// Every reader (export, verify, the command-line program, the application) goes through readRunDescription() or
/// readRunProgress(); the calibration writes through core/src/run_file.cpp. run.json carries a `format_version`;
/// a version newer than this program knows is refused with a message saying so. Files without one (written before
/// it was recorded) read as version 1.
#include "aq/quant_config.h"
#include "aq/site.h"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace aq {

/// The run.json layout this program writes and the newest it reads.
constexpr int kRunFormatVersion = 1;

/// One epoch of one block as run.json records it.
struct RunEpochRecord {
    int epoch = 0;
    std::optional<double> meanLoss;
    double seconds = 0;
    std::map<Site, double> minMargins;  ///< transform (Qkv, Fc1, Out, Qkt) -> its smallest row margin
};

/// One block as run.json records it (RTN runs record no losses).
struct RunBlockRecord {
    int block = 0;
    std::optional<double> initialLoss;
    std::optional<double> finalLoss;
    double seconds = 0;
    int recoveries = 0;            ///< epochs of this block rolled back
    std::vector<RunEpochRecord> epochs;
};

/// The evaluation after the run, when it was asked for.
struct RunEvaluationRecord {
    std::string text;              ///< the held-out text's path
    int64_t seqlen = 0;
    int64_t windows = 0;           ///< the cap asked for (0: every window)
    int64_t windowsEvaluated = 0;  ///< what the text gave (0 in records that predate it)
    double fpPerplexity = 0;
    double rtnPerplexity = 0;
    double quantPerplexity = 0;
};

/// A finished run: run.json.
struct RunDescription {
    std::string runDir;
    int formatVersion = kRunFormatVersion;
    std::string modelDir;           ///< the model the run calibrated, as recorded (absolute when written)
    std::string calibrationText;
    QuantConfig config;             ///< with the device the run used
    std::string configurationJson;  ///< the "configuration" object as stored (for exports that embed it)
    int numBlocks = 0;
    std::vector<RunBlockRecord> blocks;
    std::optional<RunEvaluationRecord> evaluation;
    double seconds = 0;
    int recoveries = 0;             ///< epochs rolled back, over all blocks
    int ranks = 1;                  ///< data-parallel runs: the number of ranks
    std::map<std::string, std::string> versions;  ///< program -> version ("affinequant", "libtorch")
};

/// Reads `runDir`/run.json of a finished run. Throws BadInput saying what to do when the folder is missing, holds an
/// unfinished run (progress.json only), is not a run folder, or its run.json is damaged, of a newer format or not
/// complete; a key of the wrong type is named.
RunDescription readRunDescription(const std::string& runDir);

/// A run folder whose calibration stopped before the end: what progress.json records.
struct RunProgress {
    std::string runDir;
    int completedBlocks = 0;
    int numBlocks = 0;             ///< 0 when the record predates it
    std::string modelDir;          ///< empty in records that predate it
    std::string calibrationText;
    std::optional<QuantConfig> config;  ///< absent when not recorded or not readable by this version
    bool resumable() const { return !modelDir.empty() && !calibrationText.empty() && config.has_value(); }
};

/// Reads `runDir`/progress.json of a run without run.json; std::nullopt when there is none, it is unreadable or
/// larger than any record, or the run completed.
std::optional<RunProgress> readRunProgress(const std::string& runDir);

/// The number of blocks the folder's records name (run.json, else progress.json); 0 when neither says.
int recordedBlockCount(const std::string& runDir);

}  // namespace aq
