#pragma once
// Preview of the gradual mask schedule: how many diagonals each epoch trains (spec §5.1) and how much off-diagonal
// weight the stability factor lets into a row, for the configured hidden size, epochs and stability factor.
#include <QWidget>

#include <functional>

class QCPAxis;
class QCPBars;
class QCPGraph;
class QCustomPlot;
class QLabel;

namespace aq::widgets {

class ReplotCoalescer;

class MaskScheduleView : public QWidget {
    Q_OBJECT
public:
    explicit MaskScheduleView(QWidget* parent = nullptr);

    /// N_e of 0-based `epoch` of `epochs` for a matrix of side `size`.
    using BandWidthFunction = std::function<long long(long long size, int epochs, int epoch)>;
    /// The schedule the bars show. The views know no engine: the window hands in the engine's own schedule
    /// (aq::maskBandWidth). Until then the view uses matrixmath::bandWidth, the statement of spec §5.1 that the
    /// teaching view explores. Shows the current schedule again with it.
    void setBandWidthFunction(BandWidthFunction bandWidth);

    /// `size` is the side d of the full matrices (the hidden size); `headSize` (0 = none) the side of the per-head
    /// blocks of the attention transforms.
    void setSchedule(long long size, int epochs, double stabilityFactor, long long headSize = 0);

    long long size() const { return m_size; }
    int epochs() const { return m_epochs; }
    double stabilityFactor() const { return m_stabilityFactor; }
    /// N_e for each epoch of the current schedule (one entry for epochs <= 1).
    QVector<double> bandWidths() const { return m_bandWidths; }
    /// Upper bound of the off-diagonal share of a row, stabilityFactor * 2 (N_e - 1), for each epoch: where it
    /// exceeds 1, a matrix whose off-diagonal entries are as large as its diagonal ones can lose dominance.
    QVector<double> offDiagonalShare() const { return m_offDiagonalShare; }

    QCustomPlot* plot() const { return m_plot; }
    ReplotCoalescer* replotCoalescer() const { return m_replot; }

private:
    void fitAxisTitles();

    QCustomPlot* m_plot = nullptr;
    QCPBars* m_bars = nullptr;
    QCPGraph* m_share = nullptr;
    QLabel* m_summary = nullptr;
    ReplotCoalescer* m_replot = nullptr;
    QString m_leftTitle;
    QString m_rightTitle;
    long long m_size = 0;
    long long m_headSize = 0;
    int m_epochs = 0;
    double m_stabilityFactor = 0;
    QVector<double> m_bandWidths;
    QVector<double> m_offDiagonalShare;
    BandWidthFunction m_bandWidth;
};

}  // namespace aq::widgets
