#pragma once
// Runs a calibration on the thread it lives on (one dedicated QThread) and turns every observer call of the engine
// into a queued signal carrying the engine's own values (runevents.h registers them) or, for the views, their value
// types. Cancel is an atomic flag set directly from the GUI thread and polled by the engine between steps; a cancelled
// run ends with cancelled(), never with failed().
#include "runevents.h"

#include "aq/calibrate.h"
#include "aq/run_views.h"

#include <QElapsedTimer>
#include <QObject>

#include <atomic>

namespace aq::gui {

class CalibrationWorker : public QObject, public aq::CalibrationObserver {
    Q_OBJECT
public:
    explicit CalibrationWorker(QObject* parent = nullptr);

    /// Step losses are gathered and sent at most this often (the engine already throttles, but a fast CPU run can
    /// still report hundreds of points a second and every queued signal is an allocation and an event).
    static constexpr int kLossBatchIntervalMs = 50;

    /// Queues a run on the worker's thread. Callable from any thread; clears an earlier cancel request first.
    void start(const aq::CalibrationRequest& request);
    /// Asks the running calibration to stop at its next check. Callable from any thread, never blocks.
    void cancel() { m_cancel.store(true); }
    bool cancelRequested() const { return m_cancel.load(); }
    /// True from the moment start() queues a run until its last signal was emitted.
    bool isBusy() const { return m_busy.load(); }

    /// Runs synchronously on the calling thread (what start() queues). Emits exactly one of finished, failed or
    /// cancelled.
    void runNow(const aq::CalibrationRequest& request);

    /// Emits the stored reports of a finished or interrupted run (the run folder's views, aq/run_views.h) through the
    /// same signals as a live run, synchronously on the calling thread, so a reopened run fills the views the way
    /// the live run did. No terminal signal follows. Call it only while no run is in progress; from the GUI thread,
    /// the signals reach the window directly. Throws aq::Error(BadInput) when the folder cannot be read.
    /// `blockLimit` >= 0: only the blocks below it.
    aq::RunViewsSummary replay(const QString& runDir, int blockLimit = -1);

signals:
    void started();
    void stageChanged(aq::Stage what, int block, int numBlocks);
    void lossesReady(const QVector<aq::StepLoss>& points);
    void epochEnded(const aq::EpochSummary& epoch);
    void matrixDiagnosticsReady(const aq::MatrixDiagnostics& diagnostics);
    void matrixSnapshotReady(const aq::widgets::MatrixFrame& frame);
    void activationProfileReady(const aq::widgets::ActivationProfileData& profile);
    void weightHistogramReady(const aq::widgets::WeightHistogramData& histogram);
    void recoveryHappened(const aq::Recovery& recovery);
    void blockEnded(const aq::BlockSummary& block);
    /// The engine's progress over the whole run (the bar and the ETA show it as it is).
    void progressed(const aq::Progress& progress);
    void logLine(const QString& line);
    void finished(const aq::CalibrationResult& outcome);
    void failed(aq::ErrorCode code, const QString& detail);
    void cancelled();

private:
    // aq::CalibrationObserver, called by the engine on this worker's thread.
    void stage(aq::Stage what, int block, int numBlocks) override;
    void stepLoss(const aq::StepLoss& s) override;
    void epochFinished(const aq::EpochSummary& e) override;
    void matrixDiagnostics(const aq::MatrixDiagnostics& d) override;
    void matrixSnapshot(const aq::MatrixSnapshot& m) override;
    void activationProfile(const aq::ActivationProfile& a) override;
    void weightHistogram(const aq::WeightHistogram& h) override;
    void recovery(const aq::Recovery& r) override;
    void blockFinished(const aq::BlockSummary& b) override;
    void progress(const aq::Progress& p) override;
    void log(const std::string& line) override;

    void flushLosses();

    std::atomic<bool> m_cancel{false};
    std::atomic<bool> m_busy{false};
    bool m_priorityLowered = false;  ///< only touched on the worker thread
    QVector<aq::StepLoss> m_pendingLosses;
    QElapsedTimer m_sinceFlush;
};

}  // namespace aq::gui
