#include "estimatepanel.h"

#include "configpanel.h"
#include "modelpanel.h"
#include "rankprocesses.h"

#include "aq/device.h"
#include "aq/error.h"

#include <QComboBox>
#include <QFileInfo>
#include <QSpinBox>
#include <QTimer>

#include <algorithm>
#include <cmath>

namespace aq::gui {

namespace {

/// A duration rounded for an estimate: "40 s", "12 min", "3 h 20 min".
QString formatApproxDuration(double seconds)
{
    if (!(seconds >= 0) || !std::isfinite(seconds))
        return QStringLiteral("–");
    if (seconds < 90)
        return EstimatePanel::tr("%1 s").arg(std::max<qint64>(1, std::llround(seconds)));
    const qint64 minutes = std::llround(seconds / 60);
    if (minutes < 90)
        return EstimatePanel::tr("%1 min").arg(minutes);
    return EstimatePanel::tr("%1 h %2 min").arg(minutes / 60).arg(minutes % 60);
}

}  // namespace

EstimatePanel::EstimatePanel(QWidget* parent) : QLabel(parent)
{
    setWordWrap(true);
    setTextFormat(Qt::RichText);
    setAlignment(Qt::AlignLeft | Qt::AlignTop);
    // Room for the two lines (memory, time) from the start: a label that grows when its text arrives would move
    // every control below it while the user reaches for one.
    setMinimumHeight(2 * fontMetrics().lineSpacing() + 2);
    m_probe = new RateProbe(this);
    connect(m_probe, &RateProbe::measured, this,
            [this](const QString& key, const CalibrationTimings& timings) { m_timings.insert(key, timings); });
    connect(m_probe, &RateProbe::stopped, this, &EstimatePanel::refresh);
    // A measurement runs the engine for a few seconds: wait until the configuration has stopped changing.
    m_measureDelay = new QTimer(this);
    m_measureDelay->setSingleShot(true);
    m_measureDelay->setInterval(kMeasureDelayMs);
    connect(m_measureDelay, &QTimer::timeout, this, &EstimatePanel::measureIfNeeded);
}

void EstimatePanel::setInputs(Inputs inputs) { m_inputs = std::move(inputs); }

aq::QuantConfig EstimatePanel::currentConfig() const
{
    aq::QuantConfig c = m_inputs.config->config();
    c.device = m_inputs.device->currentData().toString().toStdString();
    return c;
}

void EstimatePanel::refresh()
{
    const auto& summary = m_inputs.model->summary();
    m_estimatedSeconds = 0;
    m_estimatedEvalSeconds = 0;
    if (!summary) {
        clear();
        setToolTip(QString());
        return;
    }
    const aq::QuantConfig c = currentConfig();
    const int blocks = int(summary->config.numLayers);
    const QString memory = memoryText(summary->config, c);
    const QString time = timeText(c, blocks);
    setText(memory + QStringLiteral("<br>") + time);
    setToolTip(toolTipText(c, blocks, summary->parameterCount));
}

QString EstimatePanel::memoryText(const aq::ModelConfig& m, const aq::QuantConfig& c) const
{
    // The engine's own estimate, the figure it checks against the device's free memory before it starts; for a
    // data-parallel run, what each rank needs (its share of the windows and the gradient exchange).
    const QString device = QString::fromStdString(c.device);
    const bool cuda = aq::isCudaDevice(c.device);
    const int ranks = m_inputs.ranks ? m_inputs.ranks->value() : 1;
    const aq::MemoryEstimate mem = aq::estimateCalibrationMemory(m, c, cuda, ranks);
    qint64 freeBytes = -1;
    try {
        for (const aq::DeviceInfo& d : aq::listDevices())
            if (aq::sameDevice(d.id, c.device))
                freeBytes = d.freeBytes;
    } catch (const std::exception&) {
    }
    QString memory;
    if (ranks > 1) {
        const QString devices = cuda ? QStringLiteral("%1–%2").arg(device, RankProcesses::rankDevice(device, ranks - 1))
                                     : device;
        memory = tr("<b>Memory</b> per rank (%n ranks) on %1: about %2 (activation buffers %3, one block %4, one "
                    "training step %5, gradient exchange %6)", nullptr, ranks)
                     .arg(devices.toHtmlEscaped(), formatBytes(mem.deviceBytes()),
                          formatBytes(mem.buffersOnHost ? 0.0 : mem.bufferBytes), formatBytes(mem.blockBytes),
                          formatBytes(mem.stepBytes), formatBytes(mem.commBytes));
    } else {
        memory = tr("<b>Memory</b> on %1: about %2 (activation buffers %3, one block %4, one training step %5)")
                     .arg(device.toHtmlEscaped(), formatBytes(mem.deviceBytes()),
                          formatBytes(mem.buffersOnHost ? 0.0 : mem.bufferBytes), formatBytes(mem.blockBytes),
                          formatBytes(mem.stepBytes));
    }
    if (mem.hostBytes() > 0)
        memory += tr(", plus %1 of host memory for the activation buffers").arg(formatBytes(mem.hostBytes()));
    if (freeBytes > 0 && mem.deviceBytes() > double(freeBytes))
        memory += tr(". <span style='color:#b2182b'>Only %1 is free: the run would stop at once; lower the samples "
                     "or the sequence length.</span>")
                      .arg(formatBytes(double(freeBytes)));
    else if (freeBytes > 0)
        memory += tr("; %1 free.").arg(formatBytes(double(freeBytes)));
    else
        memory += QLatin1Char('.');
    return memory;
}

QString EstimatePanel::timeText(const aq::QuantConfig& c, int blocks)
{
    // Measured timings of this kind of configuration on this device, scaled to the configuration.
    const QString device = QString::fromStdString(c.device);
    const QString calibrationText = m_inputs.calibrationText();
    const QString key = timingKey(m_inputs.model->modelDir(), c);
    QString time;
    const auto it = m_timings.constFind(key);
    if (it != m_timings.constEnd() && it->valid) {
        m_estimatedSeconds = estimateCalibrationSeconds(*it, c, blocks);
        const bool trains = it->trained && c.method != aq::Method::Rtn && c.epochs > 0;
        time = trains ? (it->fromRun ? tr("<b>Time</b>: about %1 for the calibration (the last run of this kind on %2: "
                                          "%3 s per step)")
                                     : tr("<b>Time</b>: about %1 for the calibration (measured on %2: %3 s per step)"))
                            .arg(formatApproxDuration(m_estimatedSeconds), device.toHtmlEscaped())
                            .arg(it->stepSeconds, 0, 'g', 2)
                      : tr("<b>Time</b>: about %1 for the calibration (measured on %2)")
                            .arg(formatApproxDuration(m_estimatedSeconds), device.toHtmlEscaped());
        const double evalRate = m_evalRates.value(evalRateKey(c), 0.0);
        m_estimatedEvalSeconds = estimateEvaluationSeconds(*it, c, blocks, evaluationTokens(c), evalRate);
        if (m_estimatedEvalSeconds > 0)
            time += (evalRate > 0 ? tr(", then about %1 for the evaluation")
                                  : tr(", then at most about %1 for the evaluation"))
                        .arg(formatApproxDuration(m_estimatedEvalSeconds));
    } else if (it != m_timings.constEnd() && !it->complete) {
        // The measurement's first block alone took longer than the time limit, and a run does at least as much
        // per block as the measurement when it has at least as many samples.
        const double perBlock = it->probeSeconds * std::min(1.0, double(c.nsamples) / double(std::max<int64_t>(1, it->probeSamples)));
        time = tr("<b>Time</b>: more than %1 (the measurement's first block did not finish within %2 on %3)")
                   .arg(formatApproxDuration(perBlock * blocks), formatApproxDuration(it->probeSeconds),
                        device.toHtmlEscaped());
    } else if (it != m_timings.constEnd()) {
        time = tr("<b>Time</b>: not measured (%1)").arg(it->error.left(160).toHtmlEscaped());
    } else if (calibrationText.isEmpty() || !QFileInfo(calibrationText).isFile()) {
        time = tr("<b>Time</b>: not measured yet; it needs a calibration text.");
    } else if (m_probe->runningKey() == key) {
        time = tr("<b>Time</b>: measuring on %1…").arg(device.toHtmlEscaped());
    } else {
        time = tr("<b>Time</b>: not measured yet.");
        if (!m_inputs.calibrating())
            m_measureDelay->start();
    }
    return time;
}

QString EstimatePanel::toolTipText(const aq::QuantConfig& c, int blocks, int64_t parameterCount) const
{
    return tr("<p><b>Memory</b> is what the engine checks against the device's free memory before it starts: the "
           "activation buffers (samples x tokens x hidden size in float32, or bfloat16 with mixed precision on large "
           "runs, for the quantized stream and the full-precision targets, a third copy with aug-loss), one block's "
           "weights, transformed copies and gradients in float32, and one training step's saved activations and "
           "attention scores. The evaluation after the run holds the model in float32 (%1) besides.</p>"
           "<p><b>Time</b> comes from a measurement: a short real calibration of the first block on the chosen "
           "device with %2 samples and %3 epochs, run in the background when the device or a setting that changes "
           "the cost of a step (bits, groups, transforms, sequence length, batch size) changes. Its time per sample "
           "(targets, merging), per step and per epoch is scaled to %4 blocks x %5 epochs x %6 samples; after a run "
           "finishes, its own time per step replaces the measurement's for the same kind of configuration. The "
           "evaluation is three passes (full precision, round to nearest, quantized) over the evaluation windows at "
           "the measured cost of the full-precision targets; with all windows, their number is estimated from the "
           "text's size (about 4 bytes a token). Writing the model is not included.</p>")
            .arg(formatBytes(double(parameterCount) * 4.0))
            .arg(std::min<int64_t>(c.nsamples, std::max<int64_t>(1, c.batchSize) * RateProbe::kProbeSteps))
            .arg(std::min(c.epochs, RateProbe::kProbeEpochs))
            .arg(blocks)
            .arg(c.method == aq::Method::Rtn ? 0 : c.epochs)
            .arg(c.nsamples);
}

QString EstimatePanel::evalRateKey(const aq::QuantConfig& c) const
{
    // An evaluation's cost per window and block depends on the model, the device, the window length and whether
    // activations are quantized; not on the calibration settings.
    return QStringList{QFileInfo(m_inputs.model->modelDir()).canonicalFilePath(), QString::fromStdString(c.device),
                       QString::number(c.seqlen), QString::number(c.abits < 16)}
        .join(QLatin1Char('|'));
}

int64_t EstimatePanel::evaluationTokens(const aq::QuantConfig& c) const
{
    const QString evaluationText = m_inputs.evaluationText();
    const QFileInfo text(evaluationText);
    if (evaluationText.isEmpty() || !text.isFile())
        return 0;
    const int64_t all = text.size() / 4;  // English text: about 4 bytes a token for the demo's and LLaMA's tokenizers
    const int64_t windows = m_inputs.evalWindows->value();
    return windows > 0 ? std::min<int64_t>(all, windows * c.seqlen) : all;
}

void EstimatePanel::measureIfNeeded()
{
    const auto& summary = m_inputs.model->summary();
    if (m_inputs.calibrating() || m_inputs.exporting() || !summary || m_inputs.model->isInspecting())
        return;
    const QString calibrationText = m_inputs.calibrationText();
    if (calibrationText.isEmpty() || !QFileInfo(calibrationText).isFile())
        return;
    const aq::QuantConfig c = currentConfig();
    const QString key = timingKey(m_inputs.model->modelDir(), c);
    if (m_timings.contains(key) || m_probe->runningKey() == key)
        return;
    if (m_probe->isRunning()) {
        m_probe->cancel();  // measuring something no longer asked for; stopped() comes back here
        return;
    }
    try {
        aq::validateConfig(c, summary->config);
    } catch (const aq::Error& e) {
        CalibrationTimings refused;
        refused.complete = true;
        refused.error = QString::fromStdString(e.what());
        m_timings.insert(key, refused);
        refresh();
        return;
    }
    if (m_probe->start(m_inputs.model->modelDir(), calibrationText, c))
        refresh();
}

void EstimatePanel::holdMeasurements()
{
    m_measureDelay->stop();
    m_probe->cancel();
}

void EstimatePanel::refineByRun(const QString& modelDir, const aq::QuantConfig& config, double epochSeconds,
                                int epochs, double stepsPerEpoch)
{
    const QString key = timingKey(modelDir, config);
    const auto it = m_timings.constFind(key);
    if (it != m_timings.constEnd())
        m_timings.insert(key, refinedByRun(*it, epochSeconds, epochs, stepsPerEpoch));
}

void EstimatePanel::learnEvaluationRate(const aq::QuantConfig& config, double secondsPerWindowAndBlock)
{
    m_evalRates.insert(evalRateKey(config), secondsPerWindowAndBlock);
}

}  // namespace aq::gui
