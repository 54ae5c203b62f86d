// Peak GPU memory from LibTorch's caching allocator, the memory left on a device, and which GPU a device is. Compiled with the CUDA API only when LibTorch has CUDA
// (AQ_WITH_CUDA, set by CMake); otherwise there is no device memory to report.
#include "torch_util.h"

#ifdef AQ_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAGuard.h>
#include <cuda_runtime_api.h>
#endif

#include <unistd.h>

namespace aq::detail {

int64_t peakDeviceBytes(const torch::Device& device)
{
#ifdef AQ_WITH_CUDA
    if (device.is_cuda()) {
        torch::empty({1}, torch::TensorOptions().device(device));
        const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.index() < 0 ? 0 : device.index());
        return static_cast<int64_t>(stats.allocated_bytes[0].peak);  // index 0: the aggregate over pools
    }
#endif
    (void)device;
    return 0;
}

void resetPeakDeviceBytes(const torch::Device& device)
{
#ifdef AQ_WITH_CUDA
    if (device.is_cuda()) {
        // The caching allocator initializes lazily; its statistics calls reject a device it has not seen yet.
        torch::empty({1}, torch::TensorOptions().device(device));
        c10::cuda::CUDACachingAllocator::resetPeakStats(device.index() < 0 ? 0 : device.index());
    }
#endif
    (void)device;
}

void memoryInfo(const torch::Device& device, int64_t& totalBytes, int64_t& freeBytes)
{
    totalBytes = freeBytes = -1;
#ifdef AQ_WITH_CUDA
    if (device.is_cuda()) {
        c10::cuda::CUDAGuard guard(device.index() < 0 ? 0 : device.index());
        size_t f = 0, t = 0;
        if (cudaMemGetInfo(&f, &t) == cudaSuccess) {
            totalBytes = static_cast<int64_t>(t);
            freeBytes = static_cast<int64_t>(f);
        }
        return;
    }
#endif
    if (device.is_cpu()) {
        const long pageSize = sysconf(_SC_PAGESIZE);
        const long total = sysconf(_SC_PHYS_PAGES), avail = sysconf(_SC_AVPHYS_PAGES);
        if (pageSize > 0 && total > 0)
            totalBytes = static_cast<int64_t>(total) * pageSize;
        if (pageSize > 0 && avail > 0)
            freeBytes = static_cast<int64_t>(avail) * pageSize;
    }
}

int64_t freeMemoryBytes(const torch::Device& device)
{
#ifdef AQ_WITH_CUDA
    if (device.is_cuda()) {
        c10::cuda::CUDAGuard guard(device.index() < 0 ? 0 : device.index());
        size_t freeBytes = 0, totalBytes = 0;
        if (cudaMemGetInfo(&freeBytes, &totalBytes) != cudaSuccess)
            return -1;
        return static_cast<int64_t>(freeBytes);
    }
#endif
    if (device.is_cpu()) {
        const long pages = sysconf(_SC_AVPHYS_PAGES), pageSize = sysconf(_SC_PAGESIZE);
        return pages > 0 && pageSize > 0 ? static_cast<int64_t>(pages) * pageSize : -1;
    }
    return -1;
}

std::string deviceIdentity(const torch::Device& device)
{
#ifdef AQ_WITH_CUDA
    if (device.is_cuda()) {
        cudaDeviceProp prop{};
        if (cudaGetDeviceProperties(&prop, device.index() < 0 ? 0 : device.index()) != cudaSuccess)
            return {};
        static const char* hex = "0123456789abcdef";
        std::string id = "GPU-";  // as nvidia-smi -L writes it: GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx
        for (int i = 0; i < 16; ++i) {
            if (i == 4 || i == 6 || i == 8 || i == 10)
                id += '-';
            const auto b = static_cast<unsigned char>(prop.uuid.bytes[i]);
            id += hex[b >> 4];
            id += hex[b & 15];
        }
        return id;
    }
#endif
    (void)device;
    return {};
}

}  // namespace aq::detail
