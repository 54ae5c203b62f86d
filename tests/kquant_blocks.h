#pragma once
// k-quant super-blocks (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K) for the GGUF tests: the integers of a super-block (256 codes,
// a scale and a min per sub-block, d and dmin as binary16 bits), random or at the edges of their ranges, packed with
// the writer into a small GGUF file, and the weights llama.cpp's formula gives for them, worked out here in float32
// from the integers alone (nothing of the reader is used).
#include "gguf_writer.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace kquant {

namespace gguf = aq::detail::gguf;

/// What a k-quant type stores, written out from llama.cpp's formulas rather than taken from the code under test.
struct Spec {
    const char* name;
    gguf::GgmlType type;
    int subBlock;        ///< weights per sub-block: 16 or 32
    int codeMax;         ///< codes lie in [0, codeMax]
    int codeOffset;      ///< subtracted from the code: Q3_K 4, Q6_K 32
    int scaleMin, scaleMax;
    int minMax;          ///< mins lie in [0, minMax]; 0 for types without a min
    int bytes;           ///< bytes per super-block
    bool hasMin() const { return minMax > 0; }
    int subBlocks() const { return 256 / subBlock; }
};

inline const std::vector<Spec>& specs()
{
    static const std::vector<Spec> all = {
        {"Q2_K", gguf::GgmlType::Q2_K, 16, 3, 0, 0, 15, 15, 84},
        {"Q3_K", gguf::GgmlType::Q3_K, 16, 7, 4, -32, 31, 0, 110},
        {"Q4_K", gguf::GgmlType::Q4_K, 32, 15, 0, 0, 63, 63, 144},
        {"Q5_K", gguf::GgmlType::Q5_K, 32, 31, 0, 0, 63, 63, 176},
        {"Q6_K", gguf::GgmlType::Q6_K, 16, 63, 32, -128, 127, 0, 210},
    };
    return all;
}

inline const Spec& spec(const std::string& name)
{
    for (const Spec& s : specs())
        if (name == s.name)
            return s;
    throw std::runtime_error("no k-quant type " + name);
}

struct SuperBlock {
    uint8_t q[256] = {};
    int sc[16] = {};
    int m[16] = {};
    uint16_t d = 0, dmin = 0;
};

/// The value of binary16 bits (finite ones only), from the definition: (-1)^s · 2^(e-15) · 1.f, or 2^-14 · 0.f.
inline float halfValue(uint16_t h)
{
    const int e = (h >> 10) & 31, f = h & 1023;
    const float v = e == 0 ? std::ldexp(static_cast<float>(f), -24) : std::ldexp(static_cast<float>(1024 + f), e - 25);
    return (h & 0x8000) ? -v : v;
}

/// Binary16 bits of a random finite value: random sign and mantissa, the exponent field uniform over 0..30 (subnormals
/// and zero included), so that d·sc·q and dmin·m meet at every distance of exponents.
inline uint16_t randomHalf(std::mt19937& rng)
{
    const uint32_t sign = rng() & 1u, exponent = rng() % 31, mantissa = rng() & 1023u;
    return static_cast<uint16_t>((sign << 15) | (exponent << 10) | mantissa);
}

inline SuperBlock randomBlock(const Spec& s, std::mt19937& rng)
{
    SuperBlock b;
    for (auto& q : b.q)
        q = static_cast<uint8_t>(rng() % (s.codeMax + 1));
    for (int j = 0; j < s.subBlocks(); ++j) {
        b.sc[j] = s.scaleMin + static_cast<int>(rng() % (s.scaleMax - s.scaleMin + 1));
        b.m[j] = s.hasMin() ? static_cast<int>(rng() % (s.minMax + 1)) : 0;
    }
    b.d = randomHalf(rng);
    b.dmin = s.hasMin() ? randomHalf(rng) : 0;
    return b;
}

/// Super-blocks at the edges: codes at 0 and at the maximum, scales and mins at both ends of their ranges, d and dmin
/// zero, negative zero, the smallest and largest subnormals, the largest finite value, one and minus one.
inline std::vector<SuperBlock> edgeBlocks(const Spec& s)
{
    struct Edge {
        int code;  ///< -1: alternate 0 and codeMax; -2: i % (codeMax + 1)
        int scale; ///< -1000: alternate scaleMin and scaleMax over sub-blocks
        int min;   ///< -1: alternate 0 and minMax
        uint16_t d, dmin;
    };
    const int alt = -1000;
    const std::vector<Edge> edges = {
        {0, s.scaleMax, s.minMax, 0x7BFF, 0x7BFF},           // codes 0, largest factors: w = -dmin·m at its largest
        {s.codeMax, s.scaleMin, 0, 0x0001, 0x03FF},          // smallest subnormal d, largest subnormal dmin
        {s.codeMax, s.scaleMax, s.minMax, 0x7BFF, 0x0001},   // the largest weight
        {-1, alt, -1, 0x8000, 0x0000},                       // d = -0, dmin = +0
        {-1, alt, -1, 0x0000, 0x8000},                       // d = +0, dmin = -0
        {-2, alt, -1, 0x3C00, 0x3C00},                       // d = dmin = 1: codes, scales and mins as they are
        {-2, alt, -1, 0xBC00, 0xFBFF},                       // d = -1, dmin = -65504
        {-2, s.scaleMin, 0, 0x0400, 0x0400},                 // smallest normal d; scale at its minimum everywhere
        {s.codeOffset, alt, s.minMax, 0x8001, 0x83FF},       // code - offset = 0 under negative subnormal factors
        {-1, 0, -1, 0x3C00, 0x3555},                         // scale 0: factor 0, w = -dmin·m or zero
    };
    std::vector<SuperBlock> r;
    for (const Edge& e : edges) {
        SuperBlock b;
        for (int i = 0; i < 256; ++i)
            b.q[i] = static_cast<uint8_t>(e.code >= 0   ? e.code
                                          : e.code == -1 ? (i % 2 ? s.codeMax : 0)
                                                         : i % (s.codeMax + 1));
        for (int j = 0; j < s.subBlocks(); ++j) {
            b.sc[j] = e.scale == alt ? (j % 2 ? s.scaleMax : s.scaleMin) : e.scale;
            b.m[j] = !s.hasMin() ? 0 : e.min >= 0 ? e.min : (j % 2 ? 0 : s.minMax);
        }
        b.d = e.d;
        b.dmin = s.hasMin() ? e.dmin : 0;
        r.push_back(b);
    }
    return r;
}

/// Packs one super-block with the writer's function for the type.
inline void pack(const Spec& s, const SuperBlock& b, uint8_t* out)
{
    uint8_t usc[16], um[16];
    int8_t ssc[16];
    for (int j = 0; j < 16; ++j) {
        usc[j] = static_cast<uint8_t>(b.sc[j]);
        um[j] = static_cast<uint8_t>(b.m[j]);
        ssc[j] = static_cast<int8_t>(b.sc[j]);
    }
    switch (s.type) {
    case gguf::GgmlType::Q2_K: gguf::packQ2_K(b.q, usc, um, b.d, b.dmin, out); break;
    case gguf::GgmlType::Q3_K: gguf::packQ3_K(b.q, ssc, b.d, out); break;
    case gguf::GgmlType::Q4_K: gguf::packQ4_K(b.q, usc, um, b.d, b.dmin, out); break;
    case gguf::GgmlType::Q5_K: gguf::packQ5_K(b.q, usc, um, b.d, b.dmin, out); break;
    case gguf::GgmlType::Q6_K: gguf::packQ6_K(b.q, ssc, b.d, out); break;
    default: throw std::runtime_error("not a k-quant type");
    }
}

/// How the weight is computed from the integers.
enum class Formula {
    Plain,  ///< (d·sc)·(q − offset) − dmin·m, every operation rounded to float32: llama.cpp's source
    Fused,  ///< fma(d·sc, q − offset, −dmin·m): the product and the difference rounded once
};

/// Weight i (0..255) of the super-block.
inline float weight(const Spec& s, const SuperBlock& b, int i, Formula f)
{
    const int j = i / s.subBlock;
    const float factor = halfValue(b.d) * static_cast<float>(b.sc[j]);
    const float code = static_cast<float>(static_cast<int>(b.q[i]) - s.codeOffset);
    const float shift = halfValue(b.dmin) * static_cast<float>(b.m[j]);
    if (f == Formula::Fused)
        return std::fma(factor, code, s.hasMin() ? -shift : -0.0f);
    volatile float product = factor * code;  // rounded here, whatever the compiler would contract
    return s.hasMin() ? product - shift : static_cast<float>(product);
}

/// True when (d·sc)·(q − offset) − dmin·m is not a float32 (worked out in double, where it is exact): the final
/// subtraction rounds.
inline bool subtractionRounds(const Spec& s, const SuperBlock& b, int i)
{
    const int j = i / s.subBlock;
    const double exact = static_cast<double>(halfValue(b.d)) * b.sc[j] * (static_cast<int>(b.q[i]) - s.codeOffset) -
                         static_cast<double>(halfValue(b.dmin)) * b.m[j];
    return static_cast<double>(static_cast<float>(exact)) != exact;
}

inline uint32_t bitsOf(float v)
{
    uint32_t u;
    std::memcpy(&u, &v, 4);
    return u;
}

/// A tensor of super-blocks: ne = {ne0, blocks.size() * 256 / ne0}.
struct Tensor {
    std::string name;
    const Spec* spec;
    int64_t ne0;
    std::vector<SuperBlock> blocks;
};

/// Per type: "<type>.random" of ne0 512 with `randomBlocks` random super-blocks and "<type>.edges" of ne0 256 with
/// the edge super-blocks; and an F32 tensor in between, so that the k-quant tensors are not all the file holds.
inline std::vector<Tensor> makeTensors(int randomBlocks, uint32_t seed)
{
    std::mt19937 rng(seed);
    std::vector<Tensor> r;
    for (const Spec& s : specs()) {
        Tensor t{std::string(s.name) + ".random", &s, 512, {}};
        for (int k = 0; k < randomBlocks; ++k)
            t.blocks.push_back(randomBlock(s, rng));
        r.push_back(std::move(t));
        r.push_back({std::string(s.name) + ".edges", &s, 256, edgeBlocks(s)});
    }
    return r;
}

/// Writes `tensors` and a small F32 tensor "norm" (values 0.5, 1.5, ...) with the writer.
inline void writeFile(const std::string& path, const std::vector<Tensor>& tensors)
{
    gguf::Metadata meta;
    meta.setString("general.name", "k-quant layouts");
    std::vector<gguf::TensorInfo> infos;
    for (const Tensor& t : tensors)
        infos.push_back({t.name, {t.ne0, static_cast<int64_t>(t.blocks.size()) * 256 / t.ne0}, t.spec->type});
    infos.push_back({"norm", {8}, gguf::GgmlType::F32});
    gguf::Writer w(path, meta, infos);
    for (const Tensor& t : tensors) {
        std::vector<uint8_t> bytes(t.blocks.size() * static_cast<size_t>(t.spec->bytes));
        for (size_t k = 0; k < t.blocks.size(); ++k)
            pack(*t.spec, t.blocks[k], bytes.data() + k * t.spec->bytes);
        w.writeTensor(t.name, bytes.data(), bytes.size());
    }
    float norm[8];
    for (int k = 0; k < 8; ++k)
        norm[k] = 0.5f + static_cast<float>(k);
    w.writeTensor("norm", norm, sizeof norm);
    w.finish();
}

}  // namespace kquant
