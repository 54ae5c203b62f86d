#pragma once
// The engine's matrices, activation profiles and weight histograms as the views' own value types (views know no
// engine). Pure functions of plain structs: no engine code runs here.
#include "viewdata.h"

#include "aq/calibrate.h"

namespace aq::gui {

aq::widgets::MatrixFrame toMatrixFrame(const aq::MatrixSnapshot& m);
aq::widgets::ActivationProfileData toActivationProfile(const aq::ActivationProfile& a);
aq::widgets::WeightHistogramData toWeightHistogram(const aq::WeightHistogram& h);

}  // namespace aq::gui
