#include "resultsview.h"

#include <QHBoxLayout>
#include <QHeaderView>
#include <QItemSelectionModel>
#include <QLabel>
#include <QPushButton>
#include <QStandardItemModel>
#include <QTableView>
#include <QVBoxLayout>

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

}  // namespace

ResultsView::ResultsView(QWidget* parent) : QWidget(parent)
{
    m_model = new QStandardItemModel(0, ColCount, this);
    m_model->setHorizontalHeaderLabels({tr("Run"), tr("Method"), tr("Preset"), tr("FP perplexity"),
                                        tr("RTN perplexity"), tr("Quantized perplexity")});
    m_model->setSortRole(Qt::UserRole);
    m_table = new QTableView(this);
    m_table->setModel(m_model);
    m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_table->setSelectionMode(QAbstractItemView::SingleSelection);
    m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_table->setSortingEnabled(true);
    m_table->verticalHeader()->hide();
    m_table->horizontalHeader()->setStretchLastSection(true);
    m_table->horizontalHeader()->setSectionResizeMode(ColName, QHeaderView::Stretch);
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
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(m_table, 1);
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

void ResultsView::fillRow(int row, const RunRecord& run)
{
    auto* name = new QStandardItem(run.name);
    name->setData(run.id, kIdRole);
    name->setData(QVariant::fromValue(run), kRecordRole);
    name->setData(run.name, Qt::UserRole);
    name->setToolTip(run.id);
    auto* method = new QStandardItem(run.method);
    method->setData(run.method, Qt::UserRole);
    auto* preset = new QStandardItem(run.preset);
    preset->setData(run.preset, Qt::UserRole);
    m_model->setItem(row, ColName, name);
    m_model->setItem(row, ColMethod, method);
    m_model->setItem(row, ColPreset, preset);
    m_model->setItem(row, ColFp, perplexityItem(run.fpPerplexity));
    m_model->setItem(row, ColRtn, perplexityItem(run.rtnPerplexity));
    m_model->setItem(row, ColQuant, perplexityItem(run.quantPerplexity));
}

void ResultsView::addRun(const RunRecord& run)
{
    int row = rowOf(run.id);
    if (row < 0) {
        row = m_model->rowCount();
        m_model->insertRow(row);
    }
    fillRow(row, run);
    m_table->resizeColumnsToContents();
    updateButtons();
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
}

void ResultsView::clear()
{
    m_model->removeRows(0, m_model->rowCount());
    updateButtons();
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
