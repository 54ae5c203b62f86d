#pragma once
// Copies of the engine's observer data into the Qt value types the worker's signals and the views use. Pure
// functions of plain structs: no engine code runs here.
#include "runevents.h"
#include "viewdata.h"

#include "aq/calibrate.h"

namespace aq::gui {

StepLossPoint toStepLoss(const aq::StepLoss& s);
EpochInfo toEpochInfo(const aq::EpochSummary& e);
MatrixDiagnosticsInfo toDiagnostics(const aq::MatrixDiagnostics& d);
aq::widgets::MatrixFrame toMatrixFrame(const aq::MatrixSnapshot& m);
aq::widgets::ActivationProfileData toActivationProfile(const aq::ActivationProfile& a);
aq::widgets::WeightHistogramData toWeightHistogram(const aq::WeightHistogram& h);
RecoveryInfo toRecovery(const aq::Recovery& r);
BlockInfo toBlockInfo(const aq::BlockSummary& b);
RunOutcome toRunOutcome(const aq::CalibrationResult& r);

}  // namespace aq::gui
