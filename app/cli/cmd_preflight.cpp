// The `preflight` command: which transforms fold and which formats hold a configuration, before calibrating.
#include "commands.h"

#include "args.h"
#include "quant_options.h"

#include "aq/error.h"
#include "aq/export.h"
#include "aq/model_config.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

namespace aqcli {

int cmdPreflight(const std::vector<std::string>& argv)
{
    // The quantize command's options are accepted so that a quantize command line can be checked as it is; only those
    // that change deployability are used.
    Args args(argv, kQuantizeValuedOptions, kQuantizeFlagOptions);
    const aq::ModelConfig model = aq::loadModelConfig(args.required("model"));
    const aq::QuantConfig c = quantConfigFromArgs(args, model);
    const aq::PreflightReport r = aq::preflight(model, c);

    if (args.flag("json")) {
        nlohmann::json transforms = nlohmann::json::array(), formats = nlohmann::json::array(),
                       advice = nlohmann::json::array();
        for (const auto& t : r.transforms)
            transforms.push_back({{"transform", t.transform}, {"active", t.active}, {"folds", t.folds}, {"detail", t.detail}});
        for (const auto& f : r.formats)
            formats.push_back({{"format", aq::exportFormatName(f.format)},
                               {"runtime", f.runtime},
                               {"verdict", aq::deployabilityName(f.verdict)},
                               {"exact", f.verdict == aq::Deployability::Exact},
                               {"reason", f.reason}});
        for (const auto& a : r.advice)
            advice.push_back(aq::commandLineAdvice(a));
        std::cout << nlohmann::json{{"model", r.model},
                                    {"preset", c.preset},
                                    {"method", aq::methodName(c.method)},
                                    {"transforms", transforms},
                                    {"formats", formats},
                                    {"advice", advice}}
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
            std::printf("  %s\n", aq::commandLineAdvice(a).c_str());
    }
    return 0;
}

}  // namespace aqcli
