#include "resultsview.h"

#include <QHBoxLayout>
#include <QHeaderView>
#include <QItemSelectionModel>
#include <QLabel>
#include <QPushButton>
#include <QSet>
#include <QStandardItemModel>
#include <QTableView>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

namespace aq::widgets {

namespace {

constexpr int kIdRole = Qt::UserRole + 1;
constexpr int kRecordRole = Qt::UserRole + 2;

/// An item that sorts by the number, not by its text, and shows "—" for "not measured".
QStandardItem* perplexityItem(double value)
{
    auto* item = new QStandardItem(value > 0 ? QString::number(value, 'f', 3) : QStringLiteral("—"));
    item->setData(value > 0 ? value : qInf(), Qt::UserRole);
    item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
    return item;
}

/// A cell that shows `text` and sorts by `key`.
QStandardItem* sortedItem(const QString& text, const QVariant& key, bool number = true)
{
    auto* item = new QStandardItem(text);
    item->setData(key, Qt::UserRole);
    if (number)
        item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
    return item;
}

/// What decides whether two runs' perplexities can be compared.
QString evaluationKey(const RunRecord& r)
{
    return QStringLiteral("%1/%2/%3").arg(r.evalWindows).arg(r.evalSeqlen).arg(r.evalText);
}

bool hasPerplexity(const RunRecord& r) { return r.fpPerplexity > 0 || r.rtnPerplexity > 0 || r.quantPerplexity > 0; }

}  // namespace

ResultsView::ResultsView(QWidget* parent) : QWidget(parent)
{
    m_model = new QStandardItemModel(0, ColCount, this);
    m_model->setHorizontalHeaderLabels({tr("Run"), tr("Method"), tr("Preset"), tr("Bits"), tr("Group"),
                                        tr("Samples × length"), tr("Epochs"), tr("Evaluation"), tr("FP perplexity"),
                                        tr("RTN perplexity"), tr("Quantized perplexity"), tr("Duration")});
    const QPair<int, QString> headerTips[] = {
        {ColPreset, tr("The preset the configuration started from, and the settings changed from it.")},
        {ColBits, tr("Weight and activation bits (W4A16: 4-bit weights, activations not quantized).")},
        {ColGroup, tr("Weights per quantization group; per channel: one group per output row.")},
        {ColSamples, tr("Calibration samples × tokens per sample.")},
        {ColEpochs, tr("Training epochs per block (0: round-to-nearest, no training).")},
        {ColEval, tr("Evaluation windows × tokens per window. Perplexities are comparable only between runs "
                     "evaluated on the same windows of the same text.")},
        {ColDuration, tr("Wall time of the run, evaluation included.")},
    };
    for (const auto& [column, tip] : headerTips)
        m_model->horizontalHeaderItem(column)->setToolTip(tip);
    m_model->setSortRole(Qt::UserRole);
    m_table = new QTableView(this);
    m_table->setModel(m_model);
    m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_table->setSelectionMode(QAbstractItemView::SingleSelection);
    m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_table->setSortingEnabled(true);
    m_table->verticalHeader()->hide();
    m_table->horizontalHeader()->setStretchLastSection(true);
    m_table->setTextElideMode(Qt::ElideMiddle);  // long run names and preset edits: their tooltips hold all of it
    // The perplexities right after what names the run; what makes runs comparable follows them.
    {
        QHeaderView* header = m_table->horizontalHeader();
        int visual = header->visualIndex(ColPreset) + 1;
        for (int column : {int(ColFp), int(ColRtn), int(ColQuant)})
            header->moveSection(header->visualIndex(column), visual++);
    }
    m_table->setToolTip(tr("Perplexities on the evaluation text: FP is the unquantized model, RTN plain "
                           "round-to-nearest quantization with the same bits, Quantized the calibrated model. Lower is "
                           "better."));

    m_compare = new QPushButton(tr("&Compare loss curves"), this);
    m_compare->setToolTip(tr("Draw the selected run's loss curves dashed under the current ones."));
    m_clearCompare = new QPushButton(tr("Clear comparison"), this);
    m_remove = new QPushButton(tr("&Forget run"), this);
    m_remove->setToolTip(tr("Remove the selected run from this table. Its files on disk are kept."));
    auto* buttons = new QHBoxLayout;
    buttons->addWidget(m_compare);
    buttons->addWidget(m_clearCompare);
    buttons->addStretch(1);
    buttons->addWidget(m_remove);
    m_evalNote = new QLabel(tr("These runs were evaluated on different windows (see Evaluation): compare their "
                               "perplexities only between runs with the same evaluation."),
                            this);
    m_evalNote->setObjectName(QStringLiteral("evaluationNote"));
    m_evalNote->setWordWrap(true);
    m_evalNote->setVisible(false);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(m_table, 1);
    layout->addWidget(m_evalNote);
    layout->addLayout(buttons);

    connect(m_compare, &QPushButton::clicked, this, [this] {
        const QString id = selectedRunId();
        if (!id.isEmpty())
            emit compareRequested(id);
    });
    connect(m_clearCompare, &QPushButton::clicked, this, &ResultsView::clearComparisonRequested);
    connect(m_remove, &QPushButton::clicked, this, [this] {
        const QString id = selectedRunId();
        if (!id.isEmpty())
            emit removeRequested(id);
    });
    connect(m_table->selectionModel(), &QItemSelectionModel::selectionChanged, this, &ResultsView::updateButtons);
    updateButtons();
}

int ResultsView::rowOf(const QString& id) const
{
    for (int r = 0; r < m_model->rowCount(); ++r)
        if (m_model->item(r, ColName)->data(kIdRole).toString() == id)
            return r;
    return -1;
}

void ResultsView::fitColumns()
{
    // Every column to its contents, but the two free texts (run name, preset with its edits) no wider than they need
    // to be for the perplexities to stay in view: the numbers are what the table is for.
    m_table->resizeColumnsToContents();
    const int limit = std::max(160, m_table->viewport()->width() / 5);
    for (int column : {int(ColName), int(ColPreset)})
        if (m_table->columnWidth(column) > limit)
            m_table->setColumnWidth(column, limit);
}

void ResultsView::fillRow(int row, const RunRecord& run)
{
    auto* name = new QStandardItem(run.name);
    name->setData(run.id, kIdRole);
    name->setData(QVariant::fromValue(run), kRecordRole);
    name->setData(run.name, Qt::UserRole);
    name->setToolTip(run.id);
    auto* method = new QStandardItem(run.method);
    method->setData(run.method, Qt::UserRole);
    auto* preset = sortedItem(presetText(run), presetText(run), false);
    if (!run.edits.isEmpty())
        preset->setToolTip(tr("Changed from the preset %1:\n%2").arg(run.preset, run.edits.join(QLatin1Char('\n'))));
    else
        preset->setToolTip(presetText(run));
    m_model->setItem(row, ColName, name);
    m_model->setItem(row, ColMethod, method);
    m_model->setItem(row, ColPreset, preset);

    const QString unknown = QStringLiteral("—");
    m_model->setItem(row, ColBits,
                     sortedItem(run.wbits > 0 ? QStringLiteral("W%1A%2").arg(run.wbits).arg(run.abits) : unknown,
                                run.wbits * 100 + run.abits));
    m_model->setItem(row, ColGroup,
                     sortedItem(run.groupSize > 0    ? QString::number(run.groupSize)
                                : run.groupSize == 0 ? tr("per channel")
                                                     : unknown,
                                // per channel sorts after every group size: the coarsest
                                run.groupSize == 0 ? std::numeric_limits<qint64>::max() : run.groupSize));
    m_model->setItem(row, ColSamples,
                     sortedItem(run.nsamples > 0 ? QStringLiteral("%1 × %2").arg(run.nsamples).arg(run.seqlen) : unknown,
                                run.nsamples * run.seqlen));
    m_model->setItem(row, ColEpochs, sortedItem(run.epochs >= 0 ? QString::number(run.epochs) : unknown, run.epochs));
    auto* eval = sortedItem(evaluationText(run), run.evalWindows * run.evalSeqlen);
    QString evalTip;
    if (run.evalSeqlen > 0)
        evalTip = (run.evalWindows > 0 ? tr("%n window(s) of %1 tokens", nullptr, int(run.evalWindows))
                                       : tr("every window of %1 tokens"))
                      .arg(run.evalSeqlen);
    if (!evalTip.isEmpty() && !run.evalText.isEmpty())
        evalTip = tr("%1 of %2").arg(evalTip, run.evalText);
    eval->setToolTip(evalTip);
    m_model->setItem(row, ColEval, eval);
    for (const auto& [column, value] : {std::pair{ColFp, run.fpPerplexity}, std::pair{ColRtn, run.rtnPerplexity},
                                        std::pair{ColQuant, run.quantPerplexity}}) {
        QStandardItem* item = perplexityItem(value);
        if (value > 0 && !evalTip.isEmpty())
            item->setToolTip(tr("Evaluated on %1").arg(evalTip));
        m_model->setItem(row, column, item);
    }
    m_model->setItem(row, ColDuration, sortedItem(durationText(run.seconds), run.seconds > 0 ? run.seconds : qInf()));
}

QString ResultsView::presetText(const RunRecord& run)
{
    if (run.edits.isEmpty())
        return run.preset;
    return tr("%1 (edited: %2)").arg(run.preset, run.edits.join(tr(", ")));
}

QString ResultsView::evaluationText(const RunRecord& run)
{
    if (run.evalSeqlen <= 0)
        return QStringLiteral("—");
    if (run.evalWindows <= 0)
        return tr("all × %1").arg(run.evalSeqlen);
    return QStringLiteral("%1 × %2").arg(run.evalWindows).arg(run.evalSeqlen);
}

QString ResultsView::durationText(double seconds)
{
    if (!(seconds > 0) || !std::isfinite(seconds))
        return QStringLiteral("—");
    const qint64 s = std::max<qint64>(1, qint64(std::llround(seconds)));
    if (s >= 3600)
        return QStringLiteral("%1:%2:%3")
            .arg(s / 3600)
            .arg((s / 60) % 60, 2, 10, QLatin1Char('0'))
            .arg(s % 60, 2, 10, QLatin1Char('0'));
    return QStringLiteral("%1:%2").arg(s / 60).arg(s % 60, 2, 10, QLatin1Char('0'));
}

void ResultsView::updateEvaluationNote()
{
    QSet<QString> evaluations;
    for (const RunRecord& r : runs())
        if (hasPerplexity(r))
            evaluations.insert(evaluationKey(r));
    m_evalNote->setVisible(evaluations.size() > 1);
}

void ResultsView::addRun(const RunRecord& run)
{
    int row = rowOf(run.id);
    if (row < 0) {
        row = m_model->rowCount();
        m_model->insertRow(row);
    }
    fillRow(row, run);
    fitColumns();
    updateButtons();
    updateEvaluationNote();
}

void ResultsView::setRuns(const QVector<RunRecord>& runs)
{
    clear();
    for (const RunRecord& r : runs)
        addRun(r);
}

QVector<RunRecord> ResultsView::runs() const
{
    QVector<RunRecord> r;
    for (int row = 0; row < m_model->rowCount(); ++row)
        r.push_back(m_model->item(row, ColName)->data(kRecordRole).value<RunRecord>());
    return r;
}

void ResultsView::removeRun(const QString& id)
{
    const int row = rowOf(id);
    if (row >= 0)
        m_model->removeRow(row);
    updateButtons();
    updateEvaluationNote();
}

void ResultsView::clear()
{
    m_model->removeRows(0, m_model->rowCount());
    updateButtons();
    updateEvaluationNote();
}

int ResultsView::runCount() const { return m_model->rowCount(); }

QString ResultsView::selectedRunId() const
{
    const QModelIndexList rows = m_table->selectionModel()->selectedRows(ColName);
    return rows.isEmpty() ? QString() : rows.first().data(kIdRole).toString();
}

void ResultsView::selectRun(const QString& id)
{
    const int row = rowOf(id);
    if (row < 0)
        m_table->clearSelection();
    else
        m_table->selectRow(row);
}

void ResultsView::updateButtons()
{
    const bool selected = !selectedRunId().isEmpty();
    m_compare->setEnabled(selected);
    m_remove->setEnabled(selected);
}

}  // namespace aq::widgets
