// The `quantize` command: a calibration in this process, as one rank of a group, or with --nproc local ranks.
#include "commands.h"

#include "args.h"
#include "launch.h"
#include "progress.h"
#include "quant_options.h"

#include "aq/calibrate.h"
#include "aq/device.h"
#include "aq/distributed.h"
#include "aq/error.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace aqcli {

namespace {

class CliObserver : public aq::CalibrationObserver {
public:
    explicit CliObserver(int epochs) : m_bar("quantize"), m_epochs(std::max(epochs, 1)) {}
    /// Called with every stage before it is drawn.
    std::function<void(aq::Stage)> onStage;

    void stage(aq::Stage what, int block, int numBlocks) override
    {
        if (onStage)
            onStage(what);
        m_block = block;
        m_numBlocks = numBlocks;
        m_stage = aq::stageName(what);
        draw();
    }
    void stepLoss(const aq::StepLoss& s) override
    {
        m_epoch = s.epoch;
        m_loss = s.loss;
    }
    void progress(const aq::Progress& p) override
    {
        m_progress = p;
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
        char detail[192];
        std::snprintf(detail, sizeof detail, "steps | block %d/%d epoch %d/%d loss %.3g | %s",
                      std::min(m_block + 1, m_numBlocks), m_numBlocks, m_epoch + 1, m_epochs, m_loss, m_stage.c_str());
        m_bar.update(m_progress, detail);  // the engine's progress over the whole model, with its time left
    }
    ProgressBar m_bar;
    int m_epochs;
    int m_block = 0, m_numBlocks = 1, m_epoch = 0;
    double m_loss = 0;
    std::string m_stage;
    aq::Progress m_progress;
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

/// The calibration the command line asks for: model, texts, output folder, configuration and evaluation. Its
/// data-parallel group (world, device) is set up by setUpRanks().
aq::CalibrationRequest requestFromArgs(const Args& args)
{
    aq::CalibrationRequest req;
    req.modelDir = args.required("model");
    req.calibTextPath = args.required("calib");
    req.runDir = args.required("out");
    const aq::ModelConfig model = aq::loadModelConfig(req.modelDir);
    req.config = quantConfigFromArgs(args, model);
    req.evalTextPath = args.str("eval");
    req.evalWindows = args.integer("eval-windows", 0);
    req.evalSeqlen = args.integer("eval-seqlen", 0);
    req.resume = args.flag("resume");
    req.force = args.flag("force");
    return req;
}

/// --dist-timeout in seconds, by default the group's own.
int distTimeout(const Args& args, const aq::WorldSpec& world)
{
    const int timeout = static_cast<int>(args.integer("dist-timeout", world.timeoutSeconds, 7 * 24 * 3600));
    if (timeout < 1)
        aq::badInput("--dist-timeout needs a number of seconds of at least 1");
    return timeout;
}

/// The number of ranks this process starts itself (--nproc, by default one per device of --devices outside a
/// launcher's group), checked against the group and the devices.
int localRankCount(const Args& args, const aq::WorldSpec& world, const std::vector<std::string>& devices)
{
    const int nproc = static_cast<int>(
        args.has("nproc") ? args.integer("nproc", 1, 1024)
                          : (!world.distributed() && devices.size() > 1 ? static_cast<int64_t>(devices.size()) : 1));
    if (nproc < 1)
        aq::badInput("--nproc needs a number of ranks of at least 1");
    if (nproc > 1 && world.distributed())
        aq::badInput("--nproc starts its own ranks, but this process was started as rank " +
                     std::to_string(world.rank) + " of " + std::to_string(world.worldSize) +
                     " by a launcher (WORLD_SIZE is set); leave --nproc out, or unset WORLD_SIZE");
    if (nproc > 1 && !devices.empty() && static_cast<int>(devices.size()) != nproc)
        aq::badInput("--devices lists " + std::to_string(devices.size()) + " devices for --nproc " +
                     std::to_string(nproc) + "; list one device per rank");
    return nproc;
}

/// Starts ranks 1..nproc-1 as child processes and makes this process rank 0 of their group.
std::unique_ptr<LocalLauncher> startLocalRanks(const std::vector<std::string>& argv, int nproc, int timeout,
                                               aq::CalibrationRequest& req)
{
    aq::validateWorld(req.config, nproc);  // before any process starts
    // The cores are split between the ranks unless --threads gave each rank's share.
    const aq::CpuThreads t = aq::currentCpuThreads();
    const int threads = t.limitSource == "--threads" ? t.used : std::max(1, t.used / nproc);
    std::vector<std::vector<std::string>> rankArgs(static_cast<size_t>(nproc), rankArguments(argv, threads));
    auto launcher = std::make_unique<LocalLauncher>(nproc, rankArgs, timeout);
    aq::configureCpu(threads);
    req.world = aq::worldFromEnvironment();
    req.world.timeoutSeconds = timeout;
    return launcher;
}

/// Data-parallel: a group from the environment (an external launcher), or ranks this process starts itself (then
/// returned). Sets the request's world and this rank's device.
std::unique_ptr<LocalLauncher> setUpRanks(const std::vector<std::string>& argv, const Args& args,
                                          aq::CalibrationRequest& req)
{
    req.world = aq::worldFromEnvironment();
    const int timeout = distTimeout(args, req.world);
    req.world.timeoutSeconds = timeout;
    std::vector<std::string> devices;
    if (args.has("devices"))
        devices = aq::parseDeviceList(args.str("devices"));
    const int nproc = localRankCount(args, req.world, devices);
    std::unique_ptr<LocalLauncher> launcher;
    if (nproc > 1)
        launcher = startLocalRanks(argv, nproc, timeout, req);
    req.config.device = aq::rankDevice(req.world, req.config.device, devices);
    if (req.world.distributed())
        g_who = "affinequant [rank " + std::to_string(req.world.rank) + "]";
    return launcher;
}

/// With local ranks, rank 0 also stops when one of them fails (even while it waits for them to join).
void watchLocalRanks(LocalLauncher& launcher, std::atomic<bool>& stopRun, CliObserver& obs)
{
    launcher.watch(stopRun, g_cancel);
    obs.onStage = [ranks = &launcher](aq::Stage what) {
        if (what == aq::Stage::WritingModel)
            ranks->stopWatching();  // the other ranks' work is done
    };
}

/// With local ranks, after this rank's calibration failed with `e`: when a child rank ended with a failure first
/// (and this rank only stopped because of it), says so and returns the child's exit status; otherwise nothing (the
/// caller rethrows `e`). Every rank has stopped either way.
std::optional<int> childFailureStatus(const aq::Error& e, LocalLauncher& launcher)
{
    // Give the other ranks a moment to end on their own, so that the first cause is the one reported.
    launcher.waitAll(1.0);
    int status = aq::exitStatusFor(e.code());
    const std::string child = launcher.firstFailure(&status);  // the ranks that ended on their own
    launcher.stopAll(2.0);
    if (child.empty() || g_cancel.load() ||
        (e.code() != aq::ErrorCode::PeerFailure && e.code() != aq::ErrorCode::Cancelled))
        return std::nullopt;
    if (e.code() == aq::ErrorCode::PeerFailure)
        std::fprintf(stderr, "\n%s: %s: %s", g_who.c_str(), aq::errorCodeName(e.code()), e.what());
    std::fprintf(stderr, "\naffinequant: %s; every rank stopped\n", child.c_str());
    return status;
}

/// After a successful run: waits for the local ranks to end, stopping those that do not.
void joinLocalRanks(LocalLauncher& launcher)
{
    if (!launcher.waitAll(60.0)) {
        launcher.stopAll(5.0);
        std::fprintf(stderr, "affinequant: warning: some ranks did not end after the run; they were stopped\n");
    }
}

/// Rank 0's report of a finished run: JSON with --json, otherwise a summary line and the perplexities.
void printResult(const Args& args, const aq::CalibrationRequest& req, const aq::CalibrationResult& r)
{
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
                        aq::methodName(req.config.method), r.quantPerplexity);
    }
}

}  // namespace

int cmdQuantize(const std::vector<std::string>& argv)
{
    Args args(argv, kQuantizeValuedOptions, kQuantizeFlagOptions);
    // Declared before the launcher, whose watcher thread may set it until the launcher is destroyed.
    std::atomic<bool> stopRun{false};
    aq::CalibrationRequest req = requestFromArgs(args);
    const std::unique_ptr<LocalLauncher> launcher = setUpRanks(argv, args, req);
    const bool root = req.world.rank == 0;

    CliObserver obs(req.config.epochs);
    aq::CalibrationResult r;
    if (launcher)
        watchLocalRanks(*launcher, stopRun, obs);
    try {
        r = aq::runCalibration(req, root ? &obs : nullptr, launcher ? &stopRun : &g_cancel);
    } catch (const aq::Error& e) {
        if (!launcher)
            throw;
        const std::optional<int> status = childFailureStatus(e, *launcher);
        if (!status)
            throw;
        return *status;
    }
    if (launcher)
        joinLocalRanks(*launcher);
    if (!root)
        return 0;  // rank 0 reports
    obs.stage(aq::Stage::Done, 1, 1);
    std::fprintf(stderr, "\n");
    printResult(args, req, r);
    return 0;
}

}  // namespace aqcli
