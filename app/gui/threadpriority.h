#pragma once
// Scheduling of the threads that compute, so that the window's thread is served first on a busy machine.

namespace aq::gui {

/// Nice value of the threads that compute (the calibration worker, the rate measurement) and of the threads they
/// start.
inline constexpr int kComputeNiceness = 10;

/// Lowers the calling thread's priority to kComputeNiceness. On Linux the nice value is per thread and inherited by
/// threads created later, so this also covers the compute threads LibTorch starts from it. A no-op elsewhere (and
/// QThread priorities have no effect under Linux's default SCHED_OTHER policy).
void lowerCurrentThreadPriority();

}  // namespace aq::gui
