#pragma once
/// Compute devices visible to this build.
#include <cstdint>
#include <string>
#include <vector>

namespace aq {

struct DeviceInfo {
    std::string id;     ///< "cpu", "cuda:0", ...
    std::string label;  ///< human-readable description
};

/// CPU first, then every CUDA device this build can use (none when LibTorch has no CUDA).
std::vector<DeviceInfo> listDevices();
/// LibTorch version this program runs with, e.g. "1.13.1".
std::string torchVersion();
bool cudaAvailable();

}  // namespace aq
