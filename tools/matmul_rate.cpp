// aq-matmul-rate: measures the dense matrix-multiply rate of a device, the figure that throughput and calibration
// benchmarks are compared against.
//
//   aq-matmul-rate [--device cuda] [--size 8192 | --shape MxKxN] [--dtype float16|bfloat16|float32] [--iters 50]
//                  [--product aten|engine] [--threads N]
//
// --product engine (CPU only): the engine's own CPU product (productOnCores: oneDNN's sgemm when LibTorch carries it,
// else the BLAS library's, in row blocks over LibTorch's threads), the one calibration uses; aten (default): ATen's
// matmul (the BLAS library with its own threads). AQ_CPU_GEMM=blas takes the BLAS library inside the engine's
// product too. --threads: the CPU thread policy's core count (aq::configureCpu, as every command applies it; 0 =
// automatic). Prints TFLOP/s on a GPU, GFLOP/s on the CPU.
#include "aq/device.h"
#include "aq/float_type.h"
#include "cpu_parallel.h"
#include "torch_util.h"

#include <torch/cuda.h>

#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <map>
#include <optional>
#include <string>

int main(int argc, char** argv)
{
    std::map<std::string, std::string> opt{{"device", "cuda"}, {"size", "8192"}, {"dtype", "float16"}, {"iters", "50"},
                                           {"product", "aten"}, {"threads", "0"}};
    for (int i = 1; i + 1 < argc; i += 2)
        opt[std::string(argv[i]).substr(2)] = argv[i + 1];
    try {
        const torch::Device dev = aq::detail::parseDevice(opt["device"]);
        if (dev.is_cpu())
            aq::configureCpu(std::stoi(opt["threads"]));
        const std::optional<aq::FloatType> floatType = aq::parseFloatType(opt["dtype"]);
        if (!dev.is_cpu() && !floatType)
            aq::badInput("dtype '" + opt["dtype"] + "' is not valid: use float32, float16 or bfloat16");
        const auto dtype = dev.is_cpu() ? torch::kFloat32 : aq::detail::scalarType(*floatType, dev);
        int64_t m = std::stoll(opt["size"]), k = m, n = m;
        if (opt.count("shape") &&
            std::sscanf(opt["shape"].c_str(), "%" SCNd64 "x%" SCNd64 "x%" SCNd64, &m, &k, &n) != 3)
            throw std::runtime_error("--shape takes MxKxN, for example 512x256x768");
        const bool engine = opt["product"] == "engine";
        if (!engine && opt["product"] != "aten")
            throw std::runtime_error("--product takes aten or engine");
        if (engine && !dev.is_cpu())
            throw std::runtime_error("--product engine is the CPU's product: use --device cpu");
        const int iters = std::stoi(opt["iters"]);
        const torch::NoGradGuard noGrad;
        auto a = torch::randn({m, k}, torch::TensorOptions().device(dev).dtype(dtype));
        auto b = torch::randn({k, n}, torch::TensorOptions().device(dev).dtype(dtype));
        auto run = [&] { return engine ? aq::detail::productOnCores(a, b) : a.matmul(b); };
        auto sync = [&] {
            if (dev.is_cuda())
                torch::cuda::synchronize(dev.index());
        };
        for (int i = 0; i < 3; ++i)
            run();
        sync();
        const auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < iters; ++i)
            run();
        sync();
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        const double flops = 2.0 * static_cast<double>(m) * static_cast<double>(k) * static_cast<double>(n) * iters / s;
        const std::string what = std::to_string(m) + "x" + std::to_string(k) + "x" + std::to_string(n);
        if (dev.is_cpu())
            std::printf("matmul %s %s on %s (%s product): %.1f GFLOP/s\n", what.c_str(),
                        aq::detail::dtypeName(dtype).c_str(), dev.str().c_str(), engine ? "engine" : "ATen", flops / 1e9);
        else
            std::printf("matmul %s %s on %s: %.1f TFLOP/s\n", what.c_str(), aq::detail::dtypeName(dtype).c_str(),
                        dev.str().c_str(), flops / 1e12);
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 2;
    }
}
