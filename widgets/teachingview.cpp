#include "teachingview.h"

#include "matrixmath.h"
#include "plotstyle.h"

#include <QFormLayout>
#include <QGridLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPushButton>
#include <QSlider>
#include <QSpinBox>
#include <QTableWidget>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>
#include <random>

namespace aq::widgets {

namespace {

constexpr int kSfSteps = 1000;  ///< slider resolution: stability factor in steps of 0.001

QTableWidget* makeTable(int rows, int cols, QWidget* parent)
{
    auto* t = new QTableWidget(rows, cols, parent);
    t->setEditTriggers(QAbstractItemView::NoEditTriggers);
    t->setSelectionMode(QAbstractItemView::NoSelection);
    t->setFocusPolicy(Qt::NoFocus);
    t->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    t->verticalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    return t;
}

QString number(double v) { return QString::number(v, 'f', 3); }

}  // namespace

TeachingView::TeachingView(QWidget* parent) : QWidget(parent)
{
    m_epochsBox = new QSpinBox(this);
    m_epochsBox->setRange(1, 64);
    m_epochsBox->setValue(m_epochs);
    m_epochsBox->setToolTip(tr("Number of epochs E of the schedule: the band reaches the whole matrix at the last "
                               "epoch."));
    m_epochSlider = new QSlider(Qt::Horizontal, this);
    m_epochSlider->setToolTip(tr("Epoch e: the mask keeps the diagonals with |i - j| < N_e."));
    m_epochLabel = new QLabel(this);
    m_sfSlider = new QSlider(Qt::Horizontal, this);
    m_sfSlider->setRange(0, kSfSteps);
    m_sfSlider->setToolTip(tr("Stability factor: off-diagonal mask entries inside the band are set to it."));
    m_sfLabel = new QLabel(this);
    m_seedBox = new QSpinBox(this);
    m_seedBox->setRange(0, 1 << 30);
    m_seedBox->setValue(int(kDefaultSeed));
    m_seedBox->setToolTip(tr("Seed of the random matrix S."));
    m_seedBox->setMaximumWidth(m_seedBox->sizeHint().width());

    auto* controls = new QGridLayout;
    controls->addWidget(new QLabel(tr("Epochs E:"), this), 0, 0);
    controls->addWidget(m_epochsBox, 0, 1);
    controls->addWidget(new QLabel(tr("Seed of S:"), this), 0, 2);
    controls->addWidget(m_seedBox, 0, 3);
    controls->addWidget(new QLabel(tr("Epoch:"), this), 1, 0);
    controls->addWidget(m_epochSlider, 1, 1, 1, 3);
    controls->addWidget(m_epochLabel, 1, 4);
    controls->addWidget(new QLabel(tr("Stability factor:"), this), 2, 0);
    controls->addWidget(m_sfSlider, 2, 1, 1, 3);
    controls->addWidget(m_sfLabel, 2, 4);
    controls->setColumnStretch(3, 1);

    m_bandLabel = new QLabel(this);
    m_dominanceLabel = new QLabel(this);
    m_invertibleLabel = new QLabel(this);
    for (QLabel* l : {m_bandLabel, m_dominanceLabel, m_invertibleLabel})
        l->setTextFormat(Qt::PlainText);

    m_matrixTable = makeTable(0, 0, this);
    m_inverseTable = makeTable(0, 0, this);
    auto* matrixBox = new QGroupBox(tr("Masked matrix A = S ⊙ M and row margins"), this);
    auto* matrixLayout = new QVBoxLayout(matrixBox);
    matrixLayout->addWidget(m_matrixTable);
    auto* inverseBox = new QGroupBox(tr("Inverse A⁻¹"), this);
    auto* inverseLayout = new QVBoxLayout(inverseBox);
    inverseLayout->addWidget(m_inverseTable);
    auto* tables = new QHBoxLayout;
    tables->addWidget(matrixBox, 1);
    tables->addWidget(inverseBox, 1);

    auto* explanation = new QLabel(this);
    explanation->setWordWrap(true);
    explanation->setText(tr("Grey cells are masked out, tinted cells are inside the band and scaled by the stability "
                            "factor. A red margin means the row is not strictly diagonally dominant. Dominance "
                            "guarantees invertibility (Levy–Desplanques), but a matrix can lose it and stay "
                            "invertible: watch the determinant and the inverse as you widen the band."));

    auto* layout = new QVBoxLayout(this);
    layout->addLayout(controls);
    layout->addWidget(m_bandLabel);
    layout->addWidget(m_dominanceLabel);
    layout->addWidget(m_invertibleLabel);
    layout->addLayout(tables, 1);
    layout->addWidget(explanation);

    connect(m_epochsBox, &QSpinBox::valueChanged, this, &TeachingView::setEpochs);
    connect(m_epochSlider, &QSlider::valueChanged, this, &TeachingView::setEpoch);
    connect(m_sfSlider, &QSlider::valueChanged, this,
            [this](int v) { setStabilityFactor(double(v) / kSfSteps); });
    connect(m_seedBox, &QSpinBox::valueChanged, this, [this](int seed) { randomize(quint32(seed)); });

    m_epochSlider->setRange(0, m_epochs - 1);
    m_epochSlider->setValue(m_epoch);
    m_sfSlider->setValue(int(std::lround(m_stabilityFactor * kSfSteps)));
    randomize(kDefaultSeed);
}

void TeachingView::randomize(quint32 seed)
{
    std::mt19937 rng(seed);
    std::uniform_real_distribution<double> offDiagonal(-0.6, 0.6);
    std::uniform_real_distribution<double> diagonal(1.0, 1.5);
    const int n = kDefaultSize;
    QVector<double> s(n * n);
    for (int i = 0; i < n; ++i)
        for (int j = 0; j < n; ++j)
            s[i * n + j] = i == j ? diagonal(rng) : offDiagonal(rng);
    if (m_seedBox->value() != int(seed)) {
        const QSignalBlocker blocker(m_seedBox);
        m_seedBox->setValue(int(seed));
    }
    setBaseMatrix(n, s);
}

void TeachingView::setBaseMatrix(int n, const QVector<double>& s)
{
    if (n <= 0 || s.size() != qsizetype(n) * n)
        return;
    m_n = n;
    m_s = s;
    recompute();
}

void TeachingView::setEpochs(int epochs)
{
    m_epochs = std::max(1, epochs);
    {
        const QSignalBlocker b1(m_epochsBox);
        const QSignalBlocker b2(m_epochSlider);
        m_epochsBox->setValue(m_epochs);
        m_epochSlider->setRange(0, m_epochs - 1);
    }
    m_epoch = std::clamp(m_epoch, 0, m_epochs - 1);
    {
        const QSignalBlocker blocker(m_epochSlider);
        m_epochSlider->setValue(m_epoch);
    }
    recompute();
}

void TeachingView::setEpoch(int epoch)
{
    m_epoch = std::clamp(epoch, 0, m_epochs - 1);
    if (m_epochSlider->value() != m_epoch) {
        const QSignalBlocker blocker(m_epochSlider);
        m_epochSlider->setValue(m_epoch);
    }
    recompute();
}

void TeachingView::setStabilityFactor(double stabilityFactor)
{
    m_stabilityFactor = std::max(0.0, stabilityFactor);
    const int pos = int(std::lround(m_stabilityFactor * kSfSteps));
    if (m_sfSlider->value() != pos) {
        const QSignalBlocker blocker(m_sfSlider);
        m_sfSlider->setValue(pos);
    }
    recompute();
}

long long TeachingView::bandWidth() const { return matrixmath::bandWidth(m_n, m_epochs, m_epoch); }

bool TeachingView::isStrictlyDiagonallyDominant() const
{
    return !m_margins.isEmpty() && std::all_of(m_margins.begin(), m_margins.end(), [](double m) { return m > 0; });
}

void TeachingView::recompute()
{
    if (m_n <= 0)
        return;
    m_mask = matrixmath::bandMask(m_n, bandWidth(), m_stabilityFactor);
    m_a = matrixmath::hadamard(m_s, m_mask);
    m_margins = matrixmath::rowMargins(m_a, m_n);
    const matrixmath::Inversion inv = matrixmath::invert(m_a, m_n);
    m_invertible = inv.invertible;
    m_determinant = inv.determinant;
    m_inverse = inv.inverse;
    m_condition = inv.conditionEstimate;

    m_epochLabel->setText(tr("%1 of %2").arg(m_epoch).arg(m_epochs - 1));
    m_sfLabel->setText(QString::number(m_stabilityFactor, 'f', 3));
    m_bandLabel->setText(tr("Band width N_e = %1 of %2 (diagonals with |i - j| < %1 are trained).")
                             .arg(bandWidth())
                             .arg(m_n));
    const int bad = int(std::count_if(m_margins.begin(), m_margins.end(), [](double m) { return m <= 0; }));
    const double minMargin = *std::min_element(m_margins.begin(), m_margins.end());
    m_dominanceLabel->setText(isStrictlyDiagonallyDominant()
                                  ? tr("Strictly diagonally dominant: yes (smallest margin %1).").arg(number(minMargin))
                                  : tr("Strictly diagonally dominant: no (%n row(s) with margin <= 0).", nullptr, bad));
    m_invertibleLabel->setText(
        m_invertible ? tr("Invertible: yes (determinant %1, condition estimate ||A||₁·||A⁻¹||₁ = %2).")
                           .arg(m_determinant, 0, 'g', 4)
                           .arg(m_condition, 0, 'g', 4)
                     : tr("Invertible: no (a pivot vanished in Gaussian elimination: the matrix is singular)."));
    QPalette pal = m_dominanceLabel->palette();
    pal.setColor(QPalette::WindowText, isStrictlyDiagonallyDominant() ? palette().color(QPalette::WindowText)
                                                                      : plotstyle::warningColor());
    m_dominanceLabel->setPalette(pal);
    fillTables();
    emit recomputed();
}

void TeachingView::fillTables()
{
    const int n = m_n;
    m_matrixTable->setRowCount(n);
    m_matrixTable->setColumnCount(n + 1);
    QStringList header;
    for (int j = 0; j < n; ++j)
        header << QString::number(j);
    m_matrixTable->setHorizontalHeaderLabels(header + QStringList{tr("margin")});
    m_matrixTable->setVerticalHeaderLabels(header);
    m_inverseTable->setRowCount(n);
    m_inverseTable->setColumnCount(n);
    m_inverseTable->setHorizontalHeaderLabels(header);
    m_inverseTable->setVerticalHeaderLabels(header);

    const QColor masked(225, 225, 225), band(222, 235, 247), diagonal(198, 219, 239);
    const QColor bad = plotstyle::warningColor();
    for (int i = 0; i < n; ++i) {
        for (int j = 0; j < n; ++j) {
            const qsizetype k = qsizetype(i) * n + j;
            auto* item = new QTableWidgetItem(number(m_a[k]));
            item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
            item->setBackground(i == j ? diagonal : (m_mask[k] == 0 ? masked : band));
            if (m_mask[k] == 0)
                item->setForeground(QColor(150, 150, 150));
            if (i == j) {
                QFont f = item->font();
                f.setBold(true);
                item->setFont(f);
            }
            item->setToolTip(tr("S[%1,%2] = %3, mask %4").arg(i).arg(j).arg(number(m_s[k])).arg(m_mask[k]));
            m_matrixTable->setItem(i, j, item);

            auto* inv = new QTableWidgetItem(m_invertible ? QString::number(m_inverse[k], 'g', 3)
                                                          : QStringLiteral("—"));
            inv->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
            m_inverseTable->setItem(i, j, inv);
        }
        auto* margin = new QTableWidgetItem(number(m_margins[i]));
        margin->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
        margin->setForeground(m_margins[i] > 0 ? QColor(0, 110, 0) : bad);
        QFont f = margin->font();
        f.setBold(true);
        margin->setFont(f);
        m_matrixTable->setItem(i, n, margin);
    }
}

}  // namespace aq::widgets
