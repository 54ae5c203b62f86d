#include "plotstyle.h"

#include <QComboBox>

#include <qcustomplot.h>

#include <algorithm>

namespace aq::widgets::plotstyle {

QColor seriesColor(int index)
{
    // Tableau-like palette: distinguishable on white and for common colour-vision deficiencies.
    static const QColor kPalette[] = {QColor(31, 119, 180), QColor(255, 127, 14), QColor(44, 160, 44),
                                      QColor(148, 103, 189), QColor(140, 86, 75),  QColor(227, 119, 194),
                                      QColor(127, 127, 127), QColor(188, 189, 34), QColor(23, 190, 207)};
    constexpr int kCount = int(sizeof(kPalette) / sizeof(kPalette[0]));
    const int i = index < 0 ? 0 : index;
    QColor c = kPalette[i % kCount];
    // Past one cycle, vary the lightness so that block 0 and block 9 are still told apart.
    const int cycle = i / kCount;
    return cycle == 0 ? c : c.darker(100 + 35 * (cycle % 3));
}

QColor warningColor() { return QColor(214, 39, 40); }

QCPColorGradient divergingGradient()
{
    QCPColorGradient g;
    g.setColorInterpolation(QCPColorGradient::ciRGB);
    g.setColorStopAt(0.0, QColor(33, 102, 172));
    g.setColorStopAt(0.25, QColor(146, 197, 222));
    g.setColorStopAt(0.5, QColor(247, 247, 247));
    g.setColorStopAt(0.75, QColor(244, 165, 130));
    g.setColorStopAt(1.0, QColor(178, 24, 43));
    g.setNanHandling(QCPColorGradient::nhTransparent);
    return g;
}

QCPColorGradient magnitudeGradient()
{
    QCPColorGradient g;
    g.setColorInterpolation(QCPColorGradient::ciRGB);
    g.setColorStopAt(0.0, QColor(255, 255, 255));
    g.setColorStopAt(0.5, QColor(107, 174, 214));
    g.setColorStopAt(1.0, QColor(8, 48, 107));
    g.setNanHandling(QCPColorGradient::nhTransparent);
    return g;
}

void keepSquareUnits(QCustomPlot* plot)
{
    const QRect rect = plot->axisRect()->rect();
    if (rect.width() <= 0 || rect.height() <= 0)
        return;
    const double xSpan = plot->xAxis->range().size(), ySpan = plot->yAxis->range().size();
    if (rect.width() / double(rect.height()) > xSpan / ySpan)
        plot->xAxis->setScaleRatio(plot->yAxis, 1.0);
    else
        plot->yAxis->setScaleRatio(plot->xAxis, 1.0);
}

void setLogScale(QCPAxis* axis, bool logarithmic)
{
    if (logarithmic) {
        axis->setScaleType(QCPAxis::stLogarithmic);
        axis->setTicker(QSharedPointer<QCPAxisTickerLog>(new QCPAxisTickerLog));
        axis->setNumberFormat(QStringLiteral("g"));
        axis->setNumberPrecision(3);
    } else {
        axis->setScaleType(QCPAxis::stLinear);
        axis->setTicker(QSharedPointer<QCPAxisTicker>(new QCPAxisTicker));
        axis->setNumberFormat(QStringLiteral("g"));
        axis->setNumberPrecision(6);
    }
}

double median(QVector<double> values)
{
    if (values.isEmpty())
        return 0;
    const auto mid = values.begin() + values.size() / 2;
    std::nth_element(values.begin(), mid, values.end());
    if (values.size() % 2 == 1)
        return *mid;
    const double upper = *mid;
    const double lower = *std::max_element(values.begin(), mid);
    return 0.5 * (lower + upper);
}

void addSortedItem(QComboBox* box, const QString& text, const QVariant& data)
{
    if (box->findData(data) >= 0)
        return;
    int pos = 0;
    while (pos < box->count() && box->itemData(pos).toInt() < data.toInt())
        ++pos;
    box->insertItem(pos, text, data);
}

}  // namespace aq::widgets::plotstyle
