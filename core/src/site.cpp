// The name table of the transform and measurement sites of a block.
#include "aq/site.h"

namespace aq {

namespace {
struct SiteName {
    Site site;
    const char* name;
};
constexpr SiteName kSites[] = {
    {Site::Down, "down"}, {Site::Fc1, "fc1"}, {Site::Out, "out"}, {Site::Qkt, "qkt"}, {Site::Qkv, "qkv"},
};
}  // namespace

const char* siteName(Site site)
{
    for (const SiteName& s : kSites)
        if (s.site == site)
            return s.name;
    return "invalid";
}

Site parseSite(std::string_view name)
{
    for (const SiteName& s : kSites)
        if (name == s.name)
            return s.site;
    return Site::Invalid;
}

}  // namespace aq
