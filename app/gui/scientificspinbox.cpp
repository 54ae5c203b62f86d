#include "scientificspinbox.h"

#include <QLocale>

#include <algorithm>
#include <cmath>

namespace aq::gui {

ScientificSpinBox::ScientificSpinBox(QWidget* parent) : QDoubleSpinBox(parent)
{
    // QDoubleSpinBox rounds the value to `decimals`; keep enough for 1e-8 and below.
    setDecimals(15);
    setRange(0, 1e12);
    setKeyboardTracking(false);
}

QString ScientificSpinBox::textFromValue(double value) const
{
    return locale().toString(value, 'g', 6);
}

double ScientificSpinBox::valueFromText(const QString& text) const
{
    bool ok = false;
    const double v = locale().toDouble(text.trimmed(), &ok);
    return ok ? v : value();
}

QValidator::State ScientificSpinBox::validate(QString& text, int& pos) const
{
    Q_UNUSED(pos);
    const QString t = text.trimmed();
    if (t.isEmpty())
        return QValidator::Intermediate;
    bool ok = false;
    const double v = locale().toDouble(t, &ok);
    if (ok)
        return (v >= minimum() && v <= maximum()) ? QValidator::Acceptable : QValidator::Intermediate;
    // Allow typing in progress: "1e", "1e-", "-", "0.".
    const QString kPartial = QStringLiteral("0123456789eE+-") + locale().decimalPoint();
    for (QChar c : t)
        if (!kPartial.contains(c))
            return QValidator::Invalid;
    return QValidator::Intermediate;
}

void ScientificSpinBox::stepBy(int steps)
{
    double v = value();
    if (v == 0 && steps > 0) {
        v = m_smallestStep;
        --steps;
    }
    v *= std::pow(m_stepFactor, steps);
    if (v < m_smallestStep && steps < 0)
        v = minimum() <= 0 ? 0 : minimum();
    setValue(std::clamp(v, minimum(), maximum()));
}

}  // namespace aq::gui
