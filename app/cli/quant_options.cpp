#include "quant_options.h"

#include "aq/error.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace aqcli {

const std::set<std::string> kQuantizeValuedOptions = {
    "model", "calib", "out", "preset", "method", "wbits", "abits", "group-size", "nsamples", "seqlen", "epochs",
    "batch-size", "let-lr", "lwc-lr", "sf", "alpha", "wd", "seed", "max-recoveries", "condition-limit", "eval",
    "eval-windows", "eval-seqlen", "device", "nproc", "devices", "dist-timeout", "config"};

const std::set<std::string> kQuantizeFlagOptions = {
    "aug-loss", "no-aug-loss", "no-lwc", "no-let", "ln-matrix", "no-ln-matrix", "qk-matrix", "no-qk-matrix",
    "symmetric", "zero-in-range", "no-zero-in-range", "no-partial-groups", "per-channel-fallback",
    "reference-delta-clamp", "keep-dominant", "inverse-fp64", "mixed-precision", "buffers-on-host", "resume", "force",
    "json"};

aq::QuantConfig quantConfigFromArgs(const Args& args, const aq::ModelConfig& model)
{
    const aq::Method method = aq::parseMethod(args.str("method", "affinequant"));
    aq::QuantConfig c;
    if (args.has("config")) {
        // An earlier run's configuration (its run.json, or the "configuration" object alone); options given beside it
        // change it.
        if (args.has("preset"))
            aq::badInput("give --config FILE or --preset NAME, not both");
        const std::string path = args.str("config");
        std::ifstream in(path, std::ios::binary);
        if (!in)
            aq::badInput("cannot read the configuration file '" + path + "'");
        std::stringstream text;
        text << in.rdbuf();
        try {
            c = aq::quantConfigFromJson(text.str());
        } catch (const aq::Error& e) {
            aq::badInput("'" + path + "': " + e.what());
        }
        if (args.has("method"))
            c.method = method;
    } else if (args.has("preset")) {
        c = aq::presetConfigFor(args.str("preset"), method, model);
    } else {
        if (!args.has("wbits"))
            aq::badInput("give --preset NAME, or --wbits (and --abits, --group-size) for a custom configuration");
        c.method = method;
        if (method == aq::Method::Rtn) {
            c.lwc = c.let = false;
            c.epochs = 0;
        } else if (method == aq::Method::OmniQuant) {
            c.signedMaxInit = false;
            c.trainShifts = model.arch == aq::Architecture::Opt;
        }
    }
    auto real = [&](const char* name, double fallback) {
        if (!args.has(name))
            return fallback;
        try {
            size_t used = 0;
            const double v = std::stod(args.str(name), &used);
            if (used != args.str(name).size())
                throw std::invalid_argument(name);
            return v;
        } catch (const std::exception&) {
            aq::badInput(std::string("option --") + name + " needs a number, got '" + args.str(name) + "'");
        }
    };
    c.wbits = static_cast<int>(args.integer("wbits", c.wbits));
    c.abits = static_cast<int>(args.integer("abits", c.abits));
    c.groupSize = args.integer("group-size", c.groupSize);
    c.nsamples = args.integer("nsamples", c.nsamples);
    c.seqlen = args.integer("seqlen", std::min<int64_t>(c.seqlen, model.maxPositionEmbeddings));
    c.epochs = static_cast<int>(args.integer("epochs", c.epochs));
    c.batchSize = args.integer("batch-size", c.batchSize);
    c.seed = static_cast<uint64_t>(args.integer("seed", static_cast<int64_t>(c.seed), INT64_MAX));
    c.maxRecoveries = static_cast<int>(args.integer("max-recoveries", c.maxRecoveries));
    c.letLr = real("let-lr", c.letLr);
    c.lwcLr = real("lwc-lr", c.lwcLr);
    c.sf = real("sf", c.sf);
    c.alpha = real("alpha", c.alpha);
    c.weightDecay = real("wd", c.weightDecay);
    c.conditionLimit = real("condition-limit", c.conditionLimit);
    if (args.flag("aug-loss")) c.augLoss = true;
    if (args.flag("no-aug-loss")) c.augLoss = false;
    if (args.flag("no-lwc")) c.lwc = false;
    if (args.flag("no-let")) c.let = false;
    if (args.flag("ln-matrix")) c.lnMatrix = true;
    if (args.flag("no-ln-matrix")) c.lnMatrix = false;
    if (args.flag("qk-matrix")) c.qkMatrix = true;
    if (args.flag("no-qk-matrix")) c.qkMatrix = false;
    if (args.flag("symmetric")) c.symmetric = true;
    if (args.flag("zero-in-range")) c.zeroInRange = true;
    if (args.flag("no-zero-in-range")) c.zeroInRange = false;
    if (args.flag("no-partial-groups")) c.partialGroups = false;
    if (args.flag("per-channel-fallback")) c.perChannelFallback = true;
    if (args.flag("reference-delta-clamp")) c.referenceDeltaClamp = true;
    if (args.flag("keep-dominant")) c.keepDominant = true;
    if (args.flag("inverse-fp64")) c.inverseFloat64 = true;
    if (args.flag("mixed-precision")) c.mixedPrecision = true;
    if (args.flag("buffers-on-host")) c.buffersOnHost = true;
    c.device = args.str("device", "cpu");
    return c;
}

}  // namespace aqcli
