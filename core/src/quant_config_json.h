#pragma once
// The configuration's JSON reader for the run folder's records (internal): the one parser behind
// aq::quantConfigFromJson, naming the file and key path of a value of the wrong type.
#include "aq/quant_config.h"

#include <nlohmann/json.hpp>

#include <string>

namespace aq::detail {

/// The "configuration" object `j` of `file` (run.json, progress.json; empty: a configuration given on its own).
/// Missing keys keep QuantConfig's defaults; a key of the wrong type or an unknown method is BadInput naming the key.
QuantConfig quantConfigFromJsonObject(const nlohmann::json& j, const std::string& file);

}  // namespace aq::detail
