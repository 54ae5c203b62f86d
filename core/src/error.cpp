#include "aq/error.h"

namespace aq {

int exitStatusFor(ErrorCode code) noexcept
{
    switch (code) {
    case ErrorCode::BadInput: return 2;
    case ErrorCode::OutOfMemory: return 3;
    case ErrorCode::Cancelled: return 130;
    case ErrorCode::PeerFailure: return 4;
    case ErrorCode::Numerical:
    case ErrorCode::Internal:
    case ErrorCode::Invalid: break;
    }
    return 1;
}

ErrorCode errorCodeForExitStatus(int status) noexcept
{
    for (ErrorCode code : {ErrorCode::Internal, ErrorCode::BadInput, ErrorCode::OutOfMemory, ErrorCode::Cancelled,
                           ErrorCode::PeerFailure})
        if (exitStatusFor(code) == status)
            return code;
    return ErrorCode::Invalid;
}

const char* errorCodeName(ErrorCode code) noexcept
{
    switch (code) {
    case ErrorCode::BadInput: return "bad input";
    case ErrorCode::OutOfMemory: return "out of memory";
    case ErrorCode::Numerical: return "numerical failure";
    case ErrorCode::Cancelled: return "cancelled";
    case ErrorCode::Internal: return "internal error";
    case ErrorCode::PeerFailure: return "another rank failed";
    case ErrorCode::Invalid: break;
    }
    return "invalid";
}

}  // namespace aq
