#pragma once
// A small matrix to play with: move the epoch and the stability factor and watch the masked matrix A = S ⊙ M, its
// row margins, whether it is strictly diagonally dominant, whether it is invertible, and its inverse.
#include <QVector>
#include <QWidget>

class QLabel;
class QSlider;
class QSpinBox;
class QTableWidget;

namespace aq::widgets {

class TeachingView : public QWidget {
    Q_OBJECT
public:
    explicit TeachingView(QWidget* parent = nullptr);

    static constexpr int kDefaultSize = 8;
    static constexpr quint32 kDefaultSeed = 7;

    /// Replaces S by a seeded random matrix whose diagonal entries are the largest of their rows: dominant under a
    /// narrow band or a small stability factor, not under a full band with a factor near 1.
    void randomize(quint32 seed);
    /// Replaces S (row-major n x n). For demonstrations and tests with a known matrix.
    void setBaseMatrix(int n, const QVector<double>& s);

    void setEpochs(int epochs);
    void setEpoch(int epoch);
    void setStabilityFactor(double stabilityFactor);

    int size() const { return m_n; }
    int epochs() const { return m_epochs; }
    int epoch() const { return m_epoch; }
    double stabilityFactor() const { return m_stabilityFactor; }
    long long bandWidth() const;
    QVector<double> baseMatrix() const { return m_s; }
    QVector<double> maskedMatrix() const { return m_a; }
    QVector<double> rowMargins() const { return m_margins; }
    bool isStrictlyDiagonallyDominant() const;
    bool isInvertible() const { return m_invertible; }
    double determinant() const { return m_determinant; }
    double conditionEstimate() const { return m_condition; }
    QVector<double> inverse() const { return m_inverse; }

signals:
    /// The matrix, the epoch or the stability factor changed and everything shown was recomputed.
    void recomputed();

private:
    void recompute();
    void fillTables();

    QSlider* m_epochSlider = nullptr;
    QSpinBox* m_epochsBox = nullptr;
    QSlider* m_sfSlider = nullptr;
    QSpinBox* m_seedBox = nullptr;
    QLabel* m_epochLabel = nullptr;
    QLabel* m_sfLabel = nullptr;
    QLabel* m_bandLabel = nullptr;
    QLabel* m_dominanceLabel = nullptr;
    QLabel* m_invertibleLabel = nullptr;
    QTableWidget* m_matrixTable = nullptr;
    QTableWidget* m_inverseTable = nullptr;

    int m_n = 0;
    int m_epochs = kDefaultSize;
    int m_epoch = kDefaultSize - 1;
    double m_stabilityFactor = 0.5;  ///< at the full band, some rows dominant and some not
    QVector<double> m_s, m_mask, m_a, m_margins, m_inverse;
    bool m_invertible = false;
    double m_determinant = 0;
    double m_condition = 0;
};

}  // namespace aq::widgets
