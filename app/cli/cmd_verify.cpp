// The `verify` command: an export decoded independently and compared with its run.
#include "commands.h"

#include "args.h"
#include "progress.h"

#include "aq/error.h"
#include "aq/export.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

namespace aqcli {

int cmdVerify(const std::vector<std::string>& argv, std::atomic<bool>& cancel)
{
    Args args(argv, {"export", "run", "text", "seqlen", "max-windows", "device"}, {"json"});
    aq::VerifyOptions o;
    o.exportDir = args.required("export");
    o.runDir = args.required("run");
    o.textPath = args.str("text");
    o.seqlen = args.integer("seqlen", 0);
    o.maxWindows = args.integer("max-windows", 8);
    o.device = args.str("device", "cpu");
    ProgressBar bar("verify");
    const aq::VerifyResult r = aq::verifyExport(o, [&](const aq::Progress& p) { bar.update(p, "checked"); }, &cancel);
    bar.finish();
    if (args.flag("json")) {
        nlohmann::json tensors = nlohmann::json::array();
        for (const auto& t : r.tensors)
            tensors.push_back({{"name", t.name},
                               {"source", t.source},
                               {"max_abs_diff", t.maxAbsDiff},
                               {"max_abs_ref", t.maxAbsRef},
                               {"tolerance", t.tolerance},
                               {"quantized_linear", t.quantizedLinear},
                               {"ok", t.ok}});
        nlohmann::json j = {{"export", o.exportDir},
                            {"run", o.runDir},
                            {"format", r.format},
                            {"ok", r.ok},
                            {"max_weight_diff", r.maxWeightDiff},
                            {"worst_layer", r.worstLayer},
                            {"max_logit_diff", r.maxLogitDiff},
                            {"mean_kl", r.meanKl},
                            {"top1_agreement", r.top1Agreement},
                            {"run_perplexity", r.runPerplexity},
                            {"export_perplexity", r.exportPerplexity},
                            {"windows", r.windows},
                            {"seqlen", r.seqlen},
                            {"text", r.text},
                            {"run_activation_bits", r.runActivationBits},
                            {"problems", r.problems},
                            {"notes", r.notes},
                            {"tensors", tensors}};
        std::cout << j.dump(2) << "\n";
    } else {
        std::printf("export %s (%s) against run %s\n\n", o.exportDir.c_str(), r.format.c_str(), o.runDir.c_str());
        std::printf("  %-52s %-12s %-12s %s\n", "quantized linear", "max |diff|", "max |w|", "");
        int others = 0, othersBad = 0;
        double othersMax = 0;
        for (const auto& t : r.tensors) {
            if (!t.quantizedLinear) {
                ++others;
                othersBad += t.ok ? 0 : 1;
                othersMax = std::max(othersMax, t.maxAbsDiff);
                continue;
            }
            std::printf("  %-52s %-12.3g %-12.3g %s\n", t.name.c_str(), t.maxAbsDiff, t.maxAbsRef,
                        t.ok ? "ok" : "OUT OF TOLERANCE");
        }
        std::printf("  other tensors: %d compared, max |diff| %.3g, %d out of tolerance\n\n", others, othersMax, othersBad);
        std::printf("max weight difference %.4g (%s)\n", r.maxWeightDiff, r.worstLayer.c_str());
        std::printf("logits over %lld windows of %lld tokens (%s): max |diff| %.4g, mean KL %.3g nats, top-1 agreement "
                    "%.4f\n",
                    static_cast<long long>(r.windows), static_cast<long long>(r.seqlen), r.text.c_str(), r.maxLogitDiff,
                    r.meanKl, r.top1Agreement);
        if (r.runPerplexity > 0)
            std::printf("perplexity: run %.4f, export %.4f (%+.3f%%)\n", r.runPerplexity, r.exportPerplexity,
                        100.0 * (r.exportPerplexity / r.runPerplexity - 1.0));
        for (const auto& n : r.notes)
            std::printf("note: %s\n", n.c_str());
        for (const auto& p : r.problems)
            std::printf("PROBLEM: %s\n", p.c_str());
        std::printf("%s\n", r.ok ? "verification passed" : "verification FAILED");
    }
    if (!r.ok) {
        std::fflush(stdout);
        std::fprintf(stderr, "affinequant: bad input: the export has %zu problem(s) (listed above)\n", r.problems.size());
        return aq::exitStatusFor(aq::ErrorCode::BadInput);
    }
    return 0;
}

}  // namespace aqcli
