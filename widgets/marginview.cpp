#include "marginview.h"

#include "plotexport.h"
#include "plotstyle.h"
#include "replotcoalescer.h"

#include <QLabel>
#include <QSplitter>
#include <QVBoxLayout>

#include <qcustomplot.h>

#include <algorithm>
#include <cmath>

namespace aq::widgets {

MarginView::MarginView(QWidget* parent) : QWidget(parent)
{
    m_rowTitle = new QLabel(this);
    m_rowTitle->setTextFormat(Qt::PlainText);

    m_rowPlot = new QCustomPlot(this);
    m_rowPlot->setInteractions(QCP::iRangeZoom | QCP::iRangeDrag);
    m_rowPlot->axisRect()->setRangeZoom(Qt::Horizontal);
    m_rowPlot->axisRect()->setRangeDrag(Qt::Horizontal);
    m_rowPlot->xAxis->setLabel(tr("row i"));
    m_rowPlot->yAxis->setLabel(tr("margin |a_ii| - sum |a_ij|"));
    m_dominantBars = new QCPBars(m_rowPlot->xAxis, m_rowPlot->yAxis);
    m_dominantBars->setName(tr("strictly dominant row"));
    m_dominantBars->setPen(Qt::NoPen);
    m_dominantBars->setBrush(plotstyle::seriesColor(0));
    m_dominantBars->setWidth(0.9);
    m_nonDominantBars = new QCPBars(m_rowPlot->xAxis, m_rowPlot->yAxis);
    m_nonDominantBars->setName(tr("row with margin <= 0"));
    m_nonDominantBars->setPen(Qt::NoPen);
    m_nonDominantBars->setBrush(plotstyle::warningColor());
    m_nonDominantBars->setWidth(0.9);
    m_rowPlot->legend->setVisible(true);
    m_rowPlot->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignRight);

    m_timelinePlot = new QCustomPlot(this);
    m_timelinePlot->setInteractions(QCP::iRangeZoom | QCP::iRangeDrag);
    m_timelinePlot->xAxis->setLabel(tr("block + epoch / epochs"));
    m_timelinePlot->yAxis->setLabel(tr("minimum row margin"));
    m_timelinePlot->legend->setVisible(true);
    m_timelinePlot->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignRight);
    auto* zero = new QCPItemStraightLine(m_timelinePlot);
    zero->point1->setCoords(0, 0);
    zero->point2->setCoords(1, 0);
    zero->setPen(QPen(plotstyle::warningColor(), 1, Qt::DashLine));
    // Integer x positions separate blocks.
    QSharedPointer<QCPAxisTickerFixed> ticker(new QCPAxisTickerFixed);
    ticker->setTickStep(1.0);
    ticker->setScaleStrategy(QCPAxisTickerFixed::ssMultiples);
    m_timelinePlot->xAxis->setTicker(ticker);

    m_rowReplot = new ReplotCoalescer(m_rowPlot, {}, this);
    new PlotExporter(m_rowPlot, QStringLiteral("margins-by-row"), [this] { m_rowReplot->flushNow(); });
    m_timelineReplot = new ReplotCoalescer(m_timelinePlot, [this] {
        m_timelinePlot->rescaleAxes();
        // Blocks occupy [b, b + 1): show whole blocks, so the newest points are not glued to the border.
        const QCPRange x = m_timelinePlot->xAxis->range();
        m_timelinePlot->xAxis->setRange(std::floor(x.lower) - 0.05, std::floor(x.upper) + 1.05);
        QCPRange y = m_timelinePlot->yAxis->range();
        // Keep zero in view: whether the margin crosses it is the point of the plot.
        y.expand(0.0);
        m_timelinePlot->yAxis->setRange(y);
        m_timelinePlot->yAxis->scaleRange(1.1, y.center());
    }, this);
    new PlotExporter(m_timelinePlot, QStringLiteral("margins-by-epoch"), [this] { m_timelineReplot->flushNow(); });

    auto* explanation = new QLabel(this);
    explanation->setWordWrap(true);
    explanation->setTextFormat(Qt::RichText);
    explanation->setText(
        tr("<p>A row's <b>margin</b> is |a<sub>ii</sub>| &minus; &Sigma;<sub>j&ne;i</sub> |a<sub>ij</sub>|. If every "
           "margin is positive the matrix is <b>strictly diagonally dominant</b>, and by the Levy&ndash;Desplanques "
           "theorem it is then invertible: for A x = 0, take the row i where |x<sub>i</sub>| is largest; "
           "|a<sub>ii</sub>| |x<sub>i</sub>| &le; &Sigma;<sub>j&ne;i</sub> |a<sub>ij</sub>| |x<sub>j</sub>| &le; "
           "(&Sigma;<sub>j&ne;i</sub> |a<sub>ij</sub>|) |x<sub>i</sub>| forces x<sub>i</sub> = 0, so x = 0.</p>"
           "<p>Dominance is <b>sufficient, not necessary</b>: a matrix with red rows can still be perfectly "
           "invertible and well conditioned. The gradual mask and a small stability factor keep the learned "
           "transforms close to dominant, which is why AffineQuant can invert them safely.</p>"));

    auto* rowPane = new QWidget(this);
    auto* rowLayout = new QVBoxLayout(rowPane);
    rowLayout->setContentsMargins(0, 0, 0, 0);
    rowLayout->addWidget(m_rowTitle);
    rowLayout->addWidget(m_rowPlot, 1);
    auto* splitter = new QSplitter(Qt::Vertical, this);
    splitter->addWidget(rowPane);
    splitter->addWidget(m_timelinePlot);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(splitter, 1);
    layout->addWidget(explanation);
    clearRowMargins();
}

void MarginView::setRowMargins(const QString& title, const QVector<double>& margins)
{
    QVector<double> keys, positive, nonPositive;
    QVector<double> badKeys;
    for (int i = 0; i < margins.size(); ++i) {
        if (margins[i] > 0) {
            keys.push_back(i);
            positive.push_back(margins[i]);
        } else {
            badKeys.push_back(i);
            nonPositive.push_back(margins[i]);
        }
    }
    m_dominantBars->setData(keys, positive, true);
    m_nonDominantBars->setData(badKeys, nonPositive, true);
    m_rowTitle->setText(tr("%1 — %2 of %3 rows strictly dominant").arg(title).arg(keys.size()).arg(margins.size()));
    m_rowPlot->rescaleAxes();
    QCPRange y = m_rowPlot->yAxis->range();
    y.expand(0.0);
    m_rowPlot->yAxis->setRange(y);
    m_rowPlot->yAxis->scaleRange(1.1, y.center());
    m_rowPlot->xAxis->setRange(-1, std::max<qsizetype>(margins.size(), 1));
    m_rowReplot->request();
}

void MarginView::clearRowMargins()
{
    m_dominantBars->data()->clear();
    m_nonDominantBars->data()->clear();
    m_rowTitle->setText(tr("No matrix selected: row margins appear with the first epoch of a run with matrix "
                           "transforms."));
    m_rowReplot->request();
}

QCPGraph* MarginView::timelineGraph(const QString& transform)
{
    auto it = m_timeline.find(transform);
    if (it != m_timeline.end())
        return it.value();
    QCPGraph* g = m_timelinePlot->addGraph();
    g->setName(transform);
    const QColor c = plotstyle::seriesColor(int(m_timeline.size()));
    g->setPen(QPen(c, 1.5));
    g->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, c, 4));
    m_timeline.insert(transform, g);
    return g;
}

void MarginView::addEpochMinimum(int block, int epoch, int epochs, const QString& transform, double minMargin)
{
    const double x = block + (epochs > 0 ? double(epoch) / epochs : 0.0);
    // addData keeps the container sorted, so a replayed epoch (after a rollback) lands in place; drop the old one.
    QCPGraph* g = timelineGraph(transform);
    g->data()->remove(x);
    g->addData(x, minMargin);
    m_timelineReplot->request();
}

void MarginView::clear()
{
    for (QCPGraph* g : std::as_const(m_timeline))
        m_timelinePlot->removeGraph(g);
    m_timeline.clear();
    clearRowMargins();
    m_timelineReplot->request();
}

int MarginView::dominantRowCount() const { return m_dominantBars->dataCount(); }
int MarginView::nonDominantRowCount() const { return m_nonDominantBars->dataCount(); }

int MarginView::timelinePointCount(const QString& transform) const
{
    const auto it = m_timeline.find(transform);
    return it == m_timeline.end() ? 0 : it.value()->dataCount();
}

}  // namespace aq::widgets
