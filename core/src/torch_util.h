#pragma once
// Torch-facing helpers shared by the core's torch translation units (internal).
#include "aq/error.h"
#include "aq/float_type.h"

#include <torch/types.h>

#include <exception>
#include <string>

namespace aq::detail {

/// Parses "cpu", "cuda" or "cuda:N" and checks that the device exists in this build and machine.
torch::Device parseDevice(const std::string& spec);

/// The torch type of `type`, checked to be usable on `device` (the half types need CUDA).
torch::ScalarType scalarType(FloatType type, const torch::Device& device);
/// floatTypeName's words for the three float types, torch's for any other.
std::string dtypeName(torch::ScalarType t);

/// Peak bytes allocated on a CUDA device since the last reset (0 for the CPU or a build without CUDA).
int64_t peakDeviceBytes(const torch::Device& device);
void resetPeakDeviceBytes(const torch::Device& device);
/// Memory that can still be allocated on the device (host: available physical memory); -1 when unknown.
int64_t freeMemoryBytes(const torch::Device& device);
/// Total and free memory of a device (host: physical and available memory); -1 where unknown.
void memoryInfo(const torch::Device& device, int64_t& totalBytes, int64_t& freeBytes);
/// A name that is the same for two processes using the same GPU and differs between GPUs, whatever each
/// process's CUDA_VISIBLE_DEVICES: the GPU's UUID. Empty for the CPU or when unknown.
std::string deviceIdentity(const torch::Device& device);

/// Converts a torch/std exception escaping a core operation into aq::Error. Out-of-memory conditions become
/// ErrorCode::OutOfMemory with `oomHint` (which setting to lower); anything else becomes Internal.
[[noreturn]] void rethrowAsAqError(std::exception_ptr e, const std::string& oomHint);

}  // namespace aq::detail
