#pragma once
/// Exports of a finished quantization run for other runtimes, the pre-flight deployability check, and the
/// verification of an export against the run it came from.
///
/// Threading: every entry point runs synchronously on the calling thread (the CLI's main thread or a GUI worker) and
/// calls its progress callback on that thread. Results are plain values owned by the caller.
#include "aq/calibrate.h"
#include "aq/float_type.h"
#include "aq/model_config.h"
#include "aq/progress.h"

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace aq {

/// Output layouts (docs/export.md, ../shared/spec/export-formats.md).
enum class ExportFormat {
    Invalid = 0,
    HuggingFace,        ///< stock LlamaForCausalLM / OPTForCausalLM, fake-quantized weights in F16/BF16
    Awq,                ///< AutoAWQ "gemm": 4-bit codes packed along the output dimension, zero points
    Gptq,               ///< AutoGPTQ/GPTQModel: codes packed along the input dimension (2/4/8 bits)
    CompressedTensors,  ///< llm-compressor "pack-quantized"
    Gguf,               ///< one GGUF v3 file for llama.cpp (and Ollama, LM Studio, node-llama-cpp): the run's grid
                        ///< as ggml block types where one holds it exactly, tokenizer embedded
};

/// "hf", "awq", "gptq", "compressed-tensors", "gguf".
const char* exportFormatName(ExportFormat format);
/// Parses the names above; throws BadInput otherwise.
ExportFormat parseExportFormat(const std::string& name);

struct ExportOptions {
    std::string runDir;             ///< a finished run (run.json with status "complete", model/)
    std::string outDir;             ///< created by a rename at the very end (gguf: the .gguf file)
    ExportFormat format = ExportFormat::HuggingFace;
    FloatType dtype = FloatType::Float16;  ///< Float16 or BFloat16: unquantized tensors, compressed-tensors scales
    bool force = false;             ///< replace an existing outDir
    bool allowExtension = false;    ///< hf only: keep the dense post-norm matrices as extra tensors plus a note
    bool gptqV1 = false;            ///< gptq only: the v1 layout (stored zero - 1) even for asymmetric weights;
                                    ///< groups whose zero point is 0 are then refused
    bool exactOnly = false;         ///< gguf only: refuse linears whose grid no ggml type holds (instead of writing
                                    ///< their dequantized values as F16)
    bool q6kEmbeddings = false;     ///< gguf only: token embeddings (also a tied output layer) quantized to Q6_K,
                                    ///< as llama.cpp's k-quant file types store them, instead of --dtype floats
};

/// Progress in shards (safetensors formats) or blocks (gguf) written, with what is being written.
struct ExportProgress : Progress {
    std::string stage;
};
using ExportProgressFn = std::function<void(const ExportProgress&)>;

struct ExportResult {
    std::string outDir;
    ExportFormat format = ExportFormat::Invalid;
    std::string architecture;       ///< "LlamaForCausalLM", ...
    int bits = 16;                  ///< weight bits of the packed layers (16 for hf)
    int64_t groupSize = 0;          ///< group size written to quantization_config (-1 / 0: per channel)
    std::string checkpointFormat;   ///< gptq: "gptq" or "gptq_v2"
    int64_t packedLayers = 0;
    int64_t shards = 0;
    uint64_t numBytes = 0;          ///< tensor bytes written
    std::vector<std::string> files; ///< file names inside outDir
    std::vector<std::string> notes; ///< what was folded, added or left out, one sentence each
    double seconds = 0;
    // gguf only
    std::string ggufArchitecture;   ///< llama.cpp's architecture name ("llama", "qwen2")
    std::vector<std::pair<std::string, int64_t>> tensorTypes;  ///< ggml type -> number of tensors stored so
    double maxWeightChange = 0;     ///< largest |stored - run| over the quantized linears (float16 block factors)
    std::string maxWeightChangeLayer;
};

/// Writes an export of a finished run. Works block by block (one safetensors shard per block plus an index), so
/// host memory stays near one block. Everything is written into a temporary folder next to outDir that is renamed at
/// the end: a failed or cancelled export leaves nothing that looks complete. Throws aq::Error: BadInput (unfinished
/// run, a configuration the format cannot hold exactly, a layer that cannot be packed (named), an existing outDir
/// without force, an unwritable or full destination), Cancelled, Internal.
ExportResult exportRun(const ExportOptions& options, const ExportProgressFn& progress = {},
                       const CancelToken* cancel = nullptr);

// ---- Verification ----

struct VerifyOptions {
    std::string exportDir;          ///< an export folder, or a GGUF file (*.gguf, or any file with the GGUF magic)
    std::string runDir;
    std::string textPath;           ///< empty: the demo model's held-out text when the run is of the demo model,
                                    ///< otherwise seeded random tokens (no perplexity then)
    int64_t seqlen = 0;             ///< 0: min(512, the model's maximum)
    int64_t maxWindows = 8;         ///< 0: every window of the text
    std::string device = "cpu";
};

/// One tensor of the export compared with the run's model.
struct TensorDifference {
    std::string name;               ///< the run's name ("model.layers.0.self_attn.q_proj.weight")
    std::string source;             ///< how it was read: "qweight/qzeros/scales (gptq v2)", "F16", ...
    double maxAbsDiff = 0;
    double maxAbsRef = 0;
    double tolerance = 0;           ///< what storage rounding explains
    bool ok = true;
    bool quantizedLinear = false;   ///< a quantized linear's weight (packed in the packed formats)
};

struct VerifyResult {
    std::string format;             ///< detected from config.json, or "gguf"
    std::vector<TensorDifference> tensors;
    double maxWeightDiff = 0;       ///< largest difference over the quantized linears
    std::string worstLayer;
    double maxLogitDiff = 0;        ///< over every evaluated position
    double meanKl = 0;              ///< mean over positions of KL(run || export), nats
    double top1Agreement = 0;       ///< fraction of positions with the same arg-max
    double runPerplexity = 0;       ///< 0 without text
    double exportPerplexity = 0;
    int64_t windows = 0;
    int64_t seqlen = 0;
    std::string text;               ///< the text used, or "random tokens"
    int runActivationBits = 16;     ///< the run's model quantizes activations at this width; the export does not
    std::vector<std::string> problems;  ///< packing or layout errors found; empty when the export is sound
    std::vector<std::string> notes;
    bool ok = false;                ///< no problems and every tensor within tolerance
};

/// Reloads an export through decoding code that is independent of the packer and compares it with the run's model:
/// per-tensor differences, logits, KL divergence, top-1 agreement and perplexity of both. Problems in the export
/// (a zero point or code out of range, wrong shapes or dtypes, missing tensors) are reported in `problems`, never
/// ignored. Progress is in blocks (a folder) or tensors (a GGUF file), plus one unit for the logits. Throws aq::Error
/// for unreadable inputs (BadInput), Cancelled, OutOfMemory.
VerifyResult verifyExport(const VerifyOptions& options, const ProgressFn& progress = {},
                          const CancelToken* cancel = nullptr);

// ---- Pre-flight deployability check ----

/// How well a runtime can load the result of a configuration.
enum class Deployability {
    Invalid = 0,
    Exact,        ///< loads and computes what the run computes (up to F16/BF16 storage)
    Conditional,  ///< exact if a data-dependent check passes at export time (the reason says which)
    Extension,    ///< only with extra tensors that stock code ignores (custom code must apply them)
    WeightsOnly,  ///< loads, but without the run's activation quantization: not what the run measured
    No,           ///< cannot be written or loaded
};
const char* deployabilityName(Deployability d);

struct TransformFold {
    std::string transform;          ///< "LWC", "P1 norm->q/k/v", ...
    bool active = false;            ///< used by this configuration
    bool folds = true;              ///< disappears into standard weights/biases
    std::string detail;
};

struct FormatCheck {
    ExportFormat format = ExportFormat::Invalid;
    std::string runtime;            ///< "transformers", "vLLM awq_marlin / awq", ...
    Deployability verdict = Deployability::Invalid;
    std::string reason;
};

/// A change that would make the result deployable in more places. It names what to change by id, not in any front
/// end's words: the command line prints the option (commandLineAdvice), the window names and focuses its control.
struct Advice {
    std::string setting;            ///< a setting's id in aq::quantSettings() ("ln_matrix"), or "preset"
    std::string value;              ///< the value to give it ("false"); empty where the reason says what to choose
    std::string reason;             ///< what the change brings, or what to choose
};

struct PreflightReport {
    std::string model;              ///< one-line description of the model's shapes
    std::vector<TransformFold> transforms;
    std::vector<FormatCheck> formats;
    std::vector<Advice> advice;     ///< changes that would make the result deployable everywhere it can be
};

/// One piece of advice as the command line says it: the option that makes the change, then why
/// ("--no-ln-matrix: vector post-norm transforms fold completely ..."); the reason alone where it names no value.
std::string commandLineAdvice(const Advice& advice);

/// Which transforms of `config` fold into standard weights for `model`, and which export formats / runtimes can load
/// the result exactly, and why not. Pure and fast: no files are read. Call from any thread.
PreflightReport preflight(const ModelConfig& model, const QuantConfig& config);

}  // namespace aq
