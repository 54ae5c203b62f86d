#pragma once
// The writing side of aq/run_views.h: an observer that passes every report on and keeps the current block's reports
// until the block is written.
#include "aq/calibrate.h"
#include "aq/run_views.h"

#include <filesystem>
#include <memory>
#include <string>

namespace aq::detail {

/// `views/block_<i>.safetensors` of a run folder.
std::filesystem::path runViewsFile(const std::filesystem::path& runDir, int block);

/// Bytes a block's views file takes at most (for the free-space check before a run).
uint64_t estimateRunViewsBytes(int64_t hiddenSize, int64_t intermediateSize, int epochs);

class ViewRecorder : public CalibrationObserver {
public:
    explicit ViewRecorder(CalibrationObserver& next);
    ~ViewRecorder() override;

    /// Writes the reports kept since the last write (all of block `block`) through a temporary file and a rename,
    /// then forgets them. Throws like writeSafetensors (full disks included).
    void writeBlock(const std::filesystem::path& runDir, int block);
    /// Forgets the reports kept so far (a block that is not written).
    void discard();

    void stage(Stage what, int block, int numBlocks) override;
    void stepLoss(const StepLoss& s) override;
    void epochFinished(const EpochSummary& e) override;
    void matrixDiagnostics(const MatrixDiagnostics& d) override;
    void matrixSnapshot(const MatrixSnapshot& m) override;
    void activationProfile(const ActivationProfile& a) override;
    void weightHistogram(const WeightHistogram& h) override;
    void recovery(const Recovery& r) override;
    void blockFinished(const BlockSummary& b) override;
    void log(const std::string& line) override;

private:
    struct Kept;
    CalibrationObserver& m_next;
    std::unique_ptr<Kept> m_kept;
};

}  // namespace aq::detail
