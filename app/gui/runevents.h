#pragma once
// Qt value types carried by the calibration worker's queued signals. They copy what the engine's observer reports
// (plain data only) into Qt containers, so the GUI thread never touches engine-owned memory.
#include "viewdata.h"

#include "aq/error.h"
#include "aq/progress.h"
#include "aq/stage.h"

#include <QMetaType>
#include <QString>
#include <QStringList>
#include <QVector>

namespace aq::gui {

struct StepLossPoint {
    int block = 0;
    int epoch = 0;
    int step = 0;
    double loss = 0;
};

struct EpochInfo {
    int block = 0;
    int epoch = 0;
    int epochs = 0;
    double meanLoss = 0;
    double seconds = 0;
    qint64 bandWidth = 0;
    /// Data-parallel runs: each rank's calibration windows per second in this epoch, by rank; empty in one process.
    QVector<double> rankWindowsPerSecond;
};

struct MatrixDiagnosticsInfo {
    int block = 0;
    int epoch = 0;
    QString transform;
    qint64 size = 0;
    QVector<float> rowMargins;  ///< float like the engine's: one per row of every matrix of every epoch adds up
    double minMargin = 0;
    double medianMargin = 0;
    qint64 nonDominantRows = 0;
    double conditionEstimate = 0;
    qint64 bandWidth = 0;
};

struct RecoveryInfo {
    int block = 0;
    int epoch = 0;
    QString reason;
    QString action;
};

struct BlockInfo {
    int block = 0;
    int numBlocks = 0;
    double initialLoss = 0;
    double finalLoss = 0;
    double seconds = 0;
    QStringList perChannelFallback;
};

struct RunOutcome {
    QString runDir;
    QString modelDir;
    double fpPerplexity = 0;
    double rtnPerplexity = 0;
    double quantPerplexity = 0;
    double seconds = 0;
    int recoveries = 0;
};

}  // namespace aq::gui

Q_DECLARE_METATYPE(aq::gui::StepLossPoint)
Q_DECLARE_METATYPE(aq::gui::EpochInfo)
Q_DECLARE_METATYPE(aq::gui::MatrixDiagnosticsInfo)
Q_DECLARE_METATYPE(aq::gui::RecoveryInfo)
Q_DECLARE_METATYPE(aq::gui::BlockInfo)
Q_DECLARE_METATYPE(aq::gui::RunOutcome)
Q_DECLARE_METATYPE(aq::ErrorCode)
Q_DECLARE_METATYPE(aq::Stage)
Q_DECLARE_METATYPE(aq::Progress)
