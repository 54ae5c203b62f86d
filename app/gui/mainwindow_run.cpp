// The window's side of a calibration run: checking the inputs, starting, resuming and stopping it, showing what its
// worker reports while it runs, and recording and announcing its end. The run itself is RunController's.
#include "mainwindow.h"

#include "apppaths.h"
#include "calibrationworker.h"
#include "configpanel.h"
#include "enginemessages.h"
#include "exportcontroller.h"
#include "modelpanel.h"
#include "otherranks.h"
#include "runcontroller.h"
#include "runfile.h"
#include "runreplay.h"
#include "runstatus.h"

#include "activationview.h"
#include "losscurveview.h"
#include "marginview.h"
#include "matrixheatmapview.h"
#include "messagebar.h"
#include "resultsview.h"
#include "weighthistogramview.h"

#include "aq/device.h"
#include "aq/error.h"

#include <QCloseEvent>
#include <QComboBox>
#include <QDir>
#include <QFileInfo>
#include <QLineEdit>
#include <QMessageBox>
#include <QPushButton>
#include <QSpinBox>

#include <algorithm>

namespace aq::gui {

namespace {

QString marginKey(int block, const QString& transform, int epoch)
{
    return QStringLiteral("%1/%2/%3").arg(block).arg(transform).arg(epoch);
}

}  // namespace

std::string MainWindow::selectedDevice() const { return m_device->currentData().toString().toStdString(); }

bool MainWindow::refuseRun(const QString& title, const QString& detail)
{
    m_messageBar->showMessage(widgets::MessageBar::Kind::Error, title, detail);
    appendLog(title + QLatin1Char(' ') + detail);
    return false;
}

bool MainWindow::inputsReady(QString* title, QString* detail) const
{
    auto missing = [&](const QString& t, const QString& d) {
        *title = t;
        *detail = d;
        return false;
    };
    if (m_modelPanel->isInspecting())
        return missing(tr("Not ready:"), tr("the model is still being read."));
    if (!m_modelPanel->summary())
        return missing(tr("No model:"), tr("open a model folder first (File > Open Model)."));
    if (calibrationText().isEmpty() || !QFileInfo(calibrationText()).isFile())
        return missing(tr("No calibration text:"),
                       tr("the file '%1' does not exist. Choose a UTF-8 text file.").arg(calibrationText()));
    if (!evaluationText().isEmpty() && !QFileInfo(evaluationText()).isFile())
        return missing(tr("No evaluation text:"),
                       tr("the file '%1' does not exist. Choose a text file, or clear the field to skip the "
                          "evaluation.")
                           .arg(evaluationText()));
    if (runsFolder().isEmpty() || !QDir().mkpath(runsFolder()))
        return missing(tr("No runs folder:"), tr("cannot create '%1'. Choose a writable folder.").arg(runsFolder()));
    return true;
}

bool MainWindow::startRun()
{
    if (m_running)
        return false;
    QString title, detail;
    if (!inputsReady(&title, &detail))
        return refuseRun(title, detail);
    const aq::ModelConfig& model = m_modelPanel->summary()->config;
    aq::QuantConfig config = m_configPanel->config();
    config.device = selectedDevice();
    try {
        aq::validateConfig(config, model);
    } catch (const aq::Error& e) {
        // An error about one setting puts the cursor into its field.
        if (!e.field().empty())
            m_configPanel->focusField(QString::fromStdString(e.field()));
        return refuseRun(tr("Unsupported configuration:"), engineMessageForWindow(QString::fromStdString(e.what())));
    }

    if (!m_run->prepare(newRunRequest(config), m_rankCount->value(), &detail))
        return refuseRun(tr("Cannot run on %n ranks:", nullptr, m_rankCount->value()), detail);

    m_messageBar->dismiss();
    m_viewsModelDir = QFileInfo(m_modelPanel->modelDir()).canonicalFilePath();
    prepareRunViews(int(model.numLayers), config);
    m_status->startClock();
    logRunStart();
    writeSettings();
    launchRun();
    return true;
}

aq::CalibrationRequest MainWindow::newRunRequest(const aq::QuantConfig& config) const
{
    aq::CalibrationRequest request;
    request.modelDir = m_modelPanel->modelDir().toStdString();
    request.calibTextPath = calibrationText().toStdString();
    request.runDir =
        RunFolders::newRunDir(runsFolder(), m_modelPanel->modelDir(), m_configPanel->presetName(), config.method)
            .toStdString();
    request.config = config;
    request.evalTextPath = evaluationText().toStdString();
    request.evalWindows = m_evalWindows->value();
    return request;
}

void MainWindow::logRunStart()
{
    const aq::CalibrationRequest& request = m_run->request();
    QString where = QString::fromStdString(request.config.device);
    if (request.world.distributed())
        where = tr("%1 with %n ranks", nullptr, request.world.worldSize).arg(where);
    appendLog(tr("Starting %1 %2 on %3 → %4")
                  .arg(QString::fromLatin1(aq::methodName(request.config.method)), m_configPanel->presetName(), where,
                       QString::fromStdString(request.runDir)));
}

void MainWindow::launchRun()
{
    // The run has the cores to itself: a measurement for the estimate waits until it has ended.
    m_estimate->holdMeasurements();
    setRunning(true);
    m_run->launch();
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
    m_status->prepareRun(numBlocks, config, m_run->request().world.worldSize);
}

std::optional<InterruptedRun> MainWindow::resumableRun(const QString& runDir, aq::ModelConfig* model,
                                                      QString* problem) const
{
    auto refuse = [problem](const QString& detail) {
        *problem = detail;
        return std::nullopt;
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
    try {
        *model = aq::loadModelConfig(run->modelDir.toStdString());
    } catch (const aq::Error& e) {
        return refuse(engineMessageForWindow(QString::fromStdString(e.what())));
    }
    return run;
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
    aq::ModelConfig model;
    QString problem;
    const std::optional<InterruptedRun> run = resumableRun(runDir, &model, &problem);
    if (!run)
        return refuse(problem);
    // The window shows the run's model before the run continues: open it first and resume once it is read.
    if (m_modelPanel->isInspecting() || QDir(run->modelDir) != QDir(m_modelPanel->modelDir()) ||
        !m_modelPanel->summary()) {
        m_pendingResume = run->runDir;
        appendLog(tr("Opening the run's model %1 before resuming").arg(run->modelDir));
        openModel(run->modelDir);
        return true;
    }
    m_pendingResume.clear();

    if (!m_run->prepare(resumeRequest(*run), m_rankCount->value(), &problem))
        return refuse(problem);

    m_messageBar->dismiss();
    m_viewsModelDir = QFileInfo(run->modelDir).canonicalFilePath();
    m_configPanel->loadConfig(run->config);
    prepareRunViews(int(model.numLayers), m_run->request().config);
    replayFinishedBlocks(*run);
    m_status->resumeAfter(run->completedBlocks);
    m_status->startClock();
    appendLog(tr("Resuming %1 after %2 finished blocks").arg(run->runDir).arg(run->completedBlocks));
    m_interruptedRunDir.clear();
    launchRun();
    return true;
}

aq::CalibrationRequest MainWindow::resumeRequest(const InterruptedRun& run) const
{
    aq::CalibrationRequest request;
    request.modelDir = run.modelDir.toStdString();
    request.calibTextPath = run.calibrationText.toStdString();
    request.runDir = run.runDir.toStdString();
    request.config = run.config;
    request.config.device = selectedDevice();
    request.evalTextPath = evaluationText().toStdString();
    request.evalWindows = m_evalWindows->value();
    request.resume = true;
    return request;
}

void MainWindow::replayFinishedBlocks(const InterruptedRun& run)
{
    if (const std::optional<QString> problem = m_replay->replayFinishedBlocks(run))
        appendLog(tr("Views not shown: %1").arg(*problem));
}

QString MainWindow::keepOrRemoveStoppedRun()
{
    const RunFolders::Stopped stopped = m_run->keepOrRemoveStoppedRun();
    if (!stopped.interruptedDir.isEmpty())
        m_interruptedRunDir = stopped.interruptedDir;
    return stopped.message;
}

void MainWindow::cancelRun()
{
    if (isExporting())
        m_export->cancel();
    if (!m_running)
        return;
    m_run->cancel();
    m_status->showCancelling();
    m_cancelAction->setEnabled(false);
    m_cancelButton->setEnabled(false);
    appendLog(tr("Cancel requested"));
}

void MainWindow::setRunning(bool running)
{
    m_running = running;
    m_export->setCalibrating(running);
    // One heavy job at a time: an export competes with a calibration for memory and cores.
    const bool canRun = !running && !isExporting() && m_modelPanel->summary().has_value() &&
                        !m_modelPanel->isInspecting();
    m_runAction->setEnabled(canRun);
    m_runButton->setEnabled(canRun);
    m_cancelAction->setEnabled((running && !m_run->cancelRequested()) ||
                               (isExporting() && !m_export->cancelRequested()));
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
    m_cpuThreads->setEnabled(!running || !m_run->request().world.distributed());
    m_runsFolder->setEnabled(!running);
    setAcceptDrops(!running);
    updateExportAction();
    m_status->showRunning(running);
}

void MainWindow::onStage(aq::Stage what, int block, int numBlocks)
{
    if (!m_replay->isReplaying())
        m_run->otherRanks()->setMet();  // rank 0 reports only once its group has formed
    m_status->stageChanged(what, block, numBlocks);
}

QString MainWindow::stageText(aq::Stage what) { return RunStatus::stageText(what); }

void MainWindow::onLosses(const QVector<aq::StepLoss>& points)
{
    const qint64 stepsPerEpoch = m_status->stepsPerEpoch();
    for (const aq::StepLoss& p : points)
        m_lossView->appendPoint(p.block, double(p.epoch) * double(stepsPerEpoch) + p.step, p.loss);
    if (!points.isEmpty() && !m_replay->isReplaying())
        m_status->lossReported(points.last());
}

void MainWindow::onEpoch(const aq::EpochSummary& e)
{
    m_status->takeEpochCount(e.epochs);
    if (!m_replay->isReplaying())
        m_status->epochEnded(e);
}

void MainWindow::onDiagnostics(const aq::MatrixDiagnostics& d)
{
    const QString transform = QString::fromLatin1(aq::siteName(d.transform));
    // Stored first: the view asks for the rows of the matrix it selects, and it may select this new one.
    m_rowMargins.insert(marginKey(d.block, transform, d.epoch),
                        QVector<float>(d.rowMargins.begin(), d.rowMargins.end()));
    m_marginView->addEpochMinimum(d.block, d.epoch, std::max(1, m_status->epochsPerBlock()), transform,
                                  d.minMargin);
    if (d.nonDominantRows > 0 && !m_replay->isReplaying())
        appendLog(tr("Block %1, %2, epoch %3: %4 of %5 rows not strictly dominant (min margin %6, condition %7)")
                      .arg(d.block)
                      .arg(transform)
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

void MainWindow::onRecovery(const aq::Recovery& r)
{
    const QString reason = QString::fromStdString(r.reason);
    m_status->countRecovery();
    appendLog(tr("Recovery in block %1, epoch %2: %3; %4").arg(r.block).arg(r.epoch).arg(reason, QString::fromStdString(r.action)));
    if (!m_replay->isReplaying())
        m_status->showRecovered(reason);
}

void MainWindow::onBlock(const aq::BlockSummary& b)
{
    if (!m_replay->isReplaying())
        m_status->blockEnded(b);
}

void MainWindow::onFinished(const aq::CalibrationResult& outcome)
{
    m_status->setProgressBusy(false);
    const widgets::RunRecord record = finishedRunRecord(outcome);
    learnFromFinishedRun(record);
    rememberFinishedRun(record);
    announceFinishedRun(outcome);
    m_export->setLastRunDir(QString::fromStdString(outcome.runDir));
    afterRun();
}

widgets::RunRecord MainWindow::finishedRunRecord(const aq::CalibrationResult& outcome) const
{
    widgets::RunRecord record = runRecord(QString::fromStdString(outcome.runDir), m_run->request().config);
    record.fpPerplexity = outcome.fpPerplexity;
    record.rtnPerplexity = outcome.rtnPerplexity;
    record.quantPerplexity = outcome.quantPerplexity;
    record.seconds = outcome.seconds;
    try {
        // What the engine recorded: the evaluation windows it used and the edits of the preset.
        const RunFile written = readRunFile(QString::fromStdString(outcome.runDir));
        record.evalWindows = written.record.evalWindows;
        record.evalSeqlen = written.record.evalSeqlen;
        record.evalText = written.record.evalText;
        record.edits = written.record.edits;
    } catch (const aq::Error&) {
    }
    return record;
}

void MainWindow::learnFromFinishedRun(const widgets::RunRecord& record)
{
    // The run's own time per step is a better figure than the short measurement's: later estimates of the same kind
    // of configuration use it (afterRun() shows the new estimate). Not a data-parallel run's: the measurement is of
    // one process.
    const aq::CalibrationRequest& request = m_run->request();
    if (!request.world.distributed())
        m_estimate->refineByRun(QString::fromStdString(request.modelDir), request.config, m_status->runEpochSeconds(),
                                m_status->runEpochs(), double(m_status->stepsPerEpoch()));
    const int numBlocks = m_status->numBlocks();
    if (m_status->evaluating() && record.evalWindows > 0 && numBlocks > 0) {
        // What this evaluation took per window and block: the next estimate of an evaluation on this model and
        // device uses it instead of the targets' cost.
        m_estimate->learnEvaluationRate(request.config, m_status->stageSeconds() /
                                                              (3.0 * double(record.evalWindows) * double(numBlocks)));
    }
    m_status->endEvaluation();
}

void MainWindow::rememberFinishedRun(const widgets::RunRecord& record)
{
    m_history.remember({record, QString::fromStdString(m_run->request().modelDir)});
    m_history.saveCurves(record.id, m_lossView->series());
    refreshResults();
    m_resultsView->selectRun(record.id);
}

void MainWindow::announceFinishedRun(const aq::CalibrationResult& outcome)
{
    const QString runDir = QString::fromStdString(outcome.runDir);
    const QString summary =
        outcome.quantPerplexity > 0
            ? tr("quantized perplexity %1 (full precision %2, round-to-nearest %3), %4, saved in %5")
                  .arg(outcome.quantPerplexity, 0, 'f', 3)
                  .arg(outcome.fpPerplexity, 0, 'f', 3)
                  .arg(outcome.rtnPerplexity, 0, 'f', 3)
                  .arg(RunStatus::formatDuration(outcome.seconds), runDir)
            : tr("%1, saved in %2").arg(RunStatus::formatDuration(outcome.seconds), runDir);
    m_messageBar->showMessage(widgets::MessageBar::Kind::Information, tr("Run finished:"), summary);
    appendLog(tr("Run finished: %1").arg(summary));
    if (outcome.recoveries > 0)
        appendLog(tr("%n recovery(ies) acted during the run; see run.json.", nullptr, outcome.recoveries));
    m_status->showFinished();
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

void MainWindow::onFailed(aq::ErrorCode code, const QString& detail, const QString& cause)
{
    m_status->setProgressBusy(false);
    showRunError(code, detail, cause);
    m_status->showFailed();
    const std::optional<InterruptedRun> run = readInterruptedRun(currentRunDir());
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
    m_status->setProgressBusy(false);
    m_messageBar->showMessage(widgets::MessageBar::Kind::Information, tr("Run cancelled:"), keepOrRemoveStoppedRun());
    appendLog(tr("Run cancelled"));
    m_status->showCancelled();
    afterRun();
}

void MainWindow::afterRun()
{
    setRunning(false);
    m_estimate->refresh();  // measures what the configuration needs, if it was not measured yet
    emit runEnded();
    if (m_closeAfterRun)
        close();
}

void MainWindow::closeEvent(QCloseEvent* event)
{
    if (isExporting()) {
        // Exports of the demo model take seconds and leave nothing behind when cancelled: no need to ask.
        m_export->cancel();
        m_export->wait();
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

}  // namespace aq::gui
