#pragma once
// A calibration run from start to end: the worker on its dedicated thread (rank 0), the request it runs, the other
// ranks of a data-parallel run, and the run's outcome once every rank has ended.
#include "runevents.h"
#include "runfolders.h"

#include "aq/calibrate.h"
#include "aq/error.h"

#include <QObject>

#include <functional>

class QThread;

namespace aq::gui {

class CalibrationWorker;
class OtherRanks;

class RunController : public QObject {
    Q_OBJECT
public:
    /// `running` tells whether the window's run is still going; `restoreCpuPolicy` gives the process its own CPU
    /// policy back once the ranks of a data-parallel run have ended.
    RunController(std::function<bool()> running, std::function<void()> restoreCpuPolicy, QObject* parent = nullptr);

    CalibrationWorker* worker() const { return m_worker; }
    OtherRanks* otherRanks() const { return m_otherRanks; }
    /// The running (or last) run's request.
    const aq::CalibrationRequest& request() const { return m_request; }

    /// Takes `request` for the next run and, with more than one rank, starts ranks 1..N-1 (request().world is then
    /// rank 0's). False with `problem` set when the run cannot start.
    bool prepare(const aq::CalibrationRequest& request, int ranks, QString* problem);
    /// Starts rank 0, the worker, on the prepared request.
    void launch();
    /// Asks the running calibration to stop; returns at once.
    void cancel();
    bool cancelRequested() const;
    /// What becomes of the folder of the run that just stopped early (see RunFolders::keepOrRemove).
    RunFolders::Stopped keepOrRemoveStoppedRun() const;
    /// Stops whatever still runs and waits for the worker's thread: the other ranks first, so that rank 0 does not
    /// wait for them inside a collective.
    void shutDown();

signals:
    /// The outcomes of a run, each once the other ranks of a data-parallel run have ended.
    void finished(const aq::CalibrationResult& outcome);
    /// `cause`: the rank that stopped first, when it explains the failure (see OtherRanks::failureCause).
    void failed(aq::ErrorCode code, const QString& detail, const QString& cause);
    void cancelled();

private:
    void connectOutcomes();
    void fail(aq::ErrorCode code, const QString& detail);

    QThread* m_thread = nullptr;
    CalibrationWorker* m_worker = nullptr;
    OtherRanks* m_otherRanks = nullptr;
    aq::CalibrationRequest m_request;
};

}  // namespace aq::gui
