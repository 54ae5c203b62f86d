#include "mainwindow.h"

#include "apppaths.h"
#include "calibrationworker.h"
#include "configpanel.h"
#include "enginemessages.h"
#include "exportdialog.h"
#include "modelpanel.h"
#include "rankprocesses.h"
#include "runfile.h"
#include "runreport.h"
#include "settingnames.h"

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
#include <QCheckBox>
#include <QCloseEvent>
#include <QComboBox>
#include <QCryptographicHash>
#include <QDateTime>
#include <QDialog>
#include <QDialogButtonBox>
#include <QDir>
#include <QDockWidget>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFile>
#include <QFileDialog>
#include <QScopedValueRollback>
#include <QFileInfo>
#include <QFontDatabase>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QItemSelectionModel>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QLineEdit>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QSaveFile>
#include <QScrollArea>
#include <QSettings>
#include <QSpinBox>
#include <QStandardPaths>
#include <QStatusBar>
#include <QTabWidget>
#include <QTableView>
#include <QThread>
#include <QTime>
#include <QToolBar>
#include <QToolButton>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

#include <qcustomplot.h>

#include <algorithm>
#include <set>
#include <cmath>

namespace aq::gui {

namespace {

constexpr int kLogMaxLines = 20000;

QString marginKey(int block, const QString& transform, int epoch)
{
    return QStringLiteral("%1/%2/%3").arg(block).arg(transform).arg(epoch);
}

QString formatDuration(double seconds)
{
    if (!(seconds >= 0) || !std::isfinite(seconds))
        return QStringLiteral("–");
    const qint64 s = qint64(std::llround(seconds));
    if (s >= 3600)
        return QStringLiteral("%1:%2:%3").arg(s / 3600).arg((s / 60) % 60, 2, 10, QLatin1Char('0')).arg(
            s % 60, 2, 10, QLatin1Char('0'));
    return QStringLiteral("%1:%2").arg(s / 60).arg(s % 60, 2, 10, QLatin1Char('0'));
}

/// A duration rounded for an estimate: "40 s", "12 min", "3 h 20 min".
QString formatApproxDuration(double seconds)
{
    if (!(seconds >= 0) || !std::isfinite(seconds))
        return QStringLiteral("–");
    if (seconds < 90)
        return MainWindow::tr("%1 s").arg(std::max<qint64>(1, std::llround(seconds)));
    const qint64 minutes = std::llround(seconds / 60);
    if (minutes < 90)
        return MainWindow::tr("%1 min").arg(minutes);
    return MainWindow::tr("%1 h %2 min").arg(minutes / 60).arg(minutes % 60);
}

/// Gives `label` a fixed size that fits each of `texts`. A fixed-size widget does not ask its parents for a new
/// layout when its text changes.
void fixFieldSize(QLabel* label, const QStringList& texts)
{
    int width = 0;
    for (const QString& text : texts) {
        label->setText(text);
        width = std::max(width, label->sizeHint().width());
    }
    const int height = label->sizeHint().height();
    label->clear();
    label->setFixedSize(width, height);
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

    m_rankProcesses = new RankProcesses(this);
    connect(m_rankProcesses, &RankProcesses::rankOutput, this,
            [this](int rank, const QString& line) { appendLog(tr("[rank %1] %2").arg(rank).arg(line)); });
    connect(m_rankProcesses, &RankProcesses::rankFailed, this, &MainWindow::onRankFailed);

    m_thread = new QThread(this);
    m_thread->setObjectName(QStringLiteral("calibration"));
    m_worker = new CalibrationWorker;
    m_worker->moveToThread(m_thread);
    connect(m_thread, &QThread::finished, m_worker, &QObject::deleteLater);
    connectWorker();
    m_thread->start();
    m_exportJob = new ExportJob(this);
    connect(m_exportJob, &ExportJob::progressed, this, &MainWindow::onExportProgress);
    connect(m_exportJob, &ExportJob::ended, this, &MainWindow::onExportDone);

    readSettings();
    setRunning(false);
    updateWindowTitle();
}

MainWindow::~MainWindow()
{
    // Normally nothing runs here (closeEvent waits for a running calibration to end). If something still runs, ask
    // it to stop and wait: the worker must not outlive the thread object. The other ranks of a data-parallel run go
    // first, so that rank 0 does not wait for them inside a collective.
    m_rankProcesses->blockSignals(true);
    m_rankProcesses->stopNow(3000);
    m_worker->cancel();
    m_thread->quit();
    m_thread->wait();
    // An export reports to this window: it must have ended before the window goes.
    m_exportJob->cancel();
    m_exportJob->wait();
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

    m_exportAction = new QAction(QIcon::fromTheme(QStringLiteral("document-save-as")), tr("&Export…"), this);
    m_exportAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_E));
    m_exportAction->setStatusTip(tr("Write the selected finished run (or the last one) for another runtime: "
                                    "Hugging Face, AWQ, GPTQ, compressed-tensors or GGUF (llama.cpp)"));
    connect(m_exportAction, &QAction::triggered, this, &MainWindow::showExportDialog);

    m_reportAction = new QAction(tr("Save Run &Report…"), this);
    m_reportAction->setStatusTip(tr("Save the selected finished run's (or the last one's) configuration, block losses "
                                    "and perplexities as Markdown or CSV"));
    connect(m_reportAction, &QAction::triggered, this, &MainWindow::askAndSaveRunReport);

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
    file->addAction(m_exportAction);
    file->addAction(m_reportAction);
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
    toolbar->addAction(m_exportAction);
    m_viewMenu->addAction(toolbar->toggleViewAction());
}

QWidget* MainWindow::createSetupPanel()
{
    auto* panel = new QWidget;
    auto* layout = new QVBoxLayout(panel);

    // Model
    auto* modelBox = new QGroupBox(tr("Model"), panel);
    auto* modelLayout = new QVBoxLayout(modelBox);
    m_modelPanel = new ModelPanel(modelBox);
    modelLayout->addWidget(m_modelPanel);
    m_estimate = new QLabel(modelBox);
    m_estimate->setWordWrap(true);
    m_estimate->setTextFormat(Qt::RichText);
    m_estimate->setAlignment(Qt::AlignLeft | Qt::AlignTop);
    // Room for the two lines (memory, time) from the start: a label that grows when its text arrives would move
    // every control below it while the user reaches for one.
    m_estimate->setMinimumHeight(2 * m_estimate->fontMetrics().lineSpacing() + 2);
    m_probe = new RateProbe(this);
    connect(m_probe, &RateProbe::measured, this,
            [this](const QString& key, const CalibrationTimings& timings) { m_timings.insert(key, timings); });
    connect(m_probe, &RateProbe::stopped, this, &MainWindow::updateEstimate);
    // A measurement runs the engine for a few seconds: wait until the configuration has stopped changing.
    m_measureDelay = new QTimer(this);
    m_measureDelay->setSingleShot(true);
    m_measureDelay->setInterval(kMeasureDelayMs);
    connect(m_measureDelay, &QTimer::timeout, this, &MainWindow::measureRateIfNeeded);
    modelLayout->addWidget(m_estimate);
    connect(m_openAction, &QAction::triggered, m_modelPanel, &ModelPanel::browse);
    connect(m_modelPanel, &ModelPanel::modelReady, this, &MainWindow::onModelReady);
    connect(m_modelPanel, &ModelPanel::modelFailed, this, &MainWindow::onModelFailed);
    connect(m_modelPanel, &ModelPanel::inspectionStarted, this, [this](const QString& dir) {
        appendLog(tr("Reading model %1").arg(dir));
        setRunning(m_running);  // Run waits for the summary
    });

    // Texts
    auto* textBox = new QGroupBox(tr("Texts"), panel);
    auto* textForm = new QFormLayout(textBox);
    m_calibText = new QLineEdit(textBox);
    connect(m_calibText, &QLineEdit::textChanged, this, [this] {
        if (m_device)  // not while the panel is being built
            updateEstimate();
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

    // Configuration
    auto* configBox = new QGroupBox(tr("Configuration"), panel);
    auto* configLayout = new QVBoxLayout(configBox);
    m_configPanel = new ConfigPanel(configBox);
    configLayout->addWidget(m_configPanel);
    connect(m_configPanel, &ConfigPanel::configChanged, this, [this] {
        updateMaskPreview();
        updateEstimate();
    });

    auto* maskBox = new QGroupBox(tr("Mask schedule"), panel);
    auto* maskLayout = new QVBoxLayout(maskBox);
    m_maskView = new widgets::MaskScheduleView(maskBox);
    m_maskView->setMinimumHeight(220);
    maskLayout->addWidget(m_maskView);

    // Run
    auto* runBox = new QGroupBox(tr("Run"), panel);
    auto* runForm = new QFormLayout(runBox);
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
        updateEstimate();
    });
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
    connect(m_rankCount, &QSpinBox::valueChanged, this, [this] { updateEstimate(); });
    runForm->addRow(tr("R&anks:"), m_rankCount);
    // CPU threads: the engine's policy (aq::configureCpu) with the cap chosen here; 0 = automatic.
    m_cpuThreads = new QSpinBox(runBox);
    m_cpuThreads->setRange(0, 4096);
    m_cpuThreads->setSpecialValueText(tr("Automatic"));
    connect(m_cpuThreads, &QSpinBox::valueChanged, this, [this](int n) { applyCpuThreads(n); });
    runForm->addRow(tr("CPU &threads:"), m_cpuThreads);
    runForm->addRow(tr("Runs &folder:"), fileRow(runBox, m_runsFolder, tr("Runs folder"), QString(), true));
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

    layout->addWidget(modelBox);
    layout->addWidget(textBox);
    layout->addWidget(runBox);
    layout->addWidget(configBox);
    layout->addWidget(maskBox);
    layout->addStretch(1);
    return panel;
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
    connect(m_resultsView->table()->selectionModel(), &QItemSelectionModel::selectionChanged, this,
            &MainWindow::updateExportAction);
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
    m_stateLabel = new QLabel(tr("Ready"), this);
    m_ranksLabel = new QLabel(this);
    m_ranksLabel->setToolTip(tr("Calibration windows per second of each rank's own work in the last epoch (time spent "
                                "waiting for the other ranks left out)"));
    m_ranksLabel->hide();  // shown for data-parallel runs
    m_blockLabel = new QLabel(this);
    m_epochLabel = new QLabel(this);
    m_lossLabel = new QLabel(this);
    m_etaLabel = new QLabel(this);
    m_progress = new QProgressBar(this);
    m_progress->setRange(0, 1000);
    m_progress->setMaximumWidth(180);
    m_progress->setTextVisible(false);
    // The fields that change during a run get a fixed size, wide enough for their longest text: a label whose size
    // may change makes the whole window lay itself out again at every new text, and the loss field changes twenty
    // times a second.
    const QString wide = QStringLiteral("8888");
    fixFieldSize(m_blockLabel, {tr("Block %1/%2").arg(wide, wide)});
    fixFieldSize(m_epochLabel, {tr("Epoch %1/%2").arg(wide, wide)});
    fixFieldSize(m_lossLabel, {tr("Loss %1").arg(-8.888e-88, 0, 'g', 4)});
    fixFieldSize(m_etaLabel,
                 {tr("ETA %1").arg(QStringLiteral("888:88:88")), tr("%1 elapsed").arg(QStringLiteral("888:88:88"))});
    m_stageTimer = new QTimer(this);
    m_stageTimer->setInterval(1000);
    connect(m_stageTimer, &QTimer::timeout, this, [this] {
        m_etaLabel->setText(tr("%1 elapsed").arg(formatDuration(m_stageClock.elapsed() / 1000.0)));
    });
    statusBar()->addWidget(m_stateLabel, 1);
    statusBar()->addPermanentWidget(m_ranksLabel);
    for (QLabel* l : {m_blockLabel, m_epochLabel, m_lossLabel, m_etaLabel})
        statusBar()->addPermanentWidget(l);
    statusBar()->addPermanentWidget(m_progress);
}

void MainWindow::connectWorker()
{
    connect(m_worker, &CalibrationWorker::stageChanged, this, &MainWindow::onStage);
    connect(m_worker, &CalibrationWorker::lossesReady, this, &MainWindow::onLosses);
    connect(m_worker, &CalibrationWorker::epochEnded, this, &MainWindow::onEpoch);
    connect(m_worker, &CalibrationWorker::matrixDiagnosticsReady, this, &MainWindow::onDiagnostics);
    connect(m_worker, &CalibrationWorker::matrixSnapshotReady, m_heatmapView, &widgets::MatrixHeatmapView::addFrame);
    connect(m_worker, &CalibrationWorker::activationProfileReady, m_activationView,
            &widgets::ActivationView::addProfile);
    connect(m_worker, &CalibrationWorker::weightHistogramReady, m_histogramView,
            &widgets::WeightHistogramView::addHistogram);
    connect(m_worker, &CalibrationWorker::recoveryHappened, this, &MainWindow::onRecovery);
    connect(m_worker, &CalibrationWorker::blockEnded, this, &MainWindow::onBlock);
    connect(m_worker, &CalibrationWorker::logLine, this, &MainWindow::appendLog);
    // Rank 0's outcome is shown once the other ranks of a data-parallel run have ended: after a success they have
    // already (they end after the last block), after a failure they get a moment to end on their own so that the
    // first cause is known, after a cancel they are stopped at once.
    connect(m_worker, &CalibrationWorker::finished, this, [this](const aq::gui::RunOutcome& outcome) {
        afterOtherRanks(10000, [this, outcome] { onFinished(outcome); });
    });
    connect(m_worker, &CalibrationWorker::failed, this, [this](aq::ErrorCode code, const QString& detail) {
        afterOtherRanks(code == aq::ErrorCode::PeerFailure ? 3000 : 0, [this, code, detail] { onFailed(code, detail); });
    });
    connect(m_worker, &CalibrationWorker::cancelled, this, [this] {
        afterOtherRanks(0, [this] {
            if (m_stoppedForRank)  // stopped because a rank failed before the ranks met, not by the user
                onFailed(aq::ErrorCode::PeerFailure, tr("rank 0 stopped waiting for the other ranks to join."));
            else
                onCancelled();
        });
    });
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
        m_lastRunDir.clear();
        m_viewsModelDir = canonical;
    }
    m_configPanel->setModel(summary->config);
    m_heatmapView->setBlockCount(int(summary->config.numLayers));
    appendLog(tr("Model %1: %2 blocks, %3 parameters").arg(dir).arg(summary->config.numLayers).arg(
        summary->parameterCount));
    updateMaskPreview();
    updateEstimate();
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
    updateEstimate();
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

void MainWindow::updateEstimate()
{
    const auto& summary = m_modelPanel->summary();
    m_estimatedSeconds = 0;
    m_estimatedEvalSeconds = 0;
    if (!summary) {
        m_estimate->clear();
        m_estimate->setToolTip(QString());
        return;
    }
    aq::QuantConfig c = m_configPanel->config();
    c.device = m_device->currentData().toString().toStdString();
    const QString device = QString::fromStdString(c.device);
    const aq::ModelConfig& m = summary->config;
    const bool cuda = c.device.rfind("cuda", 0) == 0;

    // Memory: the engine's own estimate, the figure it checks against the device's free memory before it starts;
    // for a data-parallel run, what each rank needs (its share of the windows and the gradient exchange).
    const int ranks = m_rankCount ? m_rankCount->value() : 1;
    const aq::MemoryEstimate mem = aq::estimateCalibrationMemory(m, c, cuda, ranks);
    qint64 freeBytes = -1;
    try {
        for (const aq::DeviceInfo& d : aq::listDevices())
            if (d.id == c.device || (c.device == "cuda" && d.id == "cuda:0"))
                freeBytes = d.freeBytes;
    } catch (const std::exception&) {
    }
    QString memory;
    if (ranks > 1) {
        const QString devices = cuda ? QStringLiteral("%1–%2").arg(device, RankProcesses::rankDevice(device, ranks - 1))
                                     : device;
        memory = tr("<b>Memory</b> per rank (%n ranks) on %1: about %2 (activation buffers %3, one block %4, one "
                    "training step %5, gradient exchange %6)", nullptr, ranks)
                     .arg(devices.toHtmlEscaped(), formatBytes(mem.deviceBytes()),
                          formatBytes(mem.buffersOnHost ? 0.0 : mem.bufferBytes), formatBytes(mem.blockBytes),
                          formatBytes(mem.stepBytes), formatBytes(mem.commBytes));
    } else {
        memory = tr("<b>Memory</b> on %1: about %2 (activation buffers %3, one block %4, one training step %5)")
                     .arg(device.toHtmlEscaped(), formatBytes(mem.deviceBytes()),
                          formatBytes(mem.buffersOnHost ? 0.0 : mem.bufferBytes), formatBytes(mem.blockBytes),
                          formatBytes(mem.stepBytes));
    }
    if (mem.hostBytes() > 0)
        memory += tr(", plus %1 of host memory for the activation buffers").arg(formatBytes(mem.hostBytes()));
    if (freeBytes > 0 && mem.deviceBytes() > double(freeBytes))
        memory += tr(". <span style='color:#b2182b'>Only %1 is free: the run would stop at once; lower the samples "
                     "or the sequence length.</span>")
                      .arg(formatBytes(double(freeBytes)));
    else if (freeBytes > 0)
        memory += tr("; %1 free.").arg(formatBytes(double(freeBytes)));
    else
        memory += QLatin1Char('.');

    // Time: measured timings of this kind of configuration on this device, scaled to the configuration.
    const int blocks = int(m.numLayers);
    const QString key = timingKey(m_modelPanel->modelDir(), c);
    QString time;
    const auto it = m_timings.constFind(key);
    if (it != m_timings.constEnd() && it->valid) {
        m_estimatedSeconds = estimateCalibrationSeconds(*it, c, blocks);
        const bool trains = it->trained && c.method != aq::Method::Rtn && c.epochs > 0;
        time = trains ? (it->fromRun ? tr("<b>Time</b>: about %1 for the calibration (the last run of this kind on %2: "
                                          "%3 s per step)")
                                     : tr("<b>Time</b>: about %1 for the calibration (measured on %2: %3 s per step)"))
                            .arg(formatApproxDuration(m_estimatedSeconds), device.toHtmlEscaped())
                            .arg(it->stepSeconds, 0, 'g', 2)
                      : tr("<b>Time</b>: about %1 for the calibration (measured on %2)")
                            .arg(formatApproxDuration(m_estimatedSeconds), device.toHtmlEscaped());
        const double evalRate = m_evalRates.value(evalRateKey(c), 0.0);
        m_estimatedEvalSeconds = estimateEvaluationSeconds(*it, c, blocks, evaluationTokens(c), evalRate);
        if (m_estimatedEvalSeconds > 0)
            time += (evalRate > 0 ? tr(", then about %1 for the evaluation")
                                  : tr(", then at most about %1 for the evaluation"))
                        .arg(formatApproxDuration(m_estimatedEvalSeconds));
    } else if (it != m_timings.constEnd() && !it->complete) {
        // The measurement's first block alone took longer than the time limit, and a run does at least as much
        // per block as the measurement when it has at least as many samples.
        const double perBlock = it->probeSeconds * std::min(1.0, double(c.nsamples) / double(std::max<int64_t>(1, it->probeSamples)));
        time = tr("<b>Time</b>: more than %1 (the measurement's first block did not finish within %2 on %3)")
                   .arg(formatApproxDuration(perBlock * blocks), formatApproxDuration(it->probeSeconds),
                        device.toHtmlEscaped());
    } else if (it != m_timings.constEnd()) {
        time = tr("<b>Time</b>: not measured (%1)").arg(it->error.left(160).toHtmlEscaped());
    } else if (calibrationText().isEmpty() || !QFileInfo(calibrationText()).isFile()) {
        time = tr("<b>Time</b>: not measured yet; it needs a calibration text.");
    } else if (m_probe->runningKey() == key) {
        time = tr("<b>Time</b>: measuring on %1…").arg(device.toHtmlEscaped());
    } else {
        time = tr("<b>Time</b>: not measured yet.");
        if (!m_running)
            m_measureDelay->start();
    }
    m_estimate->setText(memory + QStringLiteral("<br>") + time);
    m_estimate->setToolTip(
        tr("<p><b>Memory</b> is what the engine checks against the device's free memory before it starts: the "
           "activation buffers (samples x tokens x hidden size in float32, or bfloat16 with mixed precision on large "
           "runs, for the quantized stream and the full-precision targets, a third copy with aug-loss), one block's "
           "weights, transformed copies and gradients in float32, and one training step's saved activations and "
           "attention scores. The evaluation after the run holds the model in float32 (%1) besides.</p>"
           "<p><b>Time</b> comes from a measurement: a short real calibration of the first block on the chosen "
           "device with %2 samples and %3 epochs, run in the background when the device or a setting that changes "
           "the cost of a step (bits, groups, transforms, sequence length, batch size) changes. Its time per sample "
           "(targets, merging), per step and per epoch is scaled to %4 blocks x %5 epochs x %6 samples; after a run "
           "finishes, its own time per step replaces the measurement's for the same kind of configuration. The "
           "evaluation is three passes (full precision, round to nearest, quantized) over the evaluation windows at "
           "the measured cost of the full-precision targets; with all windows, their number is estimated from the "
           "text's size (about 4 bytes a token). Writing the model is not included.</p>")
            .arg(formatBytes(double(summary->parameterCount) * 4.0))
            .arg(std::min<int64_t>(c.nsamples, std::max<int64_t>(1, c.batchSize) * RateProbe::kProbeSteps))
            .arg(std::min(c.epochs, RateProbe::kProbeEpochs))
            .arg(blocks)
            .arg(c.method == aq::Method::Rtn ? 0 : c.epochs)
            .arg(c.nsamples));
}

QString MainWindow::evalRateKey(const aq::QuantConfig& c) const
{
    // An evaluation's cost per window and block depends on the model, the device, the window length and whether
    // activations are quantized; not on the calibration settings.
    return QStringList{QFileInfo(m_modelPanel->modelDir()).canonicalFilePath(), QString::fromStdString(c.device),
                       QString::number(c.seqlen), QString::number(c.abits < 16)}
        .join(QLatin1Char('|'));
}

int64_t MainWindow::evaluationTokens(const aq::QuantConfig& c) const
{
    const QFileInfo text(evaluationText());
    if (evaluationText().isEmpty() || !text.isFile())
        return 0;
    const int64_t all = text.size() / 4;  // English text: about 4 bytes a token for the demo's and LLaMA's tokenizers
    const int64_t windows = m_evalWindows->value();
    return windows > 0 ? std::min<int64_t>(all, windows * c.seqlen) : all;
}

void MainWindow::measureRateIfNeeded()
{
    const auto& summary = m_modelPanel->summary();
    if (m_running || isExporting() || !summary || m_modelPanel->isInspecting())
        return;
    if (calibrationText().isEmpty() || !QFileInfo(calibrationText()).isFile())
        return;
    aq::QuantConfig c = m_configPanel->config();
    c.device = m_device->currentData().toString().toStdString();
    const QString key = timingKey(m_modelPanel->modelDir(), c);
    if (m_timings.contains(key) || m_probe->runningKey() == key)
        return;
    if (m_probe->isRunning()) {
        m_probe->cancel();  // measuring something no longer asked for; stopped() comes back here
        return;
    }
    try {
        aq::validateConfig(c, summary->config);
    } catch (const aq::Error& e) {
        m_timings.insert(key, CalibrationTimings{false, true, QString::fromStdString(e.what())});
        updateEstimate();
        return;
    }
    if (m_probe->start(m_modelPanel->modelDir(), calibrationText(), c))
        updateEstimate();
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
// Running

QString MainWindow::newRunDir() const
{
    const QString model = QFileInfo(m_modelPanel->modelDir()).fileName();
    const aq::QuantConfig c = m_configPanel->config();
    const QString base = QStringLiteral("%1-%2-%3-%4")
                             .arg(model, m_configPanel->presetName(), QString::fromLatin1(aq::methodName(c.method)),
                                  QDateTime::currentDateTime().toString(QStringLiteral("yyyyMMdd-HHmmss")));
    QDir root(runsFolder());
    QString name = base;
    for (int i = 2; root.exists(name); ++i)
        name = QStringLiteral("%1-%2").arg(base).arg(i);
    return root.filePath(name);
}

bool MainWindow::startRun()
{
    if (m_running)
        return false;
    auto refuse = [this](const QString& title, const QString& detail) {
        m_messageBar->showMessage(widgets::MessageBar::Kind::Error, title, detail);
        appendLog(title + QLatin1Char(' ') + detail);
        return false;
    };
    const auto& summary = m_modelPanel->summary();
    if (m_modelPanel->isInspecting())
        return refuse(tr("Not ready:"), tr("the model is still being read."));
    if (!summary)
        return refuse(tr("No model:"), tr("open a model folder first (File > Open Model)."));
    if (calibrationText().isEmpty() || !QFileInfo(calibrationText()).isFile())
        return refuse(tr("No calibration text:"),
                      tr("the file '%1' does not exist. Choose a UTF-8 text file.").arg(calibrationText()));
    if (!evaluationText().isEmpty() && !QFileInfo(evaluationText()).isFile())
        return refuse(tr("No evaluation text:"),
                      tr("the file '%1' does not exist. Choose a text file, or clear the field to skip the "
                         "evaluation.")
                          .arg(evaluationText()));
    if (runsFolder().isEmpty() || !QDir().mkpath(runsFolder()))
        return refuse(tr("No runs folder:"), tr("cannot create '%1'. Choose a writable folder.").arg(runsFolder()));

    aq::QuantConfig config = m_configPanel->config();
    config.device = m_device->currentData().toString().toStdString();
    try {
        aq::validateConfig(config, summary->config);
    } catch (const aq::Error& e) {
        return refuse(tr("Unsupported configuration:"), engineMessageForWindow(QString::fromStdString(e.what())));
    }

    m_request = aq::CalibrationRequest{};
    m_request.modelDir = m_modelPanel->modelDir().toStdString();
    m_request.calibTextPath = calibrationText().toStdString();
    m_request.runDir = newRunDir().toStdString();
    m_request.config = config;
    m_request.evalTextPath = evaluationText().toStdString();
    m_request.evalWindows = m_evalWindows->value();
    QString ranksProblem;
    if (!startOtherRanks(&ranksProblem))
        return refuse(tr("Cannot run on %n ranks:", nullptr, m_rankCount->value()), ranksProblem);

    m_messageBar->dismiss();
    m_viewsModelDir = QFileInfo(m_modelPanel->modelDir()).canonicalFilePath();
    prepareRunViews(int(summary->config.numLayers), config);
    m_runClock.start();

    QString where = QString::fromStdString(config.device);
    if (m_request.world.distributed())
        where = tr("%1 with %n ranks", nullptr, m_request.world.worldSize).arg(where);
    appendLog(tr("Starting %1 %2 on %3 → %4")
                  .arg(QString::fromLatin1(aq::methodName(config.method)), m_configPanel->presetName(), where,
                       QString::fromStdString(m_request.runDir)));
    writeSettings();
    // The run has the cores to itself: a measurement for the estimate waits until it has ended.
    m_measureDelay->stop();
    m_probe->cancel();
    setRunning(true);
    m_worker->start(m_request);
    return true;
}

void MainWindow::prepareRunViews(int numBlocks, const aq::QuantConfig& config)
{
    m_lossView->clear();
    m_heatmapView->clear();
    m_heatmapView->setBlockCount(numBlocks);
    m_marginView->clear();
    m_activationView->clear();
    m_histogramView->clear();
    m_rowMargins.clear();
    m_numBlocks = numBlocks;
    m_epochsPerBlock = config.method == aq::Method::Rtn ? 0 : config.epochs;
    m_epochsDone = 0;
    m_epochFraction = 0;
    m_evaluating = false;
    m_runEpochSeconds = 0;
    m_runEpochs = 0;
    m_currentBlock = -1;
    m_recoveries = 0;
    // The engine's steps per epoch (nsamples / batch size, rounded down), the x scale of live and stored curves alike.
    m_stepsPerEpoch = std::max<qint64>(1, config.nsamples / std::max<qint64>(1, config.batchSize));
    // Each rank's throughput, in a field as wide as the run's ranks need.
    const int ranks = m_request.world.worldSize;
    m_ranksLabel->setVisible(ranks > 1);
    if (ranks > 1) {
        QStringList widest;
        for (int r = 0; r < ranks; ++r)
            widest << QStringLiteral("%1: 888.88").arg(r);
        fixFieldSize(m_ranksLabel, {tr("Ranks: %1 windows/s").arg(widest.join(QStringLiteral(" · ")))});
        m_ranksLabel->setText(tr("Ranks: %n", nullptr, ranks));
    }
}

bool MainWindow::startOtherRanks(QString* detail)
{
    m_request.world = aq::WorldSpec{};
    m_ranksMet = false;
    m_stoppedForRank = false;
    const int ranks = m_rankCount->value();
    if (ranks <= 1)
        return true;
    const aq::QuantConfig& c = m_request.config;
    const QString device = QString::fromStdString(c.device);
    try {
        aq::validateWorld(c, ranks);
    } catch (const aq::Error& e) {
        *detail = engineMessageForWindow(QString::fromStdString(e.what()));
        return false;
    }
    std::string why;
    if (!aq::distributedBackendAvailable(c.device, &why)) {
        *detail = engineMessageForWindow(QString::fromStdString(why));
        return false;
    }
    if (device.startsWith(QLatin1String("cuda"))) {
        // One device per rank, from the selected one on.
        QStringList available;
        try {
            for (const aq::DeviceInfo& d : aq::listDevices())
                available << QString::fromStdString(d.id);
        } catch (const std::exception&) {
        }
        for (int r = 0; r < ranks; ++r) {
            const QString needed = RankProcesses::rankDevice(device, r);
            if (!available.contains(needed)) {
                *detail = tr("rank %1 would run on %2, which does not exist. On CUDA each rank takes its own device "
                             "from the selected one on: choose fewer ranks or an earlier device.")
                              .arg(r)
                              .arg(needed);
                return false;
            }
        }
    }
    const QString program = RankProcesses::program(detail);
    if (program.isEmpty())
        return false;
    const int port = aq::freeLoopbackPort();
    if (port <= 0) {
        *detail = tr("no free port on the loopback interface for the ranks to meet at.");
        return false;
    }

    // The ranks share the cores as the command-line program's do: each computes with its share, rank 0 (this
    // process) too, until the run has ended.
    const aq::CpuThreads cpu = aq::currentCpuThreads();
    const int threads = std::max(1, cpu.used / ranks);
    aq::WorldSpec world;
    world.rank = 0;
    world.worldSize = ranks;
    world.localRank = 0;
    world.masterAddr = "127.0.0.1";
    world.masterPort = port;
    // How long a rank that does not answer is waited for; AQ_DIST_TIMEOUT as for the command-line program.
    bool timeoutSet = false;
    const int timeout = qEnvironmentVariableIntValue("AQ_DIST_TIMEOUT", &timeoutSet);
    world.timeoutSeconds = timeoutSet && timeout > 0 ? timeout : 900;
    QStringList arguments{QStringLiteral("--model"), QString::fromStdString(m_request.modelDir),
                          QStringLiteral("--calib"), QString::fromStdString(m_request.calibTextPath),
                          QStringLiteral("--out"), QString::fromStdString(m_request.runDir)};
    if (m_request.resume)
        arguments << QStringLiteral("--resume");
    QVector<RankProcesses::Rank> children;
    for (int r = 1; r < ranks; ++r)
        children.push_back({r, RankProcesses::rankDevice(device, r), threads});
    if (!m_rankProcesses->start(program, arguments, QByteArray::fromStdString(aq::quantConfigJson(c)), children, world,
                                detail))
        return false;
    for (const RankProcesses::Rank& r : std::as_const(children))
        appendLog(tr("Started rank %1 (pid %2) on %3 with %n CPU thread(s)", nullptr, r.threads)
                      .arg(r.rank)
                      .arg(m_rankProcesses->pid(r.rank))
                      .arg(r.device));
    aq::configureCpu(threads);
    m_cpuSplit = true;
    m_request.world = world;
    return true;
}

void MainWindow::afterOtherRanks(int waitMs, std::function<void()> handler)
{
    if (!m_rankProcesses->isActive() && !m_cpuSplit) {
        handler();
        return;
    }
    if (m_rankProcesses->isActive())
        m_stateLabel->setText(tr("Waiting for the other ranks to end…"));
    m_rankProcesses->finish(waitMs, 3000, [this, handler = std::move(handler)] {
        if (m_rankProcesses->wereStopped())
            appendLog(tr("The other ranks were stopped."));
        if (m_cpuSplit) {
            m_cpuSplit = false;
            applyCpuThreads(m_cpuThreads->value());  // the window's own policy again
        }
        handler();
    });
}

void MainWindow::onRankFailed(int rank, const QString& description, const QStringList& lastLines)
{
    Q_UNUSED(rank);
    Q_UNUSED(lastLines);  // already in the log, line by line
    if (!m_running || m_worker->cancelRequested())
        return;
    appendLog(tr("Another rank stopped: %1").arg(description));
    if (!m_ranksMet) {
        // Rank 0 is still waiting for the others to arrive: it stops waiting now, and the error names this rank.
        m_stoppedForRank = true;
        m_stateLabel->setText(tr("Another rank stopped; ending the run…"));
        m_worker->cancel();
        return;
    }
    // Rank 0 notices at its next exchange with the others and fails; its error names this rank.
    m_stateLabel->setText(tr("Another rank stopped; ending the run…"));
}

bool MainWindow::resumeRun(const QString& runDir)
{
    if (m_running || isExporting())
        return false;
    auto refuse = [this](const QString& detail) {
        m_messageBar->showMessage(widgets::MessageBar::Kind::Error, tr("Cannot resume the run:"), detail);
        appendLog(tr("Cannot resume the run: %1").arg(detail));
        return false;
    };
    const std::optional<InterruptedRun> run = readInterruptedRun(runDir);
    if (!run)
        return refuse(QFileInfo::exists(QDir(runDir).filePath(QStringLiteral("run.json")))
                          ? tr("%1 is a finished run; open it with File > Open Run.").arg(runDir)
                          : tr("%1 holds no interrupted run (no readable progress.json).").arg(runDir));
    if (!run->resumable)
        return refuse(tr("%1 was started by an earlier version that does not record its model, text and "
                         "configuration; resume it with the command-line program (affinequant quantize … --resume).")
                          .arg(runDir));
    if (!QFileInfo::exists(QDir(run->modelDir).filePath(QStringLiteral("config.json"))))
        return refuse(tr("its model folder %1 is no longer there.").arg(run->modelDir));
    if (!QFileInfo(run->calibrationText).isFile())
        return refuse(tr("its calibration text %1 is no longer there.").arg(run->calibrationText));
    if (!evaluationText().isEmpty() && !QFileInfo(evaluationText()).isFile())
        return refuse(tr("the evaluation text '%1' does not exist. Choose a text file, or clear the field to skip "
                         "the evaluation.")
                          .arg(evaluationText()));
    aq::ModelConfig model;
    try {
        model = aq::loadModelConfig(run->modelDir.toStdString());
    } catch (const aq::Error& e) {
        return refuse(engineMessageForWindow(QString::fromStdString(e.what())));
    }
    // The window shows the run's model before the run continues: open it first and resume once it is read.
    if (m_modelPanel->isInspecting() || QDir(run->modelDir) != QDir(m_modelPanel->modelDir()) ||
        !m_modelPanel->summary()) {
        m_pendingResume = run->runDir;
        appendLog(tr("Opening the run's model %1 before resuming").arg(run->modelDir));
        openModel(run->modelDir);
        return true;
    }
    m_pendingResume.clear();

    m_request = aq::CalibrationRequest{};
    m_request.modelDir = run->modelDir.toStdString();
    m_request.calibTextPath = run->calibrationText.toStdString();
    m_request.runDir = run->runDir.toStdString();
    m_request.config = run->config;
    m_request.config.device = m_device->currentData().toString().toStdString();
    m_request.evalTextPath = evaluationText().toStdString();
    m_request.evalWindows = m_evalWindows->value();
    m_request.resume = true;
    QString ranksProblem;
    if (!startOtherRanks(&ranksProblem))
        return refuse(ranksProblem);

    m_messageBar->dismiss();
    m_viewsModelDir = QFileInfo(run->modelDir).canonicalFilePath();
    m_configPanel->loadConfig(run->config);
    prepareRunViews(int(model.numLayers), m_request.config);
    // The finished blocks' stored views first; the engine reports only the blocks it calibrates now (and redoes the
    // file of a block it wrote but did not record as finished).
    {
        const QScopedValueRollback<bool> replaying(m_replaying, true);
        try {
            m_worker->replay(run->runDir, run->completedBlocks);
        } catch (const std::exception& e) {
            appendLog(tr("Views not shown: %1").arg(QString::fromStdString(e.what())));
        }
    }
    m_epochsDone = run->completedBlocks * std::max(1, m_epochsPerBlock);
    m_runClock.start();
    appendLog(tr("Resuming %1 after %2 finished blocks").arg(run->runDir).arg(run->completedBlocks));
    m_interruptedRunDir.clear();
    m_measureDelay->stop();
    m_probe->cancel();
    setRunning(true);
    m_worker->start(m_request);
    return true;
}

QString MainWindow::keepOrRemoveStoppedRun()
{
    const QString runDir = QString::fromStdString(m_request.runDir);
    const std::optional<InterruptedRun> run = readInterruptedRun(runDir);
    if (run && run->completedBlocks > 0) {
        m_interruptedRunDir = run->runDir;
        return tr("the %n finished block(s) are kept in %1: Run > Resume Interrupted Run continues from there.", nullptr,
                  run->completedBlocks)
            .arg(runDir);
    }
    // Nothing finished: the folder holds only the engine's bookkeeping. It was made for this run (never a folder the
    // user chose with contents), so it goes rather than lingering as an empty run. A resumed run keeps its folder.
    if (run && !m_request.resume) {
        QDir dir(runDir);
        bool onlyBookkeeping = true;
        for (const QFileInfo& e : dir.entryInfoList(QDir::AllEntries | QDir::Hidden | QDir::NoDotAndDotDot)) {
            const bool emptyFolder = e.isDir() && QDir(e.filePath()).isEmpty(QDir::AllEntries | QDir::Hidden | QDir::NoDotAndDotDot);
            if (e.fileName() != QLatin1String("progress.json") && e.fileName() != QLatin1String(".affinequant.lock") &&
                !emptyFolder)
                onlyBookkeeping = false;
        }
        if (onlyBookkeeping && dir.removeRecursively())
            return tr("no block had finished, so its folder was removed.");
    }
    return tr("no model was written as complete in %1.").arg(runDir);
}

void MainWindow::cancelRun()
{
    if (isExporting())
        cancelExport();
    if (!m_running)
        return;
    m_worker->cancel();  // atomic store: the engine sees it at its next check
    m_stateLabel->setText(tr("Cancelling…"));
    m_cancelAction->setEnabled(false);
    m_cancelButton->setEnabled(false);
    appendLog(tr("Cancel requested"));
}

void MainWindow::setRunning(bool running)
{
    m_running = running;
    // One heavy job at a time: an export competes with a calibration for memory and cores.
    const bool canRun = !running && !isExporting() && m_modelPanel->summary().has_value() &&
                        !m_modelPanel->isInspecting();
    m_runAction->setEnabled(canRun);
    m_runButton->setEnabled(canRun);
    m_cancelAction->setEnabled((running && !m_worker->cancelRequested()) || (isExporting() && !m_exportJob->cancelRequested()));
    m_cancelButton->setEnabled(m_cancelAction->isEnabled());
    // Changing inputs mid-run would make the views disagree with what runs.
    m_configPanel->setEnabled(!running);
    m_modelPanel->setEnabled(!running);
    m_openAction->setEnabled(!running);
    m_openRunAction->setEnabled(!running);
    m_resumeAction->setEnabled(!running && !isExporting());  // the run names its own model
    m_calibText->setEnabled(!running);
    m_evalText->setEnabled(!running);
    m_evalWindows->setEnabled(!running);
    m_device->setEnabled(!running);
    m_rankCount->setEnabled(!running);
    // A data-parallel run has split the cores between its ranks until it ends.
    m_cpuThreads->setEnabled(!running || !m_request.world.distributed());
    m_runsFolder->setEnabled(!running);
    setAcceptDrops(!running);
    updateExportAction();
    if (running) {
        m_stateLabel->setText(tr("Running"));
        m_progress->setValue(0);
        updateProgress();  // the estimate's ETA until the first step is timed
    } else {
        m_etaLabel->clear();
    }
}

void MainWindow::onStage(const QString& what, int block, int numBlocks)
{
    if (!m_replaying)
        m_ranksMet = true;  // rank 0 reports only once its group has formed
    if (numBlocks > 0)
        m_numBlocks = numBlocks;
    if (block >= 0 && block < numBlocks) {  // stages after the last block report block == numBlocks
        m_currentBlock = block;
        m_blockLabel->setText(tr("Block %1/%2").arg(block + 1).arg(numBlocks));
    }
    const QString text = stageText(what);
    m_stateLabel->setText(text);
    appendLog(text);
    // After the last block the engine writes the model and evaluates it without reporting progress: the bar turns
    // into a busy indicator and the clock shows how long the stage has been running, so it never looks frozen.
    const bool open = what == QLatin1String("writing the model") || what == QLatin1String("evaluating");
    if (what == QLatin1String("evaluating"))
        m_evaluating = true;  // until the run ends ("done" follows the evaluation)
    else if (what != QLatin1String("done"))
        m_evaluating = false;
    setProgressBusy(open);
    if (open) {
        m_stageClock.start();
        m_etaLabel->setText(tr("%1 elapsed").arg(formatDuration(0)));
    } else if (m_running) {
        updateProgress();
    }
}

QString MainWindow::stageText(const QString& what)
{
    // The engine names its stages in English; these are the ones it reports.
    static const QHash<QString, const char*> kStages = {
        {QStringLiteral("loading"), QT_TR_NOOP("Loading the model and the calibration text")},
        {QStringLiteral("calibrating"), QT_TR_NOOP("Calibrating")},
        {QStringLiteral("full-precision targets"), QT_TR_NOOP("Computing the full-precision targets")},
        {QStringLiteral("training"), QT_TR_NOOP("Training the transforms, clipping bounds and shifts")},
        {QStringLiteral("merging"), QT_TR_NOOP("Merging the transforms into the weights")},
        {QStringLiteral("replaying finished block"), QT_TR_NOOP("Replaying a finished block")},
        {QStringLiteral("writing the model"), QT_TR_NOOP("Writing the quantized model")},
        {QStringLiteral("evaluating"),
         QT_TR_NOOP("Evaluating: perplexity of the full-precision, round-to-nearest and quantized models")},
        {QStringLiteral("done"), QT_TR_NOOP("Done")}};
    const auto it = kStages.constFind(what);
    return it == kStages.constEnd() ? what : tr(it.value());
}

void MainWindow::setProgressBusy(bool busy)
{
    if (busy == (m_progress->maximum() == 0))
        return;
    if (busy) {
        m_progress->setRange(0, 0);
        m_stageTimer->start();
    } else {
        m_stageTimer->stop();
        m_progress->setRange(0, 1000);
    }
}

void MainWindow::onLosses(const QVector<aq::gui::StepLossPoint>& points)
{
    for (const StepLossPoint& p : points)
        m_lossView->appendPoint(p.block, double(p.epoch) * double(m_stepsPerEpoch) + p.step, p.loss);
    if (!points.isEmpty() && !m_replaying) {
        const StepLossPoint& last = points.last();
        m_lossLabel->setText(tr("Loss %1").arg(last.loss, 0, 'g', 4));
        if (last.block != m_currentBlock) {
            m_currentBlock = last.block;
            m_blockLabel->setText(tr("Block %1/%2").arg(last.block + 1).arg(m_numBlocks));
        }
        m_epochLabel->setText(tr("Epoch %1/%2").arg(last.epoch + 1).arg(m_epochsPerBlock));
        // Steps count towards the progress too: an epoch of many samples takes long enough that the bar and the
        // ETA must move inside it.
        m_epochFraction = std::clamp(double(last.step + 1) / double(std::max<qint64>(1, m_stepsPerEpoch)), 0.0, 1.0);
        updateProgress();
    }
}

void MainWindow::onEpoch(const aq::gui::EpochInfo& e)
{
    if (e.epochs > 0)
        m_epochsPerBlock = e.epochs;
    if (m_replaying)
        return;
    ++m_epochsDone;
    m_epochFraction = 0;
    m_runEpochSeconds += e.seconds;
    ++m_runEpochs;
    m_epochLabel->setText(tr("Epoch %1/%2").arg(e.epoch + 1).arg(e.epochs));
    m_lossLabel->setText(tr("Loss %1").arg(e.meanLoss, 0, 'g', 4));
    if (e.rankWindowsPerSecond.size() > 1) {
        QStringList ranks;
        for (int r = 0; r < e.rankWindowsPerSecond.size(); ++r) {
            const double v = e.rankWindowsPerSecond[r];
            ranks << QStringLiteral("%1: %2").arg(r).arg(v, 0, 'f', v >= 100 ? 0 : v >= 10 ? 1 : 2);
        }
        m_ranksLabel->setText(tr("Ranks: %1 windows/s").arg(ranks.join(QStringLiteral(" · "))));
    }
    updateProgress();
}

void MainWindow::updateProgress()
{
    const double total = double(m_numBlocks) * std::max(1, m_epochsPerBlock);
    if (total <= 0)
        return;
    const double done = std::min(1.0, (m_epochsDone + m_epochFraction) / total);
    m_progress->setValue(int(done * 1000));
    const double elapsed = m_runClock.elapsed() / 1000.0;
    if (done > 0 && done < 1)
        m_etaLabel->setText(tr("ETA %1").arg(formatDuration(elapsed * (1 - done) / done)));
    else if (done <= 0 && m_estimatedSeconds > 0)
        // Before the first step has been timed: the measured estimate, counted down.
        m_etaLabel->setText(tr("ETA ~%1").arg(formatDuration(std::max(0.0, m_estimatedSeconds - elapsed))));
    else
        m_etaLabel->clear();  // the stages after the last block show their own clock
}

void MainWindow::onDiagnostics(const aq::gui::MatrixDiagnosticsInfo& d)
{
    // Stored first: the view asks for the rows of the matrix it selects, and it may select this new one.
    m_rowMargins.insert(marginKey(d.block, d.transform, d.epoch), d.rowMargins);
    m_marginView->addEpochMinimum(d.block, d.epoch, std::max(1, m_epochsPerBlock), d.transform, d.minMargin);
    if (d.nonDominantRows > 0 && !m_replaying)
        appendLog(tr("Block %1, %2, epoch %3: %4 of %5 rows not strictly dominant (min margin %6, condition %7)")
                      .arg(d.block)
                      .arg(d.transform)
                      .arg(d.epoch)
                      .arg(d.nonDominantRows)
                      .arg(d.rowMargins.size())
                      .arg(d.minMargin, 0, 'g', 3)
                      .arg(d.conditionEstimate, 0, 'g', 3));
}

void MainWindow::showMarginsFor(int block, const QString& transform, int epoch)
{
    const auto it = m_rowMargins.constFind(marginKey(block, transform, epoch));
    if (it == m_rowMargins.constEnd())
        return;
    m_marginView->setRowMargins(tr("block %1, %2, epoch %3").arg(block).arg(transform).arg(epoch),
                                QVector<double>(it->begin(), it->end()));
}

void MainWindow::onRecovery(const aq::gui::RecoveryInfo& r)
{
    ++m_recoveries;
    appendLog(tr("Recovery in block %1, epoch %2: %3; %4").arg(r.block).arg(r.epoch).arg(r.reason, r.action));
    if (!m_replaying)
        m_stateLabel->setText(tr("Recovered from %1").arg(r.reason));
}

void MainWindow::onBlock(const aq::gui::BlockInfo& b)
{
    if (m_replaying)
        return;
    m_epochsDone = (b.block + 1) * std::max(1, m_epochsPerBlock);  // exact even if an epoch report was missed
    m_epochFraction = 0;
    updateProgress();
    QString line = tr("Block %1/%2 done in %3 s: loss %4 → %5")
                       .arg(b.block + 1)
                       .arg(b.numBlocks)
                       .arg(b.seconds, 0, 'f', 1)
                       .arg(b.initialLoss, 0, 'g', 4)
                       .arg(b.finalLoss, 0, 'g', 4);
    if (!b.perChannelFallback.isEmpty())
        line += tr(" (per-channel fallback: %1)").arg(b.perChannelFallback.join(QStringLiteral(", ")));
    appendLog(line);
}

void MainWindow::onFinished(const aq::gui::RunOutcome& outcome)
{
    setProgressBusy(false);
    {
        // The run's own time per step is a better figure than the short measurement's: later estimates of the same
        // kind of configuration use it (afterRun() shows the new estimate). Not a data-parallel run's: the
        // measurement is of one process.
        const QString key = timingKey(QString::fromStdString(m_request.modelDir), m_request.config);
        const auto it = m_timings.constFind(key);
        if (it != m_timings.constEnd() && !m_request.world.distributed())
            m_timings.insert(key, refinedByRun(*it, m_runEpochSeconds, m_runEpochs, double(m_stepsPerEpoch)));
    }
    const aq::QuantConfig& c = m_request.config;
    widgets::RunRecord record = runRecord(outcome.runDir, c);
    record.fpPerplexity = outcome.fpPerplexity;
    record.rtnPerplexity = outcome.rtnPerplexity;
    record.quantPerplexity = outcome.quantPerplexity;
    record.seconds = outcome.seconds;
    try {
        // What the engine recorded: the evaluation windows it used and the edits of the preset.
        const RunFile written = readRunFile(outcome.runDir);
        record.evalWindows = written.record.evalWindows;
        record.evalSeqlen = written.record.evalSeqlen;
        record.evalText = written.record.evalText;
        record.edits = written.record.edits;
    } catch (const aq::Error&) {
    }
    if (m_evaluating && record.evalWindows > 0 && m_numBlocks > 0) {
        // What this evaluation took per window and block: the next estimate of an evaluation on this model and
        // device uses it instead of the targets' cost.
        m_evalRates.insert(evalRateKey(c), (m_stageClock.elapsed() / 1000.0) /
                                               (3.0 * double(record.evalWindows) * double(m_numBlocks)));
    }
    m_evaluating = false;
    QVector<SavedRun> runs = loadSavedRuns();
    runs.erase(std::remove_if(runs.begin(), runs.end(), [&](const SavedRun& r) { return r.record.id == record.id; }),
               runs.end());
    runs.push_back({record, QString::fromStdString(m_request.modelDir)});
    saveSavedRuns(runs);
    saveCurves(record.id, m_lossView->series());
    refreshResults();
    m_resultsView->selectRun(record.id);

    const QString summary =
        outcome.quantPerplexity > 0
            ? tr("quantized perplexity %1 (full precision %2, round-to-nearest %3), %4, saved in %5")
                  .arg(outcome.quantPerplexity, 0, 'f', 3)
                  .arg(outcome.fpPerplexity, 0, 'f', 3)
                  .arg(outcome.rtnPerplexity, 0, 'f', 3)
                  .arg(formatDuration(outcome.seconds), outcome.runDir)
            : tr("%1, saved in %2").arg(formatDuration(outcome.seconds), outcome.runDir);
    m_messageBar->showMessage(widgets::MessageBar::Kind::Information, tr("Run finished:"), summary);
    appendLog(tr("Run finished: %1").arg(summary));
    if (outcome.recoveries > 0)
        appendLog(tr("%n recovery(ies) acted during the run; see run.json.", nullptr, outcome.recoveries));
    m_stateLabel->setText(tr("Finished"));
    m_progress->setValue(m_progress->maximum());
    m_lastRunDir = outcome.runDir;
    afterRun();
}

void MainWindow::showRunError(aq::ErrorCode code, const QString& detail, const QString& cause)
{
    QString title;
    switch (code) {
    case aq::ErrorCode::BadInput:
        title = tr("The run stopped on bad input:");
        break;
    case aq::ErrorCode::OutOfMemory:
        title = tr("Out of memory:");
        break;
    case aq::ErrorCode::Numerical:
        title = tr("Numerical failure:");
        break;
    case aq::ErrorCode::PeerFailure:
        title = tr("Another rank stopped:");
        break;
    default:
        title = tr("Internal error:");
        break;
    }
    // The window's words and language; the log keeps the engine's own text for reports.
    QString text = engineMessageForWindow(detail);
    QString logged = detail;
    if (!cause.isEmpty()) {
        text = tr("%1. Rank 0 reports: %2").arg(cause, text);
        logged = tr("%1. Rank 0 reports: %2").arg(cause, detail);
    }
    m_messageBar->showMessage(widgets::MessageBar::Kind::Error, title, text);
    appendLog(title + QLatin1Char(' ') + logged);
}

void MainWindow::onFailed(aq::ErrorCode code, const QString& detail)
{
    // A rank that a cancel stopped takes the others along: the run was cancelled, not failed.
    if (code == aq::ErrorCode::PeerFailure && m_worker->cancelRequested() && !m_stoppedForRank) {
        onCancelled();
        return;
    }
    setProgressBusy(false);
    // The rank that stopped first, and the last words it wrote: what rank 0 lost the group over, or, before the group
    // formed, why rank 0 waited in vain.
    QString cause;
    if ((code == aq::ErrorCode::PeerFailure || !m_ranksMet) && m_request.world.distributed() &&
        !m_rankProcesses->failure().isEmpty()) {
        cause = m_rankProcesses->failure();
        const QStringList lastLines = m_rankProcesses->failureOutput();
        if (!lastLines.isEmpty())
            cause = tr("%1, saying: %2").arg(cause, lastLines.last().left(300));
    }
    showRunError(code, detail, cause);
    m_stateLabel->setText(tr("Failed"));
    const std::optional<InterruptedRun> run = readInterruptedRun(QString::fromStdString(m_request.runDir));
    if (run && run->completedBlocks > 0) {
        m_interruptedRunDir = run->runDir;
        appendLog(tr("%n finished block(s) are kept in %1: once the problem is solved, Run > Resume Interrupted Run "
                     "continues from there.", nullptr, run->completedBlocks)
                      .arg(run->runDir));
    }
    afterRun();
}

void MainWindow::onCancelled()
{
    setProgressBusy(false);
    m_messageBar->showMessage(widgets::MessageBar::Kind::Information, tr("Run cancelled:"), keepOrRemoveStoppedRun());
    appendLog(tr("Run cancelled"));
    m_stateLabel->setText(tr("Cancelled"));
    afterRun();
}

void MainWindow::afterRun()
{
    setRunning(false);
    updateEstimate();  // measures what the configuration needs, if it was not measured yet
    emit runEnded();
    if (m_closeAfterRun)
        close();
}

void MainWindow::closeEvent(QCloseEvent* event)
{
    if (isExporting()) {
        // Exports of the demo model take seconds and leave nothing behind when cancelled: no need to ask.
        cancelExport();
        m_exportJob->wait();
    }
    if (m_running) {
        if (!m_closeAfterRun) {
            const auto answer = QMessageBox::question(
                this, tr("Calibration running"),
                tr("A calibration is running. Cancel it and quit? Nothing of it will be kept as complete."));
            if (answer != QMessageBox::Yes) {
                event->ignore();
                return;
            }
            m_closeAfterRun = true;
            cancelRun();
        }
        // Quit once the worker has stopped (afterRun closes again); the window stays responsive meanwhile.
        event->ignore();
        return;
    }
    writeSettings();
    event->accept();
}

// ---------------------------------------------------------------------------------------------------------------
// Results

QVector<MainWindow::SavedRun> MainWindow::loadSavedRuns() const
{
    QSettings s;
    QVector<SavedRun> runs;
    const int n = s.beginReadArray(QStringLiteral("results"));
    for (int i = 0; i < n; ++i) {
        s.setArrayIndex(i);
        SavedRun r;
        r.record.id = s.value(QStringLiteral("id")).toString();
        r.record.name = s.value(QStringLiteral("name")).toString();
        r.record.method = s.value(QStringLiteral("method")).toString();
        r.record.preset = s.value(QStringLiteral("preset")).toString();
        r.record.fpPerplexity = s.value(QStringLiteral("fp")).toDouble();
        r.record.rtnPerplexity = s.value(QStringLiteral("rtn")).toDouble();
        r.record.quantPerplexity = s.value(QStringLiteral("quant")).toDouble();
        // Entries saved before these were kept read as "not known".
        r.record.wbits = s.value(QStringLiteral("wbits"), 0).toInt();
        r.record.abits = s.value(QStringLiteral("abits"), 0).toInt();
        r.record.groupSize = s.value(QStringLiteral("groupSize"), -1).toLongLong();
        r.record.nsamples = s.value(QStringLiteral("nsamples"), 0).toLongLong();
        r.record.seqlen = s.value(QStringLiteral("seqlen"), 0).toLongLong();
        r.record.epochs = s.value(QStringLiteral("epochs"), -1).toInt();
        r.record.evalWindows = s.value(QStringLiteral("evalWindows"), 0).toLongLong();
        r.record.evalSeqlen = s.value(QStringLiteral("evalSeqlen"), 0).toLongLong();
        r.record.evalText = s.value(QStringLiteral("evalText")).toString();
        r.record.seconds = s.value(QStringLiteral("seconds"), 0.0).toDouble();
        r.record.edits = s.value(QStringLiteral("edits")).toStringList();
        r.modelDir = s.value(QStringLiteral("model")).toString();
        if (!r.record.id.isEmpty())
            runs.push_back(r);
    }
    s.endArray();
    return runs;
}

void MainWindow::saveSavedRuns(const QVector<SavedRun>& runs) const
{
    QSettings s;
    s.remove(QStringLiteral("results"));
    s.beginWriteArray(QStringLiteral("results"), int(runs.size()));
    for (int i = 0; i < runs.size(); ++i) {
        s.setArrayIndex(i);
        const SavedRun& r = runs[i];
        s.setValue(QStringLiteral("id"), r.record.id);
        s.setValue(QStringLiteral("name"), r.record.name);
        s.setValue(QStringLiteral("method"), r.record.method);
        s.setValue(QStringLiteral("preset"), r.record.preset);
        s.setValue(QStringLiteral("fp"), r.record.fpPerplexity);
        s.setValue(QStringLiteral("rtn"), r.record.rtnPerplexity);
        s.setValue(QStringLiteral("quant"), r.record.quantPerplexity);
        s.setValue(QStringLiteral("wbits"), r.record.wbits);
        s.setValue(QStringLiteral("abits"), r.record.abits);
        s.setValue(QStringLiteral("groupSize"), r.record.groupSize);
        s.setValue(QStringLiteral("nsamples"), r.record.nsamples);
        s.setValue(QStringLiteral("seqlen"), r.record.seqlen);
        s.setValue(QStringLiteral("epochs"), r.record.epochs);
        s.setValue(QStringLiteral("evalWindows"), r.record.evalWindows);
        s.setValue(QStringLiteral("evalSeqlen"), r.record.evalSeqlen);
        s.setValue(QStringLiteral("evalText"), r.record.evalText);
        s.setValue(QStringLiteral("seconds"), r.record.seconds);
        s.setValue(QStringLiteral("edits"), r.record.edits);
        s.setValue(QStringLiteral("model"), r.modelDir);
    }
    s.endArray();
}

void MainWindow::refreshResults()
{
    // The table compares runs of the model that is open.
    const QString model = QDir::cleanPath(m_modelPanel->modelDir());
    QVector<widgets::RunRecord> rows;
    for (const SavedRun& r : loadSavedRuns())
        if (QDir::cleanPath(r.modelDir) == model)
            rows.push_back(r.record);
    m_resultsView->setRuns(rows);
}

QString MainWindow::curvesFile(const QString& runId) const
{
    const QByteArray hash = QCryptographicHash::hash(runId.toUtf8(), QCryptographicHash::Sha1).toHex();
    return QDir(QStandardPaths::writableLocation(QStandardPaths::AppLocalDataLocation))
        .filePath(QStringLiteral("loss-curves/%1.json").arg(QString::fromLatin1(hash)));
}

void MainWindow::saveCurves(const QString& runId, const QVector<widgets::LossSeries>& curves) const
{
    QJsonArray blocks;
    for (const widgets::LossSeries& s : curves) {
        QJsonArray steps, losses;
        for (double x : s.steps)
            steps.append(x);
        for (double y : s.losses)
            losses.append(y);
        blocks.append(QJsonObject{{QStringLiteral("block"), s.block},
                                  {QStringLiteral("steps"), steps},
                                  {QStringLiteral("losses"), losses}});
    }
    const QString path = curvesFile(runId);
    QDir().mkpath(QFileInfo(path).absolutePath());
    QSaveFile f(path);
    if (!f.open(QIODevice::WriteOnly))
        return;
    f.write(QJsonDocument(QJsonObject{{QStringLiteral("run"), runId}, {QStringLiteral("curves"), blocks}})
                .toJson(QJsonDocument::Compact));
    f.commit();
}

QVector<widgets::LossSeries> MainWindow::loadCurves(const QString& runId) const
{
    QFile f(curvesFile(runId));
    if (!f.open(QIODevice::ReadOnly))
        return {};
    QVector<widgets::LossSeries> curves;
    const QJsonArray blocks = QJsonDocument::fromJson(f.readAll()).object().value(QStringLiteral("curves")).toArray();
    for (const QJsonValue& v : blocks) {
        const QJsonObject o = v.toObject();
        widgets::LossSeries s;
        s.block = o.value(QStringLiteral("block")).toInt();
        for (const QJsonValue& x : o.value(QStringLiteral("steps")).toArray())
            s.steps.push_back(x.toDouble());
        for (const QJsonValue& y : o.value(QStringLiteral("losses")).toArray())
            s.losses.push_back(y.toDouble());
        if (s.steps.size() == s.losses.size())
            curves.push_back(s);
    }
    return curves;
}

bool MainWindow::openRun(const QString& runDir)
{
    if (m_running)
        return false;
    RunFile run;
    try {
        run = readRunFile(runDir);
    } catch (const aq::Error& e) {
        const std::optional<InterruptedRun> interrupted = readInterruptedRun(runDir);
        if (interrupted && interrupted->resumable) {
            // Not finished, but resumable: say so and offer it.
            m_interruptedRunDir = interrupted->runDir;
            m_messageBar->showMessage(
                widgets::MessageBar::Kind::Warning, tr("The run did not finish:"),
                tr("%1 stopped after %2 of %3 blocks. Run > Resume Interrupted Run continues it with the model, text "
                   "and configuration it was started with.")
                    .arg(interrupted->runDir)
                    .arg(interrupted->completedBlocks)
                    .arg(interrupted->numBlocks));
            return false;
        }
        m_messageBar->showMessage(widgets::MessageBar::Kind::Error, tr("Cannot open the run:"),
                                  QString::fromStdString(e.what()));
        return false;
    }
    // run.json records the model folder as it was given, possibly relative to where the run was started.
    const QFileInfo modelInfo(run.modelDir);
    const bool modelFound = QFileInfo::exists(QDir(run.modelDir).filePath(QStringLiteral("config.json")));
    const QString modelDir = modelFound ? modelInfo.canonicalFilePath() : run.modelDir;

    QVector<SavedRun> runs = loadSavedRuns();
    runs.erase(std::remove_if(runs.begin(), runs.end(),
                              [&](const SavedRun& r) { return r.record.id == run.record.id; }),
               runs.end());
    runs.push_back({run.record, modelDir});
    saveSavedRuns(runs);

    const aq::RunViewsSummary views = showRunViews(run);

    m_viewsModelDir = modelFound ? modelDir : QString();
    m_configPanel->loadConfig(run.config);
    const int device = m_device->findData(QString::fromStdString(run.config.device));
    if (device >= 0)
        m_device->setCurrentIndex(device);
    m_configPanel->setDevice(m_device->currentData().toString());
    if (QFileInfo(run.calibrationText).isFile())
        setCalibrationText(QFileInfo(run.calibrationText).absoluteFilePath());

    if (modelFound && QDir(modelDir) != QDir(m_modelPanel->modelDir()))
        openModel(modelDir);  // the results table follows when the model is read
    else
        refreshResults();
    m_resultsView->selectRun(run.record.id);
    QString shown;
    if (views.missingBlocks.empty())
        shown = tr("%1. Its configuration is loaded and every view shows the run as it was calibrated; the Matrices "
                   "tab replays its epochs.")
                    .arg(run.record.name);
    else if (views.blocks.empty())
        shown = tr("%1. Its configuration is loaded. The run folder keeps no views (made by an earlier version, or "
                   "the views folder was removed): losses and margins are shown per epoch from run.json; matrices, "
                   "activations and weight histograms are not available.")
                    .arg(run.record.name);
    else
        shown = tr("%1. Its configuration is loaded. Blocks %2 have no stored views (see the log): for them, losses "
                   "and margins are shown per epoch from run.json, without matrices, activations or histograms.")
                    .arg(run.record.name, blockList(views.missingBlocks));
    m_messageBar->showMessage(views.missingBlocks.empty() ? widgets::MessageBar::Kind::Information
                                                          : widgets::MessageBar::Kind::Warning,
                              tr("Run opened:"), shown);
    appendLog(tr("Opened run %1").arg(run.runDir));
    for (const std::string& problem : views.problems)
        appendLog(tr("Views not shown: %1").arg(QString::fromStdString(problem)));
    m_lastRunDir = runDir;
    updateExportAction();
    return true;
}

aq::RunViewsSummary MainWindow::showRunViews(const RunFile& run)
{
    m_lossView->clear();
    m_heatmapView->clear();
    m_activationView->clear();
    m_histogramView->clear();
    m_marginView->clear();
    m_rowMargins.clear();
    const aq::QuantConfig& c = run.config;
    m_epochsPerBlock = c.method == aq::Method::Rtn ? 0 : c.epochs;
    m_stepsPerEpoch = std::max<qint64>(1, c.nsamples / std::max<qint64>(1, c.batchSize));

    aq::RunViewsSummary views;
    try {
        views = aq::inspectRunViews(run.runDir.toStdString());
    } catch (const std::exception& e) {
        views.problems.push_back(e.what());
    }
    if (views.numBlocks > 0) {
        m_numBlocks = views.numBlocks;
        m_heatmapView->setBlockCount(views.numBlocks);
    }
    // Every stored report, through the handlers that showed them live.
    if (!views.blocks.empty()) {
        const QScopedValueRollback<bool> replaying(m_replaying, true);
        try {
            const aq::RunViewsSummary replayed = m_worker->replay(run.runDir);
            views.blocks = replayed.blocks;
            views.missingBlocks = replayed.missingBlocks;
            views.problems = replayed.problems;
        } catch (const std::exception& e) {
            views.problems.push_back(e.what());
            views.missingBlocks.insert(views.missingBlocks.end(), views.blocks.begin(), views.blocks.end());
            views.blocks.clear();
        }
    }
    // Blocks that replayed nothing show what run.json keeps: losses and minimum margins per epoch (or the live
    // curves, if this window saw the run).
    const std::set<int> replayed(views.blocks.begin(), views.blocks.end());
    QVector<widgets::LossSeries> curves = loadCurves(run.record.id);
    if (curves.isEmpty())
        curves = run.epochLosses;
    for (const widgets::LossSeries& series : std::as_const(curves))
        if (!replayed.count(series.block))
            for (int i = 0; i < series.steps.size() && i < series.losses.size(); ++i)
                m_lossView->appendPoint(series.block, series.steps[i], series.losses[i]);
    for (const RunFile::EpochMinimum& m : std::as_const(run.minima))
        if (!replayed.count(m.block))
            m_marginView->addEpochMinimum(m.block, m.epoch, std::max(1, m.epochs), m.transform, m.minMargin);
    return views;
}

QString MainWindow::blockList(const std::vector<int>& blocks)
{
    QStringList parts;
    for (size_t i = 0; i < blocks.size();) {
        size_t j = i;
        while (j + 1 < blocks.size() && blocks[j + 1] == blocks[j] + 1)
            ++j;
        parts << (j == i ? QString::number(blocks[i])
                         : QStringLiteral("%1–%2").arg(blocks[i]).arg(blocks[j]));
        i = j + 1;
    }
    return parts.join(QStringLiteral(", "));
}

void MainWindow::compareWith(const QString& runId)
{
    QVector<widgets::LossSeries> curves = loadCurves(runId);
    if (curves.isEmpty()) {
        try {
            curves = readRunFile(runId).epochLosses;  // per-epoch means: coarser, but comparable
        } catch (const aq::Error&) {
        }
    }
    if (curves.isEmpty()) {
        m_messageBar->showMessage(widgets::MessageBar::Kind::Warning, tr("Nothing to compare:"),
                                  tr("no loss curves were kept for this run."));
        return;
    }
    QString name = QFileInfo(runId).fileName();
    for (const widgets::RunRecord& r : m_resultsView->runs())
        if (r.id == runId && !r.name.isEmpty())
            name = r.name;  // the other run's own name: several runs may share a method and preset
    m_lossView->setComparison(name, curves);
    m_tabs->setCurrentIndex(TabLoss);
}

void MainWindow::forgetRun(const QString& runId)
{
    QVector<SavedRun> runs = loadSavedRuns();
    runs.erase(std::remove_if(runs.begin(), runs.end(), [&](const SavedRun& r) { return r.record.id == runId; }),
               runs.end());
    saveSavedRuns(runs);
    QFile::remove(curvesFile(runId));
    refreshResults();
}

// ---------------------------------------------------------------------------------------------------------------
// Export

QString MainWindow::exportableRunDir() const
{
    auto finished = [](const QString& dir) {
        return !dir.isEmpty() && QFileInfo::exists(QDir(dir).filePath(QStringLiteral("run.json")));
    };
    const QString selected = m_resultsView->selectedRunId();
    if (finished(selected))
        return selected;
    return finished(m_lastRunDir) ? m_lastRunDir : QString();
}

void MainWindow::updateExportAction()
{
    m_exportAction->setEnabled(!m_running && !isExporting() && !exportableRunDir().isEmpty());
    m_reportAction->setEnabled(!exportableRunDir().isEmpty());
}

bool MainWindow::saveRunReport(const QString& path, QString* error) const
{
    const QString runDir = exportableRunDir();
    if (runDir.isEmpty()) {
        if (error)
            *error = tr("There is no finished run to report on: select one in the results table.");
        return false;
    }
    const auto report = makeRunReport(runDir, error);
    if (!report)
        return false;
    const bool csv = QFileInfo(path).suffix().compare(QLatin1String("csv"), Qt::CaseInsensitive) == 0;
    QSaveFile f(path);
    const QByteArray bytes = (csv ? report->csv : report->markdown).toUtf8();
    if (!f.open(QIODevice::WriteOnly) || f.write(bytes) != bytes.size() || !f.commit()) {
        if (error)
            *error = tr("Could not write %1: %2").arg(QDir::toNativeSeparators(path), f.errorString());
        return false;
    }
    return true;
}

void MainWindow::askAndSaveRunReport()
{
    const QString runDir = exportableRunDir();
    if (runDir.isEmpty())
        return;
    QString filter = tr("Markdown (*.md)");
    QString path = QFileDialog::getSaveFileName(this, tr("Save Run Report"),
                                                QDir::cleanPath(runDir) + QStringLiteral("-report.md"),
                                                tr("Markdown (*.md);;CSV (*.csv)"), &filter);
    if (path.isEmpty())
        return;
    if (QFileInfo(path).suffix().isEmpty())
        path += filter.contains(QLatin1String("*.csv")) ? QStringLiteral(".csv") : QStringLiteral(".md");
    QString error;
    if (saveRunReport(path, &error))
        statusBar()->showMessage(tr("Report saved to %1").arg(QDir::toNativeSeparators(path)), 5000);
    else
        QMessageBox::warning(this, tr("Report not saved"), error);
}

bool MainWindow::isExporting() const { return m_exportJob && m_exportJob->isRunning(); }

void MainWindow::showExportDialog()
{
    const QString runDir = exportableRunDir();
    if (runDir.isEmpty() || m_running || isExporting())
        return;
    // The finished runs of the table, the one Export would take (just finished or selected) first.
    auto finished = [](const QString& dir) {
        return !dir.isEmpty() && QFileInfo::exists(QDir(dir).filePath(QStringLiteral("run.json")));
    };
    QVector<ExportDialog::Run> runs;
    QString defaultName = QFileInfo(runDir).fileName();
    for (const widgets::RunRecord& r : m_resultsView->runs())
        if (r.id == runDir && !r.name.isEmpty())
            defaultName = r.name;
    runs.push_back({runDir, defaultName});
    for (const widgets::RunRecord& r : m_resultsView->runs())
        if (r.id != runDir && finished(r.id))
            runs.push_back({r.id, r.name});
    auto* dialog = new ExportDialog(runs, runDir, m_exportJob, this);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    connect(dialog, &ExportDialog::exportRequested, this, &MainWindow::startExport);
    connect(dialog, &ExportDialog::cancelRequested, this, &MainWindow::cancelExport);
    dialog->open();
}

bool MainWindow::startExport(const aq::ExportOptions& options)
{
    if (m_running || isExporting())
        return false;
    if (options.outDir.empty()) {
        m_messageBar->showMessage(widgets::MessageBar::Kind::Error, tr("Cannot export:"),
                                  tr("choose an output folder."));
        return false;
    }
    if (!m_exportJob->start(options))
        return false;
    const QString format = QString::fromLatin1(aq::exportFormatName(options.format));
    appendLog(tr("Exporting %1 as %2 (%3) → %4")
                  .arg(QString::fromStdString(options.runDir), format, QString::fromStdString(options.dtype),
                       QString::fromStdString(options.outDir)));
    m_messageBar->dismiss();
    m_stateLabel->setText(tr("Exporting"));
    m_progress->setValue(0);
    setRunning(false);  // refreshes the actions for the export in progress
    return true;
}

void MainWindow::cancelExport()
{
    if (!isExporting())
        return;
    m_exportJob->cancel();
    m_stateLabel->setText(tr("Cancelling…"));
    m_cancelAction->setEnabled(false);
    m_cancelButton->setEnabled(false);
}

void MainWindow::onExportProgress(qint64 done, qint64 total, const QString& stage)
{
    if (!stage.isEmpty())
        m_stateLabel->setText(tr("Exporting: %1").arg(stage));
    if (total > 0)
        m_progress->setValue(int(std::min<qint64>(1000, done * 1000 / total)));
}

void MainWindow::onExportDone()
{
    const ExportOutcome& outcome = m_exportJob->outcome();
    if (outcome.ok) {
        const aq::ExportResult& r = outcome.result;
        const QString dir = QDir::toNativeSeparators(QString::fromStdString(r.outDir));
        m_messageBar->showMessage(widgets::MessageBar::Kind::Information, tr("Export written:"),
                                  tr("%1 (%2, %n file(s), %3)", nullptr, int(r.files.size()))
                                      .arg(dir, QString::fromLatin1(aq::exportFormatName(r.format)),
                                           formatBytes(double(r.numBytes))));
        appendLog(tr("Export written to %1 in %2 s").arg(dir).arg(r.seconds, 0, 'f', 1));
        for (const std::string& note : r.notes)
            appendLog(tr("Export note: %1").arg(inWindowWords(QString::fromStdString(note))));
        m_stateLabel->setText(tr("Exported"));
        m_progress->setValue(m_progress->maximum());
    } else if (outcome.code == aq::ErrorCode::Cancelled) {
        m_messageBar->showMessage(widgets::MessageBar::Kind::Information, tr("Export cancelled:"),
                                  tr("nothing was written as complete."));
        appendLog(tr("Export cancelled"));
        m_stateLabel->setText(tr("Cancelled"));
    } else {
        // The engine names command-line options; the window shows its own controls' names.
        const QString error = inWindowWords(outcome.error);
        m_messageBar->showMessage(widgets::MessageBar::Kind::Error, tr("Cannot export:"), error);
        appendLog(tr("Cannot export: %1").arg(error));
        m_stateLabel->setText(tr("Failed"));
    }
    setRunning(m_running);
    updateEstimate();
    emit exportEnded(outcome.ok);
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
            count += d.id.rfind("cuda", 0) == 0;
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
