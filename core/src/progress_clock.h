#pragma once
// The clock behind every aq::Progress an operation reports (internal, no torch): elapsed time, and the time left at
// the pace of the work this process did itself (a resumed run's earlier blocks do not count as fast work).
#include "aq/progress.h"

#include <chrono>

namespace aq::detail {

class ProgressClock {
public:
    ProgressClock() : m_start(std::chrono::steady_clock::now()) {}
    /// Units already done when the clock started (a resumed run's finished blocks): excluded from the pace.
    void setDoneAtStart(int64_t done) { m_doneAtStart = done; }
    Progress at(int64_t done, int64_t total) const
    {
        Progress p;
        p.done = done;
        p.total = total;
        p.elapsedSeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - m_start).count();
        const int64_t ownWork = done - m_doneAtStart;
        if (ownWork > 0 && total >= done)
            p.remainingSeconds = p.elapsedSeconds * double(total - done) / double(ownWork);
        return p;
    }

private:
    std::chrono::steady_clock::time_point m_start;
    int64_t m_doneAtStart = 0;
};

}  // namespace aq::detail
