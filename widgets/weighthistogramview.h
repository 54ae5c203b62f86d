#pragma once
// Histogram of a weight matrix with the learned clipping bounds (vertical lines) and the quantization grid levels
// (ticks along the bottom): shows how much of the distribution the clipping cuts and how coarse the grid is.
#include "viewdata.h"

#include <QHash>
#include <QPair>
#include <QWidget>

class QCPBars;
class QCPGraph;
class QCPItemStraightLine;
class QComboBox;
class QCustomPlot;
class QLabel;

namespace aq::widgets {

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

    int binCount() const;
    int gridLevelCount() const;
    /// Positions of the two clipping lines (low, high) of the shown histogram.
    QPair<double, double> clipLines() const;

    QCustomPlot* plot() const { return m_plot; }
    ReplotCoalescer* replotCoalescer() const { return m_replot; }

private:
    using Key = QPair<int, QString>;
    void render();

    QCustomPlot* m_plot = nullptr;
    QCPBars* m_bars = nullptr;
    QCPGraph* m_gridTicks = nullptr;
    QCPItemStraightLine* m_clipLow = nullptr;
    QCPItemStraightLine* m_clipHigh = nullptr;
    QComboBox* m_blockBox = nullptr;
    QComboBox* m_layerBox = nullptr;
    QLabel* m_summary = nullptr;
    ReplotCoalescer* m_replot = nullptr;
    QHash<Key, WeightHistogramData> m_histograms;
};

}  // namespace aq::widgets
