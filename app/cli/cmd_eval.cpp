// The `eval` command: perplexity, and KL and top-1 agreement against a reference model.
#include "commands.h"

#include "args.h"
#include "progress.h"

#include "aq/device.h"
#include "aq/error.h"
#include "aq/evaluate.h"
#include "aq/float_type.h"
#include "aq/model_info.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

namespace aqcli {

namespace {

/// --dtype, by default float32 on a CPU device and float16 otherwise.
aq::FloatType evalFloatType(const Args& args, const std::string& device)
{
    const std::string text = args.str("dtype", aq::isCpuDevice(device) ? "float32" : "float16");
    const std::optional<aq::FloatType> type = aq::parseFloatType(text);
    if (!type)
        aq::badInput("dtype '" + text + "' is not valid: use float32, float16 or bfloat16");
    return *type;
}

}  // namespace

int cmdEval(const std::vector<std::string>& argv)
{
    Args args(argv, {"model", "text", "seqlen", "max-windows", "batch-size", "device", "dtype", "reference"},
                     {"json"});
    aq::EvalOptions o;
    o.referenceModelDir = args.str("reference");
    const std::string model = args.required("model");
    const std::string text = args.required("text");
    o.device = args.str("device", "cpu");
    o.maxWindows = args.integer("max-windows", 0);
    o.batchSize = args.integer("batch-size", 1);
    if (args.has("seqlen")) {
        o.seqlen = args.integer("seqlen", 2048);
    } else {
        // Default: the protocol's 2048 tokens, or the model's maximum when that is shorter.
        o.seqlen = std::min<int64_t>(2048, aq::inspectModel(model).config.maxPositionEmbeddings);
    }
    o.dtype = evalFloatType(args, o.device);  // last: its error comes after the other options' errors
    ProgressBar bar("eval");
    const aq::EvalResult r = aq::evaluatePerplexity(
        model, text, o,
        [&](const aq::EvalProgress& p) {
            char detail[64];
            std::snprintf(detail, sizeof detail, "windows, ppl %.4f", p.runningPerplexity);
            bar.update(p, detail);
        },
        &g_cancel);
    bar.finish();
    if (args.flag("json")) {
        nlohmann::json j = {{"model", model},
                            {"text", text},
                            {"perplexity", r.perplexity},
                            {"mean_nll", r.meanNll},
                            {"windows", r.windows},
                            {"seqlen", r.seqlen},
                            {"text_tokens", r.textTokens},
                            {"tokens_evaluated", r.tokensEvaluated},
                            {"seconds", r.seconds},
                            {"load_seconds", r.loadSeconds},
                            {"tokens_per_second", r.tokensPerSecond},
                            {"device", r.device},
                            {"dtype", aq::floatTypeName(r.dtype)},
                            {"batch_size", o.batchSize},
                            {"window_nll", r.windowNll}};
        if (!o.referenceModelDir.empty())
            j["reference"] = {{"model", o.referenceModelDir},
                              {"perplexity", r.referencePerplexity},
                              {"mean_kl", r.meanKl},
                              {"top1_agreement", r.top1Agreement}};
        std::cout << j.dump(2) << "\n";
    } else {
        std::printf("perplexity %.4f over %lld windows of %lld tokens (text: %lld tokens)\n", r.perplexity,
                    static_cast<long long>(r.windows), static_cast<long long>(r.seqlen), static_cast<long long>(r.textTokens));
        if (!o.referenceModelDir.empty())
            std::printf("against %s (perplexity %.4f): mean KL %.6f nats, top-1 agreement %.4f\n",
                        o.referenceModelDir.c_str(), r.referencePerplexity, r.meanKl, r.top1Agreement);
        std::printf("%s %s: %.1f tokens/s (%.2f s evaluating, %.2f s loading)\n", r.device.c_str(),
                    aq::floatTypeName(r.dtype), r.tokensPerSecond, r.seconds, r.loadSeconds);
    }
    return 0;
}

}  // namespace aqcli
