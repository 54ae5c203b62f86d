// The window's finished runs: reopening one with its views, comparing and forgetting runs in the results, and
// the export and run report, which ExportController carries out.
#include "mainwindow.h"

#include "apppaths.h"
#include "calibrationworker.h"
#include "configpanel.h"
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
#include "matrixheatmapview.h"
#include "messagebar.h"
#include "resultsview.h"
#include "weighthistogramview.h"

#include "aq/device.h"
#include "aq/error.h"

#include <QAction>
#include <QComboBox>
#include <QDir>
#include <QFileInfo>
#include <QLabel>

namespace aq::gui {

void MainWindow::refreshResults()
{
    // The table compares runs of the model that is open.
    m_resultsView->setRuns(m_history.runsOfModel(m_modelPanel->modelDir()));
}

bool MainWindow::openRun(const QString& runDir)
{
    if (m_running)
        return false;
    RunFile run;
    if (!readRunOrExplain(runDir, &run))
        return false;
    // run.json records the model folder as it was given, possibly relative to where the run was started.
    const QFileInfo modelInfo(run.modelDir);
    const bool modelFound = QFileInfo::exists(QDir(run.modelDir).filePath(QStringLiteral("config.json")));
    const QString modelDir = modelFound ? modelInfo.canonicalFilePath() : run.modelDir;
    m_history.remember({run.record, modelDir});

    const aq::RunViewsSummary views = showRunViews(run);

    m_viewsModelDir = modelFound ? modelDir : QString();
    loadRunSettings(run);
    if (modelFound && QDir(modelDir) != QDir(m_modelPanel->modelDir()))
        openModel(modelDir);  // the results table follows when the model is read
    else
        refreshResults();
    m_resultsView->selectRun(run.record.id);
    announceOpenedRun(run, views);
    m_export->setLastRunDir(runDir);
    updateExportAction();
    return true;
}

bool MainWindow::readRunOrExplain(const QString& runDir, RunFile* run)
{
    try {
        *run = readRunFile(runDir);
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
    return true;
}

void MainWindow::loadRunSettings(const RunFile& run)
{
    m_configPanel->loadConfig(run.config);
    const int device = m_device->findData(QString::fromStdString(run.config.device));
    if (device >= 0)
        m_device->setCurrentIndex(device);
    m_configPanel->setDevice(m_device->currentData().toString());
    if (QFileInfo(run.calibrationText).isFile())
        setCalibrationText(QFileInfo(run.calibrationText).absoluteFilePath());
}

void MainWindow::announceOpenedRun(const RunFile& run, const aq::RunViewsSummary& views)
{
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
}

aq::RunViewsSummary MainWindow::showRunViews(const RunFile& run)
{
    m_lossView->clear();
    m_heatmapView->clear();
    m_activationView->clear();
    m_histogramView->clear();
    m_marginView->clear();
    m_rowMargins.clear();
    m_status->takeConfig(run.config);

    aq::RunViewsSummary views = RunReplay::inspect(run.runDir);
    if (views.numBlocks > 0) {
        m_status->setNumBlocks(views.numBlocks);
        m_heatmapView->setBlockCount(views.numBlocks);
    }
    // Every stored report, through the handlers that showed them live.
    m_replay->replayStoredViews(run.runDir, &views);
    // Blocks that replayed nothing show what run.json keeps.
    m_replay->showRecordedEpochs(run, views);
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
    const QVector<widgets::LossSeries> curves = m_history.comparisonCurves(runId);
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
    m_history.forget(runId);
    refreshResults();
}

// ---------------------------------------------------------------------------------------------------------------
// Export

void MainWindow::updateExportAction() { m_export->updateActions(); }
bool MainWindow::isExporting() const { return m_export && m_export->isExporting(); }

void MainWindow::onExportEnded(bool ok)
{
    setRunning(m_running);
    m_estimate->refresh();
    emit exportEnded(ok);
}

QString MainWindow::currentRunDir() const { return QString::fromStdString(m_run->request().runDir); }

}  // namespace aq::gui
