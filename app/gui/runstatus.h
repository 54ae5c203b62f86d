#pragma once
// The status bar while a run is live: the fields of its state, block, epoch, loss, ETA and ranks, the progress bar
// (a busy indicator with a stage clock where the engine reports no progress), and the counts the progress is made of.
#include "runevents.h"

#include "aq/calibrate.h"
#include "aq/progress.h"
#include "aq/stage.h"

#include <QElapsedTimer>
#include <QObject>
#include <QString>

#include <functional>

class QLabel;
class QMainWindow;
class QProgressBar;
class QTimer;

namespace aq::gui {

class RunStatus : public QObject {
    Q_OBJECT
public:
    /// Makes the fields and adds them to `window`'s status bar. `running` tells whether the window's run is going;
    /// `estimatedSeconds` is the estimate's time for the run (0 while it is not known), the ETA until the first step
    /// is timed.
    RunStatus(QMainWindow* window, std::function<bool()> running, std::function<double()> estimatedSeconds);

    QLabel* stateLabel() const { return m_stateLabel; }
    /// Each rank's throughput; shown for data-parallel runs.
    QLabel* ranksLabel() const { return m_ranksLabel; }
    QProgressBar* progressBar() const { return m_progress; }

    /// A stage name of the engine in the user's language.
    static QString stageText(aq::Stage what);
    /// "1:05", "2:03:04"; "–" for a time that is not known.
    static QString formatDuration(double seconds);

    // The run's counts
    /// A new run of `numBlocks` blocks with `config` on `ranks` ranks: nothing of it is done yet.
    void prepareRun(int numBlocks, const aq::QuantConfig& config, int ranks);
    /// The epochs per block and the steps per epoch of `config` (the scales of the views, for a reopened run too).
    void takeConfig(const aq::QuantConfig& config);
    void setNumBlocks(int numBlocks) { m_numBlocks = numBlocks; }
    /// A resumed run: the blocks below `completedBlocks` are done.
    void resumeAfter(int completedBlocks);
    /// The run's clock, which the ETA extrapolates, starts now.
    void startClock() { m_runClock.start(); }
    int numBlocks() const { return m_numBlocks; }
    int epochsPerBlock() const { return m_epochsPerBlock; }
    qint64 stepsPerEpoch() const { return m_stepsPerEpoch; }
    /// The live run's epochs, and their seconds summed, for the estimates that follow it.
    double runEpochSeconds() const { return m_runEpochSeconds; }
    int runEpochs() const { return m_runEpochs; }
    /// The live run is in its evaluation stage, for stageSeconds() so far.
    bool evaluating() const { return m_evaluating; }
    double stageSeconds() const { return m_stageClock.elapsed() / 1000.0; }
    /// What the evaluation took has been learned.
    void endEvaluation() { m_evaluating = false; }

    // The reports of the run. Replayed runs report their stages and epoch counts; the rest is the live run's.
    void showRunning(bool running);
    void stageChanged(aq::Stage what, int block, int numBlocks);
    /// An epoch report, replayed or live: one with its epoch count sets the epochs per block.
    void takeEpochCount(int epochs);
    /// The last of a batch of step losses: the block, epoch and loss fields.
    void lossReported(const aq::StepLoss& last);
    /// The engine's progress report: the bar and the ETA.
    void progressReported(const aq::Progress& p);
    void epochEnded(const aq::EpochSummary& e);
    void blockEnded(const aq::BlockSummary& b);
    void countRecovery() { ++m_recoveries; }
    void showRecovered(const QString& reason);
    /// The progress bar as a busy indicator (stages without progress reports) or as the run's progress.
    void setProgressBusy(bool busy);
    void showCancelling();
    void showFinished();
    void showFailed();
    void showCancelled();

signals:
    void logLine(const QString& line);

private:
    void createFields(QMainWindow* window);
    /// The ranks field as wide as `ranks` ranks need.
    void prepareRanksField(int ranks);
    /// "Ranks: 0: 12.5 · 1: 12.4 windows/s" from an epoch's report.
    void showRankThroughput(const QVector<double>& windowsPerSecond);
    void updateProgress();

    std::function<bool()> m_running;
    std::function<double()> m_estimatedSeconds;

    QLabel* m_stateLabel = nullptr;
    QLabel* m_ranksLabel = nullptr;
    QLabel* m_blockLabel = nullptr;
    QLabel* m_epochLabel = nullptr;
    QLabel* m_lossLabel = nullptr;
    QLabel* m_etaLabel = nullptr;
    QProgressBar* m_progress = nullptr;
    QTimer* m_stageTimer = nullptr;  ///< refreshes the elapsed time of a stage without progress reports
    QElapsedTimer m_stageClock;

    QElapsedTimer m_runClock;
    int m_numBlocks = 0;
    int m_epochsPerBlock = 0;
    aq::Progress m_last;  ///< the engine's last progress report (what the run folder says, for a resumed run)
    double m_runEpochSeconds = 0;  ///< the live run's epochs, summed, for the estimates that follow it
    int m_runEpochs = 0;
    bool m_evaluating = false;  ///< the live run is in its evaluation stage (m_stageClock times it)
    int m_currentBlock = -1;
    qint64 m_stepsPerEpoch = 1;
    int m_recoveries = 0;
};

}  // namespace aq::gui
