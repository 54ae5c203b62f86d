#pragma once
/// How far a long operation has come (calibration, evaluation, export, verification), in one shape for all four,
/// and the one cancel token they all take. The operation measures its pace; front ends only draw what it reports.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>

namespace aq {

struct Progress {
    int64_t done = 0;              ///< units finished (training steps, windows, blocks, tensors)
    int64_t total = 0;             ///< units in all; 0 while not known yet
    double elapsedSeconds = 0;     ///< since the operation began
    double remainingSeconds = -1;  ///< the time left at this process's pace so far; -1 until it has done something
    /// done / total in [0, 1]; 0 while the total is unknown.
    double fraction() const { return total > 0 ? std::clamp(double(done) / double(total), 0.0, 1.0) : 0.0; }
};
using ProgressFn = std::function<void(const Progress&)>;

/// Set it, from any thread, and the operation ends with Error(Cancelled) at its next check.
using CancelToken = std::atomic<bool>;

}  // namespace aq
