#pragma once
// The other ranks of a data-parallel run started from the window: whether the run can have them, starting them as
// child processes with their share of the cores, waiting for them when rank 0 ends, and which of them stopped first.
#include "aq/calibrate.h"
#include "aq/error.h"

#include <QObject>
#include <QString>

#include <functional>

namespace aq::gui {

class CalibrationWorker;
class RankProcesses;

class OtherRanks : public QObject {
    Q_OBJECT
public:
    /// `worker` is rank 0. `running` tells whether the window's run is still going; `restoreCpuPolicy` gives the
    /// process its own CPU policy back once the ranks of a run have ended.
    OtherRanks(CalibrationWorker* worker, std::function<bool()> running, std::function<void()> restoreCpuPolicy,
               QObject* parent = nullptr);

    RankProcesses* processes() const { return m_processes; }

    /// More than one rank: checks that `request` can run on `ranks` ranks, starts ranks 1..N-1 as child processes
    /// and sets request.world for rank 0, the worker. With one rank it only resets the world. False with `detail` set
    /// when the run cannot start.
    bool start(aq::CalibrationRequest& request, int ranks, QString* detail);
    /// Runs `handler` (a terminal outcome of rank 0) once the other ranks have ended: they get `waitMs` to end on
    /// their own, then are stopped. At once when there are none.
    void afterEnd(int waitMs, std::function<void()> handler);

    /// Rank 0 has reported: the ranks of the run have formed their group.
    void setMet() { m_met = true; }
    bool met() const { return m_met; }
    /// Rank 0 was stopped because another rank failed before the ranks met.
    bool stoppedForRank() const { return m_stoppedForRank; }
    /// The rank that stopped first and the last words it wrote, when it explains rank 0's failure `code` (what rank 0
    /// lost the group over, or, before the group formed, why rank 0 waited in vain). Empty otherwise.
    QString failureCause(aq::ErrorCode code, const aq::CalibrationRequest& request) const;

signals:
    void logLine(const QString& line);
    /// What the status bar says while the ranks end.
    void stateText(const QString& text);

private:
    void onRankFailed(int rank, const QString& description, const QStringList& lastLines);

    CalibrationWorker* m_worker = nullptr;
    RankProcesses* m_processes = nullptr;
    std::function<bool()> m_running;
    std::function<void()> m_restoreCpuPolicy;
    bool m_cpuSplit = false;  ///< the CPU policy was narrowed to rank 0's share of the cores for this run
    bool m_met = false;  ///< rank 0 has reported: the ranks of the run have formed their group
    bool m_stoppedForRank = false;  ///< rank 0 was stopped because another rank failed before the ranks met
};

}  // namespace aq::gui
