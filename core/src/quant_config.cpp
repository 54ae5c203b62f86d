// The calibration settings (aq/quant_config.h): the table that defines each one, presets and methods, validation,
// the JSON form and the gradual-mask schedule. No torch.
#include "aq/quant_config.h"
#include "aq/device.h"
#include "aq/error.h"
#include "jsonutil.h"
#include "quant_config_json.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <sstream>
#include <type_traits>

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

namespace {
constexpr const char* kWeightGridNames[] = {"uniform", "q4_k", "q5_k", "q6_k", "q3_k", "q2_k",
                                            "q4_k_m", "q3_k_m", "q2_k_m"};
}

const char* weightGridName(WeightGrid g)
{
    const auto i = static_cast<size_t>(g);
    return i < std::size(kWeightGridNames) ? kWeightGridNames[i] : "invalid";
}

int weightGridBits(WeightGrid g)
{
    switch (g) {
    case WeightGrid::Uniform: return 0;
    case WeightGrid::Q4_K: return 4;
    case WeightGrid::Q5_K: return 5;
    case WeightGrid::Q6_K: return 6;
    case WeightGrid::Q3_K: return 3;
    case WeightGrid::Q2_K: return 2;
    case WeightGrid::Q4_K_M: return 4;
    case WeightGrid::Q3_K_M: return 3;
    case WeightGrid::Q2_K_M: return 2;
    }
    return 0;
}

bool isMixedGrid(WeightGrid g)
{
    return g == WeightGrid::Q4_K_M || g == WeightGrid::Q3_K_M || g == WeightGrid::Q2_K_M;
}

WeightGrid tensorGrid(WeightGrid grid, LinearRole role, int64_t block, int64_t numBlocks, const ModelConfig& model)
{
    const int64_t n = numBlocks, i = block;
    // The blocks that get more bits: the first and last eighth, and every third one between.
    const bool moreBits = i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
    switch (grid) {
    case WeightGrid::Q4_K_M:
        if (role == LinearRole::AttentionValue || role == LinearRole::FfnDown)
            return moreBits ? WeightGrid::Q6_K : WeightGrid::Q4_K;
        return WeightGrid::Q4_K;
    case WeightGrid::Q3_K_M:
        if (role == LinearRole::AttentionValue)
            return i < 2 ? WeightGrid::Q5_K : WeightGrid::Q4_K;
        if (role == LinearRole::FfnDown)
            return i < n / 16 ? WeightGrid::Q5_K : WeightGrid::Q4_K;
        if (role == LinearRole::AttentionOutput)
            return WeightGrid::Q4_K;
        return WeightGrid::Q3_K;
    case WeightGrid::Q2_K_M: {
        const int64_t sharing = model.numKvHeads > 0 ? model.numHeads / model.numKvHeads : 1;
        if (role == LinearRole::AttentionValue)
            return sharing >= 4 ? WeightGrid::Q4_K : WeightGrid::Q3_K;
        if (role == LinearRole::FfnDown || role == LinearRole::AttentionOutput)
            return WeightGrid::Q3_K;
        return WeightGrid::Q2_K;
    }
    default:
        return grid;
    }
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

/// What a method changes in a configuration, the same with or without a preset. Weight-only: 16 activation bits.
void applyMethod(QuantConfig& c, Method method, Architecture arch)
{
    c.method = method;
    const bool weightOnly = c.abits >= 16;
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
}

/// A number as messages show it: integers without a decimal point, others in the shortest form.
std::string numberText(double v)
{
    std::ostringstream s;
    if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 1e15)
        s << static_cast<long long>(v);
    else
        s << v;
    return s.str();
}

/// Whole numbers: what the command line has always accepted. Fields offer less where more makes no sense.
constexpr double kMaxWhole = std::numeric_limits<int32_t>::max();
constexpr double kUnbounded = std::numeric_limits<double>::infinity();
constexpr double kFieldCount = 1 << 20;  // samples, tokens per window, group size: more than any model needs

}  // namespace

// ---- The settings table ----

const std::vector<Setting>& quantSettings()
{
    using Q = QuantConfig;
    using S = SwitchOptions;
    const double kSeedMax = static_cast<double>(std::numeric_limits<int64_t>::max());
    // Switches need no range. stepCost: the setting changes the work of a training step, a window or a block's merge
    // (what the application's time estimate must measure again).
    static const std::vector<Setting> table = {
        {.id = "wbits",
         .option = "wbits",
         .help = "bits per weight, 2 to 16 (16: weights not quantized)",
         .field = &Q::wbits, .min = 2, .max = 16, .stepCost = true},
        {.id = "abits",
         .option = "abits",
         .help = "bits per activation (per-token, dynamic), 2 to 16 (16: not quantized)",
         .field = &Q::abits, .min = 2, .max = 16, .stepCost = true},
        {.id = "group_size",
         .option = "group-size",
         .help = "input channels sharing one scale and zero point (0: one per output channel)",
         .field = &Q::groupSize, .max = kMaxWhole, .fieldMax = kFieldCount, .valueName = "G", .stepCost = true},
        {.id = "weight_grid",
         .option = "weight-grid",
         .help = "the weight grid: uniform (scale and zero point per group), or a llama.cpp k-quant layout "
                 "calibrated exactly as a GGUF file stores it: q4_k, q5_k, q6_k, q3_k, q2_k (256-weight "
                 "super-blocks; fixes the groups and the symmetry, --wbits follows it), or mixed per tensor as "
                 "llama.cpp's file types Q4_K_M, Q3_K_M and Q2_K choose: q4_k_m, q3_k_m, q2_k_m",
         .field = &Q::weightGrid, .max = std::size(kWeightGridNames) - 1, .valueName = "GRID", .stepCost = true,
         .choices = kWeightGridNames},
        {.id = "partial_groups",
         .option = "partial-groups",
         .help = "off: refuse (or fall back for) layers whose input size the group size does not divide",
         .field = &Q::partialGroups, .switches = S::OffOnly, .stepCost = true},
        {.id = "per_channel_fallback",
         .option = "per-channel-fallback",
         .help = "without partial groups, quantize such layers per output channel",
         .field = &Q::perChannelFallback, .switches = S::OnOnly, .stepCost = true},
        {.id = "symmetric",
         .option = "symmetric",
         .help = "symmetric weight grid, zero point 2^(bits-1)",
         .field = &Q::symmetric, .switches = S::OnOnly, .stepCost = true},
        {.id = "zero_in_range",
         .option = "zero-in-range",
         .help = "force 0 into every group's range (packed integer exports need it)",
         .field = &Q::zeroInRange},
        {.id = "reference_delta_clamp",
         .option = "reference-delta-clamp",
         .help = "reproduce the reference code's missing step-size clamp (spec section 2.1)",
         .field = &Q::referenceDeltaClamp, .switches = S::OnOnly},
        {.id = "lwc",
         .option = "lwc",
         .help = "learnable weight clipping (off: plain min/max ranges)",
         .field = &Q::lwc, .switches = S::OffOnly, .stepCost = true},
        {.id = "lwc_init_search",
         .option = "lwc-init-search",
         .help = "start each group's clipping at the factor (0.71 to 0.98 of the range) that quantizes its weights "
                 "with the least squared error, instead of near the full range",
         .field = &Q::lwcInitSearch, .switches = S::OnOnly},
        {.id = "gptq_rounding",
         .option = "gptq-rounding",
         .help = "after the transforms and clipping are learned, round each linear's weights column by column onto "
                 "the learned grid, spreading each column's rounding error over the columns left as the block's "
                 "calibration inputs weigh them (GPTQ), instead of to the nearest grid value",
         .field = &Q::gptqRounding, .switches = S::OnOnly, .stepCost = true},
        {.id = "let",
         .option = "let",
         .help = "learnable equivalent (affine) transforms and shifts (off: none)",
         .field = &Q::let, .switches = S::OffOnly, .stepCost = true},
        {.id = "ln_matrix",
         .option = "ln-matrix",
         .help = "full matrices after the norms (the paper's weight-only recipe; not deployable)",
         .field = &Q::lnMatrix, .stepCost = true},
        {.id = "qk_matrix",
         .option = "qk-matrix",
         .help = "per-head matrices between queries and keys",
         .field = &Q::qkMatrix, .stepCost = true},
        {.id = "train_shifts",
         .option = "train-shifts",
         .help = "learn the transforms' shifts (set by the method)",
         .field = &Q::trainShifts, .switches = S::None, .stepCost = true},
        {.id = "signed_max_init",
         .option = "signed-max-init",
         .help = "initial scales from the signed weight maximum (set by the method)",
         .field = &Q::signedMaxInit, .switches = S::None},
        {.id = "aug_loss",
         .option = "aug-loss",
         .help = "also match the block output on the full-precision input stream",
         .field = &Q::augLoss, .stepCost = true},
        {.id = "sf",
         .option = "sf",
         .help = "stability factor: scales the off-diagonal entries the mask admits",
         .field = &Q::sf, .max = 1, .minExclusive = true, .valueName = "X"},
        {.id = "alpha",
         .option = "alpha",
         .help = "SmoothQuant migration strength of the initial scales",
         .field = &Q::alpha, .max = 1, .valueName = "X"},
        {.id = "let_lr",
         .option = "let-lr",
         .help = "AdamW learning rate of the transforms and shifts",
         .field = &Q::letLr, .max = kUnbounded, .fieldMax = 1, .minExclusive = true, .valueName = "X"},
        {.id = "lwc_lr",
         .option = "lwc-lr",
         .help = "AdamW learning rate of the clipping factors",
         .field = &Q::lwcLr, .max = kUnbounded, .fieldMax = 1, .minExclusive = true, .valueName = "X"},
        {.id = "wd",
         .option = "wd",
         .help = "AdamW weight decay",
         .field = &Q::weightDecay, .max = kUnbounded, .fieldMax = 1, .valueName = "X"},
        {.id = "epochs",
         .option = "epochs",
         .help = "passes over the calibration windows per block (0: initial transforms, untrained)",
         .field = &Q::epochs, .max = kMaxWhole, .fieldMax = 10000, .valueName = "E"},
        {.id = "nsamples",
         .option = "nsamples",
         .help = "calibration windows drawn (seeded) from the calibration text",
         .field = &Q::nsamples, .min = 1, .max = kMaxWhole, .fieldMax = kFieldCount},
        {.id = "seqlen",
         .option = "seqlen",
         .help = "tokens per calibration window (at most the model's maximum)",
         .field = &Q::seqlen, .min = 1, .max = kMaxWhole, .fieldMax = kFieldCount, .stepCost = true},
        {.id = "batch_size",
         .option = "batch-size",
         .help = "windows per optimisation step (the global batch of all ranks); divides --nsamples",
         .field = &Q::batchSize, .min = 1, .max = kMaxWhole, .fieldMax = 4096, .valueName = "B", .stepCost = true},
        {.id = "seed",
         .option = "seed",
         .help = "seed of the calibration windows and initialisation",
         .field = &Q::seed, .max = kSeedMax, .valueName = "S"},
        {.id = "keep_dominant",
         .option = "keep-dominant",
         .help = "project every matrix row back to strict diagonal dominance after each step",
         .field = &Q::keepDominant, .switches = S::OnOnly, .stepCost = true},
        {.id = "inverse_float64",
         .option = "inverse-fp64",
         .help = "invert the transforms in float64",
         .field = &Q::inverseFloat64, .switches = S::OnOnly, .stepCost = true},
        {.id = "mixed_precision",
         .option = "mixed-precision",
         .help = "CUDA: bfloat16 products and buffers, float32 master parameters",
         .field = &Q::mixedPrecision, .switches = S::OnOnly, .stepCost = true},
        {.id = "buffers_on_host",
         .option = "buffers-on-host",
         .help = "CUDA: keep the activation buffers in pinned host memory",
         .field = &Q::buffersOnHost, .switches = S::OnOnly, .stepCost = true},
        {.id = "max_recoveries",
         .option = "max-recoveries",
         .help = "epochs a block may roll back before the run fails",
         .field = &Q::maxRecoveries, .max = kMaxWhole, .fieldMax = 100, .valueName = "K"},
        {.id = "condition_limit",
         .option = "condition-limit",
         .help = "condition estimate of a transform above which the epoch is rolled back (a condition "
                 "number is never below 1)",
         .field = &Q::conditionLimit, .min = 1, .max = kUnbounded, .fieldMax = 1e15, .valueName = "X"},
        {.id = "rollback_factor",
         .option = "rollback-factor",
         .help = "a rolled-back epoch multiplies the learning rates and the stability factor by this",
         .field = &Q::rollbackFactor, .max = 1, .minExclusive = true, .valueName = "X"},
    };
    return table;
}

double Setting::value(const QuantConfig& c) const
{
    return std::visit([&](auto member) { return static_cast<double>(c.*member); }, field);
}

void Setting::set(QuantConfig& c, double v) const
{
    if (auto* real = std::get_if<double QuantConfig::*>(&field))
        c.**real = v;
    else
        setWhole(c, static_cast<int64_t>(v));
}

void Setting::setWhole(QuantConfig& c, int64_t v) const
{
    std::visit(
        [&](auto member) {
            using T = std::decay_t<decltype(c.*member)>;
            if constexpr (std::is_same_v<T, bool>)
                c.*member = v != 0;
            else
                c.*member = static_cast<T>(v);
        },
        field);
}

int Setting::choiceIndex(std::string_view name) const
{
    for (size_t i = 0; i < choices.size(); ++i)
        if (name == choices[i])
            return static_cast<int>(i);
    return -1;
}

std::string Setting::choiceList() const
{
    std::string list;
    for (const char* c : choices)
        list += (list.empty() ? "" : ", ") + std::string(c);
    return list;
}

std::string Setting::optionText(bool on) const
{
    return std::string(on ? "--" : "--no-") + option;
}

const Setting* findSetting(std::string_view name)
{
    for (const Setting& s : quantSettings()) {
        if (name == s.id || name == s.option)
            return &s;
        if (s.isSwitch() && name.size() > 3 && name.substr(0, 3) == "no-" && name.substr(3) == s.option)
            return &s;
    }
    return nullptr;
}

void checkSetting(const Setting& s, double v)
{
    if (s.isSwitch())
        return;
    const std::string name = s.optionText();
    const bool low = s.minExclusive ? !(v > s.min) : !(v >= s.min);
    const bool high = !(v <= s.max);
    if (!low && !high)
        return;
    if (s.isChoice())
        badSetting(s.id, name + " must be one of " + s.choiceList());
    if (!s.isReal())  // whole numbers: the range as the user types it
        badSetting(s.id, name + " " + numberText(v) + " is outside " + numberText(s.min) + ".." + numberText(s.max));
    if (low)
        badSetting(s.id, name + (s.minExclusive ? " must be greater than " : " must be at least ") +
                             numberText(s.min) + ", got " + numberText(v));
    badSetting(s.id, name + " must be at most " + numberText(s.max) + ", got " + numberText(v));
}

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

    applyMethod(c, method, arch);
    return c;
}

QuantConfig presetConfigFor(const std::string& name, Method method, const ModelConfig& model)
{
    QuantConfig c = presetConfig(name, method, model.arch);
    if (model.arch == Architecture::Opt && c.abits == 16)
        c.sf = optStabilityFactor(model.hiddenSize);
    return c;
}

QuantConfig customConfig(Method method, Architecture arch, int wbits, int abits, int64_t groupSize)
{
    QuantConfig c;
    c.wbits = wbits;
    c.abits = abits;
    c.groupSize = groupSize;
    applyMethod(c, method, arch);
    return c;
}

void validateConfig(const QuantConfig& c, const ModelConfig& m)
{
    if (c.method == Method::Invalid)
        badInput("no quantization method chosen");
    for (const Setting& s : quantSettings())
        checkSetting(s, s.value(c));
    // Combinations.
    if (c.nsamples % c.batchSize != 0)
        badSetting("batch_size", "--batch-size " + std::to_string(c.batchSize) + " must divide --nsamples " +
                                     std::to_string(c.nsamples));
    try {
        m.checkSequenceLength(c.seqlen);
    } catch (const Error& e) {
        badSetting("seqlen", e.what());
    }
    if (c.let && m.arch == Architecture::Opt && !m.doLayerNormBefore)
        badSetting("let", "learnable transforms need a pre-LayerNorm OPT (do_layer_norm_before=true); use --method rtn "
                          "or --no-let");
    if (c.let && m.arch == Architecture::Opt && m.wordEmbedProjDim != m.hiddenSize)
        badSetting("let", "OPT models with project_in/project_out are not supported with transforms; use --method rtn");
    if (c.groupSize > 0 && !c.partialGroups && !c.perChannelFallback) {
        for (int64_t in : {m.hiddenSize, m.intermediateSize, m.numHeads * m.headDim})
            if (in > c.groupSize && in % c.groupSize != 0)
                badSetting("group_size",
                           "group size " + std::to_string(c.groupSize) + " does not divide the input size " +
                               std::to_string(in) + " of some layers and partial groups are disabled; allow partial "
                               "groups, enable the per-channel fallback, or pick a group size that divides " +
                               std::to_string(in));
    }
    if (c.mixedPrecision && isCpuDevice(c.device))
        badSetting("mixed_precision", "mixed precision needs a CUDA device");
    if (c.gptqRounding && c.method == Method::Rtn)
        badSetting("gptq_rounding", "GPTQ rounding needs the block-wise calibration's inputs, which --method rtn "
                                    "does not compute: for GPTQ rounding alone use --method affinequant --no-let "
                                    "--no-lwc");
    if (c.gptqRounding && c.wbits >= 16)
        badSetting("gptq_rounding", "GPTQ rounding rounds quantized weights, but --wbits 16 quantizes none");
    if (c.weightGrid != WeightGrid::Uniform && c.wbits < 16) {
        const std::string grid = weightGridName(c.weightGrid);
        const int bits = weightGridBits(c.weightGrid);
        if (c.wbits != bits)
            badSetting("weight_grid", grid + " stores " + std::to_string(bits) + "-bit codes, but --wbits is " +
                                          std::to_string(c.wbits) + ": set --wbits " + std::to_string(bits) +
                                          " or choose the grid of " + std::to_string(c.wbits) + " bits");
        for (int64_t in : {m.hiddenSize, m.intermediateSize, m.numHeads * m.headDim})
            if (in % 256 != 0)
                badSetting("weight_grid", grid + " packs each row in super-blocks of 256 weights, but this model has "
                                          "layers with " + std::to_string(in) + " inputs; use --weight-grid uniform");
    }
}

// ---- JSON ----

std::string quantConfigJson(const QuantConfig& c)
{
    nlohmann::json j = {{"preset", c.preset}, {"method", methodName(c.method)}};
    for (const Setting& s : quantSettings()) {
        if (s.isChoice())
            j[s.id] = s.choices[static_cast<size_t>(s.value(c))];
        else
            std::visit([&](auto member) {
                if constexpr (!std::is_enum_v<std::decay_t<decltype(c.*member)>>)
                    j[s.id] = c.*member;
            }, s.field);
    }
    return j.dump();
}

QuantConfig detail::quantConfigFromJsonObject(const nlohmann::json& j, const std::string& file)
{
    if (!j.is_object())
        badInput(file.empty() ? "the run's \"configuration\" is not a JSON object"
                              : "'" + file + "': 'configuration' must be a JSON object");
    QuantConfig c;  // defaults for anything missing
    // A key of the wrong type: named with its file where there is one (run.json), else as the configuration's.
    auto read = [&](const char* key, auto& v) {
        using T = std::decay_t<decltype(v)>;
        if (!j.contains(key))
            return;
        if (!file.empty()) {
            try {
                v = detail::jsonField(j, key, v, file, "configuration");
            } catch (const Error& e) {
                badSetting(key, e.what());
            }
            return;
        }
        const nlohmann::json& x = j[key];
        const bool ok = std::is_same_v<T, std::string> ? x.is_string()
                        : std::is_same_v<T, bool>      ? x.is_boolean()
                        : std::is_same_v<T, double>    ? x.is_number()
                                                       : x.is_number_integer() || x.is_number_unsigned();
        if (!ok)
            badSetting(key, std::string("the configuration's \"") + key + "\" has the wrong type (" + x.type_name() + ")");
        v = x.template get<T>();
    };
    read("preset", c.preset);
    std::string method = methodName(c.method);
    read("method", method);
    c.method = parseMethod(method);
    for (const Setting& s : quantSettings()) {
        if (s.isChoice()) {
            std::string name = s.choices[static_cast<size_t>(s.value(c))];
            read(s.id, name);
            const int i = s.choiceIndex(name);
            if (i < 0)
                badSetting(s.id, (file.empty() ? std::string("the configuration's \"") : "'" + file + "': \"") + s.id +
                                     "\" is '" + name + "'; it must be one of " + s.choiceList() +
                                     " (a newer program may know more)");
            s.setWhole(c, i);
            continue;
        }
        std::visit([&](auto member) {
            if constexpr (!std::is_enum_v<std::decay_t<decltype(c.*member)>>)
                read(s.id, c.*member);
        }, s.field);
    }
    return c;
}

QuantConfig quantConfigFromJson(const std::string& text)
{
    nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object())
        badInput("the configuration is not a JSON object");
    if (j.contains("configuration"))
        j = j["configuration"];
    return detail::quantConfigFromJsonObject(j, {});
}

int64_t maskBandWidth(int64_t d, int epochs, int epoch)
{
    if (epochs <= 1)
        return 1;
    // Evaluated in double and truncated, exactly as the reference computes it (spec §5.1).
    return static_cast<int64_t>(std::floor((static_cast<double>(d - 1) / static_cast<double>(epochs - 1)) * epoch)) + 1;
}

}  // namespace aq
