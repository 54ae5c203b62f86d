#pragma once
// The memory and time estimate under the model: the engine's memory figure for the configuration and device, and the
// time that RateProbe's measurements (or the last run of the same kind) give, measured in the background once the
// configuration has stopped changing.
#include "rateprobe.h"

#include "aq/calibrate.h"

#include <QHash>
#include <QLabel>

#include <functional>

class QComboBox;
class QSpinBox;
class QTimer;

namespace aq::gui {

class ConfigPanel;
class ModelPanel;

class EstimatePanel : public QLabel {
    Q_OBJECT
public:
    /// What the estimate is of: the window's model, configuration and run settings.
    struct Inputs {
        ModelPanel* model = nullptr;
        ConfigPanel* config = nullptr;
        QComboBox* device = nullptr;
        QSpinBox* ranks = nullptr;
        QSpinBox* evalWindows = nullptr;
        std::function<QString()> calibrationText;
        std::function<QString()> evaluationText;
        /// A calibration or an export runs: it has the cores to itself, so nothing is measured meanwhile.
        std::function<bool()> calibrating;
        std::function<bool()> exporting;
    };

    /// Milliseconds between the last change of the configuration and the measurement it needs.
    static constexpr int kMeasureDelayMs = 800;

    explicit EstimatePanel(QWidget* parent = nullptr);
    void setInputs(Inputs inputs);

    /// Shows the estimate of the current inputs; schedules the measurement it lacks.
    void refresh();
    /// The time estimate in seconds (calibration only), or 0 while it is not known.
    double estimatedSeconds() const { return m_estimatedSeconds; }
    RateProbe* probe() const { return m_probe; }
    /// A run starts: the scheduled measurement and the running one stop.
    void holdMeasurements();
    /// A run's own time per step is a better figure than the short measurement's: later estimates of the same kind
    /// of configuration use it.
    void refineByRun(const QString& modelDir, const aq::QuantConfig& config, double epochSeconds, int epochs,
                     double stepsPerEpoch);
    /// What an evaluation took per window and block: the next estimate of an evaluation on this model and device
    /// uses it instead of the targets' cost.
    void learnEvaluationRate(const aq::QuantConfig& config, double secondsPerWindowAndBlock);

private:
    void measureIfNeeded();
    /// The panel's configuration on the chosen device.
    aq::QuantConfig currentConfig() const;
    QString memoryText(const aq::ModelConfig& model, const aq::QuantConfig& c) const;
    /// Also sets the estimated seconds, and starts the measurement delay when nothing is known yet.
    QString timeText(const aq::QuantConfig& c, int blocks);
    QString toolTipText(const aq::QuantConfig& c, int blocks, int64_t parameterCount) const;
    /// Tokens the evaluation after a run reads (0: none): the chosen windows, or the whole text estimated by size.
    int64_t evaluationTokens(const aq::QuantConfig& c) const;
    QString evalRateKey(const aq::QuantConfig& c) const;

    Inputs m_inputs;
    RateProbe* m_probe = nullptr;
    QTimer* m_measureDelay = nullptr;
    QHash<QString, CalibrationTimings> m_timings;  ///< measured timings by timingKey()
    QHash<QString, double> m_evalRates;  ///< measured evaluation seconds per window and block, by evalRateKey
    double m_estimatedSeconds = 0;
    double m_estimatedEvalSeconds = 0;
};

}  // namespace aq::gui
