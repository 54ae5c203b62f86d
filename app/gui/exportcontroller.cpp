#include "exportcontroller.h"

#include "enginemessages.h"
#include "exportdialog.h"
#include "modelpanel.h"
#include "runreport.h"
#include "settingnames.h"

#include "messagebar.h"
#include "resultsview.h"

#include <QAction>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QItemSelectionModel>
#include <QLabel>
#include <QMainWindow>
#include <QMessageBox>
#include <QProgressBar>
#include <QSaveFile>
#include <QStatusBar>
#include <QTableView>

#include <algorithm>

namespace aq::gui {

namespace {
bool isFinishedRun(const QString& dir)
{
    return !dir.isEmpty() && QFileInfo::exists(QDir(dir).filePath(QStringLiteral("run.json")));
}
}  // namespace

ExportController::ExportController(QMainWindow* window) : QObject(window), m_window(window)
{
    m_exportAction = new QAction(QIcon::fromTheme(QStringLiteral("document-save-as")), tr("&Export…"), window);
    m_exportAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_E));
    m_exportAction->setStatusTip(tr("Write the selected finished run (or the last one) for another runtime: "
                                    "Hugging Face, AWQ, GPTQ, compressed-tensors or GGUF (llama.cpp)"));
    connect(m_exportAction, &QAction::triggered, this, &ExportController::showDialog);

    m_reportAction = new QAction(tr("Save Run &Report…"), window);
    m_reportAction->setStatusTip(tr("Save the selected finished run's (or the last one's) configuration, block losses "
                                    "and perplexities as Markdown or CSV"));
    connect(m_reportAction, &QAction::triggered, this, &ExportController::askAndSaveRunReport);

    m_job = new ExportJob(this);
    connect(m_job, &ExportJob::progressed, this, &ExportController::onProgress);
    connect(m_job, &ExportJob::ended, this, &ExportController::onDone);
}

ExportController::~ExportController() { cancelAndWait(); }

void ExportController::attach(widgets::ResultsView* results, widgets::MessageBar* messages, QLabel* state,
                              QProgressBar* progress)
{
    m_results = results;
    m_messages = messages;
    m_state = state;
    m_progress = progress;
    connect(m_results->table()->selectionModel(), &QItemSelectionModel::selectionChanged, this,
            &ExportController::updateActions);
}

void ExportController::setLastRunDir(const QString& runDir) { m_lastRunDir = runDir; }

QString ExportController::exportableRunDir() const
{
    const QString selected = m_results->selectedRunId();
    if (isFinishedRun(selected))
        return selected;
    return isFinishedRun(m_lastRunDir) ? m_lastRunDir : QString();
}

void ExportController::updateActions()
{
    m_exportAction->setEnabled(!m_calibrating && !isExporting() && !exportableRunDir().isEmpty());
    m_reportAction->setEnabled(!exportableRunDir().isEmpty());
}

bool ExportController::saveRunReport(const QString& path, QString* error) const
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

void ExportController::askAndSaveRunReport()
{
    const QString runDir = exportableRunDir();
    if (runDir.isEmpty())
        return;
    QString filter = tr("Markdown (*.md)");
    QString path = QFileDialog::getSaveFileName(m_window, tr("Save Run Report"),
                                                QDir::cleanPath(runDir) + QStringLiteral("-report.md"),
                                                tr("Markdown (*.md);;CSV (*.csv)"), &filter);
    if (path.isEmpty())
        return;
    if (QFileInfo(path).suffix().isEmpty())
        path += filter.contains(QLatin1String("*.csv")) ? QStringLiteral(".csv") : QStringLiteral(".md");
    QString error;
    if (saveRunReport(path, &error))
        m_window->statusBar()->showMessage(tr("Report saved to %1").arg(QDir::toNativeSeparators(path)), 5000);
    else
        QMessageBox::warning(m_window, tr("Report not saved"), error);
}

bool ExportController::isExporting() const { return m_job->isRunning(); }

bool ExportController::cancelRequested() const { return m_job->cancelRequested(); }

void ExportController::showDialog()
{
    const QString runDir = exportableRunDir();
    if (runDir.isEmpty() || m_calibrating || isExporting())
        return;
    // The finished runs of the table, the one Export would take (just finished or selected) first.
    QVector<ExportDialog::Run> runs;
    QString defaultName = QFileInfo(runDir).fileName();
    for (const widgets::RunRecord& r : m_results->runs())
        if (r.id == runDir && !r.name.isEmpty())
            defaultName = r.name;
    runs.push_back({runDir, defaultName});
    for (const widgets::RunRecord& r : m_results->runs())
        if (r.id != runDir && isFinishedRun(r.id))
            runs.push_back({r.id, r.name});
    auto* dialog = new ExportDialog(runs, runDir, m_job, m_window);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    connect(dialog, &ExportDialog::exportRequested, this, &ExportController::start);
    connect(dialog, &ExportDialog::cancelRequested, this, &ExportController::cancel);
    dialog->open();
}

bool ExportController::start(const aq::ExportOptions& options)
{
    if (m_calibrating || isExporting())
        return false;
    if (options.outDir.empty()) {
        m_messages->showMessage(widgets::MessageBar::Kind::Error, tr("Cannot export:"), tr("choose an output folder."));
        return false;
    }
    if (!m_job->start(options))
        return false;
    const QString format = QString::fromLatin1(aq::exportFormatName(options.format));
    emit logLine(tr("Exporting %1 as %2 (%3) → %4")
                     .arg(QString::fromStdString(options.runDir), format,
                          QString::fromLatin1(aq::floatTypeName(options.dtype)),
                          QString::fromStdString(options.outDir)));
    m_messages->dismiss();
    m_state->setText(tr("Exporting"));
    m_progress->setValue(0);
    emit started();
    return true;
}

bool ExportController::cancel()
{
    if (!isExporting())
        return false;
    m_job->cancel();
    m_state->setText(tr("Cancelling…"));
    emit cancelling();
    return true;
}

void ExportController::cancelAndWait()
{
    m_job->cancel();
    m_job->wait();
}

void ExportController::wait() { m_job->wait(); }

void ExportController::onProgress(const aq::ExportProgress& p)
{
    if (!p.stage.empty())
        m_state->setText(tr("Exporting: %1").arg(QString::fromStdString(p.stage)));
    if (p.total > 0)
        m_progress->setValue(int(p.fraction() * 1000));
}

void ExportController::onDone()
{
    showOutcome();
    emit ended(m_job->outcome().ok);
}

void ExportController::showOutcome()
{
    const ExportOutcome& outcome = m_job->outcome();
    if (outcome.ok) {
        const aq::ExportResult& r = outcome.result;
        const QString dir = QDir::toNativeSeparators(QString::fromStdString(r.outDir));
        m_messages->showMessage(widgets::MessageBar::Kind::Information, tr("Export written:"),
                                  tr("%1 (%2, %n file(s), %3)", nullptr, int(r.files.size()))
                                      .arg(dir, QString::fromLatin1(aq::exportFormatName(r.format)),
                                           formatBytes(double(r.numBytes))));
        emit logLine(tr("Export written to %1 in %2 s").arg(dir).arg(r.seconds, 0, 'f', 1));
        for (const std::string& note : r.notes)
            emit logLine(tr("Export note: %1").arg(inWindowWords(QString::fromStdString(note))));
        m_state->setText(tr("Exported"));
        m_progress->setValue(m_progress->maximum());
    } else if (outcome.code == aq::ErrorCode::Cancelled) {
        m_messages->showMessage(widgets::MessageBar::Kind::Information, tr("Export cancelled:"),
                                  tr("nothing was written as complete."));
        emit logLine(tr("Export cancelled"));
        m_state->setText(tr("Cancelled"));
    } else {
        // The engine names command-line options; the window shows its own controls' names.
        const QString error = inWindowWords(outcome.error);
        m_messages->showMessage(widgets::MessageBar::Kind::Error, tr("Cannot export:"), error);
        emit logLine(tr("Cannot export: %1").arg(error));
        m_state->setText(tr("Failed"));
    }
}

}  // namespace aq::gui
