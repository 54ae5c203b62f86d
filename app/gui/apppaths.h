#pragma once
// Where the bundled demo model and texts are: next to an installed program, or in the source tree of a build.
#include <QString>

namespace aq::gui::paths {

/// The folder holding `demo-model/` and `demo-text/`, or empty when none is found. Looked for in $AQ_DATA_DIR, in
/// ../share/affinequant next to the executable (an installed or relocated package), in the source tree this program
/// was built from, and in the configured install prefix.
QString dataDir();
QString demoModelDir();
/// Calibration text: a novel disjoint from the evaluation text.
QString demoCalibrationText();
QString demoEvaluationText();

}  // namespace aq::gui::paths
