#pragma once
// Exports and reports of finished runs: which run Export takes, the Export and Save Run Report actions, the export
// dialog, the export job on a pool thread and what the window shows of its progress and outcome.
#include "aq/export.h"

#include <QObject>
#include <QString>

class QAction;
class QLabel;
class QMainWindow;
class QProgressBar;

namespace aq::widgets {
class MessageBar;
class ResultsView;
}  // namespace aq::widgets

namespace aq::gui {

class ExportJob;

class ExportController : public QObject {
    Q_OBJECT
public:
    /// Makes the Export and Save Run Report actions (the window places them) and the export job.
    explicit ExportController(QMainWindow* window);
    ~ExportController() override;
    /// What the window shows of an export: problems and results in `messages`, the stage in `state`, the progress in
    /// `progress`. The runs to choose from are those of `results`; its selection picks the run Export takes.
    void attach(widgets::ResultsView* results, widgets::MessageBar* messages, QLabel* state, QProgressBar* progress);

    QAction* exportAction() const { return m_exportAction; }
    QAction* reportAction() const { return m_reportAction; }

    /// The run that finished or was reopened last (Export takes it when the table selects no finished run).
    void setLastRunDir(const QString& runDir);
    void clearLastRunDir() { m_lastRunDir.clear(); }
    /// A calibration runs: no export starts, and Export is disabled.
    void setCalibrating(bool calibrating) { m_calibrating = calibrating; }

    /// The selected run of the results table when its folder holds a run.json, otherwise the last run that finished
    /// or was reopened. Empty when there is none.
    QString exportableRunDir() const;
    /// Starts exporting on a pool thread (options.runDir must be a finished run); ended() follows. Problems are shown
    /// in the message bar. Returns false when nothing was started.
    bool start(const aq::ExportOptions& options);
    /// Asks the running export to stop; cancelling() follows. False when none runs.
    bool cancel();
    /// Cancels a running export and waits until it has ended.
    void cancelAndWait();
    /// Waits until the running export has ended.
    void wait();
    bool isExporting() const;
    bool cancelRequested() const;
    /// Enables Export and Save Run Report for what there is to export.
    void updateActions();
    /// Writes the report of the run Export would use to `path` (.md: Markdown, .csv: CSV). False with `error` set.
    bool saveRunReport(const QString& path, QString* error = nullptr) const;

signals:
    void logLine(const QString& line);
    /// An export started: the window's actions follow.
    void started();
    /// A cancel was asked for: the window's Cancel follows.
    void cancelling();
    /// An export ended; `ok` is false when it failed or was cancelled.
    void ended(bool ok);

private:
    void showDialog();
    void askAndSaveRunReport();
    void onProgress(const aq::ExportProgress& p);
    void onDone();
    void showOutcome();

    QMainWindow* m_window = nullptr;
    widgets::ResultsView* m_results = nullptr;
    widgets::MessageBar* m_messages = nullptr;
    QLabel* m_state = nullptr;
    QProgressBar* m_progress = nullptr;
    QAction* m_exportAction = nullptr;
    QAction* m_reportAction = nullptr;
    ExportJob* m_job = nullptr;
    QString m_lastRunDir;
    bool m_calibrating = false;
};

}  // namespace aq::gui
