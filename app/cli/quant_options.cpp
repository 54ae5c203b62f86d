#include "quant_options.h"

#include "aq/error.h"

#include <algorithm>
#include <iterator>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace aqcli {

namespace {

/// Options of quantize and preflight that are not calibration settings.
const char* const kOtherValued[] = {"model", "calib", "out", "preset", "method", "config", "eval", "eval-windows",
                                    "eval-seqlen", "device", "nproc", "devices", "dist-timeout"};
const char* const kOtherFlags[] = {"resume", "force", "json"};

}  // namespace

const std::set<std::string> kQuantizeValuedOptions = [] {
    std::set<std::string> names(std::begin(kOtherValued), std::end(kOtherValued));
    for (const aq::Setting& s : aq::quantSettings())
        if (!s.isSwitch())
            names.insert(s.option);
    return names;
}();

const std::set<std::string> kQuantizeFlagOptions = [] {
    std::set<std::string> names(std::begin(kOtherFlags), std::end(kOtherFlags));
    for (const aq::Setting& s : aq::quantSettings()) {
        if (!s.isSwitch())
            continue;
        if (s.switches == aq::SwitchOptions::Both || s.switches == aq::SwitchOptions::OnOnly)
            names.insert(s.option);
        if (s.switches == aq::SwitchOptions::Both || s.switches == aq::SwitchOptions::OffOnly)
            names.insert(std::string("no-") + s.option);
    }
    return names;
}();

std::string settingsHelp()
{
    std::ostringstream out;
    for (const aq::Setting& s : aq::quantSettings()) {
        std::string spelling;
        if (s.isSwitch()) {
            if (s.switches == aq::SwitchOptions::None)
                continue;
            if (s.switches != aq::SwitchOptions::OffOnly)
                spelling = s.optionText(true);
            if (s.switches != aq::SwitchOptions::OnOnly)
                spelling += (spelling.empty() ? "" : "|") + s.optionText(false);
        } else {
            spelling = s.optionText() + " " + s.valueName;
        }
        // Two columns, the help wrapped at 118 characters.
        constexpr size_t kIndent = 31, kWidth = 118;
        std::string line = "  " + spelling;
        if (line.size() + 1 > kIndent) {
            out << line << "\n";
            line.clear();
        }
        line.resize(kIndent, ' ');
        std::istringstream words(std::string(s.help) + " [" + s.id + "]");
        bool first = true;
        for (std::string word; words >> word; first = false) {
            if (!first && line.size() + 1 + word.size() > kWidth) {
                out << line << "\n";
                line.assign(kIndent, ' ');
                first = true;
            }
            line += (first ? "" : " ") + word;
        }
        out << line << "\n";
    }
    return out.str();
}

aq::QuantConfig quantConfigFromArgs(const Args& args, const aq::ModelConfig& model)
{
    const aq::Method method = aq::parseMethod(args.str("method", "affinequant"));
    aq::QuantConfig c;
    if (args.has("config")) {
        // An earlier run's configuration (its run.json, or the "configuration" object alone); options given beside it
        // change it.
        if (args.has("preset"))
            aq::badInput("give --config FILE or --preset NAME, not both");
        const std::string path = args.str("config");
        std::ifstream in(path, std::ios::binary);
        if (!in)
            aq::badInput("cannot read the configuration file '" + path + "'");
        std::stringstream text;
        text << in.rdbuf();
        try {
            c = aq::quantConfigFromJson(text.str());
        } catch (const aq::Error& e) {
            aq::badInput("'" + path + "': " + e.what());
        }
        if (args.has("method"))
            c.method = method;
    } else if (args.has("preset")) {
        c = aq::presetConfigFor(args.str("preset"), method, model);
    } else {
        if (!args.has("wbits") && !args.has("weight-grid"))
            aq::badInput("give --preset NAME, or --wbits or --weight-grid (and --abits, --group-size) for a custom "
                         "configuration");
        c = aq::customConfig(method, model.arch, static_cast<int>(args.integer("wbits", c.wbits)),
                             static_cast<int>(args.integer("abits", c.abits)), args.integer("group-size", c.groupSize));
    }
    auto real = [&](const char* name, double fallback) {
        if (!args.has(name))
            return fallback;
        try {
            size_t used = 0;
            const double v = std::stod(args.str(name), &used);
            if (used != args.str(name).size())
                throw std::invalid_argument(name);
            return v;
        } catch (const std::exception&) {
            aq::badInput(std::string("option --") + name + " needs a number, got '" + args.str(name) + "'");
        }
    };
    // Every setting the command line gives, as the table spells it; the window length defaults to what the model
    // can take.
    c.seqlen = std::min<int64_t>(c.seqlen, model.maxPositionEmbeddings);
    for (const aq::Setting& s : aq::quantSettings()) {
        if (s.isSwitch()) {
            if (args.flag(s.option))
                s.set(c, 1);
            if (args.flag(std::string("no-") + s.option))
                s.set(c, 0);
        } else if (args.has(s.option) && s.isChoice()) {
            const int i = s.choiceIndex(args.str(s.option));
            if (i < 0)
                aq::badSetting(s.id, s.optionText() + " must be one of " + s.choiceList() + ", got '" +
                                         args.str(s.option) + "'");
            s.setWhole(c, i);
        } else if (args.has(s.option) && s.isReal()) {
            const double v = real(s.option, 0);
            aq::checkSetting(s, v);
            s.set(c, v);
        } else if (args.has(s.option)) {
            const int64_t v = args.integer(s.option, 0, INT64_MAX);
            aq::checkSetting(s, static_cast<double>(v));
            s.setWhole(c, v);
        }
    }
    // A k-quant grid stores codes of its own width: --wbits follows it unless given.
    if (args.has("weight-grid") && !args.has("wbits") && c.weightGrid != aq::WeightGrid::Uniform)
        c.wbits = aq::weightGridBits(c.weightGrid);
    c.device = args.str("device", "cpu");
    return c;
}

}  // namespace aqcli
