#pragma once
// Pieces shared by the verification of export folders (verify.cpp) and of GGUF files (verify_gguf.cpp): the exported
// model's own forward pass and the logits comparison against the run (internal: exposes torch).
#include "aq/export.h"
#include "model.h"

#include <torch/types.h>

#include <atomic>
#include <functional>
#include <string>
#include <vector>

namespace aq::detail {

/// The exported model held as decoded float tensors, with its own small forward pass over the shared block functions.
struct ExportedModel {
    ModelConfig config;
    torch::Tensor embed, positions, projectIn, projectOut, normWeight, normBias, lmHead;
    std::vector<BlockWeights> blocks;

    torch::Tensor logits(const torch::Tensor& ids) const;
};

/// Mean next-token negative log-likelihood of each row of a window.
std::vector<double> windowNll(const torch::Tensor& logits, const torch::Tensor& ids);

/// The text a verification runs on: `given` when set, else the demo model's held-out text when the run was made from
/// the demo model (`sourceModel`: run.json's "model"), else empty (seeded random tokens).
std::string verificationTextPath(const std::string& given, const std::string& sourceModel);

/// `count` seeded random token ids in [3, vocab).
std::vector<int32_t> randomVerificationTokens(int64_t count, int64_t vocab);

/// Runs the run's model and the export over the first windows of `tokens` (r.seqlen tokens each, at most `maxWindows`,
/// 0: all) and fills r.windows, maxLogitDiff, meanKl, top1Agreement and, with `perplexity`, both perplexities.
/// Throws BadInput when the tokens do not fill one window.
void compareLogits(const CausalLM& reference, const ExportedModel& model, const std::vector<int32_t>& tokens,
                   int64_t maxWindows, bool perplexity, const torch::Device& device, VerifyResult& r,
                   const std::function<void()>& checkCancel);

/// verifyExport for a GGUF file (verify_gguf.cpp).
VerifyResult verifyGgufExport(const VerifyOptions& options, const ProgressFn& progress, const CancelToken* cancel);

}  // namespace aq::detail
