#include "runhistory.h"

#include "runfile.h"

#include "aq/error.h"

#include <QCryptographicHash>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSaveFile>
#include <QSettings>
#include <QStandardPaths>

#include <algorithm>

namespace aq::gui {

QVector<RunHistory::SavedRun> RunHistory::load() const
{
    QSettings s;
    QVector<SavedRun> runs;
    const int n = s.beginReadArray(QStringLiteral("results"));
    for (int i = 0; i < n; ++i) {
        s.setArrayIndex(i);
        SavedRun r;
        r.record.id = s.value(QStringLiteral("id")).toString();
        r.record.name = s.value(QStringLiteral("name")).toString();
        r.record.method = s.value(QStringLiteral("method")).toString();
        r.record.preset = s.value(QStringLiteral("preset")).toString();
        r.record.fpPerplexity = s.value(QStringLiteral("fp")).toDouble();
        r.record.rtnPerplexity = s.value(QStringLiteral("rtn")).toDouble();
        r.record.quantPerplexity = s.value(QStringLiteral("quant")).toDouble();
        // Entries saved before these were kept read as "not known".
        r.record.wbits = s.value(QStringLiteral("wbits"), 0).toInt();
        r.record.abits = s.value(QStringLiteral("abits"), 0).toInt();
        r.record.groupSize = s.value(QStringLiteral("groupSize"), -1).toLongLong();
        r.record.nsamples = s.value(QStringLiteral("nsamples"), 0).toLongLong();
        r.record.seqlen = s.value(QStringLiteral("seqlen"), 0).toLongLong();
        r.record.epochs = s.value(QStringLiteral("epochs"), -1).toInt();
        r.record.evalWindows = s.value(QStringLiteral("evalWindows"), 0).toLongLong();
        r.record.evalSeqlen = s.value(QStringLiteral("evalSeqlen"), 0).toLongLong();
        r.record.evalText = s.value(QStringLiteral("evalText")).toString();
        r.record.seconds = s.value(QStringLiteral("seconds"), 0.0).toDouble();
        r.record.edits = s.value(QStringLiteral("edits")).toStringList();
        r.modelDir = s.value(QStringLiteral("model")).toString();
        if (!r.record.id.isEmpty())
            runs.push_back(r);
    }
    s.endArray();
    return runs;
}

void RunHistory::save(const QVector<SavedRun>& runs) const
{
    QSettings s;
    s.remove(QStringLiteral("results"));
    s.beginWriteArray(QStringLiteral("results"), int(runs.size()));
    for (int i = 0; i < runs.size(); ++i) {
        s.setArrayIndex(i);
        const SavedRun& r = runs[i];
        s.setValue(QStringLiteral("id"), r.record.id);
        s.setValue(QStringLiteral("name"), r.record.name);
        s.setValue(QStringLiteral("method"), r.record.method);
        s.setValue(QStringLiteral("preset"), r.record.preset);
        s.setValue(QStringLiteral("fp"), r.record.fpPerplexity);
        s.setValue(QStringLiteral("rtn"), r.record.rtnPerplexity);
        s.setValue(QStringLiteral("quant"), r.record.quantPerplexity);
        s.setValue(QStringLiteral("wbits"), r.record.wbits);
        s.setValue(QStringLiteral("abits"), r.record.abits);
        s.setValue(QStringLiteral("groupSize"), r.record.groupSize);
        s.setValue(QStringLiteral("nsamples"), r.record.nsamples);
        s.setValue(QStringLiteral("seqlen"), r.record.seqlen);
        s.setValue(QStringLiteral("epochs"), r.record.epochs);
        s.setValue(QStringLiteral("evalWindows"), r.record.evalWindows);
        s.setValue(QStringLiteral("evalSeqlen"), r.record.evalSeqlen);
        s.setValue(QStringLiteral("evalText"), r.record.evalText);
        s.setValue(QStringLiteral("seconds"), r.record.seconds);
        s.setValue(QStringLiteral("edits"), r.record.edits);
        s.setValue(QStringLiteral("model"), r.modelDir);
    }
    s.endArray();
}

namespace {
void removeRun(QVector<RunHistory::SavedRun>& runs, const QString& runId)
{
    runs.erase(std::remove_if(runs.begin(), runs.end(),
                              [&](const RunHistory::SavedRun& r) { return r.record.id == runId; }),
               runs.end());
}
}  // namespace

void RunHistory::remember(const SavedRun& run) const
{
    QVector<SavedRun> runs = load();
    removeRun(runs, run.record.id);
    runs.push_back(run);
    save(runs);
}

void RunHistory::forget(const QString& runId) const
{
    QVector<SavedRun> runs = load();
    removeRun(runs, runId);
    save(runs);
    QFile::remove(curvesFile(runId));
}

QVector<widgets::RunRecord> RunHistory::runsOfModel(const QString& modelDir) const
{
    const QString model = QDir::cleanPath(modelDir);
    QVector<widgets::RunRecord> rows;
    for (const SavedRun& r : load())
        if (QDir::cleanPath(r.modelDir) == model)
            rows.push_back(r.record);
    return rows;
}

QString RunHistory::curvesFile(const QString& runId) const
{
    const QByteArray hash = QCryptographicHash::hash(runId.toUtf8(), QCryptographicHash::Sha1).toHex();
    return QDir(QStandardPaths::writableLocation(QStandardPaths::AppLocalDataLocation))
        .filePath(QStringLiteral("loss-curves/%1.json").arg(QString::fromLatin1(hash)));
}

void RunHistory::saveCurves(const QString& runId, const QVector<widgets::LossSeries>& curves) const
{
    QJsonArray blocks;
    for (const widgets::LossSeries& s : curves) {
        QJsonArray steps, losses;
        for (double x : s.steps)
            steps.append(x);
        for (double y : s.losses)
            losses.append(y);
        blocks.append(QJsonObject{{QStringLiteral("block"), s.block},
                                  {QStringLiteral("steps"), steps},
                                  {QStringLiteral("losses"), losses}});
    }
    const QString path = curvesFile(runId);
    QDir().mkpath(QFileInfo(path).absolutePath());
    QSaveFile f(path);
    if (!f.open(QIODevice::WriteOnly))
        return;
    f.write(QJsonDocument(QJsonObject{{QStringLiteral("run"), runId}, {QStringLiteral("curves"), blocks}})
                .toJson(QJsonDocument::Compact));
    f.commit();
}

QVector<widgets::LossSeries> RunHistory::loadCurves(const QString& runId) const
{
    QFile f(curvesFile(runId));
    if (!f.open(QIODevice::ReadOnly))
        return {};
    QVector<widgets::LossSeries> curves;
    const QJsonArray blocks = QJsonDocument::fromJson(f.readAll()).object().value(QStringLiteral("curves")).toArray();
    for (const QJsonValue& v : blocks) {
        const QJsonObject o = v.toObject();
        widgets::LossSeries s;
        s.block = o.value(QStringLiteral("block")).toInt();
        for (const QJsonValue& x : o.value(QStringLiteral("steps")).toArray())
            s.steps.push_back(x.toDouble());
        for (const QJsonValue& y : o.value(QStringLiteral("losses")).toArray())
            s.losses.push_back(y.toDouble());
        if (s.steps.size() == s.losses.size())
            curves.push_back(s);
    }
    return curves;
}

QVector<widgets::LossSeries> RunHistory::comparisonCurves(const QString& runId) const
{
    QVector<widgets::LossSeries> curves = loadCurves(runId);
    if (curves.isEmpty()) {
        try {
            curves = readRunFile(runId).epochLosses;  // per-epoch means: coarser, but comparable
        } catch (const aq::Error&) {
        }
    }
    return curves;
}

}  // namespace aq::gui
