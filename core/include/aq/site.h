#pragma once
/// The places in a transformer block where a learned transform acts or where activations are measured, as the engine
/// reports them (matrix diagnostics and snapshots, activation profiles, run records): one enum and one name table, so
/// that front ends and files switch on the site and never compare its words.
#include <string_view>

namespace aq {

/// Listed in the order of their names, so that records and views kept in name order keep that order.
enum class Site {
    Invalid = 0,
    Down,  ///< "down": the input of down_proj or fc2 (measured, never transformed)
    Fc1,   ///< "fc1": after the second norm, the input of up/gate or fc1
    Out,   ///< "out": the input of o_proj (per-head matrices)
    Qkt,   ///< "qkt": between queries and keys (per-head matrices)
    Qkv,   ///< "qkv": after the first norm, the input of q/k/v
};

/// The site's name ("qkv"), as run.json, the views files and every message spell it; "invalid" for Invalid.
const char* siteName(Site site);
/// The site with this name; Invalid for a name that is none.
Site parseSite(std::string_view name);

}  // namespace aq
