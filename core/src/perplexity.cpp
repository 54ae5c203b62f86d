#include "perplexity.h"
#include "progress_clock.h"

#include "aq/device.h"
#include "aq/error.h"
#include "aq/tokenizer.h"
#include "cancellable_tokenize.h"
#include "checkpoint.h"
#include "torch_util.h"

#include <torch/types.h>

#include <chrono>
#include <cmath>
#include <memory>

namespace aq::detail {

namespace {
double secondsSince(std::chrono::steady_clock::time_point t0)
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
const char* kOomHint = "lower --batch-size or --seqlen, or use --dtype float16/bfloat16 on a GPU";
}  // namespace

std::vector<double> windowCrossEntropy(const CausalLM& model, const torch::Tensor& ids)
{
    torch::NoGradGuard noGrad;
    return windowCrossEntropy(model.logits(ids), ids);
}

std::vector<double> windowCrossEntropy(const torch::Tensor& logits, const torch::Tensor& ids)
{
    torch::NoGradGuard noGrad;
    const int64_t T = ids.size(1);
    auto logp = torch::log_softmax(logits.narrow(1, 0, T - 1).to(torch::kFloat32), -1);
    auto target = ids.narrow(1, 1, T - 1).unsqueeze(-1);
    auto nll = -logp.gather(-1, target).squeeze(-1).to(torch::kFloat64).mean(1).cpu();
    std::vector<double> r(static_cast<size_t>(nll.size(0)));
    for (int64_t b = 0; b < nll.size(0); ++b)
        r[static_cast<size_t>(b)] = nll[b].item<double>();
    return r;
}

EvalResult perplexityOfTokens(const CausalLM& model, const std::vector<int32_t>& tokens, const EvalOptions& options,
                              const EvalProgressFn& progress, const std::atomic<bool>* cancel, const CausalLM* reference)
{
    const int64_t seqlen = options.seqlen;
    model.config().checkSequenceLength(seqlen);
    if (options.batchSize < 1)
        badInput("batch size must be at least 1");
    if (options.maxWindows < 0)
        badInput("the window count must not be negative");
    const int64_t available = static_cast<int64_t>(tokens.size()) / seqlen;
    if (available < 1)
        badInput("the text has " + std::to_string(tokens.size()) + " tokens, fewer than one window of " +
                 std::to_string(seqlen) + "; use a longer text or a smaller --seqlen");
    const int64_t windows = options.maxWindows > 0 ? std::min(options.maxWindows, available) : available;
    for (int32_t t : tokens)
        if (t < 0 || t >= model.config().vocabSize)
            badInput("token id " + std::to_string(t) + " is outside the model's vocabulary of " +
                     std::to_string(model.config().vocabSize) + ": the tokenizer does not belong to this model");

    auto all = torch::from_blob(const_cast<int32_t*>(tokens.data()), {windows * seqlen}, torch::kInt32)
                   .to(torch::kInt64)
                   .view({windows, seqlen});
    EvalResult r;
    r.seqlen = seqlen;
    r.windows = windows;
    r.textTokens = static_cast<int64_t>(tokens.size());
    r.tokensEvaluated = windows * seqlen;
    const auto t0 = std::chrono::steady_clock::now();
    const ProgressClock clock;
    double sum = 0, refSum = 0, klSum = 0;
    int64_t positions = 0, agree = 0;
    try {
        for (int64_t w = 0; w < windows; w += options.batchSize) {
            if (cancel && cancel->load())
                throw Error(ErrorCode::Cancelled, "evaluation cancelled");
            const int64_t n = std::min(options.batchSize, windows - w);
            auto ids = all.narrow(0, w, n).to(model.device());
            torch::NoGradGuard noGrad;
            const torch::Tensor logits = model.logits(ids);
            for (double ce : windowCrossEntropy(logits, ids)) {
                r.windowNll.push_back(ce);
                sum += ce;
            }
            if (reference) {
                const torch::Tensor refIds = ids.to(reference->device());
                const torch::Tensor refLogits = reference->logits(refIds);
                for (double ce : windowCrossEntropy(refLogits, refIds))
                    refSum += ce;
                // KL(reference || model) at every predicted position, in float32 from log-probabilities.
                const int64_t T = ids.size(1);
                auto lp = torch::log_softmax(logits.narrow(1, 0, T - 1).to(torch::kCPU, torch::kFloat32), -1);
                auto lr = torch::log_softmax(refLogits.narrow(1, 0, T - 1).to(torch::kCPU, torch::kFloat32), -1);
                klSum += (lr.exp() * (lr - lp)).sum(-1).clamp_min(0).to(torch::kFloat64).sum().item<double>();
                agree += lp.argmax(-1).eq(lr.argmax(-1)).sum().item<int64_t>();
                positions += n * (T - 1);
            }
            if (progress) {
                EvalProgress p;
                static_cast<Progress&>(p) = clock.at(w + n, windows);
                p.runningPerplexity = std::exp(sum / static_cast<double>(w + n));
                progress(p);
            }
        }
    } catch (...) {
        rethrowAsAqError(std::current_exception(), kOomHint);
    }
    r.seconds = secondsSince(t0);
    r.meanNll = sum / static_cast<double>(windows);
    r.perplexity = std::exp(r.meanNll);
    r.tokensPerSecond = r.seconds > 0 ? static_cast<double>(r.tokensEvaluated) / r.seconds : 0;
    if (reference && positions > 0) {
        r.referencePerplexity = std::exp(refSum / static_cast<double>(windows));
        r.meanKl = klSum / static_cast<double>(positions);
        r.top1Agreement = static_cast<double>(agree) / static_cast<double>(positions);
    }
    if (!std::isfinite(r.perplexity)) {
        // Only half precision overflows where wider types would not; for a float32 (or bfloat16) run the cause is
        // the model itself, and advice about another dtype would send the user the wrong way.
        std::string advice;
        if (model.dtype() == torch::kFloat16)
            advice = "; float16 overflows easily: try --dtype bfloat16 or float32";
        else if (model.dtype() == torch::kBFloat16)
            advice = "; try --dtype float32";
        else
            advice = " in " + dtypeName(model.dtype()) + ": the model's weights are extreme or damaged";
        throw Error(ErrorCode::Numerical,
                    "the perplexity is not finite (the model produced NaN or Inf logits)" + advice);
    }
    return r;
}

}  // namespace aq::detail

namespace aq {

EvalResult evaluatePerplexity(const std::string& modelDir, const std::string& textPath, const EvalOptions& options,
                              const EvalProgressFn& progress, const std::atomic<bool>* cancel)
{
    const auto t0 = std::chrono::steady_clock::now();
    adoptCpuThreads();
    const torch::Device device = detail::parseDevice(options.device);
    const torch::ScalarType dtype = detail::scalarType(options.dtype, device);
    detail::Checkpoint ck(modelDir);
    ck.config().checkSequenceLength(options.seqlen);
    const std::string text = readTextForModel(textPath);
    detail::throwIfCancelled(cancel, "evaluation");
    auto tokenizer = loadTokenizer(modelDir);
    const std::vector<int32_t> tokens = detail::encodeForModelCancellable(*tokenizer, text, cancel);
    detail::throwIfCancelled(cancel, "evaluation");
    std::unique_ptr<detail::CausalLM> model;
    try {
        model = std::make_unique<detail::CausalLM>(ck, device, dtype);
    } catch (...) {
        detail::rethrowAsAqError(std::current_exception(), "use --dtype float16/bfloat16 on a GPU, or a machine with more memory");
    }
    std::unique_ptr<detail::CausalLM> reference;
    if (!options.referenceModelDir.empty()) {
        detail::Checkpoint refCk(options.referenceModelDir);
        const ModelConfig& rc = refCk.config();
        if (rc.vocabSize != ck.config().vocabSize)
            badInput("the reference model '" + options.referenceModelDir + "' has a vocabulary of " +
                     std::to_string(rc.vocabSize) + " tokens, the model " + std::to_string(ck.config().vocabSize) +
                     ": KL divergence needs the same vocabulary");
        if (detail::encodeForModelCancellable(*loadTokenizer(options.referenceModelDir), text, cancel) != tokens)
            badInput("the reference model's tokenizer encodes the text differently from the model's; KL divergence "
                     "needs the same tokens");
        try {
            reference = std::make_unique<detail::CausalLM>(refCk, device, dtype);
        } catch (...) {
            detail::rethrowAsAqError(std::current_exception(), "the reference model needs as much memory again");
        }
    }
    const double loadSeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EvalResult r = detail::perplexityOfTokens(*model, tokens, options, progress, cancel, reference.get());
    r.loadSeconds = loadSeconds;
    r.device = device.str();
    r.dtype = options.dtype;
    return r;
}

}  // namespace aq
