#include "cmd_export.h"

#include "quant_options.h"

#include "args.h"
#include "progress.h"

#include "aq/calibrate.h"
#include "aq/error.h"
#include "aq/export.h"
#include "aq/model_config.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <iostream>

namespace aqcli {

namespace {

nlohmann::json notesJson(const std::vector<std::string>& notes) { return nlohmann::json(notes); }

}  // namespace

int cmdExport(const std::vector<std::string>& argv, std::atomic<bool>& cancel)
{
    Args args(argv, {"run", "format", "out", "dtype"}, {"force", "allow-extension", "gptq-v1", "exact-only", "json"});
    aq::ExportOptions o;
    o.runDir = args.required("run");
    o.format = aq::parseExportFormat(args.required("format"));
    o.outDir = args.required("out");
    o.dtype = args.str("dtype", "float16");
    o.force = args.flag("force");
    o.allowExtension = args.flag("allow-extension");
    o.gptqV1 = args.flag("gptq-v1");
    o.exactOnly = args.flag("exact-only");
    if (o.exactOnly && o.format != aq::ExportFormat::Gguf)
        aq::badInput("--exact-only applies to --format gguf only");
    if (o.allowExtension && o.format != aq::ExportFormat::HuggingFace)
        aq::badInput("--allow-extension applies to --format hf only");
    if (o.gptqV1 && o.format != aq::ExportFormat::Gptq)
        aq::badInput("--gptq-v1 applies to --format gptq only");
    ProgressBar bar("export");
    const aq::ExportResult r = aq::exportRun(
        o, [&](const aq::ExportProgress& p) { bar.update(p.done, p.total, o.format == aq::ExportFormat::Gguf ? "blocks" : "shards"); }, &cancel);
    bar.finish();
    if (args.flag("json")) {
        nlohmann::json j = {{"out_dir", r.outDir},
                            {"format", aq::exportFormatName(r.format)},
                            {"architecture", r.architecture},
                            {"bits", r.bits},
                            {"group_size", r.groupSize},
                            {"packed_layers", r.packedLayers},
                            {"shards", r.shards},
                            {"tensor_bytes", r.numBytes},
                            {"files", r.files},
                            {"notes", notesJson(r.notes)},
                            {"seconds", r.seconds}};
        if (!r.checkpointFormat.empty())
            j["checkpoint_format"] = r.checkpointFormat;
        if (r.format == aq::ExportFormat::Gguf) {
            nlohmann::json types = nlohmann::json::object();
            for (const auto& [t, n] : r.tensorTypes)
                types[t] = n;
            j["gguf_architecture"] = r.ggufArchitecture;
            j["tensor_types"] = types;
            j["max_weight_change"] = r.maxWeightChange;
            j["max_weight_change_layer"] = r.maxWeightChangeLayer;
        }
        std::cout << j.dump(2) << "\n";
        return 0;
    }
    std::string what = r.architecture;
    if (r.format == aq::ExportFormat::Gguf) {
        std::string types;
        for (const auto& [t, n] : r.tensorTypes)
            types += (types.empty() ? "" : ", ") + std::to_string(n) + " " + t;
        std::printf("exported %s -> %s (gguf; llama.cpp '%s', %s tensors, %.2f MB) in %.1f s\n", o.runDir.c_str(),
                    r.outDir.c_str(), r.ggufArchitecture.c_str(), types.c_str(), r.numBytes / 1e6, r.seconds);
        for (const auto& n : r.notes)
            std::printf("  note: %s\n", n.c_str());
        return 0;
    }
    if (r.format != aq::ExportFormat::HuggingFace)
        what += ", " + std::to_string(r.bits) + "-bit " +
                (r.groupSize > 0 ? "groups of " + std::to_string(r.groupSize) : std::string("per channel")) + ", " +
                std::to_string(r.packedLayers) + " packed layers" +
                (r.checkpointFormat.empty() ? "" : ", " + r.checkpointFormat);
    std::printf("exported %s -> %s (%s; %s, %lld shards, %.2f MB) in %.1f s\n", o.runDir.c_str(), r.outDir.c_str(),
                aq::exportFormatName(r.format), what.c_str(), static_cast<long long>(r.shards), r.numBytes / 1e6,
                r.seconds);
    for (const auto& n : r.notes)
        std::printf("  note: %s\n", n.c_str());
    return 0;
}

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
    const aq::VerifyResult r = aq::verifyExport(o, &cancel);
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

int cmdPreflight(const std::vector<std::string>& argv)
{
    // The quantize command's options are accepted so that a quantize command line can be checked as it is; only those
    // that change deployability are used.
    Args args(argv, kQuantizeValuedOptions, kQuantizeFlagOptions);
    const aq::ModelConfig model = aq::loadModelConfig(args.required("model"));
    const aq::QuantConfig c = quantConfigFromArgs(args, model);
    const aq::PreflightReport r = aq::preflight(model, c);

    if (args.flag("json")) {
        nlohmann::json transforms = nlohmann::json::array(), formats = nlohmann::json::array();
        for (const auto& t : r.transforms)
            transforms.push_back({{"transform", t.transform}, {"active", t.active}, {"folds", t.folds}, {"detail", t.detail}});
        for (const auto& f : r.formats)
            formats.push_back({{"format", aq::exportFormatName(f.format)},
                               {"runtime", f.runtime},
                               {"verdict", aq::deployabilityName(f.verdict)},
                               {"exact", f.verdict == aq::Deployability::Exact},
                               {"reason", f.reason}});
        std::cout << nlohmann::json{{"model", r.model},
                                    {"preset", c.preset},
                                    {"method", aq::methodName(c.method)},
                                    {"transforms", transforms},
                                    {"formats", formats},
                                    {"advice", r.advice}}
                         .dump(2)
                  << "\n";
        return 0;
    }
    std::printf("Model          %s\n", r.model.c_str());
    std::printf("Configuration  %s (%s): W%dA%d, %s, %s, %s%s\n\n", c.preset.c_str(), aq::methodName(c.method), c.wbits,
                c.abits, c.groupSize > 0 ? ("groups of " + std::to_string(c.groupSize)).c_str() : "per channel",
                c.symmetric ? "symmetric" : "asymmetric",
                c.zeroInRange ? "zero forced into range" : "zero not forced into range",
                c.let && c.lnMatrix && c.method != aq::Method::Rtn ? ", post-norm matrices" : "");
    std::printf("Transforms\n");
    for (const auto& t : r.transforms)
        std::printf("  %-7s %s: %s\n", !t.active ? "unused" : t.folds ? "folds" : "STAYS", t.transform.c_str(),
                    t.detail.c_str());
    std::printf("\nFormats and runtimes\n");
    for (const auto& f : r.formats)
        std::printf("  %-19s %-34s\n      %s: %s\n", aq::exportFormatName(f.format), f.runtime.c_str(),
                    aq::deployabilityName(f.verdict), f.reason.c_str());
    if (!r.advice.empty()) {
        std::printf("\nTo make it deployable\n");
        for (const auto& a : r.advice)
            std::printf("  %s\n", a.c_str());
    }
    return 0;
}

}  // namespace aqcli
