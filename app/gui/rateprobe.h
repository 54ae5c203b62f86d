#pragma once
// How long a calibration takes on a device, measured rather than guessed: a short real calibration of the model's
// first block (a few samples, two epochs, the chosen configuration and device) on a low-priority thread of its own,
// stopped when the first block is done. Its timings are kept per unit of work (per sample, per step, per epoch), so
// that they scale to any number of samples, epochs and blocks (estimateCalibrationSeconds).
#include "aq/calibrate.h"

#include <QElapsedTimer>
#include <QFutureWatcher>
#include <QMetaType>
#include <QObject>
#include <QString>
#include <QThreadPool>
#include <QTimer>

#include <atomic>
#include <memory>

namespace aq::gui {

/// What the measurement found. Seconds are wall-clock times on the measured device.
struct CalibrationTimings {
    bool valid = false;               ///< false: no timings (see error)
    bool complete = false;            ///< false: stopped by the time limit; probeSeconds is then a lower bound
    QString error;                    ///< why there are no timings (the engine's message)
    QString device;
    int64_t probeSamples = 0;         ///< calibration samples the measurement used
    int probeEpochs = 0;
    double probeSeconds = 0;          ///< how long the measurement ran
    bool trained = false;             ///< epochs were run (false: round to nearest, or nothing to learn)
    double setupSeconds = 0;          ///< once per run: the checkpoint, the text, the embeddings, the first block
    double targetsSecondsPerSample = 0;  ///< per block and sample: full-precision targets, statistics, initial loss
    double stepSeconds = 0;           ///< one optimisation step of batchSize samples, from the second epoch
    double epochEndSeconds = 0;       ///< per block and epoch beyond its steps: the matrices' diagnostics, snapshots
    double mergeSecondsPerSample = 0; ///< per block and sample: merging, the quantized stream's next input
    double blockSecondsPerSample = 0; ///< without training: the whole block, per sample
    bool fromRun = false;             ///< stepSeconds comes from a whole run of this key, not the short measurement
};

/// Seconds a calibration with `config` of `numBlocks` blocks takes according to `t`: the calibration itself, without
/// writing the model and the evaluation after it. 0 when `t` is not valid.
double estimateCalibrationSeconds(const CalibrationTimings& t, const aq::QuantConfig& config, int numBlocks);

/// The settings that change the cost of one step or one sample (the device, the model, bits, groups, transforms,
/// sequence length, batch size, ...), but not the number of samples or epochs, the seed or the learning rates:
/// timings measured for one key hold for every configuration with the same key.
QString timingKey(const QString& modelDir, const aq::QuantConfig& config);

/// Seconds the evaluation after a run takes: three perplexities (full precision, round to nearest, quantized) over
/// `evalTokens` tokens in windows of the calibration's sequence length, each a forward pass through `numBlocks`
/// blocks. `secondsPerWindowBlock` > 0 is what an earlier evaluation measured per window and block; otherwise the
/// measured cost of the full-precision targets per sample and block stands in (an upper bound: the targets also
/// gather statistics and initialise the transforms). 0 when neither is known.
double estimateEvaluationSeconds(const CalibrationTimings& t, const aq::QuantConfig& config, int numBlocks,
                                 int64_t evalTokens, double secondsPerWindowBlock = 0);

/// `t` with the step time a finished run of its key measured: `epochSeconds` summed over `epochs` epochs of
/// `stepsPerEpoch` steps. A whole run averages over far more steps than the short measurement, so later estimates of
/// the same key use it.
CalibrationTimings refinedByRun(CalibrationTimings t, double epochSeconds, int epochs, double stepsPerEpoch);

class RateProbe : public QObject {
    Q_OBJECT
public:
    explicit RateProbe(QObject* parent = nullptr);
    /// Cancels a measurement in progress and waits for it (at most one step of the engine).
    ~RateProbe() override;

    static constexpr int kProbeSteps = 4;
    static constexpr int kProbeEpochs = 2;
    /// A measurement that takes longer is stopped; the estimate then says "more than".
    static constexpr int kTimeLimitMs = 60000;

    /// Starts measuring `config` (its device included) on `modelDir` with samples from `calibrationText`;
    /// measured() follows. Returns false, and starts nothing, while another measurement runs: cancel() it and start
    /// again after stopped().
    bool start(const QString& modelDir, const QString& calibrationText, const aq::QuantConfig& config);
    /// Stops the measurement in progress without a result. Returns at once.
    void cancel();
    bool isRunning() const { return m_watcher.isRunning(); }
    /// The timing key of the measurement in progress (empty when none).
    QString runningKey() const { return isRunning() ? m_key : QString(); }

signals:
    /// A measurement ended (also when it failed: `timings.valid` is then false). Not emitted for cancelled ones.
    void measured(const QString& key, const aq::gui::CalibrationTimings& timings);
    /// The measurement's thread is free again, whatever the outcome (after measured(), if that came).
    void stopped();

private:
    void onFinished();

    QThreadPool m_pool;  ///< one thread, lowered in priority like the calibration worker's
    QFutureWatcher<CalibrationTimings> m_watcher;
    std::shared_ptr<std::atomic<bool>> m_cancel;
    QTimer m_limit;
    QString m_key;
    bool m_dropResult = false;
};

}  // namespace aq::gui

Q_DECLARE_METATYPE(aq::gui::CalibrationTimings)
