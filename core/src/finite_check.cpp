#include "finite_check.h"

#include "aq/error.h"

namespace aq::detail {

bool allFinite(const torch::Tensor& t)
{
    if (!t.defined() || !t.is_floating_point() || t.numel() == 0)
        return true;
    torch::NoGradGuard ng;
    return torch::isfinite(t.detach()).all().item<bool>();
}

std::string describeNonFinite(const torch::Tensor& t)
{
    torch::NoGradGuard ng;
    const auto bad = torch::isfinite(t.detach()).logical_not();
    const int64_t count = bad.sum().item<int64_t>();
    const int64_t nans = torch::isnan(t.detach()).sum().item<int64_t>();
    std::string r = std::to_string(count) + " non-finite value" + (count == 1 ? "" : "s") + " (" +
                    std::to_string(nans) + " NaN, " + std::to_string(count - nans) + " infinite) out of " +
                    std::to_string(t.numel());
    if (count > 0) {
        const auto first = bad.reshape({-1}).nonzero()[0][0].item<int64_t>();
        std::string index;
        int64_t rest = first;
        std::vector<int64_t> pos(t.dim());
        for (int64_t d = t.dim() - 1; d >= 0; --d) {
            pos[d] = rest % t.size(d);
            rest /= t.size(d);
        }
        for (size_t i = 0; i < pos.size(); ++i)
            index += (i ? ", " : "") + std::to_string(pos[i]);
        r += ", the first at [" + index + "]";
    }
    return r;
}

void requireFiniteWeight(const torch::Tensor& t, const std::string& name, const std::string& file)
{
    if (allFinite(t))
        return;
    badInput("weight '" + name + "' in '" + file + "' holds " + describeNonFinite(t) +
             "; the checkpoint is corrupt or was saved after a diverged training step: re-download or re-convert it");
}

}  // namespace aq::detail
