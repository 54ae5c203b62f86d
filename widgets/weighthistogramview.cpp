#include "weighthistogramview.h"

#include "plotexport.h"
#include "plotstyle.h"
#include "replotcoalescer.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QPainterPath>
#include <QVBoxLayout>

#include <qcustomplot.h>

#include <algorithm>

namespace aq::widgets {

WeightHistogramView::WeightHistogramView(QWidget* parent) : QWidget(parent)
{
    m_plot = new QCustomPlot(this);
    m_plot->setInteractions(QCP::iRangeZoom | QCP::iRangeDrag);
    m_plot->axisRect()->setRangeZoom(Qt::Horizontal);
    m_plot->axisRect()->setRangeDrag(Qt::Horizontal);
    m_plot->xAxis->setLabel(tr("weight value"));
    m_plot->yAxis->setLabel(tr("count"));
    m_bars = new QCPBars(m_plot->xAxis, m_plot->yAxis);
    m_bars->setName(tr("weights"));
    m_bars->setPen(Qt::NoPen);
    m_bars->setBrush(plotstyle::seriesColor(0));
    m_bars->setWidthType(QCPBars::wtPlotCoords);

    // Each grid level is a short vertical tick standing on the x axis: a custom scatter shape keeps its pixel size
    // while zooming (a custom path is scaled by size / 6, so 6 draws it as given; negative y is upwards).
    m_gridTicks = m_plot->addGraph();
    m_gridTicks->setName(tr("quantization grid levels"));
    m_gridTicks->setLineStyle(QCPGraph::lsNone);
    QPainterPath tick;
    tick.moveTo(0, 0);
    tick.lineTo(0, -14);
    m_gridTicks->setScatterStyle(QCPScatterStyle(tick, QPen(QColor(30, 30, 30), 1.5), Qt::NoBrush, 6));

    const QPen clipPen(plotstyle::warningColor(), 1.5, Qt::DashLine);
    m_clipLow = new QCPItemStraightLine(m_plot);
    m_clipHigh = new QCPItemStraightLine(m_plot);
    for (QCPItemStraightLine* line : {m_clipLow, m_clipHigh}) {
        line->setPen(clipPen);
        line->setVisible(false);
    }
    m_plot->legend->setVisible(true);
    m_plot->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignRight);
    m_replot = new ReplotCoalescer(m_plot, {}, this);
    new PlotExporter(m_plot, QStringLiteral("weight-histogram"), [this] { m_replot->flushNow(); });

    m_blockBox = new QComboBox(this);
    m_blockBox->setToolTip(tr("Transformer block."));
    m_layerBox = new QComboBox(this);
    m_layerBox->setToolTip(tr("Linear layer of the block whose (transformed) weight is shown."));
    m_summary = new QLabel(this);
    m_summary->setTextFormat(Qt::PlainText);
    m_summary->setWordWrap(true);
    auto* pickers = new QHBoxLayout;
    pickers->addWidget(new QLabel(tr("Block:"), this));
    pickers->addWidget(m_blockBox);
    pickers->addWidget(new QLabel(tr("Layer:"), this));
    pickers->addWidget(m_layerBox);
    pickers->addStretch(1);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addLayout(pickers);
    layout->addWidget(m_plot, 1);
    layout->addWidget(m_summary);

    connect(m_blockBox, &QComboBox::currentIndexChanged, this, &WeightHistogramView::render);
    connect(m_layerBox, &QComboBox::currentIndexChanged, this, &WeightHistogramView::render);
    render();
}

void WeightHistogramView::addHistogram(const WeightHistogramData& histogram)
{
    const bool first = m_histograms.isEmpty();
    m_histograms.insert(Key(histogram.block, histogram.layer), histogram);
    {
        const QSignalBlocker b1(m_blockBox);
        const QSignalBlocker b2(m_layerBox);
        plotstyle::addSortedItem(m_blockBox, QString::number(histogram.block), histogram.block);
        if (m_layerBox->findText(histogram.layer) < 0)
            m_layerBox->addItem(histogram.layer);
    }
    if (first)
        select(histogram.block, histogram.layer);
    else if (histogram.block == currentBlock() && histogram.layer == currentLayer())
        render();
}

void WeightHistogramView::clear()
{
    m_histograms.clear();
    {
        const QSignalBlocker b1(m_blockBox);
        const QSignalBlocker b2(m_layerBox);
        m_blockBox->clear();
        m_layerBox->clear();
    }
    render();
}

void WeightHistogramView::select(int block, const QString& layer)
{
    {
        const QSignalBlocker b1(m_blockBox);
        const QSignalBlocker b2(m_layerBox);
        m_blockBox->setCurrentIndex(m_blockBox->findData(block));
        m_layerBox->setCurrentIndex(m_layerBox->findText(layer));
    }
    render();
}

int WeightHistogramView::currentBlock() const
{
    return m_blockBox->currentIndex() < 0 ? -1 : m_blockBox->currentData().toInt();
}

QString WeightHistogramView::currentLayer() const { return m_layerBox->currentText(); }

int WeightHistogramView::binCount() const { return m_bars->dataCount(); }
int WeightHistogramView::gridLevelCount() const { return m_gridTicks->dataCount(); }

QPair<double, double> WeightHistogramView::clipLines() const
{
    return {m_clipLow->point1->key(), m_clipHigh->point1->key()};
}

void WeightHistogramView::render()
{
    m_bars->data()->clear();
    m_gridTicks->data()->clear();
    const auto it = m_histograms.constFind(Key(currentBlock(), currentLayer()));
    if (it == m_histograms.constEnd() || it->binEdges.size() != it->counts.size() + 1 || it->counts.isEmpty()) {
        m_clipLow->setVisible(false);
        m_clipHigh->setVisible(false);
        m_summary->setText(m_histograms.isEmpty() ? tr("No weight histogram yet: one arrives per layer once its block "
                                                       "is calibrated.")
                                                  : tr("No histogram for this block and layer."));
        m_replot->request();
        return;
    }
    const WeightHistogramData& h = it.value();
    QVector<double> centres(h.counts.size());
    for (int i = 0; i < h.counts.size(); ++i)
        centres[i] = 0.5 * (h.binEdges[i] + h.binEdges[i + 1]);
    m_bars->setWidth(h.binEdges[1] - h.binEdges[0]);
    m_bars->setData(centres, h.counts, true);
    QVector<double> zeros(h.gridLevels.size(), 0.0);
    m_gridTicks->setData(h.gridLevels, zeros);

    m_clipLow->point1->setCoords(h.clipLow, 0);
    m_clipLow->point2->setCoords(h.clipLow, 1);
    m_clipHigh->point1->setCoords(h.clipHigh, 0);
    m_clipHigh->point2->setCoords(h.clipHigh, 1);
    m_clipLow->setVisible(true);
    m_clipHigh->setVisible(true);

    double lo = std::min({h.binEdges.first(), h.clipLow, h.gridLevels.isEmpty() ? h.clipLow : h.gridLevels.first()});
    double hi = std::max({h.binEdges.last(), h.clipHigh, h.gridLevels.isEmpty() ? h.clipHigh : h.gridLevels.last()});
    const double pad = 0.03 * (hi - lo);
    m_plot->xAxis->setRange(lo - pad, hi + pad);
    const double maxCount = *std::max_element(h.counts.begin(), h.counts.end());
    m_plot->yAxis->setRange(0, std::max(1.0, maxCount * 1.1));

    double total = 0, clipped = 0;
    for (int i = 0; i < h.counts.size(); ++i) {
        total += h.counts[i];
        if (centres[i] < h.clipLow || centres[i] > h.clipHigh)
            clipped += h.counts[i];
    }
    m_summary->setText(tr("Clipping bounds of the first row/group: [%1, %2] (dashed), with its %3 grid levels "
                          "(ticks). %4% of all weights of the layer lie outside these bounds (other rows/groups have "
                          "bounds of their own).")
                           .arg(h.clipLow, 0, 'g', 4)
                           .arg(h.clipHigh, 0, 'g', 4)
                           .arg(h.gridLevels.size())
                           .arg(total > 0 ? 100.0 * clipped / total : 0.0, 0, 'f', 2));
    m_replot->request();
}

}  // namespace aq::widgets
