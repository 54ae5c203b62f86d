#pragma once
// Exports of finished runs: the job that writes one on a pool thread, and the dialog that chooses the run, the format
// and the destination, then verifies and shows what was written. The dialog asks the engine's pre-flight check which
// formats the chosen run can produce and shows its reason beside each format it cannot.
#include "aq/error.h"
#include "aq/export.h"

#include <QDialog>
#include <QFutureWatcher>
#include <QMap>
#include <QObject>
#include <QVector>

#include <atomic>

class QButtonGroup;
class QCheckBox;
class QComboBox;
class QDialogButtonBox;
class QFormLayout;
class QGridLayout;
class QGroupBox;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QRadioButton;
class QToolButton;

namespace aq::gui {

/// How an export ended.
struct ExportOutcome {
    bool ok = false;
    aq::ErrorCode code = aq::ErrorCode::Internal;
    QString error;  ///< the engine's message, in English (inWindowWords() before showing it)
    aq::ExportOptions options;
    aq::ExportResult result;
};

/// Runs aq::exportRun on a pool thread, one export at a time. Progress and the end are signals on the thread that
/// owns the job. Destroying the job cancels a running export and waits for it.
class ExportJob : public QObject {
    Q_OBJECT
public:
    explicit ExportJob(QObject* parent = nullptr);
    ~ExportJob() override;

    /// Starts an export; false (and nothing starts) while one runs.
    bool start(const aq::ExportOptions& options);
    /// Asks the running export to stop at the engine's next check; ended() follows.
    void cancel();
    void wait();
    bool isRunning() const { return m_watcher.isRunning(); }
    bool cancelRequested() const { return m_cancel.load(); }
    /// Counts the exports started: tells whether a request started one, even one that already ended.
    int startCount() const { return m_starts; }
    /// The options of the running export, or of the last one.
    const aq::ExportOptions& options() const { return m_options; }
    /// The last export's outcome, valid from ended() on.
    const ExportOutcome& outcome() const { return m_outcome; }

signals:
    /// The engine's report as it is (aq::ExportProgress): the views draw its fraction and show its stage.
    void progressed(const aq::ExportProgress& progress);
    void ended(bool ok);

private:
    QFutureWatcher<ExportOutcome> m_watcher;
    std::atomic<bool> m_cancel{false};
    aq::ExportOptions m_options;
    ExportOutcome m_outcome;
    int m_starts = 0;
};

/// What the dialog makes of the engine's pre-flight check for one format of one run.
struct FormatOffer {
    aq::ExportFormat format = aq::ExportFormat::Invalid;
    bool offered = true;  ///< the run can produce it
    aq::Deployability verdict = aq::Deployability::Invalid;
    QString reason;              ///< the engine's reason, in the window's words
    bool needsExtension = false;  ///< hf only with the post-norm matrices kept as extra tensors
};

/// The formats `runDir` (a finished run) can be exported to, from the engine's pre-flight check of its configuration
/// on its model. A run whose configuration or model cannot be read offers every format with the reason why it could
/// not be checked: the export itself then says what fails.
QVector<FormatOffer> formatOffers(const QString& runDir);

/// Chooses the run (the finished runs of the results table, defaulting to the one just finished or selected), the
/// format (only those the run can produce; the others are shown disabled with the reason) and the destination.
/// Export hands the options to the window (exportRequested); the dialog follows the window's ExportJob and, once the
/// destination exists, verifies it against the run on a pool thread (Verify) or opens its folder (Open folder).
class ExportDialog : public QDialog {
    Q_OBJECT
public:
    struct Run {
        QString runDir;
        QString name;
    };
    ExportDialog(const QVector<Run>& runs, const QString& defaultRunDir, ExportJob* job, QWidget* parent = nullptr);
    /// Stops a verification that still runs and waits for it.
    ~ExportDialog() override;

    QString runDir() const;
    /// Chooses a run of the list; false for one that is not in it.
    bool setRunDir(const QString& runDir);
    aq::ExportFormat format() const;
    /// Chooses an offered format; false for one the run cannot produce.
    bool setFormat(aq::ExportFormat format);
    void setOutput(const QString& path);
    QString output() const;
    aq::ExportOptions options() const;

    /// Whether the chosen run can produce `format`, and the text beside it.
    bool isOffered(aq::ExportFormat format) const;
    QString formatNote(aq::ExportFormat format) const;

    QPushButton* exportButton() const { return m_export; }
    QPushButton* verifyButton() const { return m_verify; }
    QPushButton* openFolderButton() const { return m_openFolder; }
    bool isVerifying() const { return m_verifyWatcher.isRunning(); }
    /// The last verification's result as shown, and whether it passed.
    QString verifyText() const;
    bool verifyPassed() const { return m_verifyPassed; }
    /// The dialog's status line (progress, what was written, why it failed).
    QString statusText() const;

signals:
    void exportRequested(const aq::ExportOptions& options);
    void cancelRequested();
    void verifyEnded(bool ok);

private:
    struct VerifyOutcome {
        bool ok = false;
        bool cancelled = false;
        QString error;
        aq::VerifyResult result;
    };

    /// The output field with its Browse button, as one widget (the form's label needs a widget as its buddy).
    struct OutputRow {
        QWidget* row = nullptr;
        QToolButton* browse = nullptr;
    };

    // The steps of the constructor, in the order it calls them: the order widgets are created in is the tab order.
    void buildRunChooser(const QVector<Run>& runs);
    /// A radio button per format with the engine's note beside it.
    QGroupBox* buildFormatGroup();
    /// The format options and the data type.
    void buildOptionFields();
    /// The output row, and the choice to replace an existing output.
    OutputRow buildOutputRow();
    QFormLayout* buildForm(QWidget* outRow);
    /// The status line, the progress bar and the verification result.
    void buildStatusLines();
    QDialogButtonBox* buildButtons();
    void connectButtons(QDialogButtonBox* buttons);
    /// The run, format and output choices.
    void connectInputs(QToolButton* browse);
    /// The window's export job and the verification.
    void connectJobs();
    /// Selects `defaultRunDir` (else the first run) without a second loadRun(), then loads it.
    void showInitialRun(const QString& defaultRunDir);
    /// Export: hands the options to the window and says so when no export started.
    void requestExport();
    /// Browse: a .gguf file for gguf, otherwise the folder the new export folder goes into.
    void browseOutput();

    void loadRun();
    void updateFormatRows();
    void setDefaultOutput();
    void updateButtons();
    void onExportProgress(const aq::ExportProgress& p);
    /// The verification's report (aq::Progress): the bar shows its fraction while Verify runs.
    void onVerifyProgress(const aq::Progress& p);
    void onExportEnded(bool ok);
    void startVerify();
    void onVerifyDone();
    void openFolder();
    bool isGguf() const { return format() == aq::ExportFormat::Gguf; }
    QString cleanOutput() const;

    ExportJob* m_job = nullptr;
    bool m_ownExport = false;  ///< the running export was started here
    QComboBox* m_run = nullptr;
    QButtonGroup* m_formats = nullptr;
    QMap<int, QRadioButton*> m_formatButtons;
    QMap<int, QLabel*> m_formatNotes;
    QVector<FormatOffer> m_offers;
    QComboBox* m_dtype = nullptr;
    QLineEdit* m_output = nullptr;
    QCheckBox* m_exactOnly = nullptr;
    QCheckBox* m_q6kEmbeddings = nullptr;
    QCheckBox* m_allowExtension = nullptr;
    QCheckBox* m_force = nullptr;
    QLabel* m_status = nullptr;
    QProgressBar* m_progress = nullptr;
    QLabel* m_verifyResult = nullptr;
    QPushButton* m_export = nullptr;
    QPushButton* m_stop = nullptr;
    QPushButton* m_verify = nullptr;
    QPushButton* m_openFolder = nullptr;
    bool m_outputEdited = false;
    bool m_verifyPassed = false;
    QFutureWatcher<VerifyOutcome> m_verifyWatcher;
    std::atomic<bool> m_verifyCancel{false};
};

}  // namespace aq::gui

Q_DECLARE_METATYPE(aq::ExportProgress)
