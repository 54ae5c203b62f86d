#include "mainwindow.h"

#include "apppaths.h"
#include "calibrationworker.h"
#include "configpanel.h"
#include "enginemessages.h"
#include "exportcontroller.h"
#include "modelpanel.h"
#include "otherranks.h"
#include "rankprocesses.h"
#include "runcontroller.h"
#include "runfile.h"
#include "runreplay.h"
#include "runstatus.h"

#include "activationview.h"
#include "losscurveview.h"
#include "marginview.h"
#include "maskscheduleview.h"
#include "matrixheatmapview.h"
#include "messagebar.h"
#include "resultsview.h"
#include "teachingview.h"
#include "weighthistogramview.h"

#include "aq/device.h"
#include "aq/error.h"

#include <QAction>
#include <QActionGroup>
#include <QApplication>
#include <QComboBox>
#include <QDir>
#include <QDockWidget>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QFontDatabase>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QJsonDocument>
#include <QLabel>
#include <QLineEdit>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QScrollArea>
#include <QSettings>
#include <QSpinBox>
#include <QStandardPaths>
#include <QTabWidget>
#include <QTime>
#include <QTimer>
#include <QToolBar>
#include <QToolButton>
#include <QVBoxLayout>

#include <qcustomplot.h>

#include <algorithm>

namespace aq::gui {

namespace {

constexpr int kLogMaxLines = 20000;

/// The gradual mask's schedule as the engine computes it, for the views that show it (they know no engine).
long long engineBandWidth(long long size, int epochs, int epoch)
{
    return static_cast<long long>(aq::maskBandWidth(size, epochs, epoch));
}

/// A line edit with a Browse button that opens a file dialog.
QWidget* fileRow(QWidget* parent, QLineEdit* edit, const QString& dialogTitle, const QString& filter, bool directory)
{
    auto* w = new QWidget(parent);
    auto* browse = new QToolButton(w);
    browse->setText(QObject::tr("Browse…"));
    auto* row = new QHBoxLayout(w);
    row->setContentsMargins(0, 0, 0, 0);
    row->addWidget(edit, 1);
    row->addWidget(browse);
    QObject::connect(browse, &QToolButton::clicked, edit, [edit, dialogTitle, filter, directory] {
        const QString start = edit->text().isEmpty() ? QDir::homePath() : QFileInfo(edit->text()).absolutePath();
        const QString chosen = directory ? QFileDialog::getExistingDirectory(edit, dialogTitle, edit->text())
                                         : QFileDialog::getOpenFileName(edit, dialogTitle, start, filter);
        if (!chosen.isEmpty())
            edit->setText(QDir::toNativeSeparators(chosen));
    });
    return w;
}

}  // namespace

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent)
{
    setObjectName(QStringLiteral("MainWindow"));
    setAcceptDrops(true);
    createActions();
    createCentral();
    createDocks();
    createMenus();
    createStatusBar();
    createParts();
    connectWorker();

    readSettings();
    setRunning(false);
    updateWindowTitle();
}

MainWindow::~MainWindow()
{
    // Normally nothing runs here (closeEvent waits for a running calibration to end). If something still runs, ask
    // it to stop and wait: the worker must not outlive the thread object. The other ranks of a data-parallel run go
    // first, so that rank 0 does not wait for them inside a collective.
    m_run->shutDown();
    // An export reports to this window: it must have ended before the window goes.
    m_export->cancelAndWait();
}

// ---------------------------------------------------------------------------------------------------------------
// Construction

void MainWindow::createActions()
{
    m_openAction = new QAction(QIcon::fromTheme(QStringLiteral("document-open")), tr("&Open Model…"), this);
    m_openAction->setShortcut(QKeySequence::Open);
    m_openAction->setStatusTip(tr("Choose a Hugging Face model folder"));

    m_openRunAction = new QAction(QIcon::fromTheme(QStringLiteral("folder-open")), tr("Open &Run…"), this);
    m_openRunAction->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_O));
    m_openRunAction->setStatusTip(tr("Reopen a finished run folder (run.json) to compare it or reuse its "
                                     "configuration"));
    connect(m_openRunAction, &QAction::triggered, this, [this] {
        const QString dir = QFileDialog::getExistingDirectory(this, tr("Open a run folder"), runsFolder());
        if (!dir.isEmpty())
            openRun(dir);
    });

    // Export and Save Run Report come next in the File menu.
    m_export = new ExportController(this);

    m_runAction = new QAction(QIcon::fromTheme(QStringLiteral("media-playback-start")), tr("&Run Calibration"), this);
    m_runAction->setShortcuts({QKeySequence(Qt::Key_F5), QKeySequence(Qt::CTRL | Qt::Key_R)});
    m_runAction->setStatusTip(tr("Quantize the model with the current configuration"));
    connect(m_runAction, &QAction::triggered, this, &MainWindow::startRun);

    m_resumeAction = new QAction(tr("Res&ume Interrupted Run…"), this);
    m_resumeAction->setStatusTip(tr("Continue a run that stopped before the end; its finished blocks are kept"));
    connect(m_resumeAction, &QAction::triggered, this, [this] {
        QString dir = m_interruptedRunDir;
        if (dir.isEmpty() || !QFileInfo::exists(QDir(dir).filePath(QStringLiteral("progress.json"))))
            dir = QFileDialog::getExistingDirectory(this, tr("Resume Run"), runsFolder());
        if (!dir.isEmpty())
            resumeRun(dir);
    });

    m_cancelAction = new QAction(QIcon::fromTheme(QStringLiteral("process-stop")), tr("&Cancel Run"), this);
    m_cancelAction->setShortcuts({QKeySequence(Qt::SHIFT | Qt::Key_F5), QKeySequence(Qt::CTRL | Qt::Key_Period)});
    m_cancelAction->setStatusTip(tr("Stop the running calibration; nothing is left that looks complete"));
    connect(m_cancelAction, &QAction::triggered, this, &MainWindow::cancelRun);

    m_quitAction = new QAction(tr("&Quit"), this);
    m_quitAction->setShortcut(QKeySequence::Quit);
    m_quitAction->setMenuRole(QAction::QuitRole);
    connect(m_quitAction, &QAction::triggered, this, &QWidget::close);

    m_logScaleAction = new QAction(tr("&Logarithmic Loss Axis"), this);
    m_logScaleAction->setCheckable(true);
    m_logScaleAction->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_L));
}

void MainWindow::createMenus()
{
    QMenu* file = menuBar()->addMenu(tr("&File"));
    file->addAction(m_openAction);
    file->addMenu(m_modelPanel->recentMenu());
    file->addAction(m_openRunAction);
    file->addAction(m_export->exportAction());
    file->addAction(m_export->reportAction());
    file->addSeparator();
    QAction* calib = file->addAction(tr("Choose &Calibration Text…"));
    connect(calib, &QAction::triggered, this, [this] {
        const QString f = QFileDialog::getOpenFileName(this, tr("Calibration text"), calibrationText(),
                                                       tr("Text files (*.txt);;All files (*)"));
        if (!f.isEmpty())
            setCalibrationText(f);
    });
    QAction* eval = file->addAction(tr("Choose &Evaluation Text…"));
    connect(eval, &QAction::triggered, this, [this] {
        const QString f = QFileDialog::getOpenFileName(this, tr("Evaluation text"), evaluationText(),
                                                       tr("Text files (*.txt);;All files (*)"));
        if (!f.isEmpty())
            setEvaluationText(f);
    });
    QAction* demo = file->addAction(tr("Open &Demo Model"));
    connect(demo, &QAction::triggered, this, [this] {
        openModel(paths::demoModelDir());
        setCalibrationText(paths::demoCalibrationText());
        setEvaluationText(paths::demoEvaluationText());
    });
    file->addSeparator();
    file->addAction(m_quitAction);

    QMenu* run = menuBar()->addMenu(tr("&Run"));
    run->addAction(m_runAction);
    run->addAction(m_resumeAction);
    run->addAction(m_cancelAction);

    m_viewMenu = menuBar()->addMenu(tr("&View"));
    for (int i = 0; i < m_tabs->count(); ++i) {
        QAction* a = m_viewMenu->addAction(m_tabs->tabText(i));
        a->setShortcut(QKeySequence(Qt::CTRL | Qt::Key(Qt::Key_1 + i)));
        connect(a, &QAction::triggered, this, [this, i] { m_tabs->setCurrentIndex(i); });
    }
    m_viewMenu->addSeparator();
    m_viewMenu->addAction(m_logScaleAction);
    m_viewMenu->addSeparator();
    for (QDockWidget* dock : findChildren<QDockWidget*>())
        m_viewMenu->addAction(dock->toggleViewAction());

    // Language: follows the system unless chosen here; applied at the next start (main() reads ui/language).
    QMenu* language = m_viewMenu->addMenu(tr("&Language"));
    auto* languages = new QActionGroup(language);
    const QString current = QSettings().value(QStringLiteral("ui/language")).toString();
    const QList<QPair<QString, QString>> choices = {{QString(), tr("System default")},
                                                    {QStringLiteral("en"), QStringLiteral("English")},
                                                    {QStringLiteral("zh_CN"), QStringLiteral("简体中文")}};
    for (const auto& [code, label] : choices) {
        QAction* a = language->addAction(label);
        a->setCheckable(true);
        a->setChecked(code == current);
        languages->addAction(a);
        connect(a, &QAction::triggered, this, [this, code = code] {
            QSettings().setValue(QStringLiteral("ui/language"), code);
            m_messageBar->showMessage(widgets::MessageBar::Kind::Information, tr("Language:"),
                                      tr("the new language applies the next time AffineQuant Studio starts."));
        });
    }

    QMenu* help = menuBar()->addMenu(tr("&Help"));
    QAction* about = help->addAction(tr("&About AffineQuant Studio"));
    about->setShortcut(QKeySequence::HelpContents);
    about->setMenuRole(QAction::AboutRole);
    connect(about, &QAction::triggered, this, &MainWindow::about);
    QAction* aboutQt = help->addAction(tr("About &Qt"));
    aboutQt->setMenuRole(QAction::AboutQtRole);
    connect(aboutQt, &QAction::triggered, qApp, &QApplication::aboutQt);

    QToolBar* toolbar = addToolBar(tr("Main"));
    toolbar->setObjectName(QStringLiteral("mainToolBar"));
    toolbar->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
    toolbar->addAction(m_openAction);
    toolbar->addAction(m_runAction);
    toolbar->addAction(m_cancelAction);
    toolbar->addAction(m_export->exportAction());
    m_viewMenu->addAction(toolbar->toggleViewAction());
}

QWidget* MainWindow::createSetupPanel()
{
    auto* panel = new QWidget;
    auto* layout = new QVBoxLayout(panel);
    QGroupBox* modelBox = createModelGroup(panel);
    QGroupBox* textBox = createTextsGroup(panel);
    QGroupBox* configBox = createConfigurationGroup(panel);
    QGroupBox* maskBox = createMaskScheduleGroup(panel);
    QGroupBox* runBox = createRunGroup(panel);

    layout->addWidget(modelBox);
    layout->addWidget(textBox);
    layout->addWidget(runBox);
    layout->addWidget(configBox);
    layout->addWidget(maskBox);
    layout->addStretch(1);

    m_estimate->setInputs({m_modelPanel, m_configPanel, m_device, m_rankCount, m_evalWindows,
                           [this] { return calibrationText(); }, [this] { return evaluationText(); },
                           [this] { return m_running; }, [this] { return isExporting(); }});
    return panel;
}

QGroupBox* MainWindow::createModelGroup(QWidget* panel)
{
    auto* modelBox = new QGroupBox(tr("Model"), panel);
    auto* modelLayout = new QVBoxLayout(modelBox);
    m_modelPanel = new ModelPanel(modelBox);
    modelLayout->addWidget(m_modelPanel);
    m_estimate = new EstimatePanel(modelBox);
    modelLayout->addWidget(m_estimate);
    connect(m_openAction, &QAction::triggered, m_modelPanel, &ModelPanel::browse);
    connect(m_modelPanel, &ModelPanel::modelReady, this, &MainWindow::onModelReady);
    connect(m_modelPanel, &ModelPanel::modelFailed, this, &MainWindow::onModelFailed);
    connect(m_modelPanel, &ModelPanel::inspectionStarted, this, [this](const QString& dir) {
        appendLog(tr("Reading model %1").arg(dir));
        setRunning(m_running);  // Run waits for the summary
    });
    return modelBox;
}

QGroupBox* MainWindow::createTextsGroup(QWidget* panel)
{
    auto* textBox = new QGroupBox(tr("Texts"), panel);
    auto* textForm = new QFormLayout(textBox);
    m_calibText = new QLineEdit(textBox);
    connect(m_calibText, &QLineEdit::textChanged, this, [this] {
        if (m_device)  // not while the panel is being built
            m_estimate->refresh();
    });
    m_calibText->setToolTip(tr("UTF-8 text from which the calibration windows are drawn. Keep it disjoint from the "
                               "evaluation text, or the perplexity flatters the result."));
    m_evalText = new QLineEdit(textBox);
    m_evalText->setToolTip(tr("UTF-8 text on which the full-precision, round-to-nearest and quantized perplexities "
                              "are measured after the run. Leave empty to skip the evaluation."));
    m_evalWindows = new QSpinBox(textBox);
    m_evalWindows->setRange(0, 1 << 20);
    m_evalWindows->setSpecialValueText(tr("all"));
    m_evalWindows->setToolTip(tr("Evaluate on at most this many windows of the evaluation text (0: all of them)."));
    const QString textFilter = tr("Text files (*.txt);;All files (*)");
    textForm->addRow(tr("Ca&libration:"), fileRow(textBox, m_calibText, tr("Calibration text"), textFilter, false));
    textForm->addRow(tr("E&valuation:"), fileRow(textBox, m_evalText, tr("Evaluation text"), textFilter, false));
    textForm->addRow(tr("Evaluation &windows:"), m_evalWindows);
    return textBox;
}

QGroupBox* MainWindow::createConfigurationGroup(QWidget* panel)
{
    auto* configBox = new QGroupBox(tr("Configuration"), panel);
    auto* configLayout = new QVBoxLayout(configBox);
    m_configPanel = new ConfigPanel(configBox);
    configLayout->addWidget(m_configPanel);
    connect(m_configPanel, &ConfigPanel::configChanged, this, [this] {
        updateMaskPreview();
        m_estimate->refresh();
    });
    return configBox;
}

QGroupBox* MainWindow::createMaskScheduleGroup(QWidget* panel)
{
    auto* maskBox = new QGroupBox(tr("Mask schedule"), panel);
    auto* maskLayout = new QVBoxLayout(maskBox);
    m_maskView = new widgets::MaskScheduleView(maskBox);
    m_maskView->setMinimumHeight(220);
    // The engine's own schedule, not a copy of it.
    m_maskView->setBandWidthFunction(&engineBandWidth);
    maskLayout->addWidget(m_maskView);
    return maskBox;
}

QGroupBox* MainWindow::createRunGroup(QWidget* panel)
{
    auto* runBox = new QGroupBox(tr("Run"), panel);
    auto* runForm = new QFormLayout(runBox);
    createDeviceChooser(runBox);
    m_runsFolder = new QLineEdit(runBox);
    m_runsFolder->setToolTip(tr("Each run writes a new folder here: run.json (configuration, metrics, "
                                "perplexities) and model/ (the quantized model in Hugging Face layout)."));
    runForm->addRow(tr("&Device:"), m_device);
    // Data-parallel calibration: ranks 1..N-1 are child processes of the command-line program (RankProcesses).
    m_rankCount = new QSpinBox(runBox);
    m_rankCount->setRange(1, 8);
    m_rankCount->setToolTip(
        tr("Data-parallel calibration: each rank calibrates its share of the calibration windows and the ranks "
           "combine their gradients at every step, so the result is that of one process. On CUDA each rank takes "
           "its own device, starting at the selected one (cuda:k, cuda:k+1, …); on the CPU the ranks are processes "
           "that share the cores. The batch size must be a multiple of the ranks. The views show rank 0's data, and "
           "the status bar each rank's throughput."));
    connect(m_rankCount, &QSpinBox::valueChanged, this, [this] { m_estimate->refresh(); });
    runForm->addRow(tr("R&anks:"), m_rankCount);
    // CPU threads: the engine's policy (aq::configureCpu) with the cap chosen here; 0 = automatic.
    m_cpuThreads = new QSpinBox(runBox);
    m_cpuThreads->setRange(0, 4096);
    m_cpuThreads->setSpecialValueText(tr("Automatic"));
    connect(m_cpuThreads, &QSpinBox::valueChanged, this, [this](int n) { applyCpuThreads(n); });
    runForm->addRow(tr("CPU &threads:"), m_cpuThreads);
    runForm->addRow(tr("Runs &folder:"), fileRow(runBox, m_runsFolder, tr("Runs folder"), QString(), true));
    addRunButtons(runBox, runForm);
    return runBox;
}

void MainWindow::createDeviceChooser(QWidget* runBox)
{
    m_device = new QComboBox(runBox);
    m_device->setToolTip(tr("Where the calibration runs. CUDA devices appear when this build's LibTorch supports "
                            "CUDA and a device is visible."));
    try {
        for (const aq::DeviceInfo& d : aq::listDevices())
            m_device->addItem(QStringLiteral("%1 (%2)").arg(QString::fromStdString(d.label),
                                                            QString::fromStdString(d.id)),
                              QString::fromStdString(d.id));
    } catch (const std::exception& e) {
        appendLog(tr("Could not list devices: %1").arg(QString::fromStdString(e.what())));
    }
    if (m_device->count() == 0)
        m_device->addItem(tr("CPU (cpu)"), QStringLiteral("cpu"));
    connect(m_device, &QComboBox::currentIndexChanged, this, [this] {
        m_configPanel->setDevice(m_device->currentData().toString());
        m_estimate->refresh();
    });
}

void MainWindow::addRunButtons(QWidget* runBox, QFormLayout* runForm)
{
    m_runButton = new QPushButton(tr("&Run"), runBox);
    m_runButton->setToolTip(m_runAction->toolTip() + QStringLiteral(" (F5)"));
    m_cancelButton = new QPushButton(tr("Ca&ncel"), runBox);
    m_cancelButton->setToolTip(tr("Stop the running calibration (Shift+F5)"));
    connect(m_runButton, &QPushButton::clicked, m_runAction, &QAction::trigger);
    connect(m_cancelButton, &QPushButton::clicked, m_cancelAction, &QAction::trigger);
    auto* buttons = new QHBoxLayout;
    buttons->addWidget(m_runButton, 1);
    buttons->addWidget(m_cancelButton, 1);
    runForm->addRow(buttons);
}

void MainWindow::createCentral()
{
    auto* central = new QWidget(this);
    auto* layout = new QVBoxLayout(central);
    layout->setContentsMargins(4, 4, 4, 4);
    m_messageBar = new widgets::MessageBar(central);
    m_tabs = new QTabWidget(central);
    m_tabs->setDocumentMode(true);
    layout->addWidget(m_messageBar);
    layout->addWidget(m_tabs, 1);
    setCentralWidget(central);

    m_lossView = new widgets::LossCurveView;
    m_heatmapView = new widgets::MatrixHeatmapView;
    m_marginView = new widgets::MarginView;
    m_activationView = new widgets::ActivationView;
    m_histogramView = new widgets::WeightHistogramView;
    m_resultsView = new widgets::ResultsView;
    m_teachingView = new widgets::TeachingView;
    m_teachingView->setBandWidthFunction(&engineBandWidth);
    m_tabs->insertTab(TabLoss, m_lossView, tr("&Loss"));
    m_tabs->insertTab(TabMatrices, m_heatmapView, tr("&Matrices"));
    m_tabs->insertTab(TabMargins, m_marginView, tr("Mar&gins"));
    m_tabs->insertTab(TabActivations, m_activationView, tr("&Activations"));
    m_tabs->insertTab(TabWeights, m_histogramView, tr("&Weights"));
    m_tabs->insertTab(TabResults, m_resultsView, tr("Res&ults"));
    m_tabs->insertTab(TabTeaching, m_teachingView, tr("&Teaching"));
    m_tabs->setTabToolTip(TabLoss, tr("Block output loss per optimisation step, one curve per block"));
    m_tabs->setTabToolTip(TabMatrices, tr("The learned affine matrices, epoch by epoch, with the gradual mask"));
    m_tabs->setTabToolTip(TabMargins, tr("Diagonal-dominance margins of the learned matrices"));
    m_tabs->setTabToolTip(TabActivations, tr("Per-channel activation ranges before and after each transform"));
    m_tabs->setTabToolTip(TabWeights, tr("Weight histograms with clipping bounds and the quantization grid"));
    m_tabs->setTabToolTip(TabResults, tr("Perplexities of the runs of this model"));
    m_tabs->setTabToolTip(TabTeaching, tr("A small or learned matrix to explore masks, dominance, Gershgorin discs and "
                                          "invertibility"));

    connect(m_logScaleAction, &QAction::toggled, m_lossView, &widgets::LossCurveView::setLogScale);
    connect(m_lossView, &widgets::LossCurveView::logScaleChanged, m_logScaleAction, &QAction::setChecked);
    // The Margins tab picks its matrix itself (any block, transform and epoch of the run); the rows stay here.
    connect(m_marginView, &widgets::MarginView::rowMarginsRequested, this, &MainWindow::showMarginsFor);
    // The heatmap holds the snapshots of the current run and of a reopened one alike: the teaching view copies the
    // history of the matrix selected there.
    connect(m_teachingView, &widgets::TeachingView::learnedMatrixRequested, this, [this] {
        m_teachingView->setLearnedFrames(
            m_heatmapView->history(m_heatmapView->currentBlock(), m_heatmapView->currentTransform()));
    });
    connect(m_resultsView, &widgets::ResultsView::compareRequested, this, &MainWindow::compareWith);
    connect(m_resultsView, &widgets::ResultsView::clearComparisonRequested, m_lossView,
            &widgets::LossCurveView::clearComparison);
    connect(m_resultsView, &widgets::ResultsView::removeRequested, this, &MainWindow::forgetRun);
}

void MainWindow::createDocks()
{
    // The log first: building the setup panel may already have something to report.
    // The setup panel runs the full height of the window; the log sits under the views only.
    setCorner(Qt::BottomLeftCorner, Qt::LeftDockWidgetArea);
    auto* logDock = new QDockWidget(tr("Log"), this);
    logDock->setObjectName(QStringLiteral("logDock"));
    m_log = new QPlainTextEdit(logDock);
    m_log->setReadOnly(true);
    m_log->setMaximumBlockCount(kLogMaxLines);
    m_log->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
    m_log->setMinimumHeight(80);
    logDock->setWidget(m_log);
    logDock->toggleViewAction()->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_L));
    addDockWidget(Qt::BottomDockWidgetArea, logDock);

    auto* setupDock = new QDockWidget(tr("Setup"), this);
    setupDock->setObjectName(QStringLiteral("setupDock"));
    setupDock->setFeatures(QDockWidget::DockWidgetMovable | QDockWidget::DockWidgetClosable |
                           QDockWidget::DockWidgetFloatable);
    auto* scroll = new QScrollArea(setupDock);
    scroll->setWidgetResizable(true);
    scroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    scroll->setWidget(createSetupPanel());
    scroll->setMinimumWidth(420);
    setupDock->setWidget(scroll);
    setupDock->toggleViewAction()->setShortcut(QKeySequence(Qt::Key_F9));
    addDockWidget(Qt::LeftDockWidgetArea, setupDock);

    resizeDocks({logDock}, {130}, Qt::Vertical);
}

void MainWindow::createStatusBar()
{
    m_status = new RunStatus(this, [this] { return m_running; }, [this] { return m_estimate->estimatedSeconds(); });
    connect(m_status, &RunStatus::logLine, this, &MainWindow::appendLog);
}

void MainWindow::createParts()
{
    m_export->attach(m_resultsView, m_messageBar, m_status->stateLabel(), m_status->progressBar());
    connect(m_export, &ExportController::logLine, this, &MainWindow::appendLog);
    // An export and a calibration never run together: the actions follow the export.
    connect(m_export, &ExportController::started, this, [this] { setRunning(false); });
    connect(m_export, &ExportController::cancelling, this, [this] {
        m_cancelAction->setEnabled(false);
        m_cancelButton->setEnabled(false);
    });
    connect(m_export, &ExportController::ended, this, &MainWindow::onExportEnded);

    m_run = new RunController([this] { return m_running; }, [this] { applyCpuThreads(m_cpuThreads->value()); }, this);
    connect(m_run->otherRanks(), &OtherRanks::logLine, this, &MainWindow::appendLog);
    connect(m_run->otherRanks(), &OtherRanks::stateText, m_status->stateLabel(), &QLabel::setText);
    m_replay = std::make_unique<RunReplay>(m_run->worker(), m_lossView, m_marginView, &m_history);
}

void MainWindow::connectWorker()
{
    connect(m_run->worker(), &CalibrationWorker::stageChanged, this, &MainWindow::onStage);
    connect(m_run->worker(), &CalibrationWorker::progressed, m_status, &RunStatus::progressReported);
    connect(m_run->worker(), &CalibrationWorker::lossesReady, this, &MainWindow::onLosses);
    connect(m_run->worker(), &CalibrationWorker::epochEnded, this, &MainWindow::onEpoch);
    connect(m_run->worker(), &CalibrationWorker::matrixDiagnosticsReady, this, &MainWindow::onDiagnostics);
    connect(m_run->worker(), &CalibrationWorker::matrixSnapshotReady, m_heatmapView,
            &widgets::MatrixHeatmapView::addFrame);
    connect(m_run->worker(), &CalibrationWorker::activationProfileReady, m_activationView,
            &widgets::ActivationView::addProfile);
    connect(m_run->worker(), &CalibrationWorker::weightHistogramReady, m_histogramView,
            &widgets::WeightHistogramView::addHistogram);
    connect(m_run->worker(), &CalibrationWorker::recoveryHappened, this, &MainWindow::onRecovery);
    connect(m_run->worker(), &CalibrationWorker::blockEnded, this, &MainWindow::onBlock);
    connect(m_run->worker(), &CalibrationWorker::logLine, this, &MainWindow::appendLog);
    // The run's outcome comes once every rank of a data-parallel run has ended.
    connect(m_run, &RunController::finished, this, &MainWindow::onFinished);
    connect(m_run, &RunController::failed, this, &MainWindow::onFailed);
    connect(m_run, &RunController::cancelled, this, &MainWindow::onCancelled);
}

// ---------------------------------------------------------------------------------------------------------------
// Settings

void MainWindow::readSettings()
{
    QSettings s;
    restoreGeometry(s.value(QStringLiteral("window/geometry")).toByteArray());
    if (!restoreState(s.value(QStringLiteral("window/state")).toByteArray()))
        resize(1440, 920);

    m_modelPanel->setRecentModels(s.value(QStringLiteral("model/recent")).toStringList());
    auto existingOr = [](const QString& saved, const QString& fallback) {
        return !saved.isEmpty() && QFileInfo::exists(saved) ? saved : fallback;
    };
    setCalibrationText(existingOr(s.value(QStringLiteral("texts/calibration")).toString(),
                                  paths::demoCalibrationText()));
    setEvaluationText(s.contains(QStringLiteral("texts/evaluation"))
                          ? s.value(QStringLiteral("texts/evaluation")).toString()
                          : paths::demoEvaluationText());
    m_evalWindows->setValue(s.value(QStringLiteral("texts/evalWindows"), 0).toInt());
    setRunsFolder(s.value(QStringLiteral("runs/folder"),
                          QDir(QStandardPaths::writableLocation(QStandardPaths::AppLocalDataLocation))
                              .filePath(QStringLiteral("runs")))
                      .toString());
    {
        const QSignalBlocker b(m_cpuThreads);
        m_cpuThreads->setValue(s.value(QStringLiteral("run/cpuThreads"), 0).toInt());
    }
    applyCpuThreads(m_cpuThreads->value());
    const int device = m_device->findData(s.value(QStringLiteral("run/device"), QStringLiteral("cpu")));
    m_device->setCurrentIndex(std::max(0, device));
    m_rankCount->setValue(s.value(QStringLiteral("run/ranks"), 1).toInt());
    m_configPanel->setDevice(m_device->currentData().toString());
    const QString method = s.value(QStringLiteral("config/method")).toString();
    if (!method.isEmpty()) {
        try {
            m_configPanel->setMethod(aq::parseMethod(method.toStdString()));
        } catch (const aq::Error&) {
        }
    }
    const QString preset = s.value(QStringLiteral("config/preset")).toString();
    if (!preset.isEmpty())
        m_configPanel->applyPreset(preset);
    // Fields edited away from the preset come back as they were left.
    const QByteArray edited = s.value(QStringLiteral("config/edited")).toByteArray();
    if (!edited.isEmpty()) {
        const QJsonDocument doc = QJsonDocument::fromJson(edited);
        if (doc.isObject()) {
            try {
                m_configPanel->loadConfig(configFromJson(doc.object()));
            } catch (const aq::Error&) {
                // settings this version cannot read: the preset's values stand
            }
        }
    }
    m_lossView->setLogScale(s.value(QStringLiteral("view/logLoss"), false).toBool());

    // A fresh installation opens on the bundled demo model, so that Run works at once.
    const QString model = existingOr(s.value(QStringLiteral("model/dir")).toString(), paths::demoModelDir());
    if (model.isEmpty())
        m_messageBar->showMessage(widgets::MessageBar::Kind::Warning, tr("No model:"),
                                  tr("the bundled demo model was not found. Open a model folder with File > Open "
                                     "Model."));
    else
        openModel(model);
}

void MainWindow::writeSettings() const
{
    QSettings s;
    s.setValue(QStringLiteral("window/geometry"), saveGeometry());
    s.setValue(QStringLiteral("window/state"), saveState());
    s.setValue(QStringLiteral("model/dir"), m_modelPanel->modelDir());
    s.setValue(QStringLiteral("model/recent"), m_modelPanel->recentModels());
    s.setValue(QStringLiteral("texts/calibration"), calibrationText());
    s.setValue(QStringLiteral("texts/evaluation"), evaluationText());
    s.setValue(QStringLiteral("texts/evalWindows"), m_evalWindows->value());
    s.setValue(QStringLiteral("runs/folder"), runsFolder());
    s.setValue(QStringLiteral("run/device"), m_device->currentData());
    s.setValue(QStringLiteral("run/ranks"), m_rankCount->value());
    s.setValue(QStringLiteral("run/cpuThreads"), m_cpuThreads->value());
    s.setValue(QStringLiteral("config/preset"), m_configPanel->presetName());
    s.setValue(QStringLiteral("config/method"), QString::fromLatin1(aq::methodName(m_configPanel->method())));
    if (m_configPanel->isModified())
        s.setValue(QStringLiteral("config/edited"), QByteArray::fromStdString(aq::quantConfigJson(m_configPanel->config())));
    else
        s.remove(QStringLiteral("config/edited"));
    s.setValue(QStringLiteral("view/logLoss"), m_lossView->logScale());
}

// ---------------------------------------------------------------------------------------------------------------
// Inputs

void MainWindow::openModel(const QString& dir)
{
    if (!dir.isEmpty())
        m_modelPanel->setModelDir(dir);
}

void MainWindow::setCalibrationText(const QString& path) { m_calibText->setText(QDir::toNativeSeparators(path)); }
void MainWindow::setEvaluationText(const QString& path) { m_evalText->setText(QDir::toNativeSeparators(path)); }
QString MainWindow::calibrationText() const { return QDir::fromNativeSeparators(m_calibText->text().trimmed()); }
QString MainWindow::evaluationText() const { return QDir::fromNativeSeparators(m_evalText->text().trimmed()); }
void MainWindow::setRunsFolder(const QString& dir) { m_runsFolder->setText(QDir::toNativeSeparators(dir)); }
QString MainWindow::runsFolder() const { return QDir::fromNativeSeparators(m_runsFolder->text().trimmed()); }

void MainWindow::onModelReady(const QString& dir)
{
    const auto& summary = m_modelPanel->summary();
    if (!summary)
        return;
    if (m_messageBar->kind() == widgets::MessageBar::Kind::Error && !m_running)
        m_messageBar->dismiss();  // the previous folder's problem no longer applies
    // Another model: nothing of the previous model's run stays on screen (its curves, matrices, channels, block
    // indices, the finished-run message, the run Export would take).
    const QString canonical = QFileInfo(dir).canonicalFilePath();
    if (!m_running && canonical != m_viewsModelDir) {
        m_lossView->clear();
        m_lossView->clearComparison();
        m_heatmapView->clear();
        m_marginView->clear();
        m_activationView->clear();
        m_histogramView->clear();
        m_rowMargins.clear();
        if (m_messageBar->kind() == widgets::MessageBar::Kind::Information)
            m_messageBar->dismiss();
        m_export->clearLastRunDir();
        m_viewsModelDir = canonical;
    }
    m_configPanel->setModel(summary->config);
    m_heatmapView->setBlockCount(int(summary->config.numLayers));
    appendLog(tr("Model %1: %2 blocks, %3 parameters").arg(dir).arg(summary->config.numLayers).arg(
        summary->parameterCount));
    updateMaskPreview();
    m_estimate->refresh();
    refreshResults();
    updateWindowTitle();
    setRunning(m_running);
    if (!m_pendingResume.isEmpty() && !m_running) {
        const QString pending = std::exchange(m_pendingResume, QString());
        QTimer::singleShot(0, this, [this, pending] { resumeRun(pending); });
    }
}

void MainWindow::onModelFailed(const QString& dir, const QString& detail)
{
    m_pendingResume.clear();
    m_messageBar->showMessage(widgets::MessageBar::Kind::Error, tr("Cannot open the model in %1:").arg(dir), detail);
    appendLog(tr("Cannot open the model in %1: %2").arg(dir, detail));
    m_estimate->refresh();
    refreshResults();
    updateWindowTitle();
    setRunning(m_running);
}

void MainWindow::updateMaskPreview()
{
    const aq::QuantConfig c = m_configPanel->config();
    const auto& summary = m_modelPanel->summary();
    const qint64 d = summary ? summary->config.hiddenSize : 256;
    const qint64 head = summary ? summary->config.headDim : 0;
    m_maskView->setSchedule(d, c.method == aq::Method::Rtn ? 0 : c.epochs, c.sf, head);
}

QString MainWindow::modelDropTarget(const QMimeData* mime) const
{
    if (!mime || !mime->hasUrls() || mime->urls().size() != 1 || !mime->urls().first().isLocalFile())
        return {};
    const QFileInfo info(mime->urls().first().toLocalFile());
    if (info.isDir())
        return info.absoluteFilePath();
    // Dropping config.json or a weight file means its folder.
    if (info.isFile() && (info.fileName() == QLatin1String("config.json") || info.suffix() == QLatin1String("safetensors")))
        return info.absolutePath();
    return {};
}

void MainWindow::dragEnterEvent(QDragEnterEvent* event)
{
    if (!modelDropTarget(event->mimeData()).isEmpty())
        event->acceptProposedAction();
}

void MainWindow::dropEvent(QDropEvent* event)
{
    const QString dir = modelDropTarget(event->mimeData());
    if (dir.isEmpty())
        return;
    event->acceptProposedAction();
    // A run folder reopens the run; anything else is taken for a model folder (and says so if it is not one).
    if (QFileInfo::exists(QDir(dir).filePath(QStringLiteral("run.json"))))
        openRun(dir);
    else
        openModel(dir);
}

// ---------------------------------------------------------------------------------------------------------------
// Misc

void MainWindow::appendLog(const QString& line)
{
    m_log->appendPlainText(QStringLiteral("[%1] %2").arg(QTime::currentTime().toString(QStringLiteral("HH:mm:ss")),
                                                         line));
}

void MainWindow::applyCpuThreads(int threads)
{
    // Process-wide: the calibration worker, evaluation and export all compute in this process.
    const aq::CpuThreads t = aq::configureCpu(threads);
    const QString policy = QString::fromStdString(aq::describeCpuThreads(t));
    m_cpuThreads->setToolTip(
        tr("Threads the CPU computes with. Automatic: every usable core, or fewer when AQ_THREADS or "
           "OMP_NUM_THREADS says so. The program splits them between LibTorch and the BLAS library itself, so no "
           "setting makes a run slower than one thread. Now: %1").arg(policy));
    const int cpu = m_device->findData(QStringLiteral("cpu"));
    if (cpu >= 0)
        m_device->setItemData(cpu, tr("CPU threads: %1").arg(policy), Qt::ToolTipRole);
}

void MainWindow::updateWindowTitle()
{
    const QString model = QFileInfo(m_modelPanel->modelDir()).fileName();
    setWindowTitle(model.isEmpty() ? tr("AffineQuant Studio") : tr("%1 — AffineQuant Studio").arg(model));
}

void MainWindow::about()
{
    QString cuda;
    try {
        int count = 0;
        for (const aq::DeviceInfo& d : aq::listDevices())
            count += aq::isCudaDevice(d.id);
        cuda = aq::cudaAvailable() ? tr("available, %n device(s)", nullptr, count)
                                   : tr("not available in this build");
    } catch (const std::exception&) {
        cuda = tr("unknown");
    }
    QMessageBox::about(
        this, tr("About AffineQuant Studio"),
        tr("<h3>AffineQuant Studio %1</h3>"
           "<p>Post-training quantization of large language models with AffineQuant: learned affine transforms, "
           "a gradual mask and weight clipping, calibrated block by block.</p>"
           "<table>"
           "<tr><td>Qt</td><td>%2 (built with %3)</td></tr>"
           "<tr><td>LibTorch</td><td>%4</td></tr>"
           "<tr><td>CUDA</td><td>%5</td></tr>"
           "<tr><td>QCustomPlot</td><td>%6</td></tr>"
           "</table>")
            .arg(QCoreApplication::applicationVersion(), QString::fromLatin1(qVersion()),
                 QStringLiteral(QT_VERSION_STR), QString::fromStdString(aq::torchVersion()), cuda,
                 QStringLiteral(QCUSTOMPLOT_VERSION_STR)));
}

}  // namespace aq::gui
