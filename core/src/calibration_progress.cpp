// A calibration's progress (aq::Progress) from its step, epoch and block reports.
#include "calibration_progress.h"

#include <algorithm>

namespace aq::detail {

void ProgressReporter::stage(Stage what, int block, int numBlocks)
{
    if (numBlocks > 0)
        m_numBlocks = numBlocks;
    m_next.stage(what, block, numBlocks);
}

int64_t ProgressReporter::stepsDone(int block, int epoch, int64_t step) const
{
    return (int64_t(block) * m_epochs + epoch) * m_stepsPerEpoch + step;
}

void ProgressReporter::reportSteps(int64_t done)
{
    const int64_t total = int64_t(m_numBlocks) * m_epochs * m_stepsPerEpoch;
    m_next.progress(m_clock.at(std::min(done, total), total));
}

void ProgressReporter::stepLoss(const StepLoss& s)
{
    m_next.stepLoss(s);
    if (s.stepsPerEpoch <= 0 || m_epochs <= 0)
        return;
    m_stepsPerEpoch = s.stepsPerEpoch;
    if (!m_started) {
        m_started = true;
        m_clock.setDoneAtStart(stepsDone(s.block, s.epoch, s.step));  // a resumed run's finished blocks
    }
    reportSteps(stepsDone(s.block, s.epoch, s.step + 1));
}

void ProgressReporter::epochFinished(const EpochSummary& e)
{
    m_next.epochFinished(e);
    if (m_stepsPerEpoch > 0)
        reportSteps(stepsDone(e.block, e.epoch + 1, 0));
}

void ProgressReporter::blockFinished(const BlockSummary& b)
{
    m_next.blockFinished(b);
    if (b.numBlocks > 0)
        m_numBlocks = b.numBlocks;
    if (m_stepsPerEpoch > 0)
        reportSteps(stepsDone(b.block + 1, 0, 0));
    else  // nothing trained (round-to-nearest): progress in blocks
        m_next.progress(m_clock.at(b.block + 1, m_numBlocks));
}

}  // namespace aq::detail
