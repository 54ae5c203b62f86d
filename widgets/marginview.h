#pragma once
// Diagonal-dominance margins |a_ii| - sum_{j != i} |a_ij|: per row of the selected matrix (rows at or below zero in
// red), and the smallest margin of each epoch over the run, with a short explanation of what they mean.
#include <QMap>
#include <QWidget>

class QCPBars;
class QCPGraph;
class QCustomPlot;
class QLabel;

namespace aq::widgets {

class ReplotCoalescer;

class MarginView : public QWidget {
    Q_OBJECT
public:
    explicit MarginView(QWidget* parent = nullptr);

    /// Shows the per-row margins of one matrix; `title` says which (block, transform, epoch).
    void setRowMargins(const QString& title, const QVector<double>& margins);
    void clearRowMargins();
    /// Adds the minimum margin of `transform` in `block` at `epoch` (of `epochs`) to the timeline. The x position is
    /// block + epoch / epochs, so each block occupies one unit.
    void addEpochMinimum(int block, int epoch, int epochs, const QString& transform, double minMargin);
    void clear();

    int dominantRowCount() const;
    int nonDominantRowCount() const;
    int timelineCurveCount() const { return int(m_timeline.size()); }
    int timelinePointCount(const QString& transform) const;

    QCustomPlot* rowPlot() const { return m_rowPlot; }
    QCustomPlot* timelinePlot() const { return m_timelinePlot; }
    ReplotCoalescer* rowReplot() const { return m_rowReplot; }
    ReplotCoalescer* timelineReplot() const { return m_timelineReplot; }

private:
    QCPGraph* timelineGraph(const QString& transform);

    QCustomPlot* m_rowPlot = nullptr;
    QCustomPlot* m_timelinePlot = nullptr;
    QCPBars* m_dominantBars = nullptr;
    QCPBars* m_nonDominantBars = nullptr;
    QLabel* m_rowTitle = nullptr;
    ReplotCoalescer* m_rowReplot = nullptr;
    ReplotCoalescer* m_timelineReplot = nullptr;
    QMap<QString, QCPGraph*> m_timeline;
};

}  // namespace aq::widgets
