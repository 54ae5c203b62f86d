#pragma once
// A spin box for values that span orders of magnitude (learning rates, stability factors, condition limits): shows
// and accepts scientific notation, and the arrows multiply or divide by a factor instead of adding a step.
#include <QDoubleSpinBox>

namespace aq::gui {

class ScientificSpinBox : public QDoubleSpinBox {
    Q_OBJECT
public:
    explicit ScientificSpinBox(QWidget* parent = nullptr);

    /// Each arrow step multiplies (up) or divides (down) by this factor; default 2.
    void setStepFactor(double factor) { m_stepFactor = factor; }
    /// The value an up-step from 0 goes to.
    void setSmallestStep(double value) { m_smallestStep = value; }

    QString textFromValue(double value) const override;
    double valueFromText(const QString& text) const override;
    QValidator::State validate(QString& text, int& pos) const override;
    void stepBy(int steps) override;

private:
    double m_stepFactor = 2.0;
    double m_smallestStep = 1e-6;
};

}  // namespace aq::gui
