#pragma once
// Colours and small helpers shared by the views, so that block 3 has the same colour in every plot.
#include <QColor>
#include <QVector>

class QCPAxis;
class QCPColorGradient;
class QCustomPlot;
class QComboBox;
class QString;
class QVariant;

namespace aq::widgets::plotstyle {

/// A distinct colour for series `index` (blocks, transforms); cycles through a fixed palette.
QColor seriesColor(int index);
/// Colour for values at or below zero (margins, non-dominant rows).
QColor warningColor();
/// Blue - white - red, for signed matrix entries with a symmetric range around zero.
QCPColorGradient divergingGradient();
/// White to dark blue, for magnitudes.
QCPColorGradient magnitudeGradient();
/// Switches an axis between linear and base-10 logarithmic scale, with a matching ticker.
void setLogScale(QCPAxis* axis, bool logarithmic);
/// One unit on the x axis as long as one on the y axis (square matrix cells, round discs): the axis with spare pixels
/// is widened around its current range rather than the other one cropped. Nothing happens before the plot has a size.
void keepSquareUnits(QCustomPlot* plot);
/// Median of the values (0 for an empty vector).
double median(QVector<double> values);
/// Adds an item whose data is an integer (a block index) unless present, keeping the items sorted by that integer.
void addSortedItem(QComboBox* box, const QString& text, const QVariant& data);

}  // namespace aq::widgets::plotstyle
