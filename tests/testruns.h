#pragma once
// Short calibration runs for the export tests: a preset with few samples and epochs, written into a run directory.
#include "aq/calibrate.h"
#include "testutil.h"

#include <string>

namespace aqtest {

/// The demo model's calibration text.
inline std::string demoCalibText() { return sourcePath("resources/demo-text/train/northangerabbey.txt"); }

/// `preset` for `method` with 4 samples of 64 tokens and one epoch (none for round to nearest): seconds per run.
inline aq::QuantConfig quickConfig(const std::string& preset, aq::Method method)
{
    aq::QuantConfig c = aq::presetConfig(preset, method);
    c.nsamples = 4;
    c.seqlen = 64;
    c.epochs = method == aq::Method::Rtn ? 0 : 1;
    return c;
}

/// Calibrates `model` with `config` into `runDir` (replacing it) on the demo calibration text.
inline void makeRun(const std::string& model, const std::string& runDir, const aq::QuantConfig& config)
{
    aq::CalibrationRequest req;
    req.modelDir = model;
    req.calibTextPath = demoCalibText();
    req.runDir = runDir;
    req.config = config;
    req.force = true;
    aq::runCalibration(req);
}

}  // namespace aqtest
