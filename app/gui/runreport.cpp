#include "runreport.h"

#include "plotexport.h"

#include "aq/error.h"
#include "aq/run_file.h"

#include <QCoreApplication>
#include <QDir>
#include <QJsonArray>
#include <QJsonValue>
#include <QJsonDocument>
#include <QJsonObject>

#include <iterator>
#include <tuple>

namespace aq::gui {

namespace {

struct T {
    Q_DECLARE_TR_FUNCTIONS(RunReport)
};

QString valueText(const QJsonValue& v)
{
    switch (v.type()) {
    case QJsonValue::Bool: return v.toBool() ? QStringLiteral("true") : QStringLiteral("false");
    case QJsonValue::Double: return QString::number(v.toDouble(), 'g', 10);
    case QJsonValue::String: return v.toString();
    case QJsonValue::Array:
    case QJsonValue::Object: {
        const QJsonDocument d = v.isArray() ? QJsonDocument(v.toArray()) : QJsonDocument(v.toObject());
        return QString::fromUtf8(d.toJson(QJsonDocument::Compact));
    }
    default: return QString();
    }
}

/// A number as the report shows it (ten significant digits).
QString number(double v) { return QString::number(v, 'g', 10); }

QString mdCell(QString s) { return s.replace('|', QStringLiteral("\\|")).replace('\n', ' '); }

}  // namespace

std::optional<RunReport> makeRunReport(const QString& runDir, QString* error)
{
    aq::RunDescription run;
    try {
        run = aq::readRunDescription(runDir.toStdString());  // the engine's reader
    } catch (const aq::Error& e) {
        if (error)
            *error = QString::fromStdString(e.what());
        return std::nullopt;
    }
    RunReport r;
    QString& md = r.markdown;
    QString& csv = r.csv;
    csv = QStringLiteral("section,name,value\n");
    auto csvRow = [&](const QString& section, const QString& name, const QString& value) {
        csv += widgets::csvField(section) + ',' + widgets::csvField(name) + ',' + widgets::csvField(value) + '\n';
    };

    md += QStringLiteral("# %1\n\n").arg(T::tr("Run %1").arg(QDir(runDir).dirName()));
    const std::pair<const char*, QString> facts[] = {
        {QT_TRANSLATE_NOOP("RunReport", "Model"), QString::fromStdString(run.modelDir)},
        {QT_TRANSLATE_NOOP("RunReport", "Calibration text"), QString::fromStdString(run.calibrationText)},
        {QT_TRANSLATE_NOOP("RunReport", "Device"), QString::fromStdString(run.config.device)},
        {QT_TRANSLATE_NOOP("RunReport", "Status"), QStringLiteral("complete")},
        {QT_TRANSLATE_NOOP("RunReport", "Duration (s)"), number(run.seconds)},
        {QT_TRANSLATE_NOOP("RunReport", "Recoveries"), QString::number(run.recoveries)},
    };
    const char* const factKeys[] = {"model", "calibration_text", "device", "status", "seconds", "recoveries"};
    for (size_t i = 0; i < std::size(facts); ++i) {
        md += QStringLiteral("- %1: %2\n").arg(T::tr(facts[i].first), mdCell(facts[i].second));
        csvRow(QStringLiteral("run"), QLatin1String(factKeys[i]), facts[i].second);
    }
    for (const auto& [program, version] : run.versions) {
        md += QStringLiteral("- %1 %2\n").arg(QString::fromStdString(program), QString::fromStdString(version));
        csvRow(QStringLiteral("run"), QStringLiteral("version ") + QString::fromStdString(program),
               QString::fromStdString(version));
    }

    if (run.evaluation) {
        const aq::RunEvaluationRecord& e = *run.evaluation;
        const QString text = QString::fromStdString(e.text);
        md += QStringLiteral("\n## %1\n\n").arg(T::tr("Perplexity"));
        md += T::tr("%1 windows of %2 tokens of %3.").arg(QString::number(e.windows), QString::number(e.seqlen), mdCell(text)) +
              QStringLiteral("\n\n");
        md += QStringLiteral("| %1 | %2 |\n|---|---|\n").arg(T::tr("model"), T::tr("perplexity"));
        const std::tuple<const char*, const char*, double> ppl[] = {
            {"fp_perplexity", QT_TRANSLATE_NOOP("RunReport", "full precision"), e.fpPerplexity},
            {"rtn_perplexity", QT_TRANSLATE_NOOP("RunReport", "round to nearest"), e.rtnPerplexity},
            {"quant_perplexity", QT_TRANSLATE_NOOP("RunReport", "this run"), e.quantPerplexity},
        };
        for (const auto& [key, label, value] : ppl) {
            md += QStringLiteral("| %1 | %2 |\n").arg(T::tr(label), number(value));
            csvRow(QStringLiteral("perplexity"), QLatin1String(key), number(value));
        }
        csvRow(QStringLiteral("perplexity"), QStringLiteral("windows"), QString::number(e.windows));
        csvRow(QStringLiteral("perplexity"), QStringLiteral("seqlen"), QString::number(e.seqlen));
        csvRow(QStringLiteral("perplexity"), QStringLiteral("text"), text);
    }

    // Every setting as run.json stores it (the engine's JSON form: new settings appear without a change here).
    const QJsonObject config =
        QJsonDocument::fromJson(QByteArray::fromStdString(aq::quantConfigJson(run.config))).object();
    if (!config.isEmpty()) {
        md += QStringLiteral("\n## %1\n\n| %2 | %3 |\n|---|---|\n").arg(T::tr("Configuration"), T::tr("setting"), T::tr("value"));
        for (auto it = config.begin(); it != config.end(); ++it) {  // QJsonObject iterates in key order
            const QString v = valueText(it.value());
            md += QStringLiteral("| %1 | %2 |\n").arg(it.key(), mdCell(v));
            csvRow(QStringLiteral("configuration"), it.key(), v);
        }
    }

    if (!run.blocks.empty()) {
        md += QStringLiteral("\n## %1\n\n| %2 | %3 | %4 | %5 | %6 | %7 |\n|---|---|---|---|---|---|\n")
                  .arg(T::tr("Blocks"), T::tr("block"), T::tr("loss before"), T::tr("loss after"), T::tr("change"), T::tr("seconds"),
                       T::tr("recoveries"));
        auto optional = [](const std::optional<double>& v) { return v ? number(*v) : QString(); };
        for (const aq::RunBlockRecord& b : run.blocks) {
            const QString id = QString::number(b.block);
            const double before = b.initialLoss.value_or(0), after = b.finalLoss.value_or(0);
            const QString change =
                before > 0 ? QStringLiteral("%1 %").arg(100.0 * (after / before - 1.0), 0, 'f', 1) : QString();
            md += QStringLiteral("| %1 | %2 | %3 | %4 | %5 | %6 |\n")
                      .arg(id, optional(b.initialLoss), optional(b.finalLoss), change,
                           QString::number(b.seconds, 'f', 1))
                      .arg(b.recoveries);
            const QString section = QStringLiteral("block ") + id;
            if (b.initialLoss)
                csvRow(section, QStringLiteral("initial_loss"), number(*b.initialLoss));
            if (b.finalLoss)
                csvRow(section, QStringLiteral("final_loss"), number(*b.finalLoss));
            csvRow(section, QStringLiteral("seconds"), number(b.seconds));
            csvRow(section, QStringLiteral("recoveries"), QString::number(b.recoveries));
        }
    }
    return r;
}

}  // namespace aq::gui
