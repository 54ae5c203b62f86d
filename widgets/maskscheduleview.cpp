#include "maskscheduleview.h"
#include "plotexport.h"

#include "matrixmath.h"
#include "plotstyle.h"
#include "replotcoalescer.h"

#include <QLabel>
#include <QVBoxLayout>

#include <qcustomplot.h>

#include <algorithm>
#include <cstdlib>
#include <numeric>
#include <utility>

namespace aq::widgets {

namespace {
int textLength(const QFont& font, const QString& text)
{
    return QFontMetrics(font).boundingRect(QRect(), Qt::TextDontClip, text).width();
}

/// `title` as it fits along an axis `length` pixels long: on one line, else on two lines broken at the space nearest
/// the middle (or in the middle, for text without spaces), else elided.
QString fittedTitle(const QString& title, const QFont& font, int length)
{
    if (textLength(font, title) <= length)
        return title;
    const int middle = int(title.size() / 2);
    int cut = -1;
    for (int i = 0; i < title.size(); ++i)
        if (title[i] == QLatin1Char(' ') && (cut < 0 || std::abs(i - middle) < std::abs(cut - middle)))
            cut = i;
    const QString first = cut >= 0 ? title.left(cut) : title.left(middle);
    const QString second = cut >= 0 ? title.mid(cut + 1) : title.mid(middle);
    const QFontMetrics fm(font);
    return fm.elidedText(first, Qt::ElideRight, length) + QLatin1Char('\n') + fm.elidedText(second, Qt::ElideRight, length);
}
}  // namespace

MaskScheduleView::MaskScheduleView(QWidget* parent) : QWidget(parent), m_bandWidth(&matrixmath::bandWidth)
{
    m_plot = new QCustomPlot(this);
    m_plot->xAxis->setLabel(tr("epoch"));
    m_leftTitle = tr("band width N_e");
    m_rightTitle = tr("sf x off-diagonals per row");
    m_plot->yAxis->setLabel(m_leftTitle);
    m_plot->yAxis2->setVisible(true);
    m_plot->yAxis2->setLabel(m_rightTitle);
    m_plot->yAxis2->setTickLabels(true);
    m_bars = new QCPBars(m_plot->xAxis, m_plot->yAxis);
    m_bars->setName(tr("diagonals trained (N_e)"));
    m_bars->setPen(Qt::NoPen);
    m_bars->setBrush(plotstyle::seriesColor(0).lighter(140));
    m_bars->setWidth(0.8);
    m_share = new QCPGraph(m_plot->xAxis, m_plot->yAxis2);
    m_share->setName(tr("off-diagonal share of a row"));
    m_share->setPen(QPen(plotstyle::seriesColor(1), 2));
    m_share->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, 4));
    auto* limit = new QCPItemStraightLine(m_plot);
    limit->point1->setAxes(m_plot->xAxis, m_plot->yAxis2);
    limit->point2->setAxes(m_plot->xAxis, m_plot->yAxis2);
    limit->point1->setCoords(0, 1);
    limit->point2->setCoords(1, 1);
    limit->setPen(QPen(plotstyle::warningColor(), 1, Qt::DashLine));
    // No legend (it would cover the bars in a plot this small): each axis label takes the colour of its series.
    m_plot->yAxis->setLabelColor(plotstyle::seriesColor(0));
    m_plot->yAxis2->setLabelColor(plotstyle::seriesColor(1));
    m_replot = new ReplotCoalescer(m_plot, {}, this);
    connect(m_plot, &QCustomPlot::afterLayout, this, &MaskScheduleView::fitAxisTitles);
    new PlotExporter(m_plot, QStringLiteral("mask-schedule"), [this] { m_replot->flushNow(); });

    m_summary = new QLabel(this);
    m_summary->setWordWrap(true);
    m_summary->setTextFormat(Qt::PlainText);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(m_plot, 1);
    layout->addWidget(m_summary);
    setToolTip(tr("Epoch e trains the diagonals with |i - j| < N_e; off-diagonal entries are multiplied by the "
                  "stability factor. The dashed line marks where the off-diagonal share of a row could exceed its "
                  "diagonal (if the entries were of equal size): beyond it, diagonal dominance is no longer "
                  "guaranteed by the mask alone."));
    setSchedule(256, 20, 1e-2);
}

void MaskScheduleView::setBandWidthFunction(BandWidthFunction bandWidth)
{
    m_bandWidth = std::move(bandWidth);
    setSchedule(m_size, m_epochs, m_stabilityFactor, m_headSize);
}

void MaskScheduleView::fitAxisTitles()
{
    // The titles run along the axis rect's height, which the layout just settled; a title longer than that would be
    // cut off at the widget's edges (in a short plot, or in a language with longer words).
    const int length = m_plot->axisRect()->height() - 4;
    if (length <= 0)
        return;
    bool changed = false;
    for (auto [axis, title] : {std::pair{m_plot->yAxis, m_leftTitle}, std::pair{m_plot->yAxis2, m_rightTitle}}) {
        const QString fitted = fittedTitle(title, axis->labelFont(), length);
        if (axis->label() != fitted) {
            axis->setLabel(fitted);
            changed = true;
        }
    }
    if (!changed)
        return;
    // A two-line title needs a wider margin: lay out again before this replot draws (the height stays the same).
    for (auto phase : {QCPLayoutElement::upPreparation, QCPLayoutElement::upMargins, QCPLayoutElement::upLayout})
        m_plot->plotLayout()->update(phase);
}

void MaskScheduleView::setSchedule(long long size, int epochs, double stabilityFactor, long long headSize)
{
    m_size = std::max(1LL, size);
    m_epochs = epochs;
    m_stabilityFactor = stabilityFactor;
    m_headSize = headSize;
    const int shown = std::max(1, epochs);
    m_bandWidths.resize(shown);
    m_offDiagonalShare.resize(shown);
    QVector<double> x(shown);
    std::iota(x.begin(), x.end(), 0.0);
    for (int e = 0; e < shown; ++e) {
        const long long n = m_bandWidth(m_size, epochs, e);
        m_bandWidths[e] = double(n);
        // A row in the middle of the band has up to N_e - 1 active entries on each side.
        m_offDiagonalShare[e] = stabilityFactor * 2.0 * double(std::min(n - 1, m_size - 1));
    }
    m_bars->setData(x, m_bandWidths, true);
    m_share->setData(x, m_offDiagonalShare, true);
    m_plot->xAxis->setRange(-0.6, shown - 0.4);
    m_plot->yAxis->setRange(0, double(m_size) * 1.05);
    const double maxShare = *std::max_element(m_offDiagonalShare.begin(), m_offDiagonalShare.end());
    m_plot->yAxis2->setRange(0, std::max(1.2, maxShare * 1.1));

    QString text = epochs <= 0 ? tr("0 epochs: the initial transforms are merged untrained.")
                               : tr("d = %1, %2 epoch(s), stability factor %3: N_e grows from 1 to %4.")
                                     .arg(m_size)
                                     .arg(epochs)
                                     .arg(stabilityFactor)
                                     .arg(qint64(m_bandWidths.last()));
    if (headSize > 0 && epochs > 0) {
        QStringList head;
        for (int e = 0; e < std::min(epochs, 4); ++e)
            head << QString::number(m_bandWidth(headSize, epochs, e));
        text += QLatin1Char(' ') + tr("Per-head blocks (h = %1): N'_e = %2, …").arg(headSize).arg(head.join(", "));
    }
    m_summary->setText(text);
    m_replot->request();
}

}  // namespace aq::widgets
