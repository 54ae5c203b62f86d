#pragma once
/// The calibration settings: QuantConfig, the one table that defines each setting (its id, command-line option,
/// type, range and help), the presets and methods that fill it, validation, and its JSON form in run.json.
///
/// Front ends derive everything from the table: the command-line program its options, their parsing and `--help`;
/// the application its fields' ranges and which control an error names. Adding a setting means adding a field to
/// QuantConfig, a row to quantSettings() (core/src/quant_config.cpp) and the code that uses it; docs/CONTRIBUTING
/// lists the steps.
#include "aq/model_config.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace aq {

enum class Method { Invalid = 0, Rtn, OmniQuant, AffineQuant };

const char* methodName(Method m);
/// Parses "rtn", "omniquant", "affinequant"; throws BadInput otherwise.
Method parseMethod(const std::string& name);

/// The grid weights are quantized to. Uniform: 2^wbits levels per group (or output channel) with a scale and a zero
/// point. The others are llama.cpp's k-quant layouts, emulated exactly so that calibration optimises the grid a GGUF
/// file then holds: super-blocks of 256 weights whose sub-blocks (32 weights for Q4_K/Q5_K, 16 for the others) have
/// integer scales (and minimums) against binary16 super-block factors.
/// The mixed grids give each linear one of those grids, as llama.cpp's file types of the same names choose them
/// (q2_k_m: its Q2_K file type, which is not Q2_K throughout): see tensorGrid().
enum class WeightGrid { Uniform = 0, Q4_K, Q5_K, Q6_K, Q3_K, Q2_K, Q4_K_M, Q3_K_M, Q2_K_M };

/// "uniform", "q4_k", ... (the run.json value and the command line's spelling).
const char* weightGridName(WeightGrid g);
/// The bits per weight code a grid stores; a mixed grid's most common one (Uniform: 0, it takes wbits).
int weightGridBits(WeightGrid g);
/// Whether a grid gives different linears different k-quant grids.
bool isMixedGrid(WeightGrid g);

/// What a linear does in its block, as far as the mixed grids tell linears apart.
enum class LinearRole { Other, AttentionValue, AttentionOutput, FfnDown };

/// The grid of one linear: a mixed grid's choice for this role in block `block` of `numBlocks` (llama.cpp's rules
/// for a dense model: Q4_K_M gives attention values and MLP down projections Q6_K in the first and last eighth of
/// the blocks and every third block between, Q4_K elsewhere; Q3_K_M gives attention values Q5_K in blocks 0 and 1
/// and Q4_K after, MLP down projections Q5_K in the first sixteenth and Q4_K after, attention outputs Q4_K, Q3_K
/// elsewhere; Q2_K gives attention values Q4_K when four or more query heads share a key/value head and Q3_K
/// otherwise, MLP down projections and attention outputs Q3_K, Q2_K elsewhere). Other grids are returned as they
/// are.
WeightGrid tensorGrid(WeightGrid grid, LinearRole role, int64_t block, int64_t numBlocks, const ModelConfig& model);

/// Everything that defines a quantization run. Presets fill it; every field can be overridden. The numeric and
/// switch fields are described by quantSettings(); preset, method and device are chosen separately.
struct QuantConfig {
    std::string preset = "custom";
    Method method = Method::AffineQuant;
    int wbits = 4;                  ///< 2..16 (16 = weights not quantized)
    int abits = 16;                 ///< 2..16 (16 = activations not quantized)
    int64_t groupSize = 0;          ///< 0 = per output channel
    WeightGrid weightGrid = WeightGrid::Uniform; ///< k-quant grids fix the groups (their sub-blocks) and symmetry
    bool partialGroups = true;      ///< allow a partial last group when the input size is not a multiple of
                                    ///< groupSize
    bool perChannelFallback = false;///< with partialGroups off: such layers use per-channel quantization (the
                                    ///< report says which); with both off they are refused
    bool symmetric = false;         ///< symmetric weights with zero point 2^(b-1)
    bool zeroInRange = false;       ///< force 0 into [min, max] (needed by packed integer exports)
    bool referenceDeltaClamp = false; ///< reproduce the reference's missing step-size clamp (spec §2.1)
    bool lwc = true;                ///< learnable weight clipping
    bool lwcInitSearch = false;     ///< start each group's clipping at the factor whose quantized group is closest to
                                    ///< its weights (a search), not at the full range
    bool gptqRounding = false;      ///< round the merged weights column by column with error feedback weighted by
                                    ///< the block's calibration inputs (GPTQ) instead of to the nearest grid value
    bool let = true;                ///< learnable equivalent (affine) transforms and shifts
    bool lnMatrix = false;          ///< P1/P2 as full d x d matrices (weight-only presets)
    bool qkMatrix = false;          ///< P4 (q/k) as per-head block matrices
    bool trainShifts = true;        ///< learn the shifts (OmniQuant freezes them at 0 for LLaMA)
    bool signedMaxInit = true;      ///< SmoothQuant init with the signed max of W (AffineQuant) or max|W| (OmniQuant)
    bool augLoss = false;
    double sf = 1.0;                ///< stability factor alpha: scales off-diagonal mask entries
    double alpha = 0.5;             ///< SmoothQuant migration strength for the initial scales
    double letLr = 5e-3;
    double lwcLr = 1e-2;
    double weightDecay = 0.0;
    int epochs = 20;
    int64_t nsamples = 128;
    int64_t seqlen = 2048;
    int64_t batchSize = 1;
    uint64_t seed = 2;
    bool keepDominant = false;      ///< opt-in: project every matrix row back to strict diagonal dominance
    bool inverseFloat64 = false;    ///< invert transforms in float64
    bool mixedPrecision = false;    ///< CUDA only: bf16 matrix products and activation buffers, TF32 for the
                                    ///< float32 products that build the transformed weights, fp32 master
                                    ///< parameters and loss
    bool buffersOnHost = false;     ///< keep the calibration activations in (pinned) host memory, one batch on the
                                    ///< device at a time: less device memory for a little transfer time
    int maxRecoveries = 3;          ///< rollbacks per block before failing
    double conditionLimit = 1e6;    ///< conditioning estimate above which an epoch is rolled back
    double rollbackFactor = 0.5;    ///< a rolled-back epoch multiplies the learning rates and stability factor by it
    std::string device = "cpu";
};

// ---- The settings table ----

/// Where a setting lives in QuantConfig; its alternative is its type.
using SettingField = std::variant<bool QuantConfig::*, int QuantConfig::*, int64_t QuantConfig::*,
                                  uint64_t QuantConfig::*, double QuantConfig::*, WeightGrid QuantConfig::*>;

/// How a switch is spelled on the command line.
enum class SwitchOptions {
    Both,     ///< --name turns it on, --no-name off
    OnOnly,   ///< --name turns it on (off by default everywhere)
    OffOnly,  ///< --no-name turns it off (on by default everywhere)
    None,     ///< set by the method, not on the command line
};

/// The names of a choice's values: a view of a static array of names, in the order of the choice's enum.
struct ChoiceNames {
    const char* const* names = nullptr;
    size_t count = 0;

    constexpr ChoiceNames() = default;
    template <size_t N>
    constexpr ChoiceNames(const char* const (&array)[N]) : names(array), count(N) {}
    size_t size() const { return count; }
    bool empty() const { return count == 0; }
    const char* operator[](size_t i) const { return names[i]; }
    const char* const* begin() const { return names; }
    const char* const* end() const { return names + count; }
};

/// One calibration setting.
struct Setting {
    const char* id;        ///< run.json's "configuration" key, and the id errors carry ("group_size")
    const char* option;    ///< command-line option without dashes ("group-size"); a switch's "on" spelling
    const char* help;      ///< one line for `--help` (English)
    SettingField field;
    double min = 0;        ///< allowed range, inclusive unless minExclusive; switches ignore it
    double max = 0;
    double fieldMax = 0;   ///< the most a field of a front end offers when less than max (0: max)
    bool minExclusive = false;
    SwitchOptions switches = SwitchOptions::Both;
    const char* valueName = "N";  ///< `--help`'s placeholder: N, X, S
    bool stepCost = false;        ///< changes the work of a training step, a window or a block's merge
    ChoiceNames choices{};        ///< a choice: the names of its values, in the order of the enum

    bool isSwitch() const { return std::holds_alternative<bool QuantConfig::*>(field); }
    bool isChoice() const { return !choices.empty(); }
    bool isReal() const { return std::holds_alternative<double QuantConfig::*>(field); }
    /// The setting's value in `c` as a number (switches 0 or 1, choices their index).
    double value(const QuantConfig& c) const;
    /// Sets the value; integers are truncated (callers check ranges with checkSetting first).
    void set(QuantConfig& c, double v) const;
    /// Sets a whole-number setting exactly (a seed beyond 2^53 survives, which a double would round).
    void setWhole(QuantConfig& c, int64_t v) const;
    /// A choice's value by name: its index, or -1 for a name it does not have.
    int choiceIndex(std::string_view name) const;
    /// "q4_k | q5_k | ...": a choice's names for messages and `--help`.
    std::string choiceList() const;
    /// "--group-size", "--no-lwc": how the command line spells the option that sets it (`on` for switches).
    std::string optionText(bool on = true) const;
};

/// Every numeric and switch setting of QuantConfig, in the order `--help` and run.json list them.
const std::vector<Setting>& quantSettings();
/// The setting with this id ("group_size") or command-line option ("group-size", "no-lwc"); null when none.
const Setting* findSetting(std::string_view idOrOption);
/// Throws Error(BadInput) with the setting's id when `value` is outside its range.
void checkSetting(const Setting& s, double value);

// ---- Presets and methods ----

/// Names of the built-in presets: w4a16g128, w4a16, w3a16g128, w3a16, w2a16, w2a16g128, w2a16g64, w4a4,
/// w4a4-llama2, w6a6, and teaching (w4a4 on 16 x 256 tokens for 6 epochs: every view within seconds on a CPU).
std::vector<std::string> presetNames();
/// The preset's configuration for `method` (OPT uses its own stability factor). Throws BadInput for unknown names.
QuantConfig presetConfig(const std::string& name, Method method = Method::AffineQuant,
                         Architecture arch = Architecture::Llama);
/// The same, with the stability factor of the reference's OPT scripts chosen by the model's width (spec §7.2).
QuantConfig presetConfigFor(const std::string& name, Method method, const ModelConfig& model);
/// A configuration without a preset ("custom"): the given bits and groups, then the method's own choices exactly as
/// the presets make them (RTN trains nothing; OmniQuant uses vectors and the max|W| initialisation, freezes LLaMA's
/// shifts and, weight-only on LLaMA, trains clipping alone).
QuantConfig customConfig(Method method, Architecture arch, int wbits, int abits, int64_t groupSize);
/// Checks every setting's range and the combinations against a model; throws BadInput carrying the offending
/// setting's id (Error::field()).
void validateConfig(const QuantConfig& config, const ModelConfig& model);

// ---- JSON (run.json's "configuration") ----

/// The configuration as run.json's "configuration" object stores it (a JSON text), for front ends that keep a
/// configuration between sessions and read it back like a run's.
std::string quantConfigJson(const QuantConfig& config);
/// The inverse of quantConfigJson: a "configuration" object (or a whole run.json, whose "configuration" is taken).
/// Missing keys keep QuantConfig's defaults; a key of the wrong type or an unknown method is BadInput naming the key.
/// The device is not part of it.
QuantConfig quantConfigFromJson(const std::string& json);

// ---- The gradual mask ----

/// Gradual-mask band (spec §5.1): the number of included diagonals N_e = floor(((d-1)/(E-1))*e) + 1 for 0-based
/// epoch e of E; E <= 1 gives 1 (diagonal only).
int64_t maskBandWidth(int64_t d, int epochs, int epoch);

}  // namespace aq
