#include "apppaths.h"

#include <QCoreApplication>
#include <QDir>
#include <QFileInfo>

namespace aq::gui::paths {

namespace {

bool hasDemo(const QString& dir)
{
    return !dir.isEmpty() && QFileInfo::exists(dir + QStringLiteral("/demo-model/config.json"));
}

QString inData(const QString& rel)
{
    const QString dir = dataDir();
    return dir.isEmpty() ? QString() : QDir(dir).filePath(rel);
}

}  // namespace

QString dataDir()
{
    QStringList candidates;
    candidates << qEnvironmentVariable("AQ_DATA_DIR");
    if (QCoreApplication::instance())
        candidates << QDir(QCoreApplication::applicationDirPath()).filePath(QStringLiteral("../share/affinequant"));
#ifdef AQ_STUDIO_SOURCE_DIR
    candidates << QStringLiteral(AQ_STUDIO_SOURCE_DIR "/resources");
#endif
#ifdef AQ_STUDIO_INSTALL_DATADIR
    candidates << QStringLiteral(AQ_STUDIO_INSTALL_DATADIR);
#endif
    for (const QString& c : std::as_const(candidates))
        if (hasDemo(c))
            return QDir(c).canonicalPath();
    return {};
}

QString demoModelDir() { return inData(QStringLiteral("demo-model")); }
QString demoCalibrationText() { return inData(QStringLiteral("demo-text/train/northangerabbey.txt")); }
QString demoEvaluationText() { return inData(QStringLiteral("demo-text/heldout.txt")); }

}  // namespace aq::gui::paths
