// affinequant: the headless command-line program: usage, signals, the thread cap and the dispatch to one file per
// command (cmd_*.cpp).
#include "commands.h"
#include "quant_options.h"

#include "aq/device.h"
#include "aq/error.h"
#include "aq/version.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

namespace aqcli {

std::atomic<bool> g_cancel{false};
std::string g_who = "affinequant";

}  // namespace aqcli

namespace {

void onInterrupt(int)
{
    if (aqcli::g_cancel.exchange(true))
        std::_Exit(130);  // a second Ctrl+C stops at once
}

/// Every long stage polls the cancel flag and ends within a second; a stage that cannot (reading a pickled
/// checkpoint, a third-party library busy inside one call) is ended by this watchdog a few seconds after the
/// signal. Nothing is lost by that: runs and exports publish their results by renaming, and a run folder keeps
/// what --resume needs.
void startInterruptWatchdog()
{
    std::thread([] {
        while (!aqcli::g_cancel.load())
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        std::this_thread::sleep_for(std::chrono::seconds(5));
        std::fputs("\ninterrupted\n", stderr);
        std::_Exit(130);
    }).detach();
}

const char* kUsage = R"(usage: affinequant COMMAND [OPTIONS]

Commands:
  inspect   --model DIR [--json]
            Architecture, parameter count, dtypes, GQA, tied embeddings and every tensor of a model folder.
  eval      --model DIR --text FILE [--seqlen N] [--max-windows K] [--batch-size B] [--reference DIR]
            [--device cpu|cuda|cuda:I] [--dtype float32|float16|bfloat16] [--json]
            Perplexity over disjoint windows of N tokens (default 2048, capped at the model's maximum):
            the text is tokenized once with BOS; PPL = exp(mean over windows of the mean cross-entropy).
            --reference: also KL(reference || model) and top-1 agreement on the same windows.
  quantize  --model DIR --calib FILE --out RUNDIR (--preset NAME | --config RUN.json | --wbits N --abits N [--group-size G])
            [--method rtn|omniquant|affinequant] [SETTINGS (below)]
            [--eval FILE [--eval-windows K] [--eval-seqlen N]] [--resume] [--force] [--device D] [--json]
            [--nproc N] [--devices D0,D1,...] [--dist-timeout SECONDS]
            Block-wise calibration; writes RUNDIR/run.json and RUNDIR/model/ (Hugging Face layout, fake-quantized).
            --config takes an earlier run's configuration (its run.json); options given beside it change it.
            Data-parallel (docs/distributed.md): --nproc N starts N local ranks (one per --devices entry, or CPU
            processes sharing the cores); without it, a process started by a launcher that sets RANK, WORLD_SIZE,
            LOCAL_RANK, MASTER_ADDR and MASTER_PORT (torchrun, srun scripts) joins that group. --batch-size is the
            global batch (a multiple of the ranks); rank 0 writes the run; a rank that fails or stops answering for
            --dist-timeout seconds (default 900) stops them all.
            Presets: w4a16g128 w4a16 w3a16g128 w3a16 w2a16 w2a16g128 w2a16g64 w4a4 w4a4-llama2 w6a6, and teaching
            (w4a4 on 16 x 256 tokens for 6 epochs: every view of the demo model in seconds on a CPU).
            The weight-only presets are deployable by default (vector post-norm transforms, zero in range: the result
            loads in transformers, vLLM and llama.cpp); --ln-matrix --no-zero-in-range is the paper's recipe,
            whose dense post-norm matrices only this program's own evaluation applies.
  export    --run RUNDIR --format hf|awq|gptq|compressed-tensors|gguf --out DIR|FILE.gguf [--dtype float16|bfloat16]
            [--force] [--allow-extension] [--gptq-v1] [--exact-only] [--token-embedding-type float|q6_k] [--json]
            Writes a finished run for other runtimes (docs/export.md): hf = stock LlamaForCausalLM/OPTForCausalLM with
            fake-quantized weights; awq, gptq, compressed-tensors = packed integer weights (weight-only runs);
            gguf = one llama.cpp file with the run's grid as Q4_0/Q4_1/Q5_0/Q5_1/Q8_0 blocks and the tokenizer
            (--exact-only: refuse layers no ggml type holds instead of storing them as F16; --token-embedding-type
            q6_k: token embeddings as Q6_K, as llama.cpp's k-quant file types store them).
  verify    --export DIR|FILE.gguf --run RUNDIR [--text FILE] [--seqlen N] [--max-windows K] [--device D] [--json]
            Decodes an export independently and compares it with the run: weights, logits, KL, top-1, perplexity.
  preflight --model DIR (--preset NAME | --wbits N --abits N [--group-size G]) [quantize options] [--json]
            Before calibrating: which transforms fold, which formats and runtimes can load the result exactly.
  devices   [--json]   Compute devices this build can use, and the CPU threads a run uses.
  version   Program and LibTorch versions.

Every command takes --threads N: at most N threads on the CPU (default: every usable core, or AQ_THREADS, or the
smallest of OMP_NUM_THREADS / OPENBLAS_NUM_THREADS). The program splits them between LibTorch and the BLAS library
itself, so no setting of those variables oversubscribes the cores.

Exit status: 0 success, 2 bad input or usage, 3 out of memory, 4 another rank of a data-parallel run failed,
130 interrupted, 1 internal error.
)";

/// The usage text with the calibration settings, as the settings table defines them.
std::string usageText()
{
    return std::string(kUsage) +
           "\nCalibration settings of quantize and preflight (a preset or --config fills them; these change them).\n"
           "Each line ends with the setting's key in run.json's \"configuration\".\n" +
           aqcli::settingsHelp();
}

}  // namespace

int main(int argc, char** argv)
{
    std::vector<std::string> rest(argv + std::min(argc, 2), argv + argc);
    const std::string cmd = argc > 1 ? argv[1] : "";
    if (cmd.empty() || cmd == "--help" || cmd == "-h" || cmd == "help") {
        std::fputs(usageText().c_str(), cmd.empty() ? stderr : stdout);
        return cmd.empty() ? 2 : 0;
    }
    for (const auto& a : rest)
        if (a == "--help" || a == "-h") {
            std::fputs(usageText().c_str(), stdout);
            return 0;
        }
    std::signal(SIGINT, onInterrupt);
    std::signal(SIGTERM, onInterrupt);
    startInterruptWatchdog();
    try {
        // --threads N, accepted by every command: the cap of the CPU thread policy (aq::configureCpu).
        int threads = 0;
        for (size_t i = 0; i < rest.size(); ++i)
            if (rest[i] == "--threads") {
                const std::string v = i + 1 < rest.size() ? rest[i + 1] : "";
                char* end = nullptr;
                const long n = std::strtol(v.c_str(), &end, 10);
                if (v.empty() || *end != '\0' || n < 1 || n > 4096)
                    aq::badInput("--threads needs a number of threads from 1 to 4096, got '" + v + "'");
                threads = static_cast<int>(n);
                rest.erase(rest.begin() + static_cast<std::ptrdiff_t>(i), rest.begin() + static_cast<std::ptrdiff_t>(i) + 2);
                break;
            }
        aq::configureCpu(threads);
        if (cmd == "inspect")
            return aqcli::cmdInspect(rest);
        if (cmd == "eval")
            return aqcli::cmdEval(rest);
        if (cmd == "quantize")
            return aqcli::cmdQuantize(rest);
        if (cmd == "devices")
            return aqcli::cmdDevices(rest);
        if (cmd == "export")
            return aqcli::cmdExport(rest, aqcli::g_cancel);
        if (cmd == "verify")
            return aqcli::cmdVerify(rest, aqcli::g_cancel);
        if (cmd == "preflight")
            return aqcli::cmdPreflight(rest);
        if (cmd == "version" || cmd == "--version") {
            std::printf("affinequant %s (LibTorch %s)\n", AQ_VERSION, aq::torchVersion().c_str());
            return 0;
        }
        aq::badInput("unknown command '" + cmd + "'; run 'affinequant --help'");
    } catch (const aq::Error& e) {
        std::fprintf(stderr, "\n%s: %s: %s\n", aqcli::g_who.c_str(), aq::errorCodeName(e.code()), e.what());
        return aq::exitStatusFor(e.code());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "\naffinequant: internal error: %s\n", e.what());
        return 1;
    }
}
