#include "runreport.h"

#include "plotexport.h"

#include <QCoreApplication>
#include <QDir>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>

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

QString mdCell(QString s) { return s.replace('|', QStringLiteral("\\|")).replace('\n', ' '); }

}  // namespace

std::optional<RunReport> makeRunReport(const QString& runDir, QString* error)
{
    const QString path = QDir(runDir).filePath(QStringLiteral("run.json"));
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly)) {
        if (error)
            *error = T::tr("Cannot read %1: %2").arg(QDir::toNativeSeparators(path), f.errorString());
        return std::nullopt;
    }
    QJsonParseError pe;
    const QJsonDocument doc = QJsonDocument::fromJson(f.readAll(), &pe);
    if (pe.error != QJsonParseError::NoError || !doc.isObject()) {
        if (error)
            *error = T::tr("%1 is not a run description (%2).")
                         .arg(QDir::toNativeSeparators(path),
                              pe.error != QJsonParseError::NoError ? pe.errorString() : T::tr("not a JSON object"));
        return std::nullopt;
    }
    const QJsonObject run = doc.object();
    RunReport r;
    QString& md = r.markdown;
    QString& csv = r.csv;
    csv = QStringLiteral("section,name,value\n");
    auto csvRow = [&](const QString& section, const QString& name, const QString& value) {
        csv += widgets::csvField(section) + ',' + widgets::csvField(name) + ',' + widgets::csvField(value) + '\n';
    };

    md += QStringLiteral("# %1\n\n").arg(T::tr("Run %1").arg(QDir(runDir).dirName()));
    const std::pair<const char*, const char*> facts[] = {
        {"model", QT_TRANSLATE_NOOP("RunReport", "Model")},
        {"calibration_text", QT_TRANSLATE_NOOP("RunReport", "Calibration text")},
        {"device", QT_TRANSLATE_NOOP("RunReport", "Device")},
        {"status", QT_TRANSLATE_NOOP("RunReport", "Status")},
        {"seconds", QT_TRANSLATE_NOOP("RunReport", "Duration (s)")},
        {"recoveries", QT_TRANSLATE_NOOP("RunReport", "Recoveries")},
    };
    for (const auto& [key, label] : facts)
        if (run.contains(QLatin1String(key))) {
            const QString v = valueText(run.value(QLatin1String(key)));
            md += QStringLiteral("- %1: %2\n").arg(T::tr(label), mdCell(v));
            csvRow(QStringLiteral("run"), QLatin1String(key), v);
        }
    const QJsonObject versions = run.value(QStringLiteral("versions")).toObject();
    for (auto it = versions.begin(); it != versions.end(); ++it) {
        md += QStringLiteral("- %1 %2\n").arg(it.key(), valueText(it.value()));
        csvRow(QStringLiteral("run"), QStringLiteral("version ") + it.key(), valueText(it.value()));
    }

    const QJsonObject eval = run.value(QStringLiteral("eval")).toObject();
    if (!eval.isEmpty()) {
        md += QStringLiteral("\n## %1\n\n").arg(T::tr("Perplexity"));
        if (eval.contains(QStringLiteral("windows")))
            md += T::tr("%1 windows of %2 tokens of %3.")
                      .arg(valueText(eval.value(QStringLiteral("windows"))), valueText(eval.value(QStringLiteral("seqlen"))),
                           mdCell(valueText(eval.value(QStringLiteral("text"))))) +
                  QStringLiteral("\n\n");
        md += QStringLiteral("| %1 | %2 |\n|---|---|\n").arg(T::tr("model"), T::tr("perplexity"));
        const std::pair<const char*, const char*> ppl[] = {
            {"fp_perplexity", QT_TRANSLATE_NOOP("RunReport", "full precision")},
            {"rtn_perplexity", QT_TRANSLATE_NOOP("RunReport", "round to nearest")},
            {"quant_perplexity", QT_TRANSLATE_NOOP("RunReport", "this run")},
        };
        for (const auto& [key, label] : ppl)
            if (eval.contains(QLatin1String(key))) {
                const QString v = valueText(eval.value(QLatin1String(key)));
                md += QStringLiteral("| %1 | %2 |\n").arg(T::tr(label), v);
                csvRow(QStringLiteral("perplexity"), QLatin1String(key), v);
            }
        for (const char* key : {"windows", "seqlen", "text"})
            if (eval.contains(QLatin1String(key)))
                csvRow(QStringLiteral("perplexity"), QLatin1String(key), valueText(eval.value(QLatin1String(key))));
    }

    const QJsonObject config = run.value(QStringLiteral("configuration")).toObject();
    if (!config.isEmpty()) {
        md += QStringLiteral("\n## %1\n\n| %2 | %3 |\n|---|---|\n").arg(T::tr("Configuration"), T::tr("setting"), T::tr("value"));
        for (auto it = config.begin(); it != config.end(); ++it) {  // QJsonObject iterates in key order
            const QString v = valueText(it.value());
            md += QStringLiteral("| %1 | %2 |\n").arg(it.key(), mdCell(v));
            csvRow(QStringLiteral("configuration"), it.key(), v);
        }
    }

    const QJsonArray blocks = run.value(QStringLiteral("blocks")).toArray();
    if (!blocks.isEmpty()) {
        md += QStringLiteral("\n## %1\n\n| %2 | %3 | %4 | %5 | %6 | %7 |\n|---|---|---|---|---|---|\n")
                  .arg(T::tr("Blocks"), T::tr("block"), T::tr("loss before"), T::tr("loss after"), T::tr("change"), T::tr("seconds"),
                       T::tr("recoveries"));
        for (const QJsonValue& bv : blocks) {
            const QJsonObject b = bv.toObject();
            const QString id = valueText(b.value(QStringLiteral("block")));
            const double before = b.value(QStringLiteral("initial_loss")).toDouble();
            const double after = b.value(QStringLiteral("final_loss")).toDouble();
            const int recoveries = b.value(QStringLiteral("recoveries")).toArray().size();
            const QString change =
                before > 0 ? QStringLiteral("%1 %").arg(100.0 * (after / before - 1.0), 0, 'f', 1) : QString();
            md += QStringLiteral("| %1 | %2 | %3 | %4 | %5 | %6 |\n")
                      .arg(id, valueText(b.value(QStringLiteral("initial_loss"))),
                           valueText(b.value(QStringLiteral("final_loss"))), change,
                           QString::number(b.value(QStringLiteral("seconds")).toDouble(), 'f', 1))
                      .arg(recoveries);
            const QString section = QStringLiteral("block ") + id;
            for (const char* key : {"initial_loss", "final_loss", "seconds"})
                if (b.contains(QLatin1String(key)))
                    csvRow(section, QLatin1String(key), valueText(b.value(QLatin1String(key))));
            csvRow(section, QStringLiteral("recoveries"), QString::number(recoveries));
        }
    }
    return r;
}

}  // namespace aq::gui
