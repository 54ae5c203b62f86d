#pragma once
// A calibration's progress in the one shape every long operation reports (aq::Progress): derived from the engine's
// own step, epoch and block reports and passed on, with everything else, to the caller's observer (internal, no torch).
#include "aq/calibrate.h"
#include "progress_clock.h"

namespace aq::detail {

/// Forwards every report to `next` and adds progress(): training steps over the whole run (blocks x epochs x steps per
/// epoch), or blocks for a run that trains nothing (round-to-nearest). The time left is at the pace of the steps this
/// process ran, so a resumed run's finished blocks do not make it look fast.
class ProgressReporter : public CalibrationObserver {
public:
    ProgressReporter(CalibrationObserver& next, int epochs) : m_next(next), m_epochs(epochs) {}

    void stage(Stage what, int block, int numBlocks) override;
    void stepLoss(const StepLoss& s) override;
    void epochFinished(const EpochSummary& e) override;
    void matrixDiagnostics(const MatrixDiagnostics& d) override { m_next.matrixDiagnostics(d); }
    void matrixSnapshot(const MatrixSnapshot& m) override { m_next.matrixSnapshot(m); }
    void activationProfile(const ActivationProfile& a) override { m_next.activationProfile(a); }
    void weightHistogram(const WeightHistogram& h) override { m_next.weightHistogram(h); }
    void recovery(const Recovery& r) override { m_next.recovery(r); }
    void blockFinished(const BlockSummary& b) override;
    void log(const std::string& line) override { m_next.log(line); }
    void progress(const Progress& p) override { m_next.progress(p); }

private:
    /// Steps done once `step` steps of epoch `epoch` of block `block` are.
    int64_t stepsDone(int block, int epoch, int64_t step) const;
    void reportSteps(int64_t done);

    CalibrationObserver& m_next;
    const int m_epochs;
    int m_numBlocks = 0;
    int64_t m_stepsPerEpoch = 0;  ///< known from the first step report
    bool m_started = false;       ///< the first step was seen: the pace counts from the work before it
    ProgressClock m_clock;
};

}  // namespace aq::detail
