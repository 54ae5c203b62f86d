#pragma once
// The command-line program's commands, one source file each (cmd_<name>.cpp), and what they share with main.cpp:
// the cancel flag that Ctrl+C sets and the name error messages give this process. Each returns the exit status and
// throws aq::Error for main() to map.
#include <atomic>
#include <string>
#include <vector>

namespace aqcli {

/// Set by the first Ctrl+C or SIGTERM; every long stage polls it.
extern std::atomic<bool> g_cancel;
/// How error messages name this process: "affinequant", or "affinequant [rank 1]" in a data-parallel run.
extern std::string g_who;

/// affinequant inspect --model DIR [--json]
int cmdInspect(const std::vector<std::string>& argv);
/// affinequant eval --model DIR --text FILE [--seqlen N] [--max-windows K] [--batch-size B] [--reference DIR] ...
int cmdEval(const std::vector<std::string>& argv);
/// affinequant quantize --model DIR --calib FILE --out RUNDIR (--preset NAME | --config RUN.json | --wbits N ...)
int cmdQuantize(const std::vector<std::string>& argv);
/// affinequant devices [--json]
int cmdDevices(const std::vector<std::string>& argv);
/// affinequant export --run RUNDIR --format hf|awq|gptq|compressed-tensors|gguf --out DIR [--dtype D] [--force] ...
int cmdExport(const std::vector<std::string>& argv, std::atomic<bool>& cancel);
/// affinequant verify --export DIR --run RUNDIR [--text FILE] [--seqlen N] [--max-windows K] [--device D] [--json]
/// Exit status 2 when the export has problems (reported before).
int cmdVerify(const std::vector<std::string>& argv, std::atomic<bool>& cancel);
/// affinequant preflight --model DIR (--preset NAME | --wbits N ...) [quantize options] [--json]
int cmdPreflight(const std::vector<std::string>& argv);

}  // namespace aqcli
