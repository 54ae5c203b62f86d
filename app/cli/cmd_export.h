#pragma once
// The `export`, `verify` and `preflight` subcommands of the command-line program.
#include <atomic>
#include <string>
#include <vector>

namespace aqcli {

/// affinequant export --run RUNDIR --format hf|awq|gptq|compressed-tensors --out DIR [--dtype D] [--force] ...
/// Returns the exit status; throws aq::Error for the caller to map.
int cmdExport(const std::vector<std::string>& argv, std::atomic<bool>& cancel);

/// affinequant verify --export DIR --run RUNDIR [--text FILE] [--seqlen N] [--max-windows K] [--device D] [--json]
/// Exit status 2 when the export has problems (reported before).
int cmdVerify(const std::vector<std::string>& argv, std::atomic<bool>& cancel);

/// affinequant preflight --model DIR (--preset NAME | --wbits N ...) [quantize options] [--json]
int cmdPreflight(const std::vector<std::string>& argv);

}  // namespace aqcli
