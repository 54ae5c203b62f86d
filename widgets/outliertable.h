#pragma once
// The outlier channels of every block and site in one table: which channel, how large before and after the
// transform, and how many times the site's median that is. Rows are computed by the activation view (which holds the
// profiles and the threshold); this model only stores, shows and sorts them.
#include <QAbstractTableModel>
#include <QString>
#include <QVector>

namespace aq::widgets {

/// One channel whose abs-max exceeds the threshold before or after the transform.
struct OutlierRow {
    int block = 0;
    QString site;         ///< key: "qkv", "out", "fc1", "down"
    QString siteLabel;    ///< shown: the linears reading the site ("self_attn.q_proj / k_proj / v_proj")
    int siteOrder = 0;    ///< position of the site in the block, for sorting
    int channel = 0;
    double before = 0;
    double after = 0;
    double ratioBefore = 0;  ///< before / median over the site's channels before
    double ratioAfter = 0;   ///< after / median over the site's channels after
};

class OutlierTableModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { ColBlock, ColSite, ColChannel, ColBefore, ColAfter, ColRatioBefore, ColRatioAfter, ColCount };
    /// Raw value of a cell (numbers, or the site's position in the block) for sorting.
    static constexpr int SortRole = Qt::UserRole;

    explicit OutlierTableModel(QObject* parent = nullptr);

    /// Replaces the rows of one block and site (the profile was replaced), keeping the other rows in place so that
    /// the table's selection and scroll position survive a run streaming profiles in.
    void setRowsOf(int block, const QString& site, const QVector<OutlierRow>& rows);
    /// Replaces every row (the threshold changed).
    void resetRows(const QVector<OutlierRow>& rows);
    void clear() { resetRows({}); }
    /// Ratios above this are highlighted.
    void setThreshold(double factor);

    const OutlierRow& outlierRow(int row) const { return m_rows.at(row); }

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

private:
    QVector<OutlierRow> m_rows;
    double m_threshold = 6.0;
};

}  // namespace aq::widgets
