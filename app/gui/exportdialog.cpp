#include "exportdialog.h"

#include "modelpanel.h"
#include "runfile.h"
#include "settingnames.h"

#include "aq/float_type.h"
#include "aq/model_config.h"

#include <QButtonGroup>
#include <QCheckBox>
#include <QComboBox>
#include <QDesktopServices>
#include <QDialogButtonBox>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QGridLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QRadioButton>
#include <QToolButton>
#include <QUrl>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

#include <algorithm>

namespace aq::gui {

// ---------------------------------------------------------------------------------------------------------------
// ExportJob

ExportJob::ExportJob(QObject* parent) : QObject(parent)
{
    connect(&m_watcher, &QFutureWatcherBase::finished, this, [this] {
        m_outcome = m_watcher.result();
        emit ended(m_outcome.ok);
    });
}

ExportJob::~ExportJob()
{
    // The progress callback posts to this object: it must have returned before the object goes.
    cancel();
    wait();
}

bool ExportJob::start(const aq::ExportOptions& options)
{
    if (isRunning())
        return false;
    m_cancel = false;
    m_options = options;
    m_outcome = {};
    ++m_starts;
    // The engine reports on the pool thread; the signal goes out on this object's thread. The destructor waits for
    // the export, so `this` outlives every posted call.
    const aq::ExportProgressFn progress = [this](const aq::ExportProgress& p) {
        QMetaObject::invokeMethod(
            this,
            [this, p] {
                if (isRunning())  // not a late report of an export that already ended
                    emit progressed(p);
            },
            Qt::QueuedConnection);
    };
    m_watcher.setFuture(QtConcurrent::run([options, progress, cancel = &m_cancel] {
        ExportOutcome outcome;
        outcome.options = options;
        try {
            outcome.result = aq::exportRun(options, progress, cancel);
            outcome.ok = true;
        } catch (const aq::Error& e) {
            outcome.code = e.code();
            outcome.error = QString::fromStdString(e.what());
        } catch (const std::exception& e) {
            outcome.error = QString::fromStdString(e.what());
        }
        return outcome;
    }));
    return true;
}

void ExportJob::cancel()
{
    if (isRunning())
        m_cancel = true;  // seen by the engine at its next check
}

void ExportJob::wait()
{
    m_watcher.waitForFinished();
}

// ---------------------------------------------------------------------------------------------------------------
// Format offers

namespace {

constexpr aq::ExportFormat kFormats[] = {aq::ExportFormat::HuggingFace, aq::ExportFormat::Awq, aq::ExportFormat::Gptq,
                                         aq::ExportFormat::CompressedTensors, aq::ExportFormat::Gguf};

/// Better verdicts first: the one a format is offered under when several runtimes judge it.
int verdictRank(aq::Deployability d)
{
    switch (d) {
    case aq::Deployability::Exact:
        return 0;
    case aq::Deployability::Conditional:
        return 1;
    case aq::Deployability::WeightsOnly:
        return 2;
    case aq::Deployability::Extension:
        return 3;
    default:
        return 4;
    }
}

}  // namespace

QVector<FormatOffer> formatOffers(const QString& runDir)
{
    QVector<FormatOffer> offers;
    aq::PreflightReport report;
    QString failure;
    try {
        const RunFile run = readRunFile(runDir);
        // The run's own copy of the model's configuration: the shapes the export works on.
        const aq::ModelConfig model = aq::loadModelConfig(QDir(runDir).filePath(QStringLiteral("model")).toStdString());
        report = aq::preflight(model, run.config);
    } catch (const std::exception& e) {
        failure = inWindowWords(QString::fromStdString(e.what()));
    }
    for (aq::ExportFormat f : kFormats) {
        FormatOffer o;
        o.format = f;
        if (!failure.isEmpty()) {
            o.reason = ExportDialog::tr("Not checked: %1").arg(failure);
            offers.push_back(o);
            continue;
        }
        // A format may be judged for several runtimes (gptq: Marlin and ExLlama): the best one decides, and a format
        // no runtime takes lists every distinct reason.
        const aq::FormatCheck* best = nullptr;
        QStringList refusals;
        for (const aq::FormatCheck& c : report.formats) {
            if (c.format != f)
                continue;
            if (!best || verdictRank(c.verdict) < verdictRank(best->verdict))
                best = &c;
            const QString reason = inWindowWords(QString::fromStdString(c.reason));
            if (c.verdict == aq::Deployability::No && !refusals.contains(reason))
                refusals << reason;
        }
        if (!best) {
            o.reason = ExportDialog::tr("Not checked: the engine does not judge this format.");
        } else {
            o.verdict = best->verdict;
            o.offered = best->verdict != aq::Deployability::No;
            o.needsExtension = best->verdict == aq::Deployability::Extension;
            o.reason =
                o.offered ? inWindowWords(QString::fromStdString(best->reason)) : refusals.join(QStringLiteral("; "));
        }
        offers.push_back(o);
    }
    return offers;
}

// ---------------------------------------------------------------------------------------------------------------
// ExportDialog

ExportDialog::ExportDialog(const QVector<Run>& runs, const QString& defaultRunDir, ExportJob* job, QWidget* parent)
    : QDialog(parent), m_job(job)
{
    setWindowTitle(tr("Export Run"));
    setObjectName(QStringLiteral("ExportDialog"));

    buildRunChooser(runs);
    QGroupBox* formatBox = buildFormatGroup();
    buildOptionFields();
    const OutputRow outputRow = buildOutputRow();
    QFormLayout* form = buildForm(outputRow.row);
    buildStatusLines();
    QDialogButtonBox* buttons = buildButtons();

    auto* layout = new QVBoxLayout(this);
    layout->addLayout(form);
    layout->addWidget(formatBox);
    layout->addWidget(m_status);
    layout->addWidget(m_progress);
    layout->addWidget(m_verifyResult);
    layout->addStretch(1);
    layout->addWidget(buttons);

    connectButtons(buttons);
    connectInputs(outputRow.browse);
    connectJobs();
    showInitialRun(defaultRunDir);
}

void ExportDialog::buildRunChooser(const QVector<Run>& runs)
{
    m_run = new QComboBox(this);
    m_run->setObjectName(QStringLiteral("exportRun"));
    for (const Run& r : runs)
        m_run->addItem(r.name.isEmpty() ? QFileInfo(r.runDir).fileName() : r.name, r.runDir);
    for (int i = 0; i < m_run->count(); ++i)
        m_run->setItemData(i, QDir::toNativeSeparators(m_run->itemData(i).toString()), Qt::ToolTipRole);
    m_run->setToolTip(tr("The finished run to export. The run that just finished, or the one selected in the results "
                         "table, comes first."));
    m_run->setSizeAdjustPolicy(QComboBox::AdjustToContents);
}

QGroupBox* ExportDialog::buildFormatGroup()
{
    // One row per format: the choice, and beside it what the engine's check says about this run.
    auto* formatBox = new QGroupBox(tr("Format"), this);
    auto* formatGrid = new QGridLayout(formatBox);
    formatGrid->setColumnStretch(1, 1);
    m_formats = new QButtonGroup(this);
    int row = 0;
    for (aq::ExportFormat f : kFormats) {
        auto* button = new QRadioButton(QString::fromLatin1(aq::exportFormatName(f)), formatBox);
        button->setObjectName(QStringLiteral("format-%1").arg(QString::fromLatin1(aq::exportFormatName(f))));
        auto* note = new QLabel(formatBox);
        note->setWordWrap(true);
        note->setTextFormat(Qt::PlainText);
        note->setMinimumWidth(420);
        m_formats->addButton(button, int(f));
        m_formatButtons.insert(int(f), button);
        m_formatNotes.insert(int(f), note);
        formatGrid->addWidget(button, row, 0, Qt::AlignTop);
        formatGrid->addWidget(note, row, 1, Qt::AlignTop);
        ++row;
    }
    formatBox->setToolTip(
        tr("hf: a stock Hugging Face model with the fake-quantized weights in float16/bfloat16. awq, gptq, "
           "compressed-tensors: integer codes packed for those runtimes. gguf: one file for llama.cpp, Ollama and LM "
           "Studio, with the run's grid as ggml blocks and the tokenizer inside. Formats the run cannot produce are "
           "disabled, with the reason beside them."));
    return formatBox;
}

void ExportDialog::buildOptionFields()
{
    m_allowExtension = new QCheckBox(tr("Keep the post-norm matrices as extra tensors"), this);
    m_allowExtension->setToolTip(tr("The run learned full matrices after the norms, which a stock model has no place "
                                    "for. With this, hf keeps them as extra tensors with a note on applying them; "
                                    "stock loaders ignore them, so only custom code computes what the run computed."));
    m_exactOnly = new QCheckBox(tr("Only exact grids (refuse layers gguf must store as float16)"), this);
    m_exactOnly->setToolTip(tr("Without this, layers whose grid no ggml block type holds (2 or 3 bits, asymmetric 8 "
                               "bits, groups not splitting into blocks of 32) are stored as float16 values: the same "
                               "model, without the size saving."));
    m_q6kEmbeddings = new QCheckBox(tr("Token embeddings as Q6_K"), this);
    m_q6kEmbeddings->setToolTip(tr("As llama.cpp's Q4_K_M, Q3_K_M and Q2_K files store them (also the tied output "
                                   "layer): a smaller file, at the cost of rounding the embeddings, which the "
                                   "calibration did not see. Without this they keep the data type below."));
    m_dtype = new QComboBox(this);
    for (aq::FloatType t : {aq::FloatType::Float16, aq::FloatType::BFloat16})
        m_dtype->addItem(QString::fromLatin1(aq::floatTypeName(t)), int(t));
    m_dtype->setToolTip(tr("Storage type of the unquantized tensors (and of the scales in compressed-tensors)."));
}

ExportDialog::OutputRow ExportDialog::buildOutputRow()
{
    m_output = new QLineEdit(this);
    m_output->setObjectName(QStringLiteral("exportOutput"));
    m_output->setToolTip(tr("A new folder for the export (a .gguf file for gguf). It is written under a temporary "
                            "name and renamed at the end, so a failed export leaves nothing that looks complete."));
    auto* browse = new QToolButton(this);
    browse->setText(tr("Browse…"));
    m_force = new QCheckBox(tr("Replace an existing folder or file"), this);
    // The output row is a widget, not a layout, so that the form's label gets it as its buddy (a label without a
    // buddy shows its mnemonic '&' as it is).
    auto* outRow = new QWidget(this);
    auto* outLayout = new QHBoxLayout(outRow);
    outLayout->setContentsMargins(0, 0, 0, 0);
    outLayout->addWidget(m_output, 1);
    outLayout->addWidget(browse);
    return {outRow, browse};
}

QFormLayout* ExportDialog::buildForm(QWidget* outRow)
{
    auto* form = new QFormLayout;
    form->addRow(tr("&Run:"), m_run);
    form->addRow(tr("&Data type:"), m_dtype);
    form->addRow(tr("&Output:"), outRow);
    qobject_cast<QLabel*>(form->labelForField(outRow))->setBuddy(m_output);
    form->addRow(m_allowExtension);
    form->addRow(m_exactOnly);
    form->addRow(m_q6kEmbeddings);
    form->addRow(m_force);
    return form;
}

void ExportDialog::buildStatusLines()
{
    m_status = new QLabel(this);
    m_status->setObjectName(QStringLiteral("exportStatus"));
    m_status->setWordWrap(true);
    m_status->setTextFormat(Qt::PlainText);
    m_status->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_progress = new QProgressBar(this);
    m_progress->setRange(0, 1000);
    m_progress->setTextVisible(false);
    m_progress->setVisible(false);
    m_verifyResult = new QLabel(this);
    m_verifyResult->setObjectName(QStringLiteral("verifyResult"));
    m_verifyResult->setWordWrap(true);
    m_verifyResult->setTextFormat(Qt::PlainText);
    m_verifyResult->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_verifyResult->setVisible(false);
}

QDialogButtonBox* ExportDialog::buildButtons()
{
    auto* buttons = new QDialogButtonBox(this);
    m_export = buttons->addButton(tr("&Export"), QDialogButtonBox::AcceptRole);
    m_export->setDefault(true);
    m_stop = buttons->addButton(tr("&Stop"), QDialogButtonBox::ActionRole);
    m_stop->setToolTip(tr("Stop the export; nothing is left that looks complete."));
    m_verify = buttons->addButton(tr("&Verify"), QDialogButtonBox::ActionRole);
    m_verify->setToolTip(tr("Read the export back with decoding code independent of the writer and compare it with "
                            "the run: every tensor, the logits and the perplexity on a few windows of text."));
    m_openFolder = buttons->addButton(tr("Open &folder"), QDialogButtonBox::ActionRole);
    m_openFolder->setToolTip(tr("Show the export in the file manager."));
    // A button of the dialog's own, so that its text follows the application's language.
    buttons->addButton(tr("Close"), QDialogButtonBox::RejectRole);
    return buttons;
}

void ExportDialog::connectButtons(QDialogButtonBox* buttons)
{
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    connect(m_export, &QPushButton::clicked, this, &ExportDialog::requestExport);
    connect(m_stop, &QPushButton::clicked, this, &ExportDialog::cancelRequested);
    connect(m_verify, &QPushButton::clicked, this, &ExportDialog::startVerify);
    connect(m_openFolder, &QPushButton::clicked, this, &ExportDialog::openFolder);
}

void ExportDialog::connectInputs(QToolButton* browse)
{
    connect(m_run, &QComboBox::currentIndexChanged, this, &ExportDialog::loadRun);
    connect(m_formats, &QButtonGroup::idToggled, this, [this](int, bool checked) {
        if (!checked)
            return;
        if (!m_outputEdited)
            setDefaultOutput();
        updateButtons();
    });
    connect(m_output, &QLineEdit::textEdited, this, [this] { m_outputEdited = true; });
    connect(m_output, &QLineEdit::textChanged, this, &ExportDialog::updateButtons);
    connect(browse, &QToolButton::clicked, this, &ExportDialog::browseOutput);
}

void ExportDialog::connectJobs()
{
    if (m_job) {
        connect(m_job, &ExportJob::progressed, this, &ExportDialog::onExportProgress);
        connect(m_job, &ExportJob::ended, this, &ExportDialog::onExportEnded);
    }
    connect(&m_verifyWatcher, &QFutureWatcherBase::finished, this, &ExportDialog::onVerifyDone);
}

void ExportDialog::showInitialRun(const QString& defaultRunDir)
{
    const int initial = m_run->findData(defaultRunDir);
    {
        const QSignalBlocker block(m_run);
        m_run->setCurrentIndex(initial >= 0 ? initial : 0);
    }
    loadRun();
}

void ExportDialog::requestExport()
{
    const int starts = m_job ? m_job->startCount() : 0;
    m_ownExport = true;  // before the request: the export may end before the window returns
    emit exportRequested(options());
    if (!m_job || m_job->startCount() == starts) {
        m_ownExport = false;
        m_status->setText(tr("The export did not start: another export or a run is in progress."));
    }
    updateButtons();
}

void ExportDialog::browseOutput()
{
    const QFileInfo current(cleanOutput());
    if (isGguf()) {
        const QString file = QFileDialog::getSaveFileName(this, tr("GGUF file to write"),
                                                          current.absoluteFilePath(), tr("GGUF models (*.gguf)"));
        if (!file.isEmpty()) {
            m_output->setText(QDir::toNativeSeparators(file));
            m_outputEdited = true;
        }
        return;
    }
    // Choose where the new folder goes; its name stays as it is.
    const QString parentDir =
        QFileDialog::getExistingDirectory(this, tr("Folder to write the export into"), current.absolutePath());
    if (parentDir.isEmpty())
        return;
    m_output->setText(QDir::toNativeSeparators(QDir(parentDir).filePath(current.fileName())));
    m_outputEdited = true;
}

ExportDialog::~ExportDialog()
{
    m_verifyCancel = true;
    m_verifyWatcher.waitForFinished();
}

QString ExportDialog::runDir() const
{
    return m_run->currentData().toString();
}

bool ExportDialog::setRunDir(const QString& runDir)
{
    const int i = m_run->findData(runDir);
    if (i < 0)
        return false;
    m_run->setCurrentIndex(i);
    return true;
}

aq::ExportFormat ExportDialog::format() const
{
    const int id = m_formats->checkedId();
    return id < 0 ? aq::ExportFormat::Invalid : aq::ExportFormat(id);
}

bool ExportDialog::setFormat(aq::ExportFormat format)
{
    QRadioButton* b = m_formatButtons.value(int(format));
    if (!b || !b->isEnabled())
        return false;
    b->setChecked(true);
    return true;
}

void ExportDialog::setOutput(const QString& path)
{
    m_output->setText(QDir::toNativeSeparators(path));
    m_outputEdited = true;
}

QString ExportDialog::output() const
{
    return cleanOutput();
}

QString ExportDialog::cleanOutput() const
{
    return QDir::fromNativeSeparators(m_output->text().trimmed());
}

aq::ExportOptions ExportDialog::options() const
{
    aq::ExportOptions o;
    o.runDir = runDir().toStdString();
    o.outDir = cleanOutput().toStdString();
    o.format = format();
    o.dtype = aq::FloatType(m_dtype->currentData().toInt());
    o.force = m_force->isChecked();
    o.exactOnly = isGguf() && m_exactOnly->isChecked();
    o.q6kEmbeddings = isGguf() && m_q6kEmbeddings->isChecked();
    o.allowExtension = format() == aq::ExportFormat::HuggingFace && m_allowExtension->isVisibleTo(this) &&
                       m_allowExtension->isChecked();
    return o;
}

bool ExportDialog::isOffered(aq::ExportFormat format) const
{
    for (const FormatOffer& o : m_offers)
        if (o.format == format)
            return o.offered;
    return false;
}

QString ExportDialog::formatNote(aq::ExportFormat format) const
{
    const QLabel* note = m_formatNotes.value(int(format));
    return note ? note->text() : QString();
}

QString ExportDialog::verifyText() const
{
    return m_verifyResult->text();
}

QString ExportDialog::statusText() const
{
    return m_status->text();
}

void ExportDialog::loadRun()
{
    m_offers = runDir().isEmpty() ? QVector<FormatOffer>() : formatOffers(runDir());
    m_verifyResult->clear();
    m_verifyResult->setVisible(false);
    m_status->clear();
    updateFormatRows();
    m_outputEdited = false;
    setDefaultOutput();
    updateButtons();
}

void ExportDialog::updateFormatRows()
{
    const aq::ExportFormat previous = format();
    bool anyExtension = false;
    for (aq::ExportFormat f : kFormats) {
        QRadioButton* button = m_formatButtons.value(int(f));
        QLabel* note = m_formatNotes.value(int(f));
        const auto it =
            std::find_if(m_offers.begin(), m_offers.end(), [f](const FormatOffer& o) { return o.format == f; });
        if (it == m_offers.end()) {
            button->setEnabled(false);
            note->clear();
            continue;
        }
        button->setEnabled(it->offered);
        note->setEnabled(it->offered);
        anyExtension = anyExtension || it->needsExtension;
        QString text;
        switch (it->offered ? it->verdict : aq::Deployability::No) {
        case aq::Deployability::Exact:
            text = tr("Computes what the run computed: %1").arg(it->reason);
            break;
        case aq::Deployability::Conditional:
            text = tr("Exact if the export's check passes: %1").arg(it->reason);
            break;
        case aq::Deployability::WeightsOnly:
            text = tr("Weights only: %1").arg(it->reason);
            break;
        case aq::Deployability::Extension:
            text = tr("Only with the extra tensors below: %1").arg(it->reason);
            break;
        case aq::Deployability::No:
            text = tr("Not possible for this run: %1").arg(it->reason);
            break;
        default:
            text = it->reason;
            break;
        }
        note->setText(text);
        button->setToolTip(text);
    }
    m_allowExtension->setVisible(anyExtension);
    m_allowExtension->setChecked(anyExtension);
    // Keep the format when the new run offers it too, otherwise the first one it offers.
    if (!setFormat(previous)) {
        m_formats->setExclusive(false);
        for (QRadioButton* b : std::as_const(m_formatButtons))
            b->setChecked(false);
        m_formats->setExclusive(true);
        for (aq::ExportFormat f : kFormats)
            if (setFormat(f))
                break;
    }
    if (format() == aq::ExportFormat::Invalid)
        m_status->setText(tr("This run cannot be exported to any format; the reasons are listed above."));
}

void ExportDialog::setDefaultOutput()
{
    // The destination must not exist yet (the engine creates it by a rename at the end): a new sibling of the run
    // folder named after the format.
    const QString run = QDir::cleanPath(runDir());
    if (run.isEmpty() || format() == aq::ExportFormat::Invalid) {
        m_output->clear();
        return;
    }
    m_output->setText(QDir::toNativeSeparators(
        isGguf() ? QStringLiteral("%1.gguf").arg(run)
                 : QStringLiteral("%1-%2").arg(run, QString::fromLatin1(aq::exportFormatName(format())))));
}

void ExportDialog::updateButtons()
{
    const bool exporting = m_job && m_job->isRunning();
    const bool verifying = isVerifying();
    const bool outputExists = !cleanOutput().isEmpty() && QFileInfo::exists(cleanOutput());
    m_export->setEnabled(!exporting && !verifying && format() != aq::ExportFormat::Invalid && !cleanOutput().isEmpty());
    m_stop->setVisible(exporting && m_ownExport);
    m_stop->setEnabled(exporting && !m_job->cancelRequested());
    m_verify->setEnabled(!exporting && !verifying && outputExists);
    m_openFolder->setEnabled(outputExists);
    m_exactOnly->setVisible(isGguf());
    m_q6kEmbeddings->setVisible(isGguf());
    m_allowExtension->setEnabled(format() == aq::ExportFormat::HuggingFace);
    m_run->setEnabled(!exporting && !verifying);
    for (QRadioButton* b : std::as_const(m_formatButtons))
        b->parentWidget()->setEnabled(!exporting && !verifying);
}

void ExportDialog::onExportProgress(const aq::ExportProgress& p)
{
    if (!m_ownExport)
        return;
    m_progress->setVisible(true);
    if (p.total > 0)
        m_progress->setValue(int(p.fraction() * 1000));
    if (!p.stage.empty())
        m_status->setText(tr("Exporting: %1").arg(QString::fromStdString(p.stage)));
}

void ExportDialog::onVerifyProgress(const aq::Progress& p)
{
    if (!isVerifying())
        return;  // a late report of a verification that already ended
    m_progress->setVisible(true);
    if (p.total > 0)
        m_progress->setValue(int(p.fraction() * 1000));
}

void ExportDialog::onExportEnded(bool ok)
{
    if (!m_ownExport)
        return;
    m_ownExport = false;
    const ExportOutcome& outcome = m_job->outcome();
    m_progress->setVisible(false);
    if (ok) {
        const aq::ExportResult& r = outcome.result;
        const QString dir = QDir::toNativeSeparators(QString::fromStdString(r.outDir));
        m_status->setText(
            tr("Written: %1 (%2, %n file(s), %3). Verify compares it with the run.", nullptr, int(r.files.size()))
                .arg(dir, QString::fromLatin1(aq::exportFormatName(r.format)), formatBytes(double(r.numBytes))));
        m_output->setText(dir);  // where it went, for Verify and Open folder
    } else if (outcome.code == aq::ErrorCode::Cancelled) {
        m_status->setText(tr("Export stopped: nothing was written as complete."));
    } else {
        m_status->setText(tr("Cannot export: %1").arg(inWindowWords(outcome.error)));
    }
    updateButtons();
}

void ExportDialog::startVerify()
{
    if (isVerifying() || cleanOutput().isEmpty())
        return;
    aq::VerifyOptions o;
    o.exportDir = cleanOutput().toStdString();
    o.runDir = runDir().toStdString();
    // The engine's defaults: the demo model's held-out text for a run of the demo model, a few windows.
    try {
        o.device = readRunFile(runDir()).config.device;
    } catch (const aq::Error&) {
    }
    m_verifyCancel = false;
    m_verifyPassed = false;
    m_verifyResult->setVisible(true);
    m_verifyResult->setText(tr("Verifying %1 against the run…").arg(QDir::toNativeSeparators(cleanOutput())));
    // The engine reports on the pool thread; the bar is drawn on this one. The destructor waits for the verification,
    // and a queued call to a destroyed dialog is dropped.
    const aq::ProgressFn progress = [this](const aq::Progress& p) {
        QMetaObject::invokeMethod(this, [this, p] { onVerifyProgress(p); }, Qt::QueuedConnection);
    };
    m_progress->setValue(0);
    m_verifyWatcher.setFuture(QtConcurrent::run([o, progress, cancel = &m_verifyCancel] {
        VerifyOutcome outcome;
        try {
            outcome.result = aq::verifyExport(o, progress, cancel);
            outcome.ok = true;
        } catch (const aq::Error& e) {
            outcome.cancelled = e.code() == aq::ErrorCode::Cancelled;
            outcome.error = QString::fromStdString(e.what());
        } catch (const std::exception& e) {
            outcome.error = QString::fromStdString(e.what());
        }
        return outcome;
    }));
    updateButtons();
}

void ExportDialog::onVerifyDone()
{
    const VerifyOutcome outcome = m_verifyWatcher.result();
    if (!m_ownExport)
        m_progress->setVisible(false);
    QStringList lines;
    if (!outcome.ok) {
        lines << (outcome.cancelled ? tr("Verification stopped.")
                                    : tr("Cannot verify: %1").arg(inWindowWords(outcome.error)));
    } else {
        const aq::VerifyResult& r = outcome.result;
        m_verifyPassed = r.ok;
        lines << (r.ok ? tr("Verification passed: the export holds what the run computed.")
                       : tr("Verification FAILED: %n problem(s) in the export.", nullptr, int(r.problems.size())));
        if (!r.worstLayer.empty())
            lines << tr("Largest weight difference %1 (%2).")
                         .arg(r.maxWeightDiff, 0, 'g', 3)
                         .arg(QString::fromStdString(r.worstLayer));
        lines << tr("Logits over %1 windows of %2 tokens (%3): largest difference %4, mean KL divergence %5 nats, "
                    "same top token at %6 % of positions.")
                     .arg(r.windows)
                     .arg(r.seqlen)
                     .arg(QString::fromStdString(r.text))
                     .arg(r.maxLogitDiff, 0, 'g', 3)
                     .arg(r.meanKl, 0, 'g', 3)
                     .arg(100.0 * r.top1Agreement, 0, 'f', 1);
        if (r.runPerplexity > 0)
            lines << tr("Perplexity: run %1, export %2.")
                         .arg(r.runPerplexity, 0, 'f', 3)
                         .arg(r.exportPerplexity, 0, 'f', 3);
        for (const std::string& p : r.problems)
            lines << tr("Problem: %1").arg(inWindowWords(QString::fromStdString(p)));
        for (const std::string& n : r.notes)
            lines << tr("Note: %1").arg(inWindowWords(QString::fromStdString(n)));
    }
    m_verifyResult->setText(lines.join(QLatin1Char('\n')));
    updateButtons();
    emit verifyEnded(outcome.ok && m_verifyPassed);
}

void ExportDialog::openFolder()
{
    const QFileInfo out(cleanOutput());
    // A GGUF export is one file: show the folder that holds it.
    const QString folder = out.isDir() ? out.absoluteFilePath() : out.absolutePath();
    if (!QDesktopServices::openUrl(QUrl::fromLocalFile(folder)))
        m_status->setText(tr("Could not open %1 in the file manager.").arg(QDir::toNativeSeparators(folder)));
}

}  // namespace aq::gui
