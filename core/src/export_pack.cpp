#include "export_pack.h"

#include "aq/error.h"

#include <cmath>
#include <cstdio>
#include <sstream>

namespace aq::detail {

namespace {

constexpr double kGridTolerance = 1e-3;   // in code units; float32 storage of (q - z) * s is off by ~1e-6
constexpr double kHalfMax = 65504.0;

std::string num(double v)
{
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6g", v);
    return buf;
}

/// Row and column of the first true entry of a 2-D mask.
std::pair<int64_t, int64_t> firstTrue(const torch::Tensor& mask)
{
    const int64_t flat = mask.flatten().nonzero()[0][0].item<int64_t>();
    return {flat / mask.size(1), flat % mask.size(1)};
}

/// Reinterprets unsigned 32-bit words held in int64 as int32 bit patterns (no reliance on narrowing behaviour).
torch::Tensor wordsToInt32(const torch::Tensor& words)
{
    const int64_t two31 = int64_t(1) << 31;
    return torch::where(words >= two31, words - 2 * two31, words).to(torch::kInt32);
}

/// 1, 2^b, 2^(2b), ...: multipliers that place element i at bit offset b*i (products never overlap).
torch::Tensor bitPlaces(int bits, int64_t count)
{
    return torch::pow(torch::full({count}, 2, torch::kInt64), torch::arange(count, torch::kInt64) * bits);
}

void checkHalfScales(const IntegerLinear& l)
{
    const double mx = l.scales.max().item<double>();
    if (mx > kHalfMax)
        badInput(l.name + ": a scale of " + num(mx) + " does not fit float16 (the packed formats store float16 scales)");
}

void requireWholeGroups(const IntegerLinear& l, const char* format)
{
    if (l.groups() > 1 && l.in() % l.groupSize != 0)
        badInput(l.name + ": its " + std::to_string(l.in()) + " input features are not a multiple of the group size " +
                 std::to_string(l.groupSize) + " (a partial last group); " + format +
                 " needs whole groups: re-run with a group size that divides every layer's input size, or export --format hf");
}

}  // namespace

IntegerLinear recoverIntegers(const std::string& name, const torch::Tensor& weight, const torch::Tensor& scales,
                              const torch::Tensor& zeros, int bits, int64_t configGroupSize, bool zeroInRange)
{
    torch::NoGradGuard ng;
    if (weight.dim() != 2 || scales.dim() != 2 || zeros.sizes() != scales.sizes() || scales.size(0) != weight.size(0))
        badInput(name + ": the scales/zero points in quantization.safetensors do not match the weight's shape; the run "
                        "directory is inconsistent (re-run the calibration)");
    const int64_t out = weight.size(0), in = weight.size(1), groups = scales.size(1);
    int64_t g = in;
    if (groups > 1) {
        g = configGroupSize;
        if (g <= 0 || (in + g - 1) / g != groups)
            badInput(name + ": " + std::to_string(groups) + " groups per row do not match group size " +
                     std::to_string(configGroupSize) + " over " + std::to_string(in) + " input features");
    }
    const double qmax = std::ldexp(1.0, bits) - 1;
    auto s = scales.to(torch::kFloat64);
    auto z = zeros.to(torch::kFloat64);
    auto badScale = torch::logical_or(torch::isfinite(s).logical_not(), s.le(0));
    if (badScale.any().item<bool>()) {
        auto [r, k] = firstTrue(badScale);
        badInput(name + ": scale " + num(s[r][k].item<double>()) + " of row " + std::to_string(r) + ", group " +
                 std::to_string(k) + " is not a positive finite number; a constant group under the reference's missing "
                 "step clamp (--reference-delta-clamp) gives this: re-run without that option");
    }
    auto zr = z.round();
    if ((z - zr).abs().max().item<double>() > 1e-6)
        badInput(name + ": zero points are not whole numbers; quantization.safetensors is not from this program");
    auto zOut = torch::logical_or(zr.lt(0), zr.gt(qmax));
    if (zeroInRange && zOut.any().item<bool>()) {
        auto [r, k] = firstTrue(zOut);
        badInput(name + ": zero point " + num(zr[r][k].item<double>()) + " of row " + std::to_string(r) + ", group " +
                 std::to_string(k) + " is outside [0, " + num(qmax) + "] (" + std::to_string(zOut.sum().item<int64_t>()) +
                 " groups in this layer), so integer formats cannot store it; the quantizer does not force zero into the "
                 "range by default (spec §2.1): re-run with --zero-in-range (or --symmetric), or export --format hf");
    }
    auto col = torch::arange(in, torch::kInt64).div(g, "floor");
    auto v = weight.to(torch::kFloat64) / s.index_select(1, col) + zr.index_select(1, col);
    auto q = v.round();
    auto off = (v - q).abs();
    if (!torch::isfinite(v).all().item<bool>() || off.max().item<double>() > kGridTolerance) {
        auto [r, c] = firstTrue(torch::logical_or(off.gt(kGridTolerance), torch::isfinite(v).logical_not()));
        badInput(name + ": weight at row " + std::to_string(r) + ", column " + std::to_string(c) +
                 " is not on its group's quantization grid (off by " + num(off[r][c].item<double>()) +
                 " steps): the run's model and its quantization.safetensors do not belong together");
    }
    auto qOut = torch::logical_or(q.lt(0), q.gt(qmax));
    if (qOut.any().item<bool>()) {
        auto [r, c] = firstTrue(qOut);
        badInput(name + ": code " + num(q[r][c].item<double>()) + " at row " + std::to_string(r) + ", column " +
                 std::to_string(c) + " is outside [0, " + num(qmax) + "]");
    }
    IntegerLinear l;
    l.name = name;
    l.bits = bits;
    l.groupSize = g;
    l.codes = q.to(torch::kInt64);
    l.zeros = zr.to(torch::kInt64);
    l.scales = scales.to(torch::kFloat32);
    (void)out;
    return l;
}

IntegerLinear regroup(const IntegerLinear& layer, int64_t groupSize)
{
    if (layer.groups() != 1 || layer.in() % groupSize != 0)
        throw Error(ErrorCode::Internal, "regroup: " + layer.name + " is not a per-channel layer divisible by " +
                                             std::to_string(groupSize));
    IntegerLinear r = layer;
    const int64_t groups = layer.in() / groupSize;
    r.groupSize = groupSize;
    r.scales = layer.scales.repeat({1, groups});
    r.zeros = layer.zeros.repeat({1, groups});
    return r;
}

NamedTensors packAwq(const IntegerLinear& l)
{
    if (l.bits != 4)
        badInput(l.name + ": AWQ stores 4-bit codes only, this run has " + std::to_string(l.bits) +
                 " bits; use --format gptq or compressed-tensors");
    if (l.out() % 8 != 0)
        badInput(l.name + ": " + std::to_string(l.out()) + " output features are not a multiple of 8, which AWQ packs per "
                                                            "32-bit word");
    requireWholeGroups(l, "AWQ");
    checkHalfScales(l);
    // Within each word, nibble i holds output column kOrder[i] of its 8-column block (AutoAWQ's GEMM order).
    const auto order = torch::tensor({0, 2, 4, 6, 1, 3, 5, 7}, torch::kInt64);
    const auto places = bitPlaces(4, 8);
    auto pack = [&](const torch::Tensor& rowsByOut) {  // [R, out] -> [R, out/8]
        const int64_t rows = rowsByOut.size(0);
        auto v = rowsByOut.reshape({rows, l.out() / 8, 8}).index_select(2, order);
        return wordsToInt32((v * places).sum(2));
    };
    return {{"qweight", pack(l.codes.t().contiguous())},
            {"qzeros", pack(l.zeros.t().contiguous())},
            {"scales", l.scales.t().contiguous().to(torch::kFloat16)}};
}

NamedTensors packGptq(const IntegerLinear& l, bool v1)
{
    if (l.bits != 2 && l.bits != 4 && l.bits != 8)
        badInput(l.name + ": GPTQ packing is implemented for 2, 4 and 8 bits (3-bit GPTQ uses a cross-word layout that "
                          "is not), this run has " + std::to_string(l.bits) + "; use --format compressed-tensors");
    const int64_t perWord = 32 / l.bits;
    if (l.in() % perWord != 0)
        badInput(l.name + ": " + std::to_string(l.in()) + " input features are not a multiple of " +
                 std::to_string(perWord) + " (" + std::to_string(l.bits) + "-bit codes per 32-bit word)");
    if (l.out() % perWord != 0)
        badInput(l.name + ": " + std::to_string(l.out()) + " output features are not a multiple of " +
                 std::to_string(perWord) + " (zero points per 32-bit word)");
    requireWholeGroups(l, "GPTQ");
    checkHalfScales(l);
    torch::Tensor zeros = l.zeros;
    if (v1) {
        if (zeros.eq(0).any().item<bool>()) {
            auto [r, k] = firstTrue(zeros.eq(0));
            badInput(l.name + ": zero point 0 (row " + std::to_string(r) + ", group " + std::to_string(k) +
                     ") cannot be stored in the GPTQ v1 layout, which keeps zero - 1; drop --gptq-v1 to write "
                     "checkpoint_format gptq_v2, or use --format awq / compressed-tensors");
        }
        zeros = zeros - 1;
    }
    const auto places = bitPlaces(l.bits, perWord);
    auto qweight = (l.codes.t().reshape({l.in() / perWord, perWord, l.out()}) * places.view({1, perWord, 1})).sum(1);
    auto qzeros = (zeros.t().reshape({l.groups(), l.out() / perWord, perWord}) * places).sum(2);
    auto gIdx = torch::arange(l.in(), torch::kInt64).div(l.groupSize, "floor").to(torch::kInt32);
    return {{"qweight", wordsToInt32(qweight)},
            {"qzeros", wordsToInt32(qzeros)},
            {"scales", l.scales.t().contiguous().to(torch::kFloat16)},
            {"g_idx", gIdx}};
}

NamedTensors packCompressedTensors(const IntegerLinear& l, bool symmetric, torch::ScalarType scaleType)
{
    if (l.bits < 2 || l.bits > 8)
        badInput(l.name + ": compressed-tensors pack-quantized holds 1 to 8 bits, this run has " + std::to_string(l.bits));
    requireWholeGroups(l, "compressed-tensors");
    const int64_t perWord = 32 / l.bits;
    const auto places = bitPlaces(l.bits, perWord);
    // Codes are stored unsigned (the signed value plus 2^(b-1)), which is exactly this program's code q.
    auto packRows = [&](const torch::Tensor& x) {  // [R, C] -> [R, ceil(C / perWord)], zero padding at the end
        const int64_t rows = x.size(0), cols = x.size(1);
        const int64_t words = (cols + perWord - 1) / perWord;
        auto padded = torch::zeros({rows, words * perWord}, torch::kInt64);
        padded.narrow(1, 0, cols).copy_(x);
        return wordsToInt32((padded.view({rows, words, perWord}) * places).sum(2));
    };
    if (scaleType == torch::kFloat16)
        checkHalfScales(l);
    NamedTensors r = {{"weight_packed", packRows(l.codes)},
                      {"weight_scale", l.scales.to(scaleType)}};
    const int64_t mid = int64_t(1) << (l.bits - 1);
    if (symmetric) {
        if (!l.zeros.eq(mid).all().item<bool>())
            throw Error(ErrorCode::Internal, l.name + ": symmetric run with zero points other than " + std::to_string(mid));
    } else {
        r.emplace_back("weight_zero_point", packRows(l.zeros.t().contiguous()).t().contiguous());
    }
    r.emplace_back("weight_shape", torch::tensor({l.out(), l.in()}, torch::kInt64));
    return r;
}

}  // namespace aq::detail
