#pragma once
// The quantization options shared by `quantize` and `preflight`, so that a quantize command line can be checked as is.
#include "args.h"

#include "aq/calibrate.h"

#include <set>
#include <string>

namespace aqcli {

extern const std::set<std::string> kQuantizeValuedOptions;
extern const std::set<std::string> kQuantizeFlagOptions;

/// `--help`'s lines for the calibration settings, one per setting of aq::quantSettings().
std::string settingsHelp();

/// The configuration a quantize command line asks for: a preset (or --wbits/--abits/--group-size) then overrides.
aq::QuantConfig quantConfigFromArgs(const Args& args, const aq::ModelConfig& model);

}  // namespace aqcli
