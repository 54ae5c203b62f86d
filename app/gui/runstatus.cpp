#include "runstatus.h"

#include <QLabel>
#include <QMainWindow>
#include <QProgressBar>
#include <QStatusBar>
#include <QStringList>
#include <QTimer>

#include <algorithm>
#include <cmath>

namespace aq::gui {

namespace {

/// Gives `label` a fixed size that fits each of `texts`. A fixed-size widget does not ask its parents for a new
/// layout when its text changes.
void fixFieldSize(QLabel* label, const QStringList& texts)
{
    int width = 0;
    for (const QString& text : texts) {
        label->setText(text);
        width = std::max(width, label->sizeHint().width());
    }
    const int height = label->sizeHint().height();
    label->clear();
    label->setFixedSize(width, height);
}

}  // namespace

RunStatus::RunStatus(QMainWindow* window, std::function<bool()> running, std::function<double()> estimatedSeconds)
    : QObject(window), m_running(std::move(running)), m_estimatedSeconds(std::move(estimatedSeconds))
{
    createFields(window);
}

void RunStatus::createFields(QMainWindow* window)
{
    m_stateLabel = new QLabel(tr("Ready"), window);
    m_ranksLabel = new QLabel(window);
    m_ranksLabel->setToolTip(tr("Calibration windows per second of each rank's own work in the last epoch (time spent "
                                "waiting for the other ranks left out)"));
    m_ranksLabel->hide();  // shown for data-parallel runs
    m_blockLabel = new QLabel(window);
    m_epochLabel = new QLabel(window);
    m_lossLabel = new QLabel(window);
    m_etaLabel = new QLabel(window);
    m_progress = new QProgressBar(window);
    m_progress->setRange(0, 1000);
    m_progress->setMaximumWidth(180);
    m_progress->setTextVisible(false);
    // The fields that change during a run get a fixed size, wide enough for their longest text: a label whose size
    // may change makes the whole window lay itself out again at every new text, and the loss field changes twenty
    // times a second.
    const QString wide = QStringLiteral("8888");
    fixFieldSize(m_blockLabel, {tr("Block %1/%2").arg(wide, wide)});
    fixFieldSize(m_epochLabel, {tr("Epoch %1/%2").arg(wide, wide)});
    fixFieldSize(m_lossLabel, {tr("Loss %1").arg(-8.888e-88, 0, 'g', 4)});
    fixFieldSize(m_etaLabel,
                 {tr("ETA %1").arg(QStringLiteral("888:88:88")), tr("%1 elapsed").arg(QStringLiteral("888:88:88"))});
    m_stageTimer = new QTimer(this);
    m_stageTimer->setInterval(1000);
    connect(m_stageTimer, &QTimer::timeout, this, [this] {
        m_etaLabel->setText(tr("%1 elapsed").arg(formatDuration(m_stageClock.elapsed() / 1000.0)));
    });
    QStatusBar* bar = window->statusBar();
    bar->addWidget(m_stateLabel, 1);
    bar->addPermanentWidget(m_ranksLabel);
    for (QLabel* l : {m_blockLabel, m_epochLabel, m_lossLabel, m_etaLabel})
        bar->addPermanentWidget(l);
    bar->addPermanentWidget(m_progress);
}

QString RunStatus::formatDuration(double seconds)
{
    if (!(seconds >= 0) || !std::isfinite(seconds))
        return QStringLiteral("–");
    const qint64 s = qint64(std::llround(seconds));
    if (s >= 3600)
        return QStringLiteral("%1:%2:%3").arg(s / 3600).arg((s / 60) % 60, 2, 10, QLatin1Char('0')).arg(
            s % 60, 2, 10, QLatin1Char('0'));
    return QStringLiteral("%1:%2").arg(s / 60).arg(s % 60, 2, 10, QLatin1Char('0'));
}

QString RunStatus::stageText(aq::Stage what)
{
    switch (what) {
    case aq::Stage::Loading: return tr("Loading the model and the calibration text");
    case aq::Stage::Calibrating: return tr("Calibrating");
    case aq::Stage::FullPrecisionTargets: return tr("Computing the full-precision targets");
    case aq::Stage::Training: return tr("Training the transforms, clipping bounds and shifts");
    case aq::Stage::Merging: return tr("Merging the transforms into the weights");
    case aq::Stage::ReplayingBlock: return tr("Replaying a finished block");
    case aq::Stage::WritingModel: return tr("Writing the quantized model");
    case aq::Stage::Evaluating:
        return tr("Evaluating: perplexity of the full-precision, round-to-nearest and quantized models");
    case aq::Stage::Done: return tr("Done");
    case aq::Stage::Invalid: break;
    }
    return QString::fromUtf8(aq::stageName(what));
}

// ---------------------------------------------------------------------------------------------------------------
// The run's counts

void RunStatus::prepareRun(int numBlocks, const aq::QuantConfig& config, int ranks)
{
    m_numBlocks = numBlocks;
    takeConfig(config);
    m_last = {};
    m_evaluating = false;
    m_runEpochSeconds = 0;
    m_runEpochs = 0;
    m_currentBlock = -1;
    m_recoveries = 0;
    prepareRanksField(ranks);
}

void RunStatus::takeConfig(const aq::QuantConfig& config)
{
    m_epochsPerBlock = config.method == aq::Method::Rtn ? 0 : config.epochs;
    // The engine's steps per epoch (nsamples / batch size, rounded down), the x scale of live and stored curves alike.
    m_stepsPerEpoch = std::max<qint64>(1, config.nsamples / std::max<qint64>(1, config.batchSize));
}

void RunStatus::prepareRanksField(int ranks)
{
    // Each rank's throughput, in a field as wide as the run's ranks need.
    m_ranksLabel->setVisible(ranks > 1);
    if (ranks > 1) {
        QStringList widest;
        for (int r = 0; r < ranks; ++r)
            widest << QStringLiteral("%1: 888.88").arg(r);
        fixFieldSize(m_ranksLabel, {tr("Ranks: %1 windows/s").arg(widest.join(QStringLiteral(" · ")))});
        m_ranksLabel->setText(tr("Ranks: %n", nullptr, ranks));
    }
}

void RunStatus::resumeAfter(int completedBlocks)
{
    // What the run folder says is done, until the engine's first report of the resumed run.
    m_last = {};
    m_last.done = completedBlocks;
    m_last.total = m_numBlocks;
}

// ---------------------------------------------------------------------------------------------------------------
// The reports of the run

void RunStatus::showRunning(bool running)
{
    if (running) {
        m_stateLabel->setText(tr("Running"));
        m_progress->setValue(0);
        updateProgress();  // the estimate's ETA until the first step is timed
    } else {
        m_etaLabel->clear();
    }
}

void RunStatus::stageChanged(aq::Stage what, int block, int numBlocks)
{
    if (numBlocks > 0)
        m_numBlocks = numBlocks;
    if (block >= 0 && block < numBlocks) {  // stages after the last block report block == numBlocks
        m_currentBlock = block;
        m_blockLabel->setText(tr("Block %1/%2").arg(block + 1).arg(numBlocks));
    }
    const QString text = stageText(what);
    m_stateLabel->setText(text);
    emit logLine(text);
    // After the last block the engine writes the model and evaluates it without reporting progress: the bar turns
    // into a busy indicator and the clock shows how long the stage has been running, so it never looks frozen.
    const bool open = what == aq::Stage::WritingModel || what == aq::Stage::Evaluating;
    if (what == aq::Stage::Evaluating)
        m_evaluating = true;  // until the run ends (Done follows the evaluation)
    else if (what != aq::Stage::Done)
        m_evaluating = false;
    setProgressBusy(open);
    if (open) {
        m_stageClock.start();
        m_etaLabel->setText(tr("%1 elapsed").arg(formatDuration(0)));
    } else if (m_running()) {
        updateProgress();
    }
}

void RunStatus::takeEpochCount(int epochs)
{
    if (epochs > 0)
        m_epochsPerBlock = epochs;
}

void RunStatus::lossReported(const aq::StepLoss& last)
{
    m_lossLabel->setText(tr("Loss %1").arg(last.loss, 0, 'g', 4));
    if (last.block != m_currentBlock) {
        m_currentBlock = last.block;
        m_blockLabel->setText(tr("Block %1/%2").arg(last.block + 1).arg(m_numBlocks));
    }
    m_epochLabel->setText(tr("Epoch %1/%2").arg(last.epoch + 1).arg(m_epochsPerBlock));
}

void RunStatus::progressReported(const aq::Progress& p)
{
    m_last = p;
    updateProgress();
}

void RunStatus::epochEnded(const aq::EpochSummary& e)
{
    m_runEpochSeconds += e.seconds;
    ++m_runEpochs;
    m_epochLabel->setText(tr("Epoch %1/%2").arg(e.epoch + 1).arg(e.epochs));
    m_lossLabel->setText(tr("Loss %1").arg(e.meanLoss, 0, 'g', 4));
    if (e.rankWindowsPerSecond.size() > 1)
        showRankThroughput(QVector<double>(e.rankWindowsPerSecond.begin(), e.rankWindowsPerSecond.end()));
}

void RunStatus::showRankThroughput(const QVector<double>& windowsPerSecond)
{
    QStringList ranks;
    for (int r = 0; r < windowsPerSecond.size(); ++r) {
        const double v = windowsPerSecond[r];
        ranks << QStringLiteral("%1: %2").arg(r).arg(v, 0, 'f', v >= 100 ? 0 : v >= 10 ? 1 : 2);
    }
    m_ranksLabel->setText(tr("Ranks: %1 windows/s").arg(ranks.join(QStringLiteral(" · "))));
}

void RunStatus::blockEnded(const aq::BlockSummary& b)
{
    QString line = tr("Block %1/%2 done in %3 s: loss %4 → %5")
                       .arg(b.block + 1)
                       .arg(b.numBlocks)
                       .arg(b.seconds, 0, 'f', 1)
                       .arg(b.initialLoss, 0, 'g', 4)
                       .arg(b.finalLoss, 0, 'g', 4);
    if (!b.perChannelFallback.empty()) {
        QStringList layers;
        for (const std::string& layer : b.perChannelFallback)
            layers << QString::fromStdString(layer);
        line += tr(" (per-channel fallback: %1)").arg(layers.join(QStringLiteral(", ")));
    }
    emit logLine(line);
}

void RunStatus::showRecovered(const QString& reason) { m_stateLabel->setText(tr("Recovered from %1").arg(reason)); }

void RunStatus::setProgressBusy(bool busy)
{
    if (busy == (m_progress->maximum() == 0))
        return;
    if (busy) {
        m_progress->setRange(0, 0);
        m_stageTimer->start();
    } else {
        m_stageTimer->stop();
        m_progress->setRange(0, 1000);
    }
}

void RunStatus::updateProgress()
{
    // The engine's own figures (aq::Progress): steps over the whole run and the time left at its pace.
    if (m_last.total <= 0 && !(m_estimatedSeconds() > 0)) {
        m_etaLabel->clear();
        return;
    }
    const double done = m_last.fraction();
    m_progress->setValue(int(done * 1000));
    if (m_last.remainingSeconds >= 0 && done < 1)
        m_etaLabel->setText(tr("ETA %1").arg(formatDuration(m_last.remainingSeconds)));
    else if (m_last.remainingSeconds < 0 && m_estimatedSeconds() > 0)
        // Before the first step has been timed: the measured estimate, counted down.
        m_etaLabel->setText(
            tr("ETA ~%1").arg(formatDuration(std::max(0.0, m_estimatedSeconds() - m_runClock.elapsed() / 1000.0))));
    else
        m_etaLabel->clear();  // the stages after the last block show their own clock
}

void RunStatus::showCancelling() { m_stateLabel->setText(tr("Cancelling…")); }

void RunStatus::showFinished()
{
    m_stateLabel->setText(tr("Finished"));
    m_progress->setValue(m_progress->maximum());
}

void RunStatus::showFailed() { m_stateLabel->setText(tr("Failed")); }

void RunStatus::showCancelled() { m_stateLabel->setText(tr("Cancelled")); }

}  // namespace aq::gui
