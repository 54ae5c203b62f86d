// The `export` command: a finished run written for other runtimes.
#include "commands.h"

#include "args.h"
#include "progress.h"

#include "aq/error.h"
#include "aq/export.h"
#include "aq/float_type.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

namespace aqcli {

namespace {

nlohmann::json notesJson(const std::vector<std::string>& notes) { return nlohmann::json(notes); }

/// --dtype by its full name only (not eval's aliases fp16, bf16); float32 passes here and exportRun refuses it.
aq::FloatType exportFloatType(const std::string& text)
{
    const std::optional<aq::FloatType> type = aq::parseFloatType(text);
    if (!type || text != aq::floatTypeName(*type))
        aq::badInput("--dtype must be float16 or bfloat16, not '" + text + "'");
    return *type;
}

}  // namespace

int cmdExport(const std::vector<std::string>& argv, std::atomic<bool>& cancel)
{
    Args args(argv, {"run", "format", "out", "dtype", "token-embedding-type"},
              {"force", "allow-extension", "gptq-v1", "exact-only", "json"});
    aq::ExportOptions o;
    o.runDir = args.required("run");
    o.format = aq::parseExportFormat(args.required("format"));
    o.outDir = args.required("out");
    o.force = args.flag("force");
    o.allowExtension = args.flag("allow-extension");
    o.gptqV1 = args.flag("gptq-v1");
    o.exactOnly = args.flag("exact-only");  // exportRun refuses it, and q6_k embeddings, for other formats
    const std::string embedding = args.str("token-embedding-type", "float");
    if (embedding != "float" && embedding != "q6_k")
        aq::badInput("--token-embedding-type must be float (the --dtype) or q6_k, not '" + embedding + "'");
    o.q6kEmbeddings = embedding == "q6_k";
    if (o.allowExtension && o.format != aq::ExportFormat::HuggingFace)
        aq::badInput("--allow-extension applies to --format hf only");
    if (o.gptqV1 && o.format != aq::ExportFormat::Gptq)
        aq::badInput("--gptq-v1 applies to --format gptq only");
    o.dtype = exportFloatType(args.str("dtype", "float16"));  // last: its error comes after the other options' errors
    ProgressBar bar("export");
    const aq::ExportResult r = aq::exportRun(
        o, [&](const aq::ExportProgress& p) { bar.update(p, o.format == aq::ExportFormat::Gguf ? "blocks" : "shards"); },
        &cancel);
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

}  // namespace aqcli
