#pragma once
// Minimal command-line option parsing for the `affinequant` subcommands.
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace aqcli {

/// Options of one subcommand: `--name value` pairs and `--flag` switches. Unknown options are errors.
class Args {
public:
    /// `valued` and `flags` list the accepted option names without the leading dashes.
    Args(const std::vector<std::string>& argv, const std::set<std::string>& valued, const std::set<std::string>& flags);

    bool has(const std::string& name) const;
    std::string str(const std::string& name, const std::string& fallback = {}) const;
    std::string required(const std::string& name) const;
    /// A non-negative whole number; values above `max` (by default the largest 32-bit number, more than any count
    /// or length the program takes) are refused as too large, naming the limit.
    int64_t integer(const std::string& name, int64_t fallback, int64_t max = INT32_MAX) const;
    bool flag(const std::string& name) const { return m_flags.count(name) != 0; }

private:
    std::map<std::string, std::string> m_values;
    std::set<std::string> m_flags;
};

}  // namespace aqcli
