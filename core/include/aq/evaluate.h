#pragma once
/// Perplexity evaluation (spec §8.1): tokenize the whole text once with BOS, cut it into disjoint windows of
/// `seqlen` tokens (the remainder is dropped), PPL = exp(mean over windows of the mean next-token cross-entropy).
#include "aq/float_type.h"
#include "aq/progress.h"

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace aq {

struct EvalOptions {
    int64_t seqlen = 2048;
    int64_t maxWindows = 0;       ///< 0: every full window of the text
    int64_t batchSize = 1;        ///< windows per forward pass
    std::string device = "cpu";   ///< "cpu", "cuda", "cuda:N"
    FloatType dtype = FloatType::Float32;  ///< the half types need CUDA
    /// A second model folder (usually the full-precision original) run on the same windows: the result then also
    /// holds the mean KL divergence KL(reference || model) and the top-1 agreement with it. Empty: none.
    std::string referenceModelDir;
};

/// Progress in windows, with the perplexity of the windows done so far.
struct EvalProgress : Progress {
    double runningPerplexity = 0;
};

struct EvalResult {
    double perplexity = 0;
    double meanNll = 0;                 ///< mean over windows of the mean next-token cross-entropy (nats)
    int64_t windows = 0;
    int64_t seqlen = 0;
    int64_t textTokens = 0;             ///< tokens in the whole text, BOS included
    int64_t tokensEvaluated = 0;        ///< windows * seqlen
    double seconds = 0;                 ///< forward passes only (model loading and tokenization excluded)
    double tokensPerSecond = 0;
    double loadSeconds = 0;             ///< loading the model and tokenizing the text
    std::string device;
    FloatType dtype = FloatType::Float32;
    std::vector<double> windowNll;      ///< per-window mean cross-entropy
    // With EvalOptions::referenceModelDir, over every predicted position (the first T-1 of each window):
    double referencePerplexity = 0;
    double meanKl = 0;                  ///< mean KL(reference || model), nats
    double top1Agreement = 0;           ///< fraction of positions where both models' most likely token agree
};

using EvalProgressFn = std::function<void(const EvalProgress&)>;

/// Loads the model and text and evaluates perplexity. Called on any thread; blocks until done.
/// `cancel`, when given, is polled between windows; a set flag ends the call with Error(Cancelled).
/// Throws aq::Error: BadInput (files, options, text too short), OutOfMemory (names the setting to lower).
EvalResult evaluatePerplexity(const std::string& modelDir, const std::string& textPath, const EvalOptions& options,
                              const EvalProgressFn& progress = {}, const CancelToken* cancel = nullptr);

/// Reads a UTF-8 text file for evaluation or calibration; rejects missing, empty and non-UTF-8 files.
std::string readTextForModel(const std::string& path);

}  // namespace aq
