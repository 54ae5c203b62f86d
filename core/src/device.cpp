#include "aq/device.h"

#include "torch_util.h"

#include <ATen/Parallel.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <cctype>
#include <thread>
#include <new>

namespace aq {

bool cudaAvailable() { return torch::cuda::is_available(); }

std::string torchVersion()
{
    return std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." +
           std::to_string(TORCH_VERSION_PATCH);
}

std::vector<DeviceInfo> listDevices()
{
    std::vector<DeviceInfo> r;
    DeviceInfo cpu{"cpu", "CPU (" + std::to_string(std::thread::hardware_concurrency()) + " threads)"};
    detail::memoryInfo(torch::Device(torch::kCPU), cpu.totalBytes, cpu.freeBytes);
    r.push_back(cpu);
    if (torch::cuda::is_available())
        for (size_t i = 0; i < torch::cuda::device_count(); ++i) {
            DeviceInfo d{"cuda:" + std::to_string(i), "CUDA device " + std::to_string(i)};
            detail::memoryInfo(torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(i)), d.totalBytes, d.freeBytes);
            r.push_back(d);
        }
    return r;
}

void setComputeThreads(int threads)
{
    const int n = threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    at::set_num_threads(n);
}

namespace detail {

torch::Device parseDevice(const std::string& spec)
{
    if (spec == "cpu")
        return torch::Device(torch::kCPU);
    if (spec.rfind("cuda", 0) == 0) {
        int64_t index = 0;
        if (spec.size() > 4) {
            if (spec[4] != ':' || spec.size() == 5)
                badInput("device '" + spec + "' is not valid: use cpu, cuda or cuda:N");
            for (size_t i = 5; i < spec.size(); ++i)
                if (!std::isdigit(static_cast<unsigned char>(spec[i])))
                    badInput("device '" + spec + "' is not valid: use cpu, cuda or cuda:N");
            index = std::stoll(spec.substr(5));
        }
        if (!torch::cuda::is_available())
            badInput("device '" + spec + "' was requested but this build of LibTorch (" + torchVersion() +
                     ") has no CUDA support or no CUDA device is visible; use --device cpu, or build against a CUDA "
                     "LibTorch (README: Building with a GPU)");
        const auto count = static_cast<int64_t>(torch::cuda::device_count());
        if (index >= count)
            badInput("device '" + spec + "' does not exist: " + std::to_string(count) + " CUDA device(s) visible");
        return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
    }
    badInput("device '" + spec + "' is not valid: use cpu, cuda or cuda:N");
}

torch::ScalarType parseDtype(const std::string& spec, const torch::Device& device)
{
    torch::ScalarType t;
    if (spec == "float32" || spec == "fp32")
        t = torch::kFloat32;
    else if (spec == "float16" || spec == "fp16")
        t = torch::kFloat16;
    else if (spec == "bfloat16" || spec == "bf16")
        t = torch::kBFloat16;
    else
        badInput("dtype '" + spec + "' is not valid: use float32, float16 or bfloat16");
    if (device.is_cpu() && t != torch::kFloat32)
        badInput("dtype '" + spec + "' is only supported on CUDA devices; use --dtype float32 on the CPU");
    return t;
}

std::string dtypeName(torch::ScalarType t)
{
    switch (t) {
    case torch::kFloat32: return "float32";
    case torch::kFloat16: return "float16";
    case torch::kBFloat16: return "bfloat16";
    default: return c10::toString(t);
    }
}

[[noreturn]] void rethrowAsAqError(std::exception_ptr e, const std::string& oomHint)
{
    try {
        std::rethrow_exception(e);
    } catch (const Error&) {
        throw;
    } catch (const std::bad_alloc&) {
        throw Error(ErrorCode::OutOfMemory, "out of host memory; " + oomHint);
    } catch (const std::exception& ex) {
        const std::string what = ex.what();
        if (what.find("out of memory") != std::string::npos || what.find("can't allocate memory") != std::string::npos ||
            what.find("CUDA error: out of memory") != std::string::npos)
            throw Error(ErrorCode::OutOfMemory,
                        std::string("out of memory (") + what.substr(0, what.find('\n')) + "); " + oomHint);
        throw Error(ErrorCode::Internal, what.substr(0, 2000));
    }
}

}  // namespace detail
}  // namespace aq
