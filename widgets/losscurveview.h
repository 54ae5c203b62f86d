#pragma once
// Loss per optimisation step, one curve per transformer block, with an optional second run drawn dashed for
// comparison. Points are buffered and drawn by a coalesced redraw, never on arrival.
#include "viewdata.h"

#include <QMap>
#include <QWidget>

class QCPGraph;
class QCPItemText;
class QCheckBox;
class QCustomPlot;
class QLabel;
class QMouseEvent;

namespace aq::widgets {

class ReplotCoalescer;

class LossCurveView : public QWidget {
    Q_OBJECT
public:
    explicit LossCurveView(QWidget* parent = nullptr);

    /// Buffers one point of `block`'s curve; `step` is the step index inside the block.
    void appendPoint(int block, double step, double loss);
    /// Replaces the current run's curves (a reopened run).
    void setSeries(const QVector<LossSeries>& series);
    /// The current run's curves, including points not drawn yet.
    QVector<LossSeries> series() const;
    /// Draws another run's curves dashed under the current ones; `label` names it in the legend.
    void setComparison(const QString& label, const QVector<LossSeries>& series);
    void clearComparison();
    /// Removes the current run's curves (a new run starts); the comparison stays.
    void clear();

    void setLogScale(bool logarithmic);
    bool logScale() const { return m_logScale; }

    int curveCount() const { return int(m_graphs.size()); }
    /// Whether the plot shows its "press Run" hint (it has no curve yet) instead of a legend.
    bool showsEmptyHint() const;
    int comparisonCurveCount() const { return int(m_comparisonGraphs.size()); }
    /// Points of `block`'s curve that are in the plot (buffered points are not counted until the redraw).
    int plottedPointCount(int block) const;
    /// The hover text for a position in plot pixels: the nearest point within a few pixels, or empty.
    QString toolTipAt(const QPointF& pixel) const;

    QCustomPlot* plot() const { return m_plot; }
    ReplotCoalescer* replotCoalescer() const { return m_replot; }

signals:
    void logScaleChanged(bool logarithmic);

private:
    struct PendingPoint {
        int block;
        double step;
        double loss;
    };

    QCPGraph* graphFor(int block);
    void flushPending();
    void rescale();
    void showHoverText(QMouseEvent* event);
    void updateEmptyState();

    QCustomPlot* m_plot = nullptr;
    QCheckBox* m_logBox = nullptr;
    QLabel* m_comparisonLabel = nullptr;
    QCPItemText* m_emptyHint = nullptr;
    ReplotCoalescer* m_replot = nullptr;
    QMap<int, QCPGraph*> m_graphs;
    QMap<int, QCPGraph*> m_comparisonGraphs;
    QVector<PendingPoint> m_pending;
    QString m_comparisonName;
    bool m_logScale = false;
    bool m_followData = true;  ///< rescale to the data until the user zooms or pans
};

}  // namespace aq::widgets
