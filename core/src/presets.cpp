// Presets, validation and the gradual-mask schedule: torch-free parts of the calibration API.
#include "aq/calibrate.h"
#include "aq/error.h"

#include <cmath>
#include <sstream>

namespace aq {

const char* methodName(Method m)
{
    switch (m) {
    case Method::Rtn: return "rtn";
    case Method::OmniQuant: return "omniquant";
    case Method::AffineQuant: return "affinequant";
    case Method::Invalid: break;
    }
    return "invalid";
}

Method parseMethod(const std::string& name)
{
    for (Method m : {Method::Rtn, Method::OmniQuant, Method::AffineQuant})
        if (name == methodName(m))
            return m;
    badInput("unknown method '" + name + "' (choose rtn, omniquant or affinequant)");
}

std::vector<std::string> presetNames()
{
    return {"w4a16g128", "w4a16", "w3a16g128", "w3a16", "w2a16", "w2a16g128", "w2a16g64", "w4a4", "w4a4-llama2", "w6a6",
            "teaching"};
}

namespace {
// OPT stability factors of the reference scripts (spec §7.2), by model width: 125M 1.0, 1.3B 0.1, 13B and larger
// 1e-2; the 2.7B/6.7B columns are mostly 1.0.
double optStabilityFactor(int64_t hidden)
{
    if (hidden >= 5120)
        return 1e-2;
    if (hidden == 2048)
        return 0.1;
    return 1.0;
}
}  // namespace

QuantConfig presetConfig(const std::string& name, Method method, Architecture arch)
{
    QuantConfig c;
    c.preset = name;
    c.method = method;
    const bool weightOnly = name.find("a16") != std::string::npos;
    if (weightOnly) {
        c.abits = 16;
        c.wbits = name[1] - '0';
        const auto g = name.find('g');
        c.groupSize = g == std::string::npos ? 0 : std::stoll(name.substr(g + 1));
        // Deployable by default: vector post-norm transforms fold into stock weights and zero stays inside every
        // group's range, so every export format can hold the result. The paper's recipe (dense post-norm matrices,
        // which only this program's own evaluation applies) is --ln-matrix.
        c.lnMatrix = false;
        c.zeroInRange = true;
        c.sf = 1e-2;
        c.epochs = c.wbits == 2 ? 40 : 20;
        c.augLoss = c.wbits == 2;
    } else if (name == "w4a4" || name == "teaching") {
        c.wbits = c.abits = 4;
        c.augLoss = true;
        c.qkMatrix = true;
        c.sf = 0.1;
        c.alpha = 0.5;
        c.letLr = 5e-3;
        if (name == "teaching") {
            // The w4a4 recipe on a small calibration set: every view (matrices and their margins growing with the
            // mask, activations before and after the transforms, weight histograms) on the demo model in seconds on
            // a laptop's CPU (docs/benchmarks.md). Not for models meant for use: w4a4 is one choice away.
            c.nsamples = 16;
            c.seqlen = 256;
            c.epochs = 6;
        }
    } else if (name == "w4a4-llama2") {
        c.wbits = c.abits = 4;
        c.qkMatrix = true;
        c.sf = 0.1;
        c.alpha = 0.75;
        c.letLr = 1e-3;
    } else if (name == "w6a6") {
        c.wbits = c.abits = 6;
        c.sf = 1.0;  // the reference ships no W6A6 recipe: vectors, v->o stays a matrix
    } else {
        std::string names;
        for (const auto& n : presetNames())
            names += (names.empty() ? "" : ", ") + n;
        badInput("unknown preset '" + name + "' (available: " + names + ")");
    }
    bool known = false;
    for (const auto& n : presetNames())
        known = known || n == name;
    if (!known)
        badInput("unknown preset '" + name + "'");
    if (arch == Architecture::Opt && weightOnly)
        c.sf = 1.0;  // presetConfigFor() refines this by the model's width

    switch (method) {
    case Method::Rtn:
        c.lwc = c.let = c.lnMatrix = c.qkMatrix = c.augLoss = false;
        c.epochs = 0;
        break;
    case Method::OmniQuant:
        // OmniQuant HEAD (spec §7.3, §12): vectors only, clamped step, max|W| init, shifts frozen for LLaMA,
        // LWC only for LLaMA weight-only.
        c.lnMatrix = c.qkMatrix = false;
        c.signedMaxInit = false;
        c.trainShifts = arch == Architecture::Opt;
        if (arch == Architecture::Llama && weightOnly)
            c.let = false;
        break;
    case Method::AffineQuant:
        break;
    case Method::Invalid:
        badInput("invalid method");
    }
    return c;
}

QuantConfig presetConfigFor(const std::string& name, Method method, const ModelConfig& model)
{
    QuantConfig c = presetConfig(name, method, model.arch);
    if (model.arch == Architecture::Opt && c.abits == 16)
        c.sf = optStabilityFactor(model.hiddenSize);
    return c;
}

void validateConfig(const QuantConfig& c, const ModelConfig& m)
{
    auto bad = [](const std::string& what) { badInput(what); };
    if (c.method == Method::Invalid)
        bad("no quantization method chosen");
    if (c.wbits < 2 || c.wbits > 16)
        bad("--wbits " + std::to_string(c.wbits) + " is outside 2..16");
    if (c.abits < 2 || c.abits > 16)
        bad("--abits " + std::to_string(c.abits) + " is outside 2..16");
    if (c.groupSize < 0)
        bad("--group-size must not be negative");
    if (c.nsamples < 1)
        bad("--nsamples must be at least 1");
    if (c.batchSize < 1 || c.nsamples % c.batchSize != 0)
        bad("--batch-size must be at least 1 and divide --nsamples");
    if (c.epochs < 0)
        bad("--epochs must not be negative");
    if (!(c.sf > 0) || c.sf > 1)
        bad("--sf (stability factor) must be in (0, 1]");
    if (!(c.letLr > 0) || !(c.lwcLr > 0))
        bad("learning rates must be positive");
    if (!(c.alpha >= 0 && c.alpha <= 1))
        bad("--alpha must be in [0, 1]");
    if (c.weightDecay < 0)
        bad("--wd must not be negative");
    if (c.maxRecoveries < 0)
        bad("--max-recoveries must not be negative");
    // A condition number is never below 1: a smaller limit would roll back every epoch and fail the run later.
    if (!(c.conditionLimit >= 1)) {
        std::ostringstream v;
        v << c.conditionLimit;
        bad("--condition-limit must be at least 1 (a condition number is never below 1), got " + v.str());
    }
    m.checkSequenceLength(c.seqlen);
    if (c.let && m.arch == Architecture::Opt && !m.doLayerNormBefore)
        bad("learnable transforms need a pre-LayerNorm OPT (do_layer_norm_before=true); use --method rtn or --no-let");
    if (c.let && m.arch == Architecture::Opt && m.wordEmbedProjDim != m.hiddenSize)
        bad("OPT models with project_in/project_out are not supported with transforms; use --method rtn");
    if (c.groupSize > 0 && !c.partialGroups && !c.perChannelFallback) {
        for (int64_t in : {m.hiddenSize, m.intermediateSize, m.numHeads * m.headDim})
            if (in > c.groupSize && in % c.groupSize != 0)
                bad("group size " + std::to_string(c.groupSize) + " does not divide the input size " + std::to_string(in) +
                    " of some layers and partial groups are disabled; allow partial groups, enable the per-channel "
                    "fallback, or pick a group size that divides " + std::to_string(in));
    }
    if (c.mixedPrecision && c.device == "cpu")
        bad("mixed precision needs a CUDA device");
}

int64_t maskBandWidth(int64_t d, int epochs, int epoch)
{
    if (epochs <= 1)
        return 1;
    // Evaluated in double and truncated, exactly as the reference computes it (spec §5.1).
    return static_cast<int64_t>(std::floor((static_cast<double>(d - 1) / static_cast<double>(epochs - 1)) * epoch)) + 1;
}

}  // namespace aq
