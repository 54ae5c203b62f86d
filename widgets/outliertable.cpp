#include "outliertable.h"

#include "plotstyle.h"

#include <QFont>
#include <QLocale>

namespace aq::widgets {

OutlierTableModel::OutlierTableModel(QObject* parent) : QAbstractTableModel(parent) {}

void OutlierTableModel::setRowsOf(int block, const QString& site, const QVector<OutlierRow>& rows)
{
    // The rows of one block and site are always kept together, so they form one range.
    int first = -1, last = -1;
    for (int i = 0; i < m_rows.size(); ++i)
        if (m_rows[i].block == block && m_rows[i].site == site) {
            if (first < 0)
                first = i;
            last = i;
        }
    int at = m_rows.size();
    if (first >= 0) {
        beginRemoveRows({}, first, last);
        m_rows.remove(first, last - first + 1);
        endRemoveRows();
        at = first;
    }
    if (rows.isEmpty())
        return;
    beginInsertRows({}, at, at + rows.size() - 1);
    for (int i = 0; i < rows.size(); ++i)
        m_rows.insert(at + i, rows[i]);
    endInsertRows();
}

void OutlierTableModel::resetRows(const QVector<OutlierRow>& rows)
{
    beginResetModel();
    m_rows = rows;
    endResetModel();
}

void OutlierTableModel::setThreshold(double factor)
{
    m_threshold = factor;
    if (!m_rows.isEmpty())
        emit dataChanged(index(0, ColRatioBefore), index(m_rows.size() - 1, ColRatioAfter));
}

int OutlierTableModel::rowCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : m_rows.size(); }

int OutlierTableModel::columnCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : ColCount; }

QVariant OutlierTableModel::data(const QModelIndex& index, int role) const
{
    if (!index.isValid() || index.row() >= m_rows.size())
        return {};
    const OutlierRow& r = m_rows[index.row()];
    const int col = index.column();
    if (role == SortRole) {
        switch (col) {
        case ColBlock: return r.block;
        case ColSite: return r.siteOrder;
        case ColChannel: return r.channel;
        case ColBefore: return r.before;
        case ColAfter: return r.after;
        case ColRatioBefore: return r.ratioBefore;
        case ColRatioAfter: return r.ratioAfter;
        default: return {};
        }
    }
    if (role == Qt::DisplayRole) {
        const QLocale locale;
        switch (col) {
        case ColBlock: return r.block;
        case ColSite: return r.siteLabel;
        case ColChannel: return r.channel;
        case ColBefore: return locale.toString(r.before, 'g', 4);
        case ColAfter: return locale.toString(r.after, 'g', 4);
        case ColRatioBefore: return tr("%1×").arg(locale.toString(r.ratioBefore, 'f', 1));
        case ColRatioAfter: return tr("%1×").arg(locale.toString(r.ratioAfter, 'f', 1));
        default: return {};
        }
    }
    if (role == Qt::TextAlignmentRole)
        return col == ColSite ? QVariant(Qt::AlignLeft | Qt::AlignVCenter) : QVariant(Qt::AlignRight | Qt::AlignVCenter);
    const bool outlierCell = (col == ColRatioBefore && r.ratioBefore > m_threshold)
                             || (col == ColRatioAfter && r.ratioAfter > m_threshold);
    if (role == Qt::ForegroundRole && outlierCell)
        return plotstyle::warningColor();
    if (role == Qt::FontRole && outlierCell) {
        QFont f;
        f.setBold(true);
        return f;
    }
    if (role == Qt::ToolTipRole && col == ColSite)
        return tr("Input of %1 (site \"%2\").").arg(r.siteLabel, r.site);
    return {};
}

QVariant OutlierTableModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal)
        return {};
    if (role == Qt::DisplayRole) {
        switch (section) {
        case ColBlock: return tr("Block");
        case ColSite: return tr("Input of");
        case ColChannel: return tr("Channel");
        case ColBefore: return tr("Abs-max before");
        case ColAfter: return tr("Abs-max after");
        case ColRatioBefore: return tr("Before / median");
        case ColRatioAfter: return tr("After / median");
        default: return {};
        }
    }
    if (role == Qt::ToolTipRole) {
        switch (section) {
        case ColBefore: return tr("Largest |activation| of the channel over the calibration tokens, on the "
                                  "full-precision model, before the transform.");
        case ColAfter: return tr("The same after the transform, on the merged quantized block.");
        case ColRatioBefore:
        case ColRatioAfter: return tr("The channel's abs-max divided by the median abs-max over all channels of the "
                                      "same block and site (before, respectively after). Values above the threshold "
                                      "are highlighted.");
        default: return {};
        }
    }
    return {};
}

}  // namespace aq::widgets
