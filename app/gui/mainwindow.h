#pragma once
// The main window: model, texts and configuration on the left, live views in tabs, a log dock and a status bar.
// The calibration runs in a CalibrationWorker on one dedicated thread; this window only reacts to its signals.
#include "rateprobe.h"
#include "runevents.h"
#include "viewdata.h"

#include "aq/calibrate.h"
#include "aq/run_views.h"
#include "aq/export.h"

#include <QElapsedTimer>
#include <QFutureWatcher>
#include <QHash>
#include <QMainWindow>
#include <QPointer>

#include <atomic>
#include <functional>

class QAction;
class QComboBox;
class QLabel;
class QLineEdit;
class QMenu;
class QMimeData;
class QPlainTextEdit;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QTabWidget;
class QThread;
class QTimer;

namespace aq::widgets {
class ActivationView;
class LossCurveView;
class MarginView;
class MaskScheduleView;
class MatrixHeatmapView;
class MessageBar;
class ResultsView;
class TeachingView;
class WeightHistogramView;
}  // namespace aq::widgets

namespace aq::gui {

class CalibrationWorker;
class ConfigPanel;
struct RunFile;
class ExportJob;
class ModelPanel;
class RankProcesses;

class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    explicit MainWindow(QWidget* parent = nullptr);
    ~MainWindow() override;

    enum Tab { TabLoss = 0, TabMatrices, TabMargins, TabActivations, TabWeights, TabResults, TabTeaching, TabCount };

    /// Opens a model folder (what the folder dialog, the recent list and drag and drop do).
    void openModel(const QString& dir);
    void setCalibrationText(const QString& path);
    void setEvaluationText(const QString& path);
    QString calibrationText() const;
    QString evaluationText() const;
    void setRunsFolder(const QString& dir);
    QString runsFolder() const;

    /// Reopens a finished run: its result joins the table, its configuration fills the panel, and its per-epoch
    /// losses and margins (what run.json keeps) fill those views. Problems are shown in the message bar.
    bool openRun(const QString& runDir);
    /// Validates the inputs and starts a calibration on the worker thread. Problems are shown in the message bar.
    bool startRun();
    /// Continues a run folder whose calibration stopped before the end (progress.json, no run.json) with the model,
    /// text and configuration it was started with, on the selected device; finished blocks are kept and their stored
    /// views shown first. Problems are shown in the message bar.
    bool resumeRun(const QString& runDir);
    /// The folder Run > Resume Interrupted Run offers (the last run that stopped with finished blocks); may be empty.
    QString interruptedRunDir() const { return m_interruptedRunDir; }
    QAction* resumeAction() const { return m_resumeAction; }
    /// Asks the running calibration to stop; returns at once.
    void cancelRun();
    bool isRunning() const { return m_running; }
    /// The output folder of the running (or last) run.
    QString currentRunDir() const { return QString::fromStdString(m_request.runDir); }

    /// The finished run that Export works on: the run selected in the results table when its folder holds a
    /// run.json, otherwise the last run that finished or was reopened in this window. Empty when there is none.
    QString exportableRunDir() const;
    /// Starts exporting on a pool thread (options.runDir must be a finished run); exportEnded() follows. Problems
    /// and the result are shown in the message bar. Returns false when nothing was started.
    bool startExport(const aq::ExportOptions& options);
    void cancelExport();
    bool isExporting() const;
    QAction* exportAction() const { return m_exportAction; }
    QAction* reportAction() const { return m_reportAction; }
    /// Writes the report of the run Export would use to `path` (.md: Markdown, .csv: CSV). False with `error` set.
    bool saveRunReport(const QString& path, QString* error = nullptr) const;

    ModelPanel* modelPanel() const { return m_modelPanel; }
    ConfigPanel* configPanel() const { return m_configPanel; }
    CalibrationWorker* worker() const { return m_worker; }
    widgets::MessageBar* messageBar() const { return m_messageBar; }
    QTabWidget* tabs() const { return m_tabs; }
    widgets::LossCurveView* lossView() const { return m_lossView; }
    widgets::MatrixHeatmapView* heatmapView() const { return m_heatmapView; }
    widgets::MarginView* marginView() const { return m_marginView; }
    widgets::ResultsView* resultsView() const { return m_resultsView; }
    QPlainTextEdit* logView() const { return m_log; }
    QProgressBar* progressBar() const { return m_progress; }
    QLabel* stateLabel() const { return m_stateLabel; }
    /// Data-parallel runs: the number of ranks (1 to 8; 1 = this process alone), the status bar field with each
    /// rank's throughput, and the child processes that run ranks 1..N-1.
    QSpinBox* rankSelector() const { return m_rankCount; }
    QLabel* ranksLabel() const { return m_ranksLabel; }
    RankProcesses* rankProcesses() const { return m_rankProcesses; }

    /// The memory and time estimate of the model panel for the current configuration and device.
    QLabel* estimateLabel() const { return m_estimate; }
    /// The time estimate in seconds (calibration only), or 0 while it is not known.
    double estimatedSeconds() const { return m_estimatedSeconds; }
    /// The measurement behind the time estimate (see RateProbe).
    RateProbe* rateProbe() const { return m_probe; }
    /// Milliseconds between the last change of the configuration and the measurement it needs.
    static constexpr int kMeasureDelayMs = 800;

signals:
    /// A run ended, whichever way (finished, failed or cancelled); the window is ready for the next one.
    void runEnded();
    /// An export ended; `ok` is false when it failed or was cancelled.
    void exportEnded(bool ok);

protected:
    void closeEvent(QCloseEvent* event) override;
    void dragEnterEvent(QDragEnterEvent* event) override;
    void dropEvent(QDropEvent* event) override;

private:
    void createActions();
    void createMenus();
    QWidget* createSetupPanel();
    void createCentral();
    void createDocks();
    void createStatusBar();
    void connectWorker();
    void readSettings();
    void writeSettings() const;

    void appendLog(const QString& line);
    /// `cause`: what the window knows beyond the engine's message (the rank that stopped first), shown before it.
    void showRunError(aq::ErrorCode code, const QString& detail, const QString& cause = QString());
    void setRunning(bool running);
    void updateMaskPreview();
    void updateEstimate();
    void measureRateIfNeeded();
    /// Tokens the evaluation after a run reads (0: none): the chosen windows, or the whole text estimated by size.
    int64_t evaluationTokens(const aq::QuantConfig& c) const;
    QString evalRateKey(const aq::QuantConfig& c) const;
    void updateProgress();
    /// The progress bar as a busy indicator (stages without progress reports) or as the run's progress.
    void setProgressBusy(bool busy);
    /// A stage name of the engine in the user's language.
    static QString stageText(const QString& what);
    void updateWindowTitle();
    void applyCpuThreads(int threads);
    /// Data-parallel runs (more than one rank chosen): checks that m_request can run on the chosen ranks, starts ranks
    /// 1..N-1 as child processes and sets m_request.world for rank 0, the worker. With one rank it only resets the
    /// world. False with `detail` set when the run cannot start.
    bool startOtherRanks(QString* detail);
    /// Runs `handler` (a terminal outcome of rank 0) once the other ranks have ended: they get `waitMs` to end on
    /// their own, then are stopped. At once when there are none.
    void afterOtherRanks(int waitMs, std::function<void()> handler);
    void onRankFailed(int rank, const QString& description, const QStringList& lastLines);
    void refreshResults();
    void about();
    QString modelDropTarget(const QMimeData* mime) const;
    QString newRunDir() const;

    void onModelReady(const QString& dir);
    void onModelFailed(const QString& dir, const QString& detail);
    void onStage(const QString& what, int block, int numBlocks);
    void onLosses(const QVector<aq::gui::StepLossPoint>& points);
    void onEpoch(const aq::gui::EpochInfo& epoch);
    void onDiagnostics(const aq::gui::MatrixDiagnosticsInfo& d);
    void onRecovery(const aq::gui::RecoveryInfo& r);
    void onBlock(const aq::gui::BlockInfo& b);
    void onFinished(const aq::gui::RunOutcome& outcome);
    void onFailed(aq::ErrorCode code, const QString& detail);
    void onCancelled();
    void afterRun();
    void showMarginsFor(int block, const QString& transform, int epoch);
    /// Fills every view from a reopened run's folder: its stored views (aq/run_views.h) replayed through the live
    /// handlers, run.json's per-epoch losses and margins for blocks without them. Says what was shown.
    aq::RunViewsSummary showRunViews(const RunFile& run);
    /// "0–3, 7": block numbers for a message.
    static QString blockList(const std::vector<int>& blocks);
    /// Clears the views and the progress state for a run of `numBlocks` blocks with `config`.
    void prepareRunViews(int numBlocks, const aq::QuantConfig& config);
    /// After a run stopped early: keeps the folder for Resume when blocks were finished, removes it otherwise.
    QString keepOrRemoveStoppedRun();
    void compareWith(const QString& runId);
    void forgetRun(const QString& runId);
    void showExportDialog();
    void askAndSaveRunReport();
    void onExportProgress(qint64 done, qint64 total, const QString& stage);
    void onExportDone();
    void updateExportAction();

    // Saved runs (the results table), kept in QSettings, and their loss curves, kept as small JSON files in the
    // application's data folder (never inside the engine's run folder).
    struct SavedRun {
        widgets::RunRecord record;
        QString modelDir;
    };
    QVector<SavedRun> loadSavedRuns() const;
    void saveSavedRuns(const QVector<SavedRun>& runs) const;
    QString curvesFile(const QString& runId) const;
    void saveCurves(const QString& runId, const QVector<widgets::LossSeries>& curves) const;
    QVector<widgets::LossSeries> loadCurves(const QString& runId) const;

    // Worker
    QThread* m_thread = nullptr;
    CalibrationWorker* m_worker = nullptr;

    // Setup
    ModelPanel* m_modelPanel = nullptr;
    ConfigPanel* m_configPanel = nullptr;
    QLineEdit* m_calibText = nullptr;
    QLineEdit* m_evalText = nullptr;
    QSpinBox* m_evalWindows = nullptr;
    QComboBox* m_device = nullptr;
    QSpinBox* m_cpuThreads = nullptr;
    QSpinBox* m_rankCount = nullptr;
    QLineEdit* m_runsFolder = nullptr;
    QLabel* m_estimate = nullptr;
    RateProbe* m_probe = nullptr;
    QTimer* m_measureDelay = nullptr;
    QHash<QString, CalibrationTimings> m_timings;  ///< measured timings by timingKey()
    double m_estimatedSeconds = 0;
    QPushButton* m_runButton = nullptr;
    QPushButton* m_cancelButton = nullptr;
    widgets::MaskScheduleView* m_maskView = nullptr;

    // Views
    widgets::MessageBar* m_messageBar = nullptr;
    QTabWidget* m_tabs = nullptr;
    widgets::LossCurveView* m_lossView = nullptr;
    widgets::MatrixHeatmapView* m_heatmapView = nullptr;
    widgets::MarginView* m_marginView = nullptr;
    widgets::ActivationView* m_activationView = nullptr;
    widgets::WeightHistogramView* m_histogramView = nullptr;
    widgets::ResultsView* m_resultsView = nullptr;
    widgets::TeachingView* m_teachingView = nullptr;
    QPlainTextEdit* m_log = nullptr;

    // Status bar
    QLabel* m_stateLabel = nullptr;
    QLabel* m_ranksLabel = nullptr;
    QLabel* m_blockLabel = nullptr;
    QLabel* m_epochLabel = nullptr;
    QLabel* m_lossLabel = nullptr;
    QLabel* m_etaLabel = nullptr;
    QProgressBar* m_progress = nullptr;
    QTimer* m_stageTimer = nullptr;  ///< refreshes the elapsed time of a stage without progress reports
    QElapsedTimer m_stageClock;

    // Actions
    QAction* m_openAction = nullptr;
    QAction* m_openRunAction = nullptr;
    QAction* m_exportAction = nullptr;
    QAction* m_reportAction = nullptr;
    QAction* m_runAction = nullptr;
    QAction* m_cancelAction = nullptr;
    QAction* m_quitAction = nullptr;
    QAction* m_logScaleAction = nullptr;
    QMenu* m_viewMenu = nullptr;

    // The run in progress
    bool m_running = false;
    bool m_replaying = false;  ///< a reopened run's stored reports are being fed through the live handlers
    bool m_closeAfterRun = false;
    aq::CalibrationRequest m_request;
    RankProcesses* m_rankProcesses = nullptr;  ///< ranks 1..N-1 of a data-parallel run
    bool m_cpuSplit = false;  ///< the CPU policy was narrowed to rank 0's share of the cores for this run
    bool m_ranksMet = false;  ///< rank 0 has reported: the ranks of the run have formed their group
    bool m_stoppedForRank = false;  ///< rank 0 was stopped because another rank failed before the ranks met
    QElapsedTimer m_runClock;
    int m_numBlocks = 0;
    int m_epochsPerBlock = 0;
    int m_epochsDone = 0;
    double m_epochFraction = 0;  ///< steps done of the epoch in progress
    double m_runEpochSeconds = 0;  ///< the live run's epochs, summed, for the estimates that follow it
    int m_runEpochs = 0;
    double m_estimatedEvalSeconds = 0;
    bool m_evaluating = false;              ///< the live run is in its evaluation stage (m_stageClock times it)
    QHash<QString, double> m_evalRates;     ///< measured evaluation seconds per window and block, by evalRateKey
    int m_currentBlock = -1;
    qint64 m_stepsPerEpoch = 1;
    int m_recoveries = 0;
    QHash<QString, QVector<float>> m_rowMargins;  ///< "block/transform/epoch" -> margins of that matrix

    // Exports: a run that finished or was reopened, and the export in progress.
    QString m_lastRunDir;
    QString m_interruptedRunDir;
    QString m_pendingResume;  ///< a run to resume once its model, being opened, is read
    QAction* m_resumeAction = nullptr;
    QString m_viewsModelDir;  ///< the model whose run the views show (canonical path; empty: none)
    ExportJob* m_exportJob = nullptr;
};

}  // namespace aq::gui
