#pragma once
// The engine's observer values (aq/calibrate.h) registered as Qt metatypes, so that the calibration worker's queued
// signals carry them as they are: plain values, copied by the queued connection, with no mirrored Qt structs.
#include "viewdata.h"

#include "aq/calibrate.h"
#include "aq/error.h"
#include "aq/progress.h"
#include "aq/stage.h"

#include <QMetaType>
#include <QVector>

Q_DECLARE_METATYPE(aq::StepLoss)
Q_DECLARE_METATYPE(aq::EpochSummary)
Q_DECLARE_METATYPE(aq::MatrixDiagnostics)
Q_DECLARE_METATYPE(aq::Recovery)
Q_DECLARE_METATYPE(aq::BlockSummary)
Q_DECLARE_METATYPE(aq::CalibrationResult)
Q_DECLARE_METATYPE(aq::ErrorCode)
Q_DECLARE_METATYPE(aq::Stage)
Q_DECLARE_METATYPE(aq::Progress)
