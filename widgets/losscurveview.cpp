#include "losscurveview.h"

#include "plotexport.h"
#include "plotstyle.h"
#include "replotcoalescer.h"

#include <QCheckBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QToolTip>
#include <QVBoxLayout>

#include <qcustomplot.h>

#include <cmath>
#include <limits>

namespace aq::widgets {

namespace {
constexpr double kHoverRadiusPx = 10.0;
constexpr int kMaxLegendCurves = 12;  ///< beyond this the legend covers the plot; colours and hover suffice
}  // namespace

LossCurveView::LossCurveView(QWidget* parent) : QWidget(parent)
{
    m_plot = new QCustomPlot(this);
    m_plot->setInteractions(QCP::iRangeZoom | QCP::iRangeDrag);
    m_plot->xAxis->setLabel(tr("step within block"));
    m_plot->yAxis->setLabel(tr("block output loss (MSE)"));
    m_plot->legend->setVisible(true);
    QFont legendFont = font();
    legendFont.setPointSizeF(legendFont.pointSizeF() * 0.85);
    m_plot->legend->setFont(legendFont);
    m_plot->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignRight);
    m_plot->setMouseTracking(true);
    // Until there is a curve, an empty legend box would be all there is to see: say how curves get there instead.
    m_emptyHint = new QCPItemText(m_plot);
    m_emptyHint->setClipToAxisRect(false);
    m_emptyHint->position->setAxisRect(m_plot->axisRect());
    m_emptyHint->position->setType(QCPItemPosition::ptAxisRectRatio);
    m_emptyHint->position->setCoords(0.5, 0.5);
    m_emptyHint->setPositionAlignment(Qt::AlignCenter);
    m_emptyHint->setTextAlignment(Qt::AlignCenter);
    QFont hintFont = font();
    hintFont.setPointSizeF(hintFont.pointSizeF() * 1.2);
    m_emptyHint->setFont(hintFont);
    m_emptyHint->setColor(palette().color(QPalette::PlaceholderText).darker(130));
    m_emptyHint->setText(tr("Press Run to calibrate; each block's loss appears here"));
    m_replot = new ReplotCoalescer(m_plot, [this] { flushPending(); }, this);
    new PlotExporter(m_plot, QStringLiteral("loss-curves"), [this] { m_replot->flushNow(); });

    m_logBox = new QCheckBox(tr("&Logarithmic loss axis"), this);
    m_logBox->setToolTip(tr("Show the loss on a base-10 logarithmic scale; losses of different blocks often differ "
                            "by orders of magnitude."));
    auto* fit = new QPushButton(tr("&Fit"), this);
    fit->setToolTip(tr("Rescale the axes to all data and follow new points again (double-click the plot does the "
                       "same)."));
    m_comparisonLabel = new QLabel(this);
    m_comparisonLabel->setTextFormat(Qt::PlainText);

    auto* controls = new QHBoxLayout;
    controls->addWidget(m_logBox);
    controls->addWidget(fit);
    controls->addStretch(1);
    controls->addWidget(m_comparisonLabel);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addLayout(controls);
    layout->addWidget(m_plot, 1);

    connect(m_logBox, &QCheckBox::toggled, this, &LossCurveView::setLogScale);
    auto follow = [this] {
        m_followData = true;
        rescale();
        m_replot->request();
    };
    connect(fit, &QPushButton::clicked, this, follow);
    connect(m_plot, &QCustomPlot::mouseDoubleClick, this, follow);
    // Once the user zooms or drags, new data must not snap the view back.
    connect(m_plot, &QCustomPlot::mouseWheel, this, [this] { m_followData = false; });
    connect(m_plot, &QCustomPlot::mousePress, this, [this] { m_followData = false; });
    connect(m_plot, &QCustomPlot::mouseMove, this, &LossCurveView::showHoverText);
    updateEmptyState();
}

void LossCurveView::appendPoint(int block, double step, double loss)
{
    m_pending.push_back({block, step, loss});
    m_replot->request();
}

QCPGraph* LossCurveView::graphFor(int block)
{
    auto it = m_graphs.find(block);
    if (it != m_graphs.end())
        return it.value();
    QCPGraph* g = m_plot->addGraph();
    g->setName(tr("block %1").arg(block));
    // One pixel wide: a wider pen makes QPainter stroke the whole polyline as one outline, and for a noisy loss curve
    // that outline crosses itself at every step (800 points took 0.8 s per replot, against 2 ms at one pixel).
    g->setPen(QPen(plotstyle::seriesColor(block), 1));
    if (m_graphs.size() + m_comparisonGraphs.size() >= kMaxLegendCurves)
        g->removeFromLegend();
    m_graphs.insert(block, g);
    return g;
}

void LossCurveView::flushPending()
{
    if (m_pending.isEmpty())
        return;
    for (const PendingPoint& p : std::as_const(m_pending))
        graphFor(p.block)->addData(p.step, p.loss);
    m_pending.clear();
    updateEmptyState();
    rescale();
}

void LossCurveView::rescale()
{
    if (!m_followData)
        return;
    m_plot->rescaleAxes();
    // Leave a little room so that the newest point is not glued to the border.
    m_plot->xAxis->scaleRange(1.05, m_plot->xAxis->range().lower);
    if (!m_logScale)
        m_plot->yAxis->scaleRange(1.1, m_plot->yAxis->range().center());
}

void LossCurveView::setSeries(const QVector<LossSeries>& series)
{
    clear();
    for (const LossSeries& s : series)
        graphFor(s.block)->setData(s.steps, s.losses);
    m_followData = true;
    updateEmptyState();
    rescale();
    m_replot->request();
}

QVector<LossSeries> LossCurveView::series() const
{
    QMap<int, LossSeries> byBlock;
    for (auto it = m_graphs.cbegin(); it != m_graphs.cend(); ++it) {
        LossSeries& s = byBlock[it.key()];
        s.block = it.key();
        for (const QCPGraphData& d : *it.value()->data()) {
            s.steps.push_back(d.key);
            s.losses.push_back(d.value);
        }
    }
    for (const PendingPoint& p : m_pending) {
        LossSeries& s = byBlock[p.block];
        s.block = p.block;
        s.steps.push_back(p.step);
        s.losses.push_back(p.loss);
    }
    return byBlock.values().toVector();
}

void LossCurveView::setComparison(const QString& label, const QVector<LossSeries>& series)
{
    clearComparison();
    for (const LossSeries& s : series) {
        QCPGraph* g = m_plot->addGraph();
        g->setName(tr("block %1 (%2)").arg(s.block).arg(label));
        QPen pen(plotstyle::seriesColor(s.block).lighter(130), 1, Qt::DashLine);  // one pixel: see graphFor()
        g->setPen(pen);
        g->setData(s.steps, s.losses);
        if (m_graphs.size() + m_comparisonGraphs.size() >= kMaxLegendCurves)
            g->removeFromLegend();
        // Under the current run's curves, so the live data stays readable.
        g->setLayer(QStringLiteral("grid"));
        m_comparisonGraphs.insert(s.block, g);
    }
    m_comparisonName = label;
    m_comparisonLabel->setText(series.isEmpty() ? QString() : tr("dashed: %1").arg(label));
    updateEmptyState();
    m_followData = true;
    rescale();
    m_replot->request();
}

void LossCurveView::clearComparison()
{
    for (QCPGraph* g : std::as_const(m_comparisonGraphs))
        m_plot->removeGraph(g);
    m_comparisonGraphs.clear();
    m_comparisonName.clear();
    m_comparisonLabel->clear();
    updateEmptyState();
    m_replot->request();
}

void LossCurveView::clear()
{
    m_pending.clear();
    for (QCPGraph* g : std::as_const(m_graphs))
        m_plot->removeGraph(g);
    m_graphs.clear();
    m_followData = true;
    updateEmptyState();
    m_replot->request();
}

void LossCurveView::setLogScale(bool logarithmic)
{
    if (m_logScale == logarithmic)
        return;
    m_logScale = logarithmic;
    {
        const QSignalBlocker block(m_logBox);
        m_logBox->setChecked(logarithmic);
    }
    plotstyle::setLogScale(m_plot->yAxis, logarithmic);
    rescale();
    m_replot->request();
    emit logScaleChanged(logarithmic);
}

void LossCurveView::updateEmptyState()
{
    const bool empty = m_graphs.isEmpty() && m_comparisonGraphs.isEmpty();
    m_emptyHint->setVisible(empty);
    m_plot->legend->setVisible(!empty);
}

bool LossCurveView::showsEmptyHint() const { return m_emptyHint->visible(); }

int LossCurveView::plottedPointCount(int block) const
{
    const auto it = m_graphs.find(block);
    return it == m_graphs.end() ? 0 : it.value()->dataCount();
}

QString LossCurveView::toolTipAt(const QPointF& pixel) const
{
    double best = kHoverRadiusPx;
    QString text;
    auto consider = [&](QCPGraph* g, int block, const QString& run) {
        if (g->dataCount() == 0)
            return;
        const double key = m_plot->xAxis->pixelToCoord(pixel.x());
        auto it = g->data()->findBegin(key, true);
        // The nearest point in pixels is one of the two neighbours of the cursor's key.
        for (int k = 0; k < 2 && it != g->data()->constEnd(); ++k, ++it) {
            const double px = m_plot->xAxis->coordToPixel(it->key);
            const double py = m_plot->yAxis->coordToPixel(it->value);
            const double dist = std::hypot(px - pixel.x(), py - pixel.y());
            if (dist < best) {
                best = dist;
                text = run.isEmpty() ? tr("block %1, step %2: loss %3").arg(block).arg(it->key).arg(it->value, 0, 'g', 5)
                                     : tr("%4 — block %1, step %2: loss %3")
                                           .arg(block)
                                           .arg(it->key)
                                           .arg(it->value, 0, 'g', 5)
                                           .arg(run);
            }
        }
    };
    for (auto it = m_graphs.cbegin(); it != m_graphs.cend(); ++it)
        consider(it.value(), it.key(), QString());
    for (auto it = m_comparisonGraphs.cbegin(); it != m_comparisonGraphs.cend(); ++it)
        consider(it.value(), it.key(), m_comparisonName.isEmpty() ? tr("comparison") : m_comparisonName);
    return text;
}

void LossCurveView::showHoverText(QMouseEvent* event)
{
    const QString text = toolTipAt(event->position());
    if (text.isEmpty())
        QToolTip::hideText();
    else
        QToolTip::showText(event->globalPosition().toPoint(), text, m_plot);
}

}  // namespace aq::widgets
