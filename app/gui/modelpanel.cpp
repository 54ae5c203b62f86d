#include "modelpanel.h"

#include "aq/error.h"

#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QLocale>
#include <QMenu>
#include <QToolButton>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

#include <exception>

namespace aq::gui {

QString formatBytes(double bytes)
{
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (bytes >= 1024 && u < 4) {
        bytes /= 1024;
        ++u;
    }
    return QStringLiteral("%1 %2").arg(bytes, 0, 'f', u == 0 ? 0 : 1).arg(QLatin1String(units[u]));
}

ModelPanel::ModelPanel(QWidget* parent) : QWidget(parent)
{
    m_path = new QLineEdit(this);
    m_path->setPlaceholderText(tr("Hugging Face model folder (config.json + weights)"));
    m_path->setToolTip(tr("Folder of a LLaMA, Mistral, Qwen2 or OPT checkpoint in Hugging Face layout. Type a path "
                          "and press Enter, browse, pick a recent model, or drop a folder on the window."));
    m_browse = new QToolButton(this);
    m_browse->setText(tr("Browse…"));
    m_browse->setToolTip(tr("Choose a model folder"));
    m_recentMenu = new QMenu(tr("Recent &Models"), this);
    m_recentButton = new QToolButton(this);
    m_recentButton->setText(tr("Recent"));
    m_recentButton->setMenu(m_recentMenu);
    m_recentButton->setPopupMode(QToolButton::InstantPopup);
    m_summaryLabel = new QLabel(this);
    m_summaryLabel->setWordWrap(true);
    m_summaryLabel->setTextFormat(Qt::RichText);
    m_summaryLabel->setTextInteractionFlags(Qt::TextSelectableByMouse);

    auto* row = new QHBoxLayout;
    row->addWidget(m_path, 1);
    row->addWidget(m_browse);
    row->addWidget(m_recentButton);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addLayout(row);
    layout->addWidget(m_summaryLabel);

    connect(m_browse, &QToolButton::clicked, this, &ModelPanel::browse);
    connect(m_path, &QLineEdit::returnPressed, this, [this] { setModelDir(m_path->text().trimmed()); });
    connect(&m_watcher, &QFutureWatcher<Inspection>::finished, this, &ModelPanel::onInspected);
    rebuildRecentMenu();
}

ModelPanel::~ModelPanel()
{
    // The inspection only reads files; waiting for it keeps the pool thread from outliving the panel's data.
    m_watcher.waitForFinished();
}

void ModelPanel::browse()
{
    const QString start = m_dir.isEmpty() ? QDir::homePath() : QFileInfo(m_dir).absolutePath();
    const QString dir = QFileDialog::getExistingDirectory(this, tr("Choose a model folder"), start);
    if (!dir.isEmpty())
        setModelDir(dir);
}

void ModelPanel::setModelDir(const QString& dir)
{
    if (dir.isEmpty())
        return;
    if (m_watcher.isRunning()) {
        // One inspection at a time; the newest request wins.
        m_pendingDir = dir;
        return;
    }
    m_dir = QDir::cleanPath(dir);
    m_summary.reset();
    m_path->setText(QDir::toNativeSeparators(m_dir));
    m_summaryLabel->setText(tr("<i>Reading %1…</i>").arg(m_dir.toHtmlEscaped()));
    emit inspectionStarted(m_dir);
    const QString path = m_dir;
    m_watcher.setFuture(QtConcurrent::run([path] {
        Inspection r;
        r.dir = path;
        try {
            r.summary = aq::inspectModel(path.toStdString());
        } catch (const aq::Error& e) {
            r.error = QString::fromStdString(e.what());
        } catch (const std::exception& e) {
            r.error = QString::fromStdString(e.what());
        }
        return r;
    }));
}

void ModelPanel::onInspected()
{
    const Inspection r = m_watcher.result();
    if (!m_pendingDir.isEmpty()) {
        const QString next = m_pendingDir;
        m_pendingDir.clear();
        setModelDir(next);
        return;
    }
    if (r.summary) {
        m_summary = r.summary;
        m_summaryLabel->setText(summaryText(*r.summary));
        rememberRecent(r.dir);
        emit modelReady(r.dir);
    } else {
        m_summary.reset();
        m_summaryLabel->setText(tr("<span style='color:#b2182b'>Not a usable model folder.</span>"));
        emit modelFailed(r.dir, r.error);
    }
}

QString ModelPanel::summaryText(const aq::ModelSummary& s) const
{
    const aq::ModelConfig& c = s.config;
    QStringList dtypes;
    for (const auto& [dtype, count] : s.parametersByDtype)
        dtypes << QStringLiteral("%1 (%2)").arg(QString::fromStdString(dtype)).arg(count);
    const QString arch = c.arch == aq::Architecture::Opt ? QStringLiteral("OPT") : QStringLiteral("LLaMA");
    QString gqa = c.isGqa() ? tr("yes, %1 query heads share %2 key/value heads").arg(c.numHeads).arg(c.numKvHeads)
                            : tr("no (%1 heads)").arg(c.numHeads);
    auto row = [](const QString& k, const QString& v) {
        return QStringLiteral("<tr><td><b>%1</b>&nbsp;</td><td>%2</td></tr>").arg(k, v.toHtmlEscaped());
    };
    QString html = QStringLiteral("<table>");
    html += row(tr("Architecture"), QStringLiteral("%1 (%2)").arg(QString::fromStdString(c.modelType), arch));
    html += row(tr("Parameters"), QLocale().toString(qlonglong(s.parameterCount)));
    html += row(tr("Blocks"), tr("%1, hidden size %2, MLP %3").arg(c.numLayers).arg(c.hiddenSize).arg(
                                  c.intermediateSize));
    html += row(tr("Grouped-query attention"), gqa);
    html += row(tr("Tied embeddings"), c.tieWordEmbeddings ? tr("yes") : tr("no"));
    html += row(tr("Weights"), tr("%1, %2 on disk").arg(QString::fromStdString(s.weightFormat),
                                                        formatBytes(double(s.weightBytes))));
    html += row(tr("Dtypes"), dtypes.join(QStringLiteral(", ")));
    html += row(tr("Max. sequence"), QString::number(c.maxPositionEmbeddings));
    html += row(tr("Tokenizer"), QString::fromStdString(s.tokenizer));
    html += QStringLiteral("</table>");
    return html;
}

void ModelPanel::setRecentModels(const QStringList& dirs)
{
    m_recent = dirs.mid(0, kMaxRecent);
    rebuildRecentMenu();
}

void ModelPanel::rememberRecent(const QString& dir)
{
    m_recent.removeAll(dir);
    m_recent.prepend(dir);
    while (m_recent.size() > kMaxRecent)
        m_recent.removeLast();
    rebuildRecentMenu();
    emit recentModelsChanged(m_recent);
}

void ModelPanel::rebuildRecentMenu()
{
    m_recentMenu->clear();
    for (int i = 0; i < m_recent.size(); ++i) {
        const QString dir = m_recent[i];
        // &1 .. &8 as keyboard accelerators.
        QAction* a = m_recentMenu->addAction(QStringLiteral("&%1 %2").arg(i + 1).arg(QDir::toNativeSeparators(dir)));
        connect(a, &QAction::triggered, this, [this, dir] { setModelDir(dir); });
    }
    if (m_recent.isEmpty())
        m_recentMenu->addAction(tr("(none)"))->setEnabled(false);
    else {
        m_recentMenu->addSeparator();
        connect(m_recentMenu->addAction(tr("&Clear list")), &QAction::triggered, this, [this] {
            m_recent.clear();
            rebuildRecentMenu();
            emit recentModelsChanged(m_recent);
        });
    }
    m_recentButton->setEnabled(!m_recent.isEmpty());
}

}  // namespace aq::gui
