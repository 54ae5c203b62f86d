#include "runfile.h"

#include "settingnames.h"

#include "aq/calibrate.h"
#include "aq/error.h"
#include "aq/model_config.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
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
    const QString path = QDir(runDir).filePath(QStringLiteral("run.json"));
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly))
        aq::badInput("'" + runDir.toStdString() + "' is not a run folder: it has no readable run.json");
    QJsonParseError err;
    const QJsonDocument doc = QJsonDocument::fromJson(f.readAll(), &err);
    if (err.error != QJsonParseError::NoError || !doc.isObject())
        aq::badInput(path.toStdString() + " is not valid JSON: " + err.errorString().toStdString());
    const QJsonObject j = doc.object();
    if (j.value(QLatin1String("status")).toString() != QLatin1String("complete"))
        aq::badInput("the run in '" + runDir.toStdString() + "' did not complete; only completed runs can be opened");

    RunFile r;
    r.runDir = QFileInfo(runDir).absoluteFilePath();
    r.modelDir = j.value(QLatin1String("model")).toString();
    r.calibrationText = j.value(QLatin1String("calibration_text")).toString();
    r.config = configFromJson(j.value(QLatin1String("configuration")).toObject());
    r.config.device = j.value(QLatin1String("device")).toString(QStringLiteral("cpu")).toStdString();
    r.recoveries = j.value(QLatin1String("recoveries")).toArray().size();

    r.record = runRecord(r.runDir, r.config);
    const QJsonObject eval = j.value(QLatin1String("eval")).toObject();
    r.record.fpPerplexity = eval.value(QLatin1String("fp_perplexity")).toDouble();
    r.record.rtnPerplexity = eval.value(QLatin1String("rtn_perplexity")).toDouble();
    r.record.quantPerplexity = eval.value(QLatin1String("quant_perplexity")).toDouble();
    if (!eval.isEmpty()) {
        r.record.evalSeqlen = eval.value(QLatin1String("seqlen")).toInteger();
        // "windows" is the cap asked for (0: every window); "windows_evaluated" what the text gave, in runs written
        // since it is recorded.
        r.record.evalWindows = eval.value(QLatin1String("windows_evaluated"))
                                   .toInteger(eval.value(QLatin1String("windows")).toInteger());
        r.record.evalText = QFileInfo(eval.value(QLatin1String("text")).toString()).fileName();
    }
    r.record.seconds = j.value(QLatin1String("seconds")).toDouble();
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
    for (const QJsonValue& bv : j.value(QLatin1String("blocks")).toArray()) {
        const QJsonObject b = bv.toObject();
        widgets::LossSeries series;
        series.block = b.value(QLatin1String("block")).toInt();
        const QJsonArray epochs = b.value(QLatin1String("epochs")).toArray();
        for (const QJsonValue& ev : epochs) {
            const QJsonObject e = ev.toObject();
            const int epoch = e.value(QLatin1String("epoch")).toInt();
            if (e.contains(QLatin1String("mean_loss"))) {
                series.steps.push_back((epoch + 1) * stepsPerEpoch - 1);
                series.losses.push_back(e.value(QLatin1String("mean_loss")).toDouble());
            }
            const QJsonObject matrices = e.value(QLatin1String("matrices")).toObject();
            for (auto it = matrices.begin(); it != matrices.end(); ++it)
                r.minima.push_back({series.block, epoch, r.config.epochs, it.key(),
                                    it.value().toObject().value(QLatin1String("min_margin")).toDouble()});
        }
        if (!series.steps.isEmpty())
            r.epochLosses.push_back(series);
    }
    return r;
}

std::optional<InterruptedRun> readInterruptedRun(const QString& runDir)
{
    const QDir dir(runDir);
    if (dir.exists(QStringLiteral("run.json")))
        return std::nullopt;
    QFile f(dir.filePath(QStringLiteral("progress.json")));
    if (!f.open(QIODevice::ReadOnly) || f.size() > (qint64(64) << 20))
        return std::nullopt;
    const QJsonDocument doc = QJsonDocument::fromJson(f.readAll());
    if (!doc.isObject())
        return std::nullopt;
    const QJsonObject j = doc.object();
    InterruptedRun r;
    r.runDir = QFileInfo(runDir).absoluteFilePath();
    r.completedBlocks = j.value(QLatin1String("completed_blocks")).toInt();
    r.numBlocks = j.value(QLatin1String("num_blocks")).toInt();
    r.modelDir = j.value(QLatin1String("model")).toString();
    r.calibrationText = j.value(QLatin1String("calibration_text")).toString();
    r.resumable = !r.modelDir.isEmpty() && !r.calibrationText.isEmpty() &&
                  j.value(QLatin1String("configuration")).isObject();
    if (r.resumable) {
        try {
            r.config = configFromJson(j.value(QLatin1String("configuration")).toObject());
        } catch (const aq::Error&) {
            r.resumable = false;  // a configuration this version cannot read is not resumed
        }
    }
    return r;
}

}  // namespace aq::gui
