#pragma once
// Histogram of a weight matrix with its clipping bounds and quantization grid: shows how much of the distribution
// the clipping cuts and how coarse the grid is. Every row (or group) has bounds of its own: the shaded bands show
// where they lie over the whole layer, the dashed lines and ticks are the first row's/group's bounds and grid.
#include "viewdata.h"

#include <QHash>
#include <QPair>
#include <QWidget>

class QCPBars;
class QCPGraph;
class QCPItemRect;
class QCPItemStraightLine;
class QCheckBox;
class QComboBox;
class QCustomPlot;
class QLabel;

namespace aq::widgets {

class BlockPicker;
class ReplotCoalescer;

class WeightHistogramView : public QWidget {
    Q_OBJECT
public:
    explicit WeightHistogramView(QWidget* parent = nullptr);

    /// Stores the histogram of a block's layer (replacing an earlier one); shows it if it is the first or belongs
    /// to the selection.
    void addHistogram(const WeightHistogramData& histogram);
    void clear();
    void select(int block, const QString& layer);
    int currentBlock() const;
    QString currentLayer() const;

    /// Counts on a base-10 logarithmic axis (the default: the clipped tails hold few weights).
    void setLogCounts(bool logarithmic);
    bool logCounts() const { return m_logCounts; }

    int binCount() const;
    int gridLevelCount() const;
    /// Positions of the two clipping lines (low, high) of the first row/group of the shown histogram.
    QPair<double, double> clipLines() const;
    /// The shaded ranges of all rows'/groups' lower and upper bounds (empty pairs when none is shown).
    QPair<double, double> lowerBoundRange() const;
    QPair<double, double> upperBoundRange() const;
    /// Weights of the shown layer outside their own row's/group's bounds (-1 when none is shown).
    qint64 outsideCount() const;
    QString summaryText() const;

    QCustomPlot* plot() const { return m_plot; }
    ReplotCoalescer* replotCoalescer() const { return m_replot; }

private:
    using Key = QPair<int, QString>;
    void render();

    QCustomPlot* m_plot = nullptr;
    QCPBars* m_bars = nullptr;
    QCPGraph* m_gridTicks = nullptr;
    QCPGraph* m_boundsKey = nullptr;  ///< legend entry of the dashed lines (items have none)
    QCPGraph* m_bandKey = nullptr;    ///< legend entry of the shaded bands
    QCPItemStraightLine* m_clipLow = nullptr;
    QCPItemStraightLine* m_clipHigh = nullptr;
    QCPItemRect* m_lowBand = nullptr;
    QCPItemRect* m_highBand = nullptr;
    BlockPicker* m_blockBox = nullptr;
    QComboBox* m_layerBox = nullptr;
    QCheckBox* m_logBox = nullptr;
    QLabel* m_summary = nullptr;
    ReplotCoalescer* m_replot = nullptr;
    QHash<Key, WeightHistogramData> m_histograms;
    bool m_logCounts = true;
    qint64 m_outside = -1;
};

}  // namespace aq::widgets
