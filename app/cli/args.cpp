#include "args.h"

#include "aq/error.h"

#include <cctype>
#include <charconv>
#include <string>
#include <system_error>

namespace aqcli {

Args::Args(const std::vector<std::string>& argv, const std::set<std::string>& valued, const std::set<std::string>& flags)
{
    for (size_t i = 0; i < argv.size(); ++i) {
        const std::string& a = argv[i];
        if (a.rfind("--", 0) != 0)
            aq::badInput("unexpected argument '" + a + "'; options start with --");
        std::string name = a.substr(2), value;
        bool inlineValue = false;
        if (auto eq = name.find('='); eq != std::string::npos) {
            value = name.substr(eq + 1);
            name = name.substr(0, eq);
            inlineValue = true;
        }
        if (flags.count(name)) {
            if (inlineValue)
                aq::badInput("option --" + name + " takes no value");
            m_flags.insert(name);
        } else if (valued.count(name)) {
            if (!inlineValue) {
                if (i + 1 >= argv.size())
                    aq::badInput("option --" + name + " needs a value");
                value = argv[++i];
            }
            m_values[name] = value;
        } else {
            aq::badInput("unknown option --" + name + "; see --help");
        }
    }
}

bool Args::has(const std::string& name) const { return m_values.count(name) != 0; }

std::string Args::str(const std::string& name, const std::string& fallback) const
{
    auto it = m_values.find(name);
    return it == m_values.end() ? fallback : it->second;
}

std::string Args::required(const std::string& name) const
{
    auto it = m_values.find(name);
    if (it == m_values.end() || it->second.empty())
        aq::badInput("missing required option --" + name + "; see --help");
    return it->second;
}

int64_t Args::integer(const std::string& name, int64_t fallback, int64_t max) const
{
    auto it = m_values.find(name);
    if (it == m_values.end())
        return fallback;
    const std::string& v = it->second;
    bool ok = !v.empty();
    for (char c : v)
        ok = ok && std::isdigit(static_cast<unsigned char>(c));
    if (!ok)
        aq::badInput("option --" + name + " needs a non-negative whole number, got '" + v + "'");
    // Digits only: the value may still be too large for the option (or for any 64-bit number).
    int64_t value = 0;
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), value);
    if (ec == std::errc::result_out_of_range || value > max)
        aq::badInput("option --" + name + " is too large: " + v + " is more than the limit of " + std::to_string(max));
    if (ec != std::errc() || end != v.data() + v.size())
        aq::badInput("option --" + name + " needs a non-negative whole number, got '" + v + "'");
    return value;
}

}  // namespace aqcli
