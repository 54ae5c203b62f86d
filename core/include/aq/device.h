#pragma once
/// Compute devices visible to this build.
#include <cstdint>
#include <string>
#include <vector>

namespace aq {

struct DeviceInfo {
    std::string id;     ///< "cpu", "cuda:0", ...
    std::string label;  ///< human-readable description
    int64_t totalBytes = -1;  ///< memory of the device (host: physical memory); -1 when unknown
    int64_t freeBytes = -1;   ///< memory still available now; -1 when unknown
};

/// CPU first, then every CUDA device this build can use (none when LibTorch has no CUDA).
std::vector<DeviceInfo> listDevices();
/// LibTorch version this program runs with, e.g. "1.13.1".
std::string torchVersion();
bool cudaAvailable();
/// Threads LibTorch uses for CPU work (process-wide). 0 restores the default (one per core).
void setComputeThreads(int threads);

}  // namespace aq
