// affinequant: the headless command-line program. Thin: parses options, calls aq_core, prints results.
#include "args.h"
#include "quant_options.h"
#include "cmd_export.h"
#include "launch.h"
#include "progress.h"

#include "aq/calibrate.h"
#include "aq/device.h"
#include "aq/distributed.h"
#include "aq/error.h"
#include "aq/evaluate.h"
#include "aq/model_info.h"

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

std::atomic<bool> g_cancel{false};
/// How error messages name this process: "affinequant", or "affinequant [rank 1]" in a data-parallel run.
std::string g_who = "affinequant";

void onInterrupt(int)
{
    if (g_cancel.exchange(true))
        std::_Exit(130);  // a second Ctrl+C stops at once
}

/// Every long stage polls the cancel flag and ends within a second; a stage that cannot (reading a pickled
/// checkpoint, a third-party library busy inside one call) is ended by this watchdog a few seconds after the
/// signal. Nothing is lost by that: runs and exports publish their results by renaming, and a run folder keeps
/// what --resume needs.
void startInterruptWatchdog()
{
    std::thread([] {
        while (!g_cancel.load())
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
            [--method rtn|omniquant|affinequant] [--nsamples N] [--seqlen N] [--epochs E] [--batch-size B]
            [--let-lr X] [--lwc-lr X] [--sf X] [--alpha X] [--wd X] [--seed S]
            [--aug-loss|--no-aug-loss] [--no-lwc] [--no-let] [--ln-matrix|--no-ln-matrix] [--qk-matrix|--no-qk-matrix]
            [--symmetric] [--zero-in-range|--no-zero-in-range] [--no-partial-groups] [--per-channel-fallback] [--reference-delta-clamp]
            [--keep-dominant] [--inverse-fp64] [--mixed-precision] [--buffers-on-host] [--max-recoveries K] [--condition-limit X]
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
            [--force] [--allow-extension] [--gptq-v1] [--exact-only] [--json]
            Writes a finished run for other runtimes (docs/export.md): hf = stock LlamaForCausalLM/OPTForCausalLM with
            fake-quantized weights; awq, gptq, compressed-tensors = packed integer weights (weight-only runs);
            gguf = one llama.cpp file with the run's grid as Q4_0/Q4_1/Q5_0/Q5_1/Q8_0 blocks and the tokenizer
            (--exact-only: refuse layers no ggml type holds instead of storing them as F16).
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

std::string shapeText(const std::vector<int64_t>& s)
{
    std::string r = "[";
    for (size_t i = 0; i < s.size(); ++i)
        r += (i ? ", " : "") + std::to_string(s[i]);
    return r + "]";
}

const char* archName(aq::Architecture a) { return a == aq::Architecture::Opt ? "OPT" : "LLaMA"; }

nlohmann::json configJson(const aq::ModelConfig& c)
{
    nlohmann::json j = {{"model_type", c.modelType},
                        {"architecture", archName(c.arch)},
                        {"vocab_size", c.vocabSize},
                        {"hidden_size", c.hiddenSize},
                        {"intermediate_size", c.intermediateSize},
                        {"num_layers", c.numLayers},
                        {"num_heads", c.numHeads},
                        {"num_kv_heads", c.numKvHeads},
                        {"head_dim", c.headDim},
                        {"gqa", c.isGqa()},
                        {"tied_embeddings", c.tieWordEmbeddings},
                        {"max_position_embeddings", c.maxPositionEmbeddings}};
    if (c.arch == aq::Architecture::Llama) {
        j["rope_theta"] = c.ropeTheta;
        j["rms_norm_eps"] = c.normEps;
        j["attention_bias"] = c.attentionBias;
        j["mlp_bias"] = c.mlpBias;
    } else {
        j["word_embed_proj_dim"] = c.wordEmbedProjDim;
        j["do_layer_norm_before"] = c.doLayerNormBefore;
        j["activation"] = c.activation;
    }
    return j;
}

int cmdInspect(const std::vector<std::string>& argv)
{
    aqcli::Args args(argv, {"model"}, {"json"});
    const aq::ModelSummary s = aq::inspectModel(args.required("model"));
    const aq::ModelConfig& c = s.config;
    if (args.flag("json")) {
        nlohmann::json j = {{"model", s.modelDir},
                            {"config", configJson(c)},
                            {"weight_format", s.weightFormat},
                            {"weight_bytes", s.weightBytes},
                            {"parameters", s.parameterCount},
                            {"parameters_by_dtype", s.parametersByDtype},
                            {"tokenizer", s.tokenizer}};
        for (const auto& t : s.tensors)
            j["tensors"].push_back({{"name", t.name}, {"dtype", t.dtype}, {"shape", t.shape}, {"file", t.file}});
        std::cout << j.dump(2) << "\n";
        return 0;
    }
    std::printf("Model        %s\n", s.modelDir.c_str());
    std::printf("Architecture %s (model_type %s)\n", archName(c.arch), c.modelType.c_str());
    std::printf("Parameters   %lld (%.2f M)\n", static_cast<long long>(s.parameterCount), s.parameterCount / 1e6);
    std::string dtypes;
    for (const auto& [dt, n] : s.parametersByDtype)
        dtypes += (dtypes.empty() ? "" : ", ") + dt + " " + std::to_string(n);
    std::printf("Dtypes       %s\n", dtypes.c_str());
    std::printf("Weights      %s, %.2f MB\n", s.weightFormat.c_str(), s.weightBytes / 1e6);
    std::printf("Layers       %lld, hidden %lld, FFN %lld, vocabulary %lld, max positions %lld\n",
                static_cast<long long>(c.numLayers), static_cast<long long>(c.hiddenSize),
                static_cast<long long>(c.intermediateSize), static_cast<long long>(c.vocabSize),
                static_cast<long long>(c.maxPositionEmbeddings));
    std::printf("Attention    %lld query heads, %lld key/value heads, head dim %lld%s\n", static_cast<long long>(c.numHeads),
                static_cast<long long>(c.numKvHeads), static_cast<long long>(c.headDim),
                c.isGqa() ? " (grouped-query attention)" : "");
    std::printf("Embeddings   %s\n", c.tieWordEmbeddings ? "tied (lm_head shares embed_tokens)" : "separate lm_head");
    std::printf("Tokenizer    %s\n", s.tokenizer.c_str());
    std::printf("\nTensors (%zu):\n", s.tensors.size());
    for (const auto& t : s.tensors)
        std::printf("  %-56s %-5s %s\n", t.name.c_str(), t.dtype.c_str(), shapeText(t.shape).c_str());
    return 0;
}

int cmdEval(const std::vector<std::string>& argv)
{
    aqcli::Args args(argv, {"model", "text", "seqlen", "max-windows", "batch-size", "device", "dtype", "reference"},
                     {"json"});
    aq::EvalOptions o;
    o.referenceModelDir = args.str("reference");
    const std::string model = args.required("model");
    const std::string text = args.required("text");
    o.device = args.str("device", "cpu");
    o.dtype = args.str("dtype", o.device == "cpu" ? "float32" : "float16");
    o.maxWindows = args.integer("max-windows", 0);
    o.batchSize = args.integer("batch-size", 1);
    if (args.has("seqlen")) {
        o.seqlen = args.integer("seqlen", 2048);
    } else {
        // Default: the protocol's 2048 tokens, or the model's maximum when that is shorter.
        o.seqlen = std::min<int64_t>(2048, aq::inspectModel(model).config.maxPositionEmbeddings);
    }
    aqcli::ProgressBar bar("eval");
    const aq::EvalResult r = aq::evaluatePerplexity(
        model, text, o,
        [&](const aq::EvalProgress& p) {
            char detail[64];
            std::snprintf(detail, sizeof detail, "windows, ppl %.4f", p.runningPerplexity);
            bar.update(p.windowsDone, p.windowsTotal, detail);
        },
        &g_cancel);
    bar.finish();
    if (args.flag("json")) {
        nlohmann::json j = {{"model", model},
                            {"text", text},
                            {"perplexity", r.perplexity},
                            {"mean_nll", r.meanNll},
                            {"windows", r.windows},
                            {"seqlen", r.seqlen},
                            {"text_tokens", r.textTokens},
                            {"tokens_evaluated", r.tokensEvaluated},
                            {"seconds", r.seconds},
                            {"load_seconds", r.loadSeconds},
                            {"tokens_per_second", r.tokensPerSecond},
                            {"device", r.device},
                            {"dtype", r.dtype},
                            {"batch_size", o.batchSize},
                            {"window_nll", r.windowNll}};
        if (!o.referenceModelDir.empty())
            j["reference"] = {{"model", o.referenceModelDir},
                              {"perplexity", r.referencePerplexity},
                              {"mean_kl", r.meanKl},
                              {"top1_agreement", r.top1Agreement}};
        std::cout << j.dump(2) << "\n";
    } else {
        std::printf("perplexity %.4f over %lld windows of %lld tokens (text: %lld tokens)\n", r.perplexity,
                    static_cast<long long>(r.windows), static_cast<long long>(r.seqlen), static_cast<long long>(r.textTokens));
        if (!o.referenceModelDir.empty())
            std::printf("against %s (perplexity %.4f): mean KL %.6f nats, top-1 agreement %.4f\n",
                        o.referenceModelDir.c_str(), r.referencePerplexity, r.meanKl, r.top1Agreement);
        std::printf("%s %s: %.1f tokens/s (%.2f s evaluating, %.2f s loading)\n", r.device.c_str(), r.dtype.c_str(),
                    r.tokensPerSecond, r.seconds, r.loadSeconds);
    }
    return 0;
}

class CliObserver : public aq::CalibrationObserver {
public:
    explicit CliObserver(int epochs) : m_bar("quantize"), m_epochs(std::max(epochs, 1)) {}
    /// Called with every stage before it is drawn.
    std::function<void(const std::string&)> onStage;

    void stage(const std::string& what, int block, int numBlocks) override
    {
        if (onStage)
            onStage(what);
        m_block = block;
        m_numBlocks = numBlocks;
        m_stage = what;
        draw();
    }
    void stepLoss(const aq::StepLoss& s) override
    {
        m_epoch = s.epoch;
        m_loss = s.loss;
        draw();
    }
    void recovery(const aq::Recovery& r) override
    {
        m_bar.finish();
        std::fprintf(stderr, "recovery in block %d epoch %d: %s; %s\n", r.block, r.epoch, r.reason.c_str(),
                     r.action.c_str());
    }

private:
    void draw()
    {
        char detail[160];
        std::snprintf(detail, sizeof detail, "blocks | epoch %d/%d loss %.3g | %s", m_epoch + 1, m_epochs, m_loss,
                      m_stage.c_str());
        // Progress in epochs over the whole model, so the ETA covers every block.
        const int64_t total = static_cast<int64_t>(m_numBlocks) * m_epochs;
        const int64_t done = std::min<int64_t>(total, static_cast<int64_t>(m_block) * m_epochs + m_epoch);
        m_bar.update(done, total, detail);
    }
    aqcli::ProgressBar m_bar;
    int m_epochs;
    int m_block = 0, m_numBlocks = 1, m_epoch = 0;
    double m_loss = 0;
    std::string m_stage;
};

/// The quantize command's options for rank `rank` of a local group: --nproc left out, each rank's --threads added.
std::vector<std::string> rankArguments(const std::vector<std::string>& argv, int threads)
{
    std::vector<std::string> out;
    for (size_t i = 0; i < argv.size(); ++i) {
        if (argv[i] == "--nproc") {
            ++i;
            continue;
        }
        out.push_back(argv[i]);
    }
    out.push_back("--threads");
    out.push_back(std::to_string(threads));
    return out;
}

int cmdQuantize(const std::vector<std::string>& argv)
{
    aqcli::Args args(argv, aqcli::kQuantizeValuedOptions, aqcli::kQuantizeFlagOptions);
    aq::CalibrationRequest req;
    req.modelDir = args.required("model");
    req.calibTextPath = args.required("calib");
    req.runDir = args.required("out");
    const aq::ModelConfig model = aq::loadModelConfig(req.modelDir);
    req.config = aqcli::quantConfigFromArgs(args, model);
    const aq::QuantConfig& c = req.config;
    req.evalTextPath = args.str("eval");
    req.evalWindows = args.integer("eval-windows", 0);
    req.evalSeqlen = args.integer("eval-seqlen", 0);
    req.resume = args.flag("resume");
    req.force = args.flag("force");

    // Data-parallel: a group from the environment (an external launcher), or ranks this process starts itself.
    req.world = aq::worldFromEnvironment();
    const int timeout = static_cast<int>(args.integer("dist-timeout", req.world.timeoutSeconds, 7 * 24 * 3600));
    if (timeout < 1)
        aq::badInput("--dist-timeout needs a number of seconds of at least 1");
    req.world.timeoutSeconds = timeout;
    std::vector<std::string> devices;
    if (args.has("devices"))
        devices = aq::parseDeviceList(args.str("devices"));
    const int nproc = static_cast<int>(
        args.has("nproc") ? args.integer("nproc", 1, 1024)
                          : (!req.world.distributed() && devices.size() > 1 ? static_cast<int64_t>(devices.size()) : 1));
    if (nproc < 1)
        aq::badInput("--nproc needs a number of ranks of at least 1");
    if (nproc > 1 && req.world.distributed())
        aq::badInput("--nproc starts its own ranks, but this process was started as rank " +
                     std::to_string(req.world.rank) + " of " + std::to_string(req.world.worldSize) +
                     " by a launcher (WORLD_SIZE is set); leave --nproc out, or unset WORLD_SIZE");
    if (nproc > 1 && !devices.empty() && static_cast<int>(devices.size()) != nproc)
        aq::badInput("--devices lists " + std::to_string(devices.size()) + " devices for --nproc " +
                     std::to_string(nproc) + "; list one device per rank");
    std::unique_ptr<aqcli::LocalLauncher> launcher;
    if (nproc > 1) {
        aq::validateWorld(c, nproc);  // before any process starts
        // The cores are split between the ranks unless --threads gave each rank's share.
        const aq::CpuThreads t = aq::currentCpuThreads();
        const int threads = t.limitSource == "--threads" ? t.used : std::max(1, t.used / nproc);
        std::vector<std::vector<std::string>> rankArgs(static_cast<size_t>(nproc), rankArguments(argv, threads));
        launcher = std::make_unique<aqcli::LocalLauncher>(nproc, rankArgs, timeout);
        aq::configureCpu(threads);
        req.world = aq::worldFromEnvironment();
        req.world.timeoutSeconds = timeout;
    }
    req.config.device = aq::rankDevice(req.world, c.device, devices);
    const bool root = req.world.rank == 0;
    if (req.world.distributed())
        g_who = "affinequant [rank " + std::to_string(req.world.rank) + "]";

    CliObserver obs(c.epochs);
    aq::CalibrationResult r;
    // With local ranks, rank 0 also stops when one of them fails (even while it waits for them to join).
    std::atomic<bool> stopRun{false};
    if (launcher) {
        launcher->watch(stopRun, g_cancel);
        obs.onStage = [&launcher](const std::string& what) {
            if (what == "writing the model")
                launcher->stopWatching();  // the other ranks' work is done
        };
    }
    try {
        r = aq::runCalibration(req, root ? &obs : nullptr, launcher ? &stopRun : &g_cancel);
    } catch (const aq::Error& e) {
        if (!launcher)
            throw;
        // Give the other ranks a moment to end on their own, so that the first cause is the one reported.
        launcher->waitAll(1.0);
        int status = aq::exitStatusFor(e.code());
        const std::string child = launcher->firstFailure(&status);  // the ranks that ended on their own
        launcher->stopAll(2.0);
        if (child.empty() || g_cancel.load() ||
            (e.code() != aq::ErrorCode::PeerFailure && e.code() != aq::ErrorCode::Cancelled))
            throw;
        if (e.code() == aq::ErrorCode::PeerFailure)
            std::fprintf(stderr, "\n%s: %s: %s", g_who.c_str(), aq::errorCodeName(e.code()), e.what());
        std::fprintf(stderr, "\naffinequant: %s; every rank stopped\n", child.c_str());
        return status;
    }
    if (launcher && !launcher->waitAll(60.0)) {
        launcher->stopAll(5.0);
        std::fprintf(stderr, "affinequant: warning: some ranks did not end after the run; they were stopped\n");
    }
    if (!root)
        return 0;  // rank 0 reports
    obs.stage("done", 1, 1);
    std::fprintf(stderr, "\n");
    if (args.flag("json")) {
        nlohmann::json j = {{"run_dir", r.runDir}, {"model_dir", r.modelDir}, {"seconds", r.seconds},
                            {"recoveries", r.recoveries}};
        if (!req.evalTextPath.empty())
            j["eval"] = {{"fp_perplexity", r.fpPerplexity}, {"rtn_perplexity", r.rtnPerplexity},
                         {"quant_perplexity", r.quantPerplexity}};
        if (req.world.distributed())
            j["ranks"] = req.world.worldSize;
        std::cout << j.dump(2) << "\n";
    } else {
        std::printf("wrote %s (run.json, model/) in %.1f s, %d recoveries", r.runDir.c_str(), r.seconds, r.recoveries);
        if (req.world.distributed())
            std::printf(", %d ranks", req.world.worldSize);
        std::printf("\n");
        if (!req.evalTextPath.empty())
            std::printf("perplexity: FP %.4f, RTN %.4f, %s %.4f\n", r.fpPerplexity, r.rtnPerplexity,
                        aq::methodName(c.method), r.quantPerplexity);
    }
    return 0;
}

int cmdDevices(const std::vector<std::string>& argv)
{
    aqcli::Args args(argv, {}, {"json"});
    const auto devices = aq::listDevices();
    if (args.flag("json")) {
        nlohmann::json j = nlohmann::json::array();
        const aq::CpuThreads t = aq::currentCpuThreads();
        for (const auto& d : devices) {
            j.push_back({{"id", d.id}, {"label", d.label}, {"total_bytes", d.totalBytes}, {"free_bytes", d.freeBytes}});
            if (d.id == "cpu")
                j.back()["threads"] = {{"cores", t.cores}, {"used", t.used}, {"limit", t.limit},
                                       {"limit_source", t.limitSource}, {"libtorch", t.intraOp}, {"blas", t.blas},
                                       {"blas_library", t.blasLibrary}};
        }
        std::cout << j.dump(2) << "\n";
    } else {
        for (const auto& d : devices)
        {
            std::printf("%-8s %s, %.1f GB free of %.1f GB\n", d.id.c_str(), d.label.c_str(), d.freeBytes / 1e9,
                        d.totalBytes / 1e9);
            if (d.id == "cpu")
                std::printf("         threads: %s\n", aq::describeCpuThreads(aq::currentCpuThreads()).c_str());
        }
        if (!aq::cudaAvailable())
            std::printf("(this build has no usable CUDA device)\n");
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv)
{
    std::vector<std::string> rest(argv + std::min(argc, 2), argv + argc);
    const std::string cmd = argc > 1 ? argv[1] : "";
    if (cmd.empty() || cmd == "--help" || cmd == "-h" || cmd == "help") {
        std::fputs(kUsage, cmd.empty() ? stderr : stdout);
        return cmd.empty() ? 2 : 0;
    }
    for (const auto& a : rest)
        if (a == "--help" || a == "-h") {
            std::fputs(kUsage, stdout);
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
            return cmdInspect(rest);
        if (cmd == "eval")
            return cmdEval(rest);
        if (cmd == "quantize")
            return cmdQuantize(rest);
        if (cmd == "devices")
            return cmdDevices(rest);
        if (cmd == "export")
            return aqcli::cmdExport(rest, g_cancel);
        if (cmd == "verify")
            return aqcli::cmdVerify(rest, g_cancel);
        if (cmd == "preflight")
            return aqcli::cmdPreflight(rest);
        if (cmd == "version" || cmd == "--version") {
            std::printf("affinequant %s (LibTorch %s)\n", AQ_VERSION, aq::torchVersion().c_str());
            return 0;
        }
        aq::badInput("unknown command '" + cmd + "'; run 'affinequant --help'");
    } catch (const aq::Error& e) {
        std::fprintf(stderr, "\n%s: %s: %s\n", g_who.c_str(), aq::errorCodeName(e.code()), e.what());
        return aq::exitStatusFor(e.code());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "\naffinequant: internal error: %s\n", e.what());
        return 1;
    }
}
