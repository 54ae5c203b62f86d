#pragma once
// Per-channel abs-max of the activations entering a transform site, before and after the transform: outlier
// channels (far above the median) are what makes activation quantization hard and what the transforms remove.
// Below the plot, the outlier explorer lists the outlier channels of every block and site in one sortable table;
// clicking a row shows that block, site and channel in the plot.
#include "outliertable.h"
#include "viewdata.h"

#include <QHash>
#include <QPair>
#include <QWidget>

class QCPGraph;
class QCPItemStraightLine;
class QCheckBox;
class QComboBox;
class QCustomPlot;
class QDoubleSpinBox;
class QHBoxLayout;
class QLabel;
class QMouseEvent;
class QSortFilterProxyModel;
class QSplitter;
class QTableView;

namespace aq::widgets {

class OutlierTableModel;
class BlockPicker;
class ReplotCoalescer;

class ActivationView : public QWidget {
    Q_OBJECT
public:
    explicit ActivationView(QWidget* parent = nullptr);

    /// Stores the profile of a block and site (replacing an earlier one), adds its outlier channels to the table,
    /// and shows it if nothing else is shown or it belongs to the selection.
    void addProfile(const ActivationProfileData& profile);
    void clear();
    /// Shows a block and site (by its key, "qkv", "out", "fc1" or "down").
    void select(int block, const QString& site);
    /// Shows a block and site with one channel marked (-1: none).
    void showChannel(int block, const QString& site, int channel);
    int currentBlock() const;
    QString currentSite() const;
    int markedChannel() const { return m_markedChannel; }
    /// What the site picker and the table call a site: the linears that read it, named as in the Weights tab.
    QString siteLabel(const QString& site) const;

    /// A channel is an outlier when its abs-max exceeds `factor` times the median over channels (default 6).
    void setOutlierFactor(double factor);
    double outlierFactor() const { return m_outlierFactor; }
    /// Outlier channels of the shown profile, before and after the transform.
    QVector<int> outliersBefore() const { return m_outliersBefore; }
    QVector<int> outliersAfter() const { return m_outliersAfter; }

    void setLogScale(bool logarithmic);

    /// The readout for the channel under the mouse (what the tooltip shows); empty when none.
    QString hoverText() const { return m_hoverText; }
    int hoverChannel() const { return m_hoverChannel; }

    QCustomPlot* plot() const { return m_plot; }
    QCPGraph* beforeGraph() const { return m_before; }
    QCPGraph* afterGraph() const { return m_after; }
    QCPGraph* outlierGraph() const { return m_outlierMarks; }
    QCPGraph* outlierAfterGraph() const { return m_outlierAfterMarks; }
    /// Dashed lines at the threshold of the shown profile: factor x the median before, and after.
    QCPGraph* thresholdGraph() const { return m_thresholdLine; }
    QCPGraph* thresholdAfterGraph() const { return m_thresholdAfterLine; }
    QCPItemStraightLine* markLine() const { return m_markLine; }
    ReplotCoalescer* replotCoalescer() const { return m_replot; }
    QTableView* outlierTable() const { return m_table; }
    OutlierTableModel* outlierModel() const { return m_model; }
    QSortFilterProxyModel* outlierProxy() const { return m_proxy; }
    QDoubleSpinBox* thresholdBox() const { return m_thresholdBox; }

private:
    using Key = QPair<int, QString>;

    // Steps of the constructor.
    void createPlot();
    void placeLegend();
    /// The replot coalescer, the export menu and the hover readout.
    void setUpPlotOutput();
    void createPickers();
    void createOutlierTable();
    void layOut();
    QHBoxLayout* layOutPickers();
    QSplitter* layOutPanes();
    void connectControls();

    void render();
    // Steps of render().
    void clearPlot();
    void plotBars(const ActivationProfileData& p, int n);
    void markOutliers(const ActivationProfileData& p);
    void drawThresholds(int n, double medBefore, double medAfter);
    void fitRanges(const ActivationProfileData& p, int n, double medBefore, double medAfter);
    void markChannel(int n);
    QString summaryText(const ActivationProfileData& p, int n) const;

    void updateRowsOf(const ActivationProfileData& profile);
    void rebuildRows(bool reset);
    void onTableRowActivated(const QModelIndex& proxyIndex);
    void onPlotMouseMove(QMouseEvent* event);

    QCustomPlot* m_plot = nullptr;
    QCPGraph* m_before = nullptr;
    QCPGraph* m_after = nullptr;
    QCPGraph* m_outlierMarks = nullptr;
    QCPGraph* m_outlierAfterMarks = nullptr;
    QCPGraph* m_thresholdLine = nullptr;
    QCPGraph* m_thresholdAfterLine = nullptr;
    QCPItemStraightLine* m_markLine = nullptr;
    BlockPicker* m_blockBox = nullptr;
    QComboBox* m_siteBox = nullptr;
    QCheckBox* m_logBox = nullptr;
    QDoubleSpinBox* m_thresholdBox = nullptr;
    QLabel* m_summary = nullptr;
    QLabel* m_tableSummary = nullptr;
    QTableView* m_table = nullptr;
    OutlierTableModel* m_model = nullptr;
    QSortFilterProxyModel* m_proxy = nullptr;
    ReplotCoalescer* m_replot = nullptr;
    QHash<Key, ActivationProfileData> m_profiles;
    /// Each profile's outlier rows at the current threshold and site labels (a run of many blocks adds profiles one
    /// by one: only the new one is computed again).
    QHash<Key, QVector<OutlierRow>> m_rowCache;
    QHash<QString, QString> m_siteLabels;
    QVector<int> m_outliersBefore;
    QVector<int> m_outliersAfter;
    double m_outlierFactor = 6.0;
    int m_markedChannel = -1;
    int m_hoverChannel = -1;
    QString m_hoverText;
};

}  // namespace aq::widgets
