#pragma once
// A small matrix to play with: move the epoch and the stability factor and watch the masked matrix A = S ⊙ M, its
// row margins, its Gershgorin discs, whether it is strictly diagonally dominant, whether it is invertible, and its
// inverse. Three sources: a seeded random S, a preset S that is singular without the mask, and a learned matrix of a
// run (the exact snapshots of one block and transform, replayed epoch by epoch).
#include "matrixmath.h"
#include "viewdata.h"

#include <QVector>
#include <QWidget>

#include <complex>
#include <functional>

class QCheckBox;
class QComboBox;
class QCustomPlot;
class QGridLayout;
class QLabel;
class QPushButton;
class QSlider;
class QSpinBox;
class QSplitter;
class QTableWidget;
class QTimer;

namespace aq::widgets {

class TeachingView : public QWidget {
    Q_OBJECT
public:
    explicit TeachingView(QWidget* parent = nullptr);

    static constexpr int kDefaultSize = 8;
    static constexpr quint32 kDefaultSeed = 7;
    /// Leading block shown at first for a loaded learned matrix: larger ones make the tables unreadable.
    static constexpr int kDefaultLearnedBlock = 16;
    static constexpr int kDefaultPlayIntervalMs = 700;

    enum class Source { Random, FailingExample, Learned };

    /// Replaces S by a seeded random matrix whose diagonal entries are the largest of their rows: dominant under a
    /// narrow band or a small stability factor, not under a full band with a factor near 1.
    void randomize(quint32 seed);
    /// Replaces S (row-major n x n). For demonstrations and tests with a known matrix.
    void setBaseMatrix(int n, const QVector<double>& s);
    /// The 8 x 8 preset that fails without the mask: every row of S sums to zero (so S (1, ..., 1)^T = 0 and S is
    /// singular), and the diagonal entries are positive, so every Gershgorin disc reaches the origin. Entries are
    /// multiples of 1/16, exact in binary. Under the full band every row is strictly dominant for a stability
    /// factor below failingExampleDominanceLimit().
    static QVector<double> failingExample();
    static double failingExampleDominanceLimit();
    /// Shows failingExample() at the last epoch with stability factor 1: the mask is all ones and A = S.
    void loadFailingExample();
    /// Loads the history of one learned matrix (the frames of one block and transform). Only exact square frames
    /// (stride 1) are kept: a downsampled frame holds tile averages of |a|, which are not a matrix. Returns false,
    /// leaves the view as it was and shows why when no frame is usable; `error` receives the same text.
    bool setLearnedFrames(const QVector<MatrixFrame>& frames, QString* error = nullptr);
    int learnedFrameCount() const { return int(m_frames.size()); }
    /// The learned frame on screen, or nullptr outside the learned source.
    const MatrixFrame* learnedFrame() const;

    void setEpochs(int epochs);
    /// For the learned source: index into the stored epochs (0 = oldest).
    void setEpoch(int epoch);
    void setStabilityFactor(double stabilityFactor);
    /// Size k of the leading k x k block A[0..k-1, 0..k-1] that the tables, discs and eigenvalues describe.
    void setShownSize(int k);
    void setShowEigenvalues(bool show);

    /// Steps through the epochs (from the first when at the last) and stops at the last.
    void play();
    void pause();
    bool isPlaying() const;
    void setPlayIntervalMs(int ms);
    /// One epoch further; false (and nothing changes) at the last epoch.
    bool stepForward();

    Source source() const { return m_source; }
    int size() const { return m_n; }
    int shownSize() const { return m_k; }
    int epochs() const { return m_epochs; }
    int epoch() const { return m_epoch; }
    double stabilityFactor() const { return m_stabilityFactor; }
    long long bandWidth() const;
    /// N_e of 0-based `epoch` of `epochs` for a matrix of side `size`. The views know no engine: the window hands in
    /// the engine's own schedule (aq::maskBandWidth); on its own the view uses matrixmath::bandWidth (spec §5.1).
    using BandWidthFunction = std::function<long long(long long size, int epochs, int epoch)>;
    void setBandWidthFunction(BandWidthFunction bandWidth);
    /// The whole n x n S (for the learned source: the learned matrix, which is already masked).
    QVector<double> baseMatrix() const { return m_s; }
    // The following describe the shown k x k leading block.
    QVector<double> maskedMatrix() const { return m_a; }
    QVector<double> rowMargins() const { return m_margins; }
    QVector<matrixmath::Disc> discs() const { return m_discs; }
    QVector<std::complex<double>> eigenvalues() const { return m_eigenvalues; }
    bool isStrictlyDiagonallyDominant() const;
    bool isInvertible() const { return m_invertible; }
    double determinant() const { return m_determinant; }
    double conditionEstimate() const { return m_condition; }
    QVector<double> inverse() const { return m_inverse; }
    /// The same for the whole n x n masked matrix (equal to the block's when k = n).
    bool wholeIsStrictlyDiagonallyDominant() const { return m_wholeDominant; }
    bool wholeIsInvertible() const { return m_wholeInvertible; }
    double wholeConditionEstimate() const { return m_wholeCondition; }
    QString statusText() const;

    QCustomPlot* discPlot() const { return m_discPlot; }
    QTableWidget* matrixTable() const { return m_matrixTable; }

signals:
    /// The matrix, the epoch or the stability factor changed and everything shown was recomputed.
    void recomputed();
    /// The user asked to load the matrix selected on the Matrices tab; the owner answers with setLearnedFrames().
    void learnedMatrixRequested();

private:
    // Steps of the constructor.
    void createSourceControls();
    void createScheduleControls();
    QGridLayout* layOutControls();
    void createStatusLabels();
    QSplitter* createMatrixPanes();
    void createDiscPlot();
    void layOut(QGridLayout* controls, QSplitter* splitter);
    void connectControls();

    void setSource(Source source);
    void recompute();
    // Steps of recompute().
    QVector<double> maskWhole(const MatrixFrame* frame);
    void analyseBlock(const QVector<double>& whole);
    void analyseWhole(const QVector<double>& whole);
    void describeSource(const MatrixFrame* frame);
    void describeSchedule(const MatrixFrame* frame);
    void describeBlock();
    void describeWhole();
    void describeDiscs();
    void fillTables();
    void drawDiscs();
    void fitDiscs();
    void updateControls();
    void showProblem(const QString& text);

protected:
    void resizeEvent(QResizeEvent* event) override;

private:
    QComboBox* m_sourceBox = nullptr;
    QPushButton* m_loadButton = nullptr;
    QPushButton* m_playButton = nullptr;
    QTimer* m_playTimer = nullptr;
    QSlider* m_epochSlider = nullptr;
    QSpinBox* m_epochsBox = nullptr;
    QSlider* m_sfSlider = nullptr;
    QSpinBox* m_seedBox = nullptr;
    QSpinBox* m_blockBox = nullptr;
    QCheckBox* m_eigenBox = nullptr;
    QLabel* m_sourceLabel = nullptr;
    QLabel* m_epochLabel = nullptr;
    QLabel* m_sfLabel = nullptr;
    QLabel* m_bandLabel = nullptr;
    QLabel* m_dominanceLabel = nullptr;
    QLabel* m_invertibleLabel = nullptr;
    QLabel* m_wholeLabel = nullptr;
    QLabel* m_discLabel = nullptr;
    QTableWidget* m_matrixTable = nullptr;
    QTableWidget* m_inverseTable = nullptr;
    QCustomPlot* m_discPlot = nullptr;

    Source m_source = Source::Random;
    bool m_custom = false;  ///< S came from setBaseMatrix(), not from a seed
    bool m_userZoomed = false;
    double m_fitLeft = -1, m_fitRight = 1, m_fitHalfHeight = 1;  ///< the discs' bounding box, padded
    quint32 m_seed = kDefaultSeed;
    int m_n = 0;
    int m_k = 0;
    int m_epochs = kDefaultSize;
    int m_epoch = kDefaultSize - 1;
    BandWidthFunction m_bandWidthFunction = &matrixmath::bandWidth;
    double m_stabilityFactor = 0.5;  ///< at the full band, some rows dominant and some not
    QVector<MatrixFrame> m_frames;   ///< the learned source's exact frames, sorted by epoch
    QVector<double> m_s, m_fullMask;  ///< whole n x n
    QVector<double> m_mask, m_a, m_margins, m_inverse;  ///< shown k x k block
    QVector<matrixmath::Disc> m_discs;
    QVector<std::complex<double>> m_eigenvalues;
    bool m_invertible = false;
    double m_determinant = 0;
    double m_condition = 0;
    bool m_wholeDominant = false;
    bool m_wholeInvertible = false;
    double m_wholeCondition = 0;
    double m_wholeMinMargin = 0;
    int m_wholeBadRows = 0;
};

}  // namespace aq::widgets
