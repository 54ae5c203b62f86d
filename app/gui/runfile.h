#pragma once
// A finished run's record (read by the engine, aq/run_file.h) in the window's terms: the configuration, the
// perplexities, the per-epoch losses and the per-epoch minimum margins.
#include "viewdata.h"

#include "aq/calibrate.h"

#include <QJsonObject>
#include <QString>
#include <QVector>

#include <optional>

namespace aq::gui {

struct RunFile {
    struct EpochMinimum {
        int block = 0;
        int epoch = 0;
        int epochs = 0;
        QString transform;
        double minMargin = 0;
    };

    QString runDir;
    QString modelDir;       ///< as recorded; may be relative to where the run was started
    QString calibrationText;
    aq::QuantConfig config;
    widgets::RunRecord record;
    /// Mean loss of each epoch per block, at the step index where the epoch ends (the live curves' x scale).
    QVector<widgets::LossSeries> epochLosses;
    QVector<EpochMinimum> minima;
    int recoveries = 0;
};

/// A configuration from run.json's "configuration" object (or aq::quantConfigJson's text); defaults for anything
/// missing, so configurations written by older or newer versions still load. Throws aq::Error(BadInput) for a key of
/// the wrong type or an unknown method.
aq::QuantConfig configFromJson(const QJsonObject& j);

/// The results-table row of a run in `runDir` with `config`: its name, method, preset, bits, group, samples, length
/// and epochs (perplexities, evaluation, duration and edits are the caller's).
widgets::RunRecord runRecord(const QString& runDir, const aq::QuantConfig& config);

/// Reads `runDir`/run.json. Throws aq::Error(BadInput) when it is missing, unreadable, of a newer format or not a
/// completed run.
RunFile readRunFile(const QString& runDir);

/// A run folder whose calibration stopped before the end (cancelled, failed, or the program ended): what the engine's
/// progress.json records, enough to continue it with the same model, text and configuration.
struct InterruptedRun {
    QString runDir;
    QString modelDir;
    QString calibrationText;
    aq::QuantConfig config;
    int completedBlocks = 0;
    int numBlocks = 0;       ///< 0 when the record predates it
    bool resumable = false;  ///< the record names the model, text and configuration (older records do not)
};

/// Reads `runDir`/progress.json of a run without run.json; std::nullopt when there is none, it is unreadable, or the
/// run completed.
std::optional<InterruptedRun> readInterruptedRun(const QString& runDir);

}  // namespace aq::gui
