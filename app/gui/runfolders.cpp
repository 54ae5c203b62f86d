#include "runfolders.h"

#include "runfile.h"

#include <QDateTime>
#include <QDir>
#include <QFileInfo>

namespace aq::gui {

QString RunFolders::newRunDir(const QString& runsFolder, const QString& modelDir, const QString& preset,
                              aq::Method method)
{
    const QString model = QFileInfo(modelDir).fileName();
    const QString base = QStringLiteral("%1-%2-%3-%4")
                             .arg(model, preset, QString::fromLatin1(aq::methodName(method)),
                                  QDateTime::currentDateTime().toString(QStringLiteral("yyyyMMdd-HHmmss")));
    QDir root(runsFolder);
    QString name = base;
    for (int i = 2; root.exists(name); ++i)
        name = QStringLiteral("%1-%2").arg(base).arg(i);
    return root.filePath(name);
}

RunFolders::Stopped RunFolders::keepOrRemove(const QString& runDir, bool resumed)
{
    const std::optional<InterruptedRun> run = readInterruptedRun(runDir);
    if (run && run->completedBlocks > 0) {
        return {tr("the %n finished block(s) are kept in %1: Run > Resume Interrupted Run continues from there.",
                   nullptr, run->completedBlocks)
                    .arg(runDir),
                run->runDir};
    }
    // Nothing finished: the folder holds only the engine's bookkeeping. It was made for this run (never a folder the
    // user chose with contents), so it goes rather than lingering as an empty run. A resumed run keeps its folder.
    if (run && !resumed) {
        QDir dir(runDir);
        bool onlyBookkeeping = true;
        for (const QFileInfo& e : dir.entryInfoList(QDir::AllEntries | QDir::Hidden | QDir::NoDotAndDotDot)) {
            const bool emptyFolder = e.isDir() && QDir(e.filePath()).isEmpty(QDir::AllEntries | QDir::Hidden | QDir::NoDotAndDotDot);
            if (e.fileName() != QLatin1String("progress.json") && e.fileName() != QLatin1String(".affinequant.lock") &&
                !emptyFolder)
                onlyBookkeeping = false;
        }
        if (onlyBookkeeping && dir.removeRecursively())
            return {tr("no block had finished, so its folder was removed."), QString()};
    }
    return {tr("no model was written as complete in %1.").arg(runDir), QString()};
}

}  // namespace aq::gui
