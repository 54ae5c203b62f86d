#include "weighthistogramview.h"

#include "blockpicker.h"
#include "plotexport.h"
#include "plotstyle.h"
#include "replotcoalescer.h"

#include <QCheckBox>
#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QPainterPath>
#include <QVBoxLayout>

#include <qcustomplot.h>

#include <algorithm>

namespace aq::widgets {

namespace {
/// Lower end of the logarithmic count axis: below one weight, so that a bin of one still shows, and above zero,
/// where the logarithm has no place (empty bins simply draw nothing).
constexpr double kLogCountFloor = 0.5;

QColor bandColor()
{
    QColor c = plotstyle::warningColor();
    c.setAlpha(50);
    return c;
}
}  // namespace

WeightHistogramView::WeightHistogramView(QWidget* parent) : QWidget(parent)
{
    m_plot = new QCustomPlot(this);
    m_plot->setInteractions(QCP::iRangeZoom | QCP::iRangeDrag);
    m_plot->axisRect()->setRangeZoom(Qt::Horizontal);
    m_plot->axisRect()->setRangeDrag(Qt::Horizontal);
    m_plot->xAxis->setLabel(tr("weight value"));
    m_plot->yAxis->setLabel(tr("number of weights"));
    m_bars = new QCPBars(m_plot->xAxis, m_plot->yAxis);
    m_bars->setName(tr("weights of the layer"));
    m_bars->setPen(Qt::NoPen);
    m_bars->setBrush(plotstyle::seriesColor(0));
    m_bars->setWidthType(QCPBars::wtPlotCoords);

    // Each grid level is a short vertical tick standing on the x axis: a custom scatter shape keeps its pixel size
    // while zooming (a custom path is scaled by size / 6, so 6 draws it as given; negative y is upwards).
    m_gridTicks = m_plot->addGraph();
    m_gridTicks->setName(tr("grid levels of the first row/group"));
    m_gridTicks->setLineStyle(QCPGraph::lsNone);
    QPainterPath tick;
    tick.moveTo(0, 0);
    tick.lineTo(0, -14);
    m_gridTicks->setScatterStyle(QCPScatterStyle(tick, QPen(QColor(30, 30, 30), 1.5), Qt::NoBrush, 6));

    // The bounds are items (they span the axis rect whatever the zoom), which have no legend entries: two empty
    // graphs drawn like them stand in for them in the legend.
    const QPen clipPen(plotstyle::warningColor(), 1.5, Qt::DashLine);
    m_clipLow = new QCPItemStraightLine(m_plot);
    m_clipHigh = new QCPItemStraightLine(m_plot);
    for (QCPItemStraightLine* line : {m_clipLow, m_clipHigh})
        line->setPen(clipPen);
    m_boundsKey = m_plot->addGraph();
    m_boundsKey->setName(tr("clipping bounds of the first row/group"));
    m_boundsKey->setPen(clipPen);
    m_lowBand = new QCPItemRect(m_plot);
    m_highBand = new QCPItemRect(m_plot);
    for (QCPItemRect* band : {m_lowBand, m_highBand}) {
        band->setPen(Qt::NoPen);
        band->setBrush(bandColor());
        band->setLayer(QStringLiteral("grid"));  // under the bars
        for (QCPItemPosition* p : {band->topLeft, band->bottomRight}) {
            p->setAxisRect(m_plot->axisRect());
            p->setTypeX(QCPItemPosition::ptPlotCoords);
            p->setTypeY(QCPItemPosition::ptAxisRectRatio);
        }
    }
    m_bandKey = m_plot->addGraph();
    m_bandKey->setName(tr("range of the bounds of all rows/groups"));
    m_bandKey->setPen(Qt::NoPen);
    m_bandKey->setBrush(bandColor());

    m_plot->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignRight);
    m_replot = new ReplotCoalescer(m_plot, {}, this);
    new PlotExporter(m_plot, QStringLiteral("weight-histogram"), [this] { m_replot->flushNow(); });

    m_blockBox = new BlockPicker(this);
    m_layerBox = new QComboBox(this);
    m_layerBox->setToolTip(tr("Linear layer of the block whose (transformed) weight is shown."));
    // Items arrive after the view is shown: the boxes must grow with them ("self_attn.q_proj" is long).
    m_blockBox->setSizeAdjustPolicy(QComboBox::AdjustToContents);
    m_layerBox->setSizeAdjustPolicy(QComboBox::AdjustToContents);
    m_logBox = new QCheckBox(tr("&Logarithmic counts"), this);
    m_logBox->setChecked(m_logCounts);
    m_logBox->setToolTip(tr("Count weights on a base-10 logarithmic axis: the tails that clipping cuts hold few "
                            "weights and vanish on a linear axis. Empty bins draw nothing."));
    m_summary = new QLabel(this);
    m_summary->setTextFormat(Qt::PlainText);
    m_summary->setWordWrap(true);
    auto* pickers = new QHBoxLayout;
    pickers->addWidget(new QLabel(tr("Block:"), this));
    pickers->addWidget(m_blockBox);
    pickers->addWidget(new QLabel(tr("Layer:"), this));
    pickers->addWidget(m_layerBox);
    pickers->addStretch(1);
    pickers->addWidget(m_logBox);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addLayout(pickers);
    layout->addWidget(m_plot, 1);
    layout->addWidget(m_summary);

    connect(m_blockBox, &QComboBox::currentIndexChanged, this, &WeightHistogramView::render);
    connect(m_layerBox, &QComboBox::currentIndexChanged, this, &WeightHistogramView::render);
    connect(m_logBox, &QCheckBox::toggled, this, &WeightHistogramView::setLogCounts);
    plotstyle::setLogScale(m_plot->yAxis, m_logCounts);
    render();
}

void WeightHistogramView::addHistogram(const WeightHistogramData& histogram)
{
    const bool first = m_histograms.isEmpty();
    m_histograms.insert(Key(histogram.block, histogram.layer), histogram);
    {
        const QSignalBlocker b1(m_blockBox);
        const QSignalBlocker b2(m_layerBox);
        m_blockBox->addBlock(histogram.block);
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
        m_blockBox->setCurrentBlock(block);
        m_layerBox->setCurrentIndex(m_layerBox->findText(layer));
    }
    render();
}

int WeightHistogramView::currentBlock() const
{
    return m_blockBox->currentBlock();
}

QString WeightHistogramView::currentLayer() const { return m_layerBox->currentText(); }

void WeightHistogramView::setLogCounts(bool logarithmic)
{
    if (m_logCounts == logarithmic)
        return;
    m_logCounts = logarithmic;
    {
        const QSignalBlocker block(m_logBox);
        m_logBox->setChecked(logarithmic);
    }
    plotstyle::setLogScale(m_plot->yAxis, logarithmic);
    render();
}

int WeightHistogramView::binCount() const { return m_bars->dataCount(); }
int WeightHistogramView::gridLevelCount() const { return m_gridTicks->dataCount(); }

QPair<double, double> WeightHistogramView::clipLines() const
{
    return {m_clipLow->point1->key(), m_clipHigh->point1->key()};
}

QPair<double, double> WeightHistogramView::lowerBoundRange() const
{
    if (!m_lowBand->visible())
        return {};
    return {m_lowBand->topLeft->key(), m_lowBand->bottomRight->key()};
}

QPair<double, double> WeightHistogramView::upperBoundRange() const
{
    if (!m_highBand->visible())
        return {};
    return {m_highBand->topLeft->key(), m_highBand->bottomRight->key()};
}

qint64 WeightHistogramView::outsideCount() const { return m_outside; }

QString WeightHistogramView::summaryText() const { return m_summary->text(); }

void WeightHistogramView::render()
{
    m_bars->data()->clear();
    m_gridTicks->data()->clear();
    m_outside = -1;
    const auto it = m_histograms.constFind(Key(currentBlock(), currentLayer()));
    if (it == m_histograms.constEnd() || it->binEdges.size() != it->counts.size() + 1 || it->counts.isEmpty()) {
        for (QCPAbstractItem* item : std::initializer_list<QCPAbstractItem*>{m_clipLow, m_clipHigh, m_lowBand, m_highBand})
            item->setVisible(false);
        m_plot->legend->setVisible(false);
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

    const double maxCount = *std::max_element(h.counts.begin(), h.counts.end());
    const double countLow = m_logCounts ? kLogCountFloor : 0.0;
    m_plot->yAxis->setRange(countLow, m_logCounts ? std::max(10.0, maxCount * 3) : std::max(1.0, maxCount * 1.1));
    // The ticks stand on the bottom of the count axis (zero has no place on a logarithmic one).
    m_gridTicks->setData(h.gridLevels, QVector<double>(h.gridLevels.size(), countLow));

    m_clipLow->point1->setCoords(h.clipLow, 0);
    m_clipLow->point2->setCoords(h.clipLow, 1);
    m_clipHigh->point1->setCoords(h.clipHigh, 0);
    m_clipHigh->point2->setCoords(h.clipHigh, 1);
    m_clipLow->setVisible(true);
    m_clipHigh->setVisible(true);
    m_lowBand->topLeft->setCoords(h.clipLowMin, 0);
    m_lowBand->bottomRight->setCoords(h.clipLowMax, 1);
    m_highBand->topLeft->setCoords(h.clipHighMin, 0);
    m_highBand->bottomRight->setCoords(h.clipHighMax, 1);
    m_lowBand->setVisible(true);
    m_highBand->setVisible(true);
    m_plot->legend->setVisible(true);

    const double lo = std::min({h.binEdges.first(), h.clipLow, h.clipLowMin,
                                h.gridLevels.isEmpty() ? h.clipLow : h.gridLevels.first()});
    const double hi = std::max({h.binEdges.last(), h.clipHigh, h.clipHighMax,
                                h.gridLevels.isEmpty() ? h.clipHigh : h.gridLevels.last()});
    const double pad = 0.03 * (hi - lo);
    m_plot->xAxis->setRange(lo - pad, hi + pad);

    double total = 0;
    for (double c : h.counts)
        total += c;
    m_outside = h.clippedBelow + h.clippedAbove;
    m_summary->setText(tr("First row/group (dashed, ticks): bounds [%1, %2], %3 grid levels. All rows/groups "
                          "(shaded): lower bounds %4 to %5, upper bounds %6 to %7. Outside the bounds of their own "
                          "row/group: %8 weights (%9%), %10 below and %11 above.")
                           .arg(h.clipLow, 0, 'g', 4)
                           .arg(h.clipHigh, 0, 'g', 4)
                           .arg(h.gridLevels.size())
                           .arg(h.clipLowMin, 0, 'g', 4)
                           .arg(h.clipLowMax, 0, 'g', 4)
                           .arg(h.clipHighMin, 0, 'g', 4)
                           .arg(h.clipHighMax, 0, 'g', 4)
                           .arg(m_outside)
                           .arg(total > 0 ? 100.0 * double(m_outside) / total : 0.0, 0, 'f', 3)
                           .arg(h.clippedBelow)
                           .arg(h.clippedAbove));
    m_replot->request();
}

}  // namespace aq::widgets
