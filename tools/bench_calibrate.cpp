// aq-bench-calibrate: seconds per calibration epoch of one transformer block at real model shapes, with synthetic
// weights and activations (a few activation channels 20-100x larger than the rest, as in real LLMs), peak memory, the
// FLOP count of an epoch, the floor it implies at the device's measured matrix rate, and the measured/floor ratio.
//
//   aq-bench-calibrate [--shape llama-7b|llama3-8b|llama2-70b|demo|stories260k] [--preset w4a4|w4a16g128|...]
//                      [--nsamples 128] [--seqlen 2048] [--epochs 2] [--device cuda] [--mixed-precision] [--tf32]
//                      [--blocks 1] [--buffers-on-host] [--no-fused] [--threads N] [--profile TRACE.json]
//
// --no-fused runs the reference sequence of tensor operations for fake quantization instead of the fused kernels;
// --profile records one extra short calibration (8 samples, one epoch) with the LibTorch profiler and writes a
// Chrome trace (on the CPU with any LibTorch, on CUDA with LibTorch 2.x); tools/cpu_trace_summary.py sums a CPU trace
// by operator. --threads: the CPU thread policy's core count (aq::configureCpu), 0 = automatic.
#include "calibration.h"
#include "fused_quant.h"
#include "torch_util.h"

#include "aq/calibrate.h"
#include "aq/device.h"
#include "aq/error.h"

#include <nlohmann/json.hpp>
#include <torch/cuda.h>
#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/version.h>
#if TORCH_VERSION_MAJOR >= 2
#include <torch/csrc/autograd/profiler_kineto.h>
#define AQ_BENCH_PROFILER 1
#endif

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

namespace {

struct Shape {
    int64_t hidden, ffn, heads, kvHeads, layers;
};
const std::map<std::string, Shape> kShapes = {
    {"llama-7b", {4096, 11008, 32, 32, 32}},
    {"llama3-8b", {4096, 14336, 32, 8, 32}},
    {"llama2-70b", {8192, 28672, 64, 8, 80}},
    {"demo", {256, 768, 4, 2, 4}},          // resources/demo-model
    {"stories260k", {64, 172, 8, 4, 5}},    // the stories260K fixture
};

class EpochTimer : public aq::CalibrationObserver {
public:
    std::vector<double> epochSeconds;
    std::vector<double> losses;
    void epochFinished(const aq::EpochSummary& e) override
    {
        epochSeconds.push_back(e.seconds);
        losses.push_back(e.meanLoss);
        std::printf("  epoch %d: %.3f s, mean loss %.5g\n", e.epoch, e.seconds, e.meanLoss);
        std::fflush(stdout);
    }
    double epochSum = 0;
    double lastOverhead = 0;
    void blockFinished(const aq::BlockSummary& b) override
    {
        double epochsOfBlock = 0;
        for (double s : epochSeconds)
            epochsOfBlock += s;
        lastOverhead = b.seconds - (epochsOfBlock - epochSum);
        epochSum = epochsOfBlock;
        std::printf("block %d: initial loss %.6g, final loss %.6g, %.1f s (%.2f s outside the epochs: targets, "
                    "loss passes, merge)\n", b.block, b.initialLoss, b.finalLoss, b.seconds, lastOverhead);
        std::fflush(stdout);
    }
};

double matmulRate(const torch::Device& dev, torch::ScalarType dtype)
{
    const int64_t n = 8192;
    auto a = torch::randn({n, n}, torch::TensorOptions().device(dev).dtype(dtype));
    auto b = torch::randn({n, n}, torch::TensorOptions().device(dev).dtype(dtype));
    for (int i = 0; i < 3; ++i)
        a.matmul(b);
    torch::cuda::synchronize();
    const auto t0 = std::chrono::steady_clock::now();
    const int iters = 50;
    for (int i = 0; i < iters; ++i)
        a.matmul(b);
    torch::cuda::synchronize();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return 2.0 * n * n * n * iters / s;
}

}  // namespace

int main(int argc, char** argv)
{
    std::map<std::string, std::string> opt{{"shape", "llama-7b"}, {"preset", "w4a4"}, {"nsamples", "128"},
                                           {"seqlen", "2048"}, {"epochs", "2"}, {"device", "cuda"}, {"blocks", "1"}, {"profile", ""},
                                           {"threads", "0"}};
    std::map<std::string, bool> flags{{"mixed-precision", false}, {"tf32", false}, {"buffers-on-host", false}, {"no-fused", false}, {"ln-matrix", false}};
    for (int i = 1; i < argc; ++i) {
        std::string a = std::string(argv[i]).substr(2);
        if (flags.count(a))
            flags[a] = true;
        else if (i + 1 < argc)
            opt[a] = argv[++i];
    }
    if (flags["no-fused"])
        setenv("AQ_FUSED_QUANT", "0", 1);
    try {
        const aq::CpuThreads threads = aq::configureCpu(std::stoi(opt["threads"]));
        std::printf("CPU: %s\n", aq::describeCpuThreads(threads).c_str());
        const Shape s = kShapes.at(opt["shape"]);
        const torch::Device dev = aq::detail::parseDevice(opt["device"]);
        nlohmann::json cfgJson = {{"model_type", "llama"}, {"vocab_size", 32000}, {"hidden_size", s.hidden},
                                  {"intermediate_size", s.ffn}, {"num_hidden_layers", s.layers},
                                  {"num_attention_heads", s.heads}, {"num_key_value_heads", s.kvHeads},
                                  {"max_position_embeddings", 4096}, {"rms_norm_eps", 1e-5}};
        const aq::ModelConfig m = aq::parseModelConfig(cfgJson.dump(), opt["shape"]);
        aq::QuantConfig q = aq::presetConfig(opt["preset"]);
        q.nsamples = std::stoll(opt["nsamples"]);
        q.seqlen = std::stoll(opt["seqlen"]);
        q.epochs = std::stoi(opt["epochs"]);
        q.device = opt["device"];
        q.mixedPrecision = flags["mixed-precision"];
        q.buffersOnHost = flags["buffers-on-host"];
        if (flags["ln-matrix"])
            q.lnMatrix = true;  // the paper's weight-only recipe: dense post-norm matrices
        if (flags["tf32"] && dev.is_cuda())
            at::globalContext().setAllowTF32CuBLAS(true);
        torch::manual_seed(0);
        auto o = torch::TensorOptions().dtype(torch::kFloat32).device(dev);
        // Outlier channels: shared by the activations and the norm gains, as in real models.
        auto outliers = torch::randperm(s.hidden).narrow(0, 0, 6).to(dev);
        auto gain = torch::ones({s.hidden}, o);
        gain.index_put_({outliers}, torch::rand({6}, o) * 80 + 20);
        const int64_t hd = s.hidden / s.heads, kv = s.kvHeads * hd;
        auto rnd = [&](std::vector<int64_t> shape) { return torch::randn(shape, o) * 0.02; };
        aq::detail::BlockWeights w;
        w.tensors = {{"input_layernorm.weight", torch::ones({s.hidden}, o)},
                     {"post_attention_layernorm.weight", torch::ones({s.hidden}, o)},
                     {"self_attn.q_proj.weight", rnd({s.hidden, s.hidden})},
                     {"self_attn.k_proj.weight", rnd({kv, s.hidden})},
                     {"self_attn.v_proj.weight", rnd({kv, s.hidden})},
                     {"self_attn.o_proj.weight", rnd({s.hidden, s.hidden})},
                     {"mlp.gate_proj.weight", rnd({s.ffn, s.hidden})},
                     {"mlp.up_proj.weight", rnd({s.ffn, s.hidden})},
                     {"mlp.down_proj.weight", rnd({s.hidden, s.ffn})}};
        // Activation buffers as the engine keeps them: bf16 with mixed precision, optionally in pinned host memory.
        const auto bufferType = aq::detail::halfPrecisionBuffers(m, q, dev.is_cuda()) ? torch::kBFloat16 : torch::kFloat32;
        auto makeBuffers = [&](int64_t n, torch::Tensor& xFp, torch::Tensor& xQ) {
            xFp = (torch::randn({n, q.seqlen, s.hidden}, o) * gain).to(bufferType);
            xQ = xFp.clone();
            if (q.buffersOnHost && dev.is_cuda()) {
                xFp = xFp.cpu().pin_memory();
                xQ = xQ.cpu().pin_memory();
            }
        };
        torch::Tensor xFp, xQ;
        makeBuffers(q.nsamples, xFp, xQ);
        const auto rope = aq::detail::makeRopeTables(m, q.seqlen, dev, torch::kFloat32);
        const int blocks = std::stoi(opt["blocks"]);
        std::printf("%s block, preset %s, %lld x %lld tokens, %d epochs, %s%s\n", opt["shape"].c_str(), q.preset.c_str(),
                    static_cast<long long>(q.nsamples), static_cast<long long>(q.seqlen), q.epochs, dev.str().c_str(),
                    q.mixedPrecision ? ", bf16 mixed precision" : (flags["tf32"] ? ", tf32" : ", fp32"));
        std::printf("fake quantization: %s; activation buffers: %s in %s memory\n",
                    flags["no-fused"] || (dev.is_cuda() && !aq::detail::fusedQuantCudaKernels()) ? "tensor operations"
                                                                                          : "fused",
                    bufferType == torch::kBFloat16 ? "bf16" : "fp32", q.buffersOnHost ? "pinned host" : "device");
        aq::detail::resetPeakDeviceBytes(dev);
        EpochTimer timer;
        for (int b = 0; b < blocks; ++b)
            aq::detail::calibrateBlock(m, q, b, blocks, w, xFp, xQ, rope, timer, nullptr);

        // FLOPs of one epoch: forward + backward (about 3x the forward) of every step, plus building the transformed
        // weights (the d x d products of the matrix transforms) forward and backward.
        const double tokens = static_cast<double>(q.nsamples) * static_cast<double>(q.seqlen);
        const double linearParams = static_cast<double>(s.hidden) * (2 * s.hidden + 2 * kv) + 3.0 * s.hidden * s.ffn;
        const double attention = 4.0 * static_cast<double>(q.seqlen) * static_cast<double>(q.seqlen) * s.hidden *
                                 static_cast<double>(q.nsamples) / 2;  // causal: half of the score matrix
        double perStepTransforms = 0;
        const double steps = static_cast<double>(q.nsamples / q.batchSize);
        if (q.lnMatrix)  // W' = W A^T for q, k, v, up, gate and two d x d inverses
            perStepTransforms += 2.0 * s.hidden * s.hidden * (s.hidden + 2 * kv + 2 * s.ffn) + 2 * (2.0 / 3) * std::pow(s.hidden, 3);
        perStepTransforms += 2.0 * 2 * s.hidden * kv * hd;  // P3 on v and o (per-head blocks)
        const double flops = 3 * (2 * linearParams * tokens + attention) + 3 * steps * perStepTransforms;
        double sum = 0;
        for (size_t i = 1; i < timer.epochSeconds.size(); ++i)
            sum += timer.epochSeconds[i];
        const double perEpoch = timer.epochSeconds.size() > 1 ? sum / static_cast<double>(timer.epochSeconds.size() - 1)
                                                              : timer.epochSeconds.at(0);
        struct rusage u {};
        getrusage(RUSAGE_SELF, &u);
        std::printf("seconds per epoch %.3f (mean of epochs after the first)\n", perEpoch);
        std::printf("projected whole model: %lld blocks x (20 epochs + %.2f s outside them) = %.1f minutes\n",
                    static_cast<long long>(s.layers), timer.lastOverhead,
                    (perEpoch * 20 + timer.lastOverhead) * static_cast<double>(s.layers) / 60);
        std::printf("peak GPU memory %.2f GB, peak host memory %.2f GB\n", aq::detail::peakDeviceBytes(dev) / 1e9,
                    u.ru_maxrss * 1024.0 / 1e9);
        std::printf("FLOPs per epoch %.3g\n", flops);
        if (dev.is_cuda()) {
            const double rate = matmulRate(dev, q.mixedPrecision ? torch::kBFloat16 : torch::kFloat32);
            std::printf("measured %s matmul rate %.1f TFLOP/s -> floor %.3f s per epoch, measured/floor %.1f\n",
                        q.mixedPrecision ? "bf16" : (flags["tf32"] ? "tf32" : "fp32"), rate / 1e12, flops / rate,
                        perEpoch / (flops / rate));
        }
        if (!opt["profile"].empty() && !dev.is_cuda()) {
            aq::QuantConfig pq = q;
            pq.nsamples = 8;
            pq.epochs = 1;
            torch::Tensor pFp, pQ;
            makeBuffers(pq.nsamples, pFp, pQ);
            {
                torch::autograd::profiler::RecordProfile record(opt["profile"]);
                aq::CalibrationObserver quiet;
                aq::detail::calibrateBlock(m, pq, 0, 1, w, pFp, pQ, rope, quiet, nullptr);
            }
            std::printf("profile of 8 samples x 1 epoch written to %s\n", opt["profile"].c_str());
        } else if (!opt["profile"].empty()) {
#ifdef AQ_BENCH_PROFILER
            namespace tpi = torch::profiler::impl;
            aq::QuantConfig pq = q;
            pq.nsamples = 8;
            pq.epochs = 1;
            torch::Tensor pFp, pQ;
            makeBuffers(pq.nsamples, pFp, pQ);
            const tpi::ProfilerConfig cfg(tpi::ProfilerState::KINETO);
            const std::set<tpi::ActivityType> acts{tpi::ActivityType::CPU, tpi::ActivityType::CUDA};
            torch::autograd::profiler::prepareProfiler(cfg, acts);
            torch::autograd::profiler::enableProfiler(cfg, acts);
            aq::CalibrationObserver quiet;
            aq::detail::calibrateBlock(m, pq, 0, 1, w, pFp, pQ, rope, quiet, nullptr);
            torch::cuda::synchronize();
            auto result = torch::autograd::profiler::disableProfiler();
            result->save(opt["profile"]);
            std::printf("profile of 8 samples x 1 epoch written to %s\n", opt["profile"].c_str());
#else
            std::fprintf(stderr, "--profile needs LibTorch 2.x\n");
#endif
        }
        return 0;
    } catch (const aq::Error& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return aq::exitStatusFor(e.code());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
}
