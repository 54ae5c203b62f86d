// aq-matmul-rate: measures the dense matrix-multiply rate of a device (TFLOP/s), the figure that throughput and
// calibration benchmarks are compared against.
//
//   aq-matmul-rate [--device cuda] [--size 8192] [--dtype float16|bfloat16|float32] [--iters 50]
#include "torch_util.h"

#include <torch/cuda.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <string>

int main(int argc, char** argv)
{
    std::map<std::string, std::string> opt{{"device", "cuda"}, {"size", "8192"}, {"dtype", "float16"}, {"iters", "50"}};
    for (int i = 1; i + 1 < argc; i += 2)
        opt[std::string(argv[i]).substr(2)] = argv[i + 1];
    try {
        const torch::Device dev = aq::detail::parseDevice(opt["device"]);
        const auto dtype = dev.is_cpu() ? torch::kFloat32 : aq::detail::parseDtype(opt["dtype"], dev);
        const int64_t n = std::stoll(opt["size"]);
        const int iters = std::stoi(opt["iters"]);
        auto a = torch::randn({n, n}, torch::TensorOptions().device(dev).dtype(dtype));
        auto b = torch::randn({n, n}, torch::TensorOptions().device(dev).dtype(dtype));
        auto sync = [&] {
            if (dev.is_cuda())
                torch::cuda::synchronize(dev.index());
        };
        for (int i = 0; i < 3; ++i)
            a.matmul(b);
        sync();
        const auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < iters; ++i)
            a.matmul(b);
        sync();
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        const double tflops = 2.0 * n * n * n * iters / s / 1e12;
        std::printf("matmul %lldx%lld %s on %s: %.1f TFLOP/s\n", static_cast<long long>(n), static_cast<long long>(n),
                    aq::detail::dtypeName(dtype).c_str(), dev.str().c_str(), tflops);
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 2;
    }
}
