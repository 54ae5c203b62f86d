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

/// A device as the options spell it: "cpu", "cuda" (the first CUDA device) or "cuda:N". The spelling is read here
/// alone: front ends and the engine ask these functions instead of comparing the words.
struct DeviceId {
    enum class Kind { Invalid = 0, Cpu, Cuda };
    Kind kind = Kind::Invalid;
    int64_t index = 0;  ///< CUDA: the device's number ("cuda" is 0)
};
/// Reads a device id; throws Error(BadInput) "device 'x' is not valid: use cpu, cuda or cuda:N" for anything else.
/// Whether the device exists is not checked here (the engine checks when it uses it).
DeviceId parseDeviceId(const std::string& id);
/// Whether `id` names the CPU.
bool isCpuDevice(const std::string& id);
/// Whether `id` names a CUDA device (it starts with "cuda"; the rest is checked by parseDeviceId).
bool isCudaDevice(const std::string& id);
/// Whether two ids name the same device ("cuda" and "cuda:0" do); false when either is not a valid id.
bool sameDevice(const std::string& a, const std::string& b);

/// CPU first, then every CUDA device this build can use (none when LibTorch has no CUDA).
std::vector<DeviceInfo> listDevices();
/// LibTorch version this program runs with, e.g. "1.13.1".
std::string torchVersion();
bool cudaAvailable();
/// How this process uses the CPU (process-wide; set by configureCpu).
struct CpuThreads {
    int cores = 1;             ///< cores this process may run on (its affinity mask)
    int limit = 0;             ///< the cap on threads that was asked for; 0: none
    std::string limitSource;   ///< where the cap came from: "--threads", "AQ_THREADS", "OMP_NUM_THREADS", ...
    int used = 1;              ///< threads that compute at once: min(cores, limit)
    int intraOp = 1;           ///< LibTorch's intra-op threads (elementwise work, reductions, small products)
    int blas = 1;              ///< BLAS threads for the matrix products; 0 when the BLAS library cannot be told
    std::string blasLibrary;   ///< "OpenBLAS 0.3.21 ..." or "unknown BLAS"
};

/// Applies the program's CPU policy and returns it. `threads` > 0 caps the threads (the --threads option or the
/// application's setting); 0 takes AQ_THREADS, else the smallest of OMP_NUM_THREADS / OPENBLAS_NUM_THREADS /
/// MKL_NUM_THREADS as the cap, else every usable core. Whatever the cap, the policy never runs more threads than
/// cores and never lets LibTorch's thread pool and the BLAS library's compete for the same cores: LibTorch gets the
/// threads, the BLAS library one (its matrix products run on the calling thread). Also keeps freed memory in the
/// process (glibc), which otherwise returns and re-faults every large temporary of every step. Call it before any
/// tensor work; calling it again re-applies it.
CpuThreads configureCpu(int threads = 0);
/// The policy in force (what configureCpu last returned; the automatic one, applied now, if it was never called).
CpuThreads currentCpuThreads();
/// LibTorch counts its CPU threads per calling thread (OpenMP): gives the calling thread the policy's count. The
/// engine's entry points (calibration, evaluation) call it, so a worker thread computes like the main thread.
void adoptCpuThreads();
/// One line for `affinequant devices` and the application: "2 of 2 cores: 2 LibTorch threads, BLAS (OpenBLAS ...) 1".
std::string describeCpuThreads(const CpuThreads& t);

}  // namespace aq
