#include "aq/device.h"

#include "torch_util.h"

#include <ATen/Parallel.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <dlfcn.h>
#include <malloc.h>
#include <sched.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <mutex>
#include <new>
#include <thread>

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

namespace {

int usableCores()
{
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
    return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

/// A positive integer from the environment, else 0.
int envThreads(const char* name)
{
    const char* v = std::getenv(name);
    if (!v || !*v)
        return 0;
    char* end = nullptr;
    const long n = std::strtol(v, &end, 10);  // OMP_NUM_THREADS may be a list ("4,2"): its first level counts
    return end != v && n > 0 && n < 1 << 16 ? static_cast<int>(n) : 0;
}

/// The BLAS library's thread control, when the loaded BLAS is OpenBLAS (found at run time: LibTorch links whichever
/// libblas the system provides).
struct Blas {
    void (*setThreads)(int) = nullptr;
    char* (*config)() = nullptr;
};

Blas findBlas()
{
    Blas b;
    b.setThreads = reinterpret_cast<void (*)(int)>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
    b.config = reinterpret_cast<char* (*)()>(dlsym(RTLD_DEFAULT, "openblas_get_config"));
    return b;
}

/// glibc returns freed memory above 128 KB to the system and maps allocations above a few MB afresh; every step of a
/// calibration allocates and frees the same temporaries, so every step paid for zeroing fresh pages again (a third of
/// the CPU time, more inside virtual machines). Keep freed memory in the process instead: the peak stays what the
/// run needs, the step no longer faults.
void tuneAllocator()
{
    static const bool done = [] {
        mallopt(M_MMAP_THRESHOLD, 32 << 20);  // glibc's largest: bigger tensors are still mapped
        mallopt(M_TRIM_THRESHOLD, 1 << 30);   // keep up to 1 GiB of free heap
        mallopt(M_TOP_PAD, 64 << 20);         // grow the heap in 64 MiB steps
        return true;
    }();
    (void)done;
}

std::mutex gCpuMutex;
CpuThreads gCpu;
bool gCpuSet = false;

CpuThreads applyCpu(int threads)
{
    CpuThreads t;
    t.cores = usableCores();
    if (threads > 0) {
        t.limit = threads;
        t.limitSource = "--threads";
    } else if (const int n = envThreads("AQ_THREADS")) {
        t.limit = n;
        t.limitSource = "AQ_THREADS";
    } else {
        for (const char* name : {"OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"})
            if (const int n = envThreads(name); n > 0 && (t.limit == 0 || n < t.limit)) {
                t.limit = n;
                t.limitSource = name;
            }
    }
    t.used = t.limit > 0 ? std::min(t.cores, t.limit) : t.cores;
    const Blas blas = findBlas();
    t.blasLibrary = blas.config ? blas.config() : "unknown BLAS";
    t.intraOp = t.used;
    t.blas = blas.setThreads ? 1 : 0;
    if (const int n = envThreads("AQ_BLAS_THREADS"); n > 0 && blas.setThreads)
        t.blas = n;  // explicit, for comparisons (docs/benchmarks.md)
    at::set_num_threads(t.intraOp);
    if (blas.setThreads)
        blas.setThreads(t.blas);
    tuneAllocator();
    return t;
}

}  // namespace

CpuThreads configureCpu(int threads)
{
    const std::lock_guard<std::mutex> lock(gCpuMutex);
    gCpu = applyCpu(threads);
    gCpuSet = true;
    return gCpu;
}

CpuThreads currentCpuThreads()
{
    {
        const std::lock_guard<std::mutex> lock(gCpuMutex);
        if (gCpuSet)
            return gCpu;
    }
    return configureCpu(0);
}

std::string describeCpuThreads(const CpuThreads& t)
{
    std::string s = std::to_string(t.used) + " of " + std::to_string(t.cores) + " core" + (t.cores == 1 ? "" : "s");
    if (t.limit > 0)
        s += " (" + t.limitSource + "=" + std::to_string(t.limit) + ")";
    s += ": " + std::to_string(t.intraOp) + " LibTorch thread" + (t.intraOp == 1 ? "" : "s") + ", ";
    s += t.blas > 0 ? std::to_string(t.blas) + " BLAS thread" + (t.blas == 1 ? "" : "s")
                    : std::string("BLAS threads as the library chooses");
    std::string lib = t.blasLibrary;
    if (lib.size() > 60)
        lib = lib.substr(0, 60) + "...";
    s += " (" + lib + ")";
    return s;
}

void adoptCpuThreads() { at::set_num_threads(currentCpuThreads().intraOp); }

namespace detail {

torch::Device parseDevice(const std::string& spec)
{
    const DeviceId id = parseDeviceId(spec);
    if (id.kind == DeviceId::Kind::Cpu)
        return torch::Device(torch::kCPU);
    if (!torch::cuda::is_available())
        badInput("device '" + spec + "' was requested but this build of LibTorch (" + torchVersion() +
                 ") has no CUDA support or no CUDA device is visible; use --device cpu, or build against a CUDA "
                 "LibTorch (README: Building with a GPU)");
    const auto count = static_cast<int64_t>(torch::cuda::device_count());
    if (id.index >= count)
        badInput("device '" + spec + "' does not exist: " + std::to_string(count) + " CUDA device(s) visible");
    return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(id.index));
}

torch::ScalarType scalarType(FloatType type, const torch::Device& device)
{
    torch::ScalarType t = torch::kFloat32;
    switch (type) {
    case FloatType::Float32: t = torch::kFloat32; break;
    case FloatType::Float16: t = torch::kFloat16; break;
    case FloatType::BFloat16: t = torch::kBFloat16; break;
    case FloatType::Invalid: badInput("no dtype given: use float32, float16 or bfloat16");
    }
    if (device.is_cpu() && t != torch::kFloat32)
        badInput(std::string("dtype '") + floatTypeName(type) +
                 "' is only supported on CUDA devices; use --dtype float32 on the CPU");
    return t;
}

std::string dtypeName(torch::ScalarType t)
{
    switch (t) {
    case torch::kFloat32: return floatTypeName(FloatType::Float32);
    case torch::kFloat16: return floatTypeName(FloatType::Float16);
    case torch::kBFloat16: return floatTypeName(FloatType::BFloat16);
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
