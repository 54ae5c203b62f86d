// The teaching view: a small masked matrix whose dominance, Gershgorin discs and inverse follow the epoch and the
// stability factor.
#include "teachingview.h"

#include "plotexport.h"
#include "plotstyle.h"

#include <QCheckBox>
#include <QComboBox>
#include <QGridLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPushButton>
#include <QSlider>
#include <QSpinBox>
#include <QSplitter>
#include <QStyle>
#include <QTableWidget>
#include <QTimer>
#include <QVBoxLayout>

#include <qcustomplot.h>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <random>

namespace aq::widgets {

namespace {

constexpr int kSfSteps = 1000;  ///< slider resolution: stability factor in steps of 0.001
constexpr int kDiscPoints = 72;  ///< segments of a drawn circle

/// Off-diagonal entries of the failing example in sixteenths; the diagonal is minus the row sum. Mostly negative, so
/// the diagonal comes out large (each |s_ii| is at least 1), with a few positive entries that push some rows' discs
/// strictly across the origin.
constexpr int kFailingOffDiagonal[8][8] = {
    {0, 1, -10, -9, -1, -2, -4, -10}, {-7, 0, 1, -1, -5, 3, -6, -3}, {0, -4, 0, -8, -10, 0, -10, 2},
    {-3, -5, 3, 0, -7, -8, 1, -1},    {-8, 0, 2, -4, 0, -9, -8, -4}, {-5, -8, -10, 3, -4, 0, -6, -8},
    {-3, -1, 3, -8, -2, -3, 0, -3},   {1, 1, -5, -3, -6, -6, -3, 0}};

QTableWidget* makeTable(int rows, int cols, QWidget* parent)
{
    auto* t = new QTableWidget(rows, cols, parent);
    t->setEditTriggers(QAbstractItemView::NoEditTriggers);
    t->setSelectionMode(QAbstractItemView::NoSelection);
    t->setFocusPolicy(Qt::NoFocus);
    // Fixed sections sized once per fill (fitTable): resizing to contents measures every item again after each
    // insertion, which takes minutes for the 128 x 128 of a learned matrix.
    t->horizontalHeader()->setSectionResizeMode(QHeaderView::Fixed);
    t->verticalHeader()->setSectionResizeMode(QHeaderView::Fixed);
    return t;
}

/// Column widths from the widest text of each column (bold, to cover the diagonal), one row height for all.
void fitTable(QTableWidget* t)
{
    QFont bold = t->font();
    bold.setBold(true);
    const QFontMetrics fm(bold);
    const int padding = 2 * t->style()->pixelMetric(QStyle::PM_FocusFrameHMargin, nullptr, t) + 10;
    for (int c = 0; c < t->columnCount(); ++c) {
        int width = fm.horizontalAdvance(t->horizontalHeaderItem(c) ? t->horizontalHeaderItem(c)->text() : QString());
        for (int r = 0; r < t->rowCount(); ++r)
            if (const QTableWidgetItem* item = t->item(r, c))
                width = std::max(width, fm.horizontalAdvance(item->text()));
        t->setColumnWidth(c, width + padding);
    }
    t->verticalHeader()->setDefaultSectionSize(fm.height() + 6);
    t->verticalHeader()->setMinimumSectionSize(fm.height() + 6);
}

QString number(double v) { return QString::number(v, 'f', 3); }

/// Rows whose margin is at or below zero: those that are not strictly dominant.
int nonPositiveCount(const QVector<double>& margins)
{
    return int(std::count_if(margins.begin(), margins.end(), [](double m) { return m <= 0; }));
}

}  // namespace

TeachingView::TeachingView(QWidget* parent) : QWidget(parent)
{
    createSourceControls();
    createScheduleControls();
    QGridLayout* controls = layOutControls();
    createStatusLabels();
    QSplitter* splitter = createMatrixPanes();
    layOut(controls, splitter);
    connectControls();

    m_epochSlider->setRange(0, m_epochs - 1);
    m_epochSlider->setValue(m_epoch);
    m_sfSlider->setValue(int(std::lround(m_stabilityFactor * kSfSteps)));
    randomize(kDefaultSeed);
}

/// The source picker, the load button and the play button with its timer.
void TeachingView::createSourceControls()
{
    m_sourceBox = new QComboBox(this);
    m_sourceBox->addItem(tr("Random matrix S"));
    m_sourceBox->addItem(tr("Failing example (singular S)"));
    m_sourceBox->setToolTip(tr("Where the matrix comes from. A learned matrix is added once one has been loaded."));
    m_sourceBox->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
    m_sourceBox->setMinimumContentsLength(24);
    m_loadButton = new QPushButton(tr("&Load learned matrix"), this);
    m_loadButton->setToolTip(tr("Load the matrix selected on the Matrices tab (its block and transform, every stored "
                                "epoch) from the current or a reopened run."));
    m_playButton = new QPushButton(tr("&Play"), this);
    m_playButton->setCheckable(true);
    m_playButton->setToolTip(tr("Step through the epochs of the mask schedule (of a learned matrix: its stored "
                                "epochs) one after another."));
    m_playTimer = new QTimer(this);
    m_playTimer->setInterval(kDefaultPlayIntervalMs);
}

/// The epoch, stability factor, seed and leading-block controls and the eigenvalue switch.
void TeachingView::createScheduleControls()
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
    m_blockBox = new QSpinBox(this);
    m_blockBox->setRange(1, kDefaultSize);
    m_blockBox->setToolTip(tr("The tables, the discs and the eigenvalues describe the leading k x k block "
                              "A[0..k-1, 0..k-1]: a learned matrix has up to 128 rows, too many to read in a table. "
                              "Set k to the full size to see every disc."));
    m_eigenBox = new QCheckBox(tr("Show &eigenvalues"), this);
    m_eigenBox->setChecked(true);
    m_eigenBox->setToolTip(tr("Every eigenvalue lies in the union of the discs (Gershgorin's theorem)."));
}

QGridLayout* TeachingView::layOutControls()
{
    // Three rows: where the matrix comes from, the epoch, the stability factor; the sizes on the right.
    auto* sourceRow = new QHBoxLayout;
    sourceRow->addWidget(m_sourceBox);
    sourceRow->addWidget(m_loadButton);
    sourceRow->addStretch(1);
    auto* controls = new QGridLayout;
    controls->addWidget(new QLabel(tr("Matrix:"), this), 0, 0);
    controls->addLayout(sourceRow, 0, 1, 1, 3);
    controls->addWidget(new QLabel(tr("Seed of S:"), this), 0, 4);
    controls->addWidget(m_seedBox, 0, 5);
    controls->addWidget(new QLabel(tr("Epoch:"), this), 1, 0);
    controls->addWidget(m_playButton, 1, 1);
    controls->addWidget(m_epochSlider, 1, 2);
    controls->addWidget(m_epochLabel, 1, 3);
    controls->addWidget(new QLabel(tr("Epochs E:"), this), 1, 4);
    controls->addWidget(m_epochsBox, 1, 5);
    controls->addWidget(new QLabel(tr("Stability factor:"), this), 2, 0);
    controls->addWidget(m_sfSlider, 2, 1, 1, 2);
    controls->addWidget(m_sfLabel, 2, 3);
    controls->addWidget(new QLabel(tr("Leading block k:"), this), 2, 4);
    controls->addWidget(m_blockBox, 2, 5);
    controls->setColumnStretch(2, 1);
    return controls;
}

void TeachingView::createStatusLabels()
{
    m_sourceLabel = new QLabel(this);
    m_sourceLabel->setWordWrap(true);
    m_bandLabel = new QLabel(this);
    m_bandLabel->setWordWrap(true);
    m_dominanceLabel = new QLabel(this);
    m_dominanceLabel->setWordWrap(true);
    m_invertibleLabel = new QLabel(this);
    m_invertibleLabel->setWordWrap(true);
    m_wholeLabel = new QLabel(this);
    m_wholeLabel->setWordWrap(true);
    m_discLabel = new QLabel(this);
    m_discLabel->setWordWrap(true);
    for (QLabel* l : {m_sourceLabel, m_bandLabel, m_dominanceLabel, m_invertibleLabel, m_wholeLabel, m_discLabel})
        l->setTextFormat(Qt::PlainText);
}

/// The matrix and inverse tables beside the Gershgorin discs, in a splitter.
QSplitter* TeachingView::createMatrixPanes()
{
    m_matrixTable = makeTable(0, 0, this);
    m_inverseTable = makeTable(0, 0, this);
    auto* matrixBox = new QGroupBox(tr("Masked matrix A = S ⊙ M and row margins"), this);
    auto* matrixLayout = new QVBoxLayout(matrixBox);
    matrixLayout->addWidget(m_matrixTable);
    auto* inverseBox = new QGroupBox(tr("Inverse A⁻¹"), this);
    auto* inverseLayout = new QVBoxLayout(inverseBox);
    inverseLayout->addWidget(m_inverseTable);

    createDiscPlot();
    auto* discBox = new QGroupBox(tr("Gershgorin discs"), this);
    auto* discLayout = new QVBoxLayout(discBox);
    discLayout->addWidget(m_discPlot, 1);
    auto* discFooter = new QHBoxLayout;
    discFooter->addWidget(m_discLabel, 1);
    discFooter->addWidget(m_eigenBox, 0, Qt::AlignTop);
    discLayout->addLayout(discFooter);

    auto* tables = new QWidget(this);
    auto* tablesLayout = new QVBoxLayout(tables);
    tablesLayout->setContentsMargins(0, 0, 0, 0);
    tablesLayout->addWidget(matrixBox, 1);
    tablesLayout->addWidget(inverseBox, 1);
    auto* splitter = new QSplitter(Qt::Horizontal, this);
    splitter->addWidget(tables);
    splitter->addWidget(discBox);
    splitter->setStretchFactor(0, 5);
    splitter->setStretchFactor(1, 6);
    splitter->setChildrenCollapsible(false);
    return splitter;
}

void TeachingView::createDiscPlot()
{
    m_discPlot = new QCustomPlot(this);
    m_discPlot->setInteractions(QCP::iRangeZoom | QCP::iRangeDrag);
    m_discPlot->xAxis->setLabel(tr("real part"));
    m_discPlot->yAxis->setLabel(tr("imaginary part"));
    m_discPlot->axisRect()->setupFullAxesBox(true);
    m_discPlot->legend->setVisible(true);
    // The legend under the plot: inside, it would hide discs.
    m_discPlot->axisRect()->insetLayout()->take(m_discPlot->legend);
    m_discPlot->plotLayout()->addElement(1, 0, m_discPlot->legend);
    m_discPlot->plotLayout()->setRowStretchFactor(1, 0.001);
    m_discPlot->legend->setFillOrder(QCPLayoutGrid::foColumnsFirst);
    m_discPlot->legend->setWrap(2);
    m_discPlot->legend->setBorderPen(Qt::NoPen);
    m_discPlot->setMinimumSize(260, 260);
    new PlotExporter(m_discPlot, QStringLiteral("gershgorin-discs"));
    // Circles must look round: after each layout pass, widen whichever axis has spare pixels.
    connect(m_discPlot, &QCustomPlot::afterLayout, this, &TeachingView::fitDiscs);
    connect(m_discPlot, &QCustomPlot::mouseWheel, this, [this] { m_userZoomed = true; });
    connect(m_discPlot, &QCustomPlot::mousePress, this, [this] { m_userZoomed = true; });
    connect(m_discPlot, &QCustomPlot::mouseDoubleClick, this, [this] {
        m_userZoomed = false;
        m_discPlot->replot();
    });
}

/// The controls and the status lines above the splitter, the explanation below it.
void TeachingView::layOut(QGridLayout* controls, QSplitter* splitter)
{
    auto* explanation = new QLabel(this);
    explanation->setWordWrap(true);
    explanation->setText(tr("Row i gives a disc centred at a_ii with radius Σ_{j≠i} |a_ij|, and every eigenvalue lies "
                            "in their union. A row is strictly dominant when its disc leaves out 0; if no disc "
                            "contains 0, A is invertible (Levy–Desplanques). Red marks rows that are not dominant (a "
                            "matrix can lose dominance and stay invertible); grey cells are masked out, tinted ones "
                            "are scaled by the stability factor."));

    auto* layout = new QVBoxLayout(this);
    layout->addLayout(controls);
    layout->addWidget(m_sourceLabel);
    layout->addWidget(m_bandLabel);
    layout->addWidget(m_dominanceLabel);
    layout->addWidget(m_invertibleLabel);
    layout->addWidget(m_wholeLabel);
    layout->addWidget(splitter, 1);
    layout->addWidget(explanation);
}

void TeachingView::connectControls()
{
    connect(m_sourceBox, &QComboBox::activated, this, [this](int index) {
        if (index == 0)
            randomize(quint32(m_seedBox->value()));
        else if (index == 1)
            loadFailingExample();
        else if (!m_frames.isEmpty())
            setSource(Source::Learned);
    });
    connect(m_loadButton, &QPushButton::clicked, this, &TeachingView::learnedMatrixRequested);
    connect(m_playButton, &QPushButton::toggled, this, [this](bool on) { on ? play() : pause(); });
    connect(m_playTimer, &QTimer::timeout, this, [this] {
        if (!stepForward() || m_epoch >= m_epochs - 1)
            pause();
    });
    connect(m_epochsBox, &QSpinBox::valueChanged, this, &TeachingView::setEpochs);
    connect(m_epochSlider, &QSlider::valueChanged, this, &TeachingView::setEpoch);
    connect(m_sfSlider, &QSlider::valueChanged, this,
            [this](int v) { setStabilityFactor(double(v) / kSfSteps); });
    connect(m_seedBox, &QSpinBox::valueChanged, this, [this](int seed) { randomize(quint32(seed)); });
    connect(m_blockBox, &QSpinBox::valueChanged, this, &TeachingView::setShownSize);
    connect(m_eigenBox, &QCheckBox::toggled, this, &TeachingView::setShowEigenvalues);
}

void TeachingView::randomize(quint32 seed)
{
    pause();
    std::mt19937 rng(seed);
    std::uniform_real_distribution<double> offDiagonal(-0.6, 0.6);
    std::uniform_real_distribution<double> diagonal(1.0, 1.5);
    const int n = kDefaultSize;
    QVector<double> s(n * n);
    for (int i = 0; i < n; ++i)
        for (int j = 0; j < n; ++j)
            s[i * n + j] = i == j ? diagonal(rng) : offDiagonal(rng);
    m_seed = seed;
    m_custom = false;
    if (m_seedBox->value() != int(seed)) {
        const QSignalBlocker blocker(m_seedBox);
        m_seedBox->setValue(int(seed));
    }
    setSource(Source::Random);
    m_n = m_k = n;
    m_s = s;
    updateControls();
    recompute();
}

void TeachingView::setBaseMatrix(int n, const QVector<double>& s)
{
    if (n <= 0 || s.size() != qsizetype(n) * n)
        return;
    pause();
    setSource(Source::Random);
    m_custom = true;
    m_n = n;
    m_k = n;
    m_s = s;
    updateControls();
    recompute();
}

QVector<double> TeachingView::failingExample()
{
    constexpr int n = 8;
    QVector<double> s(n * n);
    for (int i = 0; i < n; ++i) {
        double rowSum = 0;
        for (int j = 0; j < n; ++j) {
            s[i * n + j] = kFailingOffDiagonal[i][j] / 16.0;
            rowSum += s[i * n + j];
        }
        s[i * n + i] = -rowSum;
    }
    return s;
}

double TeachingView::failingExampleDominanceLimit()
{
    // Row i is dominant under the full band when s_ii > sf * sum_{j != i} |s_ij|.
    const QVector<double> s = failingExample();
    const QVector<matrixmath::Disc> discs = matrixmath::gershgorinDiscs(s, 8);
    double limit = 1;
    for (const matrixmath::Disc& d : discs)
        limit = std::min(limit, std::abs(d.centre) / d.radius);
    return limit;
}

void TeachingView::loadFailingExample()
{
    pause();
    setSource(Source::FailingExample);
    m_n = m_k = 8;
    m_s = failingExample();
    m_epoch = m_epochs - 1;
    m_stabilityFactor = 1.0;
    updateControls();
    recompute();
}

bool TeachingView::setLearnedFrames(const QVector<MatrixFrame>& frames, QString* error)
{
    QVector<MatrixFrame> exact;
    int downsampled = 0, largestSide = 0;
    for (const MatrixFrame& f : frames) {
        if (f.stride != 1) {
            ++downsampled;
            largestSide = std::max(largestSide, f.rows * f.stride);
            continue;
        }
        if (f.rows <= 0 || f.rows != f.cols || f.values.size() != qsizetype(f.rows) * f.cols)
            continue;
        if (!exact.isEmpty() && exact.first().rows != f.rows)
            continue;  // one matrix has one size; a frame of another size belongs to something else
        exact.push_back(f);
    }
    QString problem;
    if (frames.isEmpty())
        problem = tr("No learned matrix to load: run a calibration with matrix transforms (or open a run) and pick "
                     "the block and transform on the Matrices tab.");
    else if (exact.isEmpty() && downsampled > 0)
        problem = tr("This matrix (about %1 x %1) is stored only as tile averages of |a|, which are not a matrix: "
                     "only matrices of up to 128 rows keep exact values. Pick a smaller transform on the Matrices "
                     "tab (for example out or qkt).")
                      .arg(largestSide);
    else if (exact.isEmpty())
        problem = tr("The selected snapshots are not square matrices with values.");
    if (!problem.isEmpty()) {
        if (error)
            *error = problem;
        showProblem(problem);
        return false;
    }
    std::stable_sort(exact.begin(), exact.end(),
                     [](const MatrixFrame& a, const MatrixFrame& b) { return a.epoch < b.epoch; });
    pause();
    m_frames = exact;
    m_n = exact.first().rows;
    m_k = std::min(m_n, kDefaultLearnedBlock);
    m_epochs = int(m_frames.size());
    m_epoch = m_epochs - 1;
    const QString name = tr("Learned: block %1, %2").arg(exact.first().block).arg(exact.first().transform);
    if (m_sourceBox->count() < 3)
        m_sourceBox->addItem(name);
    else
        m_sourceBox->setItemText(2, name);
    setSource(Source::Learned);
    return true;
}

const MatrixFrame* TeachingView::learnedFrame() const
{
    if (m_source != Source::Learned || m_epoch < 0 || m_epoch >= m_frames.size())
        return nullptr;
    return &m_frames[m_epoch];
}

void TeachingView::setSource(Source source)
{
    if (source == Source::Learned && m_frames.isEmpty())
        return;
    m_source = source;
    {
        const QSignalBlocker blocker(m_sourceBox);
        m_sourceBox->setCurrentIndex(source == Source::Random ? 0 : source == Source::FailingExample ? 1 : 2);
    }
    if (source == Source::Learned) {
        // Another source may have run since the frames were loaded: take the learned matrix's sizes back.
        m_n = m_frames.first().rows;
        m_k = std::clamp(m_k, 1, m_n);
        m_epochs = int(m_frames.size());
        m_epoch = std::clamp(m_epoch, 0, m_epochs - 1);
        updateControls();
        recompute();
    }
}

void TeachingView::updateControls()
{
    const bool learned = m_source == Source::Learned;
    const QSignalBlocker b1(m_epochsBox);
    const QSignalBlocker b2(m_epochSlider);
    const QSignalBlocker b3(m_sfSlider);
    const QSignalBlocker b4(m_blockBox);
    m_epochsBox->setEnabled(!learned);
    m_sfSlider->setEnabled(!learned);
    m_seedBox->setEnabled(m_source == Source::Random);
    if (!learned)
        m_epochsBox->setValue(m_epochs);
    m_epochSlider->setRange(0, std::max(0, m_epochs - 1));
    m_epochSlider->setValue(m_epoch);
    m_sfSlider->setValue(int(std::lround(m_stabilityFactor * kSfSteps)));
    m_blockBox->setRange(1, std::max(1, m_n));
    m_blockBox->setValue(m_k);
    m_epochSlider->setToolTip(learned ? tr("Stored epochs of the learned matrix, oldest on the left.")
                                      : tr("Epoch e: the mask keeps the diagonals with |i - j| < N_e."));
}

void TeachingView::showProblem(const QString& text)
{
    m_sourceLabel->setText(text);
    QPalette pal = m_sourceLabel->palette();
    pal.setColor(QPalette::WindowText, plotstyle::warningColor());
    m_sourceLabel->setPalette(pal);
}

QString TeachingView::statusText() const { return m_sourceLabel->text(); }

void TeachingView::setEpochs(int epochs)
{
    if (m_source == Source::Learned)
        return;  // the learned matrix has the epochs it has
    m_epochs = std::max(1, epochs);
    m_epoch = std::clamp(m_epoch, 0, m_epochs - 1);
    updateControls();
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
    if (m_source == Source::Learned)
        return;  // trained under its own factor, already applied
    m_stabilityFactor = std::max(0.0, stabilityFactor);
    const int pos = int(std::lround(m_stabilityFactor * kSfSteps));
    if (m_sfSlider->value() != pos) {
        const QSignalBlocker blocker(m_sfSlider);
        m_sfSlider->setValue(pos);
    }
    recompute();
}

void TeachingView::setShownSize(int k)
{
    m_k = std::clamp(k, 1, std::max(1, m_n));
    if (m_blockBox->value() != m_k) {
        const QSignalBlocker blocker(m_blockBox);
        m_blockBox->setValue(m_k);
    }
    recompute();
}

void TeachingView::setShowEigenvalues(bool show)
{
    if (m_eigenBox->isChecked() != show)
        m_eigenBox->setChecked(show);  // re-enters through toggled()
    else
        drawDiscs();
}

void TeachingView::play()
{
    if (m_epochs <= 1)
        return;
    if (m_epoch >= m_epochs - 1)
        setEpoch(0);
    m_playTimer->start();
    const QSignalBlocker blocker(m_playButton);
    m_playButton->setChecked(true);
    m_playButton->setText(tr("&Pause"));
}

void TeachingView::pause()
{
    m_playTimer->stop();
    const QSignalBlocker blocker(m_playButton);
    m_playButton->setChecked(false);
    m_playButton->setText(tr("&Play"));
}

bool TeachingView::isPlaying() const { return m_playTimer->isActive(); }

void TeachingView::setPlayIntervalMs(int ms) { m_playTimer->setInterval(std::max(1, ms)); }

bool TeachingView::stepForward()
{
    if (m_epoch >= m_epochs - 1)
        return false;
    setEpoch(m_epoch + 1);
    return true;
}

long long TeachingView::bandWidth() const
{
    if (m_source != Source::Learned)
        return m_bandWidthFunction(m_n, m_epochs, m_epoch);
    // The learned frame's own mask: the farthest kept diagonal.
    const MatrixFrame* f = learnedFrame();
    if (!f || f->mask.size() != f->values.size())
        return m_n;
    long long band = 1;
    for (int i = 0; i < f->rows; ++i)
        for (int j = 0; j < f->cols; ++j)
            if (f->mask[qsizetype(i) * f->cols + j] != 0.0f)
                band = std::max<long long>(band, std::abs(i - j) + 1);
    return band;
}

void TeachingView::setBandWidthFunction(BandWidthFunction bandWidth)
{
    m_bandWidthFunction = std::move(bandWidth);
    recompute();
}

bool TeachingView::isStrictlyDiagonallyDominant() const
{
    return !m_margins.isEmpty() && std::all_of(m_margins.begin(), m_margins.end(), [](double m) { return m > 0; });
}

void TeachingView::recompute()
{
    if (m_n <= 0)
        return;
    const MatrixFrame* frame = learnedFrame();
    const QVector<double> whole = maskWhole(frame);
    analyseBlock(whole);
    analyseWhole(whole);

    describeSource(frame);
    describeSchedule(frame);
    describeBlock();
    describeWhole();
    describeDiscs();
    fillTables();
    drawDiscs();
    emit recomputed();
}

/// Sets S and the whole mask, and returns the whole masked matrix.
QVector<double> TeachingView::maskWhole(const MatrixFrame* frame)
{
    QVector<double> whole;
    if (frame) {
        // The snapshot is already the masked matrix; its mask says which entries were trained.
        m_s = QVector<double>(frame->values.begin(), frame->values.end());
        if (frame->mask.size() == frame->values.size())
            m_fullMask = QVector<double>(frame->mask.begin(), frame->mask.end());
        else
            m_fullMask = QVector<double>(m_s.size(), 1.0);
        whole = m_s;
    } else {
        m_fullMask = matrixmath::bandMask(m_n, bandWidth(), m_stabilityFactor);
        whole = matrixmath::hadamard(m_s, m_fullMask);
    }
    return whole;
}

/// The shown leading block: its entries, mask, margins, discs, eigenvalues and inverse.
void TeachingView::analyseBlock(const QVector<double>& whole)
{
    m_k = std::clamp(m_k, 1, m_n);
    m_a = matrixmath::leadingBlock(whole, m_n, m_k);
    m_mask = matrixmath::leadingBlock(m_fullMask, m_n, m_k);
    m_margins = matrixmath::rowMargins(m_a, m_k);
    m_discs = matrixmath::gershgorinDiscs(m_a, m_k);
    m_eigenvalues = matrixmath::eigenvalues(m_a, m_k);
    const matrixmath::Inversion inv = matrixmath::invert(m_a, m_k);
    m_invertible = inv.invertible;
    m_determinant = inv.determinant;
    m_inverse = inv.inverse;
    m_condition = inv.conditionEstimate;
}

/// Dominance and invertibility of the whole matrix (the block's when the block is the whole).
void TeachingView::analyseWhole(const QVector<double>& whole)
{
    if (m_k == m_n) {
        m_wholeDominant = isStrictlyDiagonallyDominant();
        m_wholeInvertible = m_invertible;
        m_wholeCondition = m_condition;
    } else {
        const QVector<double> margins = matrixmath::rowMargins(whole, m_n);
        m_wholeBadRows = nonPositiveCount(margins);
        m_wholeDominant = m_wholeBadRows == 0;
        m_wholeMinMargin = *std::min_element(margins.begin(), margins.end());
        const matrixmath::Inversion w = matrixmath::invert(whole, m_n);
        m_wholeInvertible = w.invertible;
        m_wholeCondition = w.conditionEstimate;
    }
}

void TeachingView::describeSource(const MatrixFrame* frame)
{
    QPalette normal = m_sourceLabel->palette();
    normal.setColor(QPalette::WindowText, palette().color(QPalette::WindowText));
    m_sourceLabel->setPalette(normal);
    switch (m_source) {
    case Source::Random:
        m_sourceLabel->setText(m_custom ? tr("A given %1 x %1 matrix S.").arg(m_n) : tr("Random S (seed %1): diagonal entries in [1, 1.5], the others in [-0.6, 0.6].")
                                   .arg(m_seed));
        break;
    case Source::FailingExample:
        m_sourceLabel->setText(tr("Failing example: every row of S sums to zero, so S·(1, …, 1)ᵀ = 0 and S is "
                                  "singular; every disc reaches the origin. At the last epoch with stability factor "
                                  "1 the mask is all ones and A = S. Lower the factor below %1, or go back to an "
                                  "earlier epoch, and the discs pull away from 0.")
                                   .arg(number(failingExampleDominanceLimit())));
        break;
    case Source::Learned:
        m_sourceLabel->setText(
            tr("Learned matrix of block %1, %2: %3 x %3, exact values as trained (already masked). The tables, discs "
               "and eigenvalues show its leading %4 x %4 block.")
                .arg(frame->block)
                .arg(frame->transform)
                .arg(m_n)
                .arg(m_k));
        break;
    }
}

/// The epoch, stability factor and band width labels.
void TeachingView::describeSchedule(const MatrixFrame* frame)
{
    if (frame) {
        m_epochLabel->setText(tr("epoch %1 (%2 of %3 stored)").arg(frame->epoch).arg(m_epoch + 1).arg(m_epochs));
        m_sfLabel->setText(tr("as trained"));
        m_bandLabel->setText(tr("Mask of this epoch: %n diagonal(s) on each side of the main one are trained.", nullptr,
                                int(bandWidth() - 1)));
    } else {
        m_epochLabel->setText(tr("%1 of %2").arg(m_epoch).arg(m_epochs - 1));
        m_sfLabel->setText(QString::number(m_stabilityFactor, 'f', 3));
        m_bandLabel->setText(tr("Band width N_e = %1 of %2 (diagonals with |i - j| < %1 are trained).")
                                 .arg(bandWidth())
                                 .arg(m_n));
    }
}

/// Dominance and invertibility of the shown block.
void TeachingView::describeBlock()
{
    const QString scope = m_k < m_n ? tr("Leading %1 x %1 block: ").arg(m_k) : QString();
    const int bad = nonPositiveCount(m_margins);
    const double minMargin = *std::min_element(m_margins.begin(), m_margins.end());
    m_dominanceLabel->setText(
        scope + (isStrictlyDiagonallyDominant()
                     ? tr("Strictly diagonally dominant: yes (smallest margin %1).").arg(number(minMargin))
                     : tr("Strictly diagonally dominant: no (%n row(s) with margin <= 0).", nullptr, bad)));
    m_invertibleLabel->setText(
        scope + (m_invertible ? tr("Invertible: yes (determinant %1, condition estimate ||A||₁·||A⁻¹||₁ = %2).")
                                    .arg(m_determinant, 0, 'g', 4)
                                    .arg(m_condition, 0, 'g', 4)
                              : tr("Invertible: no (a pivot vanished in Gaussian elimination: the matrix is "
                                   "singular).")));
    QPalette pal = m_dominanceLabel->palette();
    pal.setColor(QPalette::WindowText, isStrictlyDiagonallyDominant() ? palette().color(QPalette::WindowText)
                                                                      : plotstyle::warningColor());
    m_dominanceLabel->setPalette(pal);
}

/// The line on the whole matrix, shown only when the block is smaller.
void TeachingView::describeWhole()
{
    m_wholeLabel->setVisible(m_k < m_n);
    if (m_k < m_n) {
        const QString dominance =
            m_wholeDominant ? tr("strictly diagonally dominant (smallest margin %1)").arg(m_wholeMinMargin, 0, 'g', 3)
                            : tr("%n row(s) not strictly diagonally dominant", nullptr, m_wholeBadRows);
        const QString invertible = m_wholeInvertible
                                       ? tr("invertible, condition estimate %1").arg(m_wholeCondition, 0, 'g', 4)
                                       : tr("singular");
        m_wholeLabel->setText(tr("Whole matrix (%1 x %1): %2; %3.").arg(m_n).arg(dominance, invertible));
    }
}

/// What the discs say about invertibility.
void TeachingView::describeDiscs()
{
    const int bad = nonPositiveCount(m_margins);
    const bool dominant = isStrictlyDiagonallyDominant();
    m_discLabel->setText(dominant ? tr("No disc contains the origin: 0 cannot be an eigenvalue, so A is invertible "
                                       "(Levy–Desplanques).")
                                  : tr("%n disc(s) reach the origin: dominance cannot vouch for invertibility here.",
                                       nullptr, bad));
    QPalette discPal = m_discLabel->palette();
    discPal.setColor(QPalette::WindowText, dominant ? palette().color(QPalette::WindowText)
                                                    : plotstyle::warningColor());
    m_discLabel->setPalette(discPal);
}

void TeachingView::fillTables()
{
    const int n = m_k;
    const bool learned = m_source == Source::Learned;
    m_matrixTable->setUpdatesEnabled(false);
    m_inverseTable->setUpdatesEnabled(false);
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

    // Learned off-diagonal entries are damped to a hundredth of the diagonal or less: three decimals would hide them.
    auto entry = [learned](double v) { return learned ? QString::number(v, 'g', 3) : number(v); };
    const QColor masked(225, 225, 225), band(222, 235, 247), diagonal(198, 219, 239);
    const QColor bad = plotstyle::warningColor();
    for (int i = 0; i < n; ++i) {
        for (int j = 0; j < n; ++j) {
            const qsizetype k = qsizetype(i) * n + j;
            auto* item = new QTableWidgetItem(entry(m_a[k]));
            item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
            item->setBackground(i == j ? diagonal : (m_mask[k] == 0 ? masked : band));
            if (m_mask[k] == 0)
                item->setForeground(QColor(150, 150, 150));
            if (i == j) {
                QFont f = item->font();
                f.setBold(true);
                item->setFont(f);
            }
            item->setToolTip(learned ? tr("a[%1,%2] = %3, mask %4").arg(i).arg(j).arg(m_a[k], 0, 'g', 6).arg(m_mask[k])
                                     : tr("S[%1,%2] = %3, mask %4")
                                           .arg(i)
                                           .arg(j)
                                           .arg(number(m_s[qsizetype(i) * m_n + j]))
                                           .arg(m_mask[k]));
            m_matrixTable->setItem(i, j, item);

            auto* inv = new QTableWidgetItem(m_invertible ? QString::number(m_inverse[k], 'g', 3)
                                                          : QStringLiteral("—"));
            inv->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
            m_inverseTable->setItem(i, j, inv);
        }
        auto* margin = new QTableWidgetItem(entry(m_margins[i]));
        margin->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
        margin->setForeground(m_margins[i] > 0 ? QColor(0, 110, 0) : bad);
        QFont f = margin->font();
        f.setBold(true);
        margin->setFont(f);
        m_matrixTable->setItem(i, n, margin);
    }
    fitTable(m_matrixTable);
    fitTable(m_inverseTable);
    m_matrixTable->setUpdatesEnabled(true);
    m_inverseTable->setUpdatesEnabled(true);
}

void TeachingView::drawDiscs()
{
    m_discPlot->clearPlottables();
    const QColor good = plotstyle::seriesColor(0), bad = plotstyle::warningColor();
    bool goodInLegend = false, badInLegend = false;
    QVector<double> t(kDiscPoints + 1);
    for (int p = 0; p <= kDiscPoints; ++p)
        t[p] = p;
    for (int i = 0; i < m_discs.size(); ++i) {
        const matrixmath::Disc& d = m_discs[i];
        const bool dominant = m_margins.value(i) > 0;
        QVector<double> xs(kDiscPoints + 1), ys(kDiscPoints + 1);
        for (int p = 0; p <= kDiscPoints; ++p) {
            const double phi = 2 * std::numbers::pi * p / kDiscPoints;
            xs[p] = d.centre + d.radius * std::cos(phi);
            ys[p] = d.radius * std::sin(phi);
        }
        auto* curve = new QCPCurve(m_discPlot->xAxis, m_discPlot->yAxis);
        curve->setData(t, xs, ys, true);
        QColor line = dominant ? good : bad;
        curve->setPen(QPen(line, 1.5));
        line.setAlpha(m_discs.size() > 32 ? 14 : 38);
        curve->setBrush(line);
        curve->setName(dominant ? tr("disc of a dominant row") : tr("disc reaching 0"));
        bool& shown = dominant ? goodInLegend : badInLegend;
        if (shown)
            curve->removeFromLegend();
        shown = true;
    }

    QVector<double> cx, cy;
    for (const matrixmath::Disc& d : m_discs) {
        cx << d.centre;
        cy << 0.0;
    }
    auto* centres = m_discPlot->addGraph();
    centres->setName(tr("centre a_ii"));
    centres->setLineStyle(QCPGraph::lsNone);
    centres->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCross, QColor(60, 60, 60), 7));
    centres->setData(cx, cy);

    auto* origin = m_discPlot->addGraph();
    origin->setName(tr("origin"));
    origin->setLineStyle(QCPGraph::lsNone);
    origin->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssPlusCircle, QPen(Qt::black, 2), Qt::white, 13));
    origin->setData(QVector<double>{0.0}, QVector<double>{0.0});

    double xLo = 0, xHi = 0, yHi = 0;
    for (const matrixmath::Disc& d : m_discs) {
        xLo = std::min(xLo, d.centre - d.radius);
        xHi = std::max(xHi, d.centre + d.radius);
        yHi = std::max(yHi, d.radius);
    }
    if (m_eigenBox->isChecked() && !m_eigenvalues.isEmpty()) {
        QVector<double> ex, ey;
        for (const std::complex<double>& l : m_eigenvalues) {
            ex << l.real();
            ey << l.imag();
            // Gershgorin puts every eigenvalue inside the discs; the bounds only guard against rounding at the rim.
            xLo = std::min(xLo, l.real());
            xHi = std::max(xHi, l.real());
            yHi = std::max(yHi, std::abs(l.imag()));
        }
        auto* eig = m_discPlot->addGraph();
        eig->setName(tr("eigenvalue"));
        eig->setLineStyle(QCPGraph::lsNone);
        eig->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDiamond, QPen(QColor(20, 20, 20)),
                                             QColor(255, 200, 0), 8));
        eig->setData(ex, ey, true);
    }
    const double pad = 0.08 * std::max({xHi - xLo, 2 * yHi, 1e-6});
    m_fitLeft = xLo - pad;
    m_fitRight = xHi + pad;
    m_fitHalfHeight = yHi + pad;
    m_userZoomed = false;
    m_discPlot->replot(QCustomPlot::rpQueuedReplot);
}

void TeachingView::fitDiscs()
{
    if (m_userZoomed)
        return;
    // From the bounding box each time: widening the previous ranges would let them grow with every resize.
    m_discPlot->xAxis->setRange(m_fitLeft, m_fitRight);
    m_discPlot->yAxis->setRange(-m_fitHalfHeight, m_fitHalfHeight);
    plotstyle::keepSquareUnits(m_discPlot);  // round discs
}

void TeachingView::resizeEvent(QResizeEvent* event)
{
    QWidget::resizeEvent(event);
    m_discPlot->replot(QCustomPlot::rpQueuedReplot);
}

}  // namespace aq::widgets
