#pragma once
// The main window: model, texts and configuration on the left, live views in tabs, a log dock and a status bar.
// The calibration runs in a CalibrationWorker on one dedicated thread; this window only reacts to its signals.
// The window lays out and wires its parts: the run's lifecycle (RunController), its status bar (RunStatus), the replay
// of recorded runs (RunReplay), the estimate (EstimatePanel), exports and reports (ExportController) and the saved runs
// of the results table (RunHistory). Its own code is split by concern: mainwindow.cpp (layout, wiring, settings and
// inputs), mainwindow_run.cpp (a run as the window drives it) and mainwindow_results.cpp (finished runs and export).
#include "estimatepanel.h"
#include "runevents.h"
#include "runhistory.h"
#include "viewdata.h"

#include "aq/calibrate.h"
#include "aq/run_views.h"
#include "aq/export.h"

#include <QHash>
#include <QMainWindow>

#include <memory>
#include <optional>

class QAction;
class QComboBox;
class QFormLayout;
class QGroupBox;
class QLabel;
class QLineEdit;
class QMenu;
class QMimeData;
class QPlainTextEdit;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QTabWidget;

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
class ExportController;
struct InterruptedRun;
class ModelPanel;
class RankProcesses;
class RunController;
struct RunFile;
class RunReplay;
class RunStatus;

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
    QString currentRunDir() const;

    /// The window's parts, for what they do on their own: the export actions, dialog and job (ExportController), the
    /// worker and the other ranks of a run (RunController), the status bar and its progress (RunStatus), and the
    /// memory and time estimate with its measurement (EstimatePanel).
    ExportController* exportController() const { return m_export; }
    RunController* runController() const { return m_run; }
    RunStatus* runStatus() const { return m_status; }

    ModelPanel* modelPanel() const { return m_modelPanel; }
    ConfigPanel* configPanel() const { return m_configPanel; }
    widgets::MessageBar* messageBar() const { return m_messageBar; }
    QTabWidget* tabs() const { return m_tabs; }
    widgets::LossCurveView* lossView() const { return m_lossView; }
    widgets::MatrixHeatmapView* heatmapView() const { return m_heatmapView; }
    widgets::MarginView* marginView() const { return m_marginView; }
    widgets::ResultsView* resultsView() const { return m_resultsView; }
    QPlainTextEdit* logView() const { return m_log; }
    /// Data-parallel runs: the number of ranks (1 to 8; 1 = this process alone).
    QSpinBox* rankSelector() const { return m_rankCount; }

    /// The memory and time estimate of the model panel for the current configuration and device.
    EstimatePanel* estimatePanel() const { return m_estimate; }
    /// Milliseconds between the last change of the configuration and the measurement it needs.
    static constexpr int kMeasureDelayMs = EstimatePanel::kMeasureDelayMs;

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
    // The group boxes of the setup panel, in the order they are created (the tab order): each takes `panel` as parent.
    QGroupBox* createModelGroup(QWidget* panel);
    QGroupBox* createTextsGroup(QWidget* panel);
    QGroupBox* createConfigurationGroup(QWidget* panel);
    QGroupBox* createMaskScheduleGroup(QWidget* panel);
    QGroupBox* createRunGroup(QWidget* panel);
    /// The device list of the Run group: the engine's devices, or the CPU alone when it cannot list them.
    void createDeviceChooser(QWidget* runBox);
    /// Run and Cancel, which trigger the actions of the same names.
    void addRunButtons(QWidget* runBox, QFormLayout* runForm);
    void createCentral();
    void createDocks();
    void createStatusBar();
    void createParts();
    void connectWorker();
    void readSettings();
    void writeSettings() const;

    void appendLog(const QString& line);
    /// `cause`: what the window knows beyond the engine's message (the rank that stopped first), shown before it.
    void showRunError(aq::ErrorCode code, const QString& detail, const QString& cause = QString());
    void setRunning(bool running);
    void updateMaskPreview();
    /// A stage name of the engine in the user's language (see RunStatus).
    static QString stageText(aq::Stage what);
    void updateWindowTitle();
    void applyCpuThreads(int threads);
    void refreshResults();
    void about();
    QString modelDropTarget(const QMimeData* mime) const;
    /// The device chosen for the run, as the engine names it.
    std::string selectedDevice() const;

    // Starting and resuming runs
    /// Shows why a run cannot start; returns false.
    bool refuseRun(const QString& title, const QString& detail);
    /// Checks the model, the texts and the runs folder for a new run. False with a title and detail for the message
    /// bar when one is missing.
    bool inputsReady(QString* title, QString* detail) const;
    /// A new run of `config` on the window's model and texts, in a new folder under the runs folder.
    aq::CalibrationRequest newRunRequest(const aq::QuantConfig& config) const;
    void logRunStart();
    /// Checks what resuming `runDir` needs: its progress.json, its model, text and configuration. The run, with its
    /// model's configuration in `model`, or nothing with `problem` set.
    std::optional<InterruptedRun> resumableRun(const QString& runDir, aq::ModelConfig* model, QString* problem) const;
    /// Continues `run` with its model, text and configuration on the selected device and evaluation settings.
    aq::CalibrationRequest resumeRequest(const InterruptedRun& run) const;
    /// The stored views of the blocks a resumed run finished before, shown before the run continues.
    void replayFinishedBlocks(const InterruptedRun& run);
    /// Starts the prepared run; it has the cores to itself.
    void launchRun();

    void onModelReady(const QString& dir);
    void onModelFailed(const QString& dir, const QString& detail);
    void onStage(aq::Stage what, int block, int numBlocks);
    void onLosses(const QVector<aq::StepLoss>& points);
    void onEpoch(const aq::EpochSummary& epoch);
    void onDiagnostics(const aq::MatrixDiagnostics& d);
    void onRecovery(const aq::Recovery& r);
    void onBlock(const aq::BlockSummary& b);
    void onFinished(const aq::CalibrationResult& outcome);
    /// What a finished run teaches the estimate: its own time per step and its evaluation's cost.
    void learnFromFinishedRun(const widgets::RunRecord& record);
    /// The results table's entry of a finished run: the request's configuration, the outcome's figures and what the
    /// engine recorded in run.json.
    widgets::RunRecord finishedRunRecord(const aq::CalibrationResult& outcome) const;
    /// Keeps a finished run and its live loss curves for the results table and comparisons, and selects it.
    void rememberFinishedRun(const widgets::RunRecord& record);
    void announceFinishedRun(const aq::CalibrationResult& outcome);
    /// `cause`: the rank that stopped first, when it explains the failure.
    void onFailed(aq::ErrorCode code, const QString& detail, const QString& cause);
    void onCancelled();
    void afterRun();
    void showMarginsFor(int block, const QString& transform, int epoch);
    /// Reads a run folder's run.json into `run`. When it cannot, says why in the message bar (and offers to resume an
    /// interrupted run) and returns false.
    bool readRunOrExplain(const QString& runDir, RunFile* run);
    /// The reopened run's configuration, device and calibration text in the setup panel.
    void loadRunSettings(const RunFile& run);
    /// Says in the message bar and the log what of a reopened run the views show.
    void announceOpenedRun(const RunFile& run, const aq::RunViewsSummary& views);
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
    void onExportEnded(bool ok);
    void updateExportAction();
    bool isExporting() const;

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
    EstimatePanel* m_estimate = nullptr;
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
    RunStatus* m_status = nullptr;  ///< its fields, the progress and the counts of the run it is made of

    // Actions
    QAction* m_openAction = nullptr;
    QAction* m_openRunAction = nullptr;
    QAction* m_runAction = nullptr;
    QAction* m_cancelAction = nullptr;
    QAction* m_quitAction = nullptr;
    QAction* m_logScaleAction = nullptr;
    QMenu* m_viewMenu = nullptr;

    // The run in progress
    bool m_running = false;
    bool m_closeAfterRun = false;
    RunController* m_run = nullptr;  ///< the worker, its request and the other ranks of a data-parallel run
    /// Feeds a recorded run's stored reports through the live handlers (a reopened run, a resumed run's blocks).
    std::unique_ptr<RunReplay> m_replay;
    QHash<QString, QVector<float>> m_rowMargins;  ///< "block/transform/epoch" -> margins of that matrix

    // Runs kept for the results table; exports and reports of finished runs.
    RunHistory m_history;
    ExportController* m_export = nullptr;
    QString m_interruptedRunDir;
    QString m_pendingResume;  ///< a run to resume once its model, being opened, is read
    QAction* m_resumeAction = nullptr;
    QString m_viewsModelDir;  ///< the model whose run the views show (canonical path; empty: none)
};

}  // namespace aq::gui
