#include "runfile.h"

#include "settingnames.h"

#include "aq/calibrate.h"
#include "aq/error.h"
#include "aq/model_config.h"
#include "aq/run_file.h"

#include <QDir>
#include <QFileInfo>
#include <QJsonDocument>
#include <QJsonObject>

#include <algorithm>
#include <optional>

namespace aq::gui {

aq::QuantConfig configFromJson(const QJsonObject& j)
{
    // The engine's reader (aq::quantConfigFromJson): one parser of the format, whoever reads it.
    return aq::quantConfigFromJson(QJsonDocument(j).toJson(QJsonDocument::Compact).toStdString());
}

widgets::RunRecord runRecord(const QString& runDir, const aq::QuantConfig& config)
{
    widgets::RunRecord r;
    r.id = runDir;
    r.name = QFileInfo(runDir).fileName();
    r.method = QString::fromLatin1(aq::methodName(config.method));
    r.preset = QString::fromStdString(config.preset);
    r.wbits = config.wbits;
    r.abits = config.abits;
    r.groupSize = config.groupSize;
    r.nsamples = config.nsamples;
    r.seqlen = config.seqlen;
    r.epochs = config.epochs;
    return r;
}

RunFile readRunFile(const QString& runDir)
{
    const aq::RunDescription run = aq::readRunDescription(runDir.toStdString());  // the engine's reader
    RunFile r;
    r.runDir = QFileInfo(runDir).absoluteFilePath();
    r.modelDir = QString::fromStdString(run.modelDir);
    r.calibrationText = QString::fromStdString(run.calibrationText);
    r.config = run.config;
    r.recoveries = run.recoveries;

    r.record = runRecord(r.runDir, r.config);
    if (run.evaluation) {
        const aq::RunEvaluationRecord& e = *run.evaluation;
        r.record.fpPerplexity = e.fpPerplexity;
        r.record.rtnPerplexity = e.rtnPerplexity;
        r.record.quantPerplexity = e.quantPerplexity;
        r.record.evalSeqlen = e.seqlen;
        // "windows" is the cap asked for (0: every window); "windows_evaluated" what the text gave, in runs written
        // since it is recorded.
        r.record.evalWindows = e.windowsEvaluated > 0 ? e.windowsEvaluated : e.windows;
        r.record.evalText = QFileInfo(QString::fromStdString(e.text)).fileName();
    }
    r.record.seconds = run.seconds;
    // Edits of the preset, judged on the model the run used: its copy inside the run folder, else the original.
    std::optional<aq::ModelConfig> model;
    for (const QString& dir : {QDir(r.runDir).filePath(QStringLiteral("model")), r.modelDir}) {
        try {
            model = aq::loadModelConfig(dir.toStdString());
            break;
        } catch (const std::exception&) {
        }
    }
    r.record.edits = presetEdits(r.config, model ? &*model : nullptr);

    const double stepsPerEpoch =
        double(std::max<int64_t>(1, r.config.nsamples / std::max<int64_t>(1, r.config.batchSize)));
    for (const aq::RunBlockRecord& b : run.blocks) {
        widgets::LossSeries series;
        series.block = b.block;
        for (const aq::RunEpochRecord& e : b.epochs) {
            if (e.meanLoss) {
                series.steps.push_back((e.epoch + 1) * stepsPerEpoch - 1);
                series.losses.push_back(*e.meanLoss);
            }
            for (const auto& [transform, margin] : e.minMargins)
                r.minima.push_back({series.block, e.epoch, r.config.epochs,
                                    QString::fromLatin1(aq::siteName(transform)), margin});
        }
        if (!series.steps.isEmpty())
            r.epochLosses.push_back(series);
    }
    return r;
}

std::optional<InterruptedRun> readInterruptedRun(const QString& runDir)
{
    const std::optional<aq::RunProgress> progress = aq::readRunProgress(runDir.toStdString());
    if (!progress)
        return std::nullopt;
    InterruptedRun r;
    r.runDir = QFileInfo(runDir).absoluteFilePath();
    r.completedBlocks = progress->completedBlocks;
    r.numBlocks = progress->numBlocks;
    r.modelDir = QString::fromStdString(progress->modelDir);
    r.calibrationText = QString::fromStdString(progress->calibrationText);
    r.resumable = progress->resumable();
    if (progress->config)
        r.config = *progress->config;
    return r;
}

}  // namespace aq::gui
