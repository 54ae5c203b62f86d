// The matrix heatmap view: one learned transform matrix, its mask and its stored epochs, shown as a colour map.
#include "matrixheatmapview.h"

#include "plotexport.h"
#include "plotstyle.h"
#include "replotcoalescer.h"

#include <QCheckBox>
#include <QComboBox>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QSlider>
#include <QToolTip>
#include <QVBoxLayout>

#include <qcustomplot.h>

#include <algorithm>
#include <cmath>

namespace aq::widgets {

namespace {

/// Coordinate of the centre of cell `index` in full-matrix indices: a downsampled cell covers `stride` rows.
double cellCentre(int index, int stride) { return index * double(stride) + (stride - 1) / 2.0; }

QCPRange cellRange(int count, int stride)
{
    const double lo = cellCentre(0, stride);
    const double hi = cellCentre(std::max(count - 1, 1), stride);
    return QCPRange(lo, hi);
}

}  // namespace

MatrixHeatmapView::MatrixHeatmapView(QWidget* parent) : QWidget(parent)
{
    createPlot();
    createColorMap();
    createMaskOverlay();
    setUpPlotOutput();
    createControls();
    layOut();
    connectControls();
    render();
}

void MatrixHeatmapView::createPlot()
{
    m_plot = new QCustomPlot(this);
    m_plot->setInteractions(QCP::iRangeZoom | QCP::iRangeDrag);
    m_plot->setMouseTracking(true);
    m_plot->xAxis->setLabel(tr("column"));
    m_plot->yAxis->setLabel(tr("row"));
    // Row 0 on top, as a matrix is written.
    m_plot->yAxis->setRangeReversed(true);
    m_plot->axisRect()->setupFullAxesBox(true);
}

/// The colour map of the entries and its colour scale, kept level with the axis rect.
void MatrixHeatmapView::createColorMap()
{
    m_map = new QCPColorMap(m_plot->xAxis, m_plot->yAxis);
    m_map->setName(tr("matrix entries"));  // names the series in the exported data
    m_map->setInterpolate(false);  // one crisp cell per entry
    m_map->setTightBoundary(false);
    m_scale = new QCPColorScale(m_plot);
    m_scale->setType(QCPAxis::atRight);
    m_scale->setRangeDrag(true);
    m_scale->setRangeZoom(true);
    m_plot->plotLayout()->addElement(0, 1, m_scale);
    m_map->setColorScale(m_scale);
    auto* margins = new QCPMarginGroup(m_plot);
    m_plot->axisRect()->setMarginGroup(QCP::msBottom | QCP::msTop, margins);
    m_scale->setMarginGroup(QCP::msBottom | QCP::msTop, margins);
}

void MatrixHeatmapView::createMaskOverlay()
{
    // Masked-out entries (mask == 0) get a translucent grey veil; inside the band the colours stay untouched.
    m_maskMap = new QCPColorMap(m_plot->xAxis, m_plot->yAxis);
    m_maskMap->setInterpolate(false);
    m_maskMap->setTightBoundary(false);
    QCPColorGradient veil;
    veil.setColorStopAt(0.0, QColor(0, 0, 0, 0));
    veil.setColorStopAt(1.0, QColor(60, 60, 60, 150));
    veil.setLevelCount(2);
    m_maskMap->setGradient(veil);
    m_maskMap->setDataRange(QCPRange(0, 1));
    m_maskMap->setName(tr("masked out"));
}

/// The replot coalescer and the export menu.
void MatrixHeatmapView::setUpPlotOutput()
{
    m_replot = new ReplotCoalescer(m_plot, {}, this);
    new PlotExporter(m_plot, QStringLiteral("matrix"), [this] { m_replot->flushNow(); });
}

/// The block and transform pickers, the epoch slider, the shading and scale switches and the info line.
void MatrixHeatmapView::createControls()
{
    m_blockBox = new QComboBox(this);
    m_blockBox->setToolTip(tr("Transformer block whose matrix is shown."));
    m_transformBox = new QComboBox(this);
    m_transformBox->setToolTip(tr("Which learned transform of the block: qkv (before q/k/v projections), fc1 (before "
                                  "the MLP), out (v to o projection, per head), qkt (between queries and keys)."));
    m_epochSlider = new QSlider(Qt::Horizontal, this);
    m_epochSlider->setToolTip(tr("Replay the matrix epoch by epoch. At the right end the view follows new epochs."));
    m_epochSlider->setEnabled(false);
    m_epochLabel = new QLabel(this);
    m_epochLabel->setMinimumWidth(m_epochLabel->fontMetrics().horizontalAdvance(QStringLiteral("epoch 000 / 000")));
    m_maskBox = new QCheckBox(tr("Shade &masked entries"), this);
    m_maskBox->setChecked(true);
    m_maskBox->setToolTip(tr("Grey out the entries outside the gradual mask's band: they are held at zero this "
                             "epoch."));
    m_logBox = new QCheckBox(tr("&Log |a|"), this);
    // On by default: learned off-diagonal entries are damped by the stability factor to a hundredth of the diagonal
    // or less, and a linear scale shows nothing but the diagonal.
    m_logBox->setChecked(true);
    m_logBox->setToolTip(tr("Colour by the magnitude on a logarithmic scale, so that small off-diagonal entries "
                            "become visible next to the diagonal."));
    m_infoLabel = new QLabel(this);
    m_infoLabel->setTextFormat(Qt::PlainText);
}

/// The pickers above the plot, the epoch slider and the info line below it.
void MatrixHeatmapView::layOut()
{
    auto* pickers = new QHBoxLayout;
    pickers->addWidget(new QLabel(tr("Block:"), this));
    pickers->addWidget(m_blockBox);
    pickers->addWidget(new QLabel(tr("Transform:"), this));
    pickers->addWidget(m_transformBox);
    pickers->addSpacing(12);
    pickers->addWidget(m_maskBox);
    pickers->addWidget(m_logBox);
    pickers->addStretch(1);
    auto* slider = new QHBoxLayout;
    slider->addWidget(new QLabel(tr("Epoch:"), this));
    slider->addWidget(m_epochSlider, 1);
    slider->addWidget(m_epochLabel);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addLayout(pickers);
    layout->addWidget(m_plot, 1);
    layout->addLayout(slider);
    layout->addWidget(m_infoLabel);
}

void MatrixHeatmapView::connectControls()
{
    connect(m_blockBox, &QComboBox::currentIndexChanged, this, &MatrixHeatmapView::onSelectionEdited);
    connect(m_transformBox, &QComboBox::currentIndexChanged, this, &MatrixHeatmapView::onSelectionEdited);
    connect(m_epochSlider, &QSlider::valueChanged, this, &MatrixHeatmapView::showHistoryIndex);
    connect(m_maskBox, &QCheckBox::toggled, this, &MatrixHeatmapView::setMaskShading);
    connect(m_logBox, &QCheckBox::toggled, this, &MatrixHeatmapView::setLogMagnitude);
    connect(m_plot, &QCustomPlot::mouseMove, this, &MatrixHeatmapView::showHoverText);
    connect(m_plot, &QCustomPlot::mouseWheel, this, [this] { m_userZoomed = true; });
    connect(m_plot, &QCustomPlot::mousePress, this, [this] { m_userZoomed = true; });
    connect(m_plot, &QCustomPlot::mouseDoubleClick, this, [this] {
        m_userZoomed = false;
        fitView();
    });
}

void MatrixHeatmapView::ensureBlock(int block)
{
    if (block < 0)
        return;
    if (m_blockBox->findData(block) < 0)
        setBlockCount(block + 1);
}

void MatrixHeatmapView::ensureTransform(const QString& transform)
{
    if (m_transformBox->findText(transform) < 0) {
        const QSignalBlocker blocker(m_transformBox);
        m_transformBox->addItem(transform);
    }
}

void MatrixHeatmapView::setBlockCount(int count)
{
    const int previous = currentBlock();
    {
        const QSignalBlocker blocker(m_blockBox);
        m_blockBox->clear();
        for (int b = 0; b < count; ++b)
            m_blockBox->addItem(QString::number(b), b);
        m_blockBox->setCurrentIndex(std::max(0, m_blockBox->findData(previous)));
    }
    if (currentBlock() != previous)
        onSelectionEdited();
}

void MatrixHeatmapView::setTransforms(const QStringList& transforms)
{
    const QString previous = currentTransform();
    {
        const QSignalBlocker blocker(m_transformBox);
        m_transformBox->clear();
        m_transformBox->addItems(transforms);
        m_transformBox->setCurrentIndex(std::max(0, m_transformBox->findText(previous)));
    }
    if (currentTransform() != previous)
        onSelectionEdited();
}

int MatrixHeatmapView::currentBlock() const
{
    return m_blockBox->currentIndex() < 0 ? -1 : m_blockBox->currentData().toInt();
}

QString MatrixHeatmapView::currentTransform() const { return m_transformBox->currentText(); }

void MatrixHeatmapView::addFrame(const MatrixFrame& frame)
{
    const bool firstEver = m_history.isEmpty();
    ensureBlock(frame.block);
    ensureTransform(frame.transform);
    QVector<MatrixFrame>& history = m_history[Key(frame.block, frame.transform)];
    auto pos = std::lower_bound(history.begin(), history.end(), frame.epoch,
                                [](const MatrixFrame& f, int epoch) { return f.epoch < epoch; });
    if (pos != history.end() && pos->epoch == frame.epoch)
        *pos = frame;
    else
        history.insert(pos, frame);

    if (firstEver && (currentBlock() != frame.block || currentTransform() != frame.transform)) {
        // Show something as soon as the first snapshot arrives rather than an empty plot.
        select(frame.block, frame.transform);
        return;
    }
    if (frame.block == currentBlock() && frame.transform == currentTransform())
        updateSlider(true);
}

void MatrixHeatmapView::clear()
{
    m_history.clear();
    m_shownIndex = -1;
    {
        const QSignalBlocker b1(m_blockBox);
        const QSignalBlocker b2(m_transformBox);
        m_blockBox->clear();
        m_transformBox->clear();
    }
    m_userZoomed = false;
    updateSlider(true);
}

void MatrixHeatmapView::select(int block, const QString& transform)
{
    ensureBlock(block);
    ensureTransform(transform);
    {
        const QSignalBlocker b1(m_blockBox);
        const QSignalBlocker b2(m_transformBox);
        m_blockBox->setCurrentIndex(m_blockBox->findData(block));
        m_transformBox->setCurrentIndex(m_transformBox->findText(transform));
    }
    onSelectionEdited();
}

void MatrixHeatmapView::onSelectionEdited()
{
    m_userZoomed = false;
    m_shownIndex = -1;
    updateSlider(true);
    emit selectionChanged(currentBlock(), currentTransform());
}

int MatrixHeatmapView::historySize() const { return historySize(currentBlock(), currentTransform()); }

int MatrixHeatmapView::historySize(int block, const QString& transform) const
{
    const auto it = m_history.constFind(Key(block, transform));
    return it == m_history.constEnd() ? 0 : int(it->size());
}

QVector<MatrixFrame> MatrixHeatmapView::history(int block, const QString& transform) const
{
    return m_history.value(Key(block, transform));
}

const MatrixFrame* MatrixHeatmapView::currentFrame() const
{
    const auto it = m_history.constFind(Key(currentBlock(), currentTransform()));
    if (it == m_history.constEnd() || m_shownIndex < 0 || m_shownIndex >= it->size())
        return nullptr;
    return &it->at(m_shownIndex);
}

void MatrixHeatmapView::updateSlider(bool followNewest)
{
    const int n = historySize();
    const bool atEnd = m_shownIndex < 0 || m_epochSlider->value() >= m_epochSlider->maximum();
    {
        const QSignalBlocker blocker(m_epochSlider);
        m_epochSlider->setRange(0, std::max(0, n - 1));
        m_epochSlider->setEnabled(n > 1);
    }
    int index = m_shownIndex;
    if (n == 0)
        index = -1;
    else if ((followNewest && atEnd) || index < 0 || index >= n)
        index = n - 1;
    {
        const QSignalBlocker blocker(m_epochSlider);
        m_epochSlider->setValue(std::max(0, index));
    }
    m_shownIndex = index;
    render();
}

void MatrixHeatmapView::showHistoryIndex(int index)
{
    const int n = historySize();
    if (n == 0)
        return;
    m_shownIndex = std::clamp(index, 0, n - 1);
    if (m_epochSlider->value() != m_shownIndex) {
        const QSignalBlocker blocker(m_epochSlider);
        m_epochSlider->setValue(m_shownIndex);
    }
    render();
}

void MatrixHeatmapView::render()
{
    const MatrixFrame* f = currentFrame();
    if (!f || f->rows <= 0 || f->cols <= 0 || f->values.size() < qsizetype(f->rows) * f->cols) {
        m_map->data()->clear();
        m_maskMap->data()->clear();
        m_epochLabel->clear();
        m_infoLabel->setText(m_history.isEmpty() ? tr("No matrix yet: snapshots arrive at the end of each epoch of "
                                                      "a run with matrix transforms.")
                                                 : tr("No snapshot of this matrix yet."));
        m_replot->request();
        return;
    }
    const bool logMag = m_logBox->isChecked();
    const int rows = f->rows, cols = f->cols;
    QCPColorMapData* data = m_map->data();
    data->setSize(cols, rows);
    data->setRange(cellRange(cols, f->stride), cellRange(rows, f->stride));
    float maxAbs = 0;
    bool anyNegative = false;
    for (float v : f->values) {
        maxAbs = std::max(maxAbs, std::abs(v));
        anyNegative = anyNegative || v < 0;
    }
    for (int r = 0; r < rows; ++r)
        for (int c = 0; c < cols; ++c) {
            const double v = f->values[qsizetype(r) * cols + c];
            // Zeros have no logarithm; NaN cells are drawn transparent by the gradient.
            data->setCell(c, r, logMag ? (v != 0 ? std::abs(v) : qQNaN()) : v);
        }
    if (logMag) {
        m_map->setGradient(plotstyle::magnitudeGradient());
        m_scale->setDataScaleType(QCPAxis::stLogarithmic);
        plotstyle::setLogScale(m_scale->axis(), true);
        const double top = maxAbs > 0 ? maxAbs : 1.0;
        m_map->setDataRange(QCPRange(top * 1e-5, top));
        m_scale->setLabel(tr("|a|"));
    } else {
        m_scale->setDataScaleType(QCPAxis::stLinear);
        plotstyle::setLogScale(m_scale->axis(), false);
        const double top = maxAbs > 0 ? maxAbs : 1.0;
        if (anyNegative) {
            m_map->setGradient(plotstyle::divergingGradient());
            m_map->setDataRange(QCPRange(-top, top));
        } else {
            m_map->setGradient(plotstyle::magnitudeGradient());
            m_map->setDataRange(QCPRange(0, top));
        }
        m_scale->setLabel(f->stride > 1 ? tr("mean |a| per tile") : tr("a"));
    }

    const bool haveMask = f->mask.size() == f->values.size();
    QCPColorMapData* mask = m_maskMap->data();
    mask->setSize(cols, rows);
    mask->setRange(cellRange(cols, f->stride), cellRange(rows, f->stride));
    int band = 0;
    for (int r = 0; r < rows; ++r)
        for (int c = 0; c < cols; ++c) {
            const float m = haveMask ? f->mask[qsizetype(r) * cols + c] : 1.0f;
            mask->setCell(c, r, m == 0.0f ? 1.0 : 0.0);
            if (m != 0.0f)
                band = std::max(band, std::abs(r - c) + 1);
        }
    m_maskMap->setVisible(haveMask && m_maskBox->isChecked());

    const int n = historySize();
    m_epochLabel->setText(tr("epoch %1 (%2 / %3)").arg(f->epoch).arg(m_shownIndex + 1).arg(n));
    QString info = tr("block %1, %2: %3 x %4").arg(f->block).arg(f->transform).arg(rows * f->stride).arg(
        cols * f->stride);
    if (f->stride > 1)
        info += tr(" (shown as %1 x %2 tiles of %3 x %3)").arg(rows).arg(cols).arg(f->stride);
    if (haveMask) {
        // Counted in cells; a downsampled cell spans `stride` diagonals.
        const int sideDiagonals = std::max(0, band - 1) * f->stride;
        info += f->stride > 1 ? tr("; mask band: about %n diagonal(s) on each side of the main one", nullptr,
                                   sideDiagonals)
                              : tr("; mask band: %n diagonal(s) on each side of the main one", nullptr, sideDiagonals);
    }
    m_infoLabel->setText(info);
    if (!m_userZoomed)
        fitView();
    m_replot->request();
    emit frameShown(f->block, f->transform, f->epoch);
}

void MatrixHeatmapView::fitView()
{
    const MatrixFrame* f = currentFrame();
    if (!f)
        return;
    const double half = f->stride / 2.0;
    const QCPRange xr = cellRange(f->cols, f->stride), yr = cellRange(f->rows, f->stride);
    m_plot->xAxis->setRange(xr.lower - half, xr.upper + half);
    m_plot->yAxis->setRange(yr.lower - half, yr.upper + half);
    plotstyle::keepSquareUnits(m_plot);  // square cells, the whole matrix in view
}

void MatrixHeatmapView::resizeEvent(QResizeEvent* event)
{
    QWidget::resizeEvent(event);
    if (!m_userZoomed) {
        fitView();
        m_replot->request();
    }
}

void MatrixHeatmapView::setMaskShading(bool enabled)
{
    if (m_maskBox->isChecked() != enabled)
        m_maskBox->setChecked(enabled);  // re-enters through toggled()
    else
        render();
}

bool MatrixHeatmapView::maskShading() const { return m_maskBox->isChecked(); }

void MatrixHeatmapView::setLogMagnitude(bool enabled)
{
    if (m_logBox->isChecked() != enabled)
        m_logBox->setChecked(enabled);
    else
        render();
}

bool MatrixHeatmapView::logMagnitude() const { return m_logBox->isChecked(); }

QString MatrixHeatmapView::toolTipAt(const QPointF& pixel) const
{
    const MatrixFrame* f = currentFrame();
    if (!f)
        return {};
    const double x = m_plot->xAxis->pixelToCoord(pixel.x());
    const double y = m_plot->yAxis->pixelToCoord(pixel.y());
    const int c = int(std::floor(x / f->stride + 0.5 - (f->stride - 1) / (2.0 * f->stride)));
    const int r = int(std::floor(y / f->stride + 0.5 - (f->stride - 1) / (2.0 * f->stride)));
    if (r < 0 || c < 0 || r >= f->rows || c >= f->cols)
        return {};
    const qsizetype i = qsizetype(r) * f->cols + c;
    QString text = f->stride > 1 ? tr("rows %1-%2, columns %3-%4: mean |a| %5")
                                       .arg(r * f->stride)
                                       .arg((r + 1) * f->stride - 1)
                                       .arg(c * f->stride)
                                       .arg((c + 1) * f->stride - 1)
                                       .arg(f->values[i], 0, 'g', 5)
                                 : tr("a[%1, %2] = %3").arg(r).arg(c).arg(f->values[i], 0, 'g', 5);
    if (f->mask.size() == f->values.size())
        text += tr(", mask %1").arg(f->mask[i], 0, 'g', 3);
    return text;
}

void MatrixHeatmapView::showHoverText(QMouseEvent* event)
{
    const QString text = toolTipAt(event->position());
    if (text.isEmpty())
        QToolTip::hideText();
    else
        QToolTip::showText(event->globalPosition().toPoint(), text, m_plot);
}

}  // namespace aq::widgets
