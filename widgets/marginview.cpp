// The margin view: diagonal-dominance row margins of one learned matrix and the smallest margin of each epoch.
#include "marginview.h"

#include "plotexport.h"
#include "plotstyle.h"
#include "replotcoalescer.h"

#include <QCheckBox>
#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QSplitter>
#include <QToolTip>
#include <QVBoxLayout>

#include <qcustomplot.h>

#include <algorithm>
#include <cmath>
#include <iterator>

namespace aq::widgets {

namespace {
constexpr double kHoverRadiusPx = 10.0;
constexpr int kMaxBlockLabels = 24;  ///< beyond this, label every n-th block so that the labels do not overlap
}  // namespace

MarginView::MarginView(QWidget* parent) : QWidget(parent)
{
    createPickers();
    createRowPlot();
    createTimelinePlot();
    setUpReplots();
    QLabel* explanation = createExplanation();
    layOut(explanation);
    connectControls();
    clearRowMargins();
}

/// The title of the row plot and the block, transform and epoch pickers.
void MarginView::createPickers()
{
    m_rowTitle = new QLabel(this);
    m_rowTitle->setTextFormat(Qt::PlainText);
    m_rowTitle->setWordWrap(true);

    m_blockBox = new QComboBox(this);
    m_blockBox->setToolTip(tr("Transformer block of the matrix whose row margins are shown."));
    m_transformBox = new QComboBox(this);
    m_transformBox->setToolTip(tr("Which learned transform: out (the value/output per-head matrices), qkt (the "
                                  "query/key per-head matrices), qkv and fc1 (the matrices after the norms)."));
    m_epochBox = new QComboBox(this);
    m_epochBox->setToolTip(tr("Epoch at whose end the matrix was taken."));
    m_followBox = new QCheckBox(tr("&Follow the newest epoch"), this);
    m_followBox->setChecked(true);
    m_followBox->setToolTip(tr("Show each new epoch's matrix of the selected transform as it arrives. Picking a block "
                               "or an epoch by hand, or clicking a point of the lower plot, stops following."));
}

void MarginView::createRowPlot()
{
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
}

void MarginView::createTimelinePlot()
{
    m_timelinePlot = new QCustomPlot(this);
    m_timelinePlot->setInteractions(QCP::iRangeZoom | QCP::iRangeDrag);
    m_timelinePlot->setMouseTracking(true);
    m_timelinePlot->xAxis->setLabel(tr("transformer block (each block's epochs from left to right)"));
    m_timelinePlot->yAxis->setLabel(tr("smallest row margin"));
    m_timelinePlot->legend->setVisible(true);
    m_timelinePlot->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignRight);
    auto* zero = new QCPItemStraightLine(m_timelinePlot);
    zero->point1->setCoords(0, 0);
    zero->point2->setCoords(1, 0);
    zero->setPen(QPen(plotstyle::warningColor(), 1, Qt::DashLine));
    // Block b occupies [b, b + 1): its number stands under the middle of its unit, lines separate the blocks.
    m_timelinePlot->xAxis->setTicker(QSharedPointer<QCPAxisTickerText>(new QCPAxisTickerText));
    m_timelinePlot->xAxis->grid()->setVisible(false);
}

/// The replot coalescers (the timeline's rescales before each replot) and the export menus of both plots.
void MarginView::setUpReplots()
{
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
}

QLabel* MarginView::createExplanation()
{
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
    return explanation;
}

/// The pickers, title and row plot over the timeline in a splitter, the explanation below.
void MarginView::layOut(QLabel* explanation)
{
    auto* pickers = new QHBoxLayout;
    pickers->addWidget(new QLabel(tr("Block:"), this));
    pickers->addWidget(m_blockBox);
    pickers->addWidget(new QLabel(tr("Transform:"), this));
    pickers->addWidget(m_transformBox);
    pickers->addWidget(new QLabel(tr("Epoch:"), this));
    pickers->addWidget(m_epochBox);
    pickers->addWidget(m_followBox);
    pickers->addStretch(1);
    auto* rowPane = new QWidget(this);
    auto* rowLayout = new QVBoxLayout(rowPane);
    rowLayout->setContentsMargins(0, 0, 0, 0);
    rowLayout->addLayout(pickers);
    rowLayout->addWidget(m_rowTitle);
    rowLayout->addWidget(m_rowPlot, 1);
    auto* splitter = new QSplitter(Qt::Vertical, this);
    splitter->addWidget(rowPane);
    splitter->addWidget(m_timelinePlot);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(splitter, 1);
    layout->addWidget(explanation);
}

void MarginView::connectControls()
{
    auto onPicked = [this] {
        fillEpochs(-1);
        requestRows();
    };
    connect(m_blockBox, &QComboBox::currentIndexChanged, this, onPicked);
    connect(m_transformBox, &QComboBox::currentIndexChanged, this, onPicked);
    connect(m_epochBox, &QComboBox::currentIndexChanged, this, &MarginView::requestRows);
    // A block or an epoch picked by hand is a wish to look at that matrix: new epochs must not take it away.
    connect(m_blockBox, &QComboBox::activated, this, [this] { setFollowNewest(false); });
    connect(m_epochBox, &QComboBox::activated, this, [this] { setFollowNewest(false); });
    connect(m_timelinePlot, &QCustomPlot::mouseMove, this, &MarginView::showTimelineHover);
    connect(m_timelinePlot, &QCustomPlot::plottableClick, this, [this](QCPAbstractPlottable*, int, QMouseEvent* event) {
        QString transform;
        EpochPoint p;
        if (!pointAt(event->position(), &transform, &p))
            return;
        setFollowNewest(false);
        select(p.block, transform, p.epoch);
    });
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
    // A gap at the end of the block: the line of one block's epochs does not run on into the next block.
    const double gap = block + 1.0 - 0.25 / std::max(1, epochs);
    if (g->data()->findBegin(gap, false) == g->data()->constEnd() || g->data()->findBegin(gap, false)->key != gap)
        g->addData(gap, qQNaN());
    m_points[transform].insert(x, {block, epoch, std::max(1, epochs), minMargin});
    bool newBlock = false;
    {
        const QSignalBlocker b1(m_blockBox);
        const QSignalBlocker b2(m_transformBox);
        newBlock = m_blockBox->findData(block) < 0;
        plotstyle::addSortedItem(m_blockBox, QString::number(block), block);
        if (m_transformBox->findText(transform) < 0)
            m_transformBox->addItem(transform);
    }
    if (newBlock)
        updateBlockAxis();
    const bool nothingShown = selectedEpoch() < 0;
    if (nothingShown || (followsNewest() && transform == selectedTransform()))
        select(block, transform, epoch);
    else if (block == selectedBlock() && transform == selectedTransform())
        fillEpochs(selectedEpoch());  // one more epoch to pick; the shown one stays
    m_timelineReplot->request();
}

void MarginView::select(int block, const QString& transform, int epoch)
{
    {
        const QSignalBlocker b1(m_blockBox);
        const QSignalBlocker b2(m_transformBox);
        m_blockBox->setCurrentIndex(m_blockBox->findData(block));
        m_transformBox->setCurrentIndex(m_transformBox->findText(transform));
    }
    fillEpochs(epoch);
    requestRows();
}

int MarginView::selectedBlock() const
{
    return m_blockBox->currentIndex() < 0 ? -1 : m_blockBox->currentData().toInt();
}

QString MarginView::selectedTransform() const { return m_transformBox->currentText(); }

int MarginView::selectedEpoch() const
{
    return m_epochBox->currentIndex() < 0 ? -1 : m_epochBox->currentData().toInt();
}

void MarginView::setFollowNewest(bool follow) { m_followBox->setChecked(follow); }

bool MarginView::followsNewest() const { return m_followBox->isChecked(); }

void MarginView::fillEpochs(int preferredEpoch)
{
    const QSignalBlocker blocker(m_epochBox);
    const int previous = selectedEpoch();
    m_epochBox->clear();
    const int block = selectedBlock();
    const auto it = m_points.constFind(selectedTransform());
    if (it != m_points.constEnd())
        for (const EpochPoint& p : it.value())  // in x order: the block's epochs ascend
            if (p.block == block)
                m_epochBox->addItem(QString::number(p.epoch), p.epoch);
    int index = m_epochBox->findData(preferredEpoch);
    if (index < 0)
        index = m_epochBox->findData(previous);
    m_epochBox->setCurrentIndex(index >= 0 ? index : m_epochBox->count() - 1);
}

void MarginView::requestRows()
{
    const int block = selectedBlock(), epoch = selectedEpoch();
    const QString transform = selectedTransform();
    if (epoch < 0) {
        clearRowMargins();
        if (!m_points.isEmpty())
            m_rowTitle->setText(tr("No margins of %1 in block %2.").arg(transform).arg(block));
        return;
    }
    // What stays on screen unless the owner has this matrix's rows: a reopened run keeps only the minima.
    m_dominantBars->data()->clear();
    m_nonDominantBars->data()->clear();
    double minimum = 0;
    for (const EpochPoint& p : m_points.value(transform))
        if (p.block == block && p.epoch == epoch)
            minimum = p.minMargin;
    m_rowTitle->setText(tr("Block %1, %2, epoch %3: only the smallest row margin, %4, is known (a reopened run keeps "
                           "each epoch's smallest margin, not every row's).")
                            .arg(block)
                            .arg(transform)
                            .arg(epoch)
                            .arg(minimum, 0, 'g', 4));
    m_rowReplot->request();
    emit rowMarginsRequested(block, transform, epoch);
}

void MarginView::updateBlockAxis()
{
    for (QCPItemStraightLine* line : std::as_const(m_separators))
        m_timelinePlot->removeItem(line);
    m_separators.clear();
    QVector<int> blocks;
    for (int i = 0; i < m_blockBox->count(); ++i)
        blocks.push_back(m_blockBox->itemData(i).toInt());  // sorted by addSortedItem
    const QPen pen(QColor(150, 150, 150), 1, Qt::DotLine);
    for (int i = 1; i < blocks.size(); ++i) {
        auto* line = new QCPItemStraightLine(m_timelinePlot);
        line->point1->setCoords(blocks[i], 0);
        line->point2->setCoords(blocks[i], 1);
        line->setPen(pen);
        line->setLayer(QStringLiteral("grid"));
        m_separators.push_back(line);
    }
    auto ticker = qSharedPointerDynamicCast<QCPAxisTickerText>(m_timelinePlot->xAxis->ticker());
    ticker->clear();
    const int every = int((blocks.size() + kMaxBlockLabels - 1) / kMaxBlockLabels);
    for (int i = 0; i < blocks.size(); i += std::max(1, every))
        ticker->addTick(blocks[i] + 0.5, QString::number(blocks[i]));
}

bool MarginView::pointAt(const QPointF& pixel, QString* transform, EpochPoint* point) const
{
    const QCPAxis* x = m_timelinePlot->xAxis;
    const QCPAxis* y = m_timelinePlot->yAxis;
    double best = kHoverRadiusPx;
    bool found = false;
    const double from = x->pixelToCoord(pixel.x() - kHoverRadiusPx), to = x->pixelToCoord(pixel.x() + kHoverRadiusPx);
    for (auto t = m_points.cbegin(); t != m_points.cend(); ++t) {
        const auto end = t->upperBound(std::max(from, to));
        for (auto it = t->lowerBound(std::min(from, to)); it != end; ++it) {
            const double dist = std::hypot(x->coordToPixel(it.key()) - pixel.x(), y->coordToPixel(it->minMargin) - pixel.y());
            if (dist < best) {
                best = dist;
                *transform = t.key();
                *point = it.value();
                found = true;
            }
        }
    }
    return found;
}

QString MarginView::timelineToolTipAt(const QPointF& pixel) const
{
    QString transform;
    EpochPoint p;
    if (!pointAt(pixel, &transform, &p))
        return {};
    return tr("block %1, %2, epoch %3 (of %4): smallest row margin %5")
        .arg(p.block)
        .arg(transform)
        .arg(p.epoch)
        .arg(p.epochs)
        .arg(p.minMargin, 0, 'g', 4);
}

void MarginView::showTimelineHover(QMouseEvent* event)
{
    const QString text = timelineToolTipAt(event->position());
    if (text.isEmpty())
        QToolTip::hideText();
    else
        QToolTip::showText(event->globalPosition().toPoint(), text, m_timelinePlot);
}

void MarginView::clear()
{
    for (QCPGraph* g : std::as_const(m_timeline))
        m_timelinePlot->removeGraph(g);
    m_timeline.clear();
    m_points.clear();
    {
        const QSignalBlocker b1(m_blockBox);
        const QSignalBlocker b2(m_transformBox);
        const QSignalBlocker b3(m_epochBox);
        m_blockBox->clear();
        m_transformBox->clear();
        m_epochBox->clear();
    }
    updateBlockAxis();
    clearRowMargins();
    m_timelineReplot->request();
}

int MarginView::dominantRowCount() const { return m_dominantBars->dataCount(); }
int MarginView::nonDominantRowCount() const { return m_nonDominantBars->dataCount(); }
QString MarginView::rowTitle() const { return m_rowTitle->text(); }

int MarginView::timelinePointCount(const QString& transform) const
{
    const auto it = m_points.find(transform);
    return it == m_points.end() ? 0 : int(it->size());
}

}  // namespace aq::widgets
