#include "rateprobe.h"

#include "threadpriority.h"

#include "aq/error.h"

#include <QTemporaryDir>
#include <QtConcurrent/QtConcurrentRun>

#include <algorithm>
#include <cmath>
#include <chrono>
#include <optional>
#include <exception>
#include <vector>

namespace aq::gui {

namespace {

using Clock = std::chrono::steady_clock;

double secondsBetween(Clock::time_point a, Clock::time_point b)
{
    return std::chrono::duration<double>(b - a).count();
}

/// Records when the engine reaches each point of the first block (on the probe's thread) and stops the run once
/// the first block is done.
class ProbeObserver : public aq::CalibrationObserver {
public:
    explicit ProbeObserver(std::atomic<bool>* cancel) : m_cancel(cancel) {}

    struct StepReport {
        int epoch;
        int step;
        Clock::time_point time;
    };

    std::optional<Clock::time_point> calibrating, targets, merging, blockEnd;
    std::vector<StepReport> steps;
    std::vector<std::pair<int, Clock::time_point>> epochEnds;  ///< epoch, time (a rolled-back epoch comes again)

    void stage(aq::Stage what, int block, int /*numBlocks*/) override
    {
        const auto now = Clock::now();
        if (block >= 1) {
            m_cancel->store(true);  // the first block is all the measurement needs
            return;
        }
        if (what == aq::Stage::Calibrating)
            calibrating = now;
        else if (what == aq::Stage::FullPrecisionTargets)
            targets = now;
        else if (what == aq::Stage::Merging)
            merging = now;
    }
    void stepLoss(const aq::StepLoss& s) override
    {
        if (s.block == 0)
            steps.push_back({s.epoch, s.step, Clock::now()});
    }
    void epochFinished(const aq::EpochSummary& e) override
    {
        if (e.block == 0)
            epochEnds.emplace_back(e.epoch, Clock::now());
    }
    void blockFinished(const aq::BlockSummary& b) override
    {
        if (b.block != 0)
            return;
        blockEnd = Clock::now();
        m_cancel->store(true);
    }

private:
    std::atomic<bool>* m_cancel;
};

CalibrationTimings measure(const aq::CalibrationRequest& request, std::shared_ptr<std::atomic<bool>> cancel)
{
    // The pool has one thread; lower it once, like the calibration worker's.
    thread_local bool lowered = false;
    if (!lowered) {
        lowerCurrentThreadPriority();
        lowered = true;
    }
    CalibrationTimings t;
    t.device = QString::fromStdString(request.config.device);
    t.probeSamples = request.config.nsamples;
    t.probeEpochs = request.config.method == aq::Method::Rtn ? 0 : request.config.epochs;
    QTemporaryDir dir;
    if (!dir.isValid()) {
        t.error = QStringLiteral("cannot create a temporary folder");
        return t;
    }
    aq::CalibrationRequest r = request;
    r.runDir = dir.filePath(QStringLiteral("run")).toStdString();
    r.checkFreeSpace = false;  // only the first block is calibrated and written
    ProbeObserver obs(cancel.get());
    const auto start = Clock::now();
    try {
        aq::runCalibration(r, &obs, cancel.get());
    } catch (const aq::Error& e) {
        if (e.code() != aq::ErrorCode::Cancelled)
            t.error = QString::fromStdString(e.what());
    } catch (const std::exception& e) {
        t.error = QString::fromStdString(e.what());
    }
    t.probeSeconds = secondsBetween(start, Clock::now());
    if (!t.error.isEmpty() || !obs.blockEnd || !obs.calibrating)
        return t;  // failed, or stopped (cancelled or out of time) before the first block was done

    const double samples = double(std::max<int64_t>(1, t.probeSamples));
    t.setupSeconds = secondsBetween(start, *obs.calibrating);
    t.trained = !obs.epochEnds.empty() && obs.targets && obs.merging && !obs.steps.empty();
    if (!t.trained) {
        t.blockSecondsPerSample = secondsBetween(*obs.calibrating, *obs.blockEnd) / samples;
    } else {
        const int64_t stepsPerEpoch = std::max<int64_t>(1, request.config.nsamples / request.config.batchSize);
        // The last epoch measured, as the time from the previous epoch's end (the first: from its first step).
        const int last = obs.epochEnds.back().first;
        const Clock::time_point lastEnd = obs.epochEnds.back().second;
        Clock::time_point lastStart = obs.steps.front().time;
        for (auto it = obs.epochEnds.rbegin() + 1; it != obs.epochEnds.rend(); ++it)
            if (it->first == last - 1) {
                lastStart = it->second;
                break;
            }
        const double epochSeconds = secondsBetween(lastStart, lastEnd);
        // One step: between the first and last reported steps of that epoch, which leaves out the epoch's end;
        // with a single report (fast devices report a few times a second), the whole epoch per step.
        std::vector<ProbeObserver::StepReport> inLast;
        for (const auto& s : obs.steps)
            if (s.epoch == last && s.time <= lastEnd)
                inLast.push_back(s);
        if (inLast.size() >= 2 && inLast.back().step > inLast.front().step)
            t.stepSeconds = secondsBetween(inLast.front().time, inLast.back().time) /
                            double(inLast.back().step - inLast.front().step);
        else
            t.stepSeconds = epochSeconds / double(stepsPerEpoch);
        t.epochEndSeconds = std::max(0.0, epochSeconds - double(stepsPerEpoch) * t.stepSeconds);
        // The first step is reported as soon as it is done: what comes before it is targets and initialisation.
        const double beforeFirstStep = secondsBetween(*obs.targets, obs.steps.front().time) - t.stepSeconds;
        t.targetsSecondsPerSample = std::max(0.0, beforeFirstStep) / samples;
        t.mergeSecondsPerSample = secondsBetween(*obs.merging, *obs.blockEnd) / samples;
    }
    t.complete = true;
    t.valid = true;
    return t;
}

}  // namespace

double estimateCalibrationSeconds(const CalibrationTimings& t, const aq::QuantConfig& config, int numBlocks)
{
    if (!t.valid)
        return 0;
    const double samples = double(config.nsamples);
    const double blocks = double(std::max(0, numBlocks));
    const bool trains = config.method != aq::Method::Rtn && config.epochs > 0;
    if (!t.trained || !trains) {
        const double perSample = t.trained ? t.targetsSecondsPerSample + t.mergeSecondsPerSample
                                           : t.blockSecondsPerSample;
        return t.setupSeconds + blocks * samples * perSample;
    }
    const double stepsPerEpoch = samples / double(std::max<int64_t>(1, config.batchSize));
    const double epoch = stepsPerEpoch * t.stepSeconds + t.epochEndSeconds;
    return t.setupSeconds +
           blocks * (samples * (t.targetsSecondsPerSample + t.mergeSecondsPerSample) + double(config.epochs) * epoch);
}

double estimateEvaluationSeconds(const CalibrationTimings& t, const aq::QuantConfig& config, int numBlocks,
                                 int64_t evalTokens, double secondsPerWindowBlock)
{
    if ((!t.valid && secondsPerWindowBlock <= 0) || evalTokens <= 0)
        return 0;
    const double windows = std::floor(double(evalTokens) / double(std::max<int64_t>(1, config.seqlen)));
    const double perSample = secondsPerWindowBlock > 0 ? secondsPerWindowBlock
                             : t.trained             ? t.targetsSecondsPerSample
                                                     : t.blockSecondsPerSample;
    return 3.0 * windows * double(std::max(0, numBlocks)) * perSample;
}

CalibrationTimings refinedByRun(CalibrationTimings t, double epochSeconds, int epochs, double stepsPerEpoch)
{
    if (!t.valid || !t.trained || epochs <= 0 || stepsPerEpoch <= 0 || !(epochSeconds > 0))
        return t;
    t.stepSeconds = epochSeconds / double(epochs) / stepsPerEpoch;
    t.epochEndSeconds = 0;  // inside the run's epoch times
    t.fromRun = true;
    return t;
}

QString timingKey(const QString& modelDir, const aq::QuantConfig& c)
{
    // Everything that changes the work of a step, of a sample or of a block's merge (the settings the table marks
    // so); not the number of samples or epochs, the seed, the learning rates or the recovery settings.
    QStringList key{modelDir, QString::fromStdString(c.device), QString::fromLatin1(aq::methodName(c.method))};
    for (const aq::Setting& s : aq::quantSettings())
        if (s.stepCost)
            key << QString::number(s.value(c), 'g', 17);
    key << QString::number(c.epochs > 0);
    return key.join(QLatin1Char('|'));
}

RateProbe::RateProbe(QObject* parent) : QObject(parent)
{
    qRegisterMetaType<aq::gui::CalibrationTimings>();
    m_pool.setMaxThreadCount(1);
    m_limit.setSingleShot(true);
    m_limit.setInterval(kTimeLimitMs);
    // Out of time: stop the engine but keep what was measured (the result then says "more than").
    connect(&m_limit, &QTimer::timeout, this, [this] {
        if (m_cancel)
            m_cancel->store(true);
    });
    connect(&m_watcher, &QFutureWatcher<CalibrationTimings>::finished, this, &RateProbe::onFinished);
}

RateProbe::~RateProbe()
{
    cancel();
    m_watcher.waitForFinished();
    m_pool.waitForDone();
}

bool RateProbe::start(const QString& modelDir, const QString& calibrationText, const aq::QuantConfig& config)
{
    if (isRunning())
        return false;
    aq::CalibrationRequest r;
    r.modelDir = modelDir.toStdString();
    r.calibTextPath = calibrationText.toStdString();
    r.config = config;
    const int64_t batch = std::max<int64_t>(1, config.batchSize);
    r.config.nsamples = std::min<int64_t>(config.nsamples, batch * kProbeSteps);
    r.config.epochs = std::min(config.epochs, kProbeEpochs);
    r.config.maxRecoveries = std::max(config.maxRecoveries, 1);
    m_key = timingKey(modelDir, config);
    m_dropResult = false;
    m_cancel = std::make_shared<std::atomic<bool>>(false);
    m_watcher.setFuture(QtConcurrent::run(&m_pool, [r, cancel = m_cancel] { return measure(r, cancel); }));
    m_limit.start();
    return true;
}

void RateProbe::cancel()
{
    m_limit.stop();
    if (!isRunning())
        return;
    m_dropResult = true;
    if (m_cancel)
        m_cancel->store(true);
}

void RateProbe::onFinished()
{
    m_limit.stop();
    CalibrationTimings t = m_watcher.result();
    if (!m_dropResult) {
        if (!t.valid && t.error.isEmpty())
            t.complete = false;  // stopped by the time limit before the first block was done
        emit measured(m_key, t);
    }
    emit stopped();
}

}  // namespace aq::gui
