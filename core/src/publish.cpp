// Publishing a finished file or folder by a rename of its staged copy (publish.h).
#include "publish.h"

#include "aq/error.h"

#include <unistd.h>

#include <system_error>

namespace fs = std::filesystem;

namespace aq::detail {

namespace {
/// Removes what could not be published and throws BadInput "<failure>: <reason>".
[[noreturn]] void failPublishing(const fs::path& staged, const std::string& failure, const std::error_code& ec)
{
    std::error_code ignored;
    fs::remove_all(staged, ignored);
    badInput(failure + ": " + ec.message());
}
}  // namespace

void publishFile(const fs::path& staged, const fs::path& dest, const std::string& failure)
{
    // rename() replaces a file atomically: the old file stays whole until the new one takes its name.
    std::error_code ec;
    fs::rename(staged, dest, ec);
    if (ec)
        failPublishing(staged, failure, ec);
}

void publishFolder(const fs::path& staged, const fs::path& dest, const std::string& failure,
                   const std::string& replaceFailure)
{
    std::error_code ec;
    if (!fs::exists(dest)) {
        fs::rename(staged, dest, ec);
        if (ec)
            failPublishing(staged, failure, ec);
        return;
    }
    // The old folder moves aside first, so some complete folder always exists.
    const fs::path old = dest.parent_path() / ("." + dest.filename().string() + ".old-" + std::to_string(::getpid()));
    fs::remove_all(old, ec);
    fs::rename(dest, old, ec);
    if (ec)
        failPublishing(staged, replaceFailure, ec);
    fs::rename(staged, dest, ec);
    if (ec) {
        std::error_code ignored;
        fs::rename(old, dest, ignored);
        failPublishing(staged, failure, ec);
    }
    fs::remove_all(old, ec);
}

}  // namespace aq::detail
