// Serialization of the GGUF v3 container and of the ggml block types the exporter writes.
#include "gguf_writer.h"

#include "aq/error.h"
#include "aq/quant_config.h"

#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <type_traits>

namespace aq::detail::gguf {

namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian word
constexpr uint32_t kVersion = 3;

template <typename T>
void append(std::string& out, T v)
{
    static_assert(std::is_trivially_copyable_v<T>);
    char buf[sizeof(T)];
    std::memcpy(buf, &v, sizeof(T));
    out.append(buf, sizeof(T));
}

void appendString(std::string& out, const std::string& s)
{
    append<uint64_t>(out, s.size());
    out.append(s);
}

uint32_t bitsOf(float v)
{
    uint32_t u;
    std::memcpy(&u, &v, 4);
    return u;
}

}  // namespace

GgmlType kquantType(WeightGrid grid)
{
    switch (grid) {
    case WeightGrid::Q4_K: return GgmlType::Q4_K;
    case WeightGrid::Q5_K: return GgmlType::Q5_K;
    case WeightGrid::Q6_K: return GgmlType::Q6_K;
    case WeightGrid::Q3_K: return GgmlType::Q3_K;
    case WeightGrid::Q2_K: return GgmlType::Q2_K;
    default: break;
    }
    throw Error(ErrorCode::Internal, std::string("kquantType: ") + weightGridName(grid) + " is not one ggml type");
}

const char* typeName(GgmlType type)
{
    switch (type) {
    case GgmlType::F32: return "F32";
    case GgmlType::F16: return "F16";
    case GgmlType::Q4_0: return "Q4_0";
    case GgmlType::Q4_1: return "Q4_1";
    case GgmlType::Q5_0: return "Q5_0";
    case GgmlType::Q5_1: return "Q5_1";
    case GgmlType::Q8_0: return "Q8_0";
    case GgmlType::Q2_K: return "Q2_K";
    case GgmlType::Q3_K: return "Q3_K";
    case GgmlType::Q4_K: return "Q4_K";
    case GgmlType::Q5_K: return "Q5_K";
    case GgmlType::Q6_K: return "Q6_K";
    case GgmlType::BF16: return "BF16";
    }
    return "unknown";
}

int64_t blockWeights(GgmlType type)
{
    switch (type) {
    case GgmlType::F32:
    case GgmlType::F16:
    case GgmlType::BF16: return 1;
    case GgmlType::Q2_K:
    case GgmlType::Q3_K:
    case GgmlType::Q4_K:
    case GgmlType::Q5_K:
    case GgmlType::Q6_K: return 256;
    default: return 32;
    }
}

int64_t blockBytes(GgmlType type)
{
    switch (type) {
    case GgmlType::F32: return 4;
    case GgmlType::F16:
    case GgmlType::BF16: return 2;
    case GgmlType::Q4_0: return 18;
    case GgmlType::Q4_1: return 20;
    case GgmlType::Q5_0: return 22;
    case GgmlType::Q5_1: return 24;
    case GgmlType::Q8_0: return 34;
    case GgmlType::Q2_K: return 84;   // 16 scale/min bytes + 64 bytes of 2-bit codes + d + dmin
    case GgmlType::Q3_K: return 110;  // 32 bytes of third bits + 64 of 2-bit codes + 12 of scales + d
    case GgmlType::Q4_K: return 144;  // d + dmin + 12 scale/min bytes + 128 bytes of nibbles
    case GgmlType::Q5_K: return 176;  // as Q4_K + 32 bytes of fifth bits
    case GgmlType::Q6_K: return 210;  // 128 bytes of low nibbles + 64 of top bit pairs + 16 scales + d
    }
    return 0;
}

uint64_t tensorBytes(GgmlType type, int64_t ne0, int64_t rows)
{
    const int64_t bw = blockWeights(type);
    if (ne0 <= 0 || rows <= 0 || ne0 % bw != 0)
        badInput(std::string("a ") + typeName(type) + " tensor needs rows of a positive multiple of " +
                 std::to_string(bw) + " values, not " + std::to_string(ne0));
    return static_cast<uint64_t>(ne0 / bw) * static_cast<uint64_t>(blockBytes(type)) * static_cast<uint64_t>(rows);
}

uint16_t floatToHalf(float v)
{
    const uint32_t x = bitsOf(v);
    const uint32_t sign = (x >> 16) & 0x8000u;
    const uint32_t absx = x & 0x7fffffffu;
    if (absx >= 0x7f800000u)  // infinity or NaN
        return static_cast<uint16_t>(sign | 0x7c00u | (absx > 0x7f800000u ? 0x200u : 0u));
    if (absx >= 0x477ff000u)  // rounds to a value of at least 65520: overflow
        return static_cast<uint16_t>(sign | 0x7c00u);
    if (absx < 0x38800000u) {  // below the smallest normal half (2^-14): subnormal or zero
        // value = absx as float; half subnormal unit is 2^-24. Round to nearest even in that unit.
        float a;
        std::memcpy(&a, &absx, 4);
        const float scaled = a * 16777216.0f;  // exact: a power-of-two scaling of a float below 2^-14
        const float r = std::nearbyint(scaled);  // default rounding mode: to nearest, ties to even
        return static_cast<uint16_t>(sign | static_cast<uint32_t>(r));
    }
    // Normal: rebias the exponent (127 -> 15) and round the 23-bit mantissa to 10 bits, ties to even.
    uint32_t mant = absx & 0x7fffffu;
    uint32_t exp = (absx >> 23) - 127 + 15;
    uint32_t half = (exp << 10) | (mant >> 13);
    const uint32_t rest = mant & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (half & 1u)))
        ++half;  // a carry into the exponent is the correct rounding up
    return static_cast<uint16_t>(sign | half);
}

float halfToFloat(uint16_t h)
{
    const uint32_t sign = (h & 0x8000u) ? 1u : 0u;
    const uint32_t exp = (h >> 10) & 0x1fu;
    const uint32_t mant = h & 0x3ffu;
    float v;
    if (exp == 0)
        v = std::ldexp(static_cast<float>(mant), -24);
    else if (exp == 31)
        v = mant ? std::nanf("") : INFINITY;
    else
        v = std::ldexp(static_cast<float>(mant | 0x400u), static_cast<int>(exp) - 25);
    return sign ? -v : v;
}

uint16_t floatToBf16(float v)
{
    uint32_t x = bitsOf(v);
    if ((x & 0x7fffffffu) > 0x7f800000u)
        return static_cast<uint16_t>((x >> 16) | 0x40u);  // quiet NaN
    x += 0x7fffu + ((x >> 16) & 1u);
    return static_cast<uint16_t>(x >> 16);
}

// ---- Metadata ----

void Metadata::set(const std::string& key, Value value)
{
    for (auto& [k, v] : m_entries)
        if (k == key) {
            v = std::move(value);
            return;
        }
    m_entries.emplace_back(key, std::move(value));
}

void Metadata::setString(const std::string& key, const std::string& value) { set(key, value); }
void Metadata::setU32(const std::string& key, uint32_t value) { set(key, value); }
void Metadata::setI32(const std::string& key, int32_t value) { set(key, value); }
void Metadata::setF32(const std::string& key, float value) { set(key, value); }
void Metadata::setBool(const std::string& key, bool value) { set(key, value); }
void Metadata::setStrings(const std::string& key, const std::vector<std::string>& values) { set(key, values); }
void Metadata::setF32s(const std::string& key, const std::vector<float>& values) { set(key, values); }
void Metadata::setI32s(const std::string& key, const std::vector<int32_t>& values) { set(key, values); }

bool Metadata::contains(const std::string& key) const
{
    for (const auto& [k, v] : m_entries)
        if (k == key)
            return true;
    return false;
}

void Metadata::serialize(std::string& out) const
{
    for (const auto& [key, value] : m_entries) {
        appendString(out, key);
        std::visit(
            [&](const auto& v) {
                using T = std::decay_t<decltype(v)>;
                if constexpr (std::is_same_v<T, std::string>) {
                    append<uint32_t>(out, static_cast<uint32_t>(ValueType::String));
                    appendString(out, v);
                } else if constexpr (std::is_same_v<T, uint32_t>) {
                    append<uint32_t>(out, static_cast<uint32_t>(ValueType::U32));
                    append<uint32_t>(out, v);
                } else if constexpr (std::is_same_v<T, int32_t>) {
                    append<uint32_t>(out, static_cast<uint32_t>(ValueType::I32));
                    append<int32_t>(out, v);
                } else if constexpr (std::is_same_v<T, float>) {
                    append<uint32_t>(out, static_cast<uint32_t>(ValueType::F32));
                    append<float>(out, v);
                } else if constexpr (std::is_same_v<T, bool>) {
                    append<uint32_t>(out, static_cast<uint32_t>(ValueType::Bool));
                    append<uint8_t>(out, v ? 1 : 0);
                } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
                    append<uint32_t>(out, static_cast<uint32_t>(ValueType::Array));
                    append<uint32_t>(out, static_cast<uint32_t>(ValueType::String));
                    append<uint64_t>(out, v.size());
                    for (const auto& s : v)
                        appendString(out, s);
                } else if constexpr (std::is_same_v<T, std::vector<float>>) {
                    append<uint32_t>(out, static_cast<uint32_t>(ValueType::Array));
                    append<uint32_t>(out, static_cast<uint32_t>(ValueType::F32));
                    append<uint64_t>(out, v.size());
                    for (float f : v)
                        append<float>(out, f);
                } else {
                    append<uint32_t>(out, static_cast<uint32_t>(ValueType::Array));
                    append<uint32_t>(out, static_cast<uint32_t>(ValueType::I32));
                    append<uint64_t>(out, v.size());
                    for (int32_t i : v)
                        append<int32_t>(out, i);
                }
            },
            value);
    }
}

// ---- Writer ----

Writer::Writer(const std::string& path, const Metadata& metadata, std::vector<TensorInfo> tensors)
    : m_path(path), m_tensors(std::move(tensors))
{
    uint64_t offset = 0;
    for (auto& t : m_tensors) {
        if (t.ne.empty() || t.ne.size() > 4)
            badInput("GGUF tensor " + t.name + " has " + std::to_string(t.ne.size()) + " dimensions (1 to 4 allowed)");
        int64_t rows = 1;
        for (size_t i = 1; i < t.ne.size(); ++i)
            rows *= t.ne[i];
        t.bytes = tensorBytes(t.type, t.ne[0], rows);
        t.offset = offset;
        offset += (t.bytes + kAlignment - 1) / kAlignment * kAlignment;
    }
    std::string head;
    append<uint32_t>(head, kMagic);
    append<uint32_t>(head, kVersion);
    append<uint64_t>(head, m_tensors.size());
    append<uint64_t>(head, metadata.size());
    metadata.serialize(head);
    for (const auto& t : m_tensors) {
        appendString(head, t.name);
        append<uint32_t>(head, static_cast<uint32_t>(t.ne.size()));
        for (int64_t n : t.ne)
            append<uint64_t>(head, static_cast<uint64_t>(n));
        append<uint32_t>(head, static_cast<uint32_t>(t.type));
        append<uint64_t>(head, t.offset);
    }
    m_file = std::fopen(path.c_str(), "wb");
    if (!m_file)
        badInput("cannot create '" + path + "': " + std::strerror(errno));
    put(head.data(), head.size());
    pad();
}

Writer::~Writer()
{
    if (m_file)
        std::fclose(m_file);
}

void Writer::put(const void* data, size_t n)
{
    if (n && std::fwrite(data, 1, n, m_file) != n)
        badInput("cannot write '" + m_path + "': " + std::strerror(errno) + " (is the disk full?)");
    m_written += n;
}

void Writer::pad()
{
    static const char zeros[kAlignment] = {};
    const uint64_t rem = m_written % kAlignment;
    if (rem)
        put(zeros, kAlignment - rem);
}

void Writer::writeTensor(const std::string& name, const void* data, uint64_t bytes)
{
    if (m_next >= m_tensors.size() || m_tensors[m_next].name != name || m_tensors[m_next].bytes != bytes)
        throw Error(ErrorCode::Internal, "GGUF writer: tensor " + name + " (" + std::to_string(bytes) +
                                             " bytes) written out of order or with the wrong size");
    put(data, bytes);
    pad();
    ++m_next;
}

void Writer::finish()
{
    if (m_next != m_tensors.size())
        throw Error(ErrorCode::Internal, "GGUF writer: " + std::to_string(m_tensors.size() - m_next) +
                                             " tensors were not written");
    if (std::fflush(m_file) != 0 || ::fsync(fileno(m_file)) != 0)
        badInput("cannot write '" + m_path + "': " + std::strerror(errno) + " (is the disk full?)");
    const int rc = std::fclose(m_file);
    m_file = nullptr;
    if (rc != 0)
        badInput("cannot write '" + m_path + "': " + std::strerror(errno) + " (is the disk full?)");
}

// ---- Blocks ----

namespace {
void putHalf(uint8_t* out, uint16_t h)
{
    out[0] = static_cast<uint8_t>(h & 0xff);
    out[1] = static_cast<uint8_t>(h >> 8);
}

void nibbles(const uint8_t* q, uint8_t* out)
{
    for (int j = 0; j < 16; ++j)
        out[j] = static_cast<uint8_t>((q[j] & 0x0f) | ((q[j + 16] & 0x0f) << 4));
}

void fifthBits(const uint8_t* q, uint8_t* out)
{
    uint32_t h = 0;
    for (int j = 0; j < 32; ++j)
        h |= static_cast<uint32_t>((q[j] >> 4) & 1u) << j;
    for (int b = 0; b < 4; ++b)
        out[b] = static_cast<uint8_t>((h >> (8 * b)) & 0xff);
}
}  // namespace

void packQ4_0(const uint8_t* q, uint16_t d, uint8_t* out)
{
    putHalf(out, d);
    nibbles(q, out + 2);
}

void packQ4_1(const uint8_t* q, uint16_t d, uint16_t m, uint8_t* out)
{
    putHalf(out, d);
    putHalf(out + 2, m);
    nibbles(q, out + 4);
}

void packQ5_0(const uint8_t* q, uint16_t d, uint8_t* out)
{
    putHalf(out, d);
    fifthBits(q, out + 2);
    nibbles(q, out + 6);
}

void packQ5_1(const uint8_t* q, uint16_t d, uint16_t m, uint8_t* out)
{
    putHalf(out, d);
    putHalf(out + 2, m);
    fifthBits(q, out + 4);
    nibbles(q, out + 8);
}

void packQ8_0(const int8_t* q, uint16_t d, uint8_t* out)
{
    putHalf(out, d);
    std::memcpy(out + 2, q, 32);
}

// ---- k-quant super-blocks ----

namespace {
/// 64 bytes: bits 2s, 2s+1 of byte 32·h + k are the low two bits of code 128·h + 32·s + k.
void twoBitPlanes(const uint8_t* q, uint8_t* out)
{
    for (int h = 0; h < 2; ++h)
        for (int k = 0; k < 32; ++k) {
            uint8_t byte = 0;
            for (int s = 0; s < 4; ++s)
                byte |= static_cast<uint8_t>((q[128 * h + 32 * s + k] & 3u) << (2 * s));
            out[32 * h + k] = byte;
        }
}

/// 32 bytes: bit c of byte k is bit `bit` of code 32·c + k.
void bitColumns(const uint8_t* q, int bit, uint8_t* out)
{
    for (int k = 0; k < 32; ++k) {
        uint8_t byte = 0;
        for (int c = 0; c < 8; ++c)
            byte |= static_cast<uint8_t>(((q[32 * c + k] >> bit) & 1u) << c);
        out[k] = byte;
    }
}

/// 128 bytes: byte 32·c + k holds the low four bits of code 64·c + k (low nibble) and of code 64·c + 32 + k (high).
void nibblePairs(const uint8_t* q, uint8_t* out)
{
    for (int c = 0; c < 4; ++c)
        for (int k = 0; k < 32; ++k)
            out[32 * c + k] = static_cast<uint8_t>((q[64 * c + k] & 15u) | ((q[64 * c + 32 + k] & 15u) << 4));
}

/// 12 bytes holding eight 6-bit scales and eight 6-bit mins. The first four pairs fill the low six bits of bytes 0..3
/// (scales) and 4..7 (mins); the last four are split: their low four bits make bytes 8..11 (scale in the low nibble,
/// min in the high one), their top two bits go to the free bits 6, 7 of bytes 0..3 (scales) and 4..7 (mins).
void scaleMinPairs(const uint8_t* sc, const uint8_t* m, uint8_t* out)
{
    for (int j = 0; j < 4; ++j) {
        const int u = j + 4;  // the sub-block whose top bits share these bytes
        out[j] = static_cast<uint8_t>((sc[j] & 63u) | (((sc[u] >> 4) & 3u) << 6));
        out[j + 4] = static_cast<uint8_t>((m[j] & 63u) | (((m[u] >> 4) & 3u) << 6));
        out[j + 8] = static_cast<uint8_t>((sc[u] & 15u) | ((m[u] & 15u) << 4));
    }
}
}  // namespace

void packQ4_K(const uint8_t* q, const uint8_t* sc, const uint8_t* m, uint16_t d, uint16_t dmin, uint8_t* out)
{
    putHalf(out, d);
    putHalf(out + 2, dmin);
    scaleMinPairs(sc, m, out + 4);
    nibblePairs(q, out + 16);
}

void packQ5_K(const uint8_t* q, const uint8_t* sc, const uint8_t* m, uint16_t d, uint16_t dmin, uint8_t* out)
{
    putHalf(out, d);
    putHalf(out + 2, dmin);
    scaleMinPairs(sc, m, out + 4);
    bitColumns(q, 4, out + 16);
    nibblePairs(q, out + 48);
}

void packQ6_K(const uint8_t* q, const int8_t* sc, uint16_t d, uint8_t* out)
{
    uint8_t* ql = out;
    uint8_t* qh = out + 128;
    for (int h = 0; h < 2; ++h)
        for (int k = 0; k < 32; ++k) {
            const uint8_t* c = q + 128 * h + k;  // c[32·s] is code 128·h + 32·s + k
            ql[64 * h + k] = static_cast<uint8_t>((c[0] & 15u) | ((c[64] & 15u) << 4));
            ql[64 * h + 32 + k] = static_cast<uint8_t>((c[32] & 15u) | ((c[96] & 15u) << 4));
            uint8_t top = 0;
            for (int s = 0; s < 4; ++s)
                top |= static_cast<uint8_t>(((c[32 * s] >> 4) & 3u) << (2 * s));
            qh[32 * h + k] = top;
        }
    std::memcpy(out + 192, sc, 16);
    putHalf(out + 208, d);
}

void packQ3_K(const uint8_t* q, const int8_t* sc, uint16_t d, uint8_t* out)
{
    bitColumns(q, 2, out);
    twoBitPlanes(q, out + 32);
    uint8_t* scales = out + 96;
    std::memset(scales, 0, 12);
    for (int j = 0; j < 16; ++j) {
        const unsigned u = static_cast<unsigned>(sc[j] + 32) & 63u;
        scales[j % 8] |= static_cast<uint8_t>((u & 15u) << (j < 8 ? 0 : 4));
        scales[8 + j % 4] |= static_cast<uint8_t>((u >> 4) << (2 * (j / 4)));
    }
    putHalf(out + 108, d);
}

void packQ2_K(const uint8_t* q, const uint8_t* sc, const uint8_t* m, uint16_t d, uint16_t dmin, uint8_t* out)
{
    for (int j = 0; j < 16; ++j)
        out[j] = static_cast<uint8_t>((sc[j] & 15u) | ((m[j] & 15u) << 4));
    twoBitPlanes(q, out + 16);
    putHalf(out + 80, d);
    putHalf(out + 82, dmin);
}

}  // namespace aq::detail::gguf
