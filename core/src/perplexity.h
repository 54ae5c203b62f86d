#pragma once
// Perplexity over token windows for a model already in memory (internal: exposes torch).
#include "aq/evaluate.h"
#include "model.h"

#include <atomic>
#include <vector>

namespace aq::detail {

/// Splits `tokens` into disjoint windows of options.seqlen (at most options.maxWindows) and evaluates them.
/// Fills every EvalResult field except loadSeconds, device and dtype; with `reference`, also its perplexity and the
/// KL divergence and top-1 agreement between the two.
EvalResult perplexityOfTokens(const CausalLM& model, const std::vector<int32_t>& tokens, const EvalOptions& options,
                              const EvalProgressFn& progress, const std::atomic<bool>* cancel,
                              const CausalLM* reference = nullptr);

/// Mean next-token cross-entropy (nats) of each row of `ids` [B, T] under the model, in float32.
std::vector<double> windowCrossEntropy(const CausalLM& model, const torch::Tensor& ids);
/// The same from logits [B, T, V] already computed for `ids`.
std::vector<double> windowCrossEntropy(const torch::Tensor& logits, const torch::Tensor& ids);

}  // namespace aq::detail
