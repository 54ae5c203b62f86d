#pragma once
// Publishing a finished file or folder: its staged copy takes the final name by a rename, so no reader ever sees a
// half-written one.
#include <filesystem>
#include <string>

namespace aq::detail {

/// Moves the finished file `staged` onto `dest` by one rename, which replaces an existing file atomically: the old
/// file stays whole until the new one takes its name. On failure removes `staged` and throws BadInput
/// "<failure>: <reason>".
void publishFile(const std::filesystem::path& staged, const std::filesystem::path& dest, const std::string& failure);

/// Moves the finished folder `staged` onto `dest`. An existing `dest` first moves aside to `.NAME.old-PID` beside it,
/// so that a complete folder always exists under one of the two names; it is removed once the new folder took its
/// name, and moved back when that rename fails. On failure removes `staged` and throws BadInput
/// "<replaceFailure>: <reason>" when the existing `dest` cannot move aside, "<failure>: <reason>" when `staged`
/// cannot take its name.
void publishFolder(const std::filesystem::path& staged, const std::filesystem::path& dest, const std::string& failure,
                   const std::string& replaceFailure);

}  // namespace aq::detail
