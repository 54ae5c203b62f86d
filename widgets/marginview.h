#pragma once
// Diagonal-dominance margins |a_ii| - sum_{j != i} |a_ij|: per row of one matrix (rows at or below zero in red),
// picked with the view's own block / transform / epoch selection, and the smallest margin of each epoch over the
// run, with a short explanation of what they mean.
#include <QMap>
#include <QVector>
#include <QWidget>

class QCPBars;
class QCPGraph;
class QCPItemStraightLine;
class QCheckBox;
class QComboBox;
class QCustomPlot;
class QLabel;
class QMouseEvent;

namespace aq::widgets {

class ReplotCoalescer;

class MarginView : public QWidget {
    Q_OBJECT
public:
    explicit MarginView(QWidget* parent = nullptr);

    /// Shows the per-row margins of one matrix; `title` says which (block, transform, epoch). The owner calls it in
    /// answer to rowMarginsRequested.
    void setRowMargins(const QString& title, const QVector<double>& margins);
    void clearRowMargins();
    /// Adds the minimum margin of `transform` in `block` at `epoch` (of `epochs`) to the timeline and makes the
    /// matrix selectable. The x position is block + epoch / epochs, so each block occupies one unit.
    void addEpochMinimum(int block, int epoch, int epochs, const QString& transform, double minMargin);
    void clear();

    /// Selects a matrix (one added with addEpochMinimum) and asks for its row margins.
    void select(int block, const QString& transform, int epoch);
    int selectedBlock() const;
    QString selectedTransform() const;
    int selectedEpoch() const;
    /// While on (the default), every new epoch of the selected transform becomes the selection. Picking a block or an
    /// epoch by hand turns it off.
    void setFollowNewest(bool follow);
    bool followsNewest() const;

    int dominantRowCount() const;
    int nonDominantRowCount() const;
    QString rowTitle() const;
    int timelineCurveCount() const { return int(m_timeline.size()); }
    int timelinePointCount(const QString& transform) const;
    /// Vertical lines between neighbouring blocks of the timeline.
    int blockSeparatorCount() const { return int(m_separators.size()); }
    /// The hover text of the timeline at a position in its pixels: the nearest point within a few pixels, or empty.
    QString timelineToolTipAt(const QPointF& pixel) const;

    QCustomPlot* rowPlot() const { return m_rowPlot; }
    QCustomPlot* timelinePlot() const { return m_timelinePlot; }
    ReplotCoalescer* rowReplot() const { return m_rowReplot; }
    ReplotCoalescer* timelineReplot() const { return m_timelineReplot; }

signals:
    /// The selection changed to the matrix of `transform` in `block` at `epoch`: the owner, which keeps the row
    /// margins, answers with setRowMargins (or leaves the note that only the minimum is known).
    void rowMarginsRequested(int block, const QString& transform, int epoch);

private:
    struct EpochPoint {
        int block = 0;
        int epoch = 0;
        int epochs = 1;
        double minMargin = 0;
    };
    // Steps of the constructor.
    void createPickers();
    void createRowPlot();
    void createTimelinePlot();
    void setUpReplots();
    QLabel* createExplanation();
    void layOut(QLabel* explanation);
    void connectControls();

    /// The point nearest to a pixel of the timeline within the hover radius; false when there is none.
    bool pointAt(const QPointF& pixel, QString* transform, EpochPoint* point) const;
    QCPGraph* timelineGraph(const QString& transform);
    /// Lists the epochs of the selected block and transform, selecting `preferredEpoch` if present, else the last.
    void fillEpochs(int preferredEpoch);
    void requestRows();
    void updateBlockAxis();
    void showTimelineHover(QMouseEvent* event);

    QCustomPlot* m_rowPlot = nullptr;
    QCustomPlot* m_timelinePlot = nullptr;
    QCPBars* m_dominantBars = nullptr;
    QCPBars* m_nonDominantBars = nullptr;
    QLabel* m_rowTitle = nullptr;
    QComboBox* m_blockBox = nullptr;
    QComboBox* m_transformBox = nullptr;
    QComboBox* m_epochBox = nullptr;
    QCheckBox* m_followBox = nullptr;
    ReplotCoalescer* m_rowReplot = nullptr;
    ReplotCoalescer* m_timelineReplot = nullptr;
    QMap<QString, QCPGraph*> m_timeline;
    QMap<QString, QMap<double, EpochPoint>> m_points;  ///< transform -> x -> point
    QVector<QCPItemStraightLine*> m_separators;
};

}  // namespace aq::widgets
