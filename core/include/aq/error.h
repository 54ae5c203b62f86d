#pragma once
/// Error values shared by every core entry point.
///
/// Core throws `aq::Error` inside; the programs turn it into an exit status (CLI) or a message (GUI).
/// The detail text is English and says what went wrong and what to do about it.
#include <stdexcept>
#include <string>
#include <utility>

namespace aq {

/// Category of a failure. Zero is deliberately not a valid failure.
enum class ErrorCode {
    Invalid = 0,
    BadInput,     ///< missing/corrupt files, unsupported options, bad arguments: exit status 2
    OutOfMemory,  ///< allocation failed on host or device: exit status 3
    Numerical,    ///< non-finite values that recovery could not fix
    Cancelled,    ///< the user asked to stop: exit status 130
    Internal,     ///< a bug: exit status 1
    PeerFailure,  ///< data-parallel calibration: another rank died, hung past the timeout or failed: exit status 4
};

class Error : public std::runtime_error {
public:
    Error(ErrorCode code, const std::string& detail, std::string field = {})
        : std::runtime_error(detail), m_code(code), m_field(std::move(field))
    {
    }
    ErrorCode code() const noexcept { return m_code; }
    /// The id of the calibration setting the error is about ("group_size", see aq/quant_config.h), or empty. The
    /// detail names the setting by its command-line option; the application names and focuses its control instead.
    const std::string& field() const noexcept { return m_field; }

private:
    ErrorCode m_code;
    std::string m_field;
};

[[noreturn]] inline void badInput(const std::string& detail) { throw Error(ErrorCode::BadInput, detail); }
/// Bad input about one calibration setting: `field` is its id in aq::quantSettings().
[[noreturn]] inline void badSetting(const std::string& field, const std::string& detail)
{
    throw Error(ErrorCode::BadInput, detail, field);
}

/// Exit status used by the command-line program for each error code.
int exitStatusFor(ErrorCode code) noexcept;
/// The code behind an exit status of the command-line program (1 reads as Internal); Invalid for any other status.
ErrorCode errorCodeForExitStatus(int status) noexcept;

/// Short English name of an error code ("bad input", "out of memory", ...).
const char* errorCodeName(ErrorCode code) noexcept;

}  // namespace aq
