#pragma once
// What a calibration showed while it ran, kept in the run folder so a finished run reopens with every view.
//
// The engine writes `views/block_<i>.safetensors` next to the finished block's weights: every observer report of that
// block (step losses, epoch summaries, matrix diagnostics and snapshots, recoveries, weight histograms, activation
// profiles, the block summary) in the order it was made. Arrays are float32 tensors, everything else is a JSON list
// of events in the file's metadata. Reading a run back replays those reports through a CalibrationObserver, so a
// front end fills its views with the same code that fed them live, epoch history included. docs/engine.md describes
// the layout.
#include "aq/calibrate.h"

#include <cstdint>
#include <string>
#include <vector>

namespace aq {

/// The layout version written into each views file; files of a newer version are refused with a message that says
/// to update the program.
constexpr int kRunViewsFormatVersion = 1;

/// The views of a run folder, read without replaying them.
struct RunViewsSummary {
    int numBlocks = 0;                 ///< the model's blocks (from run.json or progress.json); 0 when unknown
    std::vector<int> blocks;           ///< blocks with a readable views file, ascending
    std::vector<int> missingBlocks;    ///< blocks without one (runs made before views were kept, or lost files)
    std::vector<std::string> problems; ///< unreadable or newer-version files, one message each
    uint64_t bytes = 0;                ///< size of the views files on disk
};

/// Lists what `runDir`/views holds. Never throws for missing or damaged view files (they are reported in
/// `problems`); throws aq::Error(BadInput) only when `runDir` itself cannot be read.
RunViewsSummary inspectRunViews(const std::string& runDir);

/// Replays every stored report of every readable block, in block order and, inside a block, in the order the run
/// made them (stage() and log() are not stored and not replayed). Damaged files are skipped and listed in the
/// returned summary's `problems`; a block whose file is damaged replays nothing (never half a block). `cancel`, when
/// set, stops between blocks with aq::Error(Cancelled). `blockLimit` >= 0 replays only the blocks below it (the
/// finished blocks of a run about to be resumed: a later block's file may be one the engine will redo).
RunViewsSummary replayRunViews(const std::string& runDir, CalibrationObserver& observer,
                               const CancelToken* cancel = nullptr, int blockLimit = -1);

}  // namespace aq
